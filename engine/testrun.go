package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/icsrange/icsrange/plant-sim/plant"

	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

// TestTeam is the scripted team's name in scenario tests.
const TestTeam = "test"

// TestResult is the outcome of one scenario test.
type TestResult struct {
	Name       string
	Passed     bool
	Problems   []string          // step failures and unmet expectations
	Objectives map[string]string // objective → final status
	Score      int
	Fired      []string
	Elapsed    time.Duration // wall time the test took
}

// RunTests runs a scenario's tests: each a fresh exercise with one
// scripted team, on a virtual clock, with real in-process PLCs.
func RunTests(ctx context.Context, sc *scenario.Scenario, yaml []byte, path string) []TestResult {
	var out []TestResult
	for _, t := range sc.Spec.Tests {
		out = append(out, runTest(ctx, sc, yaml, path, t))
	}
	return out
}

func runTest(ctx context.Context, sc *scenario.Scenario, yaml []byte, path string, t scenario.TestSpec) TestResult {
	start := time.Now()
	res := TestResult{Name: t.Name, Objectives: map[string]string{}}
	fail := func(format string, a ...any) { res.Problems = append(res.Problems, fmt.Sprintf(format, a...)) }
	dir, err := os.MkdirTemp("", "icsrange-test-")
	if err != nil {
		fail("temp dir: %v", err)
		return res
	}
	defer os.RemoveAll(dir)
	// The scripted team is the first; a scenario that needs more teams gets
	// idle ones beside it.
	teams := []string{TestTeam}
	for i := 2; i <= sc.MinTeams; i++ {
		teams = append(teams, fmt.Sprintf("idle-%d", i))
	}
	x, err := New(ctx, Config{Scenario: sc, ScenarioYAML: yaml, ScenarioPath: path, Teams: teams,
		DataDir: dir, Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 1})
	if err != nil {
		fail("create exercise: %v", err)
		return res
	}
	defer x.Close()
	if err := x.Start(ctx, "test"); err != nil {
		fail("start: %v", err)
		return res
	}
	for i, st := range t.Steps {
		if err := x.Step(ctx, st.At.D()); err != nil {
			fail("run to %v: %v", st.At, err)
			return res
		}
		if err := x.testStep(ctx, st); err != nil {
			fail("step %d at %v: %v", i+1, st.At, err)
		}
	}
	if err := x.Step(ctx, sc.Duration); err != nil {
		fail("run to the end: %v", err)
		return res
	}

	// A rule that fails at run time counts as false and the run goes on;
	// for the scenario's author it is a bug all the same.
	if err := x.store.Events(ctx, store.Filter{Kinds: []string{EvRuleError}}, func(e store.Event) error {
		var d RuleErrorData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		fail("%s: rule error at %v (%s, counted as false): %s", d.Pos, FormatDuration(e.Clock), d.Rule, d.Error)
		return nil
	}); err != nil {
		fail("read rule errors: %v", err)
	}

	x.mu.Lock()
	ts := x.state.Team[TestTeam]
	res.Score = ts.Score
	for _, o := range sc.Objectives {
		res.Objectives[o.ID] = StatusPending
		if os := ts.Objectives[o.ID]; os != nil {
			res.Objectives[o.ID] = os.Status
		}
	}
	for id := range ts.Fired {
		res.Fired = append(res.Fired, id)
	}
	x.mu.Unlock()
	sort.Strings(res.Fired)

	e := t.Expect
	for _, id := range sortedKeys(e.Objectives) {
		if got, want := res.Objectives[id], e.Objectives[id]; got != want {
			fail("objective %s: want %s, got %s", id, want, got)
		}
	}
	if e.Score != nil && *e.Score != res.Score {
		fail("score: want %d, got %d", *e.Score, res.Score)
	}
	fired := map[string]bool{}
	for _, id := range res.Fired {
		fired[id] = true
	}
	for _, id := range e.Fired {
		if !fired[id] {
			fail("inject %s: want fired, it did not fire", id)
		}
	}
	for _, id := range e.NotFired {
		if fired[id] {
			fail("inject %s: want not fired, it fired", id)
		}
	}
	res.Passed = len(res.Problems) == 0
	res.Elapsed = time.Since(start)
	return res
}

func (x *Exercise) testStep(ctx context.Context, st scenario.StepSpec) error {
	switch {
	case len(st.Answer) > 0:
		for _, q := range sortedKeys(st.Answer) {
			if _, err := x.Answer(ctx, TestTeam, q, st.Answer[q]); err != nil {
				return err
			}
		}
	case st.Act != "":
		_, err := x.Act(ctx, TestTeam, st.Act)
		return err
	case st.Hint != "":
		_, err := x.RequestHint(ctx, TestTeam, st.Hint)
		return err
	case st.Fire != "":
		return x.FireInject(ctx, TestTeam, st.Fire, "instructor")
	case st.Adjust != nil:
		return x.Adjust(ctx, TestTeam, st.Adjust.Points, st.Adjust.Reason)
	case st.ModbusWrite != nil:
		return x.traineeWrite(ctx, plant.KindModbusWrite, st.ModbusWrite.PLC, st.ModbusWrite.Register, float64(st.ModbusWrite.Value))
	case st.CoilWrite != nil:
		return x.traineeWrite(ctx, plant.KindCoilWrite, st.CoilWrite.PLC, st.CoilWrite.Coil, float64(st.CoilWrite.Value))
	}
	return nil
}

// traineeWrite is a trainee's tool writing over Modbus: real TCP to the
// team's PLC, no attacker path, no event (the engine doesn't see it).
func (x *Exercise) traineeWrite(ctx context.Context, kind, plc, tag string, v float64) error {
	if _, name, ok := cutPrefix(tag); ok {
		tag = name
	}
	res, err := x.dep.Do(ctx, TestTeam, plant.Effect{Kind: kind, PLC: plc, Tag: tag, Value: v, HasValue: true})
	if err != nil {
		return err
	}
	if res.Outcome != "ok" {
		return fmt.Errorf("write %s.%s: %s", plc, tag, res.Detail)
	}
	return nil
}

func cutPrefix(tag string) (string, string, bool) {
	for i := range len(tag) {
		if tag[i] == ':' {
			return tag[:i], tag[i+1:], true
		}
	}
	return "", tag, false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FormatDuration prints an exercise time as m:ss or h:mm:ss.
func FormatDuration(d time.Duration) string {
	d = d.Truncate(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return strconv.Itoa(h) + ":" + fmt.Sprintf("%02d:%02d", m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
