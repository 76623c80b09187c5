package plantsim_test

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// ioaOf is the published IOA of a tag in a block (see docs/register-maps.md).
func ioaOf(t testing.TB, plc *plantsim.PLC, base uint32, tag string) uint32 {
	t.Helper()
	_, addr, _ := tagDef(t, plc, tag)
	return base + uint32(addr) + 1
}

func spoof(t testing.TB, plc *plantsim.PLC, tag string, v float64) {
	t.Helper()
	if err := plc.Apply(plantsim.Effect{Kind: plantsim.EffectSpoof, Tag: tag, Value: &v}); err != nil {
		t.Fatal(err)
	}
}

// A general interrogation returns every monitored point of the published
// map, with the values Modbus and the management view show, between an
// activation confirmation and termination: for every model, with the
// process values whose range goes below zero read below zero.
func TestIEC104Interrogation(t *testing.T) {
	for _, model := range plantsim.ModelNames() {
		t.Run(model, func(t *testing.T) { iecInterrogation(t, model) })
	}
}

func iecInterrogation(t *testing.T, model string) {
	plc, addr := iecPLC(t, model, plantsim.IEC104Config{})
	below := map[string]bool{} // spoofed below zero
	for _, tg := range plc.Model().Tags {
		if tg.Table == plantsim.InputRegister && tg.Min < 0 {
			spoof(t, plc, tg.Name, tg.Min/2)
			below[tg.Name] = true
		}
	}
	scan(plc)
	c := dialIEC(t, addr)
	c.start(true)
	c.sendI(asdu(tCIcNa1, cAct, 1, 0, 20))
	if m := c.reply(); m.typ != tCIcNa1 || m.cause != cActCon || m.pn {
		t.Fatalf("interrogation answered %+v, want actcon", m)
	}
	got := map[uint32]float64{}
	types := map[uint32]byte{}
	for {
		m := c.reply()
		if m.typ == tCIcNa1 {
			if m.cause != cActTerm {
				t.Fatalf("interrogation ended with cause %d", m.cause)
			}
			break
		}
		if m.cause != cInrogen || m.ca != 1 {
			t.Fatalf("data %+v, want cause 20 from station 1", m)
		}
		for _, o := range m.objs {
			if _, dup := got[o.ioa]; dup {
				t.Fatalf("IOA %d twice", o.ioa)
			}
			pt, _ := plc.Model().Point(o.ioa)
			scale := 1.0
			if pt != nil {
				scale = pt.Scale
			}
			got[o.ioa], types[o.ioa] = value(t, m.typ, o.elem, scale), m.typ
		}
	}
	want := 0
	for _, pt := range plc.Model().Points() {
		if pt.Command() {
			continue
		}
		want++
		tag := plc.Model().Tags[pt.Tag]
		v, ok := got[pt.IOA]
		if !ok {
			t.Fatalf("IOA %d (%s) missing", pt.IOA, tag.Name)
		}
		if types[pt.IOA] != byte(pt.Type) {
			t.Fatalf("IOA %d is type %d, map says %v", pt.IOA, types[pt.IOA], pt.Type)
		}
		tv := tagValue(t, plc, tag.Name)
		exp := float64(float32(tv.Reported))
		tol := 0.0
		if pt.Scale != 0 {
			tol = 0.5 / pt.Scale
		}
		if math.Abs(v-exp) > tol || below[tag.Name] && v >= 0 {
			t.Errorf("IOA %d (%s) = %g, PLC reports %g", pt.IOA, tag.Name, v, exp)
		}
	}
	if len(got) != want {
		t.Fatalf("%d points, map has %d", len(got), want)
	}
}

