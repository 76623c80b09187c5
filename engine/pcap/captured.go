package pcap

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/icsrange/icsrange/engine/store"
)

// Captured packets: where the PLCs captured the real packets at their own
// interfaces (the Docker backend), the store holds the frames themselves
// and WritePackets writes them as they were, with their real times,
// instead of rebuilding frames from the traffic log.

// PacketStats says what WritePackets wrote.
type PacketStats struct {
	Packets int
	// Truncated packets were cut at the capture's snap length.
	Truncated int
	// Checksums are TCP checksums filled in: packets a PLC sent with
	// checksum offload, captured before the NIC (here a veth) would have
	// computed them.
	Checksums int
}

// ReadPackets reads a team's captured packets (one PLC's if plc is set),
// in time order. With max > 0 it stops with ErrTooMany past max packets.
func ReadPackets(ctx context.Context, st *store.Store, team, plc string, max int) ([]store.PacketRow, error) {
	var out []store.PacketRow
	var after int64
	for {
		page, err := st.Packets(ctx, store.PacketFilter{Team: team, PLC: plc, After: after, Limit: PageSize})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if max > 0 && len(out) > max {
			return nil, fmt.Errorf("%w: over %d captured packets", ErrTooMany, max)
		}
		if len(page) < PageSize {
			break
		}
		after = page[len(page)-1].ID
	}
	// The store holds them as collected: each PLC's in capture order, PLCs
	// one after the other. A capture reads in time order.
	slices.SortStableFunc(out, func(a, b store.PacketRow) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.PLC, b.PLC), cmp.Compare(a.Seq, b.Seq))
	})
	return out, nil
}

// WritePackets writes captured packets (oldest first, as ReadPackets
// returns them) as a pcap file of Ethernet frames.
func WritePackets(w io.Writer, pkts []store.PacketRow) (PacketStats, error) {
	var st PacketStats
	bw := bufio.NewWriterSize(w, 64<<10)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(snapLen, layers.LinkTypeEthernet); err != nil {
		return st, fmt.Errorf("write pcap header: %w", err)
	}
	for i := range pkts {
		p := &pkts[i]
		data := p.Data
		if len(data) > snapLen {
			data = data[:snapLen]
		}
		if p.CsumPartial && len(data) == p.Len {
			if fixed, ok := fillTCPChecksum(data); ok {
				data = fixed
				st.Checksums++
			}
		}
		if len(data) < p.Len {
			st.Truncated++
		}
		ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(data), Length: max(p.Len, len(data))}
		if err := pw.WritePacket(ci, data); err != nil {
			return st, fmt.Errorf("write pcap: %w", err)
		}
		st.Packets++
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write pcap: %w", err)
	}
	return st, nil
}

// fillTCPChecksum returns a copy of an Ethernet/IPv4/TCP frame with its TCP
// checksum computed. The kernel hands a packet socket a sent packet before
// the device fills the checksum in, holding only the pseudo-header's sum
// there; a pcap should show what went on the wire.
func fillTCPChecksum(frame []byte) ([]byte, bool) {
	c := append([]byte(nil), frame...)
	// NoCopy: the layers' contents are slices of c, so the checksum
	// written into the TCP header lands in c.
	p := gopacket.NewPacket(c, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if ip == nil || tcp == nil || len(tcp.Contents) < 20 || int(ip.Length) != len(ip.Contents)+len(ip.Payload) {
		return nil, false
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, false
	}
	binary.BigEndian.PutUint16(tcp.Contents[16:], 0)
	sum, err := tcp.ComputeChecksum()
	if err != nil {
		return nil, false
	}
	binary.BigEndian.PutUint16(tcp.Contents[16:], sum)
	return c, true
}
