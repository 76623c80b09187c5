package plantsim_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// OPC UA Part 6 binary frames built by hand: the connection protocol's
// HEL/ACK/ERR and the error paths a client library never takes.

func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// hel builds a HEL message.
func hel(version, recv, send, maxMsg, maxChunks uint32, url string) []byte {
	b := []byte("HELF\x00\x00\x00\x00")
	for _, v := range []uint32{version, recv, send, maxMsg, maxChunks} {
		b = le32(b, v)
	}
	b = le32(b, uint32(len(url)))
	b = append(b, url...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	return b
}

// readMsg reads one message: type, and the body after the 8-byte header.
func readMsg(t testing.TB, c net.Conn) (string, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	h := make([]byte, 8)
	if _, err := io.ReadFull(c, h); err != nil {
		t.Fatalf("read message header: %v", err)
	}
	n := binary.LittleEndian.Uint32(h[4:])
	if n < 8 || n > 1<<20 {
		t.Fatalf("message of %d bytes", n)
	}
	body := make([]byte, n-8)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("read message body: %v", err)
	}
	return string(h[:4]), body
}

// expectERR reads an ERR message with status code want, then the close.
func expectERR(t testing.TB, c net.Conn, want ua.StatusCode) {
	t.Helper()
	typ, body := readMsg(t, c)
	if typ != "ERRF" || len(body) < 8 {
		t.Fatalf("got %s % x, want ERR", typ, body)
	}
	if got := ua.StatusCode(binary.LittleEndian.Uint32(body)); got != want {
		t.Fatalf("ERR %v, want %v", got, want)
	}
	expectClosed(t, c)
}

func TestOPCUAHelloAcknowledge(t *testing.T) {
	plc := plctestWaterTank(t)
	_, url := startOPCUA(t, plc, plantsim.OPCUAConfig{})
	addr := strings.TrimPrefix(url, "opc.tcp://")
	c := dialRaw(t, addr)
	c.Write(hel(0, 16384, 32768, 0, 0, url))
	typ, body := readMsg(t, c)
	if typ != "ACKF" || len(body) != 20 {
		t.Fatalf("got %s % x, want a 28-byte ACK", typ, body)
	}
	version, recv, send := binary.LittleEndian.Uint32(body), binary.LittleEndian.Uint32(body[4:]), binary.LittleEndian.Uint32(body[8:])
	if version != 0 || recv > 32768 || send > 16384 || recv < 8192 || send < 8192 {
		// Never receive chunks larger than the client sends, nor send
		// larger than it receives (Part 6, 7.1.2.4).
		t.Fatalf("ACK version %d receive %d send %d for a client receiving 16384 and sending 32768", version, recv, send)
	}
	// A second HEL on the same connection is no longer valid.
	c.Write(hel(0, 65536, 65536, 0, 0, url))
	expectERR(t, c, ua.StatusBadTCPMessageTypeInvalid)
}

