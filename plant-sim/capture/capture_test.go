package capture

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// frame builds an Ethernet frame around an IPv4 packet.
func frame(t *testing.T, proto layers.IPProtocol, sport, dport uint16, ipOpts bool, fragOff uint16) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}, FragOffset: fragOff}
	if ipOpts {
		// A router alert option: the TCP header moves 4 bytes on.
		ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
	}
	var l4 gopacket.SerializableLayer
	switch proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1, ACK: true, PSH: true, Window: 1000}
		tcp.SetNetworkLayerForChecksum(ip)
		l4 = tcp
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		udp.SetNetworkLayerForChecksum(ip)
		l4 = udp
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, l4, gopacket.Payload([]byte{0, 1, 0, 0, 0, 6, 1, 6, 0, 1, 0, 9})); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The filter keeps IPv4 TCP to or from the Modbus port and nothing else,
// as the kernel would run it (the x/net/bpf VM).
func TestFilter(t *testing.T) {
	prog, err := Filter([]uint16{502})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bpf.Assemble(prog); err != nil {
		t.Fatalf("the filter does not assemble: %v", err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	arp := func() []byte {
		buf := gopacket.NewSerializeBuffer()
		gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true},
			&layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPRequest, SourceHwAddress: []byte{2, 0, 0, 0, 0, 1}, SourceProtAddress: []byte{10, 0, 0, 1},
				DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}})
		return buf.Bytes()
	}
	ipv6 := func() []byte {
		buf := gopacket.NewSerializeBuffer()
		ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64,
			SrcIP: bytes.Repeat([]byte{0x20}, 16), DstIP: bytes.Repeat([]byte{0x21}, 16)}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 502, SYN: true}
		tcp.SetNetworkLayerForChecksum(ip)
		gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv6}, ip, tcp)
		return buf.Bytes()
	}
	for _, c := range []struct {
		name string
		in   []byte
		keep bool
	}{
		{"request to 502", frame(t, layers.IPProtocolTCP, 40000, 502, false, 0), true},
		{"response from 502", frame(t, layers.IPProtocolTCP, 502, 40000, false, 0), true},
		{"request to 502 behind IPv4 options", frame(t, layers.IPProtocolTCP, 40000, 502, true, 0), true},
		{"http", frame(t, layers.IPProtocolTCP, 40000, 80, false, 0), false},
		{"management api", frame(t, layers.IPProtocolTCP, 9020, 40000, false, 0), false},
		{"udp to 502", frame(t, layers.IPProtocolUDP, 40000, 502, false, 0), false},
		{"a later fragment", frame(t, layers.IPProtocolTCP, 40000, 502, false, 100), false},
		{"arp", arp(), false},
		{"ipv6 tcp to 502", ipv6(), false},
		{"runt", []byte{1, 2, 3}, false},
	} {
		n, err := vm.Run(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if (n > 0) != c.keep {
			t.Errorf("%s: filter returned %d, want keep=%v", c.name, n, c.keep)
		}
		if c.keep && n < len(c.in) {
			t.Errorf("%s: filter keeps %d of %d bytes; want the whole frame", c.name, n, len(c.in))
		}
	}

	// Several ports: each is matched on either side.
	prog, err = Filter([]uint16{502, 5020})
	if err != nil {
		t.Fatal(err)
	}
	vm, _ = bpf.NewVM(prog)
	for _, c := range []struct {
		sport, dport uint16
		keep         bool
	}{{1, 502, true}, {5020, 1, true}, {502, 5020, true}, {1, 503, false}} {
		if n, _ := vm.Run(frame(t, layers.IPProtocolTCP, c.sport, c.dport, false, 0)); (n > 0) != c.keep {
			t.Errorf("ports 502,5020: %d→%d kept=%v, want %v", c.sport, c.dport, n > 0, c.keep)
		}
	}
	if _, err := Filter(nil); err == nil {
		t.Error("a filter without ports was built")
	}
}

var t0 = time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)

func add(r *Ring, n, size int) {
	for i := range n {
		r.Add(t0.Add(time.Duration(i)*time.Millisecond), bytes.Repeat([]byte{byte(i)}, size), size, false)
	}
}

func seqs(p Page) []uint64 {
	var out []uint64
	for _, k := range p.Packets {
		out = append(out, k.Seq)
	}
	return out
}

