package scenario

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/icsrange/icsrange/plant-sim/plant"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

var (
	scenarioIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	idRe         = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	attackRe     = regexp.MustCompile(`^T0[89][0-9]{2}$`)
)

// Limits on a scenario, so a mistaken file can't make the engine run away.
const (
	maxDuration = 24 * time.Hour
	maxItems    = 500
)

var hostRoles = map[string]bool{"attacker": true, "workstation": true, "hmi": true}

// check validates the spec and compiles it. Problems go to l.errs.
func (l *loader) check(s *Spec) *Scenario {
	sc := &Scenario{Spec: s, inject: map[string]*Inject{}, action: map[string]*Action{},
		question: map[string]*Question{}, hint: map[string]*Hint{}, objective: map[string]*Objective{}}

	if s.ID != "" && !scenarioIDRe.MatchString(s.ID) {
		l.at("id", "scenario id %q: use lowercase letters, digits and dashes", s.ID)
	}
	if _, ok := l.pos["version"]; ok && l.decoded("version") && s.Version != FormatVersion {
		l.at("version", "format version %d is not supported (this icsrange reads version %d)", s.Version, FormatVersion)
	}
	if _, ok := l.pos["title"]; ok && l.decoded("title") && s.Title.IsZero() {
		l.at("title", "title is empty")
	}
	sc.Duration = s.Duration.D()
	if _, ok := l.pos["duration"]; ok && l.decoded("duration") && (sc.Duration <= 0 || sc.Duration > maxDuration) {
		l.at("duration", "duration %v must be above 0 and at most %v", sc.Duration, maxDuration)
	}
	sc.MinTeams, sc.MaxTeams = s.Teams.Min, s.Teams.Max
	if sc.MinTeams == 0 {
		sc.MinTeams = 1
	}
	if sc.MaxTeams == 0 {
		sc.MaxTeams = 100
	}
	if sc.MinTeams < 1 || sc.MaxTeams > 1000 || sc.MinTeams > sc.MaxTeams {
		l.at("teams", "teams: want 1 <= min <= max <= 1000, got min %d max %d", sc.MinTeams, sc.MaxTeams)
	}
	for _, sec := range []struct {
		name string
		n    int
	}{{"injects", len(s.Injects)}, {"actions", len(s.Actions)}, {"questions", len(s.Questions)},
		{"hints", len(s.Hints)}, {"objectives", len(s.Objectives)}, {"tests", len(s.Tests)}} {
		if sec.n > maxItems {
			l.at(sec.name, "%s has %d entries; at most %d", sec.name, sec.n, maxItems)
		}
	}
	// Entries past the limit are not checked: compiling the rules of
	// thousands of them would take seconds for a file already in error.
	s.Injects, s.Actions, s.Questions = s.Injects[:min(len(s.Injects), maxItems)], s.Actions[:min(len(s.Actions), maxItems)], s.Questions[:min(len(s.Questions), maxItems)]
	s.Hints, s.Objectives, s.Tests = s.Hints[:min(len(s.Hints), maxItems)], s.Objectives[:min(len(s.Objectives), maxItems)], s.Tests[:min(len(s.Tests), maxItems)]

	ids := l.checkPlant(s, sc)
	sc.Layout = newLayout(s.Plant.PLCs, s.Plant.Hosts)
	rc := &ruleCompiler{layout: sc.Layout, ids: ids}

	// Collect every id first so rules and references can point forward.
	collect := func(section, kind string, n int, id func(int) string) {
		ids[kind] = map[string]bool{}
		for i := range n {
			v := id(i)
			p := fmt.Sprintf("%s[%d].id", section, i)
			switch {
			case v == "" && l.decoded(fmt.Sprintf("%s[%d]", section, i)):
				l.at(fmt.Sprintf("%s[%d]", section, i), "%s needs an id", kind)
			case v == "":
			case !idRe.MatchString(v):
				l.at(p, "%s id %q: start with a letter; use lowercase letters, digits, _ and -", kind, v)
			case ids[kind][v]:
				l.at(p, "duplicate %s id %q", kind, v)
			}
			ids[kind][v] = true
		}
	}
	collect("injects", "inject", len(s.Injects), func(i int) string { return s.Injects[i].ID })
	collect("actions", "action", len(s.Actions), func(i int) string { return s.Actions[i].ID })
	collect("questions", "question", len(s.Questions), func(i int) string { return s.Questions[i].ID })
	collect("hints", "hint", len(s.Hints), func(i int) string { return s.Hints[i].ID })
	collect("objectives", "objective", len(s.Objectives), func(i int) string { return s.Objectives[i].ID })

	l.checkInjects(s, sc, rc)
	l.checkActions(s, sc)
	l.checkQuestions(s, sc, rc)
	l.checkHints(s, sc, ids)
	l.checkObjectives(s, sc, rc)
	l.checkTests(s, sc)
	sc.Rules = rc.rules
	return sc
}

