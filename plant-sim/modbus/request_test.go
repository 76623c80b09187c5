package modbus

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// PDU builders for the tests.

func pduRead(fc byte, addr, qty uint16) []byte {
	return []byte{fc, byte(addr >> 8), byte(addr), byte(qty >> 8), byte(qty)}
}

// pduWriteMulti builds FC15/FC16 with an explicit byte count and data length,
// so tests can make them disagree with the quantity.
func pduWriteMulti(fc byte, addr, qty uint16, count byte, dataLen int) []byte {
	p := []byte{fc, byte(addr >> 8), byte(addr), byte(qty >> 8), byte(qty), count}
	for i := range dataLen {
		p = append(p, byte(i+1))
	}
	return p
}

func pduFC15(qty uint16) []byte {
	n := (int(qty) + 7) / 8
	return pduWriteMulti(FuncWriteMultipleCoils, 0, qty, byte(n), n)
}

func pduFC16(qty uint16) []byte {
	return pduWriteMulti(FuncWriteMultipleRegisters, 0, qty, byte(2*qty), 2*int(qty))
}

func pduFC23(rqty, wqty uint16, count byte, dataLen int) []byte {
	p := []byte{FuncReadWriteRegisters, 0x00, 0x01, byte(rqty >> 8), byte(rqty), 0x00, 0x02, byte(wqty >> 8), byte(wqty), count}
	return append(p, bytes.Repeat([]byte{0x5A}, dataLen)...)
}

func pduFC23OK(rqty, wqty uint16) []byte {
	return pduFC23(rqty, wqty, byte(2*wqty), 2*int(wqty))
}

func TestParseRequestQuantityLimits(t *testing.T) {
	type tc struct {
		name string
		pdu  []byte
		want Exception
	}
	var cases []tc
	// Reads: FC1/2 1..2000 bits, FC3/4 1..125 registers.
	for _, r := range []struct {
		fc  byte
		max uint16
	}{
		{FuncReadCoils, 2000}, {FuncReadDiscreteInputs, 2000},
		{FuncReadHoldingRegisters, 125}, {FuncReadInputRegisters, 125},
	} {
		for _, q := range []struct {
			qty  uint16
			want Exception
		}{{0, ExIllegalValue}, {1, 0}, {r.max, 0}, {r.max + 1, ExIllegalValue}, {0xFFFF, ExIllegalValue}} {
			cases = append(cases, tc{fmt.Sprintf("FC%d qty %d", r.fc, q.qty), pduRead(r.fc, 0, q.qty), q.want})
		}
	}
	// FC15 1..1968 bits with byte count = ceil(qty/8).
	for _, q := range []struct {
		qty  uint16
		want Exception
	}{{1, 0}, {8, 0}, {9, 0}, {1968, 0}, {1969, ExIllegalValue}} {
		cases = append(cases, tc{fmt.Sprintf("FC15 qty %d", q.qty), pduFC15(q.qty), q.want})
	}
	cases = append(cases,
		tc{"FC15 qty 0", pduWriteMulti(FuncWriteMultipleCoils, 0, 0, 0, 0), ExIllegalValue},
		tc{"FC15 qty 9 count 1", pduWriteMulti(FuncWriteMultipleCoils, 0, 9, 1, 1), ExIllegalValue},
		tc{"FC15 qty 8 count 2", pduWriteMulti(FuncWriteMultipleCoils, 0, 8, 2, 2), ExIllegalValue},
		tc{"FC15 count 2 but 1 data byte", pduWriteMulti(FuncWriteMultipleCoils, 0, 16, 2, 1), ExIllegalValue},
		tc{"FC15 count 1 but 2 data bytes", pduWriteMulti(FuncWriteMultipleCoils, 0, 8, 1, 2), ExIllegalValue},
	)
	// FC16 1..123 registers with byte count = 2*qty.
	for _, q := range []struct {
		qty  uint16
		want Exception
	}{{1, 0}, {2, 0}, {123, 0}, {124, ExIllegalValue}} {
		cases = append(cases, tc{fmt.Sprintf("FC16 qty %d", q.qty), pduFC16(q.qty), q.want})
	}
	cases = append(cases,
		tc{"FC16 qty 0", pduWriteMulti(FuncWriteMultipleRegisters, 0, 0, 0, 0), ExIllegalValue},
		tc{"FC16 qty 2 count 2", pduWriteMulti(FuncWriteMultipleRegisters, 0, 2, 2, 2), ExIllegalValue},
		tc{"FC16 qty 1 count 4", pduWriteMulti(FuncWriteMultipleRegisters, 0, 1, 4, 4), ExIllegalValue},
		tc{"FC16 count 4 but 3 data bytes", pduWriteMulti(FuncWriteMultipleRegisters, 0, 2, 4, 3), ExIllegalValue},
		tc{"FC16 count 2 but 4 data bytes", pduWriteMulti(FuncWriteMultipleRegisters, 0, 1, 2, 4), ExIllegalValue},
	)
	// FC23: read 1..125, write 1..121, byte count = 2*write qty.
	cases = append(cases,
		tc{"FC23 r1 w1", pduFC23OK(1, 1), 0},
		tc{"FC23 r125 w121", pduFC23OK(125, 121), 0},
		tc{"FC23 r0", pduFC23OK(0, 1), ExIllegalValue},
		tc{"FC23 r126", pduFC23OK(126, 1), ExIllegalValue},
		tc{"FC23 w0", pduFC23(1, 0, 0, 0), ExIllegalValue},
		tc{"FC23 w122", pduFC23OK(1, 122), ExIllegalValue},
		tc{"FC23 w2 count 2", pduFC23(1, 2, 2, 2), ExIllegalValue},
		tc{"FC23 count 4 but 2 data bytes", pduFC23(1, 2, 4, 2), ExIllegalValue},
		tc{"FC23 trailing byte", pduFC23(1, 1, 2, 3), ExIllegalValue},
	)
	for _, c := range cases {
		req, ex := ParseRequest(c.pdu)
		if ex != c.want {
			t.Errorf("%s: exception %02X, want %02X", c.name, byte(ex), byte(c.want))
			continue
		}
		if ex == 0 && req.Function != c.pdu[0] {
			t.Errorf("%s: function %#02x", c.name, req.Function)
		}
	}
}

