package pcap

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/internal/testtool"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// adu builds a Modbus/TCP frame: MBAP header and PDU.
func adu(txID uint16, unit byte, pdu ...byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, txID)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pdu)+1))
	b = append(b, unit)
	return append(b, pdu...)
}

// decoded is a packet read back from a written pcap.
type decoded struct {
	at       time.Time
	src, dst netip.AddrPort
	tcp      *layers.TCP
	ip       *layers.IPv4
	raw      []byte
}

func (d decoded) flags() string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{{d.tcp.SYN, "SYN"}, {d.tcp.FIN, "FIN"}, {d.tcp.PSH, "PSH"}, {d.tcp.ACK, "ACK"}} {
		if x.on {
			f = append(f, x.name)
		}
	}
	return strings.Join(f, "|")
}

func readBack(t *testing.T, b []byte) []decoded {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v, want Ethernet", r.LinkType())
	}
	var out []decoded
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("packet %d does not decode: %v", len(out)+1, el.Error())
		}
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("packet %d is not IPv4/TCP", len(out)+1)
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		out = append(out, decoded{at: ci.Timestamp, src: netip.AddrPortFrom(src, uint16(tcp.SrcPort)),
			dst: netip.AddrPortFrom(dst, uint16(tcp.DstPort)), tcp: tcp, ip: ip, raw: data})
	}
}

// sum16 is the Internet checksum's one's-complement sum.
func sum16(b []byte, acc uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		acc += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		acc += uint32(b[len(b)-1]) << 8
	}
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return acc
}

// checkChecksums verifies the IPv4 header and TCP checksums of a frame.
func checkChecksums(t *testing.T, d decoded) {
	t.Helper()
	ipHdr := d.raw[14 : 14+20]
	if sum16(ipHdr, 0) != 0xffff {
		t.Fatalf("bad IPv4 header checksum %04x", d.ip.Checksum)
	}
	seg := d.raw[14+20 : 14+int(d.ip.Length)]
	pseudo := append(append(append([]byte{}, d.ip.SrcIP.To4()...), d.ip.DstIP.To4()...), 0, 6, byte(len(seg)>>8), byte(len(seg)))
	if sum16(seg, sum16(pseudo, 0)) != 0xffff {
		t.Fatalf("bad TCP checksum %04x", d.tcp.Checksum)
	}
}

var t0 = time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)

func testRows() []store.TrafficRow {
	read := adu(1, 1, 3, 0, 0, 0, 2)
	readResp := adu(1, 1, 3, 4, 0, 1, 0, 2)
	write := adu(2, 1, 6, 0, 1, 0x40, 0)
	return []store.TrafficRow{
		{ID: 1, PLC: "tank", Clock: 5 * time.Second, Conn: 7, Source: "10.20.1.66:40001", Listen: "127.0.0.1:40937",
			Function: 3, Request: read, Response: readResp, Count: 1},
		// Same PLC scan: the same clock as the first.
		{ID: 2, PLC: "tank", Clock: 5 * time.Second, Conn: 7, Source: "10.20.1.66:40001", Listen: "127.0.0.1:40937",
			Function: 6, Request: write, Response: write, Count: 1},
		// A flood summary: no frames.
		{ID: 3, PLC: "tank", Clock: 6 * time.Second, Conn: 8, Source: "10.20.1.66:40002", Listen: "127.0.0.1:40937",
			Function: 3, Count: 40},
		// Dropped (communication loss): no response.
		{ID: 4, PLC: "tank", Clock: 7 * time.Second, Conn: 7, Source: "10.20.1.66:40001", Listen: "127.0.0.1:40937",
			Function: 3, Request: adu(3, 1, 3, 0, 0, 0, 1), NoReply: true, Count: 1},
		// A trainee's tool from IPv6, and a PLC behind a real address.
		{ID: 5, PLC: "pump", Clock: 8 * time.Second, Conn: 1, Source: "[2001:db8::5]:50000", Listen: "192.0.2.10:502",
			Function: 3, Request: read, Response: readResp, Count: 1},
		// A forwarded session with no address at all.
		{ID: 6, PLC: "pump", Clock: 9 * time.Second, Conn: 2, Source: "pipe", Listen: "pipe",
			Function: 3, Request: read, Response: readResp, Count: 1},
	}
}

