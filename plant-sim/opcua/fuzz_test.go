package opcua

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// Run with
//
//	go test ./plant-sim/opcua -run '^$' -fuzz FuzzHello -fuzztime 30s
//	go test ./plant-sim/opcua -run '^$' -fuzz FuzzCheck -fuzztime 30s
//	go test ./plant-sim/opcua -run '^$' -fuzz FuzzChannel -fuzztime 30s
//
// Without -fuzz, the f.Add seeds and testdata/fuzz/<name>/ run as tests.

func helloBytes(url string) []byte {
	b := []byte("HELF\x00\x00\x00\x00")
	for _, v := range []uint32{0, 65536, 65536, 0, 0} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	b = appendBytes(b, []byte(url))
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	return b
}

func FuzzHello(f *testing.F) {
	f.Add(helloBytes("opc.tcp://127.0.0.1:4840"))
	f.Add(helloBytes(""))
	f.Add([]byte("HELF\x08\x00\x00\x00"))
	f.Add([]byte("ACKF\x1c\x00\x00\x00"))
	f.Add(append([]byte("MSGF\xff\xff\x00\x00"), make([]byte, 100)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		buf := make([]byte, BufferSize)
		c, err := ReadChunk(r, buf, MaxHello)
		// Pending tells from the bytes alone whether ReadChunk runs out of
		// them, and filling in what it says is missing (twice at most:
		// once for the header, once for the rest) lets it return.
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if p := Pending(data, MaxHello); (p > 0) != eof {
			t.Fatalf("Pending says %d for % x, ReadChunk says %v", p, data[:min(len(data), 16)], err)
		}
		filled := data
		for range 2 {
			filled = append(filled, make([]byte, Pending(filled, MaxHello))...)
		}
		if _, err := ReadChunk(bytes.NewReader(filled), buf, MaxHello); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("filled up as Pending said, % x still runs out: %v", filled[:min(len(filled), 16)], err)
		}
		if err != nil {
			var te *Error
			if !errors.As(err, &te) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(c.Raw) > MaxHello || int(binary.LittleEndian.Uint32(c.Raw[4:])) != len(c.Raw) {
			t.Fatalf("chunk of %d bytes", len(c.Raw))
		}
		h, err := ParseHello(c.Raw)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a transport error", err)
			}
			return
		}
		if len(h.EndpointURL) > MaxEndpointURL {
			t.Fatalf("endpoint url of %d bytes", len(h.EndpointURL))
		}
		if a, err := Negotiate(h); err == nil {
			if a.SendBufferSize > h.ReceiveBufferSize || a.ReceiveBufferSize > h.SendBufferSize || a.SendBufferSize < MinBufferSize {
				t.Fatalf("ACK %+v for HEL %+v", a, h)
			}
			if ack := AppendAck(nil, a); len(ack) != 28 {
				t.Fatalf("ACK of %d bytes", len(ack))
			}
		}
	})
}

// checkTypes are the request types whose decoding Check guards.
var checkTypes = []reflect.Type{
	reflect.TypeOf((*ua.ReadRequest)(nil)), reflect.TypeOf((*ua.WriteRequest)(nil)),
	reflect.TypeOf((*ua.BrowseRequest)(nil)), reflect.TypeOf((*ua.CreateMonitoredItemsRequest)(nil)),
	reflect.TypeOf((*ua.ActivateSessionRequest)(nil)), reflect.TypeOf((*ua.CreateSessionRequest)(nil)),
	reflect.TypeOf((*ua.PublishRequest)(nil)), reflect.TypeOf((*ua.TranslateBrowsePathsToNodeIDsRequest)(nil)),
}

func header() *ua.RequestHeader {
	return &ua.RequestHeader{AuthenticationToken: ua.NewTwoByteNodeID(0), Timestamp: time.Unix(1e9, 0), AdditionalHeader: ua.NewExtensionObject(nil)}
}

func seedRequests() []ua.Request {
	v := ua.MustVariant(float32(1.5))
	return []ua.Request{
		&ua.ReadRequest{RequestHeader: header(), NodesToRead: []*ua.ReadValueID{{NodeID: ua.MustParseNodeID("ns=1;s=level"),
			AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}}}},
		&ua.WriteRequest{RequestHeader: header(), NodesToWrite: []*ua.WriteValue{{NodeID: ua.MustParseNodeID("ns=1;s=level_sp"),
			AttributeID: ua.AttributeIDValue, Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: v}}}},
		&ua.BrowseRequest{RequestHeader: header(), View: &ua.ViewDescription{ViewID: ua.NewTwoByteNodeID(0)},
			NodesToBrowse: []*ua.BrowseDescription{{NodeID: ua.NewNumericNodeID(0, id.ObjectsFolder), ReferenceTypeID: ua.NewTwoByteNodeID(0)}}},
		&ua.CreateMonitoredItemsRequest{RequestHeader: header(), SubscriptionID: 1, ItemsToCreate: []*ua.MonitoredItemCreateRequest{{
			ItemToMonitor: &ua.ReadValueID{NodeID: ua.MustParseNodeID("ns=1;s=level"), AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}},
			RequestedParameters: &ua.MonitoringParameters{ClientHandle: 1,
				Filter: ua.NewExtensionObject(&ua.DataChangeFilter{Trigger: ua.DataChangeTriggerStatusValue, DeadbandType: 1, DeadbandValue: 0.5})}}}},
		&ua.ActivateSessionRequest{RequestHeader: header(), ClientSignature: &ua.SignatureData{},
			UserIdentityToken:  ua.NewExtensionObject(&ua.UserNameIdentityToken{PolicyID: "username", UserName: "eng", Password: []byte("pw")}),
			UserTokenSignature: &ua.SignatureData{}},
		&ua.PublishRequest{RequestHeader: header(), SubscriptionAcknowledgements: []*ua.SubscriptionAcknowledgement{{SubscriptionID: 1, SequenceNumber: 2}}},
	}
}

