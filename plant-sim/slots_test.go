package plantsim_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/modbus"
	"github.com/icsrange/icsrange/plant-sim/plctest"
)

// Connection slots: a client that holds one without using it gives it up
// (a frame it began and does not finish, or when all are taken and it has
// been idle longest), and one that keeps polling does not, so a flood still
// takes every slot as ATT&CK T0814 says.

// auditKinds counts a PLC's audit entries by kind.
func auditKinds(plc *plantsim.PLC) map[string]int {
	n := map[string]int{}
	for _, a := range plc.Capture(0).Audit {
		n[a.Kind]++
	}
	return n
}

// tryRead is a new client's FC3 read, as a trainee's tool makes it: nil
// once the server has served it.
func tryRead(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := modbus.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.Timeout = 2 * time.Second
	_, err = c.ReadHoldingRegisters(1, 0, 1)
	return err
}

// slowloris connects and sends the start of an MBAP header, then one byte
// every second, never finishing the frame in time, until the server closes
// the connection or stop is closed.
func slowloris(t *testing.T, addr string, stop <-chan struct{}, wg *sync.WaitGroup) {
	t.Helper()
	conn := dialRaw(t, addr)
	frame := adu(1, 1, 0x03, 0x00, 0x00, 0x00, 0x01) // 12 bytes: 12 s at a byte a second
	if _, err := conn.Write(frame[:3]); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 3; i < len(frame); i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write(frame[i : i+1]); err != nil {
				return // closed by the server
			}
		}
	})
}

