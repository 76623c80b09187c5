package engine

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

// lateFailing has a rule of every kind that validates and then fails
// while the exercise runs: a division by zero, an index out of range, a
// range over expr's memory budget, a failing bonus and a failing question
// visibility. Beside them, rules that work must go on working.
const lateFailing = `id: late-failing
version: 1
title: late-failing rules
duration: 5m
plant:
  zones: [{id: control}]
  plcs:
    - {id: tank, model: water-tank, zone: control, noise: 0}
injects:
  - {id: fine, at: 1m, say: fine}
  - id: divide
    when: "elapsed > 120 && 1 % int(elapsed * 0) == 0"
    say: never
  - {id: after-fine, after: {inject: fine, delay: 2m}, say: still running}
questions:
  - {id: q, prompt: q, answer: {exact: "x"}, visible: "[1, 2][int(elapsed / 60)] > 0"}
objectives:
  - {id: index, points: 10, when: "elapsed > 30 && [1, 2, 3][int(elapsed)] > 0"}
  - {id: memory, points: 10, fail_when: "elapsed > 60 && len(1..int(elapsed * 100000)) > 0"}
  - id: tiers
    points: 20
    when: "fired('after-fine')"
    partial: [{when: "elapsed > 90 && [0][int(elapsed)] == 0", points: 5}]
    bonus: "1 % int(elapsed * 0)"
  - {id: works, points: 7, when: "fired('fine') && since('fine') > 10"}
`

