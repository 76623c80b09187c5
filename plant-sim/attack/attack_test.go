package attack_test

import (
	"context"
	"errors"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/modbus"
	"github.com/icsrange/icsrange/plant-sim/plctest"
)

// startPLC serves a noiseless water-tank PLC on 127.0.0.1:0; nothing but the
// test advances its clock.
func startPLC(t *testing.T, scfg plantsim.ServerConfig) (*plantsim.PLC, *plantsim.Server, string) {
	t.Helper()
	plc := plctest.WaterTank(t)
	srv, addr := plctest.Serve(t, plc, scfg)
	return plc, srv, addr
}

func scan(plc *plantsim.PLC) { plc.Advance(plc.Now() + plc.ScanPeriod()) }

func truth(t *testing.T, plc *plantsim.PLC, tag string) float64 {
	t.Helper()
	for _, v := range plc.Tags() {
		if v.Name == tag {
			return v.Truth
		}
	}
	t.Fatalf("no tag %q", tag)
	return 0
}

// closedAddr is a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestAttackWrite(t *testing.T) {
	plc, _, addr := startPLC(t, plantsim.ServerConfig{})
	r := attack.NewRunner(t.Context())
	// level_sp is holding register 0, 0..10 m over 0..65535.
	res, err := r.Run(t.Context(), attack.Spec{Kind: attack.Write, Targets: []string{addr}, Unit: 1, Addr: 0, Value: 29491})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != attack.OK || res.Detail != "wrote 29491 to "+addr+" unit 1 register 0" {
		t.Fatalf("result %+v", res)
	}
	scan(plc)
	if v := truth(t, plc, "level_sp"); math.Abs(v-4.5) > 1e-3 {
		t.Fatalf("level_sp = %v after the write, want 4.5", v)
	}
	// The capture shows an FC6 from the attacker's connection.
	var fc6 bool
	for _, tx := range plc.Capture(0).Transactions {
		if tx.Function == modbus.FuncWriteSingleRegister && tx.Addr == 0 && len(tx.Values) == 1 && tx.Values[0] == 29491 {
			fc6 = true
		}
	}
	if !fc6 {
		t.Fatal("no FC6 in the capture")
	}
	// An address the PLC doesn't have is a failure, not a blocked attack.
	_, err = r.Run(t.Context(), attack.Spec{Kind: attack.Write, Targets: []string{addr}, Unit: 1, Addr: 9999, Value: 1})
	if !errors.As(err, new(modbus.Exception)) || !strings.Contains(err.Error(), "register 9999") {
		t.Fatalf("write to a missing register: %v", err)
	}
}

