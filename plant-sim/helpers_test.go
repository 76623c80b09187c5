package plantsim_test

import (
	"encoding/binary"
	"errors"
	"io"
	"log"
	"math"
	"net"
	"syscall"
	"testing"
	"time"

	smodbus "github.com/simonvetter/modbus"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/modbus"
	"github.com/icsrange/icsrange/plant-sim/plctest"
)

// ioTimeout bounds every wait on the network in these tests. It is generous
// on purpose: it only matters when a test is about to fail.
const ioTimeout = 5 * time.Second

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startPLC starts a noiseless water-tank PLC at exercise time zero and serves
// it over Modbus/TCP on 127.0.0.1:0. Nothing advances the PLC's clock but the
// test, so every scan is explicit (see scan). The server is closed when the
// test ends.
func startPLC(t testing.TB, scfg plantsim.ServerConfig) (*plantsim.PLC, string) {
	t.Helper()
	return startPLCWith(t, plantsim.Config{Model: "water-tank", Noise: 0}, scfg)
}

// startPLCWith is startPLC for any PLC configuration.
func startPLCWith(t testing.TB, cfg plantsim.Config, scfg plantsim.ServerConfig) (*plantsim.PLC, string) {
	t.Helper()
	plc, err := plantsim.New(cfg)
	if err != nil {
		t.Fatalf("new PLC: %v", err)
	}
	_, addr := plctest.Serve(t, plc, scfg)
	return plc, addr
}

// scan advances the PLC by one scan period, so client writes are latched
// into PLC memory and the register image is republished.
func scan(plc *plantsim.PLC) { plc.Advance(plc.Now() + plc.ScanPeriod()) }

// tagValue returns a tag's truth and reported value from the management view.
func tagValue(t testing.TB, plc *plantsim.PLC, name string) plantsim.TagValue {
	t.Helper()
	for _, v := range plc.Tags() {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("PLC %s has no tag %q", plc.ID(), name)
	return plantsim.TagValue{}
}

// tagDef returns a tag's definition and its scaled and float32 addresses.
func tagDef(t testing.TB, plc *plantsim.PLC, name string) (def plantsim.TagDef, addr, floatAddr uint16) {
	t.Helper()
	i, ok := plc.Model().Tag(name)
	if !ok {
		t.Fatalf("model %s has no tag %q", plc.Model().Name, name)
	}
	l := plc.Layout()
	return plc.Model().Tags[i], uint16(l.Addr[i]), uint16(l.Float[i])
}

// floatRegs is a float32 as two registers, high word first.
func floatRegs(v float64) []uint16 {
	b := math.Float32bits(float32(v))
	return []uint16{uint16(b >> 16), uint16(b)}
}

// regsFloat decodes two registers, high word first.
func regsFloat(r []uint16) float32 {
	return math.Float32frombits(uint32(r[0])<<16 | uint32(r[1]))
}

// ourClient dials the server with our own Modbus client.
func ourClient(t testing.TB, addr string) *modbus.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := modbus.NewClient(conn)
	c.Timeout = ioTimeout
	t.Cleanup(func() { c.Close() })
	return c
}

// peerClient dials the server with github.com/simonvetter/modbus, an
// independent implementation, addressing unit 1.
func peerClient(t testing.TB, addr string) *smodbus.ModbusClient {
	t.Helper()
	return peerClientTimeout(t, addr, ioTimeout)
}

// peerClientTimeout is peerClient with a request timeout.
func peerClientTimeout(t testing.TB, addr string, timeout time.Duration) *smodbus.ModbusClient {
	t.Helper()
	c, err := smodbus.NewClient(&smodbus.ClientConfiguration{
		URL:     "tcp://" + addr,
		Timeout: timeout,
		Logger:  log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Fatalf("peer client: %v", err)
	}
	if err := c.Open(); err != nil {
		t.Fatalf("peer client open: %v", err)
	}
	if err := c.SetUnitId(1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialRaw opens a plain TCP connection for hand-built frames.
func dialRaw(t testing.TB, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// adu builds a Modbus/TCP frame by hand (independently of package modbus).
func adu(tx uint16, unit byte, pdu ...byte) []byte {
	b := []byte{byte(tx >> 8), byte(tx), 0, 0, byte((len(pdu) + 1) >> 8), byte(len(pdu) + 1), unit}
	return append(b, pdu...)
}

// readADU reads one whole response frame (header and PDU) from conn.
func readADU(t testing.TB, conn net.Conn) []byte {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 7)
	if _, err := io.ReadFull(conn, hdr); err != nil {
		t.Fatalf("read response header: %v", err)
	}
	n := int(binary.BigEndian.Uint16(hdr[4:]))
	if n < 2 || n > 254 {
		t.Fatalf("response header % x has length %d", hdr, n)
	}
	rest := make([]byte, n-1)
	if _, err := io.ReadFull(conn, rest); err != nil {
		t.Fatalf("read response pdu: %v", err)
	}
	return append(hdr, rest...)
}

// roundTrip writes one frame and reads one response frame.
func roundTrip(t testing.TB, conn net.Conn, frame []byte) []byte {
	t.Helper()
	if err := conn.SetWriteDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(frame); err != nil {
		t.Fatalf("write: %v", err)
	}
	return readADU(t, conn)
}

// expectClosed waits for the server to close conn: a read must end with EOF
// (or a reset, when the server closed with our bytes unread) well before
// ioTimeout, without delivering data.
func expectClosed(t testing.TB, conn net.Conn) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if n > 0 {
		t.Fatalf("connection delivered % x, want it closed", buf[:n])
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("connection still open after %v", ioTimeout)
	default:
		t.Fatalf("read on closed connection: %v, want EOF", err)
	}
}
