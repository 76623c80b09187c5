package plantsim_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/plctest"
)

// The IEC 104 and OPC UA servers keep their connections in the same slots
// as Modbus (listen.go, slots_test.go): a frame begun must be complete
// within the frame timeout, and when every slot is taken a new connection
// takes the slot of one that has completed no frame for EvictAfter, never
// that of one that keeps polling.

// slotProto is one protocol as these tests drive it: a server, the first
// frame a client sends and its answer, and a frame a client may send at
// any time after it (nil: none) with its answer.
type slotProto struct {
	name  string
	serve func(t *testing.T, plc *plantsim.PLC, lim plantsim.ServerConfig) (addr string, clients func() int)
	first []byte
	again []byte
	// answer reads the answer to first (or again) from c.
	answer func(c net.Conn) error
}

var iecTestFR = []byte{0x68, 4, 0x43, 0, 0, 0}

func slotProtos() []slotProto {
	return []slotProto{
		{
			name: "IEC 104",
			serve: func(t *testing.T, plc *plantsim.PLC, lim plantsim.ServerConfig) (string, func() int) {
				srv, addr := plctest.ServeIEC104(t, plc, plantsim.IEC104Config{
					MaxClients: lim.MaxClients, FrameTimeout: lim.FrameTimeout, EvictAfter: lim.EvictAfter})
				return addr, srv.Clients
			},
			// TESTFR works before STARTDT, and brings no data.
			first: iecTestFR, again: iecTestFR,
			answer: func(c net.Conn) error {
				b := make([]byte, 6)
				if _, err := io.ReadFull(c, b); err != nil {
					return err
				}
				if !bytes.Equal(b, []byte{0x68, 4, 0x83, 0, 0, 0}) {
					return fmt.Errorf("answer % x, want TESTFR con", b)
				}
				return nil
			},
		},
		{
			name: "OPC UA",
			serve: func(t *testing.T, plc *plantsim.PLC, lim plantsim.ServerConfig) (string, func() int) {
				srv, url := startOPCUA(t, plc, plantsim.OPCUAConfig{
					MaxClients: lim.MaxClients, FrameTimeout: lim.FrameTimeout, EvictAfter: lim.EvictAfter})
				return strings.TrimPrefix(url, "opc.tcp://"), srv.Clients
			},
			first: hel(0, 65536, 65536, 0, 0, "opc.tcp://plc"),
			answer: func(c net.Conn) error {
				h := make([]byte, 28)
				if _, err := io.ReadFull(c, h); err != nil {
					return err
				}
				if !bytes.HasPrefix(h, []byte("ACKF")) {
					return fmt.Errorf("answer % x, want ACK", h)
				}
				return nil
			},
		},
	}
}

// exchange sends frame on c and reads its answer, within a few seconds.
func (p slotProto) exchange(c net.Conn, frame []byte) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(frame); err != nil {
		return err
	}
	return p.answer(c)
}

// try is a new client's first exchange: nil once the server has served it.
func (p slotProto) try(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	return p.exchange(c, p.first)
}

