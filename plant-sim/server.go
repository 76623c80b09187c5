package plantsim

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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

	connSeq atomic.Uint64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// NewServer returns a server for plc.
func NewServer(plc *PLC, cfg ServerConfig) *Server {
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	return &Server{plc: plc, cfg: cfg, listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{}}
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("modbus server closed")

// Serve accepts connections on ln until Close. It always returns an error.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: back off, don't spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.mu.Lock()
		if s.closed || len(s.conns) >= s.cfg.MaxClients {
			full := !s.closed
			s.mu.Unlock()
			if full {
				s.plc.audit(s.plc.Now(), "refused", conn.RemoteAddr().String(),
					fmt.Sprintf("refused %s: all %d connection slots taken", conn.RemoteAddr(), s.cfg.MaxClients))
			}
			conn.Close()
			continue
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(conn)
	}
}

// Close stops every listener and connection and waits for them to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Clients returns the number of open connections.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// connInfo is what the traffic log knows of a connection.
type connInfo struct {
	id     uint64
	remote string
	listen string
	source string // attributed source, or remote
	note   string
	seen   bool // a request has come: attribution settled, connect logged
}

func (s *Server) serveConn(conn net.Conn) {
	c := &connInfo{id: s.connSeq.Add(1), remote: conn.RemoteAddr().String(), listen: conn.LocalAddr().String()}
	c.source = c.remote
	defer func() {
		conn.Close()
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		p := s.plc
		if !c.seen {
			p.audit(p.Now(), "connect", c.source, "connect from "+c.source)
		}
		p.audit(p.Now(), "disconnect", c.source, "disconnect "+c.source)
		s.wg.Done()
	}()
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
		if !c.seen {
			// Whoever plays traffic for someone else (an attack from the
			// scenario's attacker host, a forwarded trainee session)
			// attributes its connection before its first request.
			c.seen = true
			if a, ok := s.plc.attributed(c.remote); ok {
				c.source, c.note = a.source, a.note
			}
			detail := "connect from " + c.source
			if c.note != "" && !strings.HasPrefix(c.note, "host ") {
				// A forwarded session says so; which scenario host played
				// an attack is the instructor's to know (see engine.ForTeam).
				detail += " (" + c.note + ")"
			}
			s.plc.audit(s.plc.Now(), "connect", c.source, detail)
		}
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
