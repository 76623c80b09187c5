package iec104

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// Frames by hand, as the standard's examples and Wireshark show them.
func TestReadAPDU(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want APCI
		asdu int
		err  error
	}{
		{"STARTDT act", []byte{0x68, 4, 0x07, 0, 0, 0}, APCI{Format: FormatU, Func: StartDTAct}, 0, nil},
		{"TESTFR con", []byte{0x68, 4, 0x83, 0, 0, 0}, APCI{Format: FormatU, Func: TestFRCon}, 0, nil},
		{"S-frame N(R)=300", []byte{0x68, 4, 0x01, 0, 0x58, 0x02}, APCI{Format: FormatS, Recv: 300}, 0, nil},
		{"I-frame", []byte{0x68, 10, 0x02, 0x00, 0x04, 0x00, 100, 1, 6, 0, 1, 0},
			APCI{Format: FormatI, Send: 1, Recv: 2}, 6, nil},
		{"I-frame top numbers", []byte{0x68, 10, 0xFE, 0xFF, 0xFE, 0xFF, 100, 1, 6, 0, 1, 0},
			APCI{Format: FormatI, Send: 32767, Recv: 32767}, 6, nil},
		{"bad start", []byte{0x69, 4, 0x07, 0, 0, 0}, APCI{}, 0, ErrStartByte},
		{"length 3", []byte{0x68, 3, 0x07, 0, 0}, APCI{}, 0, ErrLength},
		{"length 254", append([]byte{0x68, 254}, make([]byte, 254)...), APCI{}, 0, ErrLength},
		{"U with an ASDU", []byte{0x68, 5, 0x07, 0, 0, 0, 1}, APCI{Format: FormatU, Func: StartDTAct}, 0, ErrLength},
		{"I without one", []byte{0x68, 4, 0x00, 0, 0, 0}, APCI{Format: FormatI}, 0, ErrLength},
		{"two U bits", []byte{0x68, 4, 0x0F, 0, 0, 0}, APCI{Format: FormatU, Func: 0x0F}, 0, ErrControl},
		{"U with octet 2 set", []byte{0x68, 4, 0x43, 1, 0, 0}, APCI{Format: FormatU, Func: TestFRAct}, 0, ErrControl},
		{"S with octet 2 set", []byte{0x68, 4, 0x01, 1, 0, 0}, APCI{Format: FormatS}, 0, ErrControl},
		{"truncated", []byte{0x68, 4, 0x07, 0}, APCI{}, 0, io.ErrUnexpectedEOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, asdu, err := ReadAPDU(bytes.NewReader(c.in), make([]byte, MaxAPDU))
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if a != c.want || len(asdu) != c.asdu {
				t.Fatalf("got %+v with a %d-byte asdu, want %+v and %d", a, len(asdu), c.want, c.asdu)
			}
		})
	}
}

