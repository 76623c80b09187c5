package plantsim

import (
	"fmt"
	"math"
	"time"

	"github.com/icsrange/icsrange/plant-sim/iec104"
)

// opOfType names what an ASDU of the control direction asks, for the
// traffic log.
func opOfType(t iec104.TypeID) string {
	switch t {
	case iec104.CIcNa1:
		return "interrogation"
	case iec104.CRdNa1:
		return "read"
	case iec104.CCsNa1:
		return "clock"
	case iec104.CScNa1, iec104.CScTa1, iec104.CDcNa1, iec104.CDcTa1:
		return "command"
	case iec104.CSeNb1, iec104.CSeNc1, iec104.CSeTb1, iec104.CSeTc1:
		return "setpoint"
	}
	return "unknown"
}

// controlType reports the types a controlling station may send us.
func controlType(t iec104.TypeID) bool {
	switch t {
	case iec104.CIcNa1, iec104.CRdNa1, iec104.CCsNa1,
		iec104.CScNa1, iec104.CScTa1, iec104.CDcNa1, iec104.CDcTa1,
		iec104.CSeNb1, iec104.CSeNc1, iec104.CSeTb1, iec104.CSeTc1:
		return true
	}
	return false
}

// serveASDU answers one ASDU and returns what the traffic log says of it:
// the operation, the common address and the outcome (empty when good).
func (c *iecConn) serveASDU(asdu []byte) (op string, ca uint16, outcome string) {
	h, objs, err := iec104.ParseHeader(asdu)
	if err != nil {
		c.closeWhy = "asdu shorter than its header"
		return "unknown", 0, ""
	}
	op, ca = opOfType(h.Type), h.CA
	broadcast := h.CA == iec104.BroadcastCA && (h.Type == iec104.CIcNa1 || h.Type == iec104.CCsNa1)
	if h.CA != c.s.cfg.CA && !broadcast {
		return op, ca, c.negative(asdu, iec104.CauseUnknownCA, 0)
	}
	if !controlType(h.Type) {
		return op, ca, c.negative(asdu, iec104.CauseUnknownType, 0)
	}
	var ioa uint32
	var elem []byte
	err = iec104.Objects(h, objs, func(a uint32, e []byte) bool {
		ioa, elem = a, e
		return false
	})
	if err != nil || h.Count != 1 || h.SQ {
		// Control-direction ASDUs carry exactly one object.
		c.closeWhy = fmt.Sprintf("malformed %v asdu (%d objects, %d bytes)", h.Type, h.Count, len(asdu))
		return op, ca, ""
	}
	switch h.Type {
	case iec104.CIcNa1:
		return op, ca, c.interrogate(asdu, &h, ioa, elem)
	case iec104.CRdNa1:
		return op, ca, c.read(asdu, &h, ioa)
	case iec104.CCsNa1:
		return op, ca, c.clockSync(asdu, &h, ioa, elem)
	}
	op, outcome = c.command(asdu, &h, ioa, elem)
	return op, ca, outcome
}

// mirror sends the received ASDU back with another cause and the P/N bit
// as given (activation confirmations, terminations and negative answers
// all mirror the request). An answer to a broadcast carries the station's
// own common address; an unknown one is sent back as it came.
func (c *iecConn) mirror(asdu []byte, cause iec104.Cause, negative bool) {
	b := append(c.asdu[:0], asdu...)
	b[2] = b[2]&0x80 | byte(cause)
	if negative {
		b[2] |= 0x40
	}
	if b[4] == 0xFF && b[5] == 0xFF {
		b[4], b[5] = byte(c.s.cfg.CA), byte(c.s.cfg.CA>>8)
	}
	c.asdu = b
	c.sendI(b)
}

// negative answers with a negative confirmation: the request mirrored with
// cause, or with its activation confirmation (cause 0) when the request is
// understood but refused. It returns the traffic log's outcome.
func (c *iecConn) negative(asdu []byte, cause iec104.Cause, ioa uint32) string {
	why := cause.String()
	if cause == 0 {
		cause, why = iec104.CauseActCon, "refused"
		if asdu[2]&0x3F == byte(iec104.CauseDeact) {
			cause = iec104.CauseDeactCon
		}
	}
	c.mirror(asdu, cause, true)
	outcome := fmt.Sprintf("negative: %s (cause %d)", why, cause)
	if cause == iec104.CauseActCon || cause == iec104.CauseDeactCon {
		outcome = "negative confirmation"
	}
	c.p.audit(c.clock, "exception", c.c.source, fmt.Sprintf("IEC 104 %s to %v ioa %d from %s",
		outcome, iec104.TypeID(asdu[0]), ioa, c.c.source))
	return outcome
}

