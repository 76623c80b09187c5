package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/icsrange/icsrange/plant-sim/plant"
)

// Loading is three steps after decoding, each with its own file:
//
//   - validate (validate*.go) reads the spec as written and reports every
//     problem at its FILE:LINE:COL; nothing after it runs on a spec with a
//     problem.
//   - defaults (defaults.go) fills every field left out, on a copy.
//   - compile (compile.go) builds the ready-to-run Scenario from the
//     defaulted spec; it cannot fail.
//
// Rules are the one thing compiled during validation: whether a rule
// type-checks against the Env is known only by compiling it, so validate
// compiles each rule once and hands the programs (with the Layout their
// plant references index into) to compile in a checked, rather than
// compile doing it again. Effects are checked and compiled by their kind's
// registry entry in the same steps (plant.Check, plant.Defaults,
// plant.Compile).

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

// checked is what validation hands to compile besides the spec.
type checked struct {
	layout *Layout
	rules  []*Rule          // by Rule.ID
	rule   map[string]*Rule // by Rule.Path
}

// ruleAt is the rule validation compiled at a path, nil when there is none.
func (c *checked) ruleAt(path string) *Rule { return c.rule[path] }

// validate checks the spec as written; problems go to l.errs, warnings to
// l.warns. A check on a field that has a default checks the value it will
// have (teams: {min: 200} is wrong against the default max of 100) through
// the same withDefaults the defaults step applies, so each default is
// written once.
func (l *loader) validate(s *Spec) *checked {
	if s.ID != "" && !scenarioIDRe.MatchString(s.ID) {
		l.at("id", "scenario id %q: use lowercase letters, digits and dashes", s.ID)
	}
	if l.has("version") && s.Version != FormatVersion {
		l.at("version", "format version %d is not supported (this icsrange reads version %d)", s.Version, FormatVersion)
	}
	if l.has("title") && s.Title.IsZero() {
		l.at("title", "title is empty")
	}
	if d := s.Duration.D(); l.has("duration") && (d <= 0 || d > maxDuration) {
		l.at("duration", "duration %v must be above 0 and at most %v", d, maxDuration)
	}
	if t := s.Teams.withDefaults(); t.Min < 1 || t.Max > 1000 || t.Min > t.Max {
		l.at("teams", "teams: want 1 <= min <= max <= 1000, got min %d max %d", t.Min, t.Max)
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
	s = firstItems(s)

	ids := l.validatePlant(s)
	topo := topologyOf(s)
	rc := &ruleCompiler{layout: newLayout(s.Plant.PLCs, s.Plant.Hosts), ids: ids}

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

	// The order of these calls is the order rules are numbered in
	// (Rule.ID) and, for problems at one place, the order they are listed.
	l.validateInjects(s, topo, rc)
	l.validateActions(s, topo)
	l.validateQuestions(s, rc)
	l.validateHints(s, ids)
	l.validateObjectives(s, rc)
	l.validateTests(s, topo, ids)

	c := &checked{layout: rc.layout, rules: rc.rules, rule: map[string]*Rule{}}
	for _, r := range rc.rules {
		c.rule[r.Path] = r
	}
	return c
}

// has reports whether the file sets a path and it decoded cleanly.
func (l *loader) has(path string) bool {
	_, ok := l.pos[path]
	return ok && l.decoded(path)
}

// firstItems is the spec with each section cut to maxItems entries (the
// spec itself is not changed). Entries past the limit are not checked:
// compiling the rules of thousands of them would take seconds for a file
// already in error.
func firstItems(s *Spec) *Spec {
	c := *s
	c.Injects, c.Actions, c.Questions = s.Injects[:min(len(s.Injects), maxItems)], s.Actions[:min(len(s.Actions), maxItems)], s.Questions[:min(len(s.Questions), maxItems)]
	c.Hints, c.Objectives, c.Tests = s.Hints[:min(len(s.Hints), maxItems)], s.Objectives[:min(len(s.Objectives), maxItems)], s.Tests[:min(len(s.Tests), maxItems)]
	return &c
}

// rule compiles a rule, reporting its problems at their places in the
// file; the rule is numbered and kept for compile.
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

// effects checks a do: list, each effect by its kind's registry entry
// (plant.Check); problems point at the field they are in.
func (l *loader) effects(topo *plant.Topology, dur time.Duration, path string, specs []EffectSpec) {
	for j, es := range specs {
		if es.Kind == "" || !l.decoded(fmt.Sprintf("%s[%d]", path, j)) {
			continue // decoding already reported it
		}
		base := fmt.Sprintf("%s[%d].%s", path, j, es.Kind)
		for _, p := range plant.Check(es.Kind, es.Args.plant(), topo, plant.Limits{Duration: dur}) {
			l.at(base+"."+p.Field, "%s", p.Msg)
		}
	}
}

func (l *loader) validateInjects(s *Spec, topo *plant.Topology, rc *ruleCompiler) {
	dur := s.Duration.D()
	for i, in := range s.Injects {
		path := fmt.Sprintf("injects[%d]", i)
		if in.At != nil && in.At.D() > dur && dur > 0 {
			l.at(path+".at", "at %v is after the scenario ends (%v)", in.At.D(), dur)
		}
		if in.After != nil {
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
			l.rule(rc, path+".when", in.When, true)
		}
		if _, n := in.trigger(); n != 1 && l.decoded(path) {
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
		l.effects(topo, dur, path+".do", in.Do)
	}
	l.afterLoops(s.Injects)
}

// afterLoops reports after: chains that loop; each loop is reported once,
// at the injects in it.
func (l *loader) afterLoops(injects []InjectSpec) {
	byID := map[string]int{}
	for i, in := range injects {
		byID[in.ID] = i
	}
	follows := func(in InjectSpec) bool { t, _ := in.trigger(); return t == TriggerAfter }
	reported := map[string]bool{}
	for i, in := range injects {
		if !follows(in) || reported[in.ID] || in.After.Inject == in.ID {
			continue
		}
		order := []string{in.ID}
		seen := map[string]int{in.ID: 0}
		for cur := in; follows(cur); {
			ni, ok := byID[cur.After.Inject]
			if !ok {
				break
			}
			next := injects[ni]
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

func (l *loader) validateActions(s *Spec, topo *plant.Topology) {
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
		l.effects(topo, s.Duration.D(), path+".do", a.Do)
	}
}

func (l *loader) validateQuestions(s *Spec, rc *ruleCompiler) {
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
		if a := q.withDefaults().Attempts; a < 1 || a > 100 {
			l.at(path+".attempts", "attempts %d is outside 1..100", q.Attempts)
		}
		if q.Penalty < 0 {
			l.at(path+".penalty", "penalty %d is negative; it is points lost per wrong answer", q.Penalty)
		}
		if q.Visible != "" {
			l.rule(rc, path+".visible", q.Visible, true)
		}
	}
}

func (l *loader) validateHints(s *Spec, ids map[string]map[string]bool) {
	dur := s.Duration.D()
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
		if h.At != nil && h.At.D() > dur && dur > 0 {
			l.at(path+".at", "at %v is after the scenario ends (%v)", h.At.D(), dur)
		}
	}
}

func (l *loader) validateObjectives(s *Spec, rc *ruleCompiler) {
	for i, o := range s.Objectives {
		path := fmt.Sprintf("objectives[%d]", i)
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
			l.rule(rc, path+".when", o.When, true)
		}
		if o.FailWhen != "" {
			l.rule(rc, path+".fail_when", o.FailWhen, true)
		}
		if o.For > 0 && o.When == "" {
			l.at(path+".for", "for: needs a when: rule to hold")
		}
		if o.Bonus != "" {
			l.rule(rc, path+".bonus", o.Bonus, false)
		}
		sum := 0
		for j, p := range o.Partial {
			pp := fmt.Sprintf("%s.partial[%d]", path, j)
			if p.Points <= 0 {
				l.at(pp+".points", "partial points must be above 0")
			}
			sum += p.Points
			l.rule(rc, pp+".when", p.When, true)
		}
		if len(o.Partial) > 0 && o.Points >= 0 && sum > o.Points {
			l.at(path+".partial", "partial credit adds up to %d, more than the objective's %d points", sum, o.Points)
		}
	}
}