func TestParseRequestFields(t *testing.T) {
	req, ex := ParseRequest([]byte{0x04, 0x12, 0x34, 0x00, 0x7D})
	if ex != 0 || req.Addr != 0x1234 || req.Qty != 125 || req.IsWrite() {
		t.Errorf("FC4: %+v %v", req, ex)
	}

	req, ex = ParseRequest([]byte{0x06, 0x00, 0x07, 0xAB, 0xCD})
	if ex != 0 || req.Addr != 7 || req.Value != 0xABCD || req.Qty != 1 || !req.IsWrite() {
		t.Errorf("FC6: %+v %v", req, ex)
	}
	// FC6 takes any 16-bit value.
	if _, ex = ParseRequest([]byte{0x06, 0x00, 0x07, 0x12, 0x34}); ex != 0 {
		t.Errorf("FC6 0x1234: exception %v", ex)
	}

	req, ex = ParseRequest([]byte{0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01})
	if ex != 0 || req.Addr != 0x13 || req.Qty != 10 || !bytes.Equal(req.Data, []byte{0xCD, 0x01}) || !req.IsWrite() {
		t.Errorf("FC15: %+v %v", req, ex)
	}
	for i, want := range []bool{true, false, true, true, false, false, true, true, true, false} {
		if Bit(req.Data, i) != want {
			t.Errorf("FC15 bit %d = %v, want %v", i, !want, want)
		}
	}

	req, ex = ParseRequest([]byte{0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02})
	if ex != 0 || req.Addr != 1 || req.Qty != 2 || !bytes.Equal(req.Data, []byte{0x00, 0x0A, 0x01, 0x02}) || !req.IsWrite() {
		t.Errorf("FC16: %+v %v", req, ex)
	}

	// The specification's FC23 example: read 6 from 3, write 3 to 14.
	req, ex = ParseRequest([]byte{0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF})
	if ex != 0 || req.Addr != 3 || req.Qty != 6 || req.WAddr != 14 || req.WQty != 3 || len(req.Data) != 6 || !req.IsWrite() {
		t.Errorf("FC23: %+v %v", req, ex)
	}
}

func TestParseRequestFC5Values(t *testing.T) {
	for _, tc := range []struct {
		v    uint16
		want Exception
	}{{0x0000, 0}, {0xFF00, 0}, {0x0001, ExIllegalValue}, {0x00FF, ExIllegalValue}, {0xFFFF, ExIllegalValue}, {0x1234, ExIllegalValue}} {
		req, ex := ParseRequest([]byte{0x05, 0x00, 0x03, byte(tc.v >> 8), byte(tc.v)})
		if ex != tc.want {
			t.Errorf("FC5 value %#04x: exception %02X, want %02X", tc.v, byte(ex), byte(tc.want))
			continue
		}
		if ex == 0 && (req.Addr != 3 || req.Value != tc.v || req.Qty != 1 || !req.IsWrite()) {
			t.Errorf("FC5 value %#04x: %+v", tc.v, req)
		}
	}
}