func (l *loader) rule(rc *ruleCompiler, path, src string, asBool bool) *Rule {
	if strings.TrimSpace(src) == "" {
		l.at(path, "rule is empty")
		return nil
	}
	r, errs := rc.compile(src, asBool)
	for _, err := range errs {
		off, msg := errColumn(err)
		line, col := l.rulePos(path, off)
		if isWarning(err) {
			l.warn(line, col, "rule: %s", msg)
			continue
		}
		l.add(line, col, "rule: %s", friendlyRuleMessage(msg))
	}
	if r == nil {
		return nil
	}
	r.ID, r.Path, r.File = len(rc.rules), path, l.file
	r.Line, r.Col = l.rulePos(path, 0)
	r.at = func(off int) (int, int) { return l.rulePos(path, off) }
	rc.rules = append(rc.rules, r)
	return r
}

func (l *loader) checkPlant(s *Spec, sc *Scenario) map[string]map[string]bool {
	ids := map[string]map[string]bool{"zone": {}, "plc": {}, "host": {}, "conduit": {}}
	p := s.Plant
	var (
		zones    []string
		conduits []plant.Conduit
		plcs     []plant.PLC
		hosts    []plant.Host
	)
	defer func() { sc.Topology = plant.NewTopology(zones, conduits, plcs, hosts) }()
	_, havePlant := l.pos["plant"]
	if len(p.Zones) == 0 && havePlant && l.decoded("plant") {
		l.at("plant", "plant needs at least one zone")
	}
	for i, z := range p.Zones {
		path := fmt.Sprintf("plant.zones[%d]", i)
		switch {
		case !idRe.MatchString(z.ID):
			l.at(path+".id", "zone id %q: start with a letter; use lowercase letters, digits, _ and -", z.ID)
		case ids["zone"][z.ID]:
			l.at(path+".id", "duplicate zone %q", z.ID)
		}
		ids["zone"][z.ID] = true
		zones = append(zones, z.ID)
	}
	seenConduit := map[[2]string]bool{}
	for i, c := range p.Conduits {
		path := fmt.Sprintf("plant.conduits[%d]", i)
		if !ids["zone"][c.From] {
			l.at(path+".from", "unknown zone %q", c.From)
		}
		if !ids["zone"][c.To] {
			l.at(path+".to", "unknown zone %q", c.To)
		}
		if c.From == c.To {
			l.at(path, "a conduit joins two different zones")
		}
		if seenConduit[[2]string{c.From, c.To}] {
			l.at(path, "duplicate conduit %s → %s", c.From, c.To)
		}
		seenConduit[[2]string{c.From, c.To}] = true
		ids["conduit"][c.From+">"+c.To] = true
		for j, port := range c.Ports {
			if port < 1 || port > 65535 {
				l.at(fmt.Sprintf("%s.ports[%d]", path, j), "port %d is outside 1..65535", port)
			}
		}
		conduits = append(conduits, plant.Conduit{From: c.From, To: c.To, Ports: c.Ports})
	}
	if len(p.PLCs) == 0 && havePlant && l.decoded("plant") {
		l.at("plant", "plant needs at least one PLC")
	}
	for i, pl := range p.PLCs {
		path := fmt.Sprintf("plant.plcs[%d]", i)
		switch {
		case !idRe.MatchString(pl.ID):
			l.at(path+".id", "PLC id %q: start with a letter; use lowercase letters, digits, _ and -", pl.ID)
		case ids["plc"][pl.ID]:
			l.at(path+".id", "duplicate PLC %q", pl.ID)
		}
		ids["plc"][pl.ID] = true
		if !ids["zone"][pl.Zone] {
			l.at(path+".zone", "unknown zone %q", pl.Zone)
		}
		m, ok := plantsim.LookupModel(pl.Model)
		if !ok {
			l.at(path+".model", "unknown model %q (have %s)", pl.Model, strings.Join(plantsim.ModelNames(), ", "))
			continue
		}
		for _, k := range sortedKeys(pl.Params) {
			d, ok := m.Param(k)
			if !ok {
				names := make([]string, len(m.Params))
				for j, pd := range m.Params {
					names[j] = pd.Name
				}
				l.atKey(path+".params."+k, "model %s has no param %q (have %s)", m.Name, k, strings.Join(names, ", "))
				continue
			}
			if v := pl.Params[k]; v < d.Min || v > d.Max {
				l.at(path+".params."+k, "param %s = %g is outside %g..%g %s", k, v, d.Min, d.Max, d.Unit)
			}
		}
		if pl.UnitID < 0 || pl.UnitID > 247 {
			l.at(path+".unit_id", "unit id %d is outside 1..247", pl.UnitID)
		}
		if sc := pl.Scan.D(); sc != 0 && (sc < plantsim.MinScan || sc > plantsim.MaxScan) {
			l.at(path+".scan", "scan period %v is outside %v..%v", sc, plantsim.MinScan, plantsim.MaxScan)
		}
		if ft := pl.FrameTimeout.D(); ft != 0 && (ft < plantsim.MinFrameTimeout || ft > plantsim.MaxFrameTimeout) {
			l.at(path+".frame_timeout", "frame timeout %v is outside %v..%v", ft, plantsim.MinFrameTimeout, plantsim.MaxFrameTimeout)
		}
		noise := plantsim.DefaultNoise
		if pl.Noise != nil {
			noise = *pl.Noise
			if noise < 0 || noise > 100 {
				l.at(path+".noise", "noise %g is outside 0..100", noise)
			}
		}
		unit := plantsim.DefaultUnitID
		if pl.UnitID > 0 && pl.UnitID <= 247 {
			unit = byte(pl.UnitID)
		}
		plcs = append(plcs, plant.PLC{ID: pl.ID, Model: pl.Model, Zone: pl.Zone, Params: plantsim.Params(pl.Params),
			UnitID: unit, Scan: pl.Scan.D(), Noise: noise, FrameTimeout: pl.FrameTimeout.D()})
	}
	zoneIndex := map[string]int{}
	for i, z := range zones {
		zoneIndex[z] = i
	}
	used := map[string]bool{}
	for i, h := range p.Hosts {
		if h.Address != "" && used[h.Address] {
			l.at(fmt.Sprintf("plant.hosts[%d].address", i), "address %s is already another host's", h.Address)
		}
		used[h.Address] = true
	}
	perZone := map[string]int{}
	for i, h := range p.Hosts {
		path := fmt.Sprintf("plant.hosts[%d]", i)
		switch {
		case !idRe.MatchString(h.ID):
			l.at(path+".id", "host id %q: start with a letter; use lowercase letters, digits, _ and -", h.ID)
		case ids["host"][h.ID] || ids["plc"][h.ID]:
			l.at(path+".id", "duplicate host or PLC id %q", h.ID)
		}
		ids["host"][h.ID] = true
		if !hostRoles[h.Role] {
			l.at(path+".role", "host role %q is not one of attacker, workstation, hmi", h.Role)
		}
		if !ids["zone"][h.Zone] {
			l.at(path+".zone", "unknown zone %q", h.Zone)
		}
		addr := h.Address
		if addr != "" {
			if a, err := netip.ParseAddr(addr); err != nil || !a.Is4() {
				l.at(path+".address", "address %q is not an IPv4 address", addr)
			}
		} else {
			// Default: 10.20.<zone>.<n>, clear of addresses the file sets.
			for {
				perZone[h.Zone]++
				addr = fmt.Sprintf("10.20.%d.%d", zoneIndex[h.Zone]+1, 9+perZone[h.Zone])
				if !used[addr] {
					break
				}
			}
			used[addr] = true
		}
		hosts = append(hosts, plant.Host{ID: h.ID, Role: h.Role, Zone: h.Zone, Address: addr})
	}
	return ids
}