// Single commands execute directly or select-before-operate; the write
// lands at the next scan, like a Modbus write. A mismatched execute and an
// invalid value are refused.
func TestIEC104Commands(t *testing.T) {
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{})
	c := dialIEC(t, addr)
	c.start(true)
	pump2 := ioaOf(t, plc, plantsim.IOASingleCmd, "pump2_run")
	before := tagValue(t, plc, "pump2_run").Truth

	// Direct execute: actcon then actterm, both mirroring the command.
	c.sendI(asdu(tCScNa1, cAct, 1, pump2, 1))
	for _, cause := range []byte{cActCon, cActTerm} {
		m := c.reply()
		if m.typ != tCScNa1 || m.cause != cause || m.pn || m.objs[0].ioa != pump2 || m.objs[0].elem[0] != 1 {
			t.Fatalf("got %+v, want cause %d", m, cause)
		}
	}
	if tagValue(t, plc, "pump2_run").Truth != before {
		t.Fatal("the command changed PLC memory before a scan")
	}
	scan(plc)
	if tagValue(t, plc, "pump2_run").Truth != 1 {
		t.Fatal("pump2_run not set after the scan")
	}

	// Select, then execute: the select changes nothing.
	c.sendI(asdu(tCScNa1, cAct, 1, pump2, 0x80))
	if m := c.reply(); m.cause != cActCon || m.pn || m.objs[0].elem[0] != 0x80 {
		t.Fatalf("select answered %+v", m)
	}
	scan(plc)
	if tagValue(t, plc, "pump2_run").Truth != 1 {
		t.Fatal("a select wrote")
	}
	c.sendI(asdu(tCScNa1, cAct, 1, pump2, 0))
	if m := c.reply(); m.cause != cActCon || m.pn {
		t.Fatalf("execute answered %+v", m)
	}
	if m := c.reply(); m.cause != cActTerm {
		t.Fatalf("execute terminated with %+v", m)
	}
	scan(plc)
	if tagValue(t, plc, "pump2_run").Truth != 0 {
		t.Fatal("pump2_run not cleared by the selected execute")
	}

	// An execute that does not match its select is refused.
	c.sendI(asdu(tCScNa1, cAct, 1, pump2, 0x81))
	c.reply()
	c.sendI(asdu(tCScNa1, cAct, 1, pump2, 0))
	if m := c.reply(); m.cause != cActCon || !m.pn {
		t.Fatalf("mismatched execute answered %+v, want a negative actcon", m)
	}
	// A select can be withdrawn; the deactivation is confirmed.
	c.sendI(asdu(tCScNa1, cAct, 1, pump2, 0x81))
	c.reply()
	c.sendI(asdu(tCScNa1, cDeact, 1, pump2, 0x81))
	if m := c.reply(); m.cause != cDeactCon || m.pn {
		t.Fatalf("deactivation answered %+v", m)
	}
	c.sendI(asdu(tCScNa1, cDeact, 1, pump2, 0x81))
	if m := c.reply(); m.cause != cDeactCon || !m.pn {
		t.Fatalf("deactivating nothing answered %+v, want negative", m)
	}
	// A time-tagged single command works as the plain one.
	c.sendI(asdu(tCScTa1, cAct, 1, pump2, appendCP56([]byte{1}, time.Now().UTC())...))
	if m := c.reply(); m.typ != tCScTa1 || m.cause != cActCon || m.pn {
		t.Fatalf("C_SC_TA_1 answered %+v", m)
	}
	c.reply() // actterm
	scan(plc)
	if tagValue(t, plc, "pump2_run").Truth != 1 {
		t.Fatal("C_SC_TA_1 did not write")
	}
	// Double command with an invalid state (0, 3): refused.
	pump1 := ioaOf(t, plc, plantsim.IOADoubleCmd, "pump1_run")
	c.sendI(asdu(tCDcNa1, cAct, 1, pump1, 3))
	if m := c.reply(); m.cause != cActCon || !m.pn {
		t.Fatalf("DCS 3 answered %+v, want negative", m)
	}
	// Double command OFF on a plain coil writes 0.
	c.sendI(asdu(tCDcNa1, cAct, 1, pump1, 1))
	c.reply()
	c.reply()
	scan(plc)
	if tagValue(t, plc, "pump1_run").Truth != 0 {
		t.Fatal("double command OFF did not stop pump 1")
	}
}

