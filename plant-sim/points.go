package plantsim

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/icsrange/icsrange/plant-sim/iec104"
)

// The IEC 60870-5-104 address space of every model follows from its tags,
// as the register map does: each block's base plus the tag's 1-based
// address in its Modbus table, so "discrete input 0" is IOA 1001 and
// "holding register 2" is set-point 8003 (and reads back at 5003).
const (
	IOADiscrete     = 1000 // discrete inputs: M_SP_NA_1, feedback as M_DP_NA_1
	IOACoilState    = 2000 // coils read back: M_SP_NA_1
	IOAInputFloat   = 3000 // input registers: M_ME_NC_1 (short float)
	IOAInputScaled  = 4000 // input registers: M_ME_NB_1 (scaled)
	IOAHoldingFloat = 5000 // holding registers read back: M_ME_NC_1
	IOASingleCmd    = 6000 // coils: C_SC_NA_1 (and C_SC_TA_1)
	IOADoubleCmd    = 7000 // coils: C_DC_NA_1 (and C_DC_TA_1)
	IOASetFloat     = 8000 // holding registers: C_SE_NC_1 (and C_SE_TC_1)
	IOASetScaled    = 9000 // holding registers: C_SE_NB_1 (and C_SE_TB_1)
)

// DefaultDeadband is the change, as a fraction of a tag's span, that an
// analog point must move from what a connection was last sent before it is
// sent again spontaneously.
const DefaultDeadband = 0.01

// Point is one information object of a PLC's IEC 104 station.
type Point struct {
	IOA  uint32
	Type iec104.TypeID // the monitor type without time, or the command type
	Tag  int           // tag index
	// Off is, for a double command, the coil its OFF state pulses (a
	// close/open pair: TagDef.DoubleOff), or -1: OFF writes 0 to Tag.
	Off int
	// Scale is SVA per engineering unit for scaled types (a power of ten).
	Scale float64
	// Deadband is an analog monitored point's spontaneous threshold in
	// engineering units, at DefaultDeadband.
	Deadband float64
}

// Command reports whether the point is in the control direction.
func (pt *Point) Command() bool { return pt.Type >= iec104.CScNa1 }

// Points lists the model's IEC 104 information objects by address.
func (m *Model) Points() []Point { return m.points }

// Point returns the information object at ioa.
func (m *Model) Point(ioa uint32) (*Point, bool) {
	i, ok := m.pointAt[ioa]
	if !ok {
		return nil, false
	}
	return &m.points[i], true
}

// scaleOf is the power of ten that spreads a tag's range over a scaled
// value (int16) without overflow: level 0..10 m → ×1000, current 0..5000 A
// → ×1.
func scaleOf(d *TagDef) float64 {
	top := math.Max(math.Abs(d.Min), math.Abs(d.Max))
	s := 1.0
	for k := 0; k < 4 && top*s*10 <= math.MaxInt16; k++ {
		s *= 10
	}
	return s
}

