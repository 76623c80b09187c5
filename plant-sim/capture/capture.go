// Package capture records the Modbus/TCP packets that cross a PLC's own
// network interfaces, so an exercise with real networks (the Docker
// backend) can hand trainees the real packets rather than frames rebuilt
// from the traffic log.
//
// A PLC in a container sees every packet to and from it in its network
// namespace, intra-zone traffic included, which a bridge port elsewhere
// would not. On Linux, Open opens an AF_PACKET raw socket on every
// interface of the namespace (golang.org/x/sys/unix through
// github.com/mdlayher/socket, no cgo), with a classic BPF filter
// (golang.org/x/net/bpf) that keeps only IPv4 TCP to or from the Modbus
// port, so the kernel never queues anything else. Opening it needs
// CAP_NET_RAW; a socket once open keeps working after the process drops
// every capability, which the PLC does before it serves anyone.
//
// Packets go into a Ring bounded in packets and in bytes; a reader asks for
// what came after the last sequence number it saw and learns how many it
// lost when the ring overwrote them first.
package capture

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/net/bpf"
)

// Defaults: a Modbus/TCP frame is at most 260 bytes of ADU behind 54 bytes
// of Ethernet, IPv4 and TCP headers (more with options), so 1600 bytes keep
// any segment of a standard MTU whole; the ring holds a flood's worth of
// packets between two of the engine's collections, a second apart.
const (
	DefaultSnapLen    = 1600
	DefaultMaxPackets = 20000
	DefaultMaxBytes   = 8 << 20
	// DefaultPort is Modbus/TCP's port.
	DefaultPort = 502
)

// Page bounds: one answer stays a few MiB of JSON however full the ring is.
const (
	DefaultPageMax = 2000
	MaxPageMax     = 5000
	MaxPageBytes   = 2 << 20
)

// LinkTypeEthernet is LINKTYPE_ETHERNET: every packet starts with an
// Ethernet header (loopback too, where its addresses are zero).
const LinkTypeEthernet = 1

// packetOverhead is what a ring slot costs beyond its data, for the byte
// bound: the Packet struct and the slice's allocation header, roughly.
const packetOverhead = 64

// ErrOff says a PLC captures no packets: it was started without
// --capture, or it runs in the engine's process.
var ErrOff = errors.New("the plc captures no packets")

// Config shapes a capture.
type Config struct {
	// Ports are the TCP ports whose packets are kept, either side; default
	// DefaultPort. The PLC passes its Modbus listen port.
	Ports []uint16
	// Interface limits the capture to one interface by name; default every
	// interface of the network namespace.
	Interface string
	// SnapLen is how much of each packet is kept; default DefaultSnapLen.
	SnapLen int
	// MaxPackets and MaxBytes bound the ring: the oldest packets go when
	// either is reached. Defaults DefaultMaxPackets and DefaultMaxBytes.
	MaxPackets int
	MaxBytes   int
}

func (c Config) withDefaults() Config {
	if len(c.Ports) == 0 {
		c.Ports = []uint16{DefaultPort}
	}
	if c.SnapLen <= 0 {
		c.SnapLen = DefaultSnapLen
	}
	if c.MaxPackets <= 0 {
		c.MaxPackets = DefaultMaxPackets
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	// A ring must hold at least one whole packet.
	c.MaxBytes = max(c.MaxBytes, c.SnapLen+packetOverhead)
	return c
}

// Packet is one captured frame.
type Packet struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"` // when the kernel saw it (RFC 3339 with nanoseconds in JSON)
	// Len is the frame's length on the wire; Data holds its first SnapLen
	// bytes (base64 in JSON).
	Len  int    `json:"len"`
	Data []byte `json:"data"`
	// CsumPartial: the kernel left the TCP checksum for the NIC to fill in
	// (checksum offload on a packet the PLC sent), so the captured field is
	// not the one on the wire. A pcap writer recomputes it.
	CsumPartial bool `json:"csum_partial,omitempty"`
}

// Page is an answer to "what came after seq N".
type Page struct {
	LinkType int `json:"link_type"`
	SnapLen  int `json:"snaplen"`
	// Next is the after for the next request: the last packet's seq, or,
	// with no packet, the newest seq handed out (less than the request's
	// after when the capture restarted and numbers again from 1).
	Next uint64 `json:"next"`
	// More says packets after Next are waiting (the page was full).
	More bool `json:"more"`
	// Newest is the newest seq handed out: a reader that keeps no more
	// packets learns from it how many it skips.
	Newest uint64 `json:"newest"`
	// Dropped are packets after the request's after that the ring
	// overwrote before this reader got them.
	Dropped uint64 `json:"dropped"`
	// KernelDropped are packets the kernel dropped since the capture
	// started because the socket's queue was full (not in any ring).
	KernelDropped uint64   `json:"kernel_dropped"`
	Packets       []Packet `json:"packets"`
}

// Ring keeps the newest packets within a bound of packets and bytes.
type Ring struct {
	snapLen          int
	maxPkts, maxByte int

	mu    sync.Mutex
	slots []Packet // circular, maxPkts long
	head  int      // oldest
	n     int
	bytes int    // data and overhead of the packets held
	seq   uint64 // last seq handed out
}