// Set-points: short float and scaled, confirmed (no termination), latched
// and clamped at the next scan like a Modbus float32 write.
func TestIEC104Setpoints(t *testing.T) {
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{})
	c := dialIEC(t, addr)
	c.start(true)
	sp := ioaOf(t, plc, plantsim.IOASetFloat, "level_sp")
	c.sendI(asdu(tCSeNc1, cAct, 1, sp, floatElem(6.5, 0)...))
	if m := c.reply(); m.typ != tCSeNc1 || m.cause != cActCon || m.pn {
		t.Fatalf("set-point answered %+v", m)
	}
	// No termination follows a set-point: the next answer is to our probe.
	c.sendU(0x43)
	for {
		a := c.read()
		if a.kind == 'U' && a.u == 0x83 {
			break
		}
		if a.kind == 'I' && decodeASDU(t, a.asdu).cause != cSpont {
			t.Fatalf("a set-point sent %+v after its confirmation", decodeASDU(t, a.asdu))
		}
	}
	scan(plc)
	if v := tagValue(t, plc, "level_sp").Truth; v != 6.5 {
		t.Fatalf("level_sp = %g after the set-point", v)
	}
	// Scaled: ×1000 for 0..10 m.
	scaled := ioaOf(t, plc, plantsim.IOASetScaled, "level_sp")
	c.sendI(asdu(tCSeNb1, cAct, 1, scaled, 0x9A, 0x10, 0)) // 4250
	if m := c.reply(); m.typ != tCSeNb1 || m.cause != cActCon || m.pn {
		t.Fatalf("scaled set-point answered %+v", m)
	}
	scan(plc)
	if v := tagValue(t, plc, "level_sp").Truth; v != 4.25 {
		t.Fatalf("level_sp = %g after the scaled set-point", v)
	}
	// Out of range: the scan clamps, as for Modbus.
	c.sendI(asdu(tCSeNc1, cAct, 1, sp, floatElem(99, 0)...))
	c.reply()
	scan(plc)
	if v := tagValue(t, plc, "level_sp").Truth; v != 10 {
		t.Fatalf("level_sp = %g, want the range's 10", v)
	}
	// NaN is refused.
	c.sendI(asdu(tCSeNc1, cAct, 1, sp, floatElem(float32(math.NaN()), 0)...))
	if m := c.reply(); !m.pn {
		t.Fatalf("NaN set-point answered %+v", m)
	}
	// Select-before-operate works for set-points too.
	c.sendI(asdu(tCSeNc1, cAct, 1, sp, floatElem(3, 0x80)...))
	if m := c.reply(); m.cause != cActCon || m.pn {
		t.Fatalf("set-point select answered %+v", m)
	}
	c.sendI(asdu(tCSeNc1, cAct, 1, sp, floatElem(3, 0)...))
	if m := c.reply(); m.cause != cActCon || m.pn {
		t.Fatalf("set-point execute answered %+v", m)
	}
	scan(plc)
	if v := tagValue(t, plc, "level_sp").Truth; v != 3 {
		t.Fatalf("level_sp = %g after the selected set-point", v)
	}
}

// With RequireSelect a direct execute is refused, and a select expires
// after the select timeout.
func TestIEC104RequireSelect(t *testing.T) {
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{RequireSelect: true})
	c := dialIEC(t, addr)
	c.start(true)
	auto := ioaOf(t, plc, plantsim.IOASingleCmd, "auto")
	c.sendI(asdu(tCScNa1, cAct, 1, auto, 0))
	if m := c.reply(); m.cause != cActCon || !m.pn {
		t.Fatalf("direct execute answered %+v, want negative", m)
	}
	c.sendI(asdu(tCScNa1, cAct, 1, auto, 0x80))
	c.reply()
	c.sendI(asdu(tCScNa1, cAct, 1, auto, 0))
	if m := c.reply(); m.pn {
		t.Fatalf("selected execute refused: %+v", m)
	}
	c.reply()
	scan(plc)
	if tagValue(t, plc, "auto").Truth != 0 {
		t.Fatal("auto not cleared")
	}

	const timeout = 100 * time.Millisecond
	_, addr = iecPLC(t, "water-tank", plantsim.IEC104Config{RequireSelect: true, SelectTimeout: timeout})
	c = dialIEC(t, addr)
	c.start(true)
	c.sendI(asdu(tCScNa1, cAct, 1, auto, 0x80))
	c.reply()
	time.Sleep(timeout + 50*time.Millisecond) // a lower bound only: the select has expired
	c.sendI(asdu(tCScNa1, cAct, 1, auto, 0))
	if m := c.reply(); !m.pn {
		t.Fatalf("execute after the select expired answered %+v", m)
	}
}

