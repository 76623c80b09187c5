// Package modbus holds the Modbus/TCP wire format: MBAP framing, request
// parsing with the specification's exception rules, response encoding and a
// small client.
//
// We frame Modbus ourselves instead of using github.com/simonvetter/modbus
// for the server side: that library closes the connection on out-of-range
// quantities and bad FC5 values where the specification requires exception
// 03, answers FC 8/23/43 with exception 01, and its handler interface has no
// place for unit-id routing (0x0B), per-request roles or a traffic observer.
// Patching all of that around its server would leave little of it; the wire
// format itself is small and fully specified, so it lives here, fuzzed.
package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Sizes from the Modbus/TCP specification.
const (
	HeaderLen = 7   // MBAP: transaction id, protocol id, length, unit id
	MaxPDU    = 253 // function code + data
	MaxADU    = HeaderLen + MaxPDU
)

// Function codes we speak.
const (
	FuncReadCoils              = 0x01
	FuncReadDiscreteInputs     = 0x02
	FuncReadHoldingRegisters   = 0x03
	FuncReadInputRegisters     = 0x04
	FuncWriteSingleCoil        = 0x05
	FuncWriteSingleRegister    = 0x06
	FuncWriteMultipleCoils     = 0x0F
	FuncWriteMultipleRegisters = 0x10
	FuncReadWriteRegisters     = 0x17
	FuncEncapsulatedInterface  = 0x2B
	MEIReadDeviceID            = 0x0E
)

// Header is the MBAP header. Length counts the unit id and the PDU.
type Header struct {
	TxID   uint16
	Proto  uint16
	Length uint16
	Unit   byte
}

// Framing errors. A stream that produces one cannot be resynchronised, so the
// server closes the connection (as the specification and libmodbus do).
var (
	ErrProtocolID  = errors.New("modbus: protocol id is not 0")
	ErrFrameLength = errors.New("modbus: mbap length out of range")
)

// ReadFrame reads one ADU from r into buf, which must hold MaxADU bytes, and
// returns its header and PDU (a slice of buf). It never reads past the frame,
// so pipelined requests stay in r.
func ReadFrame(r io.Reader, buf []byte) (Header, []byte, error) {
	if len(buf) < MaxADU {
		return Header{}, nil, fmt.Errorf("modbus: read buffer of %d bytes is smaller than %d", len(buf), MaxADU)
	}
	if _, err := io.ReadFull(r, buf[:HeaderLen]); err != nil {
		return Header{}, nil, err
	}
	h := DecodeHeader(buf)
	if h.Proto != 0 {
		return h, nil, ErrProtocolID
	}
	// Length covers the unit id (1) and the PDU (at least a function code).
	if h.Length < 2 || int(h.Length) > MaxPDU+1 {
		return h, nil, ErrFrameLength
	}
	n := int(h.Length) - 1
	if _, err := io.ReadFull(r, buf[HeaderLen:HeaderLen+n]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	return h, buf[HeaderLen : HeaderLen+n], nil
}

// Pending returns how many more bytes ReadFrame needs after the buffered
// bytes b (the start of a frame) before it can return: 0 when b holds a
// whole frame, or a header ReadFrame rejects; while the header is not all
// there, what it lacks. A server uses it to tell a client that is sending a
// frame from one that has sent whole frames, without reading.
func Pending(b []byte) int {
	if len(b) < HeaderLen {
		return HeaderLen - len(b)
	}
	h := DecodeHeader(b)
	if h.Proto != 0 || h.Length < 2 || int(h.Length) > MaxPDU+1 {
		return 0
	}
	return max(HeaderLen+int(h.Length)-1-len(b), 0)
}

// DecodeHeader reads an MBAP header from the first 7 bytes of b.
func DecodeHeader(b []byte) Header {
	return Header{
		TxID:   binary.BigEndian.Uint16(b[0:]),
		Proto:  binary.BigEndian.Uint16(b[2:]),
		Length: binary.BigEndian.Uint16(b[4:]),
		Unit:   b[6],
	}
}

// AppendHeader appends an MBAP header for a PDU of pduLen bytes.
func AppendHeader(dst []byte, txID uint16, unit byte, pduLen int) []byte {
	return append(dst, byte(txID>>8), byte(txID), 0, 0, byte((pduLen+1)>>8), byte(pduLen+1), unit)
}

// PatchLength rewrites the MBAP length of an ADU whose PDU was appended after
// the header, so responses can be built in place without knowing their size.
func PatchLength(adu []byte) {
	binary.BigEndian.PutUint16(adu[4:], uint16(len(adu)-HeaderLen+1))
}
