package opcua

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uapolicy"
)

// Security policies this server offers.
const (
	PolicyNone           = ua.SecurityPolicyURINone
	PolicyBasic256Sha256 = ua.SecurityPolicyURIBasic256Sha256
)

// ChannelConfig configures one secure channel (one connection).
type ChannelConfig struct {
	// Certificate (DER) and Key are the server's application instance
	// certificate; required for secure policies.
	Certificate []byte
	Key         *rsa.PrivateKey
	// Allowed reports whether a policy may be used with a mode; with mode
	// ua.MessageSecurityModeInvalid it asks about the policy alone.
	Allowed func(policy string, mode ua.MessageSecurityMode) bool
	// ID is the secure channel id this channel gets.
	ID uint32
	// MaxLifetime bounds a security token's lifetime; default 1 h.
	MaxLifetime time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

type token struct {
	id       uint32
	algo     *uapolicy.EncryptionAlgorithm
	created  time.Time
	lifetime time.Duration
}

// Channel is the server side of one secure channel: it turns chunks from
// the wire into messages (verifying, decrypting, reassembling) and
// responses into chunks (signing, encrypting). It is not safe for
// concurrent use: one goroutine owns a connection's channel.
type Channel struct {
	cfg ChannelConfig
	ack Acknowledge

	open       bool
	policy     string
	mode       ua.MessageSecurityMode
	ourThumb   []byte
	remoteCert []byte
	asym       *uapolicy.EncryptionAlgorithm
	cur, prev  *token
	nextToken  uint32
	recvSeq    uint32
	sendSeq    uint32

	asmID     uint32 // request id of a message being reassembled
	asmChunks int
	asm       []byte // its body so far
	raw       []byte // its chunks as received
	plain     []byte // scratch: a decrypted chunk
	out       []byte // scratch: chunks being sent
}

// NewChannel returns the channel of a connection whose HEL was answered
// with ack.
func NewChannel(cfg ChannelConfig, ack Acknowledge) *Channel {
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ch := &Channel{cfg: cfg, ack: ack, nextToken: 1}
	if cfg.Certificate != nil {
		ch.ourThumb = uapolicy.Thumbprint(cfg.Certificate)
	}
	return ch
}

// Policy and Mode are what the channel was opened with.
func (ch *Channel) Policy() string                            { return ch.policy }
func (ch *Channel) Mode() ua.MessageSecurityMode              { return ch.mode }
func (ch *Channel) RemoteCertificate() []byte                 { return ch.remoteCert }
func (ch *Channel) Acknowledge() Acknowledge                  { return ch.ack }
func (ch *Channel) Open() bool                                { return ch.open }
func (ch *Channel) Asymmetric() *uapolicy.EncryptionAlgorithm { return ch.asym }

// Message is one request read from a channel. Body and Raw are valid
// until the next Accept.
type Message struct {
	Type      string // OPN, MSG, CLO
	RequestID uint32
	// TypeID is a MSG's service encoding id (0 when it is not a numeric
	// id in namespace 0); Body the encoded request after it.
	TypeID uint16
	Body   []byte
	// Open is an OPN's request.
	Open *ua.OpenSecureChannelRequest
	// Raw is every chunk of the message as it came over the wire.
	Raw []byte
}

// Accept takes one chunk and returns the message it completes, or nil
// while a message is still arriving in chunks. An *Error is to be sent as
// ERR before closing.
func (ch *Channel) Accept(c Chunk) (*Message, error) {
	raw := c.Raw
	if len(raw) < 12 {
		return nil, errorf(ua.StatusBadTCPMessageTypeInvalid, "%s chunk of %d bytes", c.Type, len(raw))
	}
	chanID := binary.LittleEndian.Uint32(raw[8:])
	switch c.Type {
	case "OPN":
		if c.Final != 'F' {
			return nil, errorf(ua.StatusBadTCPMessageTypeInvalid, "OPN in chunks")
		}
		if ch.open && chanID != ch.cfg.ID || !ch.open && chanID != 0 {
			return nil, errorf(ua.StatusBadTCPSecureChannelUnknown, "secure channel %d", chanID)
		}
		return ch.acceptOpen(raw)
	case "MSG", "CLO":
		if !ch.open || chanID != ch.cfg.ID {
			return nil, errorf(ua.StatusBadTCPSecureChannelUnknown, "secure channel %d", chanID)
		}
		return ch.acceptSymmetric(c)
	}
	return nil, errorf(ua.StatusBadTCPMessageTypeInvalid, "%s after the handshake", c.Type)
}

func (ch *Channel) acceptOpen(raw []byte) (*Message, error) {
	buf := ua.NewBuffer(raw[12:])
	policy := buf.ReadString()
	cert := buf.ReadBytes()
	thumb := buf.ReadBytes()
	if buf.Error() != nil {
		return nil, errorf(ua.StatusBadDecodingError, "asymmetric security header: %v", buf.Error())
	}
	hdrLen := 12 + buf.Pos()
	switch {
	case ch.open && policy != ch.policy:
		return nil, errorf(ua.StatusBadSecurityPolicyRejected, "renewal with %s on a %s channel", policy, ch.policy)
	case !ch.open && !ch.cfg.Allowed(policy, ua.MessageSecurityModeInvalid):
		return nil, errorf(ua.StatusBadSecurityPolicyRejected, "security policy %q is not offered", policy)
	}
	var plain []byte
	if policy == PolicyNone {
		plain = raw[hdrLen:]
	} else {
		if ch.cfg.Key == nil {
			return nil, errorf(ua.StatusBadSecurityPolicyRejected, "no server certificate for %s", policy)
		}
		if !bytes.Equal(thumb, ch.ourThumb) {
			return nil, errorf(ua.StatusBadCertificateInvalid, "OPN not encrypted for this server's certificate")
		}
		if ch.open && !bytes.Equal(cert, ch.remoteCert) {
			return nil, errorf(ua.StatusBadCertificateInvalid, "renewal from another certificate")
		}
		x, err := x509.ParseCertificate(cert)
		if err != nil {
			return nil, errorf(ua.StatusBadCertificateInvalid, "client certificate: %v", err)
		}
		pub, ok := x.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, errorf(ua.StatusBadCertificateInvalid, "client certificate has no RSA key")
		}
		asym, err := uapolicy.Asymmetric(policy, ch.cfg.Key, pub)
		if err != nil {
			return nil, errorf(ua.StatusBadCertificateInvalid, "%v", err)
		}
		enc := raw[hdrLen:]
		if ks := ch.cfg.Key.Size(); len(enc) == 0 || len(enc)%ks != 0 {
			return nil, errorf(ua.StatusBadSecurityChecksFailed, "OPN of %d encrypted bytes", len(enc))
		}
		p, err := asym.Decrypt(enc)
		if err != nil {
			return nil, errorf(ua.StatusBadSecurityChecksFailed, "decrypt OPN: %v", err)
		}
		ch.plain = append(append(ch.plain[:0], raw[:hdrLen]...), p...)
		plain, err = unpad(ch.plain, hdrLen, asym, true, ch.cfg.Key.Size() > 256)
		if err != nil {
			return nil, err
		}
		ch.asym, ch.remoteCert = asym, append([]byte(nil), cert...) // cert is in the read buffer
	}
	if len(plain) < 8 {
		return nil, errorf(ua.StatusBadDecodingError, "OPN without a sequence header")
	}
	if err := ch.checkSeq(binary.LittleEndian.Uint32(plain), !ch.open); err != nil {
		return nil, err
	}
	m := &Message{Type: "OPN", RequestID: binary.LittleEndian.Uint32(plain[4:]), Raw: raw}
	typeID, body, err := serviceID(plain[8:])
	if err != nil || typeID != id.OpenSecureChannelRequest_Encoding_DefaultBinary {
		return nil, errorf(ua.StatusBadDecodingError, "OPN does not carry an OpenSecureChannelRequest")
	}
	m.Open = new(ua.OpenSecureChannelRequest)
	if _, err := Decode(body, m.Open); err != nil {
		return nil, errorf(ua.StatusBadDecodingError, "OpenSecureChannelRequest: %v", err)
	}
	if !ch.open {
		ch.policy = policy
	}
	return m, nil
}