// Industroyer's move: read the station, then open the breaker with a
// double command OFF; the position comes back spontaneously as a
// time-tagged double point.
func TestIEC104DoubleCommandOpensBreaker(t *testing.T) {
	plc, addr := iecPLC(t, "breaker", plantsim.IEC104Config{})
	scan(plc)
	c := dialIEC(t, addr)
	c.start(true)
	closed := ioaOf(t, plc, plantsim.IOADiscrete, "closed")
	c.sendI(asdu(tCRdNa1, cReq, 1, closed))
	m := c.reply()
	if m.typ != tMDpNa1 || m.cause != cReq || m.objs[0].ioa != closed || m.objs[0].elem[0]&3 != 2 {
		t.Fatalf("read of the breaker position: %+v, want a double point ON", m)
	}
	breaker := ioaOf(t, plc, plantsim.IOADoubleCmd, "close_cmd")
	c.sendI(asdu(tCDcNa1, cAct, 1, breaker, 1)) // OFF: open
	if m := c.reply(); m.typ != tCDcNa1 || m.cause != cActCon || m.pn {
		t.Fatalf("double command answered %+v", m)
	}
	if m := c.reply(); m.cause != cActTerm {
		t.Fatalf("double command terminated with %+v", m)
	}
	for range 3 {
		scan(plc)
	}
	if tagValue(t, plc, "closed").Truth != 0 {
		t.Fatal("the breaker did not open")
	}
	for {
		m := c.nextASDU()
		if m.cause != cSpont || m.typ != tMDpTb1 {
			continue
		}
		o := m.objs[0]
		if o.ioa != closed {
			continue
		}
		if o.elem[0]&3 != 1 {
			t.Fatalf("breaker position sent as %d, want 1 (off)", o.elem[0]&3)
		}
		if d := time.Since(cp56(o.elem)); d < -time.Minute || d > time.Minute {
			t.Fatalf("time tag %v is not now", cp56(o.elem))
		}
		break
	}
}

// Spontaneous transmission: a change beyond an analog point's deadband is
// sent with a time tag, one within it is not; digital changes always are.
// Spoofed values show, as they would over Modbus.
func TestIEC104SpontaneousDeadband(t *testing.T) {
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{})
	scan(plc)
	c := dialIEC(t, addr)
	c.start(true)
	level := tagValue(t, plc, "level").Reported
	inflow := tagValue(t, plc, "inflow").Reported
	lf, ls := ioaOf(t, plc, plantsim.IOAInputFloat, "level"), ioaOf(t, plc, plantsim.IOAInputScaled, "level")
	ff, fs := ioaOf(t, plc, plantsim.IOAInputFloat, "inflow"), ioaOf(t, plc, plantsim.IOAInputScaled, "inflow")
	// Level moves 0.05 m (deadband 0.1 m), inflow 50 m³/h (deadband 2): in
	// the same scan, so the same batch of spontaneous data.
	spoof(t, plc, "level", level+0.05)
	spoof(t, plc, "inflow", inflow+50)
	scan(plc)
	seen := map[uint32]bool{}
	for !seen[ff] || !seen[fs] {
		m := c.nextASDU()
		if m.cause != cSpont {
			t.Fatalf("unasked data with cause %d", m.cause)
		}
		if m.typ != tMMeTf1 && m.typ != tMMeTe1 && m.typ != tMSpTb1 && m.typ != tMDpTb1 {
			t.Fatalf("spontaneous type %d has no time tag", m.typ)
		}
		for _, o := range m.objs {
			seen[o.ioa] = true
		}
	}
	if seen[lf] || seen[ls] {
		t.Fatal("level was sent for a change within its deadband")
	}
	spoof(t, plc, "level", level+0.3)
	scan(plc)
	var got float64
	for !seen[lf] || !seen[ls] {
		m := c.nextASDU()
		for _, o := range m.objs {
			seen[o.ioa] = true
			if o.ioa == lf {
				got = value(t, m.typ, o.elem, 1)
			}
		}
	}
	if want := float64(float32(level + 0.3)); got != want {
		t.Fatalf("level sent as %g, want %g", got, want)
	}
	hi := ioaOf(t, plc, plantsim.IOADiscrete, "level_h")
	spoof(t, plc, "level_h", 1)
	scan(plc)
	for {
		m := c.nextASDU()
		if m.typ == tMSpTb1 && m.objs[0].ioa == hi {
			if m.objs[0].elem[0]&1 != 1 {
				t.Fatal("level_h sent as 0")
			}
			break
		}
	}
}

