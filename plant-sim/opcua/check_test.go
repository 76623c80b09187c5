package opcua

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/gopcua/opcua/ua"
)

// Check passes every request a client sends and refuses what would make
// ua's decoder allocate out of proportion or take a type we never checked.
func TestCheck(t *testing.T) {
	for _, r := range seedRequests() {
		b, err := ua.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		v := reflect.New(reflect.TypeOf(r).Elem()).Interface()
		if n, err := Decode(b, v); err != nil || n != len(b) {
			t.Fatalf("%T: %v after %d of %d bytes", r, err, n, len(b))
		}
		if re, err := ua.Encode(v); err != nil || !bytes.Equal(re, b) {
			t.Fatalf("%T re-encodes as % x, was % x", r, re, b)
		}
	}
	read, _ := ua.Encode(&ua.ReadRequest{RequestHeader: header(), NodesToRead: []*ua.ReadValueID{}})
	huge := append([]byte(nil), read...)
	binary.LittleEndian.PutUint32(huge[len(huge)-4:], 0x7FFFFFFF)
	if _, err := Decode(huge, new(ua.ReadRequest)); err == nil || !strings.Contains(err.Error(), "array of") {
		t.Fatalf("a 2^31-element array passed: %v", err)
	}
	// A variant array of negative length (ua would panic in MakeSlice) and
	// one with 2^31 dimensions.
	wv := func(variant []byte) []byte {
		b, _ := ua.Encode(&ua.WriteRequest{RequestHeader: header(), NodesToWrite: []*ua.WriteValue{}})
		binary.LittleEndian.PutUint32(b[len(b)-4:], 1)
		node, _ := ua.Encode(ua.NewTwoByteNodeID(5))
		b = append(b, node...)
		b = binary.LittleEndian.AppendUint32(b, uint32(ua.AttributeIDValue))
		b = binary.LittleEndian.AppendUint32(b, 0xFFFFFFFF) // no index range
		b = append(b, ua.DataValueValue)
		return append(b, variant...)
	}
	for name, v := range map[string][]byte{
		"negative length":  {0x80 | 10, 0xFE, 0xFF, 0xFF, 0xFF},
		"huge dimensions":  {0xC0 | 10, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F},
		"array past bytes": {0x80 | 10, 0x00, 0x01, 0x00, 0x00},
		"unknown type":     {60},
	} {
		if _, err := Decode(wv(v), new(ua.WriteRequest)); err == nil {
			t.Errorf("variant with %s passed", name)
		}
	}
	if _, err := Decode(wv([]byte{10, 0, 0, 0xC0, 0x3F}), new(ua.WriteRequest)); err != nil {
		t.Fatalf("a Float variant: %v", err)
	}
	// Extension objects: only the types a request may carry.
	act, _ := ua.Encode(&ua.ActivateSessionRequest{RequestHeader: header(), ClientSignature: &ua.SignatureData{},
		UserIdentityToken: ua.NewExtensionObject(&ua.Range{Low: 1, High: 2}), UserTokenSignature: &ua.SignatureData{}})
	if _, err := Decode(act, new(ua.ActivateSessionRequest)); err == nil || !strings.Contains(err.Error(), "not accepted") {
		t.Fatalf("a Range as an identity token passed: %v", err)
	}
}

func TestHello(t *testing.T) {
	h, err := ParseHello(helloBytes("opc.tcp://plc:4840"))
	if err != nil || h.EndpointURL != "opc.tcp://plc:4840" || h.ReceiveBufferSize != 65536 {
		t.Fatalf("%+v %v", h, err)
	}
	a, err := Negotiate(Hello{ReceiveBufferSize: 8192, SendBufferSize: 1 << 20})
	if err != nil || a.SendBufferSize != 8192 || a.ReceiveBufferSize != BufferSize {
		t.Fatalf("%+v %v", a, err)
	}
	if _, err := Negotiate(Hello{ReceiveBufferSize: 100, SendBufferSize: 8192}); err == nil {
		t.Fatal("a 100-byte buffer negotiated")
	}
	e := AppendError(nil, ua.StatusBadTCPMessageTooLarge, "too large")
	if string(e[:4]) != "ERRF" || int(binary.LittleEndian.Uint32(e[4:])) != len(e) ||
		ua.StatusCode(binary.LittleEndian.Uint32(e[8:])) != ua.StatusBadTCPMessageTooLarge {
		t.Fatalf("ERR % x", e)
	}
}

// A None channel follows sequence numbers and reassembles chunks.
func TestChannelChunks(t *testing.T) {
	ch := noneChannel(t)
	read, _ := encodeService(seedRequests()[0])
	if m, err := ch.Accept(Chunk{Type: "MSG", Final: 'C', Raw: msgChunk('C', 7, 1, 2, 9, read[:10])}); m != nil || err != nil {
		t.Fatalf("first chunk: %v %v", m, err)
	}
	m, err := ch.Accept(Chunk{Type: "MSG", Final: 'F', Raw: msgChunk('F', 7, 1, 3, 9, read[10:])})
	if err != nil || m == nil || m.RequestID != 9 {
		t.Fatalf("final chunk: %+v %v", m, err)
	}
	var r ua.ReadRequest
	if _, err := Decode(m.Body, &r); err != nil || len(r.NodesToRead) != 1 {
		t.Fatalf("reassembled read: %v", err)
	}
	if _, err := ch.Accept(Chunk{Type: "MSG", Final: 'F', Raw: msgChunk('F', 7, 1, 9, 10, read)}); err == nil {
		t.Fatal("a skipped sequence number was accepted")
	}
	ch = noneChannel(t)
	if _, err := ch.Accept(Chunk{Type: "MSG", Final: 'F', Raw: msgChunk('F', 7, 2, 2, 10, read)}); err == nil {
		t.Fatal("an unknown token was accepted")
	}
	out, err := noneChannel(t).Send(3, &ua.ReadResponse{ResponseHeader: ResponseHeader(1, ua.StatusOK, header().Timestamp), Results: make([]*ua.DataValue, 0)})
	if err != nil || string(out[:4]) != "MSGF" || int(binary.LittleEndian.Uint32(out[4:])) != len(out) {
		t.Fatalf("response % x %v", out, err)
	}
}