// Pending tells an APDU still coming from one that has all come, or that
// ReadAPDU will reject without more bytes.
func TestPending(t *testing.T) {
	whole := []byte{0x68, 10, 0x02, 0x00, 0x04, 0x00, 100, 1, 6, 0, 1, 0} // 12 bytes
	for _, c := range []struct {
		name string
		b    []byte
		want int
	}{
		{"nothing", nil, 2},
		{"the start byte", whole[:1], 1},
		{"start and length", whole[:2], 10},
		{"all but one byte", whole[:11], 1},
		{"the whole APDU", whole, 0},
		{"an APDU and the start of the next", append(append([]byte{}, whole...), 0x68, 4, 0x07), 0},
		{"a bad start byte", []byte{0x69, 4}, 0},
		{"a bad length", []byte{0x68, 3}, 0},
		{"a length over 253", []byte{0x68, 254}, 0},
	} {
		if got := Pending(c.b); got != c.want {
			t.Errorf("%s: Pending = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestEncodeFrames(t *testing.T) {
	b := AppendI(nil, 32767+5, 3) // wraps to 4
	b = AppendHeader(b, Header{Type: CIcNa1, Count: 1, Cause: CauseActCon, CA: 0x1234})
	b = append(AppendIOA(b, 0), QOIStation)
	PatchLength(b)
	want := []byte{0x68, 14, 0x08, 0x00, 0x06, 0x00, 100, 1, 7, 0, 0x34, 0x12, 0, 0, 0, 20}
	if !bytes.Equal(b, want) {
		t.Fatalf("I-frame % x, want % x", b, want)
	}
	if s := AppendS(nil, 300); !bytes.Equal(s, []byte{0x68, 4, 1, 0, 0x58, 0x02}) {
		t.Fatalf("S-frame % x", s)
	}
	if u := AppendU(nil, StopDTCon); !bytes.Equal(u, []byte{0x68, 4, 0x23, 0, 0, 0}) {
		t.Fatalf("U-frame % x", u)
	}
	// Pipelined frames come out one at a time.
	r := bufio.NewReader(bytes.NewReader(append(append(AppendU(nil, TestFRAct), want...), AppendS(nil, 7)...)))
	buf := make([]byte, MaxAPDU)
	for _, f := range []Format{FormatU, FormatI, FormatS} {
		a, _, err := ReadAPDU(r, buf)
		if err != nil || a.Format != f {
			t.Fatalf("got %+v %v, want format %v", a, err, f)
		}
	}
	if SeqDiff(32766, 2) != 4 || SeqDiff(5, 5) != 0 {
		t.Fatal("SeqDiff does not wrap at 2^15")
	}
}

func TestHeaderAndObjects(t *testing.T) {
	h := Header{Type: MMeNc1, Count: 2, Cause: CauseInrogen, Negative: true, Test: true, Originator: 9, CA: 513}
	b := AppendHeader(nil, h)
	b = AppendFloat32(AppendIOA(b, 3001), 1.5)
	b = append(b, 0)
	b = AppendFloat32(AppendIOA(b, 0x123456), -2)
	b = append(b, QualityIV)
	got, objs, err := ParseHeader(b)
	if err != nil || got != h {
		t.Fatalf("header %+v %v, want %+v", got, err, h)
	}
	var ioas []uint32
	var vals []float32
	if err := Objects(got, objs, func(ioa uint32, e []byte) bool {
		ioas, vals = append(ioas, ioa), append(vals, Float32(e))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(ioas) != 2 || ioas[0] != 3001 || ioas[1] != 0x123456 || vals[0] != 1.5 || vals[1] != -2 {
		t.Fatalf("objects %v %v", ioas, vals)
	}
	if err := Objects(got, objs[:len(objs)-1], func(uint32, []byte) bool { return true }); !errors.Is(err, ErrASDUSize) {
		t.Fatalf("short objects: %v", err)
	}
	// SQ=1: one address, consecutive elements.
	sq := Header{Type: MSpNa1, SQ: true, Count: 3, Cause: CauseInrogen, CA: 1}
	b = append(AppendIOA(AppendHeader(nil, sq), 1001), 1, 0, 1)
	got, objs, _ = ParseHeader(b)
	ioas = ioas[:0]
	Objects(got, objs, func(ioa uint32, e []byte) bool { ioas = append(ioas, ioa); return true })
	if len(ioas) != 3 || ioas[2] != 1003 {
		t.Fatalf("sequence addresses %v", ioas)
	}
	if _, _, err := ParseHeader(b[:5]); !errors.Is(err, ErrShortASDU) {
		t.Fatalf("short header: %v", err)
	}
	if err := Objects(Header{Type: 200}, nil, nil); err == nil {
		t.Fatal("an unknown type walked")
	}
}

func TestCP56(t *testing.T) {
	tm := time.Date(2024, 2, 29, 23, 59, 58, 999e6, time.UTC) // a Thursday
	b := AppendCP56(nil, tm)
	want := []byte{0x77, 0xE6, 59, 23, 29 | 4<<5, 2, 24} // 58 999 ms
	if !bytes.Equal(b, want) {
		t.Fatalf("CP56 % x, want % x", b, want)
	}
	c, err := ParseCP56(b)
	if err != nil || !c.Time.Equal(tm) || c.Invalid || c.Summer {
		t.Fatalf("parsed %+v %v", c, err)
	}
	for _, bad := range [][]byte{
		{0x60, 0xEA, 0, 0, 1, 1, 0}, // 60000 ms
		{0, 0, 60, 0, 1, 1, 0},      // minute 60
		{0, 0, 0, 24, 1, 1, 0},      // hour 24
		{0, 0, 0, 0, 0, 1, 0},       // day 0
		{0, 0, 0, 0, 30, 2, 23},     // 30 February
		{0, 0, 0, 0, 1, 13, 0},      // month 13
		{0, 0, 0, 0, 1, 1, 100},     // year 100
	} {
		if _, err := ParseCP56(bad); !errors.Is(err, ErrCP56) {
			t.Errorf("ParseCP56(% x) = %v, want ErrCP56", bad, err)
		}
	}
}

// The read path allocates nothing: a server reads a frame per request.
func TestReadAPDUAllocs(t *testing.T) {
	frame := []byte{0x68, 14, 0x02, 0x00, 0x04, 0x00, 100, 1, 6, 0, 1, 0, 0, 0, 0, 20}
	r := bytes.NewReader(frame)
	buf := make([]byte, MaxAPDU)
	n := testing.AllocsPerRun(100, func() {
		r.Reset(frame)
		a, asdu, err := ReadAPDU(r, buf)
		if err != nil || a.Format != FormatI {
			t.Fatal(err)
		}
		h, objs, _ := ParseHeader(asdu)
		Objects(h, objs, func(uint32, []byte) bool { return true })
	})
	if n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}