// The negative confirmations of IEC 60870-5-101 7.2.3: unknown type (44),
// unknown cause (45), unknown common address (46), unknown object address
// (47), each mirroring the request with P/N set; the connection stays up.
func TestIEC104NegativeConfirmations(t *testing.T) {
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{CA: 7})
	c := dialIEC(t, addr)
	c.start(true)
	sp := ioaOf(t, plc, plantsim.IOASetFloat, "level_sp")
	cmd := ioaOf(t, plc, plantsim.IOASingleCmd, "pump1_run")
	for _, tc := range []struct {
		name  string
		asdu  []byte
		cause byte
		ca    uint16
	}{
		{"normalised set-point (not served)", asdu(tCSeNa1, cAct, 7, sp, 0, 0x40, 0), 44, 7},
		{"a monitor type sent to the station", asdu(tMSpNa1, cAct, 7, 1001, 1), 44, 7},
		{"command with cause spontaneous", asdu(tCScNa1, cSpont, 7, cmd, 1), 45, 7},
		{"wrong common address", asdu(tCScNa1, cAct, 8, cmd, 1), 46, 8},
		{"unknown object address", asdu(tCScNa1, cAct, 7, 6999, 1), 47, 7},
		{"double command at a single command's address", asdu(tCDcNa1, cAct, 7, cmd, 2), 47, 7},
		{"read of a command point", asdu(tCRdNa1, cReq, 7, cmd), 47, 7},
		{"interrogation at an object address", asdu(tCIcNa1, cAct, 7, 5, 20), 47, 7},
	} {
		c.sendI(tc.asdu)
		m := c.reply()
		if m.typ != tc.asdu[0] || m.cause != tc.cause || !m.pn || m.ca != tc.ca {
			t.Fatalf("%s: answered type %d cause %d P/N %v CA %d, want type %d cause %d negative CA %d",
				tc.name, m.typ, m.cause, m.pn, m.ca, tc.asdu[0], tc.cause, tc.ca)
		}
	}
	// Group interrogation (not configured): a negative confirmation.
	c.sendI(asdu(tCIcNa1, cAct, 7, 0, 21))
	if m := c.reply(); m.cause != cActCon || !m.pn {
		t.Fatalf("group interrogation answered %+v", m)
	}
	// A broadcast interrogation is answered by station 7.
	c.sendI(asdu(tCIcNa1, cAct, 0xFFFF, 0, 20))
	if m := c.reply(); m.cause != cActCon || m.pn || m.ca != 7 {
		t.Fatalf("broadcast interrogation answered %+v", m)
	}
	for c.reply().typ != tCIcNa1 {
	}
	// Still up: a read works.
	lvl := ioaOf(t, plc, plantsim.IOAInputFloat, "level")
	c.sendI(asdu(tCRdNa1, cReq, 7, lvl))
	if m := c.reply(); m.typ != tMMeNc1 || m.cause != cReq || m.objs[0].ioa != lvl {
		t.Fatalf("read answered %+v", m)
	}
	n := 0
	for _, a := range plc.Capture(0).Audit {
		if a.Kind == "exception" && strings.Contains(a.Detail, "IEC 104 negative") {
			n++
		}
	}
	if n != 9 {
		t.Fatalf("%d negative confirmations in the audit trail, want 9", n)
	}
}

// What the standard answers by closing the connection: an I-frame before
// STARTDT, a send number out of order, an acknowledgement of frames never
// sent, a bad start byte, an invalid control field, a malformed ASDU.
func TestIEC104ProtocolErrorsClose(t *testing.T) {
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{})
	gi := asdu(tCIcNa1, cAct, 1, 0, 20)
	for _, tc := range []struct {
		name string
		run  func(c *iecClient)
		why  string
	}{
		{"I-frame before STARTDT", func(c *iecClient) { c.sendI(gi) }, "before STARTDT"},
		{"N(S) out of order", func(c *iecClient) { c.start(false); c.sendIAs(5, gi) }, "sequence error"},
		{"N(R) of frames never sent", func(c *iecClient) { c.start(false); c.sendSAt(100) }, "never sent"},
		{"bad start byte", func(c *iecClient) { c.write([]byte{0x69, 4, 7, 0, 0, 0}) }, "framing"},
		{"two U functions", func(c *iecClient) { c.write([]byte{0x68, 4, 0x0F, 0, 0, 0}) }, "framing"},
		{"command with two objects", func(c *iecClient) {
			c.start(false)
			b := asdu(tCScNa1, cAct, 1, 6001, 1)
			b[1] = 2
			c.sendI(append(b, 0x02, 0x17, 0, 1))
		}, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialIEC(t, addr)
			if tc.name != "I-frame before STARTDT" && tc.name != "bad start byte" && tc.name != "two U functions" {
				// The first connection to start gets the end of
				// initialisation; make sure it was sent already.
				plcStarted(t, addr)
			}
			tc.run(c)
			c.expectClosed()
			found := false
			for _, a := range plc.Capture(0).Audit {
				if a.Kind == "exception" && strings.Contains(a.Detail, "closed") && strings.Contains(a.Detail, tc.why) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no audit entry saying the connection closed for %q", tc.why)
			}
		})
	}
}