func TestParseRequestDeviceID(t *testing.T) {
	for code := 0; code <= 5; code++ {
		req, ex := ParseRequest([]byte{0x2B, 0x0E, byte(code), 0x03})
		want := Exception(0)
		if code < 1 || code > 4 {
			want = ExIllegalValue
		}
		if ex != want {
			t.Errorf("read code %d: exception %02X, want %02X", code, byte(ex), byte(want))
			continue
		}
		if ex == 0 && (req.ReadCode != byte(code) || req.ObjectID != 3 || req.IsWrite()) {
			t.Errorf("read code %d: %+v", code, req)
		}
	}
	for _, tc := range []struct {
		name string
		pdu  []byte
		want Exception
	}{
		{"no MEI type", []byte{0x2B}, ExIllegalFunction},
		{"CANopen MEI 0x0D", []byte{0x2B, 0x0D, 0x01, 0x00}, ExIllegalFunction},
		{"short body", []byte{0x2B, 0x0E, 0x01}, ExIllegalValue},
		{"long body", []byte{0x2B, 0x0E, 0x01, 0x00, 0x00}, ExIllegalValue},
	} {
		if _, ex := ParseRequest(tc.pdu); ex != tc.want {
			t.Errorf("%s: exception %02X, want %02X", tc.name, byte(ex), byte(tc.want))
		}
	}
}

func TestParseRequestUnknownFunction(t *testing.T) {
	known := map[byte]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 0x0F: true, 0x10: true, 0x17: true, 0x2B: true}
	for fc := range 256 {
		if known[byte(fc)] {
			continue
		}
		// Any body, even a plausible one, gets 01 for an unknown function.
		if _, ex := ParseRequest([]byte{byte(fc), 0, 0, 0, 1}); ex != ExIllegalFunction {
			t.Errorf("FC %#02x: exception %02X, want 01", fc, byte(ex))
		}
	}
	if _, ex := ParseRequest(nil); ex != ExIllegalFunction {
		t.Errorf("empty pdu: exception %02X, want 01", byte(ex))
	}
}

func TestParseRequestBodyLength(t *testing.T) {
	for _, fc := range []byte{1, 2, 3, 4, 5, 6} {
		good := []byte{fc, 0x00, 0x00, 0x00, 0x01}
		if fc == 5 {
			good[3], good[4] = 0xFF, 0x00
		}
		if _, ex := ParseRequest(good); ex != 0 {
			t.Errorf("FC%d % x: exception %v", fc, good, ex)
		}
		for _, bad := range [][]byte{good[:1], good[:3], good[:4], append(append([]byte{}, good...), 0)} {
			if _, ex := ParseRequest(bad); ex != ExIllegalValue {
				t.Errorf("FC%d % x: exception %02X, want 03", fc, bad, byte(ex))
			}
		}
	}
	for _, bad := range [][]byte{{0x0F}, {0x0F, 0, 0, 0, 1}, {0x10, 0, 0, 0, 1}, {0x17, 0, 0, 0, 1, 0, 0, 0, 1}} {
		if _, ex := ParseRequest(bad); ex != ExIllegalValue {
			t.Errorf("% x: exception %02X, want 03", bad, byte(ex))
		}
	}
}

func TestInRange(t *testing.T) {
	for _, tc := range []struct {
		addr, qty uint16
		size      int
		want      bool
	}{
		{0, 1, 1, true}, {0, 4, 4, true}, {3, 1, 4, true}, {3, 2, 4, false},
		{0, 0, 4, false}, {4, 1, 4, false},
		{0xFFFF, 2, 10, false}, // would wrap to 1 in uint16 arithmetic
		{0xFFFF, 1, 0x10000, true},
	} {
		if got := InRange(tc.addr, tc.qty, tc.size); got != tc.want {
			t.Errorf("InRange(%d, %d, %d) = %v", tc.addr, tc.qty, tc.size, got)
		}
	}
}

