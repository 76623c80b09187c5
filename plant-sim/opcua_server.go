package plantsim

import (
	"bufio"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"github.com/icsrange/icsrange/plant-sim/opcua"
)

// OPCUASecurity is a security policy and message mode the server offers.
type OPCUASecurity struct {
	Policy string // opcua.PolicyNone or opcua.PolicyBasic256Sha256
	Mode   ua.MessageSecurityMode
}

func (s OPCUASecurity) String() string {
	return strings.TrimPrefix(s.Policy, "http://opcfoundation.org/UA/SecurityPolicy#") + "/" +
		strings.TrimPrefix(s.Mode.String(), "MessageSecurityMode")
}

// ParseOPCUASecurity parses a comma-separated list of what to offer: none,
// basic256sha256 (Sign and SignAndEncrypt), basic256sha256-sign,
// basic256sha256-signandencrypt.
func ParseOPCUASecurity(list string) ([]OPCUASecurity, error) {
	var out []OPCUASecurity
	for _, f := range strings.Split(list, ",") {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "none":
			out = append(out, OPCUASecurity{opcua.PolicyNone, ua.MessageSecurityModeNone})
		case "basic256sha256":
			out = append(out, OPCUASecurity{opcua.PolicyBasic256Sha256, ua.MessageSecurityModeSign},
				OPCUASecurity{opcua.PolicyBasic256Sha256, ua.MessageSecurityModeSignAndEncrypt})
		case "basic256sha256-sign":
			out = append(out, OPCUASecurity{opcua.PolicyBasic256Sha256, ua.MessageSecurityModeSign})
		case "basic256sha256-signandencrypt":
			out = append(out, OPCUASecurity{opcua.PolicyBasic256Sha256, ua.MessageSecurityModeSignAndEncrypt})
		default:
			return nil, fmt.Errorf("opcua security %q: want none, basic256sha256, basic256sha256-sign or basic256sha256-signandencrypt", f)
		}
	}
	return out, nil
}

// OPCUAUser is a username identity and the role it writes with.
type OPCUAUser struct {
	Name     string
	Password string
	Role     Role // operator, engineer or viewer, as Modbus/TCP Security's roles
}

// ParseOPCUAUser parses [ROLE=]NAME:PASSWORD (role engineer by default).
func ParseOPCUAUser(s string) (OPCUAUser, error) {
	role := RoleEngineer
	if r, rest, ok := strings.Cut(s, "="); ok && !strings.Contains(r, ":") {
		role, s = Role(r), rest
	}
	name, pw, ok := strings.Cut(s, ":")
	switch {
	case !ok || name == "" || pw == "":
		return OPCUAUser{}, fmt.Errorf("opcua user %q: want [ROLE=]NAME:PASSWORD", s)
	case role != RoleOperator && role != RoleEngineer && role != RoleViewer:
		return OPCUAUser{}, fmt.Errorf("opcua user %s: role %q is not operator, engineer or viewer", name, role)
	}
	return OPCUAUser{Name: name, Password: pw, Role: role}, nil
}

// OPCUAConfig configures an OPC UA server.
type OPCUAConfig struct {
	// Security lists the endpoints' policies and modes; default None only.
	Security []OPCUASecurity
	// NoAnonymous refuses anonymous sessions; AnonymousWrite lets them
	// write (a realistic misconfiguration: by default they only read).
	NoAnonymous    bool
	AnonymousWrite bool
	// Users are the username identities.
	Users []OPCUAUser
	// Certificate (DER) and Key are the server's application instance
	// certificate, needed when a secure policy is offered (see
	// opcua.SelfSigned). Username passwords on a None endpoint are then
	// encrypted with it; without one they travel in the clear.
	Certificate []byte
	Key         *rsa.PrivateKey
	// IdleTimeout closes a connection that sends nothing (default
	// DefaultIdleTimeout). MaxClients, FrameTimeout (a message chunk begun
	// must be complete this long after) and EvictAfter bound connections
	// as ServerConfig's do; a connection is idle from the last chunk it
	// completed.
	IdleTimeout  time.Duration
	MaxClients   int
	FrameTimeout time.Duration
	EvictAfter   time.Duration
	// EndpointURL is what GetEndpoints advertises when a client asks
	// without one; default opc.tcp://<listen address>.
	EndpointURL string
}

