package scenario

import (
	"fmt"

	"github.com/icsrange/icsrange/plant-sim/plant"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// compile builds the ready-to-run Scenario from a validated spec with its
// defaults filled (defaults) and what validation compiled: the rules, by
// the path they sit at, and the layout they index into. It cannot fail:
// every check was made before, and it looks nothing up that validation
// did not find. It keeps the spec it was given as Scenario.Spec.
func compile(s *Spec, c *checked) *Scenario {
	sc := &Scenario{Spec: s, Duration: s.Duration.D(), MinTeams: s.Teams.Min, MaxTeams: s.Teams.Max,
		Topology: topologyOf(s), Layout: c.layout, Rules: c.rules,
		inject: map[string]*Inject{}, action: map[string]*Action{}, question: map[string]*Question{},
		hint: map[string]*Hint{}, objective: map[string]*Objective{}}
	for i, in := range s.Injects {
		inj := &Inject{ID: in.ID, Title: in.Title, Say: in.Say, Tags: in.Tags, Index: i,
			Effects: compileEffects(sc.Topology, in.Do)}
		inj.Trigger, _ = in.trigger()
		switch inj.Trigger {
		case TriggerAt:
			inj.At = in.At.D()
		case TriggerAfter:
			inj.After, inj.Delay = in.After.Inject, in.After.Delay.D()
		case TriggerWhen:
			inj.When = c.ruleAt(fmt.Sprintf("injects[%d].when", i))
		}
		sc.Injects = append(sc.Injects, inj)
		sc.inject[in.ID] = inj
	}
	for _, a := range s.Actions {
		act := &Action{ID: a.ID, Title: a.Title, Description: a.Description, Cooldown: a.Cooldown.D(), Cost: a.Cost,
			Effects: compileEffects(sc.Topology, a.Do)}
		sc.Actions = append(sc.Actions, act)
		sc.action[a.ID] = act
	}
	for i, q := range s.Questions {
		qq := &Question{ID: q.ID, Prompt: q.Prompt, Attempts: q.Attempts, Penalty: q.Penalty,
			Visible: c.ruleAt(fmt.Sprintf("questions[%d].visible", i)), match: matcher(q.Answer)}
		sc.Questions = append(sc.Questions, qq)
		sc.question[q.ID] = qq
	}
	for _, h := range s.Hints {
		hh := &Hint{ID: h.ID, Title: h.Title, For: h.For, Cost: h.Cost, Text: h.Text, Requestable: *h.Request}
		if h.At != nil {
			hh.At, hh.HasAt = h.At.D(), true
		}
		sc.Hints = append(sc.Hints, hh)
		sc.hint[h.ID] = hh
	}
	for i, o := range s.Objectives {
		path := fmt.Sprintf("objectives[%d]", i)
		ob := &Objective{ID: o.ID, Title: o.Title, Category: o.Category, Points: o.Points, For: o.For.D(), Penalty: o.Penalty,
			When: c.ruleAt(path + ".when"), FailWhen: c.ruleAt(path + ".fail_when"), Bonus: c.ruleAt(path + ".bonus")}
		for j, p := range o.Partial {
			ob.Partial = append(ob.Partial, Partial{When: c.ruleAt(fmt.Sprintf("%s.partial[%d].when", path, j)), Points: p.Points})
		}
		sc.Objectives = append(sc.Objectives, ob)
		sc.objective[o.ID] = ob
	}
	return sc
}

// trigger is how an inject fires, and how many of at, after, when and
// manual it names: validation requires one; were there more, the last
// would count.
func (in InjectSpec) trigger() (Trigger, int) {
	t, n := TriggerAt, 0
	if in.At != nil {
		t, n = TriggerAt, n+1
	}
	if in.After != nil {
		t, n = TriggerAfter, n+1
	}
	if in.When != "" {
		t, n = TriggerWhen, n+1
	}
	if in.Manual {
		t, n = TriggerManual, n+1
	}
	return t, n
}

// topologyOf is the plant's shape: zones, conduits, and the PLCs and hosts
// placed in them. Validation checks effects against the shape of the spec
// as written, where PLCs of an unknown model are left out (they are no
// PLC an effect can name) and settings are as written; compile's, of the
// defaulted spec, carries every setting.
func topologyOf(s *Spec) *plant.Topology {
	p := s.Plant
	var (
		zones    []string
		conduits []plant.Conduit
		plcs     []plant.PLC
		hosts    []plant.Host
	)
	for _, z := range p.Zones {
		zones = append(zones, z.ID)
	}
	for _, c := range p.Conduits {
		conduits = append(conduits, plant.Conduit{From: c.From, To: c.To, Ports: c.Ports})
	}
	for _, pl := range p.PLCs {
		if _, ok := plantsim.LookupModel(pl.Model); !ok {
			continue
		}
		var noise float64
		if pl.Noise != nil {
			noise = *pl.Noise
		}
		plcs = append(plcs, plant.PLC{ID: pl.ID, Model: pl.Model, Zone: pl.Zone, Params: plantsim.Params(pl.Params),
			UnitID: byte(pl.UnitID), Scan: pl.Scan.D(), Noise: noise, FrameTimeout: pl.FrameTimeout.D()})
	}
	for _, h := range p.Hosts {
		hosts = append(hosts, plant.Host{ID: h.ID, Role: h.Role, Zone: h.Zone, Address: h.Address})
	}
	return plant.NewTopology(zones, conduits, plcs, hosts)
}

// compileEffects compiles a checked do: list, each effect by its kind's
// registry entry.
func compileEffects(topo *plant.Topology, specs []EffectSpec) []plant.Effect {
	var out []plant.Effect
	for _, es := range specs {
		out = append(out, plant.Compile(es.Kind, es.Args.plant(), topo))
	}
	return out
}
