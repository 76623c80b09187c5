package modbus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// Run with
//
//	go test ./plant-sim/modbus -run '^$' -fuzz FuzzReadFrame -fuzztime 30s
//	go test ./plant-sim/modbus -run '^$' -fuzz FuzzParseRequest -fuzztime 30s
//
// Without -fuzz, the f.Add seeds and testdata/fuzz/<name>/ run as tests.

func FuzzReadFrame(f *testing.F) {
	f.Add(frame(1, 1, 0x03, 0x00, 0x00, 0x00, 0x01))
	f.Add(append(frame(1, 1, 0x03, 0x00, 0x00, 0x00, 0x01), frame(2, 0xFF, 0x2B, 0x0E, 0x01, 0x00)...))
	f.Add(mbap(1, 1, 6, 1))                                 // protocol id 1
	f.Add(mbap(1, 0, 0, 1))                                 // length 0
	f.Add(mbap(1, 0, 1, 1))                                 // length 1
	f.Add(append(mbap(1, 0, 255, 1), make([]byte, 300)...)) // length over the limit
	f.Add(append(mbap(1, 0, 254, 1), make([]byte, 253)...)) // largest frame
	f.Add(frame(1, 1, 0x03, 0x00, 0x00, 0x00, 0x01)[:9])    // truncated
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		buf := make([]byte, MaxADU)
		h, pdu, err := ReadFrame(r, buf)
		consumed := len(data) - r.Len()
		// Pending tells from the bytes alone whether ReadFrame runs out of
		// them, and filling in what it says is missing (twice at most:
		// once for the header, once for the rest) lets it return.
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if p := Pending(data); (p > 0) != eof {
			t.Fatalf("Pending says %d for % x, ReadFrame says %v", p, data[:min(len(data), 16)], err)
		}
		filled := data
		for range 2 {
			filled = append(filled, make([]byte, Pending(filled))...)
		}
		if _, _, err := ReadFrame(bytes.NewReader(filled), make([]byte, MaxADU)); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("filled up as Pending said, % x still runs out: %v", filled[:min(len(filled), 16)], err)
		}
		if err != nil {
			if pdu != nil {
				t.Fatalf("error %v with a pdu", err)
			}
			switch {
			case errors.Is(err, ErrProtocolID):
				if len(data) < HeaderLen || binary.BigEndian.Uint16(data[2:]) == 0 {
					t.Fatalf("ErrProtocolID for % x", data[:min(len(data), HeaderLen)])
				}
			case errors.Is(err, ErrFrameLength):
				if l := binary.BigEndian.Uint16(data[4:]); l >= 2 && l <= MaxPDU+1 {
					t.Fatalf("ErrFrameLength for length %d", l)
				}
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				if consumed != len(data) {
					t.Fatalf("EOF after consuming %d of %d bytes", consumed, len(data))
				}
			default:
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(pdu) < 1 || len(pdu) > MaxPDU {
			t.Fatalf("pdu of %d bytes", len(pdu))
		}
		if h.Proto != 0 || int(h.Length) != len(pdu)+1 {
			t.Fatalf("header %+v for a %d-byte pdu", h, len(pdu))
		}
		// Exactly one frame was consumed: pipelined data stays in the reader.
		if consumed != HeaderLen+len(pdu) {
			t.Fatalf("consumed %d bytes for a %d-byte frame", consumed, HeaderLen+len(pdu))
		}
		// Re-encoding the frame gives back the bytes it was read from.
		re := append(AppendHeader(nil, h.TxID, h.Unit, len(pdu)), pdu...)
		if !bytes.Equal(re, data[:consumed]) {
			t.Fatalf("re-encoded % x, read from % x", re, data[:consumed])
		}
		if h2, pdu2, err := ReadFrame(bytes.NewReader(re), make([]byte, MaxADU)); err != nil || h2 != h || !bytes.Equal(pdu2, pdu) {
			t.Fatalf("round trip: %+v % x %v", h2, pdu2, err)
		}
	})
}

// encodeRequest is the canonical PDU of a parsed request.
func encodeRequest(r Request) []byte {
	u := binary.BigEndian.AppendUint16
	p := []byte{r.Function}
	switch r.Function {
	case FuncReadCoils, FuncReadDiscreteInputs, FuncReadHoldingRegisters, FuncReadInputRegisters:
		p = u(u(p, r.Addr), r.Qty)
	case FuncWriteSingleCoil, FuncWriteSingleRegister:
		p = u(u(p, r.Addr), r.Value)
	case FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
		p = append(u(u(p, r.Addr), r.Qty), byte(len(r.Data)))
		p = append(p, r.Data...)
	case FuncReadWriteRegisters:
		p = append(u(u(u(u(p, r.Addr), r.Qty), r.WAddr), r.WQty), byte(len(r.Data)))
		p = append(p, r.Data...)
	case FuncEncapsulatedInterface:
		p = append(p, MEIReadDeviceID, r.ReadCode, r.ObjectID)
	}
	return p
}