// DefaultOPCUAPort is OPC UA's registered TCP port.
const DefaultOPCUAPort = 4840

// OPCUAServer serves one PLC over OPC UA: Objects/<plc id>/<tag>, read
// from the same register image as Modbus and written through the same
// path, with sessions, browsing, reading, writing and subscriptions.
type OPCUAServer struct {
	plc    *PLC
	cfg    OPCUAConfig
	cs     *conns
	appURI string
	space  *uaSpace
	start  time.Time
	users  map[string]opcuaUser
	chanID atomic.Uint32
	subIDs atomic.Uint32 // subscription ids, server-wide so an id names one

	mu  sync.Mutex
	url string
}

type opcuaUser struct {
	hash [32]byte
	role Role
}

// NewOPCUAServer returns an OPC UA server for plc.
func NewOPCUAServer(plc *PLC, cfg OPCUAConfig) (*OPCUAServer, error) {
	if len(cfg.Security) == 0 {
		cfg.Security = []OPCUASecurity{{opcua.PolicyNone, ua.MessageSecurityModeNone}}
	}
	for _, sec := range cfg.Security {
		if sec.Policy != opcua.PolicyNone && (cfg.Certificate == nil || cfg.Key == nil) {
			return nil, fmt.Errorf("opcua: %s needs the server's certificate and key", sec)
		}
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	lim := connLimits{MaxClients: cfg.MaxClients, FrameTimeout: cfg.FrameTimeout, EvictAfter: cfg.EvictAfter}
	s := &OPCUAServer{plc: plc, cfg: cfg, cs: newConns(plc, lim, "OPC UA"),
		appURI: OPCUAApplicationURI(plc.ID()), start: time.Now().UTC(), users: map[string]opcuaUser{}}
	for _, u := range cfg.Users {
		s.users[u.Name] = opcuaUser{hash: sha256.Sum256([]byte(u.Password)), role: u.Role}
	}
	s.chanID.Store(uint32(time.Now().UnixNano()) & 0x7FFFFFFF) // not reused across restarts
	s.space = newUASpace(plc, s.appURI, s.status)
	return s, nil
}

// ApplicationURI is the server's application URI (namespace 1).
func (s *OPCUAServer) ApplicationURI() string { return s.appURI }

// Serve accepts connections on ln until Close. It always returns an error.
func (s *OPCUAServer) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.url == "" {
		s.url = s.cfg.EndpointURL
		if s.url == "" {
			s.url = "opc.tcp://" + ln.Addr().String()
		}
	}
	s.mu.Unlock()
	return s.cs.serve(ln, s.serveConn)
}

// EndpointURL is the URL the server advertises.
func (s *OPCUAServer) EndpointURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops every listener and connection and waits for them to end.
func (s *OPCUAServer) Close() error {
	s.cs.close()
	return nil
}

// Clients returns the number of open connections.
func (s *OPCUAServer) Clients() int { return s.cs.count() }

func (s *OPCUAServer) status() *ua.ServerStatusDataType {
	return &ua.ServerStatusDataType{StartTime: s.start, CurrentTime: time.Now().UTC(), State: ua.ServerStateRunning,
		BuildInfo: &ua.BuildInfo{ProductURI: "https://github.com/icsrange/icsrange", ManufacturerName: "icsrange",
			ProductName: "icsrange simulated PLC " + s.plc.model.Name, SoftwareVersion: "1.0"},
		ShutdownReason: &ua.LocalizedText{}}
}

// allowed reports whether an endpoint offers policy with mode (any mode
// when mode is invalid).
func (s *OPCUAServer) allowed(policy string, mode ua.MessageSecurityMode) bool {
	for _, sec := range s.cfg.Security {
		if sec.Policy == policy && (mode == ua.MessageSecurityModeInvalid || sec.Mode == mode) {
			return true
		}
	}
	return false
}

// channelAllowed is what a secure channel may be opened with: an offered
// policy and mode, or None for discovery (GetEndpoints, FindServers),
// which clients do before they know the endpoints; sessions need an
// offered one (see service).
func (s *OPCUAServer) channelAllowed(policy string, mode ua.MessageSecurityMode) bool {
	if policy == opcua.PolicyNone && (mode == ua.MessageSecurityModeNone || mode == ua.MessageSecurityModeInvalid) {
		return true
	}
	return s.allowed(policy, mode)
}

