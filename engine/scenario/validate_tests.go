package scenario

import (
	"fmt"
	"time"

	"github.com/icsrange/icsrange/plant-sim/plant"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

var objectiveStates = map[string]bool{"achieved": true, "failed": true, "pending": true}

// validateTests checks the scripted teams of tests: against the spec's ids
// (collected by validate) and its plant.
func (l *loader) validateTests(s *Spec, topo *plant.Topology, ids map[string]map[string]bool) {
	dur := s.Duration.D()
	// The hint a step requests is the last of that id, as at run time.
	hints := map[string]HintSpec{}
	for _, h := range s.Hints {
		hints[h.ID] = h
	}
	for i, t := range s.Tests {
		path := fmt.Sprintf("tests[%d]", i)
		if t.Name == "" && l.decoded(path) {
			l.at(path, "test needs a name")
		}
		var last time.Duration
		for j, st := range t.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", path, j)
			if st.At.D() < last {
				l.at(sp+".at", "steps must be in time order (%v is before %v)", st.At.D(), last)
			}
			last = st.At.D()
			if st.At.D() > dur && dur > 0 {
				l.at(sp+".at", "at %v is after the scenario ends (%v)", st.At.D(), dur)
			}
			n := 0
			if len(st.Answer) > 0 {
				n++
				for _, q := range sortedKeys(st.Answer) {
					if !ids["question"][q] {
						l.atKey(sp+".answer."+q, "unknown question %q", q)
					}
				}
			}
			if st.Act != "" {
				n++
				if !ids["action"][st.Act] {
					l.at(sp+".act", "unknown action %q", st.Act)
				}
			}
			if st.Hint != "" {
				n++
				if h, ok := hints[st.Hint]; !ok {
					l.at(sp+".hint", "unknown hint %q", st.Hint)
				} else if !*h.withDefaults().Request {
					l.at(sp+".hint", "hint %q cannot be requested by teams", st.Hint)
				}
			}
			if st.Fire != "" {
				n++
				if !ids["inject"][st.Fire] {
					l.at(sp+".fire", "unknown inject %q", st.Fire)
				}
			}
			if st.ModbusWrite != nil {
				n++
				l.traineeWrite(topo, sp+".modbus_write", st.ModbusWrite, plantsim.HoldingRegister)
			}
			if st.CoilWrite != nil {
				n++
				l.traineeWrite(topo, sp+".coil_write", st.CoilWrite, plantsim.Coil)
			}
			if st.Adjust != nil {
				n++
				if st.Adjust.Reason == "" {
					l.at(sp+".adjust", "an adjustment needs a reason")
				}
				if p := st.Adjust.Points; p == 0 || p > 100000 || p < -100000 {
					l.at(sp+".adjust.points", "adjustment of %d points is out of range (nonzero, within ±100000)", p)
				}
			}
			if n != 1 {
				l.at(sp, "a step does exactly one of answer, act, hint, fire, modbus_write, coil_write, adjust (has %d)", n)
			}
		}
		for _, id := range sortedKeys(t.Expect.Objectives) {
			if !ids["objective"][id] {
				l.atKey(path+".expect.objectives."+id, "unknown objective %q", id)
			}
			if st := t.Expect.Objectives[id]; !objectiveStates[st] {
				l.at(path+".expect.objectives."+id, "objective state %q is not achieved, failed or pending", st)
			}
		}
		for k, list := range map[string][]string{"fired": t.Expect.Fired, "not_fired": t.Expect.NotFired} {
			for j, id := range list {
				if !ids["inject"][id] {
					l.at(fmt.Sprintf("%s.expect.%s[%d]", path, k, j), "unknown inject %q", id)
				}
			}
		}
	}
}

func (l *loader) traineeWrite(topo *plant.Topology, path string, w *TraineeWrite, table plantsim.Table) {
	plc, ok := plcModel(topo, w.PLC)
	if !ok {
		l.at(path+".plc", "unknown PLC %q", w.PLC)
		return
	}
	name, field := w.Register, "register"
	if table == plantsim.Coil {
		name, field = w.Coil, "coil"
	}
	if _, err := plc.TagOf(name, table); err != nil {
		l.at(path+"."+field, "%v", err)
	}
}

// plcModel is the model of the first PLC of an id.
func plcModel(topo *plant.Topology, id string) (*plantsim.Model, bool) {
	for _, p := range topo.PLCs {
		if p.ID == id {
			m, ok := plantsim.LookupModel(p.Model)
			return m, ok
		}
	}
	return nil, false
}
