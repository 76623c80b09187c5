package plantsim

import (
	"math"
	"testing"

	"github.com/icsrange/icsrange/plant-sim/iec104"
)

// Every tag of every model has its IEC 104 points and OPC UA node, derived
// from its one declaration: the right types per table, unique addresses
// in the right blocks, and the breaker's close/open pair as one double
// command.
func TestPointsFollowTheTags(t *testing.T) {
	for _, name := range ModelNames() {
		m := models[name]
		seen := map[uint32]bool{}
		perTag := make([]map[iec104.TypeID]uint32, len(m.Tags))
		for i := range perTag {
			perTag[i] = map[iec104.TypeID]uint32{}
		}
		for _, p := range m.Points() {
			if seen[p.IOA] {
				t.Fatalf("%s: IOA %d twice", name, p.IOA)
			}
			seen[p.IOA] = true
			if q, ok := m.Point(p.IOA); !ok || q.Tag != p.Tag || q.Type != p.Type {
				t.Fatalf("%s: Point(%d) = %+v", name, p.IOA, q)
			}
			perTag[p.Tag][p.Type] = p.IOA
		}
		l := m.Layout()
		for i, tg := range m.Tags {
			a := uint32(l.Addr[i] + 1)
			want := map[iec104.TypeID]uint32{}
			switch tg.Table {
			case DiscreteInput:
				typ := iec104.MSpNa1
				if tg.Class == ClassFeedback {
					typ = iec104.MDpNa1
				}
				want[typ] = IOADiscrete + a
			case Coil:
				want[iec104.MSpNa1] = IOACoilState + a
				want[iec104.CScNa1] = IOASingleCmd + a
				want[iec104.CDcNa1] = IOADoubleCmd + a
			case InputRegister:
				want[iec104.MMeNc1] = IOAInputFloat + a
				want[iec104.MMeNb1] = IOAInputScaled + a
			case HoldingRegister:
				want[iec104.MMeNc1] = IOAHoldingFloat + a
				want[iec104.CSeNc1] = IOASetFloat + a
				want[iec104.CSeNb1] = IOASetScaled + a
			}
			if name == "breaker" && tg.Name == "open_cmd" {
				delete(want, iec104.CDcNa1) // the OFF half of close_cmd's double command
			}
			if len(perTag[i]) != len(want) {
				t.Fatalf("%s.%s: points %v, want %v", name, tg.Name, perTag[i], want)
			}
			for typ, ioa := range want {
				if perTag[i][typ] != ioa {
					t.Fatalf("%s.%s: %v at %d, want %d", name, tg.Name, typ, perTag[i][typ], ioa)
				}
			}
		}
		// Analog points: a scaled value spans the tag's range, negative
		// ends included, at the finest power of ten that fits an int16;
		// monitored ones move spontaneously at 1 % of the span.
		for _, p := range m.Points() {
			tg := &m.Tags[p.Tag]
			if !tg.Analog() {
				continue
			}
			top := math.Max(math.Abs(tg.Min), math.Abs(tg.Max))
			if p.Type == iec104.MMeNb1 || p.Type == iec104.CSeNb1 {
				if top*p.Scale > math.MaxInt16 || p.Scale < 10000 && top*p.Scale*10 <= math.MaxInt16 {
					t.Errorf("%s.%s: IOA %d scale %g for %g..%g", name, tg.Name, p.IOA, p.Scale, tg.Min, tg.Max)
				}
			}
			if want := (tg.Max - tg.Min) * DefaultDeadband; !p.Command() && math.Abs(p.Deadband-want) > 1e-9*want {
				t.Errorf("%s.%s: IOA %d deadband %g, want %g", name, tg.Name, p.IOA, p.Deadband, want)
			}
		}
		for _, e := range m.Map() {
			if e.OPCUA == "" || e.OPCUA == UANodeID("") {
				t.Fatalf("%s: %s has no OPC UA node", name, e.Tag)
			}
		}
	}
	bk := models["breaker"]
	p, _ := bk.Point(IOADoubleCmd + 1)
	if bk.Tags[p.Tag].Name != "close_cmd" || p.Off < 0 || bk.Tags[p.Off].Name != "open_cmd" {
		t.Fatalf("breaker double command %+v", p)
	}
	lvl, _ := models["water-tank"].Point(IOAInputScaled + 1) // level, 0..10 m
	if lvl.Scale != 1000 || lvl.Deadband != 0.1 {
		t.Fatalf("level scaled point %+v", lvl)
	}
	cur, _ := bk.Point(IOAInputScaled + 1) // current, 0..5000 A
	if cur.Scale != 1 {
		t.Fatalf("current scaled point %+v", cur)
	}
	// The later models' ranges: below zero, and wider than an int16.
	for _, c := range []struct {
		model, tag      string
		scale, deadband float64
	}{
		{"boiler", "level", 100, 6},           // -300..300 mm
		{"hvac", "outdoor_temp", 100, 0.8},    // -20..60 degC
		{"pump-station", "suction_p", 100, 4}, // -100..300 kPa
		{"dosing", "dose", 1, 200},            // 0..20000 ppm
		{"dosing", "ph", 1000, 0.14},          // 0..14 pH
		{"dosing", "pump_flow", 10, 20},       // 0..2000 L/h
	} {
		m := models[c.model]
		i, ok := m.index[c.tag]
		if !ok {
			t.Fatalf("%s has no tag %s", c.model, c.tag)
		}
		p, _ := m.Point(uint32(IOAInputScaled + m.Layout().Addr[i] + 1))
		if p == nil || p.Tag != i || p.Scale != c.scale || math.Abs(p.Deadband-c.deadband) > 1e-9 {
			t.Errorf("%s.%s scaled point %+v, want scale %g, deadband %g", c.model, c.tag, p, c.scale, c.deadband)
		}
	}
}