// unpad verifies a decrypted (or signed) chunk's signature and strips it
// and the padding: p is the header (hdrLen bytes) and the plaintext. It
// returns the sequence header and body.
func unpad(p []byte, hdrLen int, algo *uapolicy.EncryptionAlgorithm, encrypted, extra bool) ([]byte, error) {
	sig := algo.RemoteSignatureLength()
	if len(p) < hdrLen+8+sig {
		return nil, errorf(ua.StatusBadSecurityChecksFailed, "chunk shorter than its signature")
	}
	end := len(p) - sig
	if err := algo.VerifySignature(p[:end], p[end:]); err != nil {
		return nil, errorf(ua.StatusBadSecurityChecksFailed, "signature: %v", err)
	}
	if encrypted {
		lsb := int(p[end-1])
		total, run := lsb+1, lsb+1
		if extra {
			lsb = int(p[end-2])
			total = int(p[end-1])<<8 | lsb + 2
			run = total - 1
		}
		if end-total < hdrLen+8 {
			return nil, errorf(ua.StatusBadSecurityChecksFailed, "padding of %d bytes", total)
		}
		for _, b := range p[end-total : end-total+run] {
			if int(b) != lsb {
				return nil, errorf(ua.StatusBadSecurityChecksFailed, "bad padding")
			}
		}
		end -= total
	}
	return p[hdrLen:end], nil
}

