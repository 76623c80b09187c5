//go:build linux

package capture_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/capture"
	"github.com/icsrange/icsrange/plant-sim/modbus"
	"github.com/icsrange/icsrange/plant-sim/netsetup"
)

// needRaw skips without CAP_NET_RAW, except in CI (which runs as root),
// where that is a failure.
func needRaw(t *testing.T) {
	t.Helper()
	c, err := netsetup.Current()
	if err == nil && c.Effective&(1<<unix.CAP_NET_RAW) != 0 {
		return
	}
	msg := fmt.Sprintf("a packet socket needs CAP_NET_RAW (run as root); capabilities: %+v %v", c, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// seen is a captured packet, decoded.
type seen struct {
	p   capture.Packet
	ip  *layers.IPv4
	tcp *layers.TCP
}

func decode(t *testing.T, p capture.Packet) seen {
	t.Helper()
	pk := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.Default)
	if el := pk.ErrorLayer(); el != nil {
		t.Fatalf("packet %d does not decode: %v", p.Seq, el.Error())
	}
	ip, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, _ := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if ip == nil || tcp == nil {
		t.Fatalf("packet %d is not IPv4/TCP", p.Seq)
	}
	return seen{p, ip, tcp}
}

// A real capture on loopback while a Modbus client talks to a PLC: the
// session's packets, once each, in order, with kernel timestamps; other
// TCP traffic on the same interface is not captured.
func TestCaptureLoopback(t *testing.T) {
	needRaw(t)
	plc, err := plantsim.New(plantsim.Config{Model: "water-tank", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := plantsim.NewServer(plc, plantsim.ServerConfig{})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := uint16(ln.Addr().(*net.TCPAddr).Port)

	// Other TCP traffic on loopback meanwhile.
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("not modbus"))
			c.Close()
		}
	}()

	c, err := capture.Open(capture.Config{Interface: "lo", Ports: []uint16{port}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		c.Close()
	})

	start := time.Now()
	if oc, err := net.Dial("tcp", other.Addr().String()); err == nil {
		oc.Close()
	}
	mc, err := modbus.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client := mc.LocalAddr().(*net.TCPAddr)
	if err := mc.WriteRegister(1, 1, 1234); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.ReadHoldingRegisters(1, 0, 4); err != nil {
		t.Fatal(err)
	}
	mc.Close()

	// Wait for the whole session: both sides' FIN and the last ACK.
	var pkts []seen
	deadline := time.After(10 * time.Second)
	for {
		p := c.Page(0, 0)
		pkts = pkts[:0]
		fins := 0
		for _, k := range p.Packets {
			s := decode(t, k)
			pkts = append(pkts, s)
			if s.tcp.FIN {
				fins++
			}
		}
		if fins >= 2 && !pkts[len(pkts)-1].tcp.FIN {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("no whole session captured in 10 s: %d packets", len(p.Packets))
		case <-time.After(20 * time.Millisecond):
		}
	}
	end := time.Now()

	type key struct {
		fromClient bool
		seq, ack   uint32
		flags      string
		n          int
	}
	dup := map[key]bool{}
	var writes, fromClient, fromServer int
	var last time.Time
	for i, s := range pkts {
		src := s.tcp.SrcPort
		if src != layers.TCPPort(port) && s.tcp.DstPort != layers.TCPPort(port) {
			t.Fatalf("packet %d is %d→%d: neither side is the PLC's port %d", s.p.Seq, src, s.tcp.DstPort, port)
		}
		if int(src) != client.Port && int(s.tcp.DstPort) != client.Port {
			t.Fatalf("packet %d is %d→%d, not the client's session (port %d)", s.p.Seq, src, s.tcp.DstPort, client.Port)
		}
		if s.p.Seq != uint64(i+1) || s.p.Len != len(s.p.Data) {
			t.Fatalf("packet %d: seq %d, %d of %d bytes", i, s.p.Seq, len(s.p.Data), s.p.Len)
		}
		if s.p.Time.Before(start) || s.p.Time.After(end) || s.p.Time.Before(last) {
			t.Fatalf("packet %d at %v: outside %v..%v or before the previous one", s.p.Seq, s.p.Time, start, end)
		}
		last = s.p.Time
		k := key{src != layers.TCPPort(port), s.tcp.Seq, s.tcp.Ack, fmt.Sprint(s.tcp.SYN, s.tcp.FIN, s.tcp.PSH, s.tcp.ACK), len(s.tcp.Payload)}
		if dup[k] {
			t.Fatalf("packet %d is a duplicate: %+v", s.p.Seq, k)
		}
		dup[k] = true
		if k.fromClient {
			fromClient++
		} else {
			fromServer++
		}
		// The write request: MBAP (7 bytes) then FC 6, register 1, 1234.
		if pl := s.tcp.Payload; k.fromClient && len(pl) == 12 && pl[7] == 6 && pl[9] == 1 && pl[10] == 1234>>8 && pl[11] == 1234&0xff {
			writes++
		}
	}
	if !pkts[0].tcp.SYN || pkts[0].tcp.ACK || !pkts[1].tcp.SYN || !pkts[1].tcp.ACK {
		t.Fatalf("the capture does not start with the handshake: %+v %+v", pkts[0].tcp, pkts[1].tcp)
	}
	if writes != 1 || fromClient < 5 || fromServer < 4 {
		t.Fatalf("captured %d writes, %d packets from the client and %d from the PLC; want 1, ≥5, ≥4", writes, fromClient, fromServer)
	}
	t.Logf("%d packets of one session, %v from first to last", len(pkts), pkts[len(pkts)-1].p.Time.Sub(pkts[0].p.Time))
}

// Without CAP_NET_RAW, Open says what it needs.
func TestOpenNeedsCapNetRaw(t *testing.T) {
	errc := make(chan error, 1)
	go func() {
		// Capabilities are per thread: drop CAP_NET_RAW on this one only
		// and never unlock it, so the runtime ends the thread with the
		// goroutine.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		data[0].Effective &^= 1 << unix.CAP_NET_RAW
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		c, err := capture.Open(capture.Config{})
		if err == nil {
			c.Close()
			err = errors.New("opened")
		}
		errc <- err
	}()
	err := <-errc
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "needs CAP_NET_RAW") {
		t.Fatalf("Open without CAP_NET_RAW: %v; want EPERM saying it needs CAP_NET_RAW", err)
	}
}