// buildPoints derives the IEC 104 points from the tags and checks the
// TagDef fields they depend on; a wrong declaration panics at start, like a
// duplicate tag.
func buildPoints(m *Model) ([]Point, map[uint32]int) {
	l := m.layout
	offOf := make([]int, len(m.Tags))
	isOff := make([]bool, len(m.Tags))
	for i := range m.Tags {
		offOf[i] = -1
		t := &m.Tags[i]
		if t.DoubleOff == "" {
			continue
		}
		j, ok := m.index[t.DoubleOff]
		if t.Table != Coil || !ok || m.Tags[j].Table != Coil || j == i {
			panic(fmt.Sprintf("plantsim: model %s: tag %s: DoubleOff %q must name another coil", m.Name, t.Name, t.DoubleOff))
		}
		offOf[i], isOff[j] = j, true
	}
	var pts []Point
	add := func(base int, typ iec104.TypeID, tag int, p Point) {
		p.IOA, p.Type, p.Tag = uint32(base+l.Addr[tag]+1), typ, tag
		if p.Off == 0 {
			p.Off = -1
		}
		pts = append(pts, p)
	}
	for i := range m.Tags {
		t := &m.Tags[i]
		span := (t.Max - t.Min) * DefaultDeadband
		switch t.Table {
		case DiscreteInput:
			typ := iec104.MSpNa1
			if t.Class == ClassFeedback {
				typ = iec104.MDpNa1 // switchgear and actuator positions
			}
			add(IOADiscrete, typ, i, Point{})
		case Coil:
			add(IOACoilState, iec104.MSpNa1, i, Point{})
			add(IOASingleCmd, iec104.CScNa1, i, Point{})
			if !isOff[i] {
				add(IOADoubleCmd, iec104.CDcNa1, i, Point{Off: offOf[i]})
			}
		case InputRegister:
			add(IOAInputFloat, iec104.MMeNc1, i, Point{Deadband: span})
			add(IOAInputScaled, iec104.MMeNb1, i, Point{Deadband: span, Scale: scaleOf(t)})
		case HoldingRegister:
			add(IOAHoldingFloat, iec104.MMeNc1, i, Point{Deadband: span})
			add(IOASetFloat, iec104.CSeNc1, i, Point{})
			add(IOASetScaled, iec104.CSeNb1, i, Point{Scale: scaleOf(t)})
		}
	}
	slices.SortFunc(pts, func(a, b Point) int { return int(a.IOA) - int(b.IOA) })
	at := make(map[uint32]int, len(pts))
	for k, p := range pts {
		at[p.IOA] = k
	}
	return pts, at
}

// OPC UA: every PLC serves its tags in namespace 1 (its application URI),
// under Objects/<plc id>, with string node ids named after the tags, so a
// client configured for a model works with every PLC of it.
const (
	// UANamespace is the namespace index of a PLC's own nodes.
	UANamespace = 1
	// UAPLCNode is the numeric id (in UANamespace) of the PLC's object.
	UAPLCNode = 1
)

// UANodeID is the OPC UA node id of a tag or diagnostic name.
func UANodeID(name string) string {
	return fmt.Sprintf("ns=%d;s=%s", UANamespace, name)
}

// Diagnostics served as OPC UA variables: the Modbus diagnostic registers
// as whole values, by name, with the index of their first register.
var uaDiags = []struct {
	name string
	reg  int  // relative to DiagBase
	wide bool // two registers, high word first
}{
	{"diag.scan_count", DiagScanCountHi, true},
	{"diag.uptime_s", DiagUptimeHi, true},
	{"diag.logic_checksum", DiagChecksumHi, true},
	{"diag.mode", DiagMode, false},
	{"diag.scan_ms", DiagScanMs, false},
}

// uaDiagName is the OPC UA variable a diagnostic register belongs to.
func uaDiagName(reg int) string {
	for _, d := range uaDiags {
		if reg == d.reg || d.wide && reg == d.reg+1 {
			return d.name
		}
	}
	return ""
}

// iecRefs are the IEC 104 points of tag i, for maps.
func (m *Model) iecRefs(i int) []IECRef {
	var out []IECRef
	for _, p := range m.points {
		if p.Tag != i {
			continue
		}
		r := IECRef{IOA: p.IOA, Type: p.Type.String(), Deadband: p.Deadband}
		if p.Type == iec104.MMeNb1 || p.Type == iec104.CSeNb1 {
			r.Scale = p.Scale
		}
		if p.Off >= 0 {
			r.Off = m.Tags[p.Off].Name
		}
		out = append(out, r)
	}
	return out
}

// IECRef is one IEC 104 point of a tag in a register map.
type IECRef struct {
	IOA      uint32  `json:"ioa"`
	Type     string  `json:"type"`
	Scale    float64 `json:"scale,omitempty"`    // scaled value = engineering value × scale
	Deadband float64 `json:"deadband,omitempty"` // spontaneous threshold, engineering units
	Off      string  `json:"off,omitempty"`      // double command: the coil OFF pulses
}

func (r IECRef) String() string {
	s := fmt.Sprintf("%d %s", r.IOA, r.Type)
	if r.Scale != 0 {
		s += fmt.Sprintf(" ×%g", r.Scale)
	}
	if r.Off != "" {
		s += " (off: " + r.Off + ")"
	}
	return s
}

func iecText(refs []IECRef, sep string) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return strings.Join(s, sep)
}