// plcStarted makes sure some connection has had the end of initialisation.
func plcStarted(t *testing.T, addr string) {
	t.Helper()
	c := dialIEC(t, addr)
	c.sendU(0x07)
	c.expectU(0x0B)
	c.conn.Close()
}

// t3: an idle link is tested with TESTFR act; answered, it stays up; not
// answered, t1 closes it. Unacknowledged I-frames also close it after t1.
func TestIEC104Timers(t *testing.T) {
	// t1 is long enough that a loaded machine answers a TESTFR in time.
	cfg := plantsim.IEC104Config{T1: time.Second, T2: 100 * time.Millisecond, T3: 150 * time.Millisecond}
	plc, addr := iecPLC(t, "water-tank", cfg)
	closedFor := func(why string) bool {
		for _, a := range plc.Capture(0).Audit {
			if a.Kind == "exception" && strings.Contains(a.Detail, why) {
				return true
			}
		}
		return false
	}
	c := dialIEC(t, addr)
	c.start(true)
	c.sendS()
	for range 2 {
		c.expectU(0x43) // TESTFR act after t3 of silence
		c.sendU(0x83)
	}
	c.expectU(0x43)
	c.expectClosed() // not answered: t1
	if !closedFor("TESTFR not confirmed") {
		t.Fatal("no audit entry for the unconfirmed test")
	}

	c = dialIEC(t, addr)
	c.start(false)
	c.sendI(asdu(tCIcNa1, cAct, 1, 0, 20))
	for {
		// Answer the tests but never acknowledge the I-frames.
		a, err := c.tryRead(ioTimeout)
		if err != nil {
			break
		}
		if a.kind == 'U' && a.u == 0x43 {
			c.sendU(0x83)
		}
	}
	if !closedFor("not acknowledged") {
		t.Fatal("no audit entry for the unacknowledged I-frames")
	}
}

// The station acknowledges received I-frames with an S-frame after w of
// them, or after t2, when it has no I-frame of its own to carry the
// acknowledgement.
func TestIEC104Acknowledgements(t *testing.T) {
	cfg := plantsim.IEC104Config{K: 1, W: 1, T1: 5 * time.Second, T2: 100 * time.Millisecond, T3: time.Hour}
	plc, addr := iecPLC(t, "water-tank", cfg)
	c := dialIEC(t, addr)
	c.start(true) // the end of initialisation fills the window of 1
	c.holdAck = true
	read := asdu(tCRdNa1, cReq, 1, ioaOf(t, plc, plantsim.IOAInputFloat, "level"))
	c.sendI(read)
	if a := c.read(); a.kind != 'S' || a.nr != 1 {
		t.Fatalf("got %c N(R)=%d, want an S-frame acknowledging 1 (w=1)", a.kind, a.nr)
	}
	c.sendS() // the window opens: the read's answer comes, carrying N(R)
	if a := c.read(); a.kind != 'I' || a.nr != 1 {
		t.Fatalf("got %c N(R)=%d, want the answer", a.kind, a.nr)
	}

	cfg.W, cfg.K = 8, 8
	_, addr2 := iecPLC(t, "water-tank", cfg)
	c = dialIEC(t, addr2)
	c.start(true) // one I-frame of the window of 8: the end of initialisation
	c.holdAck = true
	for range 8 {
		c.sendI(read) // we acknowledge nothing: the window fills after 7 answers
	}
	for i := 0; i < 7; {
		if a := c.read(); a.kind == 'I' {
			i++
		}
	}
	// The 8th answer waits for the window, so the 8th read's acknowledgement
	// comes alone, after t2 (w=8 is not reached).
	if a := c.read(); a.kind != 'S' || a.nr != 8 {
		t.Fatalf("got %c N(R)=%d, want an S-frame acknowledging 8 after t2", a.kind, a.nr)
	}
}

