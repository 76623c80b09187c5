package pcap

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// FuzzFillTCPChecksum: the export fixes the checksum of whatever frame a
// PLC's capture stored. Any bytes either are left alone or come back the
// same length with a TCP checksum that verifies; never a panic.
func FuzzFillTCPChecksum(f *testing.F) {
	eth := layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: []byte{10, 128, 1, 66}, DstIP: []byte{10, 128, 2, 10}}
	tcp := layers.TCP{SrcPort: 40000, DstPort: 502, Seq: 1, Ack: 1, ACK: true, PSH: true, Window: 502}
	tcp.SetNetworkLayerForChecksum(&ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&eth, &ip, &tcp, gopacket.Payload([]byte{0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10})); err != nil {
		f.Fatal(err)
	}
	good := buf.Bytes()
	f.Add(good)
	bad := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(bad[14+20+16:], 0xBEEF)
	f.Add(bad)
	f.Add(good[:40])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		out, ok := fillTCPChecksum(frame)
		if !ok {
			return
		}
		if len(out) != len(frame) {
			t.Fatalf("%d bytes in, %d out", len(frame), len(out))
		}
		p := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tc, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tc == nil {
			t.Fatalf("filled a frame that is not IPv4/TCP: %x", frame)
		}
		want := tc.Checksum
		tc.SetNetworkLayerForChecksum(ip)
		binary.BigEndian.PutUint16(tc.Contents[16:], 0)
		got, err := tc.ComputeChecksum()
		if err != nil || got != want {
			t.Fatalf("checksum %04x, recomputed %04x (%v): %x", want, got, err, frame)
		}
	})
}