func newLateFailing(t *testing.T) *Exercise {
	t.Helper()
	sc, err := scenario.Load("late.yaml", []byte(lateFailing))
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(context.Background(), Config{Scenario: sc, ScenarioYAML: []byte(lateFailing), ScenarioPath: "late.yaml",
		Teams: []string{"a", "b"}, DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func ruleErrors(t *testing.T, st *store.Store) map[string][]RuleErrorData {
	t.Helper()
	out := map[string][]RuleErrorData{}
	if err := st.Events(context.Background(), store.Filter{Kinds: []string{EvRuleError}}, func(e store.Event) error {
		var d RuleErrorData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		if e.Team != "" {
			t.Errorf("rule.error event belongs to team %q; it is the instructor's", e.Team)
		}
		out[d.Rule] = append(out[d.Rule], d)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// A rule that errors at run time never stops the exercise: it counts as
// false for that tick, the instructor hears of it once per rule with the
// failing token's FILE:LINE:COL, and the run — and a resumed run — go on
// to the end.
func TestRuleErrorsNeverStopTheExercise(t *testing.T) {
	ctx := context.Background()
	x := newLateFailing(t)
	closed := false
	t.Cleanup(func() {
		if !closed {
			x.Close()
		}
	})
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	step(t, x, 150*time.Second) // past every failure
	// Views evaluate question visibility; a failing one hides the question.
	v, err := x.TeamView("a")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range v.Questions {
		if q.ID == "q" {
			t.Error("a question whose visible rule fails is shown")
		}
	}

	want := map[string]string{
		"injects[1].when":               "late.yaml:12:31: runtime error: integer divide by zero",
		"questions[0].visible":          "late.yaml:16:62: index out of range: 2 (array length is 2)",
		"objectives[0].when":            "late.yaml:18:61: index out of range: 30 (array length is 3)",
		"objectives[1].fail_when":       "late.yaml:19:63: memory budget exceeded",
		"objectives[2].partial[0].when": "late.yaml:23:42: index out of range: 90 (array length is 1)",
	}
	got := ruleErrors(t, x.Store())
	for path, w := range want {
		ds := got[path]
		if len(ds) != 1 {
			t.Errorf("%s: %d rule.error events, want 1 (once per rule, not per tick or team)", path, len(ds))
			continue
		}
		if line := ds[0].Pos + ": " + ds[0].Error; line != w || ds[0].Team == "" {
			t.Errorf("%s: reported %q for team %q, want %q", path, line, ds[0].Team, w)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok && path != "objectives[2].bonus" {
			t.Errorf("unexpected rule error for %s: %+v", path, got[path])
		}
	}
	for _, team := range []string{"a", "b"} {
		if _, ok := firedAt(x, team, "divide"); ok {
			t.Errorf("team %s: a failing when: rule fired its inject", team)
		}
		for obj, st := range map[string]string{"index": StatusPending, "memory": StatusPending, "works": StatusAchieved} {
			if got := objStatus(x, team, obj); got != st {
				t.Errorf("team %s objective %s: %s, want %s", team, obj, got, st)
			}
		}
	}

	// The instructor and the terminal see it; the public and the teams don't.
	var line string
	x.Store().Events(ctx, store.Filter{Kinds: []string{EvRuleError}, Limit: 1}, func(e store.Event) error {
		line = Describe(x.sc, e, "en")
		u := Update{Event: e}
		if _, ok := ViewEvent(x.sc, u, Public); ok {
			t.Error("the public sees a rule error")
		}
		if _, ok := ViewEvent(x.sc, u, TeamScope("a")); ok {
			t.Error("a team sees a rule error")
		}
		return nil
	})
	if !strings.HasPrefix(line, "Rule error at late.yaml:") || !strings.Contains(line, "counts as false") {
		t.Errorf("terminal line %q", line)
	}

	// Stop and resume: the log knows what was reported, nothing is
	// reported again, and the run goes on to the end.
	dir := x.Dir()
	closed = true
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x2, err := Open(ctx, dir, &inproc.Backend{}, func(path string, y []byte) (*scenario.Scenario, error) { return scenario.Load(path, y) })
	if err != nil {
		t.Fatal(err)
	}
	defer x2.Close()
	step(t, x2, 10*time.Minute)
	if _, phase := x2.Clock(); phase != PhaseEnded {
		t.Fatalf("phase %s after running past the end, want ended", phase)
	}
	after := ruleErrors(t, x2.Store())
	for path, ds := range after {
		if len(ds) != 1 {
			t.Errorf("%s: reported %d times across a resume", path, len(ds))
		}
	}
	// The bonus failed when the objective was achieved: points without it.
	// The fail_when that failed never failed its objective, which is
	// achieved at the end like every objective that only had to not fail.
	for _, team := range []string{"a", "b"} {
		if _, ok := firedAt(x2, team, "after-fine"); !ok {
			t.Errorf("team %s: the run did not go on after the failures", team)
		}
		if got := objStatus(x2, team, "tiers"); got != StatusAchieved {
			t.Errorf("team %s objective tiers: %s, want achieved", team, got)
		}
		if got := x2.teamState(team).Score; got != 20+7+10 {
			t.Errorf("team %s: score %d, want 37 (tiers without its failing bonus and partial, works, memory)", team, got)
		}
	}
	if len(after["objectives[2].bonus"]) != 1 {
		t.Errorf("the failing bonus was reported %d times, want 1", len(after["objectives[2].bonus"]))
	}

	replayed := NewState(x.sc.Topology)
	if err := x2.Store().Events(ctx, store.Filter{}, replayed.Apply); err != nil {
		t.Fatal(err)
	}
	x2.mu.Lock()
	live := x2.state
	x2.mu.Unlock()
	if !reflect.DeepEqual(live.RuleErrors, replayed.RuleErrors) || len(live.RuleErrors) != 6 {
		t.Fatalf("rule errors: live %v, replayed %v", live.RuleErrors, replayed.RuleErrors)
	}
}

// A scenario test lists a rule that failed as a problem.
func TestScenarioTestReportsRuleErrors(t *testing.T) {
	src := lateFailing + "tests:\n  - name: idle\n    expect: {objectives: {works: achieved}}\n"
	sc, err := scenario.Load("late.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	res := RunTests(context.Background(), sc, []byte(src), "late.yaml")
	if len(res) != 1 || res[0].Passed {
		t.Fatalf("a test whose rules fail passes: %+v", res)
	}
	found := false
	for _, p := range res[0].Problems {
		if strings.HasPrefix(p, "late.yaml:12:31: rule error at 2:00 (injects[1].when, counted as false): runtime error: integer divide by zero") {
			found = true
		}
	}
	if !found {
		t.Errorf("problems %q lack the division by zero", res[0].Problems)
	}
}
