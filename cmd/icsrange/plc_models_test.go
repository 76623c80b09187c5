package main

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// Every model runs standalone as `icsrange plc --model NAME`: it scans on
// wall time, serves its whole register map over Modbus/TCP with the standard
// logic's checksum and values inside their ranges, and stops cleanly.
func TestPLCEveryModelStandalone(t *testing.T) {
	file, _ := tokenFile(t)
	for _, name := range plantsim.ModelNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd, first, sc := startBinary(t, nil, "plc", "--model", name, "--listen", "127.0.0.1:0",
				"--mgmt", "127.0.0.1:0", "--token-file", file)
			if !strings.HasPrefix(first, "plc "+name+" ("+name+") modbus=") {
				t.Fatalf("first line %q", first)
			}
			addr := strings.Fields(strings.TrimPrefix(first, "plc "+name+" ("+name+") modbus="))[0]
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := modbus.Dial(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Timeout = 10 * time.Second
			model, _ := plantsim.LookupModel(name)
			l := model.Layout()

			diag := func() []uint16 {
				t.Helper()
				d, err := c.ReadInputRegisters(1, plantsim.DiagBase, 8)
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			scans := func(d []uint16) uint32 {
				return uint32(d[plantsim.DiagScanCountHi])<<16 | uint32(d[plantsim.DiagScanCountLo])
			}
			d := diag()
			start := scans(d)
			for deadline := time.Now().Add(20 * time.Second); scans(d) < start+3; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("scan count stuck at %d", scans(d))
				}
				d = diag()
			}
			if sum := uint32(d[plantsim.DiagChecksumHi])<<16 | uint32(d[plantsim.DiagChecksumLo]); sum != model.Checksum(0) {
				t.Fatalf("checksum %08X, want the standard program's %08X", sum, model.Checksum(0))
			}
			if d[plantsim.DiagMode] != 1 {
				t.Fatalf("mode %d, want 1 (run)", d[plantsim.DiagMode])
			}
			if _, err := c.ReadCoils(1, 0, uint16(len(l.Tables[plantsim.Coil]))); err != nil {
				t.Fatalf("coils: %v", err)
			}
			if _, err := c.ReadDiscreteInputs(1, 0, uint16(len(l.Tables[plantsim.DiscreteInput]))); err != nil {
				t.Fatalf("discrete inputs: %v", err)
			}
			for _, tb := range []plantsim.Table{plantsim.InputRegister, plantsim.HoldingRegister} {
				tags := l.Tables[tb]
				read := c.ReadInputRegisters
				if tb == plantsim.HoldingRegister {
					read = c.ReadHoldingRegisters
				}
				regs, err := read(1, plantsim.FloatBase, uint16(2*len(tags)))
				if err != nil {
					t.Fatalf("%s floats: %v", tb, err)
				}
				for k, i := range tags {
					def := model.Tags[i]
					v := float64(math.Float32frombits(uint32(regs[2*k])<<16 | uint32(regs[2*k+1])))
					// Noise may reach a range's edge; it is clamped there.
					if math.IsNaN(v) || v < def.Min || v > def.Max {
						t.Errorf("%s = %g outside %g..%g", def.Name, v, def.Min, def.Max)
					}
				}
			}
			if code, rest := stop(t, cmd, sc); code != 0 || !strings.Contains(rest, "stopped") {
				t.Fatalf("exit %d: %s", code, rest)
			}
		})
	}
}
