//go:build unix

package scoreboard

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/scenario"
)

// 500 clients that ask to resume from seq 1 on a 20,000-event log and then
// never read cost a reading client nothing: while they connect, back up and
// are dropped, it gets every event, each within 1 s of its commit. They are
// all dropped once a write to them has waited WriteWait.
//
// The second is wall time, which a loaded machine steals from any process:
// a heartbeat goroutine measures how late it wakes, and twice its worst
// lag is added to the bound (a goroutine with more to do than a heartbeat
// loses more to a starved machine). A server that waits on a client, or
// on its log, doesn't delay the heartbeat; a machine that stops the
// process does.
//
// Under the race detector, which slows SQLite and everything else many
// times over, 100 non-readers and no time limit: the events must still all
// arrive in order and the non-readers all go.
func TestNonReadersDoNotDelayOthers(t *testing.T) {
	nonReaders, within := 500, time.Second
	if raceDetector {
		nonReaders, within = 100, 0
	}
	raiseFDLimit(t, uint64(2*nonReaders+256))
	const writeWait = 3 * time.Second
	// Small socket buffers: a client that stops reading backs up into the
	// server after a few KiB rather than megabytes.
	f := newFixture(t, fixtureConfig{logEvents: 20000, sndBuf: 8 << 10,
		opts: Options{PublicPerAddr: -1, WriteWait: writeWait, AnswerRate: rate.Inf}})
	ctx := context.Background()

	var lag atomic.Int64 // the heartbeat's worst lateness
	beat, beating := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(beating)
		for {
			t0 := time.Now()
			select {
			case <-beat:
				return
			case <-time.After(10 * time.Millisecond):
			}
			for late := int64(time.Since(t0) - 10*time.Millisecond); ; {
				old := lag.Load()
				if late <= old || lag.CompareAndSwap(old, late) {
					break
				}
			}
		}
	}()
	stopBeat := sync.OnceFunc(func() { close(beat); <-beating })
	defer stopBeat()

	healthy, _, _ := f.connect(f.instr(), 0)
	type arrival struct {
		seq int64
		lat time.Duration
	}
	var mu sync.Mutex
	var got []arrival
	readErr := make(chan error, 1)
	go func() {
		for {
			m, err := healthy.tryRead(2 * time.Minute)
			if err != nil {
				readErr <- err
				return
			}
			if m.Type != "event" {
				continue
			}
			now := time.Now()
			e := eventOf(t, m)
			mu.Lock()
			got = append(got, arrival{e.Seq, now.Sub(e.Time)})
			mu.Unlock()
			if e.Kind == engine.EvBroadcast && strings.Contains(e.Text.En, "final") {
				readErr <- nil
				return
			}
		}
	}()

	// The non-readers connect, 50 at a time, as events flow.
	// Their receive buffer is small from the SYN on, so the window they
	// offer stays small.
	small := net.Dialer{Control: func(network, address string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	dialer := websocket.Dialer{HandshakeTimeout: time.Minute, NetDialContext: small.DialContext}
	var conns sync.WaitGroup
	connected := make(chan *websocket.Conn, nonReaders)
	dialErr := make(chan error, nonReaders)
	conns.Go(func() {
		sem := make(chan struct{}, 50)
		var wg sync.WaitGroup
		for range nonReaders {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				c, _, err := dialer.Dial(f.ws, nil)
				if err != nil {
					dialErr <- err
					return
				}
				if err := c.WriteJSON(Message{Type: "hello", Data: []byte(`{"last_seq":1}`)}); err != nil {
					dialErr <- err
				}
				connected <- c
			})
		}
		wg.Wait()
	})
	t.Cleanup(func() {
		close(connected)
		for c := range connected {
			c.Close()
		}
	})

	// Events every 20 ms until every non-reader has connected and been
	// dropped (at least 100 of them).
	start := time.Now()
	peak := 0
	allIn := make(chan struct{})
	go func() { conns.Wait(); close(allIn) }()
	var lastIn time.Time
	text := strings.Repeat("x", 450)
	for i := 0; ; i++ {
		if err := f.x.Broadcast(ctx, scenario.Text{En: fmt.Sprint("n", i, " ", text)}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := f.x.Adjust(ctx, "a", 1, "steady"); err != nil {
				t.Fatal(err)
			}
		}
		peak = max(peak, f.s.Clients())
		select {
		case <-allIn:
			if lastIn.IsZero() {
				lastIn = time.Now()
			}
		default:
		}
		if !lastIn.IsZero() && f.s.Clients() == 1 && i >= 100 {
			break
		}
		if !lastIn.IsZero() && time.Since(lastIn) > writeWait+60*time.Second {
			t.Fatalf("%d clients still connected %v after the last non-reader connected; want the reading one only", f.s.Clients(), time.Since(lastIn))
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(dialErr)
	for err := range dialErr {
		t.Fatalf("a non-reader: %v", err)
	}
	f.broadcast("final")
	if err := <-readErr; err != nil {
		t.Fatalf("the reading client: %v", err)
	}
	stopBeat()
	if within > 0 {
		within += 2 * time.Duration(lag.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	var worst time.Duration
	for k, a := range got {
		worst = max(worst, a.lat)
		if k > 0 && a.seq != got[k-1].seq+1 {
			t.Fatalf("the reading client got seq %d after %d", a.seq, got[k-1].seq)
		}
		if within > 0 && a.lat > within {
			t.Errorf("event %d reached the reading client %v after its commit", a.seq, a.lat.Round(time.Millisecond))
		}
	}
	if peak < nonReaders/2 {
		t.Errorf("at most %d clients were connected at once: the non-readers did not overlap", peak)
	}
	t.Logf("%d events to the reading client in %v, slowest %v (bound %v: the heartbeat lagged %v at worst); up to %d clients at once; all non-readers dropped %v after the last connected",
		len(got), time.Since(start).Round(time.Millisecond), worst.Round(time.Millisecond), within.Round(time.Millisecond),
		time.Duration(lag.Load()).Round(time.Millisecond), peak, time.Since(lastIn).Round(time.Millisecond))
}