func FuzzParseRequest(f *testing.F) {
	for _, p := range [][]byte{
		{0x01, 0x00, 0x00, 0x07, 0xD0},
		{0x02, 0x00, 0x00, 0x07, 0xD1},
		{0x03, 0x00, 0x00, 0x00, 0x7D},
		{0x04, 0xFF, 0xFF, 0x00, 0x02},
		{0x05, 0x00, 0x01, 0xFF, 0x00},
		{0x05, 0x00, 0x01, 0x12, 0x34},
		{0x06, 0x00, 0x01, 0x12, 0x34},
		{0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01},
		{0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02},
		{0x10, 0x00, 0x01, 0x00, 0x02, 0x03, 0x00, 0x0A, 0x01},
		{0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF},
		{0x2B, 0x0E, 0x01, 0x00},
		{0x2B, 0x0E, 0x04, 0x06},
		{0x2B, 0x0D},
		{0x08, 0x00, 0x00, 0x00, 0x00},
		{},
	} {
		f.Add(p)
	}
	// Objects long enough that streams need "more follows".
	id := &DeviceID{}
	for i := range id {
		id[i] = strings.Repeat(string(rune('A'+i)), 40*i+3)
	}
	f.Fuzz(func(t *testing.T, pdu []byte) {
		req, ex := ParseRequest(pdu)
		if ex != 0 {
			if ex != ExIllegalFunction && ex != ExIllegalValue {
				t.Fatalf("exception %02X: parsing answers only 01 and 03", byte(ex))
			}
			return
		}
		if req.Function != pdu[0] {
			t.Fatalf("function %#02x from pdu starting %#02x", req.Function, pdu[0])
		}
		// Nothing was ignored: the request re-encodes to the exact PDU.
		if re := encodeRequest(req); !bytes.Equal(re, pdu) {
			t.Fatalf("request %+v re-encodes to % x, parsed from % x", req, re, pdu)
		}
		// Quantities are within the specification's limits.
		var maxQty int
		switch req.Function {
		case FuncReadCoils, FuncReadDiscreteInputs:
			maxQty = MaxReadBits
		case FuncReadHoldingRegisters, FuncReadInputRegisters:
			maxQty = MaxReadRegisters
		case FuncWriteSingleCoil:
			maxQty = 1
			if req.Value != 0 && req.Value != 0xFF00 {
				t.Fatalf("FC5 value %#04x accepted", req.Value)
			}
		case FuncWriteSingleRegister:
			maxQty = 1
		case FuncWriteMultipleCoils:
			maxQty = MaxWriteBits
			if len(req.Data) != (int(req.Qty)+7)/8 {
				t.Fatalf("FC15 of %d coils with %d data bytes", req.Qty, len(req.Data))
			}
		case FuncWriteMultipleRegisters:
			maxQty = MaxWriteRegisters
			if len(req.Data) != 2*int(req.Qty) {
				t.Fatalf("FC16 of %d registers with %d data bytes", req.Qty, len(req.Data))
			}
		case FuncReadWriteRegisters:
			maxQty = MaxRWReadRegisters
			if req.WQty < 1 || req.WQty > MaxRWWriteRegister || len(req.Data) != 2*int(req.WQty) {
				t.Fatalf("FC23 writes %d registers with %d data bytes", req.WQty, len(req.Data))
			}
		case FuncEncapsulatedInterface:
			if req.ReadCode < 1 || req.ReadCode > 4 {
				t.Fatalf("FC43/14 read code %d accepted", req.ReadCode)
			}
			out, ex := AppendDeviceID(nil, id, req)
			if ex != 0 {
				if ex != ExIllegalAddress || req.ReadCode != 4 {
					t.Fatalf("device id exception %02X for read code %d object %d", byte(ex), req.ReadCode, req.ObjectID)
				}
				return
			}
			if len(out) > MaxPDU {
				t.Fatalf("device id response of %d bytes", len(out))
			}
			return
		default:
			t.Fatalf("function %#02x accepted", req.Function)
		}
		if req.Qty < 1 || int(req.Qty) > maxQty {
			t.Fatalf("function %#02x quantity %d accepted (limit 1..%d)", req.Function, req.Qty, maxQty)
		}
	})
}