// checkSeq checks a chunk's sequence number: each is one more than the
// last, wrapping below 1024 after 2^32 − 1024 (OPC UA Part 6, 6.7.2.4).
func (ch *Channel) checkSeq(seq uint32, first bool) error {
	prev := ch.recvSeq
	ch.recvSeq = seq
	if first || seq == prev+1 || prev > math.MaxUint32-1024 && seq < 1024 {
		return nil
	}
	return errorf(ua.StatusBadSequenceNumberInvalid, "sequence number %d after %d", seq, prev)
}

func (ch *Channel) acceptSymmetric(c Chunk) (*Message, error) {
	raw := c.Raw
	if len(raw) < 16 {
		return nil, errorf(ua.StatusBadTCPMessageTypeInvalid, "%s chunk of %d bytes", c.Type, len(raw))
	}
	tok, err := ch.token(binary.LittleEndian.Uint32(raw[12:]))
	if err != nil {
		return nil, err
	}
	var plain []byte
	switch ch.mode {
	case ua.MessageSecurityModeSign:
		if plain, err = unpad(raw, 16, tok.algo, false, false); err != nil {
			return nil, err
		}
	case ua.MessageSecurityModeSignAndEncrypt:
		enc := raw[16:]
		if len(enc) == 0 || len(enc)%tok.algo.BlockSize() != 0 {
			return nil, errorf(ua.StatusBadSecurityChecksFailed, "%d encrypted bytes", len(enc))
		}
		p, err := tok.algo.Decrypt(enc)
		if err != nil {
			return nil, errorf(ua.StatusBadSecurityChecksFailed, "decrypt: %v", err)
		}
		ch.plain = append(append(ch.plain[:0], raw[:16]...), p...)
		if plain, err = unpad(ch.plain, 16, tok.algo, true, false); err != nil {
			return nil, err
		}
	default:
		plain = raw[16:]
		if len(plain) < 8 {
			return nil, errorf(ua.StatusBadDecodingError, "%s without a sequence header", c.Type)
		}
	}
	if err := ch.checkSeq(binary.LittleEndian.Uint32(plain), false); err != nil {
		return nil, err
	}
	reqID := binary.LittleEndian.Uint32(plain[4:])
	body := plain[8:]
	if c.Type == "CLO" {
		if c.Final != 'F' {
			return nil, errorf(ua.StatusBadTCPMessageTypeInvalid, "CLO in chunks")
		}
		return &Message{Type: "CLO", RequestID: reqID, Raw: raw}, nil
	}
	switch {
	case c.Final == 'A':
		// The client gave up on a message: forget its chunks.
		ch.asmChunks, ch.asm, ch.raw = 0, ch.asm[:0], ch.raw[:0]
		return nil, nil
	case ch.asmChunks > 0 && reqID != ch.asmID:
		return nil, errorf(ua.StatusBadTCPMessageTypeInvalid, "chunks of request %d among those of %d", reqID, ch.asmID)
	case c.Final == 'C' || ch.asmChunks > 0:
		if ch.asmChunks+1 > int(ch.ack.MaxChunkCount) || len(ch.asm)+len(body) > int(ch.ack.MaxMessageSize) {
			return nil, errorf(ua.StatusBadTCPMessageTooLarge, "request over %d chunks or %d bytes", ch.ack.MaxChunkCount, ch.ack.MaxMessageSize)
		}
		ch.asmID = reqID
		ch.asmChunks++
		ch.asm = append(ch.asm, body...)
		ch.raw = append(ch.raw, raw...)
		if c.Final == 'C' {
			return nil, nil
		}
		body, raw = ch.asm, ch.raw
		ch.asmChunks, ch.asm, ch.raw = 0, ch.asm[:0], ch.raw[:0]
	}
	m := &Message{Type: "MSG", RequestID: reqID, Raw: raw}
	m.TypeID, m.Body, err = serviceID(body)
	if err != nil {
		return nil, errorf(ua.StatusBadDecodingError, "service type id: %v", err)
	}
	return m, nil
}