func TestExceptionEncoding(t *testing.T) {
	if got := AppendException([]byte{0xAA}, 0x03, ExIllegalAddress); !bytes.Equal(got, []byte{0xAA, 0x83, 0x02}) {
		t.Errorf("AppendException = % x", got)
	}
	if !strings.Contains(ExGatewayTargetNoAck.Error(), "0B") || !strings.Contains(ExIllegalValue.Error(), "illegal data value") {
		t.Errorf("exception messages: %q, %q", ExGatewayTargetNoAck.Error(), ExIllegalValue.Error())
	}
	data := make([]byte, 2)
	SetBit(data, 0, true)
	SetBit(data, 9, true)
	SetBit(data, 0, false)
	if !bytes.Equal(data, []byte{0x00, 0x02}) || !Bit(data, 9) || Bit(data, 8) {
		t.Errorf("bits = % x", data)
	}
}

// testDeviceID is a full basic and regular identification.
func testDeviceID() *DeviceID {
	return &DeviceID{
		ObjVendorName: "icsrange", ObjProductCode: "ICSR-x", ObjMajorMinorRevision: "1.0",
		ObjVendorURL: "https://example.org", ObjProductName: "sim", ObjModelName: "model", ObjUserApplicationName: "app",
	}
}

type devIDResp struct {
	code, conformity, more, next byte
	objects                      []byte // object ids in order
	values                       map[byte]string
}

// parseDevID decodes an FC43/14 response PDU strictly.
func parseDevID(t *testing.T, pdu []byte) devIDResp {
	t.Helper()
	if len(pdu) > MaxPDU {
		t.Fatalf("response of %d bytes exceeds the %d-byte PDU", len(pdu), MaxPDU)
	}
	if len(pdu) < 7 || pdu[0] != 0x2B || pdu[1] != 0x0E {
		t.Fatalf("not a device id response: % x", pdu)
	}
	r := devIDResp{code: pdu[2], conformity: pdu[3], more: pdu[4], next: pdu[5], values: map[byte]string{}}
	p := pdu[7:]
	for range int(pdu[6]) {
		if len(p) < 2 || len(p) < 2+int(p[1]) {
			t.Fatalf("object list overruns the PDU: % x", pdu)
		}
		r.objects = append(r.objects, p[0])
		r.values[p[0]] = string(p[2 : 2+int(p[1])])
		p = p[2+int(p[1]):]
	}
	if len(p) != 0 {
		t.Fatalf("%d trailing bytes after %d objects: % x", len(p), pdu[6], pdu)
	}
	return r
}

func TestAppendDeviceIDStreams(t *testing.T) {
	id := testDeviceID()
	for _, tc := range []struct {
		code, obj byte
		want      []byte
	}{
		{1, 0, []byte{0, 1, 2}},             // basic
		{2, 0, []byte{0, 1, 2, 3, 4, 5, 6}}, // regular
		{3, 0, []byte{0, 1, 2, 3, 4, 5, 6}}, // extended: we have none beyond regular
		{2, 4, []byte{4, 5, 6}},             // stream from a given object
		{1, 2, []byte{2}},
		{1, 5, []byte{0, 1, 2}},                // object not in the basic category: restart at 0
		{2, 0x80, []byte{0, 1, 2, 3, 4, 5, 6}}, // unknown object: restart at 0
	} {
		pdu, ex := AppendDeviceID(nil, id, Request{Function: 0x2B, ReadCode: tc.code, ObjectID: tc.obj})
		if ex != 0 {
			t.Errorf("code %d object %d: exception %v", tc.code, tc.obj, ex)
			continue
		}
		r := parseDevID(t, pdu)
		if r.code != tc.code || r.conformity != 0x82 || r.more != 0 || r.next != 0 || !bytes.Equal(r.objects, tc.want) {
			t.Errorf("code %d object %d: code %d conformity %#x more %#x next %d objects %v, want objects %v",
				tc.code, tc.obj, r.code, r.conformity, r.more, r.next, r.objects, tc.want)
		}
		for _, o := range r.objects {
			if r.values[o] != id[o] {
				t.Errorf("object %d = %q, want %q", o, r.values[o], id[o])
			}
		}
	}
}

