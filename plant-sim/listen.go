package plantsim

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by a protocol server's Serve after Close.
var ErrServerClosed = errors.New("server closed")

// Connection limits and their defaults, the same for every protocol.
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

// connLimits bound a protocol server's connections. ServerConfig,
// IEC104Config and OPCUAConfig carry them as fields of the same names,
// documented at ServerConfig; zero values take the defaults above.
type connLimits struct {
	MaxClients   int
	FrameTimeout time.Duration
	EvictAfter   time.Duration // negative: never
}

// withDefaults fills in the zero values.
func (l connLimits) withDefaults() connLimits {
	if l.MaxClients <= 0 {
		l.MaxClients = DefaultMaxClients
	}
	if l.FrameTimeout <= 0 {
		l.FrameTimeout = DefaultFrameTimeout
	}
	if l.EvictAfter == 0 {
		l.EvictAfter = DefaultEvictAfter
	}
	return l
}

// conns is what every protocol server of a PLC shares: its listeners, its
// open connections and the slots they hold (the bound on them, idle
// eviction, the frame deadline), connect and disconnect in the audit
// trail, and an orderly close.
type conns struct {
	plc   *PLC
	lim   connLimits
	over  string    // the protocol in audit entries ("" for Modbus)
	epoch time.Time // for slot.last, on the monotonic clock

	seq       atomic.Uint64
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	open      map[net.Conn]*slot
	closed    bool
	wg        sync.WaitGroup
}

// slot is an open connection's claim on its server.
type slot struct {
	cs *conns
	// last is when the connection last completed a frame (or was
	// accepted), as nanoseconds since the server's epoch: how idle it is.
	last atomic.Int64
	// stalled: closed for a frame not completed in time.
	stalled atomic.Bool
	// Who took the slot, and how idle the connection was, once the server
	// has; under cs.mu.
	evictedFor  string
	evictedIdle time.Duration
}

func newConns(plc *PLC, lim connLimits, over string) *conns {
	return &conns{plc: plc, lim: lim.withDefaults(), over: over, epoch: time.Now(),
		listeners: map[net.Listener]struct{}{}, open: map[net.Conn]*slot{}}
}

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
	detail := "connect from " + c.source + overText(c.over)
	if c.note != "" && !strings.HasPrefix(c.note, "host ") {
		// A forwarded session says so; which scenario host played
		// an attack is the instructor's to know (see engine.ForTeam).
		detail += " (" + c.note + ")"
	}
	p.audit(p.Now(), "connect", c.source, detail)
}

// hangUp logs a connection's end (and its connect, if no request came),
// with why the server ended it (kind and detail) when it did.
func (p *PLC) hangUp(c *connInfo, kind, detail string) {
	if !c.seen {
		p.audit(p.Now(), "connect", c.source, "connect from "+c.source+overText(c.over))
	}
	if kind != "" {
		p.audit(p.Now(), kind, c.source, detail)
	}
	p.audit(p.Now(), "disconnect", c.source, "disconnect "+c.source)
}

// serve accepts connections on ln until close, running handle for each in
// its own goroutine and closing the connection when handle returns. A
// connection past the limit takes an idle one's slot or is accepted and
// closed at once. It always returns an error.
func (s *conns) serve(ln net.Listener, handle func(net.Conn, *connInfo, *slot)) error {
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
		if !s.closed && len(s.open) >= s.lim.MaxClients {
			evicted = s.evictLocked(now, conn.RemoteAddr().String())
		}
		if s.closed || len(s.open) >= s.lim.MaxClients {
			full := !s.closed
			s.mu.Unlock()
			if full {
				s.plc.audit(s.plc.Now(), "refused", conn.RemoteAddr().String(),
					fmt.Sprintf("refused %s: all %s taken", conn.RemoteAddr(), s.slots()))
			}
			conn.Close()
			continue
		}
		sl := &slot{cs: s}
		sl.served(now)
		s.open[conn] = sl
		s.wg.Add(1)
		s.mu.Unlock()
		if evicted != nil {
			closeNow(evicted)
		}
		go s.run(conn, sl, handle)
	}
}