// token finds the security token a chunk names: the current one, or the
// one before it while the client has not yet used the renewed one.
func (ch *Channel) token(tid uint32) (*token, error) {
	now := ch.cfg.Now()
	switch {
	case ch.cur != nil && tid == ch.cur.id:
		if now.Sub(ch.cur.created) > ch.cur.lifetime*5/4 {
			return nil, errorf(ua.StatusBadSecureChannelTokenUnknown, "security token %d expired", tid)
		}
		ch.prev = nil // the client uses the new token: the old one is done
		return ch.cur, nil
	case ch.prev != nil && tid == ch.prev.id && now.Sub(ch.prev.created) <= ch.prev.lifetime*5/4:
		return ch.prev, nil
	}
	return nil, errorf(ua.StatusBadSecureChannelTokenUnknown, "security token %d", tid)
}

// serviceID splits a message body into its service encoding id (numeric,
// namespace 0, or 0 for another kind) and the encoded service.
func serviceID(b []byte) (uint16, []byte, error) {
	e := new(ua.ExpandedNodeID)
	n, err := e.Decode(b)
	if err != nil {
		return 0, nil, err
	}
	if e.NodeID.Namespace() != 0 || e.NodeID.IntID() > math.MaxUint16 {
		return 0, b[n:], nil
	}
	return uint16(e.NodeID.IntID()), b[n:], nil
}

// Errors of OpenChannel and Send.
var (
	ErrRenewal          = errors.New("opcua: renewal of a channel not open, or issue on an open one")
	ErrResponseTooLarge = errors.New("opcua: response larger than the client accepts")
)

