package plantsim_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// BenchmarkReads compares one client's read round trips over the three
// protocols against one scanning PLC, in the same run:
//
//	modbus-fc3            FC3 of 10 holding registers (the reference)
//	iec104-read           C_RD_NA_1 of one measured value and its answer
//	iec104-interrogation  a station interrogation: actcon, every point, actterm
//	opcua-read/None       a Read of one Value, gopcua's client, no security
//	opcua-read/SignAndEncrypt  the same over Basic256Sha256
//
// The IEC 104 client is allocation-free, so allocs/op there is the
// server's. Run with
//
//	go test ./plant-sim -run '^$' -bench BenchmarkReads -benchtime 3s
func BenchmarkReads(b *testing.B) {
	plc, err := plantsim.New(plantsim.Config{ID: "bench", Model: "water-tank", Seed: 1, Noise: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Go(func() { plantsim.RunRealtime(ctx, plantsim.DefaultScan, plc) })
	defer func() {
		cancel()
		running.Wait()
	}()
	serve := func(srv interface{ Serve(net.Listener) error }) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		running.Go(func() { srv.Serve(ln) })
		return ln.Addr().String()
	}
	mb := plantsim.NewServer(plc, plantsim.ServerConfig{})
	defer mb.Close()
	mbAddr := serve(mb)
	iec, err := plantsim.NewIEC104Server(plc, plantsim.IEC104Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer iec.Close()
	iecAddr := serve(iec)
	cert := uaCerts()
	uas, err := plantsim.NewOPCUAServer(plc, plantsim.OPCUAConfig{Security: []plantsim.OPCUASecurity{secNone, secEncrypt},
		Certificate: cert.server, Key: cert.serverKey})
	if err != nil {
		b.Fatal(err)
	}
	defer uas.Close()
	uaURL := "opc.tcp://" + serve(uas)

	b.Run("modbus-fc3", func(b *testing.B) {
		c, err := modbus.Dial(ctx, mbAddr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		c.Timeout = ioTimeout
		pdu := []byte{modbus.FuncReadHoldingRegisters, 0, plantsim.FloatBase, 0, 10} // the float32 block: 16 registers
		b.ReportAllocs()
		t0 := time.Now()
		for b.Loop() {
			if _, err := c.Do(plc.UnitID(), pdu); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "req/s")
	})
	b.Run("iec104-read", func(b *testing.B) {
		c := newBench104(b, iecAddr)
		ioa := uint32(plantsim.IOAInputFloat + 1)
		req := []byte{0x68, 13, 0, 0, 0, 0, 102, 1, 5, 0, 1, 0, byte(ioa), byte(ioa >> 8), 0}
		b.ReportAllocs()
		t0 := time.Now()
		for b.Loop() {
			c.send(req)
			for c.next() != 13 { // skip spontaneous data until the answer
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "req/s")
	})
	b.Run("iec104-interrogation", func(b *testing.B) {
		c := newBench104(b, iecAddr)
		req := []byte{0x68, 14, 0, 0, 0, 0, 100, 1, 6, 0, 1, 0, 0, 0, 0, 20}
		b.ReportAllocs()
		t0 := time.Now()
		for b.Loop() {
			c.send(req)
			for c.next() != 100 || c.buf[8]&0x3F != 10 { // up to the termination
				c.ackIfDue()
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "interrogations/s")
	})
	for _, sec := range []plantsim.OPCUASecurity{secNone, secEncrypt} {
		b.Run("opcua-read/"+strings.Split(sec.String(), "/")[1], func(b *testing.B) {
			c := mustDialUA(b, uaURL, sec, uaAuth{})
			req := &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: ua.MustParseNodeID("ns=1;s=level"), AttributeID: ua.AttributeIDValue}}}
			b.ReportAllocs()
			t0 := time.Now()
			for b.Loop() {
				resp, err := c.Read(ctx, req)
				if err != nil || resp.Results[0].Status != ua.StatusOK {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "req/s")
		})
	}
}

// bench104 is an allocation-free IEC 104 client for benchmarks: frames
// built once and patched with the sequence numbers.
type bench104 struct {
	b      *testing.B
	conn   net.Conn
	vs, vr uint16
	buf    []byte
	sinceS int
}

func newBench104(b *testing.B, addr string) *bench104 {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	c := &bench104{b: b, conn: conn, buf: make([]byte, 255)}
	conn.SetDeadline(time.Now().Add(time.Hour))
	conn.Write([]byte{0x68, 4, 0x07, 0, 0, 0})
	for {
		if io.ReadFull(conn, c.buf[:6]); c.buf[2] == 0x0B {
			return c
		}
	}
}

// send sends an I-frame, acknowledging everything received.
func (c *bench104) send(frame []byte) {
	binary.LittleEndian.PutUint16(frame[2:], c.vs<<1)
	binary.LittleEndian.PutUint16(frame[4:], c.vr<<1)
	c.vs = (c.vs + 1) & 0x7FFF
	c.sinceS = 0
	if _, err := c.conn.Write(frame); err != nil {
		c.b.Fatal(err)
	}
}

// next reads an APDU and returns its type id (0 for S and U frames).
func (c *bench104) next() byte {
	if _, err := io.ReadFull(c.conn, c.buf[:2]); err != nil {
		c.b.Fatal(err)
	}
	n := int(c.buf[1])
	if _, err := io.ReadFull(c.conn, c.buf[2:2+n]); err != nil {
		c.b.Fatal(err)
	}
	if c.buf[2]&1 != 0 {
		return 0
	}
	c.vr = (c.vr + 1) & 0x7FFF
	c.sinceS++
	return c.buf[6]
}

// ackIfDue acknowledges with an S-frame every 8 I-frames.
func (c *bench104) ackIfDue() {
	if c.sinceS >= 8 {
		s := []byte{0x68, 4, 1, 0, 0, 0}
		binary.LittleEndian.PutUint16(s[4:], c.vr<<1)
		c.conn.Write(s)
		c.sinceS = 0
	}
}