// k-window back-pressure: the station stops at k unacknowledged I-frames
// and goes on as they are acknowledged, losing nothing.
func TestIEC104KWindow(t *testing.T) {
	const k = 4
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{K: k, W: k})
	c := dialIEC(t, addr)
	c.start(true)
	c.sendS()
	c.sendI(asdu(tCIcNa1, cAct, 1, 0, 20))
	var frames []asduMsg
	outstanding := 0
	probe := func() {
		// A TESTFR probe is answered at once; an I-frame before its
		// confirmation would break the window.
		c.sendU(0x43)
		for {
			a := c.read()
			if a.kind == 'U' && a.u == 0x83 {
				return
			}
			if a.kind == 'I' {
				outstanding++
				frames = append(frames, decodeASDU(t, a.asdu))
				if outstanding > k {
					t.Fatalf("%d I-frames unacknowledged, k=%d", outstanding, k)
				}
			}
		}
	}
	for len(frames) == 0 || frames[len(frames)-1].cause != cActTerm {
		for outstanding < k {
			a := c.read()
			if a.kind != 'I' {
				continue
			}
			outstanding++
			m := decodeASDU(t, a.asdu)
			frames = append(frames, m)
			if m.cause == cActTerm {
				break
			}
		}
		if frames[len(frames)-1].cause == cActTerm {
			break
		}
		probe()
		if outstanding != k {
			t.Fatalf("%d outstanding before acknowledging, want %d", outstanding, k)
		}
		// Acknowledge half the window.
		c.sendSAt((c.vr - k/2) & 0x7FFF)
		outstanding -= k / 2
	}
	points := 0
	for _, m := range frames {
		if m.cause == cInrogen {
			points += len(m.objs)
		}
	}
	want := 0
	for _, pt := range plc.Model().Points() {
		if !pt.Command() {
			want++
		}
	}
	if len(frames) <= k || points != want {
		t.Fatalf("%d frames with %d points, want more than %d frames and %d points", len(frames), points, k, want)
	}
}

// STOPDT stops data transfer (confirmed once our frames are acknowledged);
// STARTDT resumes it.
func TestIEC104StopStart(t *testing.T) {
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{})
	scan(plc)
	c := dialIEC(t, addr)
	c.start(true) // the end of initialisation is not acknowledged yet
	c.sendU(0x13)
	c.sendU(0x43)
	c.expectU(0x83) // TESTFR con comes; STOPDT con waits for the acknowledgement
	c.sendS()
	c.expectU(0x23)
	spoof(t, plc, "level_h", 1)
	scan(plc)
	c.sendU(0x43)
	c.expectU(0x83) // nothing spontaneous while stopped
	c.sendU(0x07)
	c.expectU(0x0B)
	spoof(t, plc, "level_l", 1)
	scan(plc)
	if m := c.nextASDU(); m.cause != cSpont {
		t.Fatalf("after STARTDT: %+v, want spontaneous data", m)
	}
}

// During communication loss the station answers nothing, as over Modbus;
// the traffic log keeps what it dropped.
func TestIEC104CommLoss(t *testing.T) {
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{})
	c := dialIEC(t, addr)
	c.start(true)
	if err := plc.Apply(plantsim.Effect{Kind: plantsim.EffectFault, Fault: plantsim.FaultCommLoss}); err != nil {
		t.Fatal(err)
	}
	c.sendU(0x43)
	spoof(t, plc, "level_h", 1)
	scan(plc)
	waitFor(t, "the no-reply TESTFR in the traffic log", func() bool {
		for _, tx := range plc.Capture(0).Transactions {
			if tx.Proto == plantsim.ProtoIEC104 && tx.NoReply && tx.Op == "testfr" {
				return true
			}
		}
		return false
	})
	if err := plc.Apply(plantsim.Effect{Kind: plantsim.EffectClearFault, Fault: plantsim.FaultCommLoss}); err != nil {
		t.Fatal(err)
	}
	c.sendU(0x43)
	c.expectU(0x83) // one confirmation: the first test was never answered
	lvl := ioaOf(t, plc, plantsim.IOAInputFloat, "level")
	c.sendI(asdu(tCRdNa1, cReq, 1, lvl))
	for {
		a := c.read()
		if a.kind == 'U' {
			t.Fatalf("a second U frame %02X: the dropped test was answered", a.u)
		}
		if a.kind == 'I' {
			m := decodeASDU(t, a.asdu)
			if m.cause == cReq {
				break
			}
		}
	}
}

