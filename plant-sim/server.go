package plantsim

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"net"
	"strings"
	"time"

	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// RoleOID is the certificate extension that carries a Modbus/TCP Security role.
var RoleOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 50316, 802, 1}

// ServerConfig configures a Modbus/TCP listener.
type ServerConfig struct {
	// MaxClients bounds concurrent connections; the next one is accepted and
	// closed at once. Default 32.
	MaxClients int
	// IdleTimeout closes a connection that sends nothing for this long.
	// Default 60 s.
	IdleTimeout time.Duration
	// TLS, when set, serves Modbus/TCP Security: TLS with client
	// certificates whose role extension authorises writes.
	TLS *tls.Config
}

// DefaultMaxClients is the default connection limit.
const DefaultMaxClients = 32

// Server serves one PLC over Modbus/TCP on any number of listeners.
type Server struct {
	plc *PLC
	cfg ServerConfig
	cs  *conns
}

// NewServer returns a server for plc.
func NewServer(plc *PLC, cfg ServerConfig) *Server {
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	return &Server{plc: plc, cfg: cfg, cs: newConns(plc, cfg.MaxClients, "")}
}

// Serve accepts connections on ln until Close. It always returns an error.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	return s.cs.serve(ln, s.serveConn)
}

// Close stops every listener and connection and waits for them to end.
func (s *Server) Close() error {
	s.cs.close()
	return nil
}

// Clients returns the number of open connections.
func (s *Server) Clients() int { return s.cs.count() }

// connInfo is what the traffic log knows of a connection.
type connInfo struct {
	id     uint64
	remote string
	listen string
	source string // attributed source, or remote
	note   string
	over   string // the protocol, for the audit trail: "" (Modbus), "IEC 104", "OPC UA"
	seen   bool   // a request has come: attribution settled, connect logged
}

// newConnInfo describes a connection a server has accepted; over names the
// protocol in audit entries ("" for Modbus).
func newConnInfo(id uint64, conn net.Conn, over string) *connInfo {
	c := &connInfo{id: id, remote: conn.RemoteAddr().String(), listen: conn.LocalAddr().String(), over: over}
	c.source = c.remote
	return c
}

// settle attributes a connection at its first request and logs its
// connect. Whoever plays traffic for someone else (an attack from the
// scenario's attacker host, a forwarded trainee session) attributes its
// connection before its first request.
func (p *PLC) settle(c *connInfo) {
	if c.seen {
		return
	}
	c.seen = true
	if a, ok := p.attributed(c.remote); ok {
		c.source, c.note = a.source, a.note
	}
	detail := "connect from " + c.source
	if c.over != "" {
		detail += " over " + c.over
	}
	if c.note != "" && !strings.HasPrefix(c.note, "host ") {
		// A forwarded session says so; which scenario host played
		// an attack is the instructor's to know (see engine.ForTeam).
		detail += " (" + c.note + ")"
	}
	p.audit(p.Now(), "connect", c.source, detail)
}

// hangUp logs a connection's end (and its connect, if no request came).
func (p *PLC) hangUp(c *connInfo) {
	if !c.seen {
		detail := "connect from " + c.source
		if c.over != "" {
			detail += " over " + c.over
		}
		p.audit(p.Now(), "connect", c.source, detail)
	}
	p.audit(p.Now(), "disconnect", c.source, "disconnect "+c.source)
}

func (s *Server) serveConn(conn net.Conn, c *connInfo) {
	role := RoleNone
	if tc, ok := conn.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			return
		}
		role = roleOf(tc.ConnectionState().PeerCertificates)
	}
	br := bufio.NewReaderSize(conn, 2*modbus.MaxADU)
	in := make([]byte, modbus.MaxADU)
	out := make([]byte, 0, modbus.MaxADU)
	unit := s.plc.UnitID()
	idle := s.cfg.IdleTimeout
	var deadline time.Time
	for {
		// One deadline bounds both the idle wait and a client that stops
		// reading its responses. Refreshing it on every request costs a timer
		// update; doing it when a quarter of the timeout has passed is enough.
		if now := time.Now(); deadline.Sub(now) < idle*3/4 {
			deadline = now.Add(idle)
			if err := conn.SetDeadline(deadline); err != nil {
				return
			}
		}
		h, pdu, err := modbus.ReadFrame(br, in)
		if err != nil {
			return
		}
		s.plc.settle(c)
		out = modbus.AppendHeader(out[:0], h.TxID, h.Unit, 0)
		var ok bool
		var clock time.Duration
		if h.Unit != unit && h.Unit != 0 && h.Unit != 255 {
			out, ok = s.plc.reject(pdu[0], out)
			clock = s.plc.Now()
		} else {
			out, ok, clock = s.plc.handleAt(pdu, role, out)
		}
		if ok {
			modbus.PatchLength(out)
		}
		s.plc.record(clock, c, in[:modbus.HeaderLen+len(pdu)], out, !ok)
		if !ok {
			continue
		}
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// roleOf reads the role from the client certificate; without the extension
// a client may only read.
func roleOf(certs []*x509.Certificate) Role {
	if len(certs) == 0 {
		return RoleViewer
	}
	for _, ext := range certs[0].Extensions {
		if ext.Id.Equal(RoleOID) {
			var s string
			if _, err := asn1.Unmarshal(ext.Value, &s); err == nil {
				return Role(s)
			}
		}
	}
	return RoleViewer
}