// 32 slowloris clients take every slot; a new client's FC3 read is served
// within 6 s (it takes a slot idle for DefaultEvictAfter, 3 s), and the
// slowloris clients that kept theirs lose them to the frame timeout (5 s).
// The PLC's audit trail shows both.
func TestModbusSlowlorisFreesSlots(t *testing.T) {
	t.Parallel()
	plc := plctest.WaterTank(t)
	srv, addr := plctest.Serve(t, plc, plantsim.ServerConfig{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	for range plantsim.DefaultMaxClients {
		slowloris(t, addr, stop, &wg)
	}
	waitFor(t, "32 slowloris connections", func() bool { return srv.Clients() == plantsim.DefaultMaxClients })

	start := time.Now()
	var err error
	for err = tryRead(addr); err != nil && time.Since(start) < 6*time.Second; err = tryRead(addr) {
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("no FC3 read served within 6 s of 32 slowloris clients: %v", err)
	}
	t.Logf("a new client was served %v after 32 slowloris clients took every slot", time.Since(start).Round(10*time.Millisecond))
	waitFor(t, "the slowloris clients' frame timeouts", func() bool {
		return auditKinds(plc)["frame-timeout"] >= plantsim.DefaultMaxClients-1 && srv.Clients() == 0
	})
	if n := auditKinds(plc)["evicted"]; n < 1 {
		t.Errorf("%d evictions in the audit trail, want the slot the new client took", n)
	}
	for _, a := range plc.Capture(0).Audit {
		if a.Kind == "frame-timeout" && !strings.Contains(a.Detail, "not complete 5s later") {
			t.Errorf("frame timeout recorded as %q", a.Detail)
		}
	}
}

// 31 idle clients and one that polls fill every slot; a new client takes
// the slot of an idle one, never the poller's.
func TestModbusIdleClientsYieldSlots(t *testing.T) {
	t.Parallel()
	plc := plctest.WaterTank(t)
	srv, addr := plctest.Serve(t, plc, plantsim.ServerConfig{})
	idle := map[string]bool{}
	for range plantsim.DefaultMaxClients - 1 {
		conn := dialRaw(t, addr)
		roundTrip(t, conn, adu(1, 1, 0x03, 0x00, 0x00, 0x00, 0x01))
		idle[conn.LocalAddr().String()] = true
	}
	poller := ourClient(t, addr)
	polling, stop := make(chan error, 1), make(chan struct{})
	defer func() { close(stop); <-polling }()
	go func() {
		for {
			select {
			case <-stop:
				polling <- nil
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := poller.ReadHoldingRegisters(1, 0, 1); err != nil {
				polling <- err
				return
			}
		}
	}()
	waitFor(t, "every slot taken", func() bool { return srv.Clients() == plantsim.DefaultMaxClients })

	waitFor(t, "a new client served", func() bool { return tryRead(addr) == nil })
	var evicted []string
	for _, a := range plc.Capture(0).Audit {
		if a.Kind == "evicted" {
			evicted = append(evicted, a.Source)
		}
	}
	if len(evicted) == 0 {
		t.Fatal("no eviction in the audit trail")
	}
	for _, src := range evicted {
		if !idle[src] {
			t.Errorf("evicted %s, which is not one of the idle clients", src)
		}
	}
	select {
	case err := <-polling:
		t.Fatalf("the polling client lost its connection: %v", err)
	default:
	}
	if _, err := poller.ReadHoldingRegisters(1, 0, 1); err != nil {
		t.Fatalf("the polling client after the eviction: %v", err)
	}
}

// A flood's connections poll all the time: none is ever idle long enough
// to give up its slot, so trainees' tools are refused until it ends.
func TestModbusFloodStillExhausts(t *testing.T) {
	t.Parallel()
	plc := plctest.WaterTank(t)
	srv, addr := plctest.Serve(t, plc, plantsim.ServerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := attack.NewRunner(ctx)
	defer r.Wait()
	res, err := r.Run(ctx, attack.Spec{Kind: attack.Flood, Targets: []string{addr}, Unit: 1, For: time.Minute})
	if err != nil || res.Outcome != attack.OK {
		t.Fatalf("flood: %+v %v", res, err)
	}
	waitFor(t, "the flood in every slot", func() bool { return srv.Clients() == plantsim.DefaultMaxClients })

	// Past the eviction age, a trainee is still refused.
	until := time.Now().Add(plantsim.DefaultEvictAfter + time.Second)
	for n := 1; time.Now().Before(until); n++ {
		if err := tryRead(addr); err == nil {
			t.Fatalf("attempt %d: a trainee's read was served during the flood", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	k := auditKinds(plc)
	if k["evicted"] != 0 || k["refused"] == 0 {
		t.Fatalf("audit kinds %v: want refusals and no eviction", k)
	}
	r.StopAll()
	waitFor(t, "a trainee served once the flood ends", func() bool { return tryRead(addr) == nil })
}

// A frame begun and not completed within the frame timeout loses its
// connection; one sent in pieces within it is served.
func TestModbusFrameTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	plc := plctest.WaterTank(t)
	_, addr := plctest.Serve(t, plc, plantsim.ServerConfig{FrameTimeout: timeout})
	frame := adu(7, 1, 0x03, 0x00, 0x00, 0x00, 0x01)

	conn := dialRaw(t, addr)
	start := time.Now()
	if _, err := conn.Write(frame[:5]); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, conn)
	if el := time.Since(start); el < timeout {
		t.Fatalf("closed after %v, before the frame timeout of %v", el, timeout)
	}
	waitFor(t, "the frame timeout in the audit trail", func() bool { return auditKinds(plc)["frame-timeout"] == 1 })

	// In three pieces, each well within the timeout.
	conn = dialRaw(t, addr)
	for _, piece := range [][]byte{frame[:3], frame[3:8], frame[8:]} {
		if _, err := conn.Write(piece); err != nil {
			t.Fatal(err)
		}
		time.Sleep(timeout / 10)
	}
	if resp := readADU(t, conn); resp[0] != 0 || resp[1] != 7 || resp[7] != 0x03 {
		t.Fatalf("response % x to a frame sent in pieces", resp)
	}
	// Idle between frames is the idle timeout's business, not this one's.
	time.Sleep(2 * timeout)
	roundTrip(t, conn, frame)
	if n := auditKinds(plc)["frame-timeout"]; n != 1 {
		t.Fatalf("%d frame timeouts, want only the first client's", n)
	}
}