func TestAppendDeviceIDIndividual(t *testing.T) {
	id := testDeviceID()
	for obj := range byte(7) {
		pdu, ex := AppendDeviceID(nil, id, Request{Function: 0x2B, ReadCode: 4, ObjectID: obj})
		if ex != 0 {
			t.Fatalf("object %d: exception %v", obj, ex)
		}
		r := parseDevID(t, pdu)
		if r.code != 4 || r.more != 0 || len(r.objects) != 1 || r.objects[0] != obj || r.values[obj] != id[obj] {
			t.Errorf("object %d: %+v", obj, r)
		}
	}
	id[ObjVendorURL] = ""
	for _, obj := range []byte{ObjVendorURL, 7, 0x80, 0xFF} {
		dst := []byte{0xAA}
		out, ex := AppendDeviceID(dst, id, Request{Function: 0x2B, ReadCode: 4, ObjectID: obj})
		if ex != ExIllegalAddress {
			t.Errorf("object %#x: exception %02X, want 02", obj, byte(ex))
		}
		if !bytes.Equal(out, dst) {
			t.Errorf("object %#x: appended % x before the exception", obj, out[1:])
		}
	}
}

func TestAppendDeviceIDSkipsEmptyObjects(t *testing.T) {
	id := testDeviceID()
	id[ObjVendorURL], id[ObjProductName] = "", ""
	pdu, _ := AppendDeviceID(nil, id, Request{ReadCode: 2})
	if r := parseDevID(t, pdu); !bytes.Equal(r.objects, []byte{0, 1, 2, 5, 6}) {
		t.Fatalf("objects %v", r.objects)
	}
	// Starting at an empty object restarts the stream.
	pdu, _ = AppendDeviceID(nil, id, Request{ReadCode: 2, ObjectID: ObjVendorURL})
	if r := parseDevID(t, pdu); len(r.objects) == 0 || r.objects[0] != 0 {
		t.Fatalf("objects %v", r.objects)
	}
}

// Objects that don't fit in one PDU are streamed with "more follows"; a
// client that follows next-object ids gets every object exactly once.
func TestAppendDeviceIDMoreFollows(t *testing.T) {
	id := testDeviceID()
	for i := range id {
		id[i] = strings.Repeat(string(rune('a'+i)), 100)
	}
	got := map[byte]string{}
	var order []byte
	obj := byte(0)
	for round := 0; ; round++ {
		if round > 7 {
			t.Fatal("stream did not end")
		}
		prefix := []byte{0xDE, 0xAD}
		pdu, ex := AppendDeviceID(prefix, id, Request{ReadCode: 2, ObjectID: obj})
		if ex != 0 {
			t.Fatal(ex)
		}
		if !bytes.Equal(pdu[:2], []byte{0xDE, 0xAD}) {
			t.Fatalf("prefix clobbered: % x", pdu[:2])
		}
		r := parseDevID(t, pdu[2:])
		if len(r.objects) == 0 {
			t.Fatalf("round %d: no objects", round)
		}
		for _, o := range r.objects {
			if _, dup := got[o]; dup {
				t.Fatalf("object %d sent twice", o)
			}
			got[o] = r.values[o]
			order = append(order, o)
		}
		if r.more == 0 {
			if r.next != 0 {
				t.Errorf("last response has next object %d", r.next)
			}
			break
		}
		if r.more != 0xFF {
			t.Fatalf("more follows = %#x", r.more)
		}
		if round == 0 && (len(r.objects) != 2 || r.next != 2) {
			t.Fatalf("first response: objects %v next %d, want [0 1] next 2", r.objects, r.next)
		}
		obj = r.next
	}
	if !bytes.Equal(order, []byte{0, 1, 2, 3, 4, 5, 6}) {
		t.Fatalf("objects arrived as %v", order)
	}
	for o, v := range got {
		if v != id[o] {
			t.Errorf("object %d = %q", o, v)
		}
	}
}

// An object too long for any PDU is cut to fit rather than overflowing it.
func TestAppendDeviceIDTruncatesHugeObject(t *testing.T) {
	id := testDeviceID()
	for _, n := range []int{MaxPDU - 9, MaxPDU - 8, MaxPDU, 400} {
		id[ObjUserApplicationName] = strings.Repeat("x", n)
		for _, code := range []byte{2, 4} {
			pdu, ex := AppendDeviceID(nil, id, Request{ReadCode: code, ObjectID: ObjUserApplicationName})
			if ex != 0 {
				t.Fatal(ex)
			}
			r := parseDevID(t, pdu)
			v := r.values[ObjUserApplicationName]
			if r.more != 0 || len(pdu) != MaxPDU || len(v) != MaxPDU-9 || !strings.HasPrefix(id[ObjUserApplicationName], v) {
				t.Errorf("%d-byte object, code %d: pdu %d bytes, object %d bytes, more follows %#x", n, code, len(pdu), len(v), r.more)
			}
		}
	}
}
