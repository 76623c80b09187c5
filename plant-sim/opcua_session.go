package plantsim

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uapolicy"

	"github.com/icsrange/icsrange/plant-sim/opcua"
)

// uaIdentity is who a session acts as.
type uaIdentity struct {
	anonymous bool
	anonWrite bool // anonymous sessions may write (OPCUAConfig.AnonymousWrite)
	user      string
	role      Role
}

// mayWrite reports whether the identity may write tags of class c: users
// by their role, as Modbus/TCP Security's roles authorise.
func (w *uaIdentity) mayWrite(c Class) bool {
	if w.anonymous {
		return w.anonWrite
	}
	return w.role.mayWrite(c)
}

func (w *uaIdentity) String() string {
	if w.anonymous {
		return "anonymous"
	}
	return fmt.Sprintf("user %s (%s)", w.user, w.role)
}

// uaSession is a session, bound to the channel that created it.
type uaSession struct {
	id        *ua.NodeID
	token     *ua.NodeID
	tokenKey  string
	nonce     []byte // the server nonce the client signs next
	clientCrt []byte
	activated bool
	who       uaIdentity
	timeout   time.Duration
	lastUsed  time.Time
	subs      []*uaSub
	publishQ  []uaPublish // publish requests waiting for notifications
	cps       []uaContinuation
	nextCP    uint32
}

// User token policy ids the endpoints offer.
const (
	uaAnonymousPolicy = "anonymous"
	uaUsernamePolicy  = "username"
)

// tokenPolicy is the security policy a username's password is encrypted
// with on a channel of policy: the channel's own, or on a None channel
// Basic256Sha256 when the server has a certificate, else none (the
// password in the clear, as on many a misconfigured server).
func (s *OPCUAServer) tokenPolicy(channel string) string {
	if channel != opcua.PolicyNone {
		return channel
	}
	if s.cfg.Key != nil {
		return opcua.PolicyBasic256Sha256
	}
	return opcua.PolicyNone
}

// endpoints describes the server's endpoints at url.
func (s *OPCUAServer) endpoints(url string) []*ua.EndpointDescription {
	app := s.application(url)
	var out []*ua.EndpointDescription
	for _, sec := range s.cfg.Security {
		var tokens []*ua.UserTokenPolicy
		if !s.cfg.NoAnonymous {
			tokens = append(tokens, &ua.UserTokenPolicy{PolicyID: uaAnonymousPolicy, TokenType: ua.UserTokenTypeAnonymous})
		}
		if len(s.users) > 0 {
			tp := ""
			if sec.Policy == opcua.PolicyNone {
				tp = s.tokenPolicy(opcua.PolicyNone)
			}
			tokens = append(tokens, &ua.UserTokenPolicy{PolicyID: uaUsernamePolicy, TokenType: ua.UserTokenTypeUserName, SecurityPolicyURI: tp})
		}
		out = append(out, &ua.EndpointDescription{EndpointURL: url, Server: app, ServerCertificate: s.cfg.Certificate,
			SecurityMode: sec.Mode, SecurityPolicyURI: sec.Policy, UserIdentityTokens: tokens,
			TransportProfileURI: "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary",
			SecurityLevel:       uapolicy.SecurityLevel(sec.Policy, sec.Mode)})
	}
	return out
}

func (s *OPCUAServer) application(url string) *ua.ApplicationDescription {
	return &ua.ApplicationDescription{ApplicationURI: s.appURI, ProductURI: "https://github.com/icsrange/icsrange",
		ApplicationName: text("icsrange PLC " + s.plc.ID()), ApplicationType: ua.ApplicationTypeServer, DiscoveryURLs: []string{url}}
}

// urlFor is the endpoint URL to describe: the one the client used, or ours.
func (c *uaConn) urlFor(asked string) string {
	if strings.HasPrefix(asked, "opc.tcp://") && len(asked) < 512 {
		return asked
	}
	return c.s.EndpointURL()
}

func (c *uaConn) getEndpoints(_ *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.GetEndpointsRequest)
	eps := c.s.endpoints(c.urlFor(req.EndpointURL))
	if len(req.ProfileURIs) > 0 {
		binary := false
		for _, p := range req.ProfileURIs {
			binary = binary || p == "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary"
		}
		if !binary {
			eps = nil
		}
	}
	return &ua.GetEndpointsResponse{ResponseHeader: opcua.ResponseHeader(req.RequestHeader.RequestHandle, ua.StatusOK, time.Now()), Endpoints: eps}
}

