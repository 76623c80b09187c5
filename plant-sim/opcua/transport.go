// Package opcua holds the server side of OPC UA's binary transport: the
// connection protocol (HEL, ACK, ERR), message chunks, the secure channel
// (OPN, MSG, CLO with the None and Basic256Sha256 policies, Sign and
// SignAndEncrypt), and a bounds check that runs before a request is
// decoded. The PLC's OPC UA services (sessions, the address space,
// subscriptions) are in package plantsim.
//
// We use github.com/gopcua/opcua (MIT) for what it does well and what the
// client in our tests exercises: the service types and their binary
// encoding (ua), node and status ids (id), the security policies'
// cryptography (uapolicy). We do not use its server side at v0.8.0:
//
//   - server.Server's ActivateSession never looks at the identity token:
//     every username and password is accepted, so identities can't be
//     configured at all;
//   - its handlers dereference a missing session or namespace (a Write to
//     ns=9, a DeleteSubscriptions without a session), which panics the
//     process serving every PLC;
//   - uacp.Listener runs the HEL handshake inside Accept, without a
//     deadline: one client that connects and sends nothing stops all
//     others from connecting; a ReverseHello makes it dial any address;
//   - every channel's services go through one goroutine whose writes have
//     no deadline, so one client that stops reading stalls them all;
//   - uasc.SecureChannel decrypts and decodes inside its Receive, handing
//     us nothing before ua's decoder, which allocates what a message's
//     array lengths claim: a 30-byte request reserves 16 GiB.
//
// So the server side of the transport and the secure channel are here,
// small, bounded (every chunk and message has a size limit, every count a
// check against the bytes that carry it) and fuzzed; decoding goes through
// Check before ua.Decode.
package opcua

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gopcua/opcua/ua"
)

// Limits of this server's transport.
const (
	// BufferSize is the largest chunk we receive or send.
	BufferSize = 1 << 16
	// MinBufferSize is the smallest buffer the standard lets a peer have.
	MinBufferSize = 8192
	// MaxMessageSize bounds a request assembled from chunks.
	MaxMessageSize = 1 << 18
	// MaxChunkCount bounds the chunks of one request.
	MaxChunkCount = 8
	// MaxEndpointURL is the longest endpoint URL a HEL may carry.
	MaxEndpointURL = 4096
	// HeaderLen is the message header: type, chunk type, size.
	HeaderLen = 8
	// MaxHello is the largest HEL we read.
	MaxHello = HeaderLen + 20 + 4 + MaxEndpointURL
)

// Error is a transport error: the server answers it with an ERR message
// and closes the connection (OPC UA Part 6, 7.1.5).
type Error struct {
	Code   ua.StatusCode
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("opcua: %s: %s", e.Code.Error(), e.Reason)
}