// OpenChannel answers an OPN: it checks the requested mode against the
// policy, issues or renews the security token and returns the OPN
// response chunk to send.
func (ch *Channel) OpenChannel(m *Message) ([]byte, error) {
	req := m.Open
	renew := req.RequestType == ua.SecurityTokenRequestTypeRenew
	if renew != ch.open {
		return nil, errorf(ua.StatusBadSecureChannelIDInvalid, "%v", ErrRenewal)
	}
	if req.ClientProtocolVersion != ch.ack.Version {
		return nil, errorf(ua.StatusBadProtocolVersionUnsupported, "protocol version %d", req.ClientProtocolVersion)
	}
	mode, policy := req.SecurityMode, ch.policy
	secure := policy != PolicyNone
	switch {
	case renew && mode != ch.mode,
		secure && mode != ua.MessageSecurityModeSign && mode != ua.MessageSecurityModeSignAndEncrypt,
		!secure && mode != ua.MessageSecurityModeNone,
		!ch.cfg.Allowed(policy, mode):
		return nil, errorf(ua.StatusBadSecurityModeRejected, "security mode %v with %s", mode, policy)
	}
	var nonce []byte
	if secure {
		if len(req.ClientNonce) != ch.asym.NonceLength() {
			return nil, errorf(ua.StatusBadNonceInvalid, "client nonce of %d bytes", len(req.ClientNonce))
		}
		nonce = make([]byte, ch.asym.NonceLength())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
	}
	sym, err := uapolicy.Symmetric(policy, nonce, req.ClientNonce)
	if err != nil {
		return nil, errorf(ua.StatusBadSecurityChecksFailed, "%v", err)
	}
	life := time.Duration(req.RequestedLifetime) * time.Millisecond
	if life <= 0 || life > ch.cfg.MaxLifetime {
		life = ch.cfg.MaxLifetime
	}
	life = max(life, time.Second)
	now := ch.cfg.Now()
	tok := &token{id: ch.nextToken, algo: sym, created: now, lifetime: life}
	ch.nextToken++
	resp := &ua.OpenSecureChannelResponse{
		ResponseHeader: ResponseHeader(req.RequestHeader.RequestHandle, ua.StatusOK, now),
		SecurityToken: &ua.ChannelSecurityToken{ChannelID: ch.cfg.ID, TokenID: tok.id, CreatedAt: now,
			RevisedLifetime: uint32(life / time.Millisecond)},
		ServerNonce: nonce,
	}
	body, err := encodeService(resp)
	if err != nil {
		return nil, err
	}
	b := append(ch.out[:0], 'O', 'P', 'N', 'F', 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, ch.cfg.ID)
	var cert, thumb []byte
	if secure {
		cert, thumb = ch.cfg.Certificate, uapolicy.Thumbprint(ch.remoteCert)
	}
	b = appendBytes(appendBytes(appendBytes(b, []byte(policy)), cert), thumb)
	hdrLen := len(b)
	b = ch.appendSeq(b, m.RequestID)
	b = append(b, body...)
	if secure {
		if b, err = secure1(b, hdrLen, ch.asym, true); err != nil {
			return nil, err
		}
	} else {
		binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	}
	ch.out = b
	if renew {
		ch.prev = ch.cur
	}
	ch.cur, ch.open, ch.mode = tok, true, mode
	return b, nil
}

func (ch *Channel) appendSeq(b []byte, reqID uint32) []byte {
	ch.sendSeq++
	if ch.sendSeq > math.MaxUint32-1024 {
		ch.sendSeq = 1
	}
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(b, ch.sendSeq), reqID)
}

// appendBytes appends a ByteString (or String): length, then bytes; nil
// is the null string.
func appendBytes(b, v []byte) []byte {
	if v == nil {
		return binary.LittleEndian.AppendUint32(b, math.MaxUint32)
	}
	return append(binary.LittleEndian.AppendUint32(b, uint32(len(v))), v...)
}