func (c *uaConn) findServers(_ *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.FindServersRequest)
	return &ua.FindServersResponse{ResponseHeader: opcua.ResponseHeader(req.RequestHeader.RequestHandle, ua.StatusOK, time.Now()),
		Servers: []*ua.ApplicationDescription{c.s.application(c.urlFor(req.EndpointURL))}}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func (c *uaConn) createSession(_ *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.CreateSessionRequest)
	h := req.RequestHeader.RequestHandle
	fault := func(st ua.StatusCode) ua.Response {
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, st, time.Now())}
	}
	if len(c.sessions) >= uaMaxSessions {
		return fault(ua.StatusBadTooManySessions)
	}
	secure := c.ch.Mode() != ua.MessageSecurityModeNone
	var sig *ua.SignatureData
	if secure {
		// The client proves it is the channel's peer; we prove we hold
		// our certificate's key by signing its certificate and nonce.
		if !bytes.Equal(req.ClientCertificate, c.ch.RemoteCertificate()) {
			return fault(ua.StatusBadCertificateInvalid)
		}
		if len(req.ClientNonce) < 32 {
			return fault(ua.StatusBadNonceInvalid)
		}
		asym := c.ch.Asymmetric()
		s, err := asym.Signature(append(append([]byte(nil), req.ClientCertificate...), req.ClientNonce...))
		if err != nil {
			return fault(ua.StatusBadSecurityChecksFailed)
		}
		sig = &ua.SignatureData{Algorithm: asym.SignatureURI(), Signature: s}
	} else {
		sig = &ua.SignatureData{}
	}
	timeout := time.Duration(req.RequestedSessionTimeout * float64(time.Millisecond))
	timeout = min(max(timeout, 10*time.Second), time.Hour)
	tok := ua.NewByteStringNodeID(0, randomBytes(32)) // unguessable: it is the session's credential
	sess := &uaSession{id: ua.NewByteStringNodeID(UANamespace, randomBytes(16)), token: tok, tokenKey: tok.String(),
		nonce: randomBytes(32), clientCrt: req.ClientCertificate, timeout: timeout, lastUsed: time.Now()}
	c.sessions = append(c.sessions, sess)
	return &ua.CreateSessionResponse{
		ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()),
		SessionID:      sess.id, AuthenticationToken: sess.token,
		RevisedSessionTimeout: float64(timeout / time.Millisecond),
		ServerNonce:           sess.nonce, ServerCertificate: c.s.cfg.Certificate,
		ServerEndpoints:       c.s.endpoints(c.urlFor(req.EndpointURL)),
		ServerSignature:       sig,
		MaxRequestMessageSize: opcua.MaxMessageSize,
	}
}

// findSession finds a session of this channel by its token.
func (c *uaConn) findSession(tok *ua.NodeID) *uaSession {
	if tok == nil {
		return nil
	}
	key := tok.String()
	for _, s := range c.sessions {
		if subtle.ConstantTimeCompare([]byte(s.tokenKey), []byte(key)) == 1 {
			return s
		}
	}
	return nil
}

// session finds an activated session for a request.
func (c *uaConn) session(tok *ua.NodeID) (*uaSession, ua.StatusCode) {
	s := c.findSession(tok)
	switch {
	case s == nil:
		return nil, ua.StatusBadSessionIDInvalid
	case !s.activated:
		return nil, ua.StatusBadSessionNotActivated
	}
	s.lastUsed = time.Now()
	return s, ua.StatusOK
}

func (c *uaConn) activateSession(_ *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.ActivateSessionRequest)
	h := req.RequestHeader.RequestHandle
	sess := c.findSession(req.RequestHeader.AuthenticationToken)
	refuse := func(st ua.StatusCode, who string) ua.Response {
		c.p.audit(c.clock, "refused", c.c.source, fmt.Sprintf("OPC UA session of %s from %s refused: %s", who, c.c.source, st.Error()))
		return &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(h, st, time.Now())}
	}
	if sess == nil {
		return refuse(ua.StatusBadSessionIDInvalid, "an unknown session")
	}
	if c.ch.Mode() != ua.MessageSecurityModeNone {
		sig := req.ClientSignature
		data := append(append([]byte(nil), c.s.cfg.Certificate...), sess.nonce...)
		if sig == nil || c.ch.Asymmetric().VerifySignature(data, sig.Signature) != nil {
			return refuse(ua.StatusBadApplicationSignatureInvalid, "a client")
		}
	}
	who, st := c.identify(sess, req.UserIdentityToken)
	if st != ua.StatusOK {
		return refuse(st, who.String())
	}
	if !sess.activated || sess.who != who {
		c.p.audit(c.clock, "session", c.c.source, fmt.Sprintf("OPC UA session of %s from %s over %s/%s", who.String(), c.c.source,
			strings.TrimPrefix(c.ch.Policy(), "http://opcfoundation.org/UA/SecurityPolicy#"),
			strings.TrimPrefix(c.ch.Mode().String(), "MessageSecurityMode")))
	}
	sess.activated, sess.who, sess.lastUsed = true, who, time.Now()
	sess.nonce = randomBytes(32)
	return &ua.ActivateSessionResponse{ResponseHeader: opcua.ResponseHeader(h, ua.StatusOK, time.Now()), ServerNonce: sess.nonce}
}