// interrogate answers a station interrogation: confirmation, every
// monitored point with cause 20, termination.
func (c *iecConn) interrogate(asdu []byte, h *iec104.Header, ioa uint32, elem []byte) string {
	switch {
	case h.Cause != iec104.CauseAct && h.Cause != iec104.CauseDeact:
		return c.negative(asdu, iec104.CauseUnknownCause, ioa)
	case ioa != 0:
		return c.negative(asdu, iec104.CauseUnknownIOA, ioa)
	case h.Cause == iec104.CauseDeact:
		// The interrogation ran to its end when it was asked: nothing to stop.
		return c.negative(asdu, 0, ioa)
	case elem[0] != iec104.QOIStation:
		// Groups 21-36 are not configured.
		return c.negative(asdu, 0, ioa)
	}
	c.mirror(asdu, iec104.CauseActCon, false)
	c.readPoints()
	var typ iec104.TypeID
	n := 0
	flush := func() {
		if n > 0 {
			c.asdu[1] = byte(n)
			c.sendI(c.asdu)
			n = 0
		}
	}
	for i := range c.s.pts {
		pt := &c.s.pts[i]
		if pt.Command() {
			continue
		}
		size := iec104.IOALen + pt.Type.ElementSize()
		if n > 0 && (pt.Type != typ || n == 127 || len(c.asdu)+size > iec104.MaxASDU) {
			flush()
		}
		if n == 0 {
			typ = pt.Type
			c.asdu = iec104.AppendHeader(c.asdu[:0], iec104.Header{Type: typ, Cause: iec104.CauseInrogen, CA: c.s.cfg.CA})
		}
		c.asdu = c.appendObject(c.asdu, i, false, time.Time{})
		c.sent[i] = c.cur[i]
		n++
	}
	flush()
	c.mirror(asdu, iec104.CauseActTerm, false)
	return ""
}

// read answers a read command with the point's value (cause 5).
func (c *iecConn) read(asdu []byte, h *iec104.Header, ioa uint32) string {
	if h.Cause != iec104.CauseRequest {
		return c.negative(asdu, iec104.CauseUnknownCause, ioa)
	}
	pt, ok := c.p.model.Point(ioa)
	if !ok || pt.Command() {
		return c.negative(asdu, iec104.CauseUnknownIOA, ioa)
	}
	i := c.p.model.pointAt[ioa]
	c.readPoints()
	c.asdu = iec104.AppendHeader(c.asdu[:0], iec104.Header{Type: pt.Type, Count: 1, Cause: iec104.CauseRequest, CA: c.s.cfg.CA})
	c.asdu = c.appendObject(c.asdu, i, false, time.Time{})
	c.sendI(c.asdu)
	c.items = append(c.items, Item{Point: c.s.ioaText[i], Tag: c.p.model.Tags[pt.Tag].Name, Value: c.cur[i]})
	return ""
}

// clockSync sets the station's time (what time tags carry from now on).
func (c *iecConn) clockSync(asdu []byte, h *iec104.Header, ioa uint32, elem []byte) string {
	switch {
	case h.Cause != iec104.CauseAct:
		return c.negative(asdu, iec104.CauseUnknownCause, ioa)
	case ioa != 0:
		return c.negative(asdu, iec104.CauseUnknownIOA, ioa)
	}
	t, err := iec104.ParseCP56(elem)
	if err != nil || t.Invalid {
		return c.negative(asdu, 0, ioa)
	}
	c.s.offset.Store(int64(t.Time.Sub(c.s.cfg.Now())))
	c.mirror(asdu, iec104.CauseActCon, false)
	return ""
}