func (l *loader) checkInjects(s *Spec, sc *Scenario, rc *ruleCompiler) {
	for i, in := range s.Injects {
		path := fmt.Sprintf("injects[%d]", i)
		inj := &Inject{ID: in.ID, Title: in.Title, Say: in.Say, Tags: in.Tags, Index: i}
		n := 0
		if in.At != nil {
			n++
			inj.Trigger, inj.At = TriggerAt, in.At.D()
			if inj.At > sc.Duration && sc.Duration > 0 {
				l.at(path+".at", "at %v is after the scenario ends (%v)", inj.At, sc.Duration)
			}
		}
		if in.After != nil {
			n++
			inj.Trigger, inj.After, inj.Delay = TriggerAfter, in.After.Inject, in.After.Delay.D()
			switch {
			case in.After.Inject == "" && !l.decoded(path+".after"):
			case in.After.Inject == "":
				l.at(path+".after", "after needs an inject")
			case in.After.Inject == in.ID:
				l.at(path+".after.inject", "inject %q cannot follow itself", in.ID)
			case !rc.ids["inject"][in.After.Inject]:
				l.at(path+".after.inject", "unknown inject %q", in.After.Inject)
			}
		}
		if in.When != "" {
			n++
			inj.Trigger = TriggerWhen
			inj.When = l.rule(rc, path+".when", in.When, true)
		}
		if in.Manual {
			n++
			inj.Trigger = TriggerManual
		}
		if n != 1 && l.decoded(path) {
			l.at(path, "inject %q needs exactly one of at, after, when, manual (has %d)", in.ID, n)
		}
		if len(in.Do) == 0 && in.Say.IsZero() && l.decoded(path) {
			l.at(path, "inject %q has neither do nor say", in.ID)
		}
		for j, t := range in.Tags {
			if !attackRe.MatchString(t) {
				l.at(fmt.Sprintf("%s.tags[%d]", path, j), "tag %q is not an ATT&CK for ICS technique id (T0800–T0999)", t)
			}
		}
		inj.Effects = l.effects(sc, path+".do", in.Do)
		sc.Injects = append(sc.Injects, inj)
		sc.inject[in.ID] = inj
	}
	// after: chains must not loop; each loop is reported once, at the
	// injects in it.
	reported := map[string]bool{}
	for i, in := range sc.Injects {
		if in.Trigger != TriggerAfter || reported[in.ID] || in.After == in.ID {
			continue
		}
		order := []string{in.ID}
		seen := map[string]int{in.ID: 0}
		for cur := in; cur.Trigger == TriggerAfter; {
			next, ok := sc.inject[cur.After]
			if !ok {
				break
			}
			if at, loop := seen[next.ID]; loop {
				cycle := order[at:]
				if slices.Contains(cycle, in.ID) {
					for _, id := range cycle {
						reported[id] = true
					}
					l.at(fmt.Sprintf("injects[%d].after", i), "injects %s wait for each other in a loop (after:)", strings.Join(cycle, " → "))
				}
				break
			}
			seen[next.ID] = len(order)
			order = append(order, next.ID)
			cur = next
		}
	}
}

