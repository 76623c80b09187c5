// Package pcap exports a team's Modbus traffic log as a classic pcap file
// (LINKTYPE_ETHERNET) that Wireshark and tshark dissect as Modbus/TCP.
//
// The traffic log keeps each transaction's raw Modbus/TCP request and
// response (MBAP header included) and the connection it came on, not the
// packets themselves. Write rebuilds them: one TCP stream per connection,
// with a three-way handshake before the first request, one PSH/ACK data
// segment per request and per response with consistent sequence and
// acknowledgement numbers and real IPv4 and TCP checksums, and a FIN/ACK
// exchange after the last transaction. The output is deterministic: the
// same rows give the same bytes.
//
// Frames are built with github.com/gopacket/gopacket (layers and pcapgo are
// pure Go, so static CGO_ENABLED=0 builds keep working).
package pcap

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

// Timing of the rebuilt packets. A row's exercise clock is when the PLC
// served the request; several requests served in one PLC scan share it, so
// a stream's packets are spread out to keep them strictly in order.
const (
	// Gap is the least time between two packets of a stream, and between
	// the handshake's packets.
	Gap = 100 * time.Microsecond
	// ResponseDelay is how long after its request a response is sent.
	ResponseDelay = 300 * time.Microsecond
	// CloseDelay is how long after a stream's last transaction it closes.
	CloseDelay = time.Millisecond
)

// ModbusPort is the server port of every stream: Wireshark dissects TCP
// port 502 as Modbus/TCP by default.
const ModbusPort = 502

const (
	snapLen = 65535
	window  = 64240
	mss     = 1460
	ttl     = 64
)

// Options shape the export.
type Options struct {
	// Start is the wall time of exercise clock 0 (see StartTime). Zero
	// means the Unix epoch.
	Start time.Time
	// PLCAddr is each PLC's address in the capture, used when the address
	// the client reached (the row's Listen) is not a real one: loopback,
	// as with the in-process backend, or not IPv4. See Addrs. A PLC
	// without one gets 10.20.0.<100+k>, in order of first appearance.
	PLCAddr map[string]netip.Addr
}

// Stats says what an export wrote and what it left out.
type Stats struct {
	Streams      int // TCP streams (connections)
	Transactions int // transactions written
	Packets      int
	// Summaries are flood summary rows (count > 1): they keep no frames
	// and are left out. Summarised is how many transactions they stand for.
	Summaries  int
	Summarised int
	// Unframed are other rows without a request frame, left out.
	Unframed int
	// Mapped are client addresses that are not IPv4 (IPv6, a pipe), and
	// the synthetic 10.99.x.y address each shows as.
	Mapped map[string]string
}

// Write renders rows (stored traffic read with frames, oldest first) as a
// pcap file.
func Write(w io.Writer, rows []store.TrafficRow, opts Options) error {
	_, err := WriteStats(w, rows, opts)
	return err
}

// WriteStats is Write, also saying what was written and left out.
func WriteStats(w io.Writer, rows []store.TrafficRow, opts Options) (Stats, error) {
	streams, st := buildStreams(rows, opts)
	pkts := layout(streams)
	st.Packets = len(pkts)
	base := opts.Start
	if base.IsZero() {
		base = time.Unix(0, 0)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(snapLen, layers.LinkTypeEthernet); err != nil {
		return st, fmt.Errorf("write pcap header: %w", err)
	}
	buf := gopacket.NewSerializeBuffer()
	for i := range pkts {
		b, err := pkts[i].serialize(buf)
		if err != nil {
			return st, fmt.Errorf("build packet %d: %w", i+1, err)
		}
		ci := gopacket.CaptureInfo{Timestamp: base.Add(pkts[i].at), CaptureLength: len(b), Length: len(b)}
		if err := pw.WritePacket(ci, b); err != nil {
			return st, fmt.Errorf("write pcap: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write pcap: %w", err)
	}
	return st, nil
}

// stream is one TCP connection: a PLC's connection number from one source.
type stream struct {
	client, server netip.AddrPort
	clientISN      uint32
	serverISN      uint32
	rows           []*store.TrafficRow
}

type streamKey struct {
	plc    string
	conn   uint64
	source string
}

// buildStreams groups the framed rows by connection and gives each stream
// its addresses and initial sequence numbers.
func buildStreams(rows []store.TrafficRow, opts Options) ([]*stream, Stats) {
	st := Stats{Mapped: map[string]string{}}
	byKey := map[streamKey]*stream{}
	var streams []*stream
	fallback := map[string]netip.Addr{}
	mapped := map[string]netip.Addr{}
	for i := range rows {
		r := &rows[i]
		switch {
		case r.Count > 1:
			st.Summaries++
			st.Summarised += r.Count
			continue
		case len(r.Request) == 0:
			st.Unframed++
			continue
		}
		k := streamKey{r.PLC, r.Conn, r.Source}
		s := byKey[k]
		if s == nil {
			s = &stream{}
			s.server = netip.AddrPortFrom(serverAddr(r, opts, fallback), ModbusPort)
			s.client = clientAddr(r, mapped, st.Mapped)
			s.clientISN = isn("client", r.PLC, r.Conn)
			s.serverISN = isn("server", r.PLC, r.Conn)
			byKey[k] = s
			streams = append(streams, s)
		}
		s.rows = append(s.rows, r)
		st.Transactions++
	}
	st.Streams = len(streams)
	return streams, st
}

// isn derives a stream's initial sequence number from its PLC and
// connection number: deterministic, and different for each side.
func isn(side, plc string, conn uint64) uint32 {
	h := fnv.New32a()
	h.Write([]byte(side))
	h.Write([]byte{0})
	h.Write([]byte(plc))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatUint(conn, 10)))
	return h.Sum32()
}

