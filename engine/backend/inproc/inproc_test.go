package inproc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

// A PLC's frame timeout from the plan reaches its Modbus server: a client
// that begins a frame and stops loses its connection after it, and not
// before.
func TestProvisionAppliesFrameTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	plan := backend.Plan{ExerciseID: "x", Seed: 1, Teams: []string{"a"}, Topology: plant.NewTopology([]string{"control"}, nil,
		[]plant.PLC{{ID: "tank", Model: "water-tank", Zone: "control", UnitID: 1, FrameTimeout: timeout}}, nil)}
	ctx := context.Background()
	d, err := (&inproc.Backend{}).Provision(ctx, plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	eps := d.Endpoints()
	if len(eps) != 1 {
		t.Fatalf("endpoints %v", eps)
	}
	conn, err := net.DialTimeout("tcp", eps[0].Modbus, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte{0, 1, 0, 0}); err != nil { // the start of an MBAP header
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = conn.Read(make([]byte, 16))
	el := time.Since(start)
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after a partial frame: %v, want the server to close the connection", err)
	}
	if el < timeout {
		t.Fatalf("closed after %v, before the plan's frame timeout of %v", el, timeout)
	}
}
