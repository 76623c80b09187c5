package plantsim_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"testing"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/plctest"
)

// A controlling station written from IEC 60870-5-104 (clause 5, the APCI)
// and IEC 60870-5-101 (clause 7, the ASDU) for these tests. It shares no
// code with the server or with package iec104: the server is checked
// against a reading of the standard, not against itself.

// Type identifications and causes, as the standard numbers them.
const (
	tMSpNa1 = 1
	tMDpNa1 = 3
	tMMeNb1 = 11
	tMMeNc1 = 13
	tMSpTb1 = 30
	tMDpTb1 = 31
	tMMeTe1 = 35
	tMMeTf1 = 36
	tCScNa1 = 45
	tCDcNa1 = 46
	tCSeNa1 = 48 // normalised set-point: not served
	tCSeNb1 = 49
	tCSeNc1 = 50
	tCScTa1 = 58
	tMEiNa1 = 70
	tCIcNa1 = 100
	tCRdNa1 = 102
	tCCsNa1 = 103

	cSpont    = 3
	cInit     = 4
	cReq      = 5
	cAct      = 6
	cActCon   = 7
	cDeact    = 8
	cDeactCon = 9
	cActTerm  = 10
	cInrogen  = 20
)

// elementLen is each type's information element length (IEC 60870-5-101
// 7.3), without the three-octet address.
var elementLen = map[byte]int{
	tMSpNa1: 1, tMDpNa1: 1, tMMeNb1: 3, tMMeNc1: 5, tMSpTb1: 8, tMDpTb1: 8, tMMeTe1: 10, tMMeTf1: 12,
	tCScNa1: 1, tCDcNa1: 1, tCSeNa1: 3, tCSeNb1: 3, tCSeNc1: 5, tCScTa1: 8, tMEiNa1: 1, tCIcNa1: 1, tCRdNa1: 0, tCCsNa1: 7,
}

type apdu struct {
	kind   byte // 'I', 'S', 'U'
	ns, nr uint16
	u      byte // U-format octet 1
	asdu   []byte
	raw    []byte
}

type object struct {
	ioa  uint32
	elem []byte
}

type asduMsg struct {
	typ, cause byte
	pn, sq     bool
	ca         uint16
	objs       []object
}

type iecClient struct {
	t      testing.TB
	conn   net.Conn
	br     *bufio.Reader
	vs, vr uint16
	sent   [][]byte // every APDU we wrote, for checking the traffic log
	// holdAck, when set, keeps N(R) in our I-frames at ackNR instead of
	// acknowledging what came, to keep the server's window closed.
	holdAck bool
	ackNR   uint16
}

func dialIEC(t testing.TB, addr string) *iecClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &iecClient{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func (c *iecClient) write(b []byte) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	c.sent = append(c.sent, b)
}

// sendU sends a U-format frame (0x07 STARTDT act, 0x13 STOPDT act, 0x43
// TESTFR act, 0x83 TESTFR con).
func (c *iecClient) sendU(fn byte) { c.write([]byte{0x68, 4, fn, 0, 0, 0}) }

// sendS acknowledges everything received so far.
func (c *iecClient) sendS() { c.sendSAt(c.vr) }

// sendSAt acknowledges the server's I-frames before nr.
func (c *iecClient) sendSAt(nr uint16) {
	c.write([]byte{0x68, 4, 1, 0, byte(nr << 1), byte(nr >> 7)})
}

// sendI sends an ASDU with our send and receive counts.
func (c *iecClient) sendI(asdu []byte) {
	c.sendIAs(c.vs, asdu)
	c.vs = (c.vs + 1) & 0x7FFF
}

// sendIAs sends an I-frame with a chosen N(S).
func (c *iecClient) sendIAs(ns uint16, asdu []byte) {
	nr := c.vr
	if c.holdAck {
		nr = c.ackNR
	}
	b := []byte{0x68, byte(4 + len(asdu)), byte(ns << 1), byte(ns >> 7), byte(nr << 1), byte(nr >> 7)}
	c.write(append(b, asdu...))
}

// read reads one APDU; an I-frame advances our receive count.
func (c *iecClient) read() apdu {
	c.t.Helper()
	a, err := c.tryRead(ioTimeout)
	if err != nil {
		c.t.Fatalf("read apdu: %v", err)
	}
	return a
}

func (c *iecClient) tryRead(timeout time.Duration) (apdu, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(c.br, hdr); err != nil {
		return apdu{}, err
	}
	if hdr[0] != 0x68 || hdr[1] < 4 {
		return apdu{}, errors.New("not an apdu")
	}
	body := make([]byte, hdr[1])
	if _, err := io.ReadFull(c.br, body); err != nil {
		return apdu{}, err
	}
	a := apdu{raw: append(hdr, body...)}
	switch {
	case body[0]&1 == 0:
		a.kind = 'I'
		a.ns = binary.LittleEndian.Uint16(body[0:]) >> 1
		a.nr = binary.LittleEndian.Uint16(body[2:]) >> 1
		a.asdu = body[4:]
		if a.ns != c.vr {
			return a, errors.New("server's N(S) out of order")
		}
		c.vr = (c.vr + 1) & 0x7FFF
	case body[0]&3 == 1:
		a.kind = 'S'
		a.nr = binary.LittleEndian.Uint16(body[2:]) >> 1
	default:
		a.kind = 'U'
		a.u = body[0]
	}
	return a, nil
}

// expectU reads the next frame, which must be the U function fn.
func (c *iecClient) expectU(fn byte) {
	c.t.Helper()
	if a := c.read(); a.kind != 'U' || a.u != fn {
		c.t.Fatalf("got %c frame (u=%02X), want U %02X", a.kind, a.u, fn)
	}
}

