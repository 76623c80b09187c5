package modbus

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// mbap builds an MBAP header by hand, with an arbitrary length field, so the
// tests don't depend on AppendHeader.
func mbap(tx, proto, length uint16, unit byte) []byte {
	return []byte{byte(tx >> 8), byte(tx), byte(proto >> 8), byte(proto), byte(length >> 8), byte(length), unit}
}

// frame is a well-formed ADU for pdu.
func frame(tx uint16, unit byte, pdu ...byte) []byte {
	return append(mbap(tx, 0, uint16(len(pdu)+1), unit), pdu...)
}

func TestReadFrameDecodesHeaderAndPDU(t *testing.T) {
	in := frame(0xBEEF, 0x11, 0x03, 0x00, 0x6B, 0x00, 0x03)
	buf := make([]byte, MaxADU)
	h, pdu, err := ReadFrame(bytes.NewReader(in), buf)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{TxID: 0xBEEF, Proto: 0, Length: 6, Unit: 0x11}
	if h != want {
		t.Errorf("header = %+v, want %+v", h, want)
	}
	if !bytes.Equal(pdu, []byte{0x03, 0x00, 0x6B, 0x00, 0x03}) {
		t.Errorf("pdu = % x", pdu)
	}
}

func TestReadFrameRejectsProtocolID(t *testing.T) {
	for _, proto := range []uint16{1, 0x0100, 0xFFFF} {
		in := append(mbap(1, proto, 6, 1), 0x03, 0, 0, 0, 1)
		h, pdu, err := ReadFrame(bytes.NewReader(in), make([]byte, MaxADU))
		if !errors.Is(err, ErrProtocolID) {
			t.Errorf("proto %#04x: err = %v, want ErrProtocolID", proto, err)
		}
		if pdu != nil {
			t.Errorf("proto %#04x: returned a pdu % x", proto, pdu)
		}
		if h.Proto != proto {
			t.Errorf("proto %#04x: header reports proto %#04x", proto, h.Proto)
		}
	}
}

func TestReadFrameLengthLimits(t *testing.T) {
	for _, tc := range []struct {
		length uint16
		ok     bool
	}{
		{0, false},   // not even a unit id
		{1, false},   // unit id but no function code
		{2, true},    // a bare function code
		{254, true},  // the largest PDU: 253 bytes
		{255, false}, // one byte over
		{256, false},
		{0x0800, false},
		{0xFFFF, false},
	} {
		body := bytes.Repeat([]byte{0x03}, 300)
		in := append(mbap(7, 0, tc.length, 1), body...)
		r := bytes.NewReader(in)
		_, pdu, err := ReadFrame(r, make([]byte, MaxADU))
		if !tc.ok {
			if !errors.Is(err, ErrFrameLength) {
				t.Errorf("length %d: err = %v, want ErrFrameLength", tc.length, err)
			}
			// The header alone was consumed; the server closes the
			// connection rather than guess where the next frame starts.
			if got := len(in) - r.Len(); got != HeaderLen {
				t.Errorf("length %d: consumed %d bytes, want %d", tc.length, got, HeaderLen)
			}
			continue
		}
		if err != nil {
			t.Errorf("length %d: %v", tc.length, err)
			continue
		}
		if len(pdu) != int(tc.length)-1 {
			t.Errorf("length %d: pdu of %d bytes, want %d", tc.length, len(pdu), tc.length-1)
		}
	}
}

func TestReadFrameTruncated(t *testing.T) {
	full := frame(1, 1, 0x03, 0x00, 0x00, 0x00, 0x01)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty stream", nil, io.EOF},
		{"partial header", full[:3], io.ErrUnexpectedEOF},
		{"header only", full[:HeaderLen], io.ErrUnexpectedEOF},
		{"partial pdu", full[:len(full)-1], io.ErrUnexpectedEOF},
	} {
		_, pdu, err := ReadFrame(bytes.NewReader(tc.in), make([]byte, MaxADU))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if pdu != nil {
			t.Errorf("%s: returned pdu % x", tc.name, pdu)
		}
	}
}

func TestReadFrameSmallBuffer(t *testing.T) {
	in := frame(1, 1, 0x03, 0x00, 0x00, 0x00, 0x01)
	r := bytes.NewReader(in)
	if _, _, err := ReadFrame(r, make([]byte, MaxADU-1)); err == nil {
		t.Fatal("ReadFrame accepted a buffer smaller than MaxADU")
	}
	if r.Len() != len(in) {
		t.Errorf("ReadFrame consumed input before rejecting its buffer")
	}
}

