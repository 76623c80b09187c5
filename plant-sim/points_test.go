package plantsim

import (
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
}