// untilU reads frames up to U function fn, skipping I-frames (spontaneous
// data).
func (c *iecClient) untilU(fn byte) {
	c.t.Helper()
	for {
		a := c.read()
		if a.kind == 'U' && a.u == fn {
			return
		}
		if a.kind != 'I' {
			c.t.Fatalf("got %c frame (u=%02X) waiting for U %02X", a.kind, a.u, fn)
		}
	}
}

// reply is nextASDU skipping spontaneous data (cause 3), which a scan may
// slip in between a request and its answer.
func (c *iecClient) reply() asduMsg {
	c.t.Helper()
	for {
		if m := c.nextASDU(); m.cause != cSpont {
			return m
		}
	}
}

// nextASDU reads frames up to the next I-frame and decodes its ASDU,
// answering TESTFR act on the way.
func (c *iecClient) nextASDU() asduMsg {
	c.t.Helper()
	for {
		a := c.read()
		switch {
		case a.kind == 'I':
			return decodeASDU(c.t, a.asdu)
		case a.kind == 'U' && a.u == 0x43:
			c.sendU(0x83)
		}
	}
}

func decodeASDU(t testing.TB, b []byte) asduMsg {
	t.Helper()
	if len(b) < 6 {
		t.Fatalf("asdu of %d bytes", len(b))
	}
	m := asduMsg{typ: b[0], sq: b[1]&0x80 != 0, cause: b[2] & 0x3F, pn: b[2]&0x40 != 0, ca: binary.LittleEndian.Uint16(b[4:])}
	n := int(b[1] & 0x7F)
	size, ok := elementLen[m.typ]
	if !ok {
		return m // an unknown type mirrored back: objects not decoded
	}
	rest := b[6:]
	ioa := func(o []byte) uint32 { return uint32(o[0]) | uint32(o[1])<<8 | uint32(o[2])<<16 }
	if m.sq {
		base := ioa(rest)
		for i := range n {
			m.objs = append(m.objs, object{base + uint32(i), rest[3+i*size : 3+(i+1)*size]})
		}
		return m
	}
	if len(rest) != n*(3+size) {
		t.Fatalf("asdu type %d: %d objects in %d bytes", m.typ, n, len(rest))
	}
	for i := range n {
		o := rest[i*(3+size):]
		m.objs = append(m.objs, object{ioa(o), o[3 : 3+size]})
	}
	return m
}

// asdu builds one control-direction ASDU with a single object.
func asdu(typ, cause byte, ca uint16, ioa uint32, elem ...byte) []byte {
	b := []byte{typ, 1, cause, 0, byte(ca), byte(ca >> 8), byte(ioa), byte(ioa >> 8), byte(ioa >> 16)}
	return append(b, elem...)
}

func floatElem(v float32, qos byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)), qos)
}

// value decodes a monitored element: single and double points as their
// state (double points 1 off → 0, 2 on → 1), measured values as numbers,
// scaled ones divided by scale.
func value(t testing.TB, typ byte, e []byte, scale float64) float64 {
	t.Helper()
	switch typ {
	case tMSpNa1, tMSpTb1:
		return float64(e[0] & 1)
	case tMDpNa1, tMDpTb1:
		switch e[0] & 3 {
		case 1:
			return 0
		case 2:
			return 1
		}
		t.Fatalf("double point in state %d", e[0]&3)
	case tMMeNc1, tMMeTf1:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(e)))
	case tMMeNb1, tMMeTe1:
		return float64(int16(binary.LittleEndian.Uint16(e))) / scale
	}
	t.Fatalf("type %d is not a monitored value", typ)
	return 0
}

// cp56 decodes a CP56Time2a time tag (the last 7 octets of e).
func cp56(e []byte) time.Time {
	b := e[len(e)-7:]
	ms := int(binary.LittleEndian.Uint16(b))
	return time.Date(2000+int(b[6]&0x7F), time.Month(b[5]&0x0F), int(b[4]&0x1F), int(b[3]&0x1F), int(b[2]&0x3F),
		ms/1000, ms%1000*1e6, time.UTC)
}

func appendCP56(b []byte, t time.Time) []byte {
	ms := t.Second()*1000 + t.Nanosecond()/1e6
	return append(b, byte(ms), byte(ms>>8), byte(t.Minute()), byte(t.Hour()), byte(t.Day()), byte(t.Month()), byte(t.Year()%100))
}

// start sends STARTDT act, expects its confirmation and, when first is
// set, the station's end of initialisation.
func (c *iecClient) start(first bool) {
	c.t.Helper()
	c.sendU(0x07)
	c.expectU(0x0B)
	if first {
		m := c.nextASDU()
		if m.typ != tMEiNa1 || m.cause != cInit || len(m.objs) != 1 || m.objs[0].ioa != 0 {
			c.t.Fatalf("after STARTDT: %+v, want M_EI_NA_1 cause 4", m)
		}
	}
}

// expectClosedIEC waits for the server to close the connection.
func (c *iecClient) expectClosed() {
	c.t.Helper()
	for {
		_, err := c.tryRead(ioTimeout)
		if err == nil {
			continue // frames sent before the close
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %v", ioTimeout)
		}
		return
	}
}

// iecPLC is a noiseless PLC of model with an IEC 104 server.
func iecPLC(t testing.TB, model string, cfg plantsim.IEC104Config) (*plantsim.PLC, string) {
	t.Helper()
	plc, err := plantsim.New(plantsim.Config{Model: model, Noise: 0})
	if err != nil {
		t.Fatal(err)
	}
	_, addr := plctest.ServeIEC104(t, plc, cfg)
	return plc, addr
}
