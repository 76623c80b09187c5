package scenario

import (
	"fmt"
	"slices"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

// Every default of the scenario format is filled here, by defaults, and
// the reference's "Defaults" table (docs/scenario-reference.md) lists each
// at the value it gets (TestReferenceDefaults holds the two together).
// Two kinds of default are declared by what owns them: an effect's in its
// kind's registry entry (a replay's window, a flood's length), which
// defaults applies through plant.Defaults; and a PLC's scan period and
// frame timeout, which stay 0 here so the PLC's own apply
// (plantsim.DefaultScan, plantsim.DefaultFrameTimeout). Fields whose zero is their meaning need no
// default: after.delay, an action's cooldown (0: once only), an answer's
// tolerance, a question without visible: (always shown).
const (
	defaultMinTeams = 1
	defaultMaxTeams = 100
	defaultUnitID   = int(plantsim.DefaultUnitID) // the PLC's own defaults
	defaultNoise    = plantsim.DefaultNoise
	defaultAttempts = 3
)

// defaults returns the spec with every field left out filled in. It is
// pure: the spec given is not changed (what it fills is copied; the rest
// is shared), and it is meant for a validated spec, whose ids and
// references hold. Filling twice changes nothing.
//
// A default that depends on the field alone is a withDefaults method, so
// validation checks a field at the value it will have by the same code; a
// default that needs the rest of the spec (addresses, hint titles) is
// filled here.
func defaults(s *Spec) *Spec {
	d := *s
	d.Teams = s.Teams.withDefaults()
	d.Plant.PLCs = withEach(s.Plant.PLCs, PLCSpec.withDefaults)
	d.Plant.Hosts = hostAddresses(s.Plant.Zones, s.Plant.Hosts)
	d.Injects = withEach(s.Injects, func(in InjectSpec) InjectSpec {
		in.Do = withEach(in.Do, EffectSpec.withDefaults)
		return in
	})
	d.Actions = withEach(s.Actions, func(a ActionSpec) ActionSpec {
		a.Do = withEach(a.Do, EffectSpec.withDefaults)
		return a
	})
	d.Questions = withEach(s.Questions, QuestionSpec.withDefaults)
	d.Hints = slices.Clone(s.Hints)
	for i, h := range d.Hints {
		d.Hints[i] = h.withDefaults()
		if h.Title.IsZero() {
			d.Hints[i].Title = hintTitle(s, h, i)
		}
	}
	return &d
}

// withEach is a new slice of f of each element (nil stays nil).
func withEach[T any](in []T, f func(T) T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func (t TeamLimits) withDefaults() TeamLimits {
	if t.Min == 0 {
		t.Min = defaultMinTeams
	}
	if t.Max == 0 {
		t.Max = defaultMaxTeams
	}
	return t
}

func (p PLCSpec) withDefaults() PLCSpec {
	if p.UnitID == 0 {
		p.UnitID = defaultUnitID
	}
	if p.Noise == nil {
		n := defaultNoise
		p.Noise = &n
	}
	return p
}

// withDefaults fills the fields the effect's kind gives a default.
func (e EffectSpec) withDefaults() EffectSpec {
	e.Args = argsOf(plant.Defaults(e.Kind, e.Args.plant()))
	return e
}

func (q QuestionSpec) withDefaults() QuestionSpec {
	if q.Attempts == 0 {
		q.Attempts = defaultAttempts
	}
	return q
}

// withDefaults fills what a hint's default needs nothing else for: its
// title is hintTitle's.
func (h HintSpec) withDefaults() HintSpec {
	if h.Request == nil {
		yes := true
		h.Request = &yes
	}
	return h
}

// hostAddresses gives each host without an address 10.20.<zone>.<n>: <zone>
// the zone's position in zones from 1, <n> counting from 10 in each zone
// and skipping addresses the file sets.
func hostAddresses(zones []ZoneSpec, hosts []HostSpec) []HostSpec {
	zoneIndex := map[string]int{}
	for i, z := range zones {
		zoneIndex[z.ID] = i
	}
	used := map[string]bool{}
	for _, h := range hosts {
		used[h.Address] = true
	}
	out := slices.Clone(hosts)
	perZone := map[string]int{}
	for i, h := range out {
		if h.Address != "" {
			continue
		}
		for {
			perZone[h.Zone]++
			out[i].Address = fmt.Sprintf("10.20.%d.%d", zoneIndex[h.Zone]+1, 9+perZone[h.Zone])
			if !used[out[i].Address] {
				break
			}
		}
		used[out[i].Address] = true
	}
	return out
}

// hintTitle names a hint without a title of its own by what it helps
// with, so teams choose among hints by subject rather than by id.
func hintTitle(s *Spec, h HintSpec, i int) Text {
	var about Text
	for _, q := range s.Questions {
		if q.ID == h.For {
			about = q.Prompt
		}
	}
	for _, o := range s.Objectives {
		if o.ID == h.For {
			about = o.Title
			if about.IsZero() {
				about = Text{En: o.ID}
			}
		}
	}
	if about.IsZero() {
		return Text{En: fmt.Sprintf("Hint %d", i+1), Ja: fmt.Sprintf("ヒント%d", i+1)}
	}
	t := Text{En: "Hint: " + about.In("en")}
	if about.Ja != "" {
		t.Ja = "ヒント：" + about.Ja
	}
	return t
}