func TestAttackCoil(t *testing.T) {
	plc, _, addr := startPLC(t, plantsim.ServerConfig{})
	r := attack.NewRunner(t.Context())
	before := truth(t, plc, "pump1_run")
	want := 1 - before
	res, err := r.Run(t.Context(), attack.Spec{Kind: attack.Coil, Targets: []string{addr}, Unit: 1, Addr: 1, Value: uint16(want)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != attack.OK || !strings.Contains(res.Detail, "coil 1") {
		t.Fatalf("result %+v", res)
	}
	scan(plc)
	if v := truth(t, plc, "pump1_run"); v != want {
		t.Fatalf("pump1_run = %v, want %v", v, want)
	}
	if _, err := r.Run(t.Context(), attack.Spec{Kind: attack.Coil, Targets: []string{addr}, Value: 2}); err == nil {
		t.Fatal("coil value 2 accepted")
	}
}

func TestAttackScan(t *testing.T) {
	plc, _, addr := startPLC(t, plantsim.ServerConfig{})
	closed := closedAddr(t)
	r := attack.NewRunner(t.Context())
	r.DialTimeout = time.Second
	res, err := r.Run(t.Context(), attack.Spec{Kind: attack.Scan, Targets: []string{addr, closed}, Unit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != attack.OK {
		t.Fatalf("result %+v", res)
	}
	for _, want := range []string{"scan found " + addr, "icsrange ICSR-water-tank", "units answering [1]", "could not connect to " + closed + ": connection refused"} {
		if !strings.Contains(res.Detail, want) {
			t.Errorf("detail lacks %q: %s", want, res.Detail)
		}
	}
	// What the PLC saw: device identification, the unit sweep, reads.
	seen := map[[2]byte]bool{}
	for _, tx := range plc.Capture(0).Transactions {
		seen[[2]byte{tx.Unit, tx.Function}] = true
	}
	for _, want := range [][2]byte{
		{1, modbus.FuncEncapsulatedInterface},
		{1, modbus.FuncReadHoldingRegisters}, {2, modbus.FuncReadHoldingRegisters},
		{3, modbus.FuncReadHoldingRegisters}, {4, modbus.FuncReadHoldingRegisters},
		{1, modbus.FuncReadCoils}, {1, modbus.FuncReadInputRegisters},
	} {
		if !seen[want] {
			t.Errorf("capture has no FC%d to unit %d", want[1], want[0])
		}
	}
	// Nothing reachable: blocked.
	res, err = r.Run(t.Context(), attack.Spec{Kind: attack.Scan, Targets: []string{closed}, Unit: 1})
	if err != nil || res.Outcome != attack.Blocked {
		t.Fatalf("scan of a closed port: %+v, %v", res, err)
	}
}

func TestAttackFlood(t *testing.T) {
	const max = 8
	_, srv, addr := startPLC(t, plantsim.ServerConfig{MaxClients: max})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := attack.NewRunner(ctx)
	res, err := r.Run(t.Context(), attack.Spec{Kind: attack.Flood, Targets: []string{addr}, Unit: 1, Slots: 2 * max, For: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != attack.OK || res.Detail != "flooding "+addr+" with 16 connections" {
		t.Fatalf("result %+v", res)
	}
	if r.Running() != 1 {
		t.Fatalf("running %d floods, want 1", r.Running())
	}
	waitFor(t, "every slot taken", func() bool { return srv.Clients() == max })
	// A trainee's tool is turned away.
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection past the limit was served")
	}
	c.Close()
	// The PLC stays busy: requests keep coming on the held connections.
	// Cancelling the runner's context ends the flood and frees the slots.
	cancel()
	done := make(chan struct{})
	go func() { r.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("flood did not stop")
	}
	if r.Running() != 0 {
		t.Fatalf("running %d floods after the stop", r.Running())
	}
	waitFor(t, "slots freed", func() bool { return srv.Clients() == 0 })
}

func TestAttackFloodStopAllAndDuration(t *testing.T) {
	plc, srv, addr := startPLC(t, plantsim.ServerConfig{MaxClients: 4})
	r := attack.NewRunner(t.Context())
	if _, err := r.Run(t.Context(), attack.Spec{Kind: attack.Flood, Targets: []string{addr}, Slots: 4, For: time.Minute}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "slots taken", func() bool { return srv.Clients() == 4 })
	before := len(plc.Capture(0).Transactions)
	waitFor(t, "polling", func() bool { return len(plc.Capture(0).Transactions) > before+8 })
	if n := r.StopAll(); n != 1 {
		t.Fatalf("StopAll stopped %d floods", n)
	}
	r.Wait()
	waitFor(t, "slots freed", func() bool { return srv.Clients() == 0 })

	// A flood ends by itself when its time is up.
	start := time.Now()
	if _, err := r.Run(t.Context(), attack.Spec{Kind: attack.Flood, Targets: []string{addr}, Slots: 2, For: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	r.Wait()
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("a 300ms flood took %v", d)
	}
}

func TestAttackBlocked(t *testing.T) {
	closed := closedAddr(t)
	r := attack.NewRunner(t.Context())
	for _, k := range []attack.Kind{attack.Write, attack.Coil, attack.Scan, attack.Flood} {
		res, err := r.Run(t.Context(), attack.Spec{Kind: k, Targets: []string{closed}, Unit: 1})
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if res.Outcome != attack.Blocked || !strings.Contains(res.Detail, closed+": connection refused") {
			t.Fatalf("%s: %+v", k, res)
		}
	}
	if r.Running() != 0 {
		t.Fatal("a blocked flood is running")
	}
	// A connection nobody answers is blocked after the dial timeout.
	r.DialTimeout = 200 * time.Millisecond
	r.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	start := time.Now()
	res, err := r.Run(t.Context(), attack.Spec{Kind: attack.Write, Targets: []string{"10.255.255.1:502"}})
	if err != nil || res.Outcome != attack.Blocked || !strings.Contains(res.Detail, "no answer within 200ms") {
		t.Fatalf("timeout: %+v, %v", res, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("blocked after %v", d)
	}
	// A cancelled request is an error, not blocked.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Run(ctx, attack.Spec{Kind: attack.Write, Targets: []string{"10.255.255.1:502"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestAttackSpecNormalize(t *testing.T) {
	s := attack.Spec{Kind: attack.Flood, Targets: []string{"10.0.0.1", "10.0.0.1:502", "[fd00::1]:1502", "plc1:502"}}
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Targets, " "); got != "10.0.0.1:502 [fd00::1]:1502 plc1:502" {
		t.Fatalf("targets %s", got)
	}
	if s.For != attack.DefaultFor || s.Slots != attack.DefaultSlots {
		t.Fatalf("defaults %v %d", s.For, s.Slots)
	}
	for _, bad := range []attack.Spec{
		{Kind: "nuke", Targets: []string{"10.0.0.1"}},
		{Kind: attack.Write},
		{Kind: attack.Write, Targets: []string{"10.0.0.1:0"}},
		{Kind: attack.Write, Targets: []string{"10.0.0.1:99999"}},
		{Kind: attack.Write, Targets: []string{":502"}},
		{Kind: attack.Flood, Targets: []string{"10.0.0.1"}, Slots: attack.MaxSlots + 1},
		{Kind: attack.Flood, Targets: []string{"10.0.0.1"}, For: -time.Second},
	} {
		if err := bad.Normalize(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
