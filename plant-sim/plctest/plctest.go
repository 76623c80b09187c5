// Package plctest serves simulated PLCs over real Modbus/TCP on 127.0.0.1
// for the tests of any package: the plant-sim server, the attack runner,
// the host agent and the commands all test against the real thing.
package plctest

import (
	"errors"
	"net"
	"testing"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// WaterTank is a noiseless water-tank PLC. Nothing advances its clock but
// the test, so every scan is explicit.
func WaterTank(tb testing.TB) *plantsim.PLC {
	tb.Helper()
	plc, err := plantsim.New(plantsim.Config{Model: "water-tank", Noise: 0})
	if err != nil {
		tb.Fatalf("new PLC: %v", err)
	}
	return plc
}

// Serve serves plc on 127.0.0.1:0 until the test ends and returns the
// server and its address.
func Serve(tb testing.TB, plc *plantsim.PLC, cfg plantsim.ServerConfig) (*plantsim.Server, string) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	srv := plantsim.NewServer(plc, cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, plantsim.ErrServerClosed) {
			tb.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, ln.Addr().String()
}
