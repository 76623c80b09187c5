// Package iec104 holds the IEC 60870-5-104 wire format: APCI framing (I, S
// and U formats with their sequence numbers), the ASDU header, the
// information elements of the type identifications we serve, and
// CP56Time2a time tags. Parsing works in place on caller buffers, so a
// server reads and answers frames without allocating.
//
// We write the stack ourselves rather than use github.com/thinkgos/go-iecp5
// (or its forks): that library is LGPL-3.0 and archived, and icsrange ships
// as one statically linked Apache-2.0 binary (CGO_ENABLED=0, FROM scratch
// images), where the LGPL's relinking terms cannot be met by linking a Go
// module in. The framing is small and fully specified (IEC 60870-5-104
// clause 5, IEC 60870-5-101 clause 7), as Modbus/TCP's was (see
// plant-sim/modbus), so it lives here, fuzzed, with the server's behaviour
// (windows, timers, causes of transmission) in package plantsim.
package iec104

import (
	"errors"
	"fmt"
	"io"
)

// Sizes from IEC 60870-5-104 clause 5.
const (
	StartByte = 0x68
	// MaxLength is the largest APDU length field: four control octets and
	// an ASDU of at most MaxASDU octets.
	MaxLength = 253
	// MaxAPDU is the largest APDU on the wire: start byte, length, body.
	MaxAPDU = 2 + MaxLength
	// ControlLen is the APCI's control field.
	ControlLen = 4
	// MaxASDU is the largest ASDU an I-frame carries.
	MaxASDU = MaxLength - ControlLen
	// SeqMod is the modulus of the 15-bit send and receive sequence numbers.
	SeqMod = 1 << 15
)

// Format is an APDU's control-field format.
type Format uint8

// The three formats.
const (
	FormatI Format = iota // numbered information transfer: carries an ASDU
	FormatS               // numbered supervisory: acknowledges I-frames
	FormatU               // unnumbered control: STARTDT, STOPDT, TESTFR
)

func (f Format) String() string {
	return [...]string{"I", "S", "U"}[f]
}

// UFunc is a U-format function: exactly one of its bits is set in a valid
// frame.
type UFunc uint8

// U-format functions (octet 1 of the control field, with the format bits).
const (
	StartDTAct UFunc = 0x07
	StartDTCon UFunc = 0x0B
	StopDTAct  UFunc = 0x13
	StopDTCon  UFunc = 0x23
	TestFRAct  UFunc = 0x43
	TestFRCon  UFunc = 0x83
)

func (u UFunc) String() string {
	switch u {
	case StartDTAct:
		return "STARTDT act"
	case StartDTCon:
		return "STARTDT con"
	case StopDTAct:
		return "STOPDT act"
	case StopDTCon:
		return "STOPDT con"
	case TestFRAct:
		return "TESTFR act"
	case TestFRCon:
		return "TESTFR con"
	}
	return fmt.Sprintf("U(%02X)", byte(u))
}

// APCI is a decoded control field. Send and Recv are the 15-bit sequence
// numbers N(S) and N(R); Send is set for I-frames, Recv for I and S
// frames, Func for U frames.
type APCI struct {
	Format Format
	Send   uint16
	Recv   uint16
	Func   UFunc
}

// Framing errors. A stream that produces one cannot be trusted further, so
// the server closes the connection, as the standard requires.
var (
	ErrStartByte = errors.New("iec104: apdu does not start with 0x68")
	ErrLength    = errors.New("iec104: apdu length out of range")
	ErrControl   = errors.New("iec104: invalid control field")
)