// serverAddr is the PLC's address: the one the client reached if it is a
// real IPv4 address, else the configured one, else 10.20.0.<100+k>.
func serverAddr(r *store.TrafficRow, opts Options, fallback map[string]netip.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.Listen); err == nil {
		if a := ap.Addr().Unmap(); a.Is4() && !a.IsLoopback() && !a.IsUnspecified() {
			return a
		}
	}
	if a, ok := opts.PLCAddr[r.PLC]; ok && a.Unmap().Is4() {
		return a.Unmap()
	}
	if a, ok := fallback[r.PLC]; ok {
		return a
	}
	n := len(fallback)
	a := netip.AddrFrom4([4]byte{10, 20, 0, byte(100 + n%155)})
	fallback[r.PLC] = a
	return a
}

// clientAddr is the source as attributed; one that is not IPv4 (IPv6, a
// pipe) shows as a synthetic 10.99.x.y, noted in notes. A source without a
// port gets 49152 + the connection number (mod 16384).
func clientAddr(r *store.TrafficRow, mapped map[string]netip.Addr, notes map[string]string) netip.AddrPort {
	var addr netip.Addr
	port := uint16(49152 + r.Conn%16384)
	if ap, err := netip.ParseAddrPort(r.Source); err == nil {
		addr = ap.Addr().Unmap()
		if ap.Port() != 0 {
			port = ap.Port()
		}
	} else if a, err := netip.ParseAddr(r.Source); err == nil {
		addr = a.Unmap()
	}
	if addr.Is4() {
		return netip.AddrPortFrom(addr, port)
	}
	host := store.HostOf(r.Source)
	a, ok := mapped[host]
	if !ok {
		n := len(mapped)
		a = netip.AddrFrom4([4]byte{10, 99, byte(n / 254), byte(n%254 + 1)})
		mapped[host] = a
		notes[host] = a.String()
	}
	return netip.AddrPortFrom(a, port)
}

// packet is one rebuilt TCP segment.
type packet struct {
	at         time.Duration // since Options.Start
	s          *stream
	fromClient bool
	syn, fin   bool
	psh        bool
	seq, ack   uint32
	ipID       uint16
	payload    []byte
}

// layout lays every stream's packets out in time and merges them in
// timestamp order (a stream's own packets keep their order).
func layout(streams []*stream) []packet {
	var all []packet
	for _, s := range streams {
		all = append(all, s.packets()...)
	}
	// Per stream the times strictly increase, so a stable sort keeps each
	// stream's order; ties between streams go by stream.
	slices.SortStableFunc(all, func(a, b packet) int { return cmp.Compare(a.at, b.at) })
	return all
}

// packets builds a stream: handshake, one data segment per request and
// response (a pure ACK for a request the PLC did not answer), and the
// close.
func (s *stream) packets() []packet {
	var out []packet
	cSeq, sSeq := s.clientISN, s.serverISN
	cID := uint16(s.clientISN >> 16)
	sID := uint16(s.serverISN >> 16)
	var at time.Duration
	add := func(p packet) {
		p.s = s
		p.at = at
		if p.fromClient {
			p.ipID = cID
			cID++
		} else {
			p.ipID = sID
			sID++
		}
		out = append(out, p)
	}
	first := s.rows[0].Clock
	at = max(first-3*Gap, 0)
	add(packet{fromClient: true, syn: true, seq: cSeq})
	cSeq++
	at += Gap
	add(packet{syn: true, seq: sSeq, ack: cSeq})
	sSeq++
	at += Gap
	add(packet{fromClient: true, seq: cSeq, ack: sSeq})
	for _, r := range s.rows {
		at = max(r.Clock, at+Gap)
		add(packet{fromClient: true, psh: true, seq: cSeq, ack: sSeq, payload: r.Request})
		cSeq += uint32(len(r.Request))
		at += ResponseDelay
		if r.NoReply || len(r.Response) == 0 {
			// The PLC's TCP stack still acknowledges what its Modbus
			// server dropped.
			add(packet{seq: sSeq, ack: cSeq})
			continue
		}
		add(packet{psh: true, seq: sSeq, ack: cSeq, payload: r.Response})
		sSeq += uint32(len(r.Response))
	}
	at += CloseDelay
	add(packet{fromClient: true, fin: true, seq: cSeq, ack: sSeq})
	cSeq++
	at += Gap
	add(packet{fin: true, seq: sSeq, ack: cSeq})
	sSeq++
	at += Gap
	add(packet{fromClient: true, seq: cSeq, ack: sSeq})
	return out
}

