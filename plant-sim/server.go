package plantsim

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"net"
	"time"

	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// RoleOID is the certificate extension that carries a Modbus/TCP Security role.
var RoleOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 50316, 802, 1}

// ServerConfig configures a Modbus/TCP listener.
type ServerConfig struct {
	// MaxClients bounds concurrent connections. When all are taken, a new
	// one takes the slot of the connection idle longest if that one has
	// been idle for EvictAfter; else it is accepted and closed at once.
	// Default DefaultMaxClients.
	MaxClients int
	// IdleTimeout closes a connection that sends nothing for this long.
	// Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// FrameTimeout closes a connection that has begun a request frame and
	// not completed it this long after: a client sending a byte now and
	// then holds a slot no longer. Default DefaultFrameTimeout.
	FrameTimeout time.Duration
	// EvictAfter is how long a connection must have been idle (no request
	// completed, whatever bytes of one came) for a new connection to take
	// its slot when all are taken. A flood's connections, polling all the
	// time, are never idle that long, so a flood still takes every slot.
	// Default DefaultEvictAfter; negative: never.
	EvictAfter time.Duration
	// TLS, when set, serves Modbus/TCP Security: TLS with client
	// certificates whose role extension authorises writes.
	TLS *tls.Config
}

// Server serves one PLC over Modbus/TCP on any number of listeners.
type Server struct {
	plc *PLC
	cfg ServerConfig
	cs  *conns
}

// NewServer returns a server for plc.
func NewServer(plc *PLC, cfg ServerConfig) *Server {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	lim := connLimits{MaxClients: cfg.MaxClients, FrameTimeout: cfg.FrameTimeout, EvictAfter: cfg.EvictAfter}
	return &Server{plc: plc, cfg: cfg, cs: newConns(plc, lim, "")}
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

func (s *Server) serveConn(conn net.Conn, c *connInfo, sl *slot) {
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
		now := time.Now()
		sl.served(now) // the last request is done: idle from here
		if deadline.Sub(now) < idle*3/4 {
			deadline = now.Add(idle)
			if err := conn.SetDeadline(deadline); err != nil {
				return
			}
		}
		// A frame that has not all come with its first bytes must come
		// within the frame timeout.
		framing, err := sl.beginFrame(conn, br, modbus.Pending, deadline)
		if err != nil {
			return
		}
		h, pdu, err := modbus.ReadFrame(br, in)
		if err := sl.endFrame(conn, framing, err, deadline); err != nil {
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