// ReadAPDU reads one APDU from r into buf, which must hold MaxAPDU bytes,
// and returns its control field and ASDU (a slice of buf, empty for S and
// U frames). It never reads past the frame.
func ReadAPDU(r io.Reader, buf []byte) (APCI, []byte, error) {
	if len(buf) < MaxAPDU {
		return APCI{}, nil, fmt.Errorf("iec104: read buffer of %d bytes is smaller than %d", len(buf), MaxAPDU)
	}
	if _, err := io.ReadFull(r, buf[:2]); err != nil {
		return APCI{}, nil, err
	}
	n, err := bodyLen(buf[:2])
	if err != nil {
		return APCI{}, nil, err
	}
	if _, err := io.ReadFull(r, buf[2:2+n]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return APCI{}, nil, err
	}
	a, err := DecodeControl(buf[2:6])
	if err != nil {
		return a, nil, err
	}
	if (a.Format == FormatI) != (n > ControlLen) {
		// I-frames carry an ASDU; S and U frames are exactly the control field.
		return a, nil, ErrLength
	}
	return a, buf[6 : 2+n], nil
}

// bodyLen checks an APDU's start and length octets and returns the length.
func bodyLen(b []byte) (int, error) {
	if b[0] != StartByte {
		return 0, ErrStartByte
	}
	n := int(b[1])
	if n < ControlLen || n > MaxLength {
		return 0, ErrLength
	}
	return n, nil
}

// Pending returns how many more bytes ReadAPDU needs after the buffered
// bytes b (the start of an APDU) before it can return: 0 when b holds a
// whole APDU, or a start or length ReadAPDU rejects; while the start and
// length octets are not both there, what they lack. A server uses it to
// tell a peer that is sending a frame from one that has sent whole frames,
// without reading.
func Pending(b []byte) int {
	if len(b) < 2 {
		return 2 - len(b)
	}
	n, err := bodyLen(b)
	if err != nil {
		return 0
	}
	return max(2+n-len(b), 0)
}

// DecodeControl decodes the four control octets.
func DecodeControl(c []byte) (APCI, error) {
	switch {
	case c[0]&0x01 == 0:
		if c[2]&0x01 != 0 {
			return APCI{Format: FormatI}, ErrControl
		}
		return APCI{Format: FormatI,
			Send: uint16(c[0])>>1 | uint16(c[1])<<7,
			Recv: uint16(c[2])>>1 | uint16(c[3])<<7}, nil
	case c[0]&0x03 == 0x01:
		if c[0] != 0x01 || c[1] != 0 || c[2]&0x01 != 0 {
			return APCI{Format: FormatS}, ErrControl
		}
		return APCI{Format: FormatS, Recv: uint16(c[2])>>1 | uint16(c[3])<<7}, nil
	}
	u := UFunc(c[0])
	switch u {
	case StartDTAct, StartDTCon, StopDTAct, StopDTCon, TestFRAct, TestFRCon:
	default:
		return APCI{Format: FormatU, Func: u}, ErrControl
	}
	if c[1] != 0 || c[2] != 0 || c[3] != 0 {
		return APCI{Format: FormatU, Func: u}, ErrControl
	}
	return APCI{Format: FormatU, Func: u}, nil
}

// AppendI appends an I-frame's start, length and control field; append
// the ASDU after it and call PatchLength.
func AppendI(dst []byte, send, recv uint16) []byte {
	s, r := send%SeqMod<<1, recv%SeqMod<<1
	return append(dst, StartByte, ControlLen, byte(s), byte(s>>8), byte(r), byte(r>>8))
}

// AppendS appends an S-frame acknowledging up to recv.
func AppendS(dst []byte, recv uint16) []byte {
	r := recv % SeqMod << 1
	return append(dst, StartByte, ControlLen, 0x01, 0, byte(r), byte(r>>8))
}

// AppendU appends a U-frame.
func AppendU(dst []byte, f UFunc) []byte {
	return append(dst, StartByte, ControlLen, byte(f), 0, 0, 0)
}

// PatchLength sets the length octet of the APDU that starts at frame[0]
// and runs to the end of frame.
func PatchLength(frame []byte) {
	frame[1] = byte(len(frame) - 2)
}

// SeqDiff is how far b is ahead of a in sequence-number space (mod 2^15).
func SeqDiff(a, b uint16) uint16 {
	return (b - a) % SeqMod
}