// A frame begun and not completed within the frame timeout loses its
// connection, recorded as a frame timeout and nothing else; one sent in
// pieces within it is served, and a wait between frames is not its
// business.
func TestProtocolFrameTimeout(t *testing.T) {
	const timeout = time.Second
	for _, p := range slotProtos() {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			plc := plctestWaterTank(t)
			addr, _ := p.serve(t, plc, plantsim.ServerConfig{FrameTimeout: timeout})

			conn := dialRaw(t, addr)
			start := time.Now()
			if _, err := conn.Write(p.first[:3]); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, conn)
			if el := time.Since(start); el < timeout {
				t.Fatalf("closed after %v, before the frame timeout of %v", el, timeout)
			}
			waitFor(t, "the frame timeout in the audit trail", func() bool { return auditKinds(plc)["frame-timeout"] == 1 })
			for _, a := range plc.Capture(0).Audit {
				switch a.Kind {
				case "frame-timeout":
					if !strings.Contains(a.Detail, "over "+p.name) || !strings.Contains(a.Detail, "not complete 1s later") {
						t.Errorf("frame timeout recorded as %q", a.Detail)
					}
				case "exception":
					t.Errorf("the frame timeout also recorded as %q", a.Detail)
				}
			}

			conn = dialRaw(t, addr)
			third := len(p.first) / 3
			for _, piece := range [][]byte{p.first[:third], p.first[third : 2*third], p.first[2*third:]} {
				if _, err := conn.Write(piece); err != nil {
					t.Fatal(err)
				}
				time.Sleep(timeout / 10)
			}
			if err := p.answer(conn); err != nil {
				t.Fatalf("no answer to a frame sent in pieces: %v", err)
			}
			if p.again != nil {
				time.Sleep(2 * timeout)
				if err := p.exchange(conn, p.again); err != nil {
					t.Fatalf("after a wait between frames: %v", err)
				}
			}
			if n := auditKinds(plc)["frame-timeout"]; n != 1 {
				t.Fatalf("%d frame timeouts, want only the first client's", n)
			}
		})
	}
}

// One idle client and one that polls fill both slots; a new client takes
// the idle one's slot, never the poller's, and the audit trail says so.
func TestProtocolIdleClientsYieldSlots(t *testing.T) {
	for _, p := range slotProtos() {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			plc := plctestWaterTank(t)
			addr, clients := p.serve(t, plc, plantsim.ServerConfig{MaxClients: 2})

			// The poller: IEC 104 tests the link, OPC UA reads a value,
			// every 100 ms.
			poll := pollerFor(t, p, addr)
			polling, stop := make(chan error, 1), make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					if err := poll(); err != nil {
						polling <- err
						return
					}
				}
			})
			stopPolling := sync.OnceFunc(func() { close(stop); wg.Wait() })
			defer stopPolling()
			waitFor(t, "the poller alone", func() bool { return clients() == 1 })

			idle := dialRaw(t, addr)
			if err := p.exchange(idle, p.first); err != nil {
				t.Fatal(err)
			}
			idle.SetDeadline(time.Time{})
			waitFor(t, "every slot taken", func() bool { return clients() == 2 })
			waitFor(t, "a new client served", func() bool { return p.try(addr) == nil })

			var evicted []string
			for _, a := range plc.Capture(0).Audit {
				if a.Kind == "evicted" {
					evicted = append(evicted, a.Source)
					if !strings.Contains(a.Detail, "over "+p.name) || !strings.Contains(a.Detail, "all 2 "+p.name+" connection slots") {
						t.Errorf("eviction recorded as %q", a.Detail)
					}
				}
			}
			if len(evicted) != 1 || evicted[0] != idle.LocalAddr().String() {
				t.Fatalf("evicted %v, want the idle client %s", evicted, idle.LocalAddr())
			}
			expectClosed(t, idle)
			stopPolling()
			select {
			case err := <-polling:
				t.Fatalf("the poller lost its connection: %v", err)
			default:
			}
			if err := poll(); err != nil {
				t.Fatalf("the poller after the eviction: %v", err)
			}
		})
	}
}

// pollerFor connects a client that keeps its connection busy and returns
// one poll of it.
func pollerFor(t *testing.T, p slotProto, addr string) func() error {
	t.Helper()
	if p.name == "OPC UA" {
		c := mustDialUA(t, "opc.tcp://"+addr, secNone, uaAuth{})
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			resp, err := c.Read(ctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{
				{NodeID: ua.MustParseNodeID("ns=1;s=level"), AttributeID: ua.AttributeIDValue}}})
			if err == nil && resp.Results[0].Status != ua.StatusOK {
				err = resp.Results[0].Status
			}
			return err
		}
	}
	c := dialRaw(t, addr)
	if err := p.exchange(c, p.first); err != nil {
		t.Fatal(err)
	}
	return func() error { return p.exchange(c, p.again) }
}
