//go:build linux

package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/mdlayher/socket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// socketBuffer is the receive queue asked for: a flood's burst waits there
// while the reader copies packets into the ring. The kernel caps it at
// net.core.rmem_max.
const socketBuffer = 4 << 20

// Capture is an open packet socket feeding a Ring.
type Capture struct {
	*Ring
	conn    *socket.Conn
	snapLen int

	mu         sync.Mutex
	kernelDrop uint64
}

// Open opens the packet socket with its filter. It needs CAP_NET_RAW in the
// network namespace; call Run to start reading.
//
// The socket is made with protocol 0, so it receives nothing until the
// filter is attached and it is bound to ETH_P_ALL: no unfiltered packet is
// ever queued.
func Open(cfg Config) (*Capture, error) {
	cfg = cfg.withDefaults()
	prog, err := Filter(cfg.Ports)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("capture filter: %w", err)
	}
	ifindex := 0
	if cfg.Interface != "" {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("capture on %s: %w", cfg.Interface, err)
		}
		ifindex = ifi.Index
	}
	conn, err := socket.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0, "packet", nil)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("open packet socket: needs CAP_NET_RAW: %w", err)
		}
		return nil, fmt.Errorf("open packet socket: %w", err)
	}
	fail := func(what string, err error) (*Capture, error) {
		conn.Close()
		return nil, fmt.Errorf("packet socket: %s: %w", what, err)
	}
	if err := conn.SetBPF(raw); err != nil {
		return fail("attach filter", err)
	}
	// Kernel timestamps: when the packet crossed the interface, not when
	// this reader got round to it (a burst queues, the GC pauses).
	if err := conn.SetsockoptInt(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fail("timestamps", err)
	}
	// Auxiliary data says which sent packets still lack their TCP checksum.
	if err := conn.SetsockoptInt(unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fail("auxdata", err)
	}
	conn.SetReadBuffer(socketBuffer) // best effort: capped by rmem_max
	if err := conn.Bind(&unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return fail("bind", err)
	}
	return &Capture{Ring: NewRing(cfg), conn: conn, snapLen: cfg.SnapLen}, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Run reads packets into the ring until ctx ends or the capture is closed;
// then it returns nil.
func (c *Capture) Run(ctx context.Context) error {
	buf := make([]byte, c.snapLen)
	oob := make([]byte, unix.CmsgSpace(16)+unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{}))))
	for {
		// MSG_TRUNC: n is the frame's whole length, though only snapLen
		// bytes are copied.
		n, oobn, _, from, err := c.conn.Recvmsg(ctx, buf, oob, unix.MSG_TRUNC)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) || errors.Is(err, unix.EBADF) {
				return nil
			}
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENETDOWN) {
				continue // an interface went away; the others go on
			}
			return fmt.Errorf("read packet: %w", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			switch {
			case ll.Hatype != unix.ARPHRD_ETHER && ll.Hatype != unix.ARPHRD_LOOPBACK:
				// No Ethernet header: the filter's offsets meant nothing.
				continue
			case ll.Hatype == unix.ARPHRD_LOOPBACK && ll.Pkttype == unix.PACKET_OUTGOING:
				// Loopback hands every packet to taps twice, going out and
				// coming in; keep one (as libpcap does). A veth shows each
				// once, in its own direction.
				continue
			}
		}
		at, partial := parseControl(oob[:oobn])
		if at.IsZero() {
			at = time.Now()
		}
		c.Add(at, buf[:min(n, len(buf))], n, partial)
	}
}

// parseControl reads the kernel timestamp and whether the TCP checksum is
// still to be filled in by the device.
func parseControl(oob []byte) (at time.Time, csumPartial bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS:
			// struct timespec: two longs, 64 or 32 bits by architecture.
			switch len(m.Data) {
			case 16:
				at = time.Unix(int64(binary.NativeEndian.Uint64(m.Data)), int64(binary.NativeEndian.Uint64(m.Data[8:])))
			case 8:
				at = time.Unix(int64(int32(binary.NativeEndian.Uint32(m.Data))), int64(int32(binary.NativeEndian.Uint32(m.Data[4:]))))
			}
		case m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 4:
			status := binary.NativeEndian.Uint32(m.Data)
			csumPartial = status&unix.TP_STATUS_CSUMNOTREADY != 0
		}
	}
	return at, csumPartial
}

// Page is the ring's page with the kernel's drop count.
func (c *Capture) Page(after uint64, max int) Page {
	p := c.Ring.Page(after, max)
	p.KernelDropped = c.KernelDropped()
	return p
}

// KernelDropped is how many packets the kernel dropped since Open because
// the socket's queue was full.
func (c *Capture) KernelDropped() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	// PACKET_STATISTICS resets the counters it reports.
	if st, err := c.conn.GetsockoptTpacketStats(unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		c.kernelDrop += uint64(st.Drops)
	}
	return c.kernelDrop
}

// Close closes the socket; Run returns.
func (c *Capture) Close() error { return c.conn.Close() }