// uaFrame is one chunk handed from a connection's reader to its loop.
type uaFrame struct {
	chunk opcua.Chunk
	err   error
}

// uaConn is one connection's state, owned by its loop goroutine.
type uaConn struct {
	s        *OPCUAServer
	p        *PLC
	conn     net.Conn
	c        *connInfo
	ch       *opcua.Channel
	sessions []*uaSession
	items    []Item
	clock    time.Duration
	closeWhy string // set when the connection must close for an error
	done     bool   // the client closed the channel
}

// Per-connection bounds, so one client costs the others nothing.
const (
	uaMaxSessions      = 4
	uaMaxOperations    = 1000 // nodes per read, write, browse, translate, register
	uaHandshakeTimeout = 10 * time.Second
	uaWriteTimeout     = 10 * time.Second
)

func (s *OPCUAServer) serveConn(conn net.Conn, ci *connInfo, sl *slot) {
	c := &uaConn{s: s, p: s.plc, conn: conn, c: ci, items: make([]Item, 0, 16)}
	br := bufio.NewReaderSize(conn, 4096)
	buf := make([]byte, opcua.BufferSize)
	// readChunk reads the next chunk, waiting until deadline for it to
	// begin; one begun must be complete in the frame timeout.
	readChunk := func(limit int, deadline time.Time) (opcua.Chunk, error) {
		if err := conn.SetReadDeadline(deadline); err != nil {
			return opcua.Chunk{}, err
		}
		framing, err := sl.beginFrame(conn, br, func(b []byte) int { return opcua.Pending(b, limit) }, deadline)
		if err != nil {
			return opcua.Chunk{}, err
		}
		ch, err := opcua.ReadChunk(br, buf, limit)
		if err = sl.endFrame(conn, framing, err, deadline); err == nil {
			sl.served(time.Now())
		}
		return ch, err
	}
	ack, ok := c.hello(readChunk)
	if !ok {
		if c.closeWhy != "" {
			c.hangUp()
		}
		return
	}
	c.ch = opcua.NewChannel(opcua.ChannelConfig{Certificate: s.cfg.Certificate, Key: s.cfg.Key, Allowed: s.channelAllowed,
		ID: s.chanID.Add(1)}, ack)

	frames := make(chan uaFrame)
	next := make(chan struct{})
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			ch, err := readChunk(int(ack.ReceiveBufferSize), time.Now().Add(s.cfg.IdleTimeout))
			select {
			case frames <- uaFrame{ch, err}:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
			select {
			case <-next:
			case <-quit:
				return
			}
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer c.endSessions()
loop:
	for {
		now := time.Now()
		c.tick(now)
		if c.closeWhy != "" || c.done {
			break
		}
		timer.Reset(c.nextWake(now))
		select {
		case f := <-frames:
			if f.err != nil {
				var te *opcua.Error
				switch {
				case errors.As(f.err, &te):
					c.fail(te, f.chunk.Raw)
				// A frame timeout is the slot's to record; a connection
				// closed here was closed by the server (Close, eviction).
				case !errors.Is(f.err, io.EOF) && !errors.Is(f.err, net.ErrClosed) && !errors.Is(f.err, errFrameTimeout) && !isConnReset(f.err):
					c.closeWhy = f.err.Error()
				}
				break loop
			}
			c.handle(f.chunk)
			if c.closeWhy != "" || c.done {
				break loop
			}
			next <- struct{}{}
		case <-timer.C:
		}
	}
	if c.closeWhy != "" {
		c.hangUp()
	}
}

// hello reads the client's HEL and answers ACK (or ERR).
func (c *uaConn) hello(readChunk func(limit int, deadline time.Time) (opcua.Chunk, error)) (opcua.Acknowledge, bool) {
	ch, err := readChunk(opcua.MaxHello, time.Now().Add(uaHandshakeTimeout))
	var te *opcua.Error
	switch {
	case errors.As(err, &te):
	case err != nil:
		// A frame timeout is the slot's to record.
		if !errors.Is(err, io.EOF) && !errors.Is(err, errFrameTimeout) && !isConnReset(err) {
			c.closeWhy = "handshake: " + err.Error()
		}
		return opcua.Acknowledge{}, false
	default:
		c.p.settle(c.c)
		var h opcua.Hello
		if h, err = opcua.ParseHello(ch.Raw); err == nil {
			var ack opcua.Acknowledge
			if ack, err = opcua.Negotiate(h); err == nil {
				if c.quiet() {
					c.p.recordExchange(c.clock, c.c, &exchange{proto: ProtoOPCUA, op: "hello", req: ch.Raw, noReply: true})
					c.closeWhy = "" // a silent PLC just lets the client time out
					return ack, false
				}
				out := opcua.AppendAck(nil, ack)
				c.p.recordExchange(c.clock, c.c, &exchange{proto: ProtoOPCUA, op: "hello", req: ch.Raw, resp: out})
				c.write(out)
				return ack, c.closeWhy == ""
			}
		}
		errors.As(err, &te)
	}
	c.p.settle(c.c)
	c.fail(te, ch.Raw)
	return opcua.Acknowledge{}, false
}

// fail answers a transport error with ERR, records it, and closes.
func (c *uaConn) fail(te *opcua.Error, raw []byte) {
	out := opcua.AppendError(nil, te.Code, te.Reason)
	c.quiet()
	// Recorded before it is sent, as Modbus transactions are: whoever
	// sees the answer finds it in the log.
	c.p.recordExchange(c.clock, c.c, &exchange{proto: ProtoOPCUA, op: "error", req: raw, resp: out, outcome: te.Code.Error()})
	c.write(out)
	c.closeWhy = te.Error()
}

func (c *uaConn) hangUp() {
	c.p.audit(c.p.Now(), "exception", c.c.source, fmt.Sprintf("OPC UA connection from %s closed: %s", c.c.source, c.closeWhy))
}

// quiet reports communication loss (the PLC answers nothing) and reads
// the PLC clock for the traffic log.
func (c *uaConn) quiet() bool {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	c.clock = p.now
	return p.commLoss
}

func (c *uaConn) write(b []byte) {
	if c.closeWhy != "" || len(b) == 0 {
		return
	}
	c.conn.SetWriteDeadline(time.Now().Add(uaWriteTimeout))
	if _, err := c.conn.Write(b); err != nil && !errors.Is(err, net.ErrClosed) { // closed by the server: the reader ends the loop
		c.closeWhy = "write: " + err.Error()
	}
}

// handle takes one chunk after the handshake. During communication loss
// the channel still follows the stream (so it stays in step) but nothing
// is answered.
func (c *uaConn) handle(chunk opcua.Chunk) {
	m, err := c.ch.Accept(chunk)
	quiet := c.quiet()
	if err != nil {
		if quiet {
			c.closeWhy = err.Error()
			return
		}
		var te *opcua.Error
		if !errors.As(err, &te) {
			te = &opcua.Error{Code: ua.StatusBadTCPInternalError, Reason: err.Error()}
		}
		c.fail(te, chunk.Raw)
		return
	}
	if m == nil {
		return // more chunks to come
	}
	if quiet {
		c.p.recordExchange(c.clock, c.c, &exchange{proto: ProtoOPCUA, op: strings.ToLower(m.Type), req: m.Raw, noReply: true})
		return
	}
	switch m.Type {
	case "OPN":
		out, err := c.ch.OpenChannel(m)
		if err != nil {
			var te *opcua.Error
			if !errors.As(err, &te) {
				te = &opcua.Error{Code: ua.StatusBadSecurityChecksFailed, Reason: err.Error()}
			}
			c.fail(te, m.Raw)
			return
		}
		c.p.recordExchange(c.clock, c.c, &exchange{proto: ProtoOPCUA, op: "open", req: m.Raw, resp: out})
		c.write(out)
	case "CLO":
		c.p.recordExchange(c.clock, c.c, &exchange{proto: ProtoOPCUA, op: "close", req: m.Raw})
		c.done = true
	case "MSG":
		c.service(m)
	}
}

// uaService is one service the server offers.
type uaService struct {
	op        string
	new       func() ua.Request
	session   bool // needs an activated session
	serve     func(c *uaConn, s *uaSession, req ua.Request, m *opcua.Message) ua.Response
	discovery bool // served on a discovery-only channel too
}

var uaServices = map[uint16]uaService{
	id.GetEndpointsRequest_Encoding_DefaultBinary: {"getendpoints", func() ua.Request { return new(ua.GetEndpointsRequest) }, false, (*uaConn).getEndpoints, true},
	id.FindServersRequest_Encoding_DefaultBinary:  {"findservers", func() ua.Request { return new(ua.FindServersRequest) }, false, (*uaConn).findServers, true},
	id.CreateSessionRequest_Encoding_DefaultBinary: {"createsession", func() ua.Request { return new(ua.CreateSessionRequest) }, false,
		(*uaConn).createSession, false},
	id.ActivateSessionRequest_Encoding_DefaultBinary: {"activatesession", func() ua.Request { return new(ua.ActivateSessionRequest) }, false,
		(*uaConn).activateSession, false},
	id.CloseSessionRequest_Encoding_DefaultBinary: {"closesession", func() ua.Request { return new(ua.CloseSessionRequest) }, true, (*uaConn).closeSession, false},
	id.CancelRequest_Encoding_DefaultBinary:       {"cancel", func() ua.Request { return new(ua.CancelRequest) }, true, (*uaConn).cancel, false},
	id.BrowseRequest_Encoding_DefaultBinary:       {"browse", func() ua.Request { return new(ua.BrowseRequest) }, true, (*uaConn).browse, false},
	id.BrowseNextRequest_Encoding_DefaultBinary:   {"browsenext", func() ua.Request { return new(ua.BrowseNextRequest) }, true, (*uaConn).browseNext, false},
	id.TranslateBrowsePathsToNodeIDsRequest_Encoding_DefaultBinary: {"translatebrowsepaths",
		func() ua.Request { return new(ua.TranslateBrowsePathsToNodeIDsRequest) }, true, (*uaConn).translate, false},
	id.RegisterNodesRequest_Encoding_DefaultBinary: {"registernodes", func() ua.Request { return new(ua.RegisterNodesRequest) }, true,
		(*uaConn).registerNodes, false},
	id.UnregisterNodesRequest_Encoding_DefaultBinary: {"unregisternodes", func() ua.Request { return new(ua.UnregisterNodesRequest) }, true,
		(*uaConn).unregisterNodes, false},
	id.ReadRequest_Encoding_DefaultBinary:  {"read", func() ua.Request { return new(ua.ReadRequest) }, true, (*uaConn).read, false},
	id.WriteRequest_Encoding_DefaultBinary: {"write", func() ua.Request { return new(ua.WriteRequest) }, true, (*uaConn).writeNodes, false},
	id.CreateSubscriptionRequest_Encoding_DefaultBinary: {"createsubscription", func() ua.Request { return new(ua.CreateSubscriptionRequest) }, true,
		(*uaConn).createSubscription, false},
	id.ModifySubscriptionRequest_Encoding_DefaultBinary: {"modifysubscription", func() ua.Request { return new(ua.ModifySubscriptionRequest) }, true,
		(*uaConn).modifySubscription, false},
	id.DeleteSubscriptionsRequest_Encoding_DefaultBinary: {"deletesubscriptions", func() ua.Request { return new(ua.DeleteSubscriptionsRequest) }, true,
		(*uaConn).deleteSubscriptions, false},
	id.SetPublishingModeRequest_Encoding_DefaultBinary: {"setpublishingmode", func() ua.Request { return new(ua.SetPublishingModeRequest) }, true,
		(*uaConn).setPublishingMode, false},
	id.PublishRequest_Encoding_DefaultBinary:   {"publish", func() ua.Request { return new(ua.PublishRequest) }, true, (*uaConn).publish, false},
	id.RepublishRequest_Encoding_DefaultBinary: {"republish", func() ua.Request { return new(ua.RepublishRequest) }, true, (*uaConn).republish, false},
	id.CreateMonitoredItemsRequest_Encoding_DefaultBinary: {"createmonitoreditems", func() ua.Request { return new(ua.CreateMonitoredItemsRequest) }, true,
		(*uaConn).createMonitoredItems, false},
	id.ModifyMonitoredItemsRequest_Encoding_DefaultBinary: {"modifymonitoreditems", func() ua.Request { return new(ua.ModifyMonitoredItemsRequest) }, true,
		(*uaConn).modifyMonitoredItems, false},
	id.SetMonitoringModeRequest_Encoding_DefaultBinary: {"setmonitoringmode", func() ua.Request { return new(ua.SetMonitoringModeRequest) }, true,
		(*uaConn).setMonitoringMode, false},
	id.DeleteMonitoredItemsRequest_Encoding_DefaultBinary: {"deletemonitoreditems", func() ua.Request { return new(ua.DeleteMonitoredItemsRequest) }, true,
		(*uaConn).deleteMonitoredItems, false},
}

// service decodes and serves one request.
func (c *uaConn) service(m *opcua.Message) {
	c.items = c.items[:0]
	svc, ok := uaServices[m.TypeID]
	if !ok {
		c.fault(m, "unsupported", ua.StatusBadServiceUnsupported)
		return
	}
	req := svc.new()
	if _, err := opcua.Decode(m.Body, req); err != nil || req.Header() == nil {
		c.fault(m, svc.op, ua.StatusBadDecodingError)
		return
	}
	if !svc.discovery && !c.s.allowed(c.ch.Policy(), c.ch.Mode()) {
		c.respond(m, svc.op, &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(req.Header().RequestHandle,
			ua.StatusBadSecurityPolicyRejected, time.Now())})
		return
	}
	var sess *uaSession
	if svc.session {
		var st ua.StatusCode
		if sess, st = c.session(req.Header().AuthenticationToken); st != ua.StatusOK {
			c.respond(m, svc.op, &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(req.Header().RequestHandle, st, time.Now())})
			return
		}
	}
	if resp := svc.serve(c, sess, req, m); resp != nil {
		c.respond(m, svc.op, resp)
	}
}