// mac is a locally administered unicast address derived from an IPv4
// address, so each host keeps one.
func mac(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0x00, b[0], b[1], b[2], b[3]}
}

var errNotIPv4 = errors.New("not an IPv4 stream")

// serialize builds the packet's Ethernet frame, with checksums and lengths
// computed.
func (p *packet) serialize(buf gopacket.SerializeBuffer) ([]byte, error) {
	src, dst := p.s.client, p.s.server
	if !p.fromClient {
		src, dst = dst, src
	}
	if !src.Addr().Is4() || !dst.Addr().Is4() {
		return nil, errNotIPv4
	}
	eth := &layers.Ethernet{SrcMAC: mac(src.Addr()), DstMAC: mac(dst.Addr()), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Id: p.ipID, Flags: layers.IPv4DontFragment,
		Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: p.seq, Ack: p.ack, SYN: p.syn, FIN: p.fin, PSH: p.psh, ACK: !(p.syn && p.fromClient), Window: window}
	if p.syn {
		tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4,
			OptionData: []byte{mss >> 8, mss & 0xff}}}
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(p.payload)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Addrs gives each of a scenario's PLCs a stable synthetic address in its
// zone's subnet, 10.20.<zone>.<100+k> for the k-th PLC of the zone (zones
// numbered from 1 as the scenario's host addresses are), clear of the
// hosts' addresses.
func Addrs(sc *scenario.Scenario) map[string]netip.Addr {
	zone := map[string]int{}
	for i, z := range sc.Zones {
		zone[z] = i + 1
	}
	used := map[netip.Addr]bool{}
	for _, h := range sc.Hosts {
		if a, err := netip.ParseAddr(h.Address); err == nil {
			used[a.Unmap()] = true
		}
	}
	next := map[string]int{}
	out := map[string]netip.Addr{}
	for _, p := range sc.PLCs {
		for {
			k := next[p.Zone]
			next[p.Zone]++
			a := netip.AddrFrom4([4]byte{10, 20, byte(zone[p.Zone]), byte(100 + k%155)})
			if !used[a] || k >= 155 {
				used[a] = true
				out[p.ID] = a
				break
			}
		}
	}
	return out
}

// StartTime is the wall time of an exercise's clock 0: when it started
// (the exercise.started event, less its clock), or when it was created if
// it has not started. Pauses are not accounted for: after one, capture
// times run behind the wall clock by the pause's length.
func StartTime(ctx context.Context, st *store.Store) (time.Time, error) {
	var start time.Time
	errFound := errors.New("found")
	err := st.Events(ctx, store.Filter{Kinds: []string{"exercise.started"}, Limit: 1}, func(e store.Event) error {
		start = e.Time.Add(-e.Clock)
		return errFound
	})
	if err != nil && !errors.Is(err, errFound) {
		return time.Time{}, err
	}
	if !start.IsZero() {
		return start.UTC(), nil
	}
	meta, err := st.Meta(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if t, err := time.Parse(time.RFC3339, meta["created"]); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, nil
}

// PageSize is how many rows ReadRows reads at a time.
const PageSize = 5000

// ErrTooMany is returned by ReadRows when a team's log holds more rows than
// asked for.
var ErrTooMany = errors.New("too many traffic rows")

// ReadRows reads a team's whole traffic log (one PLC's if plc is set) with
// frames, oldest first, paging by id. With max > 0 it stops with
// ErrTooMany past max rows.
func ReadRows(ctx context.Context, st *store.Store, team, plc string, max int) ([]store.TrafficRow, error) {
	var out []store.TrafficRow
	var after int64
	for {
		page, err := st.Traffic(ctx, store.TrafficFilter{Team: team, PLC: plc, After: after, Limit: PageSize, Frames: true})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if max > 0 && len(out) > max {
			return nil, fmt.Errorf("%w: over %d", ErrTooMany, max)
		}
		if len(page) < PageSize {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// ExerciseOptions are the options for an exercise's capture: its start
// time and its scenario's PLC addresses (sc may be nil).
func ExerciseOptions(ctx context.Context, st *store.Store, sc *scenario.Scenario) (Options, error) {
	start, err := StartTime(ctx, st)
	if err != nil {
		return Options{}, err
	}
	opts := Options{Start: start}
	if sc != nil {
		opts.PLCAddr = Addrs(sc)
	}
	return opts, nil
}