func (l *loader) checkActions(s *Spec, sc *Scenario) {
	for i, a := range s.Actions {
		path := fmt.Sprintf("actions[%d]", i)
		if a.Title.IsZero() && l.decoded(path) {
			l.at(path+".title", "action %q needs a title", a.ID)
		}
		if len(a.Do) == 0 && l.decoded(path) {
			l.at(path+".do", "action %q needs do: effects", a.ID)
		}
		if a.Cost < 0 {
			l.at(path+".cost", "cost %d is negative", a.Cost)
		}
		act := &Action{ID: a.ID, Title: a.Title, Description: a.Description, Cooldown: a.Cooldown.D(), Cost: a.Cost,
			Effects: l.effects(sc, path+".do", a.Do)}
		sc.Actions = append(sc.Actions, act)
		sc.action[a.ID] = act
	}
}

func (l *loader) checkQuestions(s *Spec, sc *Scenario, rc *ruleCompiler) {
	for i, q := range s.Questions {
		path := fmt.Sprintf("questions[%d]", i)
		if q.Prompt.IsZero() && l.decoded(path) {
			l.at(path+".prompt", "question %q needs a prompt", q.ID)
		}
		m := q.Answer
		n := 0
		if m.Exact != nil {
			n++
		}
		if m.Number != nil {
			n++
		}
		if len(m.OneOf) > 0 {
			n++
		}
		if m.Regex != "" {
			n++
			if _, err := regexp.Compile(m.Regex); err != nil {
				l.at(path+".answer.regex", "bad regex: %v", err)
				n = -1
			} else if _, err := regexp.Compile(`^(?:` + m.Regex + `)$`); err != nil {
				l.at(path+".answer.regex", "bad regex %q: it cannot be anchored to the whole answer", m.Regex)
				n = -1
			}
		}
		if n >= 0 && n != 1 && l.decoded(path+".answer") {
			l.at(path+".answer", "answer needs exactly one of exact, number, one_of, regex")
		}
		if m.Tolerance < 0 {
			l.at(path+".answer.tolerance", "tolerance is negative")
		}
		attempts := q.Attempts
		if attempts == 0 {
			attempts = 3
		}
		if attempts < 1 || attempts > 100 {
			l.at(path+".attempts", "attempts %d is outside 1..100", q.Attempts)
		}
		if q.Penalty < 0 {
			l.at(path+".penalty", "penalty %d is negative; it is points lost per wrong answer", q.Penalty)
		}
		qq := &Question{ID: q.ID, Prompt: q.Prompt, Attempts: attempts, Penalty: q.Penalty}
		if q.Visible != "" {
			qq.Visible = l.rule(rc, path+".visible", q.Visible, true)
		}
		if n == 1 {
			qq.match = matcher(m)
		}
		sc.Questions = append(sc.Questions, qq)
		sc.question[q.ID] = qq
	}
}