func errorf(code ua.StatusCode, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Chunk is one message chunk as read from the wire.
type Chunk struct {
	Type  string // HEL, ACK, ERR, OPN, MSG, CLO
	Final byte   // F, C or A
	Raw   []byte // the whole chunk, header included
}

// ReadChunk reads one chunk into buf and returns it (its Raw is a slice of
// buf). A chunk larger than limit or than buf, or with an unknown type, is
// an *Error; nothing past the chunk is read.
func ReadChunk(r io.Reader, buf []byte, limit int) (Chunk, error) {
	if _, err := io.ReadFull(r, buf[:HeaderLen]); err != nil {
		return Chunk{}, err
	}
	c := Chunk{Type: string(buf[:3]), Final: buf[3]}
	size, err := checkHeader(buf, min(limit, len(buf)))
	if err != nil {
		return c, err
	}
	if _, err := io.ReadFull(r, buf[HeaderLen:size]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return c, err
	}
	c.Raw = buf[:size]
	return c, nil
}

// checkHeader checks a chunk's header (the first HeaderLen bytes of b)
// against what we accept and returns the chunk's size.
func checkHeader(b []byte, limit int) (int, error) {
	switch string(b[:3]) {
	case "HEL", "ACK", "ERR", "RHE", "OPN", "MSG", "CLO":
	default:
		return 0, errorf(ua.StatusBadTCPMessageTypeInvalid, "message type % x", b[:3])
	}
	switch b[3] {
	case 'F', 'C', 'A':
	default:
		return 0, errorf(ua.StatusBadTCPMessageTypeInvalid, "chunk type %q", b[3])
	}
	size := binary.LittleEndian.Uint32(b[4:])
	if size > uint32(limit) {
		return 0, errorf(ua.StatusBadTCPMessageTooLarge, "%s chunk of %d bytes, the limit is %d", b[:3], size, limit)
	}
	if size < HeaderLen {
		return 0, errorf(ua.StatusBadTCPMessageTypeInvalid, "%s chunk of %d bytes", b[:3], size)
	}
	return int(size), nil
}

// Pending returns how many more bytes ReadChunk (with this limit and a
// buffer of at least limit bytes) needs after the buffered bytes b (the
// start of a chunk) before it can return: 0 when b holds a whole chunk, or
// a header ReadChunk rejects; while the header is not all there, what it
// lacks. A server uses it to tell a client that is sending a chunk from
// one that has sent whole chunks, without reading.
func Pending(b []byte, limit int) int {
	if len(b) < HeaderLen {
		return HeaderLen - len(b)
	}
	size, err := checkHeader(b, limit)
	if err != nil {
		return 0
	}
	return max(size-len(b), 0)
}

// Hello is a client's HEL message.
type Hello struct {
	Version           uint32
	ReceiveBufferSize uint32
	SendBufferSize    uint32
	MaxMessageSize    uint32
	MaxChunkCount     uint32
	EndpointURL       string
}

// Acknowledge is the server's ACK: the sizes both sides use from now on.
type Acknowledge struct {
	Version           uint32
	ReceiveBufferSize uint32 // the largest chunk we accept
	SendBufferSize    uint32 // the largest chunk we send
	MaxMessageSize    uint32 // the largest request we accept
	MaxChunkCount     uint32 // the most chunks of a request we accept
	// The peer's limits on what we send (0: none).
	PeerMaxMessage uint32
	PeerMaxChunks  uint32
}

// ParseHello decodes a HEL chunk (the whole chunk, header included).
func ParseHello(raw []byte) (Hello, error) {
	if len(raw) < HeaderLen || string(raw[:4]) != "HELF" {
		return Hello{}, errorf(ua.StatusBadTCPMessageTypeInvalid, "first message is not a final HEL chunk")
	}
	b := raw[HeaderLen:]
	if len(b) < 24 {
		return Hello{}, errorf(ua.StatusBadTCPInternalError, "HEL of %d bytes", len(raw))
	}
	h := Hello{
		Version:           binary.LittleEndian.Uint32(b[0:]),
		ReceiveBufferSize: binary.LittleEndian.Uint32(b[4:]),
		SendBufferSize:    binary.LittleEndian.Uint32(b[8:]),
		MaxMessageSize:    binary.LittleEndian.Uint32(b[12:]),
		MaxChunkCount:     binary.LittleEndian.Uint32(b[16:]),
	}
	n := int32(binary.LittleEndian.Uint32(b[20:]))
	rest := b[24:]
	switch {
	case n > MaxEndpointURL:
		return h, errorf(ua.StatusBadTCPEndpointURLInvalid, "endpoint url of %d bytes", n)
	case n > int32(len(rest)) || n < -1:
		return h, errorf(ua.StatusBadTCPInternalError, "endpoint url length %d in %d bytes", n, len(rest))
	case n > 0:
		h.EndpointURL = string(rest[:n])
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return h, errorf(ua.StatusBadTCPInternalError, "%d bytes after the HEL", len(rest))
	}
	return h, nil
}

// Negotiate answers a HEL: it checks the client's sizes and returns the
// ACK (OPC UA Part 6, 7.1.2.4): we never send chunks larger than the
// client receives, nor accept larger than it sends.
func Negotiate(h Hello) (Acknowledge, error) {
	if h.ReceiveBufferSize < MinBufferSize || h.SendBufferSize < MinBufferSize {
		return Acknowledge{}, errorf(ua.StatusBadTCPInternalError,
			"buffer sizes %d/%d below the standard's %d", h.ReceiveBufferSize, h.SendBufferSize, MinBufferSize)
	}
	return Acknowledge{
		Version:           0,
		ReceiveBufferSize: min(BufferSize, h.SendBufferSize),
		SendBufferSize:    min(BufferSize, h.ReceiveBufferSize),
		MaxMessageSize:    MaxMessageSize,
		MaxChunkCount:     MaxChunkCount,
		PeerMaxMessage:    h.MaxMessageSize,
		PeerMaxChunks:     h.MaxChunkCount,
	}, nil
}

// AppendAck appends an ACK message.
func AppendAck(dst []byte, a Acknowledge) []byte {
	dst = append(dst, 'A', 'C', 'K', 'F', 28, 0, 0, 0)
	for _, v := range []uint32{a.Version, a.ReceiveBufferSize, a.SendBufferSize, a.MaxMessageSize, a.MaxChunkCount} {
		dst = binary.LittleEndian.AppendUint32(dst, v)
	}
	return dst
}

// AppendError appends an ERR message.
func AppendError(dst []byte, code ua.StatusCode, reason string) []byte {
	if len(reason) > 4096 {
		reason = reason[:4096]
	}
	start := len(dst)
	dst = append(dst, 'E', 'R', 'R', 'F', 0, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(code))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(reason)))
	dst = append(dst, reason...)
	binary.LittleEndian.PutUint32(dst[start+4:], uint32(len(dst)-start))
	return dst
}