func TestOPCUATransportErrors(t *testing.T) {
	plc := plctestWaterTank(t)
	_, url := startOPCUA(t, plc, plantsim.OPCUAConfig{MaxClients: 4})
	addr := strings.TrimPrefix(url, "opc.tcp://")
	short := hel(0, 65536, 65536, 0, 0, url)[:20]
	binary.LittleEndian.PutUint32(short[4:], 20)
	longURL := hel(0, 65536, 65536, 0, 0, url)
	binary.LittleEndian.PutUint32(longURL[28:], 5000) // the URL's length field
	for _, tc := range []struct {
		name string
		send []byte
		want ua.StatusCode
	}{
		{"first message not a HEL", []byte("OPNF\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), ua.StatusBadTCPMessageTypeInvalid},
		{"unknown message type", []byte("XYZF\x08\x00\x00\x00"), ua.StatusBadTCPMessageTypeInvalid},
		{"HEL too short", short, ua.StatusBadTCPInternalError},
		{"buffers below 8192", hel(0, 1024, 65536, 0, 0, url), ua.StatusBadTCPInternalError},
		{"endpoint URL too long", longURL, ua.StatusBadTCPEndpointURLInvalid},
		{"HEL too large", append([]byte("HELF\x00\x00\x01\x00"), make([]byte, 100)...), ua.StatusBadTCPMessageTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.Write(tc.send)
			expectERR(t, c, tc.want)
		})
	}
	t.Run("message too large", func(t *testing.T) {
		c := dialRaw(t, addr)
		c.Write(hel(0, 65536, 65536, 0, 0, url))
		if typ, _ := readMsg(t, c); typ != "ACKF" {
			t.Fatal(typ)
		}
		// A chunk header claiming more than the negotiated 64 KiB.
		c.Write([]byte("MSGF\xA0\x86\x01\x00"))
		expectERR(t, c, ua.StatusBadTCPMessageTooLarge)
	})
	t.Run("a silent client holds up no one", func(t *testing.T) {
		silent := dialRaw(t, addr)
		defer silent.Close()
		mustDialUA(t, url, secNone, uaAuth{})
	})
	waitFor(t, "the ERR answers in the traffic log", func() bool {
		n := 0
		for _, tx := range plc.Capture(0).Transactions {
			if tx.Op == "error" && bytes.HasPrefix(tx.Response, []byte("ERRF")) {
				n++
			}
		}
		return n >= 7
	})
}

// openNone opens a None secure channel by hand and returns its channel and
// token ids.
func openNone(t testing.TB, c net.Conn, url string) (uint32, uint32) {
	t.Helper()
	c.Write(hel(0, 65536, 65536, 0, 0, url))
	if typ, _ := readMsg(t, c); typ != "ACKF" {
		t.Fatal(typ)
	}
	body, err := ua.Encode(&ua.OpenSecureChannelRequest{
		RequestHeader: &ua.RequestHeader{AuthenticationToken: ua.NewTwoByteNodeID(0), Timestamp: time.Now(), AdditionalHeader: ua.NewExtensionObject(nil)},
		RequestType:   ua.SecurityTokenRequestTypeIssue, SecurityMode: ua.MessageSecurityModeNone, RequestedLifetime: 60000})
	if err != nil {
		t.Fatal(err)
	}
	policy := "http://opcfoundation.org/UA/SecurityPolicy#None"
	b := []byte("OPNF\x00\x00\x00\x00")
	b = le32(b, 0)
	b = le32(b, uint32(len(policy)))
	b = append(b, policy...)
	b = le32(le32(b, 0xFFFFFFFF), 0xFFFFFFFF) // no certificate, no thumbprint
	b = le32(le32(b, 1), 1)                   // sequence number, request id
	b = append(b, 0x01, 0x00)
	b = binary.LittleEndian.AppendUint16(b, id.OpenSecureChannelRequest_Encoding_DefaultBinary)
	b = append(b, body...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	c.Write(b)
	typ, resp := readMsg(t, c)
	if typ != "OPNF" {
		t.Fatalf("got %s, want OPN", typ)
	}
	chanID := binary.LittleEndian.Uint32(resp)
	// Skip the asymmetric header (policy, certificate, thumbprint), the
	// sequence header and the four-byte type id.
	p := 4
	for range 3 {
		n := int32(binary.LittleEndian.Uint32(resp[p:]))
		p += 4 + max(0, int(n))
	}
	p += 8 + 4
	var r ua.OpenSecureChannelResponse
	if _, err := ua.Decode(resp[p:], &r); err != nil {
		t.Fatal(err)
	}
	return chanID, r.SecurityToken.TokenID
}

// sendMSG sends one service request on a None channel.
func sendMSG(t testing.TB, c net.Conn, chanID, tokenID, seq uint32, typeID uint16, body []byte) {
	t.Helper()
	b := []byte("MSGF\x00\x00\x00\x00")
	b = le32(le32(le32(le32(b, chanID), tokenID), seq), seq)
	b = binary.LittleEndian.AppendUint16(append(b, 0x01, 0x00), typeID)
	b = append(b, body...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	c.Write(b)
}

// faultStatus reads a MSG and returns its ServiceFault's status.
func faultStatus(t testing.TB, c net.Conn) ua.StatusCode {
	t.Helper()
	typ, body := readMsg(t, c)
	if typ != "MSGF" {
		t.Fatalf("got %s", typ)
	}
	tid := binary.LittleEndian.Uint16(body[18:])
	if tid != id.ServiceFault_Encoding_DefaultBinary {
		t.Fatalf("response type %d, want a ServiceFault", tid)
	}
	var f ua.ServiceFault
	if _, err := ua.Decode(body[20:], &f); err != nil {
		t.Fatal(err)
	}
	return f.ResponseHeader.ServiceResult
}

// A request whose array length claims 2^31 elements in a few bytes gets a
// decoding error, not a 16 GiB allocation (gopcua's decoder would make
// the slice before reading it), and the channel goes on.
func TestOPCUAHugeArrayIsRefused(t *testing.T) {
	plc := plctestWaterTank(t)
	_, url := startOPCUA(t, plc, plantsim.OPCUAConfig{})
	c := dialRaw(t, strings.TrimPrefix(url, "opc.tcp://"))
	chanID, tokenID := openNone(t, c, url)
	body, err := ua.Encode(&ua.ReadRequest{RequestHeader: &ua.RequestHeader{AuthenticationToken: ua.NewTwoByteNodeID(0),
		Timestamp: time.Now(), AdditionalHeader: ua.NewExtensionObject(nil)}, NodesToRead: []*ua.ReadValueID{}})
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(body[len(body)-4:], 0x7FFFFFFF)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sendMSG(t, c, chanID, tokenID, 2, id.ReadRequest_Encoding_DefaultBinary, body)
	if st := faultStatus(t, c); st != ua.StatusBadDecodingError {
		t.Fatalf("huge array answered %v", st)
	}
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapSys) - int64(before.HeapSys); grew > 256<<20 {
		t.Fatalf("the heap grew by %d MiB", grew>>20)
	}
	// The channel is still served: a read without a session is refused
	// as such.
	binary.LittleEndian.PutUint32(body[len(body)-4:], 0)
	sendMSG(t, c, chanID, tokenID, 3, id.ReadRequest_Encoding_DefaultBinary, body)
	if st := faultStatus(t, c); st != ua.StatusBadSessionIDInvalid {
		t.Fatalf("read without a session answered %v", st)
	}
	// An out-of-order sequence number closes the channel.
	sendMSG(t, c, chanID, tokenID, 9, id.ReadRequest_Encoding_DefaultBinary, body)
	expectERR(t, c, ua.StatusBadSequenceNumberInvalid)
}