func (l *loader) checkHints(s *Spec, sc *Scenario, ids map[string]map[string]bool) {
	for i, h := range s.Hints {
		path := fmt.Sprintf("hints[%d]", i)
		if h.For != "" && !ids["question"][h.For] && !ids["objective"][h.For] {
			l.at(path+".for", "hint is for %q, which is no question or objective", h.For)
		}
		if h.Cost < 0 {
			l.at(path+".cost", "cost %d is negative", h.Cost)
		}
		if h.Text.IsZero() && l.decoded(path) {
			l.at(path+".text", "hint %q needs text", h.ID)
		}
		hh := &Hint{ID: h.ID, Title: h.Title, For: h.For, Cost: h.Cost, Text: h.Text, Requestable: h.Request == nil || *h.Request}
		if hh.Title.IsZero() {
			hh.Title = hintTitle(s, h, i)
		}
		if h.At != nil {
			hh.At, hh.HasAt = h.At.D(), true
			if hh.At > sc.Duration && sc.Duration > 0 {
				l.at(path+".at", "at %v is after the scenario ends (%v)", hh.At, sc.Duration)
			}
		}
		sc.Hints = append(sc.Hints, hh)
		sc.hint[h.ID] = hh
	}
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

func (l *loader) checkObjectives(s *Spec, sc *Scenario, rc *ruleCompiler) {
	for i, o := range s.Objectives {
		path := fmt.Sprintf("objectives[%d]", i)
		ob := &Objective{ID: o.ID, Title: o.Title, Category: o.Category, Points: o.Points, For: o.For.D(), Penalty: o.Penalty}
		if o.Category != "" && !slices.Contains(ObjectiveCategories, o.Category) {
			l.at(path+".category", "category %q is not one of %s", o.Category, strings.Join(ObjectiveCategories, ", "))
		}
		if o.Points < 0 {
			l.at(path+".points", "points %d is negative", o.Points)
		}
		if o.Penalty < 0 {
			l.at(path+".penalty", "penalty %d is negative; it is points lost on failure", o.Penalty)
		}
		if o.When == "" && o.FailWhen == "" && l.decoded(path) {
			l.at(path, "objective %q needs when, fail_when or both", o.ID)
		}
		if o.When != "" {
			ob.When = l.rule(rc, path+".when", o.When, true)
		}
		if o.FailWhen != "" {
			ob.FailWhen = l.rule(rc, path+".fail_when", o.FailWhen, true)
		}
		if o.For > 0 && o.When == "" {
			l.at(path+".for", "for: needs a when: rule to hold")
		}
		if o.Bonus != "" {
			ob.Bonus = l.rule(rc, path+".bonus", o.Bonus, false)
		}
		sum := 0
		for j, p := range o.Partial {
			pp := fmt.Sprintf("%s.partial[%d]", path, j)
			if p.Points <= 0 {
				l.at(pp+".points", "partial points must be above 0")
			}
			sum += p.Points
			ob.Partial = append(ob.Partial, Partial{When: l.rule(rc, pp+".when", p.When, true), Points: p.Points})
		}
		if len(o.Partial) > 0 && o.Points >= 0 && sum > o.Points {
			l.at(path+".partial", "partial credit adds up to %d, more than the objective's %d points", sum, o.Points)
		}
		sc.Objectives = append(sc.Objectives, ob)
		sc.objective[o.ID] = ob
	}
}

var objectiveStates = map[string]bool{"achieved": true, "failed": true, "pending": true}

func (l *loader) checkTests(s *Spec, sc *Scenario) {
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
			if st.At.D() > sc.Duration && sc.Duration > 0 {
				l.at(sp+".at", "at %v is after the scenario ends (%v)", st.At.D(), sc.Duration)
			}
			n := 0
			if len(st.Answer) > 0 {
				n++
				for _, q := range sortedKeys(st.Answer) {
					if _, ok := sc.question[q]; !ok {
						l.atKey(sp+".answer."+q, "unknown question %q", q)
					}
				}
			}
			if st.Act != "" {
				n++
				if _, ok := sc.action[st.Act]; !ok {
					l.at(sp+".act", "unknown action %q", st.Act)
				}
			}
			if st.Hint != "" {
				n++
				if h, ok := sc.hint[st.Hint]; !ok {
					l.at(sp+".hint", "unknown hint %q", st.Hint)
				} else if !h.Requestable {
					l.at(sp+".hint", "hint %q cannot be requested by teams", st.Hint)
				}
			}
			if st.Fire != "" {
				n++
				if _, ok := sc.inject[st.Fire]; !ok {
					l.at(sp+".fire", "unknown inject %q", st.Fire)
				}
			}
			if st.ModbusWrite != nil {
				n++
				l.traineeWrite(sc, sp+".modbus_write", st.ModbusWrite, plantsim.HoldingRegister)
			}
			if st.CoilWrite != nil {
				n++
				l.traineeWrite(sc, sp+".coil_write", st.CoilWrite, plantsim.Coil)
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
			if _, ok := sc.objective[id]; !ok {
				l.atKey(path+".expect.objectives."+id, "unknown objective %q", id)
			}
			if st := t.Expect.Objectives[id]; !objectiveStates[st] {
				l.at(path+".expect.objectives."+id, "objective state %q is not achieved, failed or pending", st)
			}
		}
		for k, list := range map[string][]string{"fired": t.Expect.Fired, "not_fired": t.Expect.NotFired} {
			for j, id := range list {
				if _, ok := sc.inject[id]; !ok {
					l.at(fmt.Sprintf("%s.expect.%s[%d]", path, k, j), "unknown inject %q", id)
				}
			}
		}
	}
}

func (l *loader) traineeWrite(sc *Scenario, path string, w *TraineeWrite, table plantsim.Table) {
	plc, ok := l.plcModel(sc, w.PLC)
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

func (l *loader) plcModel(sc *Scenario, id string) (*plantsim.Model, bool) {
	for _, p := range sc.PLCs {
		if p.ID == id {
			m, ok := plantsim.LookupModel(p.Model)
			return m, ok
		}
	}
	return nil, false
}

// article puts "a" or "an" before a noun.
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiouAEIOU", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}
