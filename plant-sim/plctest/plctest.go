// Package plctest serves simulated PLCs over real Modbus/TCP (and IEC
// 60870-5-104 and OPC UA) on 127.0.0.1 for the tests of any package: the
// plant-sim servers, the attack runner, the host agent and the commands
// all test against the real thing.
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
	srv := plantsim.NewServer(plc, cfg)
	return srv, serve(tb, srv)
}

// ServeIEC104 serves plc as an IEC 60870-5-104 station on 127.0.0.1:0
// until the test ends and returns the server and its address.
func ServeIEC104(tb testing.TB, plc *plantsim.PLC, cfg plantsim.IEC104Config) (*plantsim.IEC104Server, string) {
	tb.Helper()
	srv, err := plantsim.NewIEC104Server(plc, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return srv, serve(tb, srv)
}

// ServeOPCUA serves plc over OPC UA on 127.0.0.1:0 until the test ends and
// returns the server and its endpoint URL (opc.tcp://127.0.0.1:PORT).
func ServeOPCUA(tb testing.TB, plc *plantsim.PLC, cfg plantsim.OPCUAConfig) (*plantsim.OPCUAServer, string) {
	tb.Helper()
	srv, err := plantsim.NewOPCUAServer(plc, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return srv, "opc.tcp://" + serve(tb, srv)
}

// serve runs a protocol server on 127.0.0.1:0 until the test ends.
func serve(tb testing.TB, srv interface {
	Serve(net.Listener) error
	Close() error
}) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, plantsim.ErrServerClosed) {
			tb.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}
