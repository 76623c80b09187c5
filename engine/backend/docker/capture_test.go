package docker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/internal/testtool"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// The PLC containers capture the real packets at their own interfaces:
// an attack from the attacker's container and a trainee's read through
// the published port are collected by the engine into the exercise's
// store, and after the containers are gone `icsrange pcap` writes them as
// a capture that tshark dissects as Modbus/TCP without a malformed packet,
// a duplicate or a bad checksum, the attacker's Docker address the source
// of its write.
func TestCapturedPackets(t *testing.T) {
	needDocker(t)
	bin := testtool.Need(t, "tshark", "tshark")
	ctx := context.Background()
	sc, err := scenario.Load("docker.yaml", []byte(twoZones))
	if err != nil {
		t.Fatal(err)
	}
	be := &Backend{Binary: testBinary, Log: testLog{t}}
	dir := t.TempDir()
	x, err := engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(twoZones), Teams: []string{"a"},
		DataDir: dir, Backend: be, BackendName: "docker", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := x.ID()
	closed := false
	t.Cleanup(func() {
		if !closed {
			x.Close()
		}
		if err := be.Destroy(context.Background(), id); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	d := x.Deployment().(*Deployment)
	attacker, plcIP := d.HostAddress("a", "attacker"), d.PLCAddress("a", "tank")
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}

	// The attacker writes level_sp across the router; a
	// trainee's tool reads through the port published for the engine.
	res, err := d.Do(ctx, "a", write(2.5))
	if err != nil || res.Outcome != "ok" {
		t.Fatalf("attack: %+v %v", res, err)
	}
	ep, _ := d.Endpoint("a", "tank")
	c, err := modbus.Dial(ctx, ep.Modbus)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadHoldingRegisters(1, 0, 4); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// Collections run once a second of exercise time.
	if err := x.Step(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	pkts, err := x.Store().Packets(ctx, store.PacketFilter{Team: "a", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) == 0 {
		t.Fatal("the engine stored no packets of team a's PLC")
	}
	t.Logf("%d packets stored", len(pkts))

	// The containers go; the capture stays in the data dir.
	closed = true
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := be.Destroy(ctx, id); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "a.pcap")
	out, err := exec.Command(testBinary, "pcap", "--data", dir, "--team", "a", "-o", file).CombinedOutput()
	if err != nil {
		t.Fatalf("icsrange pcap: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "packets captured at the PLCs' interfaces") {
		t.Fatalf("icsrange pcap did not write the captured packets: %s", out)
	}
	t.Logf("icsrange pcap: %s", out)

	// ICSRANGE_KEEP_PCAP=FILE keeps the capture, for a look in Wireshark.
	if keep := os.Getenv("ICSRANGE_KEEP_PCAP"); keep != "" {
		b, _ := os.ReadFile(file)
		os.WriteFile(keep, b, 0o644)
	}
	if n := strings.Count(testtool.Tshark(t, bin, "-r", file, "-Y", "mbtcp"), "\n"); n < 4 {
		t.Fatalf("tshark dissects %d Modbus/TCP packets, want the write's and the read's requests and responses", n)
	}
	for _, filter := range []string{"_ws.malformed", "tcp.analysis.retransmission || tcp.analysis.duplicate_ack"} {
		if out := testtool.Tshark(t, bin, "-r", file, "-Y", filter); strings.TrimSpace(out) != "" {
			t.Fatalf("%s:\n%s", filter, out)
		}
	}
	if out := testtool.Tshark(t, bin, "-r", file, "-o", "tcp.check_checksum:TRUE", "-Y", "tcp.checksum.status != 1"); strings.TrimSpace(out) != "" {
		t.Fatalf("TCP checksums wrong or unverified:\n%s", out)
	}
	fields := testtool.Tshark(t, bin, "-r", file, "-Y", "mbtcp && tcp.dstport == 502", "-T", "fields", "-E", "separator=,",
		"-e", "ip.src", "-e", "ip.dst", "-e", "modbus.func_code")
	t.Logf("Modbus requests (ip.src,ip.dst,fc):\n%s", fields)
	writes, reads := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(fields), "\n") {
		f := strings.Split(line, ",")
		switch {
		case len(f) == 3 && f[0] == attacker && f[1] == plcIP && f[2] == "6":
			writes++
		case len(f) == 3 && f[2] == "3" && f[0] != attacker:
			reads++
		}
	}
	if writes != 1 || reads != 1 {
		t.Fatalf("want one write (FC 6) from the attacker %s to %s and one read from the trainee's tool; got %d and %d", attacker, plcIP, writes, reads)
	}
}
