package plantsim

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by a protocol server's Serve after Close.
var ErrServerClosed = errors.New("server closed")

// conns is what every protocol server of a PLC shares: its listeners, its
// open connections and the bound on them, and an orderly close.
type conns struct {
	plc  *PLC
	max  int
	over string // the protocol in audit entries ("" for Modbus)

	seq       atomic.Uint64
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	open      map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

func newConns(plc *PLC, max int, over string) *conns {
	if max <= 0 {
		max = DefaultMaxClients
	}
	return &conns{plc: plc, max: max, over: over, listeners: map[net.Listener]struct{}{}, open: map[net.Conn]struct{}{}}
}

// serve accepts connections on ln until close, running handle for each in
// its own goroutine and closing the connection when handle returns. A
// connection past the limit is accepted and closed at once. It always
// returns an error.
func (s *conns) serve(ln net.Listener, handle func(net.Conn, *connInfo)) error {
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
		if s.closed || len(s.open) >= s.max {
			full := !s.closed
			s.mu.Unlock()
			if full {
				detail := fmt.Sprintf("refused %s: all %d connection slots taken", conn.RemoteAddr(), s.max)
				if s.over != "" {
					detail = fmt.Sprintf("refused %s: all %d %s connection slots taken", conn.RemoteAddr(), s.max, s.over)
				}
				s.plc.audit(s.plc.Now(), "refused", conn.RemoteAddr().String(), detail)
			}
			conn.Close()
			continue
		}
		s.open[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			c := newConnInfo(s.seq.Add(1), conn, s.over)
			defer func() {
				conn.Close()
				s.mu.Lock()
				delete(s.open, conn)
				s.mu.Unlock()
				s.plc.hangUp(c)
				s.wg.Done()
			}()
			handle(conn, c)
		}()
	}
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