// The traffic log records 104 transactions with the same attribution as
// Modbus, the raw frames as they were on the wire, and what each did.
func TestIEC104TrafficLog(t *testing.T) {
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{})
	c := dialIEC(t, addr)
	plc.Attribute(c.conn.LocalAddr().String(), "10.20.1.66:40123", "host attacker")
	c.start(true)
	cmd := ioaOf(t, plc, plantsim.IOASingleCmd, "pump2_run")
	c.sendI(asdu(tCScNa1, cAct, 1, cmd, 0x81)) // select
	c.reply()
	c.sendI(asdu(tCScNa1, cAct, 1, cmd, 0x01))
	var resp []byte
	for range 2 {
		a := c.read()
		resp = append(resp, a.raw...)
	}
	var cmdTx, selTx *plantsim.Transaction
	waitFor(t, "the command and its select in the traffic log", func() bool {
		for _, tx := range plc.Capture(0).Transactions {
			switch {
			case tx.Op == "command":
				cmdTx = &tx
			case tx.Op == "select":
				selTx = &tx
			}
		}
		return cmdTx != nil && selTx != nil
	})
	if cmdTx.Protocol() != plantsim.ProtoIEC104 || cmdTx.Source != "10.20.1.66:40123" || cmdTx.Note != "host attacker" ||
		cmdTx.Function != tCScNa1 || cmdTx.Station != 1 || !cmdTx.IsWrite() || cmdTx.Outcome != "" {
		t.Fatalf("command transaction %+v", cmdTx)
	}
	if len(cmdTx.Items) != 1 || cmdTx.Items[0] != (plantsim.Item{Point: "6003", Tag: "pump2_run", Write: true, Value: 1}) {
		t.Fatalf("command items %+v", cmdTx.Items)
	}
	if !bytes.Equal(cmdTx.Request, c.sent[len(c.sent)-1]) || !bytes.Equal(cmdTx.Response, resp) {
		t.Fatalf("frames % x / % x, want what went over the wire % x / % x", cmdTx.Request, cmdTx.Response, c.sent[len(c.sent)-1], resp)
	}
	if selTx.IsWrite() {
		t.Fatal("a select counts as a write")
	}
	connected := false
	for _, a := range plc.Capture(0).Audit {
		if a.Kind == "connect" && a.Source == "10.20.1.66:40123" && strings.Contains(a.Detail, "over IEC 104") {
			connected = true
		}
	}
	if !connected {
		t.Fatal("no attributed connect entry")
	}
}

// Clock synchronisation sets what later time tags carry.
func TestIEC104ClockSync(t *testing.T) {
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{})
	scan(plc)
	c := dialIEC(t, addr)
	c.start(true)
	set := time.Date(2031, 5, 6, 7, 8, 9, 10e6, time.UTC)
	c.sendI(asdu(tCCsNa1, cAct, 1, 0, appendCP56(nil, set)...))
	if m := c.reply(); m.typ != tCCsNa1 || m.cause != cActCon || m.pn {
		t.Fatalf("clock sync answered %+v", m)
	}
	c.sendI(asdu(tCCsNa1, cAct, 1, 0, 0, 0, 61, 0, 1, 1, 24)) // minute 61
	if m := c.reply(); !m.pn {
		t.Fatalf("an invalid time was accepted: %+v", m)
	}
	spoof(t, plc, "level_h", 1)
	scan(plc)
	for {
		m := c.nextASDU()
		if m.typ == tMSpTb1 {
			if d := cp56(m.objs[0].elem).Sub(set); d < 0 || d > time.Minute {
				t.Fatalf("time tag %v, want just after %v", cp56(m.objs[0].elem), set)
			}
			break
		}
	}
}

// A connection past the limit is closed at once and audited.
func TestIEC104MaxClients(t *testing.T) {
	plc, addr := iecPLC(t, "water-tank", plantsim.IEC104Config{MaxClients: 1})
	c := dialIEC(t, addr)
	c.start(true)
	d := dialIEC(t, addr)
	d.expectClosed()
	c.sendU(0x43)
	c.expectU(0x83)
	waitFor(t, "the refused IEC 104 connection in the audit trail", func() bool {
		for _, a := range plc.Capture(0).Audit {
			if a.Kind == "refused" && strings.Contains(a.Detail, "IEC 104") {
				return true
			}
		}
		return false
	})
}