// secure1 pads, signs and (for encrypted chunks) encrypts one chunk whose
// header is hdrLen bytes, as OPC UA Part 6, 6.7.2 lays it out.
func secure1(b []byte, hdrLen int, algo *uapolicy.EncryptionAlgorithm, encrypt bool) ([]byte, error) {
	sig := algo.SignatureLength()
	if encrypt {
		block := algo.PlaintextBlockSize()
		extra := algo.RemoteSignatureLength() > 256
		padBytes := 1
		if extra {
			padBytes = 2
		}
		pad := block - (len(b)-hdrLen+sig+padBytes)%block
		for range pad + 1 {
			b = append(b, byte(pad))
		}
		if extra {
			b = append(b, byte(pad>>8))
		}
		size := hdrLen + (len(b)-hdrLen+sig)/block*algo.BlockSize()
		binary.LittleEndian.PutUint32(b[4:], uint32(size))
	} else {
		binary.LittleEndian.PutUint32(b[4:], uint32(len(b)+sig))
	}
	s, err := algo.Signature(b)
	if err != nil {
		return nil, errorf(ua.StatusBadSecurityChecksFailed, "sign: %v", err)
	}
	b = append(b, s...)
	if !encrypt {
		return b, nil
	}
	p, err := algo.Encrypt(b[hdrLen:])
	if err != nil {
		return nil, errorf(ua.StatusBadSecurityChecksFailed, "encrypt: %v", err)
	}
	return append(b[:hdrLen], p...), nil
}

// Send encodes a response to request reqID as MSG chunks, secured per the
// channel's mode, and returns them (valid until the next Send).
func (ch *Channel) Send(reqID uint32, resp ua.Response) ([]byte, error) {
	body, err := encodeService(resp)
	if err != nil {
		return nil, err
	}
	return ch.sendBody("MSG", reqID, body)
}

func (ch *Channel) sendBody(typ string, reqID uint32, body []byte) ([]byte, error) {
	if ch.ack.PeerMaxMessage > 0 && len(body) > int(ch.ack.PeerMaxMessage) {
		return nil, ErrResponseTooLarge
	}
	tok := ch.cur
	room := int(ch.ack.SendBufferSize) - 24 // header, token, sequence header
	switch ch.mode {
	case ua.MessageSecurityModeSign:
		room -= tok.algo.SignatureLength()
	case ua.MessageSecurityModeSignAndEncrypt:
		block := tok.algo.BlockSize()
		room = (int(ch.ack.SendBufferSize)-16)/block*block - 8 - tok.algo.SignatureLength() - 1
	}
	chunks := max(1, (len(body)+room-1)/room)
	if ch.ack.PeerMaxChunks > 0 && chunks > int(ch.ack.PeerMaxChunks) {
		return nil, ErrResponseTooLarge
	}
	out := ch.out[:0]
	for i := range chunks {
		part := body[i*room : min(len(body), (i+1)*room)]
		final := byte('C')
		if i == chunks-1 {
			final = 'F'
		}
		start := len(out)
		out = append(out, typ[0], typ[1], typ[2], final, 0, 0, 0, 0)
		out = binary.LittleEndian.AppendUint32(out, ch.cfg.ID)
		out = binary.LittleEndian.AppendUint32(out, tok.id)
		out = ch.appendSeq(out, reqID)
		out = append(out, part...)
		c := out[start:]
		switch ch.mode {
		case ua.MessageSecurityModeNone:
			binary.LittleEndian.PutUint32(c[4:], uint32(len(c)))
		default:
			s, err := secure1(c, 16, tok.algo, ch.mode == ua.MessageSecurityModeSignAndEncrypt)
			if err != nil {
				return nil, err
			}
			out = append(out[:start], s...)
		}
	}
	ch.out = out
	return out, nil
}

// encodeService encodes a service's type id and body.
func encodeService(v any) ([]byte, error) {
	tid := ua.ServiceTypeID(v)
	if tid == 0 {
		return nil, errors.New("opcua: not a service type")
	}
	b, err := ua.Encode(ua.NewFourByteExpandedNodeID(0, tid))
	if err != nil {
		return nil, err
	}
	body, err := ua.Encode(v)
	if err != nil {
		return nil, err
	}
	return append(b, body...), nil
}

// ResponseHeader is a response header as clients expect it: all its
// optional parts present and empty.
func ResponseHeader(handle uint32, status ua.StatusCode, now time.Time) *ua.ResponseHeader {
	return &ua.ResponseHeader{Timestamp: now, RequestHandle: handle, ServiceResult: status,
		ServiceDiagnostics: &ua.DiagnosticInfo{}, StringTable: []string{}, AdditionalHeader: ua.NewExtensionObject(nil)}
}