// run serves one connection and, when it ends, frees its slot (unless a
// new connection has taken it) and records why it ended.
func (s *conns) run(conn net.Conn, sl *slot, handle func(net.Conn, *connInfo, *slot)) {
	c := newConnInfo(s.seq.Add(1), conn, s.over)
	defer func() {
		conn.Close()
		s.mu.Lock()
		if s.open[conn] == sl {
			delete(s.open, conn)
		}
		evictedFor, idle := sl.evictedFor, sl.evictedIdle
		s.mu.Unlock()
		p := s.plc
		switch {
		case evictedFor != "":
			p.hangUp(c, "evicted", fmt.Sprintf("closed %s%s, idle %v, for %s: all %s were taken",
				c.source, overText(s.over), idle.Round(100*time.Millisecond), evictedFor, s.slots()))
		case sl.stalled.Load():
			p.hangUp(c, "frame-timeout", fmt.Sprintf("closed %s%s: a frame it began was not complete %v later",
				c.source, overText(s.over), s.lim.FrameTimeout))
		default:
			p.hangUp(c, "", "")
		}
		s.wg.Done()
	}()
	handle(conn, c, sl)
}

// slots names the server's slots in audit entries.
func (s *conns) slots() string {
	if s.over == "" {
		return fmt.Sprintf("%d connection slots", s.lim.MaxClients)
	}
	return fmt.Sprintf("%d %s connection slots", s.lim.MaxClients, s.over)
}

// overText names a protocol after a source in audit entries: nothing for
// Modbus.
func overText(over string) string {
	if over == "" {
		return ""
	}
	return " over " + over
}

// evictLocked frees the slot of the connection idle longest, if it has been
// idle for EvictAfter, for the connection from to; it returns the
// connection to close (its goroutine records the eviction).
func (s *conns) evictLocked(now time.Time, to string) net.Conn {
	if s.lim.EvictAfter < 0 {
		return nil
	}
	var victim net.Conn
	var oldest int64
	for c, sl := range s.open {
		if l := sl.last.Load(); victim == nil || l < oldest {
			victim, oldest = c, l
		}
	}
	idle := now.Sub(s.epoch) - time.Duration(oldest)
	if victim == nil || idle < s.lim.EvictAfter {
		return nil
	}
	sl := s.open[victim]
	sl.evictedFor, sl.evictedIdle = to, idle
	delete(s.open, victim)
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

// close stops every listener and connection and waits for them to end.
func (s *conns) close() {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// count is the number of open connections.
func (s *conns) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// served marks a frame completed (or the connection accepted) at now: the
// connection is idle from here, for eviction.
func (sl *slot) served(now time.Time) {
	sl.last.Store(int64(now.Sub(sl.cs.epoch)))
}

// errFrameTimeout is what reading a frame returns when its rest did not
// come within the frame timeout; the slot records it for the audit trail,
// so a handler just ends the connection.
var errFrameTimeout = errors.New("frame not complete within the frame timeout")

// beginFrame waits for the next frame to begin (until the connection's
// read deadline, which is the handler's idle bound, if any) and, when its
// first bytes do not hold it whole, bounds the rest by the frame timeout:
// pending says, from the buffered bytes, how many the frame still lacks
// (0 for a whole frame, or a start the reader rejects at once). deadline
// is the read deadline set, zero for none; a frame deadline later than it
// is not set. It reports whether it set one, for endFrame.
func (sl *slot) beginFrame(conn net.Conn, br *bufio.Reader, pending func([]byte) int, deadline time.Time) (bool, error) {
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			return false, err
		}
	}
	if b, _ := br.Peek(br.Buffered()); pending(b) == 0 {
		return false, nil
	}
	fd := time.Now().Add(sl.cs.lim.FrameTimeout)
	if !deadline.IsZero() && !fd.Before(deadline) {
		return false, nil
	}
	return true, conn.SetReadDeadline(fd)
}

// endFrame takes the outcome of reading a frame beginFrame bounded
// (framing): a read that timed out is errFrameTimeout, and after a whole
// frame the read deadline is deadline again. Without framing it returns
// err as it is.
func (sl *slot) endFrame(conn net.Conn, framing bool, err error, deadline time.Time) error {
	if !framing {
		return err
	}
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			sl.stalled.Store(true)
			return errFrameTimeout
		}
		return err
	}
	return conn.SetReadDeadline(deadline)
}