// The ring numbers packets from 1, pages through them, and says how many a
// reader lost when it overwrote them.
func TestRing(t *testing.T) {
	r := NewRing(Config{MaxPackets: 5, SnapLen: 100})
	if p := r.Page(0, 0); len(p.Packets) != 0 || p.Next != 0 || p.More || p.LinkType != LinkTypeEthernet || p.SnapLen != 100 {
		t.Fatalf("empty ring: %+v", p)
	}
	add(r, 3, 10)
	p := r.Page(0, 2)
	if got := seqs(p); len(got) != 2 || got[0] != 1 || got[1] != 2 || p.Next != 2 || !p.More || p.Dropped != 0 || p.Newest != 3 {
		t.Fatalf("first page: %v %+v", got, p)
	}
	if !p.Packets[1].Time.Equal(t0.Add(time.Millisecond)) || p.Packets[1].Len != 10 || p.Packets[1].Data[0] != 1 {
		t.Fatalf("packet 2: %+v", p.Packets[1])
	}
	// A page holds copies: the ring reuses nothing a reader holds.
	p.Packets[0].Data[0] = 99
	if r.Page(0, 1).Packets[0].Data[0] != 0 {
		t.Fatal("a page shares its data with the ring")
	}
	p = r.Page(p.Next, 0)
	if got := seqs(p); len(got) != 1 || got[0] != 3 || p.Next != 3 || p.More {
		t.Fatalf("second page: %v %+v", got, p)
	}
	if p = r.Page(3, 0); len(p.Packets) != 0 || p.Next != 3 || p.More {
		t.Fatalf("nothing new: %+v", p)
	}

	// 6 more: the ring holds 5 (seq 5..9); a reader at 3 lost seq 4.
	add(r, 6, 10)
	p = r.Page(3, 0)
	if got := seqs(p); len(got) != 5 || got[0] != 5 || got[4] != 9 || p.Dropped != 1 || p.Next != 9 {
		t.Fatalf("after overwriting: %v %+v", got, p)
	}
	if n, b := r.Len(); n != 5 || b != 50 {
		t.Fatalf("ring holds %d packets, %d bytes; want 5, 50", n, b)
	}

	// A reader ahead of the ring (the PLC restarted and numbers again from
	// 1): Next is behind its after, so it knows to start over.
	if p = r.Page(100, 0); p.Next != 9 || len(p.Packets) != 0 {
		t.Fatalf("reader ahead: %+v", p)
	}
}

// The byte bound evicts before the packet bound; the snap length cuts
// frames but keeps their real length.
func TestRingBytes(t *testing.T) {
	r := NewRing(Config{MaxPackets: 1000, MaxBytes: 3 * (100 + packetOverhead), SnapLen: 100})
	add(r, 10, 150) // cut to 100 each: 3 fit
	n, b := r.Len()
	if n != 3 || b != 300 {
		t.Fatalf("ring holds %d packets, %d bytes; want 3, 300", n, b)
	}
	p := r.Page(0, 0)
	if got := seqs(p); len(got) != 3 || got[0] != 8 || p.Dropped != 7 {
		t.Fatalf("page: %v %+v", got, p)
	}
	for _, k := range p.Packets {
		if len(k.Data) != 100 || k.Len != 150 {
			t.Fatalf("packet %d: %d bytes kept of %d; want 100 of 150", k.Seq, len(k.Data), k.Len)
		}
	}
}

// A page stays within MaxPageBytes, however many packets were asked for.
func TestRingPageBytes(t *testing.T) {
	r := NewRing(Config{MaxPackets: MaxPageMax, MaxBytes: 64 << 20, SnapLen: DefaultSnapLen})
	add(r, 2000, DefaultSnapLen)
	p := r.Page(0, MaxPageMax)
	size := 0
	for _, k := range p.Packets {
		size += len(k.Data)
	}
	if size > MaxPageBytes || !p.More || len(p.Packets) != MaxPageBytes/DefaultSnapLen {
		t.Fatalf("page of %d packets, %d bytes, more=%v; want at most %d bytes", len(p.Packets), size, p.More, MaxPageBytes)
	}
	if q := r.Page(p.Next, MaxPageMax); q.Packets[0].Seq != p.Next+1 {
		t.Fatalf("the next page starts at %d, want %d", q.Packets[0].Seq, p.Next+1)
	}
}