// Pipelined requests arrive back to back; each ReadFrame must take exactly
// one frame and leave the rest in the reader, whatever the read sizes.
func TestReadFramePipelined(t *testing.T) {
	f1 := frame(1, 1, 0x03, 0x00, 0x00, 0x00, 0x02)
	f2 := frame(2, 0xFF, 0x2B, 0x0E, 0x01, 0x00)
	f3 := frame(3, 1, 0x06, 0x00, 0x01, 0x12, 0x34)
	stream := append(append(append([]byte{}, f1...), f2...), f3[:9]...) // the third is cut short

	for _, mk := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"half reads", iotest.HalfReader},
	} {
		t.Run(mk.name, func(t *testing.T) {
			br := bytes.NewReader(stream)
			r := mk.wrap(br)
			buf := make([]byte, MaxADU)

			h, pdu, err := ReadFrame(r, buf)
			if err != nil || h.TxID != 1 || !bytes.Equal(pdu, f1[HeaderLen:]) {
				t.Fatalf("frame 1: %+v % x %v", h, pdu, err)
			}
			if br.Len() != len(stream)-len(f1) {
				t.Fatalf("after frame 1, %d bytes left, want %d", br.Len(), len(stream)-len(f1))
			}
			h, pdu, err = ReadFrame(r, buf)
			if err != nil || h.TxID != 2 || h.Unit != 0xFF || !bytes.Equal(pdu, f2[HeaderLen:]) {
				t.Fatalf("frame 2: %+v % x %v", h, pdu, err)
			}
			if br.Len() != 9 {
				t.Fatalf("after frame 2, %d bytes left, want 9", br.Len())
			}
			if _, _, err = ReadFrame(r, buf); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("cut frame 3: err = %v, want ErrUnexpectedEOF", err)
			}
		})
	}
}

// A reader error other than EOF reaches the caller unchanged.
func TestReadFramePassesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(mbap(1, 0, 6, 1)), iotest.ErrReader(boom))
	if _, _, err := ReadFrame(r, make([]byte, MaxADU)); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

func TestHeaderEncoding(t *testing.T) {
	got := AppendHeader([]byte{0xAA}, 0x0102, 0x07, 5)
	want := []byte{0xAA, 0x01, 0x02, 0x00, 0x00, 0x00, 0x06, 0x07}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendHeader = % x, want % x", got, want)
	}
	if h := DecodeHeader(got[1:]); h != (Header{TxID: 0x0102, Length: 6, Unit: 7}) {
		t.Fatalf("DecodeHeader = %+v", h)
	}

	// A response is built with a zero length and patched once its PDU is known.
	adu := AppendHeader(nil, 9, 1, 0)
	adu = append(adu, 0x03, 0x04, 0x00, 0x01, 0x00, 0x02)
	PatchLength(adu)
	h, pdu, err := ReadFrame(bytes.NewReader(adu), make([]byte, MaxADU))
	if err != nil || h.Length != 7 || len(pdu) != 6 {
		t.Fatalf("patched frame reads back as %+v % x %v", h, pdu, err)
	}

	// Largest PDU: length 254 = 0x00FE.
	big := AppendHeader(nil, 0, 0, MaxPDU)
	if big[4] != 0x00 || big[5] != 0xFE {
		t.Fatalf("length for a %d-byte PDU = % x", MaxPDU, big[4:6])
	}
}

// Pending tells a frame still coming from one that has all come, or that
// ReadFrame will reject without more bytes.
func TestPending(t *testing.T) {
	whole := frame(1, 1, 0x03, 0x00, 0x00, 0x00, 0x01) // 12 bytes
	for _, tc := range []struct {
		name string
		b    []byte
		want int
	}{
		{"nothing", nil, HeaderLen},
		{"part of the header", whole[:3], HeaderLen - 3},
		{"the header", whole[:HeaderLen], 5},
		{"all but one byte", whole[:11], 1},
		{"the whole frame", whole, 0},
		{"a frame and the start of the next", append(append([]byte{}, whole...), whole[:4]...), 0},
		{"a bad protocol id", mbap(1, 1, 6, 1), 0},
		{"a bad length", mbap(1, 0, 1, 1), 0},
	} {
		if got := Pending(tc.b); got != tc.want {
			t.Errorf("%s: Pending = %d, want %d", tc.name, got, tc.want)
		}
	}
}
