package scenario

import (
	"fmt"
	"strings"
	"time"

	"github.com/icsrange/icsrange/engine/backend"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

const maxReplayWindow = 60 * time.Second

// effects checks a do: list and compiles it.
func (l *loader) effects(sc *Scenario, path string, specs []EffectSpec) []backend.Effect {
	var out []backend.Effect
	for j, es := range specs {
		if es.Kind == "" || !l.decoded(fmt.Sprintf("%s[%d]", path, j)) {
			continue // decoding already reported it
		}
		base := fmt.Sprintf("%s[%d].%s", path, j, es.Kind)
		a := es.Args
		e := backend.Effect{Kind: es.Kind}
		ok := true
		bad := func(field, format string, args ...any) {
			l.at(base+"."+field, format, args...)
			ok = false
		}
		var model *plantsim.Model
		if a.PLC != "" {
			m, found := l.plcModel(sc, a.PLC)
			if !found {
				bad("plc", "unknown PLC %q", a.PLC)
			}
			model, e.PLC = m, a.PLC
		}
		host := func(field, id string) {
			for _, h := range sc.Hosts {
				if h.ID == id {
					return
				}
			}
			bad(field, "unknown host %q", id)
		}
		if a.Value != nil {
			e.Value, e.HasValue = float64(*a.Value), true
		}
		switch es.Kind {
		case backend.KindSpoof, backend.KindFreeze, backend.KindReplay, backend.KindRelease,
			backend.KindLogic, backend.KindMode, backend.KindFault, backend.KindClearFault:
			if a.From != "" {
				host("from", a.From)
				e.From = a.From
			}
		}
		switch es.Kind {
		case backend.KindModbusWrite, backend.KindCoilWrite:
			if a.From != "" {
				host("from", a.From)
				e.From = a.From
			}
			field, name, table := "register", a.Register, plantsim.HoldingRegister
			if es.Kind == backend.KindCoilWrite {
				field, name, table = "coil", a.Coil, plantsim.Coil
			}
			if model != nil {
				tag, err := tagOf(model, name, table)
				if err != nil {
					bad(field, "%v", err)
				}
				e.Tag = tag
			}
		case backend.KindSet:
			if model != nil {
				tag, err := tagOf(model, a.Tag, plantsim.Coil, plantsim.HoldingRegister)
				if err != nil {
					bad("tag", "%v", err)
				}
				e.Tag = tag
			}
		case backend.KindSpoof, backend.KindFreeze, backend.KindReplay, backend.KindRelease:
			if model != nil {
				tag, err := tagOf(model, a.Tag, plantsim.DiscreteInput, plantsim.InputRegister)
				if err != nil {
					bad("tag", "%v", err)
				}
				e.Tag = tag
			}
			e.Window = a.Window.D()
			if es.Kind == backend.KindReplay {
				if e.Window == 0 {
					e.Window = 20 * time.Second
				}
				if e.Window > maxReplayWindow {
					bad("window", "replay window %v is over the %v a PLC records", e.Window, maxReplayWindow)
				}
			}
		case backend.KindScan:
			host("from", a.From)
			e.From = a.From
			if a.Target != "" {
				if _, found := l.plcModel(sc, a.Target); !found {
					bad("target", "unknown PLC %q", a.Target)
				}
				e.PLC = a.Target
			}
		case backend.KindFlood:
			host("from", a.From)
			e.From = a.From
			e.Duration = a.Duration.D()
			if e.Duration == 0 {
				e.Duration = time.Minute
			}
			if e.Duration > sc.Duration && sc.Duration > 0 {
				bad("duration", "flood of %v outlasts the scenario (%v)", e.Duration, sc.Duration)
			}
		case backend.KindLogic:
			if model != nil {
				if _, found := model.Program(a.Program); !found {
					bad("program", "model %s has no logic program %q (have %s)", model.Name, a.Program, strings.Join(model.Programs, ", "))
				}
			}
			e.Program = a.Program
		case backend.KindMode:
			switch plantsim.Mode(a.Mode) {
			case plantsim.ModeRun, plantsim.ModeStop, plantsim.ModeProgram:
			default:
				bad("mode", "mode %q is not one of run, stop, program", a.Mode)
			}
			e.Mode = a.Mode
		case backend.KindFault, backend.KindClearFault:
			e.Fault, e.Tag = a.Fault, a.Tag
			if model != nil {
				if _, found := model.Fault(a.Fault); !found {
					var names []string
					for _, f := range model.AllFaults() {
						names = append(names, f.Name)
					}
					bad("fault", "model %s has no fault %q (have %s)", model.Name, a.Fault, strings.Join(names, ", "))
				} else if a.Fault == plantsim.FaultSensorStuck {
					tag, err := tagOf(model, a.Tag, plantsim.DiscreteInput, plantsim.InputRegister)
					if err != nil {
						bad("tag", "%s needs a sensor tag: %v", a.Fault, err)
					}
					e.Tag = tag
				} else if a.Tag != "" {
					bad("tag", "fault %s takes no tag", a.Fault)
				}
			}
		case backend.KindStopHost, backend.KindStartHost, backend.KindPauseHost, backend.KindResumeHost,
			backend.KindDisconnectHost, backend.KindReconnectHost:
			host("host", a.Host)
			e.Host = a.Host
		case backend.KindCutConduit, backend.KindRestoreConduit:
			found := false
			for _, c := range sc.Conduits {
				if c.From == a.From && c.To == a.To {
					found = true
				}
			}
			if !found {
				bad("from", "no conduit %s → %s in the plant", a.From, a.To)
			}
			e.From, e.To = a.From, a.To
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}
