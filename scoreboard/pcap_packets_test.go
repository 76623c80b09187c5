package scoreboard

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/icsrange/icsrange/engine/store"
)

// modbusFrame is a Modbus/TCP write request from src to a PLC, as a PLC
// would have captured it.
func modbusFrame(t *testing.T, src, dst []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 502, Seq: 1, Ack: 1, ACK: true, PSH: true, Window: 502}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
		ip, tcp, gopacket.Payload([]byte{0, 1, 0, 0, 0, 6, 1, 6, 0, 1, 0, 9})); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Where the PLCs captured the real packets, /api/pcap serves those, with
// their times, instead of frames rebuilt from the traffic log; a team
// still gets its own only.
func TestPcapCapturedPackets(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	at := time.Date(2025, 3, 4, 9, 0, 0, 123456789, time.UTC)
	a := modbusFrame(t, []byte{10, 128, 1, 66}, []byte{10, 128, 2, 10})
	b := modbusFrame(t, []byte{10, 129, 1, 66}, []byte{10, 129, 2, 10})
	if err := f.x.Store().AppendPackets(f.ctx, []*store.PacketRow{
		{Team: "a", PLC: "tank", Seq: 1, Time: at, Len: len(a), Data: a},
		{Team: "b", PLC: "tank", Seq: 1, Time: at, Len: len(b), Data: b},
	}); err != nil {
		t.Fatal(err)
	}
	get := func(what, path, tok string) ([][]byte, []time.Time) {
		t.Helper()
		r := f.call("GET", path, tok, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", what, r.status, r.body)
		}
		pr, err := pcapgo.NewReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatalf("%s: not a pcap: %v", what, err)
		}
		var frames [][]byte
		var times []time.Time
		for {
			data, ci, err := pr.ReadPacketData()
			if err == io.EOF {
				return frames, times
			}
			if err != nil {
				t.Fatal(err)
			}
			frames, times = append(frames, data), append(times, ci.Timestamp)
		}
	}
	for _, c := range []struct {
		what, path, tok string
		want            []byte
	}{
		{"team a, own", "/api/pcap", f.team("a"), a},
		{"team b, own tank", "/api/pcap?plc=tank", f.team("b"), b},
		{"instructor, a", "/api/pcap?team=a", f.instr(), a},
	} {
		frames, times := get(c.what, c.path, c.tok)
		if len(frames) != 1 || !bytes.Equal(frames[0], c.want) || !times[0].Equal(at) {
			t.Fatalf("%s: %d packets (%v), want the one captured at %v", c.what, len(frames), times, at)
		}
	}
	f.call("GET", "/api/pcap?team=b", f.team("a"), nil).fails(t, "team a asks for b", http.StatusForbidden, "forbidden")

	if err := f.x.Store().AppendPackets(f.ctx, []*store.PacketRow{{Team: "a", PLC: "tank", Seq: 2, Time: at.Add(time.Millisecond), Len: len(a), Data: a}}); err != nil {
		t.Fatal(err)
	}
	old := maxPcapRows
	maxPcapRows = 1
	defer func() { maxPcapRows = old }()
	f.call("GET", "/api/pcap?team=a", f.instr(), nil).fails(t, "over the bound", http.StatusRequestEntityTooLarge, "too_large")
}
