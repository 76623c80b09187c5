package scenario

import (
	"fmt"

	"github.com/icsrange/icsrange/plant-sim/plant"
)

// effects checks a do: list and compiles it, each effect by its kind's
// registry entry (plant.Build); problems point at the field they are in.
func (l *loader) effects(sc *Scenario, path string, specs []EffectSpec) []plant.Effect {
	var out []plant.Effect
	for j, es := range specs {
		if es.Kind == "" || !l.decoded(fmt.Sprintf("%s[%d]", path, j)) {
			continue // decoding already reported it
		}
		base := fmt.Sprintf("%s[%d].%s", path, j, es.Kind)
		a := es.Args
		args := plant.Args{From: a.From, To: a.To, PLC: a.PLC, Register: a.Register, Coil: a.Coil, Tag: a.Tag,
			Window: a.Window.D(), Target: a.Target, Duration: a.Duration.D(), Program: a.Program, Mode: a.Mode,
			Fault: a.Fault, Host: a.Host}
		if a.Value != nil {
			v := float64(*a.Value)
			args.Value = &v
		}
		e, problems := plant.Build(es.Kind, args, sc.Topology, plant.Limits{Duration: sc.Duration})
		for _, p := range problems {
			l.at(base+"."+p.Field, "%s", p.Msg)
		}
		if len(problems) == 0 {
			out = append(out, e)
		}
	}
	return out
}