// The stream of one connection: handshake, data with consistent seq/ack,
// a pure ACK for the dropped request, and the close.
func TestPcapStreamConstruction(t *testing.T) {
	var buf bytes.Buffer
	rows := testRows()
	plcAddr := map[string]netip.Addr{"tank": netip.MustParseAddr("10.20.2.100"), "pump": netip.MustParseAddr("10.20.2.101")}
	st, err := WriteStats(&buf, rows, Options{Start: t0, PLCAddr: plcAddr})
	if err != nil {
		t.Fatal(err)
	}
	if st.Streams != 3 || st.Transactions != 5 || st.Summaries != 1 || st.Summarised != 40 || st.Unframed != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.Mapped["2001:db8::5"] != "10.99.0.1" || st.Mapped["pipe"] != "10.99.0.2" || len(st.Mapped) != 2 {
		t.Fatalf("mapped %v", st.Mapped)
	}
	pkts := readBack(t, buf.Bytes())
	if st.Packets != len(pkts) {
		t.Fatalf("stats say %d packets, file has %d", st.Packets, len(pkts))
	}
	client := netip.MustParseAddrPort("10.20.1.66:40001")
	server := netip.MustParseAddrPort("10.20.2.100:502")
	var s []decoded
	for i, p := range pkts {
		checkChecksums(t, p)
		if i > 0 && p.at.Before(pkts[i-1].at) {
			t.Fatalf("packet %d is older than the one before", i+1)
		}
		if p.src == client || p.dst == client {
			s = append(s, p)
		}
	}
	want := []struct {
		fromClient bool
		flags      string
		payload    int
	}{
		{true, "SYN", 0}, {false, "SYN|ACK", 0}, {true, "ACK", 0},
		{true, "PSH|ACK", len(rows[0].Request)}, {false, "PSH|ACK", len(rows[0].Response)},
		{true, "PSH|ACK", len(rows[1].Request)}, {false, "PSH|ACK", len(rows[1].Response)},
		{true, "PSH|ACK", len(rows[3].Request)}, {false, "ACK", 0},
		{true, "FIN|ACK", 0}, {false, "FIN|ACK", 0}, {true, "ACK", 0},
	}
	if len(s) != len(want) {
		for _, p := range s {
			t.Logf("%s → %s %s seq=%d ack=%d len=%d", p.src, p.dst, p.flags(), p.tcp.Seq, p.tcp.Ack, len(p.tcp.Payload))
		}
		t.Fatalf("stream of conn 7: %d packets, want %d", len(s), len(want))
	}
	cISN, sISN := s[0].tcp.Seq, s[1].tcp.Seq
	if cISN != isn("client", "tank", 7) || sISN != isn("server", "tank", 7) {
		t.Fatal("ISNs are not derived from the PLC and connection")
	}
	// Next expected seq per side, and what each side has received.
	next := map[bool]uint32{true: cISN, false: sISN}
	for i, w := range want {
		p := s[i]
		if (p.src == client) != w.fromClient || (w.fromClient && p.dst != server) || (!w.fromClient && p.src != server) {
			t.Fatalf("packet %d: %s → %s", i+1, p.src, p.dst)
		}
		if p.flags() != w.flags || len(p.tcp.Payload) != w.payload {
			t.Fatalf("packet %d: %s with %d bytes, want %s with %d", i+1, p.flags(), len(p.tcp.Payload), w.flags, w.payload)
		}
		if p.tcp.Seq != next[w.fromClient] {
			t.Fatalf("packet %d: seq %d, want %d", i+1, p.tcp.Seq, next[w.fromClient])
		}
		next[w.fromClient] += uint32(len(p.tcp.Payload))
		if p.tcp.SYN || p.tcp.FIN {
			next[w.fromClient]++
		}
		if p.tcp.ACK && p.tcp.Ack != next[!w.fromClient] {
			t.Fatalf("packet %d: ack %d, want %d", i+1, p.tcp.Ack, next[!w.fromClient])
		}
		if p.tcp.SYN && (len(p.tcp.Options) != 1 || p.tcp.Options[0].OptionType != layers.TCPOptionKindMSS) {
			t.Fatalf("packet %d: SYN without MSS", i+1)
		}
	}
	if !bytes.Equal(s[3].tcp.Payload, rows[0].Request) || !bytes.Equal(s[4].tcp.Payload, rows[0].Response) {
		t.Fatal("payloads are not the stored frames")
	}
	// Timing: the first request at start + clock, its response 300 µs on;
	// the second (same scan) after it; the dropped one at its own clock.
	at := func(i int) time.Duration { return s[i].at.Sub(t0) }
	if at(0) != 5*time.Second-3*Gap || at(3) != 5*time.Second || at(4) != 5*time.Second+ResponseDelay {
		t.Fatalf("handshake/first request at %v/%v/%v", at(0), at(3), at(4))
	}
	if at(5) != at(4)+Gap || at(7) != 7*time.Second || at(9) != at(8)+CloseDelay {
		t.Fatalf("second request at %v, third %v, FIN %v", at(5), at(7), at(9))
	}
	// The other streams: the real PLC address, and the mapped sources.
	seen := map[string]bool{}
	for _, p := range pkts {
		if p.tcp.SYN && !p.tcp.ACK {
			seen[p.src.String()+">"+p.dst.String()] = true
		}
	}
	for _, k := range []string{"10.20.1.66:40001>10.20.2.100:502", "10.99.0.1:50000>192.0.2.10:502", "10.99.0.2:49154>10.20.2.101:502"} {
		if !seen[k] {
			t.Fatalf("no stream %s; have %v", k, seen)
		}
	}
	// Deterministic.
	var again bytes.Buffer
	if err := Write(&again, rows, Options{Start: t0, PLCAddr: plcAddr}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("the same rows gave different bytes")
	}
}