// fault answers a request it could not decode or does not serve with a
// ServiceFault, taking the request handle from the header if it decodes.
func (c *uaConn) fault(m *opcua.Message, op string, st ua.StatusCode) {
	var handle uint32
	hdr := new(ua.RequestHeader)
	if _, err := opcua.Decode(m.Body, hdr); err == nil {
		handle = hdr.RequestHandle
	}
	c.respond(m, op, &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(handle, st, time.Now())})
}

// respond sends a response and records the transaction.
func (c *uaConn) respond(m *opcua.Message, op string, resp ua.Response) {
	c.sendResponse(m.RequestID, m.Raw, op, resp)
}

func (c *uaConn) sendResponse(reqID uint32, raw []byte, op string, resp ua.Response) {
	out, err := c.ch.Send(reqID, resp)
	if errors.Is(err, opcua.ErrResponseTooLarge) {
		resp = &ua.ServiceFault{ResponseHeader: opcua.ResponseHeader(resp.Header().RequestHandle, ua.StatusBadResponseTooLarge, time.Now())}
		out, err = c.ch.Send(reqID, resp)
	}
	if err != nil {
		c.closeWhy = "send: " + err.Error()
		return
	}
	x := exchange{proto: ProtoOPCUA, op: op, items: c.items, req: raw, resp: out}
	if st := resp.Header().ServiceResult; st != ua.StatusOK {
		x.outcome = st.Error()
	}
	c.p.recordExchange(c.clock, c.c, &x)
	c.write(out)
}

// item notes a node of the current transaction.
func (c *uaConn) item(n *uaNode, nid *ua.NodeID, write bool, v float64, st ua.StatusCode) {
	it := Item{Write: write, Value: v}
	if n != nil {
		it.Point = n.key
		if n.tag >= 0 {
			it.Tag = c.p.model.Tags[n.tag].Name
		}
	} else if nid != nil {
		it.Point = nid.String()
	}
	if st != ua.StatusOK {
		it.Status = st.Error()
	}
	if len(c.items) < 64 { // the log keeps the first nodes of a large request
		c.items = append(c.items, it)
	}
}

// OPCUAApplicationURI is the application URI of the OPC UA server of the
// PLC with this id: namespace 1 of its address space, and the URI its
// certificate must carry (see opcua.SelfSigned).
func OPCUAApplicationURI(plcID string) string { return "urn:icsrange:plc:" + plcID }