// NewRing makes a ring with cfg's bounds (defaults for zero values).
func NewRing(cfg Config) *Ring {
	cfg = cfg.withDefaults()
	return &Ring{snapLen: cfg.SnapLen, maxPkts: cfg.MaxPackets, maxByte: cfg.MaxBytes, slots: make([]Packet, cfg.MaxPackets)}
}

// Add stores a copy of the frame's first SnapLen bytes; wireLen is its
// length on the wire. Full, the ring forgets its oldest packets first.
func (r *Ring) Add(t time.Time, frame []byte, wireLen int, csumPartial bool) uint64 {
	if len(frame) > r.snapLen {
		frame = frame[:r.snapLen]
	}
	wireLen = max(wireLen, len(frame))
	cost := len(frame) + packetOverhead
	// Each packet gets a buffer of its own size: reusing an evicted slot's
	// would keep its capacity, and the byte bound would no longer hold.
	data := append([]byte(nil), frame...)
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n > 0 && (r.n == r.maxPkts || r.bytes+cost > r.maxByte) {
		old := &r.slots[r.head]
		r.bytes -= len(old.Data) + packetOverhead
		*old = Packet{}
		r.head = (r.head + 1) % r.maxPkts
		r.n--
	}
	r.seq++
	r.slots[(r.head+r.n)%r.maxPkts] = Packet{Seq: r.seq, Time: t, Len: wireLen, Data: data, CsumPartial: csumPartial}
	r.n++
	r.bytes += cost
	return r.seq
}

// Page returns copies of up to max packets with seq > after, oldest first,
// within MaxPageBytes of data (at least one packet). max <= 0 means
// DefaultPageMax; more than MaxPageMax is MaxPageMax.
func (r *Ring) Page(after uint64, max int) Page {
	if max <= 0 {
		max = DefaultPageMax
	}
	max = min(max, MaxPageMax)
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Page{LinkType: LinkTypeEthernet, SnapLen: r.snapLen, Next: r.seq, Newest: r.seq, Packets: []Packet{}}
	if after >= r.seq {
		return p
	}
	p.Next = after
	oldest := r.seq - uint64(r.n) + 1
	if after+1 < oldest {
		p.Dropped = oldest - after - 1
		after = oldest - 1
	}
	size := 0
	for i := int(after - (oldest - 1)); i < r.n; i++ {
		s := &r.slots[(r.head+i)%r.maxPkts]
		if len(p.Packets) == max || (len(p.Packets) > 0 && size+len(s.Data) > MaxPageBytes) {
			p.More = true
			break
		}
		c := *s
		c.Data = append([]byte(nil), s.Data...)
		p.Packets = append(p.Packets, c)
		size += len(s.Data)
		p.Next = s.Seq
	}
	return p
}

// Len is how many packets the ring holds and their bytes (data only).
func (r *Ring) Len() (packets, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.bytes - r.n*packetOverhead
}

// Filter is the classic BPF program a capture attaches: IPv4, TCP, not a
// later fragment (those have no TCP header), and one of ports as the
// source or destination port. It reads an Ethernet frame; a packet it keeps
// is kept whole (the snap length is applied when reading, so the frame's
// real length is still known).
func Filter(ports []uint16) ([]bpf.Instruction, error) {
	if len(ports) == 0 {
		return nil, errors.New("capture filter: no ports")
	}
	if len(ports) > 32 {
		return nil, fmt.Errorf("capture filter: %d ports, at most 32", len(ports))
	}
	const (
		etherType   = 12
		ipProto     = 14 + 9
		ipFlagsFrag = 14 + 6
		ipHeader    = 14
		keepAll     = 0x40000 // tcpdump's largest snap length: every byte
	)
	n := len(ports)
	// Layout: 0..7 the IPv4/TCP/fragment checks and the header length,
	// then a load and n compares for each port field, then drop, keep.
	drop := 8 + n + 1 + n
	keep := drop + 1
	skip := func(from, to int) uint8 { return uint8(to - from - 1) }
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: etherType, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0800, SkipFalse: skip(1, drop)},
		bpf.LoadAbsolute{Off: ipProto, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6, SkipFalse: skip(3, drop)},
		bpf.LoadAbsolute{Off: ipFlagsFrag, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: skip(5, drop)},
		bpf.LoadMemShift{Off: ipHeader}, // X = IPv4 header length
		bpf.LoadIndirect{Off: ipHeader, Size: 2},
	}
	for _, p := range ports {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(p), SkipTrue: skip(len(prog), keep)})
	}
	prog = append(prog, bpf.LoadIndirect{Off: ipHeader + 2, Size: 2})
	for _, p := range ports {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(p), SkipTrue: skip(len(prog), keep)})
	}
	prog = append(prog, bpf.RetConstant{Val: 0}, bpf.RetConstant{Val: keepAll})
	if len(prog) != keep+1 {
		return nil, fmt.Errorf("capture filter: built %d instructions, want %d", len(prog), keep+1)
	}
	return prog, nil
}