// Streams are told apart by PLC too: connection numbers are per PLC.
func TestPcapStreamsPerPLC(t *testing.T) {
	rows := []store.TrafficRow{
		{ID: 1, PLC: "a", Conn: 1, Source: "10.0.0.1:1000", Listen: "127.0.0.1:1", Request: adu(1, 1, 3, 0, 0, 0, 1), Response: adu(1, 1, 3, 2, 0, 0), Count: 1},
		{ID: 2, PLC: "b", Conn: 1, Source: "10.0.0.1:1000", Listen: "127.0.0.1:2", Request: adu(1, 1, 3, 0, 0, 0, 1), Response: adu(1, 1, 3, 2, 0, 0), Count: 1},
		{ID: 3, PLC: "b", Conn: 3, Source: "10.0.0.1:1001", Listen: "127.0.0.1:2", Count: 1}, // unframed
		// An IPv4 source without a port keeps its address.
		{ID: 4, PLC: "b", Conn: 4, Source: "10.0.0.2", Listen: "127.0.0.1:2", Request: adu(1, 1, 3, 0, 0, 0, 1), Response: adu(1, 1, 3, 2, 0, 0), Count: 1},
	}
	var buf bytes.Buffer
	st, err := WriteStats(&buf, rows, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Streams != 3 || st.Unframed != 1 || len(st.Mapped) != 0 {
		t.Fatalf("stats %+v", st)
	}
	servers, clients := map[string]bool{}, map[string]bool{}
	for _, p := range readBack(t, buf.Bytes()) {
		if p.tcp.SYN && !p.tcp.ACK {
			servers[p.dst.String()] = true
			clients[p.src.String()] = true
			if p.at.Before(time.Unix(0, 0)) {
				t.Fatal("a handshake before the epoch")
			}
		}
	}
	if !servers["10.20.0.100:502"] || !servers["10.20.0.101:502"] {
		t.Fatalf("fallback PLC addresses %v", servers)
	}
	if !clients["10.0.0.2:49156"] {
		t.Fatalf("clients %v: want 10.0.0.2 with port 49152+conn", clients)
	}
}

func TestPcapAddrs(t *testing.T) {
	sc, err := scenario.Load("s.yaml", []byte(e2eScenario))
	if err != nil {
		t.Fatal(err)
	}
	a := Addrs(sc)
	if a["tank"].String() != "10.20.2.100" || a["pump"].String() != "10.20.2.102" {
		t.Fatalf("addrs %v (10.20.2.101 is the HMI's)", a)
	}
}

const e2eScenario = `
id: pcap-test
version: 1
title: pcap
duration: 10m
plant:
  zones: [{id: it}, {id: control}]
  conduits: [{from: it, to: control, ports: [502]}]
  plcs:
    - {id: tank, model: water-tank, zone: control, noise: 0}
    - {id: pump, model: water-tank, zone: control, noise: 0}
  hosts:
    - {id: attacker, role: attacker, zone: it, address: 10.20.1.66}
    - {id: hmi, role: hmi, zone: control, address: 10.20.2.101}
injects:
  - id: tamper
    at: 10s
    do: [{modbus_write: {from: attacker, plc: tank, register: level_sp, value: 3.9}}]
  - id: recon
    at: 20s
    do: [{scan: {from: attacker}}]
objectives:
  - {id: seen, points: 5, when: "writes('attacker') > 0"}
`

// A real exercise's traffic, attack and trainee alike, written as a pcap
// that Wireshark's dissectors take without a complaint.
func TestPcapExerciseTshark(t *testing.T) {
	bin := testtool.Need(t, "tshark", "tshark")
	ctx := context.Background()
	sc, err := scenario.Load("pcap.yaml", []byte(e2eScenario))
	if err != nil {
		t.Fatal(err)
	}
	x, err := engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(e2eScenario), Teams: []string{"a", "b"},
		DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if err := x.Step(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// The team's own tool reads and writes the tank.
	var addr string
	for _, e := range x.Endpoints() {
		if e.Team == "a" && e.PLC == "tank" {
			addr = e.Modbus
		}
	}
	c, err := modbus.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadHoldingRegisters(1, 0, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadInputRegisters(1, 0, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteRegister(1, 0, 16384); err != nil {
		t.Fatal(err)
	}
	trainee := c.LocalAddr().String()
	c.Close()
	if err := x.Step(ctx, 40*time.Second); err != nil {
		t.Fatal(err)
	}

	rows, err := ReadRows(ctx, x.Store(), "a", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := ExerciseOptions(ctx, x.Store(), x.Scenario())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "a.pcap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	st, err := WriteStats(f, rows, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows → %+v", len(rows), st)
	if d := os.Getenv("PCAP_KEEP"); d != "" {
		b, _ := os.ReadFile(file)
		os.WriteFile(d, b, 0o644)
	}
	if st.Transactions == 0 || st.Transactions != len(rows) {
		t.Fatalf("%d rows, %d transactions written", len(rows), st.Transactions)
	}
	conns := map[string]bool{}
	for _, r := range rows {
		conns[r.PLC+"/"+r.Source] = true
	}

	// Requests: who sent which function code.
	out := testtool.Tshark(t, bin, "-r", file, "-Y", "modbus && tcp.dstport == 502",
		"-T", "fields", "-E", "separator=,", "-e", "ip.src", "-e", "tcp.srcport", "-e", "modbus.func_code")
	t.Logf("requests (ip.src,tcp.srcport,modbus.func_code):\n%s", out)
	traineeIP, traineePort, _ := strings.Cut(trainee, ":")
	var attackWrite, traineeRead, traineeWrite, scanDevID bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, ",")
		if len(f) != 3 {
			t.Fatalf("tshark line %q", line)
		}
		switch {
		case f[0] == "10.20.1.66" && f[2] == "6":
			attackWrite = true
		case f[0] == "10.20.1.66" && f[2] == "43":
			scanDevID = true
		case f[0] == traineeIP && f[1] == traineePort && (f[2] == "3" || f[2] == "4"):
			traineeRead = true
		case f[0] == traineeIP && f[1] == traineePort && f[2] == "6":
			traineeWrite = true
		}
	}
	if !attackWrite || !scanDevID || !traineeRead || !traineeWrite {
		t.Fatalf("tshark: attacker FC6 %v, attacker FC43 %v, trainee read %v, trainee FC6 %v", attackWrite, scanDevID, traineeRead, traineeWrite)
	}

	// Every response answers a request: tshark links normal responses to
	// theirs (exception responses it does not link, in 4.0).
	out = testtool.Tshark(t, bin, "-r", file, "-Y", "modbus && tcp.srcport == 502 && !modbus.request_frame && !modbus.exception_code",
		"-T", "fields", "-e", "frame.number")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("responses without a request: frames %s", out)
	}

	checkClean(t, bin, file, st.Streams)

	// One conversation per connection.
	out = testtool.Tshark(t, bin, "-r", file, "-q", "-z", "conv,tcp")
	t.Logf("conv,tcp:\n%s", out)
	n := strings.Count(out, "<->")
	if n != st.Streams || n != len(conns) {
		t.Fatalf("tshark sees %d TCP conversations; %d streams written, %d connections logged", n, st.Streams, len(conns))
	}
}

// checkClean runs Wireshark's dissectors and TCP analysis over a capture:
// nothing malformed, no expert warnings or errors.
func checkClean(t *testing.T, bin, file string, streams int) {
	t.Helper()
	// Nothing malformed, no expert warnings or errors, and no TCP analysis
	// flags (retransmission, out-of-order, lost segment, dup ACK...).
	expert := testtool.Tshark(t, bin, "-2", "-r", file, "-q", "-z", "expert")
	t.Logf("expert info:\n%s", expert)
	for _, filter := range []string{"_ws.malformed || _ws.expert.severity >= warning", "tcp.analysis.flags"} {
		if out := testtool.Tshark(t, bin, "-2", "-r", file, "-Y", filter); strings.TrimSpace(out) != "" {
			t.Fatalf("%s:\n%s\n%s", filter, out, expert)
		}
	}
	// What remains are Chats (SYN, SYN+ACK, FIN) and, per stream, the two
	// Notes Wireshark puts on any orderly close ("This frame initiates /
	// undergoes the connection closing"). Counting them also shows the
	// severity filter above works.
	out := testtool.Tshark(t, bin, "-2", "-r", file, "-Y", "_ws.expert.severity == note", "-T", "fields", "-e", "_ws.expert.message")
	notes := strings.Split(strings.TrimSpace(out), "\n")
	if len(notes) != 2*streams {
		t.Fatalf("%d expert notes, want the 2 of each close of %d streams:\n%s", len(notes), streams, out)
	}
	for _, n := range notes {
		if !strings.Contains(n, "connection closing") {
			t.Fatalf("unexpected expert note %q", n)
		}
	}

}

// The constructed corner cases (a dropped request answered by a pure ACK,
// mapped IPv6 and pipe sources, a real PLC address) dissect cleanly too.
func TestPcapCornerCasesTshark(t *testing.T) {
	bin := testtool.Need(t, "tshark", "tshark")
	file := filepath.Join(t.TempDir(), "corner.pcap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	st, err := WriteStats(f, testRows(), Options{Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	checkClean(t, bin, file, st.Streams)
	out := testtool.Tshark(t, bin, "-r", file, "-Y", "modbus", "-T", "fields", "-E", "separator=,", "-e", "ip.src", "-e", "ip.dst", "-e", "modbus.func_code")
	t.Logf("modbus frames (ip.src,ip.dst,modbus.func_code):\n%s", out)
	if strings.Count(out, "\n") != 9 { // 5 requests, 4 responses
		t.Fatalf("want 9 Modbus frames")
	}
}
