package pcap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/internal/testtool"
)

// capturedRows turns the frames of whole sessions (the renderer's) into
// packets as two PLCs would have captured them: each PLC's own, numbered
// from 1, and stored PLC by PLC as the engine collects them. The frames a
// PLC sent with data carry the checksum offload leaves: the pseudo-header's
// sum, not the real one.
func capturedRows(t *testing.T) (rows []*store.PacketRow, frames [][]byte, streams int) {
	t.Helper()
	var src bytes.Buffer
	st, err := WriteStats(&src, testRows(), Options{Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&src)
	if err != nil {
		t.Fatal(err)
	}
	pump := netip.MustParseAddr("192.0.2.10") // the pump's stream has a real PLC address
	var perPLC [2][]*store.PacketRow
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, data)
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		plc := 0
		if a, _ := netip.AddrFromSlice(ip.SrcIP); a == pump {
			plc = 1
		} else if a, _ := netip.AddrFromSlice(ip.DstIP); a == pump {
			plc = 1
		}
		row := &store.PacketRow{Team: "a", PLC: []string{"tank", "pump"}[plc], Seq: uint64(len(perPLC[plc]) + 1), Time: ci.Timestamp,
			Len: len(data), Data: append([]byte(nil), data...)}
		if tcp.SrcPort == ModbusPort && len(tcp.Payload) > 0 {
			row.CsumPartial = true
			off := 14 + int(ip.IHL)*4 + 16
			row.Data[off], row.Data[off+1] = 0xde, 0xad
		}
		perPLC[plc] = append(perPLC[plc], row)
	}
	if len(perPLC[0]) == 0 || len(perPLC[1]) == 0 {
		t.Fatal("the test sessions do not cover two PLCs")
	}
	return append(perPLC[0], perPLC[1]...), frames, st.Streams
}

func testStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Captured packets are written as they were on the wire, in time order
// across PLCs, with real timestamps; checksums offload left unfilled are
// filled in. A team's capture holds its own packets only.
func TestWritePackets(t *testing.T) {
	ctx := context.Background()
	rows, frames, _ := capturedRows(t)
	st := testStore(t)
	other := &store.PacketRow{Team: "b", PLC: "tank", Seq: 1, Time: t0, Len: len(frames[0]), Data: frames[0]}
	if err := st.AppendPackets(ctx, append(rows, other)); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPackets(ctx, st, "a", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(frames) {
		t.Fatalf("read %d packets of team a, want %d", len(got), len(frames))
	}
	var buf bytes.Buffer
	ps, err := WritePackets(&buf, got)
	if err != nil {
		t.Fatal(err)
	}
	partial := 0
	for _, r := range rows {
		if r.CsumPartial {
			partial++
		}
	}
	if ps.Packets != len(frames) || ps.Checksums != partial || partial == 0 || ps.Truncated != 0 {
		t.Fatalf("stats %+v; want %d packets, %d checksums filled in", ps, len(frames), partial)
	}
	back := readBack(t, buf.Bytes())
	for i, p := range back {
		checkChecksums(t, p)
		if !bytes.Equal(p.raw, frames[i]) {
			t.Fatalf("packet %d is not the frame captured at that time", i+1)
		}
		if i > 0 && p.at.Before(back[i-1].at) {
			t.Fatalf("packet %d is older than the one before", i+1)
		}
	}
	if !back[0].at.Equal(got[0].Time) || back[0].at.Before(t0) {
		t.Fatalf("first packet at %v, captured at %v", back[0].at, got[0].Time)
	}

	pump, err := ReadPackets(ctx, st, "a", "pump", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pump {
		if p.PLC != "pump" || (i > 0 && p.Time.Before(pump[i-1].Time)) {
			t.Fatalf("pump's packets: %+v", p)
		}
	}
	if b, err := ReadPackets(ctx, st, "b", "", 0); err != nil || len(b) != 1 {
		t.Fatalf("team b: %d packets, %v", len(b), err)
	}
	if _, err := ReadPackets(ctx, st, "a", "", len(frames)-1); !errors.Is(err, ErrTooMany) {
		t.Fatalf("past the bound: %v, want ErrTooMany", err)
	}
}

// A packet cut at the snap length keeps its length on the wire.
func TestWritePacketsTruncated(t *testing.T) {
	_, frames, _ := capturedRows(t)
	var buf bytes.Buffer
	ps, err := WritePackets(&buf, []store.PacketRow{{PLC: "tank", Time: t0, Len: 3000, CsumPartial: true, Data: frames[3]}})
	if err != nil || ps.Truncated != 1 || ps.Checksums != 0 {
		t.Fatalf("stats %+v, %v", ps, err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	data, ci, err := r.ReadPacketData()
	if err != nil || ci.Length != 3000 || ci.CaptureLength != len(frames[3]) || !bytes.Equal(data, frames[3]) || !ci.Timestamp.Equal(t0) {
		t.Fatalf("read back %+v, %v", ci, err)
	}
}

// Wireshark takes a capture written from stored packets without a
// complaint, checksums checked.
func TestWritePacketsTshark(t *testing.T) {
	bin := testtool.Need(t, "tshark", "tshark")
	rows, _, streams := capturedRows(t)
	st := testStore(t)
	ctx := context.Background()
	if err := st.AppendPackets(ctx, rows); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPackets(ctx, st, "a", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "captured.pcap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WritePackets(f, got); err != nil {
		t.Fatal(err)
	}
	f.Close()
	checkClean(t, bin, file, streams)
	if out := testtool.Tshark(t, bin, "-r", file, "-o", "tcp.check_checksum:TRUE", "-Y", "tcp.checksum.status != 1"); strings.TrimSpace(out) != "" {
		t.Fatalf("TCP checksums wrong or unverified:\n%s", out)
	}
	if out := testtool.Tshark(t, bin, "-r", file, "-Y", "modbus", "-T", "fields", "-e", "frame.time_epoch"); strings.Count(out, "\n") != 9 {
		t.Fatalf("want 9 Modbus frames:\n%s", out)
	}
}