// identify checks an identity token against the endpoint's token
// policies and the configured identities.
func (c *uaConn) identify(sess *uaSession, eo *ua.ExtensionObject) (uaIdentity, ua.StatusCode) {
	cfg := &c.s.cfg
	var tok any
	if eo != nil {
		tok = eo.Value
	}
	switch t := tok.(type) {
	case nil, *ua.AnonymousIdentityToken:
		who := uaIdentity{anonymous: true, anonWrite: cfg.AnonymousWrite}
		if cfg.NoAnonymous {
			return who, ua.StatusBadIdentityTokenRejected
		}
		if t, ok := tok.(*ua.AnonymousIdentityToken); ok && t.PolicyID != uaAnonymousPolicy {
			return who, ua.StatusBadIdentityTokenInvalid
		}
		return who, ua.StatusOK
	case *ua.UserNameIdentityToken:
		who := uaIdentity{user: t.UserName}
		if len(c.s.users) == 0 {
			return who, ua.StatusBadIdentityTokenRejected
		}
		if t.PolicyID != uaUsernamePolicy || len(t.UserName) > 256 {
			return who, ua.StatusBadIdentityTokenInvalid
		}
		pw, st := c.password(sess, t)
		if st != ua.StatusOK {
			return who, st
		}
		u, known := c.s.users[t.UserName]
		sum := sha256.Sum256(pw)
		if subtle.ConstantTimeCompare(sum[:], u.hash[:]) != 1 || !known {
			return who, ua.StatusBadUserAccessDenied
		}
		who.role = u.role
		return who, ua.StatusOK
	}
	return uaIdentity{}, ua.StatusBadIdentityTokenInvalid
}

// password recovers a username token's password: decrypted with our key
// when the token policy encrypts it, checking that it was encrypted for
// this session's nonce (no replay), or as sent where it travels in the
// clear.
func (c *uaConn) password(sess *uaSession, t *ua.UserNameIdentityToken) ([]byte, ua.StatusCode) {
	policy := c.s.tokenPolicy(c.ch.Policy())
	if policy == opcua.PolicyNone {
		if t.EncryptionAlgorithm != "" {
			return nil, ua.StatusBadIdentityTokenInvalid
		}
		return t.Password, ua.StatusOK
	}
	if t.EncryptionAlgorithm == "" {
		return nil, ua.StatusBadIdentityTokenInvalid
	}
	asym, err := uapolicy.Asymmetric(policy, c.s.cfg.Key, nil)
	if err != nil {
		return nil, ua.StatusBadIdentityTokenInvalid
	}
	plain, err := asym.Decrypt(t.Password)
	if err != nil || len(plain) < 4 {
		return nil, ua.StatusBadIdentityTokenInvalid
	}
	n := int(binary.LittleEndian.Uint32(plain))
	nonce := len(sess.nonce)
	if n < nonce || n > len(plain)-4 {
		return nil, ua.StatusBadIdentityTokenInvalid
	}
	secret := plain[4 : 4+n]
	if !bytes.Equal(secret[n-nonce:], sess.nonce) {
		return nil, ua.StatusBadIdentityTokenInvalid
	}
	return secret[:n-nonce], ua.StatusOK
}

func (c *uaConn) closeSession(sess *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.CloseSessionRequest)
	c.dropSession(sess)
	return &ua.CloseSessionResponse{ResponseHeader: opcua.ResponseHeader(req.RequestHeader.RequestHandle, ua.StatusOK, time.Now())}
}

func (c *uaConn) cancel(_ *uaSession, r ua.Request, _ *opcua.Message) ua.Response {
	req := r.(*ua.CancelRequest)
	// Requests are answered as they come: there is nothing to cancel.
	return &ua.CancelResponse{ResponseHeader: opcua.ResponseHeader(req.RequestHeader.RequestHandle, ua.StatusOK, time.Now())}
}

// dropSession ends a session with its subscriptions, answering its
// waiting publish requests.
func (c *uaConn) dropSession(sess *uaSession) {
	for i, s := range c.sessions {
		if s == sess {
			c.sessions = append(c.sessions[:i], c.sessions[i+1:]...)
			break
		}
	}
	for _, pr := range sess.publishQ {
		c.items = c.items[:0]
		c.sendResponse(pr.reqID, pr.raw, "publish", &ua.ServiceFault{
			ResponseHeader: opcua.ResponseHeader(pr.handle, ua.StatusBadSessionClosed, time.Now())})
	}
	sess.publishQ, sess.subs = nil, nil
}

// endSessions forgets the channel's sessions when the connection ends.
func (c *uaConn) endSessions() {
	c.sessions = nil
}