// command serves single and double commands and set-points, with
// select-before-operate: a select (S/E = 1) is confirmed and remembered;
// the execute that follows must name the same point and value within the
// select timeout. It returns the operation and the outcome.
func (c *iecConn) command(asdu []byte, h *iec104.Header, ioa uint32, elem []byte) (string, string) {
	base := h.Type.WithoutTime()
	op := opOfType(base)
	if base != h.Type {
		if _, err := iec104.ParseCP56(elem[len(elem)-iec104.CP56Len:]); err != nil {
			return op, c.negative(asdu, 0, ioa)
		}
		elem = elem[:len(elem)-iec104.CP56Len]
	}
	pt, ok := c.p.model.Point(ioa)
	if !ok || pt.Type != base {
		return op, c.negative(asdu, iec104.CauseUnknownIOA, ioa)
	}
	if h.Cause != iec104.CauseAct && h.Cause != iec104.CauseDeact {
		return op, c.negative(asdu, iec104.CauseUnknownCause, ioa)
	}
	qual := elem[len(elem)-1] // SCO, DCO or QOS: the S/E bit is its top bit
	selecting := qual&iec104.SelectBit != 0
	target, value, valid := pt.Tag, 0.0, true
	switch base {
	case iec104.CScNa1:
		value = float64(qual & 1)
	case iec104.CDcNa1:
		switch qual & 3 {
		case iec104.DoubleOn:
			value = 1
		case iec104.DoubleOff:
			if pt.Off >= 0 {
				target, value = pt.Off, 1 // pulse the opposite coil (open)
			}
		default:
			valid = false // 0 and 3 are not permitted
		}
	case iec104.CSeNc1:
		f := iec104.Float32(elem)
		value = float64(f)
		valid = !math.IsNaN(value) && !math.IsInf(value, 0)
	case iec104.CSeNb1:
		value = float64(iec104.Scaled(elem)) / pt.Scale
	}
	item := Item{Point: c.s.ioaText[c.p.model.pointAt[ioa]], Tag: c.p.model.Tags[target].Name, Value: value}
	if selecting {
		op = "select"
	}
	if h.Cause == iec104.CauseDeact {
		c.items = append(c.items, item)
		if !c.sel.active || c.sel.ioa != ioa || c.sel.typ != base {
			return "deactivate", c.negative(asdu, 0, ioa)
		}
		c.sel.active = false
		c.mirror(asdu, iec104.CauseDeactCon, false)
		return "deactivate", ""
	}
	if !valid {
		item.Status = "value not permitted"
		c.items = append(c.items, item)
		return op, c.negative(asdu, 0, ioa)
	}
	var key [5]byte
	n := copy(key[:], elem)
	key[n-1] &^= iec104.SelectBit
	if selecting {
		c.sel = iecSelect{active: true, ioa: ioa, typ: base, elem: key, n: n, until: time.Now().Add(c.s.cfg.SelectTimeout)}
		c.items = append(c.items, item)
		c.mirror(asdu, iec104.CauseActCon, false)
		return op, ""
	}
	selected := c.sel.active && c.sel.ioa == ioa && c.sel.typ == base
	switch {
	case selected && (c.sel.n != n || c.sel.elem != key):
		c.sel.active = false
		item.Status = "execute does not match the select"
		c.items = append(c.items, item)
		return op, c.negative(asdu, 0, ioa)
	case !selected && c.s.cfg.RequireSelect:
		item.Status = "not selected"
		c.items = append(c.items, item)
		return op, c.negative(asdu, 0, ioa)
	}
	if selected {
		c.sel.active = false
	}
	p := c.p
	p.mu.Lock()
	p.netWrite(target, value)
	p.mu.Unlock()
	item.Write = true
	c.items = append(c.items, item)
	c.mirror(asdu, iec104.CauseActCon, false)
	if base == iec104.CScNa1 || base == iec104.CDcNa1 {
		c.mirror(asdu, iec104.CauseActTerm, false)
	}
	return op, ""
}

// appendObject appends point i's address and element, from c.cur, with a
// CP56Time2a of ts when withTime.
func (c *iecConn) appendObject(dst []byte, i int, withTime bool, ts time.Time) []byte {
	pt := &c.s.pts[i]
	v := c.cur[i]
	dst = iec104.AppendIOA(dst, pt.IOA)
	switch pt.Type {
	case iec104.MSpNa1:
		dst = append(dst, byte(v))
	case iec104.MDpNa1:
		dst = append(dst, iec104.DoubleOff+byte(v))
	case iec104.MMeNc1:
		q := byte(0)
		if math.IsNaN(v) {
			q = iec104.QualityIV // a float32 write the scan has not yet refused
		}
		dst = append(iec104.AppendFloat32(dst, float32(v)), q)
	case iec104.MMeNb1:
		s := math.Round(v * pt.Scale)
		q := byte(0)
		switch {
		case math.IsNaN(s):
			s, q = 0, iec104.QualityIV
		case s > math.MaxInt16 || s < math.MinInt16:
			s, q = math.Max(math.MinInt16, math.Min(math.MaxInt16, s)), iec104.QualityOV
		}
		dst = append(iec104.AppendScaled(dst, int16(s)), q)
	}
	if withTime {
		dst = iec104.AppendCP56(dst, ts)
	}
	return dst
}
