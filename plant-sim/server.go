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
	// MaxClients bounds concurrent connections. When all are taken, a new
	// one takes the slot of the connection idle longest if that one has
	// been idle for EvictAfter; else it is accepted and closed at once.
	// Default 32.
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

// Connection limits and their defaults.
const (
	DefaultMaxClients   = 32
	DefaultIdleTimeout  = time.Minute
	DefaultFrameTimeout = 5 * time.Second
	DefaultEvictAfter   = 3 * time.Second
	// A frame timeout a PLC may be given (flag and scenario): a whole
	// request is one TCP segment, so a second is generous, and a minute
	// is as long as the idle timeout.
	MinFrameTimeout = time.Second
	MaxFrameTimeout = time.Minute
)

// Server serves one PLC over Modbus/TCP on any number of listeners.
type Server struct {
	plc   *PLC
	cfg   ServerConfig
	epoch time.Time // for slot.last, on the monotonic clock

	connSeq atomic.Uint64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]*slot
	closed    bool
	wg        sync.WaitGroup
}

// slot is an open connection's claim on the server.
type slot struct {
	// last is when the connection last completed a request (or was
	// accepted), as nanoseconds since the server's epoch: how idle it is.
	last atomic.Int64
	// Who took the slot, and how idle the connection was, once the server
	// has; under mu.
	evictedFor  string
	evictedIdle time.Duration
}

// NewServer returns a server for plc.
func NewServer(plc *PLC, cfg ServerConfig) *Server {
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.FrameTimeout <= 0 {
		cfg.FrameTimeout = DefaultFrameTimeout
	}
	if cfg.EvictAfter == 0 {
		cfg.EvictAfter = DefaultEvictAfter
	}
	return &Server{plc: plc, cfg: cfg, epoch: time.Now(), listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]*slot{}}
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
		now := time.Now()
		s.mu.Lock()
		var evicted net.Conn
		if !s.closed && len(s.conns) >= s.cfg.MaxClients {
			evicted = s.evictLocked(now, conn.RemoteAddr().String())
		}
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
		sl := &slot{}
		sl.last.Store(int64(now.Sub(s.epoch)))
		s.conns[conn] = sl
		s.wg.Add(1)
		s.mu.Unlock()
		if evicted != nil {
			closeNow(evicted)
		}
		go s.serveConn(conn, sl)
	}
}

// evictLocked frees the slot of the connection idle longest, if it has been
// idle for EvictAfter, for the connection from to; it returns the
// connection to close (its goroutine records the eviction).
func (s *Server) evictLocked(now time.Time, to string) net.Conn {
	if s.cfg.EvictAfter < 0 {
		return nil
	}
	var victim net.Conn
	var oldest int64
	for c, sl := range s.conns {
		if l := sl.last.Load(); victim == nil || l < oldest {
			victim, oldest = c, l
		}
	}
	idle := now.Sub(s.epoch) - time.Duration(oldest)
	if victim == nil || idle < s.cfg.EvictAfter {
		return nil
	}
	sl := s.conns[victim]
	sl.evictedFor, sl.evictedIdle = to, idle
	delete(s.conns, victim)
	return victim
}

// closeNow closes a connection without waiting on its peer: a TLS
// connection's close alert could block on a client that reads nothing.
func closeNow(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		tc.NetConn().Close()
		return
	}
	c.Close()
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

func (s *Server) serveConn(conn net.Conn, sl *slot) {
	c := &connInfo{id: s.connSeq.Add(1), remote: conn.RemoteAddr().String(), listen: conn.LocalAddr().String()}
	c.source = c.remote
	var stalled bool // closed for a frame not completed in time
	defer func() {
		conn.Close()
		s.mu.Lock()
		if s.conns[conn] == sl {
			delete(s.conns, conn)
		}
		evictedFor, idle := sl.evictedFor, sl.evictedIdle
		s.mu.Unlock()
		p := s.plc
		if !c.seen {
			p.audit(p.Now(), "connect", c.source, "connect from "+c.source)
		}
		switch {
		case evictedFor != "":
			p.audit(p.Now(), "evicted", c.source, fmt.Sprintf("closed %s, idle %v, for %s: all %d connection slots were taken",
				c.source, idle.Round(100*time.Millisecond), evictedFor, s.cfg.MaxClients))
		case stalled:
			p.audit(p.Now(), "frame-timeout", c.source, fmt.Sprintf("closed %s: a request frame it began was not complete %v later",
				c.source, s.cfg.FrameTimeout))
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
	idle, frameTimeout := s.cfg.IdleTimeout, s.cfg.FrameTimeout
	var deadline time.Time
	for {
		// One deadline bounds both the idle wait and a client that stops
		// reading its responses. Refreshing it on every request costs a timer
		// update; doing it when a quarter of the timeout has passed is enough.
		now := time.Now()
		sl.last.Store(int64(now.Sub(s.epoch))) // the last request is done: idle from here
		if deadline.Sub(now) < idle*3/4 {
			deadline = now.Add(idle)
			if err := conn.SetDeadline(deadline); err != nil {
				return
			}
		}
		// Wait for the next frame to begin; if it has not all come with
		// its first bytes, the rest must come within the frame timeout.
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				return
			}
		}
		framing := false
		if b, _ := br.Peek(br.Buffered()); modbus.Pending(b) > 0 {
			if fd := time.Now().Add(frameTimeout); fd.Before(deadline) {
				if err := conn.SetReadDeadline(fd); err != nil {
					return
				}
				framing = true
			}
		}
		h, pdu, err := modbus.ReadFrame(br, in)
		if framing {
			var ne net.Error
			if err != nil {
				stalled = errors.As(err, &ne) && ne.Timeout()
				return
			}
			if err := conn.SetReadDeadline(deadline); err != nil {
				return
			}
		}
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
