package iec104

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// Run with
//
//	go test ./plant-sim/iec104 -run '^$' -fuzz FuzzReadAPDU -fuzztime 30s
//	go test ./plant-sim/iec104 -run '^$' -fuzz FuzzParseASDU -fuzztime 30s
//
// Without -fuzz, the f.Add seeds and testdata/fuzz/<name>/ run as tests.

func FuzzReadAPDU(f *testing.F) {
	f.Add([]byte{0x68, 4, 0x07, 0, 0, 0})
	f.Add([]byte{0x68, 4, 0x01, 0, 0x58, 0x02})
	f.Add([]byte{0x68, 14, 0x02, 0x00, 0x04, 0x00, 100, 1, 6, 0, 1, 0, 0, 0, 0, 20})
	f.Add(append([]byte{0x68, 4, 0x43, 0, 0, 0}, 0x68, 4, 0x83, 0, 0, 0))
	f.Add(append([]byte{0x68, 253}, make([]byte, 253)...))
	f.Add([]byte{0x68, 254})
	f.Add([]byte{0x68, 3, 1, 0, 0})
	f.Add([]byte{0x10, 4, 0x07, 0, 0, 0})
	f.Add([]byte{0x68, 4, 0x0F, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		a, asdu, err := ReadAPDU(r, make([]byte, MaxAPDU))
		consumed := len(data) - r.Len()
		// Pending tells from the bytes alone whether ReadAPDU runs out of
		// them, and filling in what it says is missing (twice at most:
		// once for the start and length, once for the rest) lets it return.
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if p := Pending(data); (p > 0) != eof {
			t.Fatalf("Pending says %d for % x, ReadAPDU says %v", p, data[:min(len(data), 16)], err)
		}
		filled := data
		for range 2 {
			filled = append(filled, make([]byte, Pending(filled))...)
		}
		if _, _, err := ReadAPDU(bytes.NewReader(filled), make([]byte, MaxAPDU)); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("filled up as Pending said, % x still runs out: %v", filled[:min(len(filled), 16)], err)
		}
		if err != nil {
			if asdu != nil {
				t.Fatalf("error %v with an asdu", err)
			}
			switch {
			case errors.Is(err, ErrStartByte):
				if data[0] == StartByte {
					t.Fatal("ErrStartByte for 0x68")
				}
			case errors.Is(err, ErrLength), errors.Is(err, ErrControl):
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				if consumed != len(data) {
					t.Fatalf("EOF after %d of %d bytes", consumed, len(data))
				}
			default:
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		n := int(data[1])
		if consumed != 2+n || n < ControlLen || n > MaxLength {
			t.Fatalf("consumed %d bytes for length %d", consumed, n)
		}
		if (a.Format == FormatI) != (len(asdu) > 0) || len(asdu) != n-ControlLen {
			t.Fatalf("%v frame with a %d-byte asdu", a.Format, len(asdu))
		}
		// Re-encoding gives back the frame.
		var re []byte
		switch a.Format {
		case FormatI:
			re = append(AppendI(nil, a.Send, a.Recv), asdu...)
			PatchLength(re)
		case FormatS:
			re = AppendS(nil, a.Recv)
		case FormatU:
			re = AppendU(nil, a.Func)
		}
		if !bytes.Equal(re, data[:consumed]) {
			t.Fatalf("re-encoded % x from % x", re, data[:consumed])
		}
		if a.Send >= SeqMod || a.Recv >= SeqMod {
			t.Fatalf("sequence numbers %d/%d beyond 15 bits", a.Send, a.Recv)
		}
	})
}

func FuzzParseASDU(f *testing.F) {
	f.Add([]byte{100, 1, 6, 0, 1, 0, 0, 0, 0, 20})
	f.Add([]byte{45, 1, 6, 0, 1, 0, 0x71, 0x17, 0, 0x81})
	f.Add([]byte{50, 1, 6, 0, 1, 0, 0x41, 0x1F, 0, 0, 0, 0x20, 0x41, 0})
	f.Add([]byte{103, 1, 6, 0, 1, 0, 0, 0, 0, 0x4F, 0xEA, 59, 23, 0x9D, 2, 24})
	f.Add([]byte{1, 0x83, 20, 0, 1, 0, 0xE9, 3, 0, 1, 0, 1})
	f.Add([]byte{200, 1, 6, 0, 1, 0, 1, 2, 3})
	f.Add([]byte{13, 2, 3, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, objs, err := ParseHeader(data)
		if err != nil {
			if len(data) >= HeaderLen {
				t.Fatalf("%v for %d bytes", err, len(data))
			}
			return
		}
		if h.Count > 127 || h.Cause > 63 {
			t.Fatalf("header %+v out of range", h)
		}
		if got := append(AppendHeader(nil, h), objs...); !bytes.Equal(got, data) {
			t.Fatalf("re-encoded % x from % x", got, data)
		}
		if !h.Type.Known() {
			if Objects(h, objs, func(uint32, []byte) bool { return true }) == nil {
				t.Fatal("walked an unknown type")
			}
			return
		}
		size := h.Type.ElementSize()
		var rebuilt []byte
		n := 0
		err = Objects(h, objs, func(ioa uint32, e []byte) bool {
			if len(e) != size || ioa > 0xFFFFFF {
				t.Fatalf("element of %d bytes at %d for %v", len(e), ioa, h.Type)
			}
			if !h.SQ || n == 0 {
				rebuilt = AppendIOA(rebuilt, ioa)
			}
			rebuilt = append(rebuilt, e...)
			if size >= CP56Len && (h.Type == CCsNa1 || size == 8 || size == 10 || size == 12) {
				ParseCP56(e[size-CP56Len:])
			}
			n++
			return true
		})
		if err != nil {
			return
		}
		if n != int(h.Count) || !bytes.Equal(rebuilt, objs) {
			t.Fatalf("walked %d of %d objects; rebuilt % x from % x", n, h.Count, rebuilt, objs)
		}
	})
}
