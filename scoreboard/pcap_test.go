package scoreboard

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/icsrange/icsrange/engine/pcap"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// pcapSources reads a pcap and returns the IPv4 sources of its Modbus
// requests (TCP to port 502 with a payload).
func pcapSources(t *testing.T, b []byte) map[string]int {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a pcap: %v", err)
	}
	out := map[string]int{}
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatal("a packet that is not IPv4/TCP")
		}
		if tcp.DstPort == 502 && len(tcp.Payload) > 0 {
			out[ip.SrcIP.String()]++
		}
	}
}

// A team downloads its own traffic as a pcap and nobody else's; the
// instructor any team's.
func TestPcapDownloadAuth(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	// The attacker writes to team b's tank only.
	if err := f.x.FireInject(f.ctx, "b", "sneaky", "test"); err != nil {
		t.Fatal(err)
	}
	// Team a's trainee reads its own tank a few times.
	for _, e := range f.x.Endpoints() {
		if e.Team != "a" {
			continue
		}
		c, err := modbus.Dial(f.ctx, e.Modbus)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := c.ReadInputRegisters(1, 0, 2); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	f.advance(2 * time.Second)

	f.call("GET", "/api/pcap", "", nil).fails(t, "anonymous", http.StatusUnauthorized, "unauthorized")
	f.call("GET", "/api/pcap?team=b", "", nil).fails(t, "anonymous for b", http.StatusUnauthorized, "unauthorized")
	f.call("GET", "/api/pcap?team=b", "not-a-token", nil).fails(t, "bad token", http.StatusUnauthorized, "unauthorized")
	f.call("GET", "/api/pcap?team=b", f.team("a"), nil).fails(t, "team a asks for b", http.StatusForbidden, "forbidden")
	f.call("GET", "/api/pcap", f.instr(), nil).fails(t, "instructor without team", http.StatusBadRequest, "invalid")
	f.call("GET", "/api/pcap?team=nope", f.instr(), nil).fails(t, "unknown team", http.StatusNotFound, "not_found")
	f.call("GET", "/api/pcap?plc=nope", f.team("a"), nil).fails(t, "unknown plc", http.StatusNotFound, "not_found")

	get := func(what, path, tok, filename string) map[string]int {
		t.Helper()
		r := f.call("GET", path, tok, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", what, r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/vnd.tcpdump.pcap" {
			t.Fatalf("%s: Content-Type %q", what, ct)
		}
		want := `attachment; filename="` + f.x.ID() + "-" + filename + `.pcap"`
		if cd := r.header.Get("Content-Disposition"); cd != want {
			t.Fatalf("%s: Content-Disposition %q, want %q", what, cd, want)
		}
		return pcapSources(t, r.body)
	}
	own := get("team a, own", "/api/pcap", f.team("a"), "a")
	if own["127.0.0.1"] != 3 || own["10.0.0.66"] != 0 {
		t.Fatalf("team a's pcap holds team b's attack: %v", own)
	}
	if again := get("team a, own by name", "/api/pcap?team=a", f.team("a"), "a"); len(again) != len(own) {
		t.Fatalf("?team=a gave %v, without it %v", again, own)
	}
	b := get("team b, own", "/api/pcap?team=b&plc=tank", f.team("b"), "b-tank")
	if b["10.0.0.66"] != 1 {
		t.Fatalf("team b's pcap: want the attacker's write from 10.0.0.66, got %v", b)
	}
	if ib := get("instructor, b", "/api/pcap?team=b", f.instr(), "b"); ib["10.0.0.66"] != 1 {
		t.Fatalf("instructor's pcap of team b: %v", ib)
	}

	// Past the bound: 413, pointing at the command.
	rows, err := pcap.ReadRows(f.ctx, f.x.Store(), "a", "", 0)
	if err != nil || len(rows) < 2 {
		t.Fatalf("team a's log: %d rows, %v; the bound test needs two", len(rows), err)
	}
	old := maxPcapRows
	maxPcapRows = len(rows) - 1
	defer func() { maxPcapRows = old }()
	r := f.call("GET", "/api/pcap?team=a", f.instr(), nil)
	r.fails(t, "over the bound", http.StatusRequestEntityTooLarge, "too_large")
	if !strings.Contains(string(r.body), "icsrange pcap") {
		t.Fatalf("413 should point at icsrange pcap: %s", r.body)
	}
}