// FuzzCheck: whatever Check lets through, ua's decoder takes without
// panicking and without allocating more than the bytes can justify.
func FuzzCheck(f *testing.F) {
	for i, r := range seedRequests() {
		b, err := ua.Encode(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	huge, _ := ua.Encode(&ua.ReadRequest{RequestHeader: header(), NodesToRead: []*ua.ReadValueID{}})
	binary.LittleEndian.PutUint32(huge[len(huge)-4:], 0x7FFFFFFF)
	f.Add(uint8(0), huge)
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		typ := checkTypes[int(which)%len(checkTypes)]
		if _, err := Check(data, typ); err != nil {
			return
		}
		v := reflect.New(typ.Elem()).Interface()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ua.Decode(data, v) // a panic here fails the fuzz target
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20+1024*uint64(len(data)) {
			t.Fatalf("decoding %d checked bytes allocated %d", len(data), grew)
		}
	})
}

// noneChannel is an open None channel and the OPN that opened it.
func noneChannel(t testing.TB) *Channel {
	ch := NewChannel(ChannelConfig{Allowed: func(p string, m ua.MessageSecurityMode) bool { return p == PolicyNone }, ID: 7},
		Acknowledge{ReceiveBufferSize: BufferSize, SendBufferSize: BufferSize, MaxMessageSize: MaxMessageSize, MaxChunkCount: MaxChunkCount})
	m, err := ch.Accept(Chunk{Type: "OPN", Final: 'F', Raw: opnNone(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.OpenChannel(m); err != nil {
		t.Fatal(err)
	}
	return ch
}

func opnNone(t testing.TB) []byte {
	body, err := encodeService(&ua.OpenSecureChannelRequest{RequestHeader: header(), RequestType: ua.SecurityTokenRequestTypeIssue,
		SecurityMode: ua.MessageSecurityModeNone, RequestedLifetime: 60000})
	if err != nil {
		t.Fatal(err)
	}
	b := binary.LittleEndian.AppendUint32([]byte("OPNF\x00\x00\x00\x00"), 0)
	b = appendBytes(appendBytes(appendBytes(b, []byte(PolicyNone)), nil), nil)
	b = binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(b, 1), 1)
	b = append(b, body...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	return b
}

func msgChunk(final byte, chanID, token, seq, req uint32, body []byte) []byte {
	b := []byte{'M', 'S', 'G', final, 0, 0, 0, 0}
	for _, v := range []uint32{chanID, token, seq, req} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	b = append(b, body...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	return b
}

// FuzzChannel: no chunk makes an open channel panic; what it accepts
// decodes only through Check.
func FuzzChannel(f *testing.F) {
	read, _ := encodeService(seedRequests()[0])
	f.Add(msgChunk('F', 7, 1, 2, 2, read))
	f.Add(msgChunk('C', 7, 1, 2, 2, read[:10]))
	f.Add(msgChunk('A', 7, 1, 2, 2, nil))
	f.Add(msgChunk('F', 8, 1, 2, 2, read))
	f.Add(msgChunk('F', 7, 9, 2, 2, read))
	f.Add(msgChunk('F', 7, 1, 5, 2, read))
	f.Add([]byte("CLOF\x18\x00\x00\x00\x07\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ch := noneChannel(t)
		r := bytes.NewReader(data)
		buf := make([]byte, BufferSize)
		for {
			c, err := ReadChunk(r, buf, BufferSize)
			if err != nil {
				return
			}
			m, err := ch.Accept(c)
			if err != nil {
				var te *Error
				if !errors.As(err, &te) {
					t.Fatalf("error %v is not a transport error", err)
				}
				return
			}
			if m != nil && m.Type == "MSG" {
				if m.TypeID == id.ReadRequest_Encoding_DefaultBinary {
					Decode(m.Body, new(ua.ReadRequest))
				}
				if _, err := ch.Send(m.RequestID, &ua.ReadResponse{ResponseHeader: ResponseHeader(1, ua.StatusOK, time.Unix(1e9, 0))}); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
