package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/expr-lang/expr"

	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

// expensiveScenario has one rule that walks a range of %d elements every
// tick (it loads, with a warning) beside a cheap one.
const expensiveScenario = `id: expensive
version: 1
title: an expensive rule
duration: 1h
teams: {min: 1, max: 100}
plant:
  zones: [{id: control}]
  plcs:
    - {id: tank, model: water-tank, zone: control, noise: 0}
injects:
  - {id: tick, at: 1s, say: first second}
objectives:
  - {id: costly, points: 10, when: "count(1..%d, # > 5) < 0"}
  - {id: cheap, points: 5, when: "fired('tick') && since('tick') > 1"}
`

// rangeCosting is the range size whose walk takes about d on this
// machine in this build (the race detector makes it 30 times slower), so
// a test's rule is as expensive in wall time everywhere.
func rangeCosting(t testing.TB, d time.Duration) int {
	t.Helper()
	const probe = 10_000
	p, err := expr.Compile(fmt.Sprintf("count(1..%d, # > 5) < 0", probe), expr.AsBool())
	if err != nil {
		t.Fatal(err)
	}
	// The fastest of many runs over a while: a loaded machine stretches
	// some of them, rarely all.
	best := time.Hour
	for n, begin := 0, time.Now(); n < 50 || time.Since(begin) < 300*time.Millisecond; n++ {
		start := time.Now()
		if _, err := expr.Run(p, nil); err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(start))
	}
	return min(max(int(probe*d/max(best, time.Microsecond)), 100), scenario.MaxRange)
}

func newExpensive(t testing.TB, teams, size int) *Exercise {
	t.Helper()
	src := fmt.Sprintf(expensiveScenario, size)
	sc, err := scenario.Load("expensive.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if want := min(1, size/(scenario.WarnRange+1)); len(sc.Warnings) != want {
		t.Fatalf("want %d warnings about the range, got %v", want, sc.Warnings)
	}
	names := make([]string, teams)
	for i := range names {
		names[i] = fmt.Sprintf("t%02d", i)
	}
	x, err := New(context.Background(), Config{Scenario: sc, ScenarioYAML: []byte(src), ScenarioPath: "expensive.yaml",
		Teams: names, DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	if err := x.Start(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	return x
}

// With 30 teams and a rule that costs 10 ms per team (300 ms a tick), a
// real-time run at ×1 keeps the exercise clock at wall time: the rule is
// slowed to fit the tick budget and the instructor is told which rule and
// how long it took. Without the budget this run falls far behind.
//
// The pace is compared with a twin exercise run beside it whose rule
// costs nothing: on a machine busy with other work both lag alike, and
// the budget is what keeps the costly one with its twin.
func TestSlowRuleKeepsTheClockAtPace(t *testing.T) {
	size := rangeCosting(t, 10*time.Millisecond)
	t.Logf("the rule walks %d elements", size)
	x, twin := newExpensive(t, 30, size), newExpensive(t, 30, 1)
	const wall = 4 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), wall)
	defer cancel()
	start := time.Now()
	errs := make(chan error, 1)
	go func() { errs <- twin.Run(ctx, 1) }()
	if err := x.Run(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v", err)
	}
	if err := <-errs; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run (twin): %v", err)
	}
	elapsed := time.Since(start)
	clock, _ := x.Clock()
	twinClock, _ := twin.Clock()
	t.Logf("exercise clock %v, its twin's %v, after %v of wall time", clock, twinClock, elapsed.Round(time.Millisecond))
	// Generous: the clock runs in whole ticks, and a tick that runs the
	// rule for a team costs a rule evaluation more than its twin's.
	if clock < twinClock*9/10 {
		t.Errorf("exercise clock %v, its twin's %v: it fell behind", clock, twinClock)
	}
	var slow []RuleSlowData
	x.Store().Events(context.Background(), store.Filter{Kinds: []string{EvRuleSlow}}, func(e store.Event) error {
		var d RuleSlowData
		json.Unmarshal(e.Data, &d)
		if d.Rule == "objectives[0].when" {
			slow = append(slow, d)
		}
		t.Logf("at %v: %s", e.Clock, Describe(x.sc, e, "en"))
		return nil
	})
	if len(slow) == 0 {
		t.Fatal("no rule.slow event for the costly rule: the instructor was not told")
	}
	if d := slow[0]; d.Pos != "expensive.yaml:13:37" || d.Change != SlowSlowed || d.Every < 2 || d.EvalUS < SlowEval.Microseconds() || d.BudgetMS != 50 || d.Evals != 30 {
		t.Errorf("rule.slow %+v: want the rule at expensive.yaml:13:37 slowed to every ≥ 2 ticks, over %v an evaluation, 30 a tick, budget 50 ms", d, SlowEval)
	}
	// The cheap rule is not slowed (a loaded machine may stretch it for a
	// moment): it scores on time for every team (since('tick') > 1 holds
	// from 2.1 s).
	if clock >= 2500*time.Millisecond {
		for _, team := range []string{"t00", "t15", "t29"} {
			if st := objStatus(x, team, "cheap"); st != StatusAchieved {
				t.Errorf("team %s: cheap objective %s at %v", team, st, clock)
			}
		}
	}
}

// The plan is max-min fair: cheap rules run every tick, expensive rules
// share what is left, cheapest first, each slowed just enough.
func TestRuleBudgetPlan(t *testing.T) {
	b := newRuleBudget(4)
	b.limit = 50 * time.Millisecond
	set := func(id int, avg time.Duration, demand int) {
		b.rules[id].avg, b.rules[id].floor, b.rules[id].demand = avg, avg, demand
	}
	set(0, 2*time.Microsecond, 30)   // cheap: 60 µs a tick
	set(1, 500*time.Microsecond, 30) // 15 ms a tick: fits its share
	set(2, 10*time.Millisecond, 30)  // 300 ms a tick
	set(3, 2*time.Second, 30)        // 60 s a tick: capped
	b.plan()
	got := []int{b.rules[0].stride, b.rules[1].stride, b.rules[2].stride, b.rules[3].stride}
	// Left after the cheap rule: 49.94 ms. Rule 1 fits a third (16.6 ms);
	// the last two split 34.94 ms: 17.47 ms each.
	want := []int{1, 1, 18, MaxStride}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("strides %v, want %v", got, want)
	}
	// Spread: a stride-18 rule runs for 30 teams on 1 or 2 of them per
	// tick, a stride-600 one on one team every 20 ticks; every team once a
	// stride.
	for _, tc := range []struct {
		id, stride, lo, hi int
		every              int64
	}{{2, 18, 1, 2, 1}, {3, MaxStride, 1, 1, 20}} {
		per := map[int]int{}
		for tick := int64(0); tick < int64(tc.stride); tick++ {
			n := 0
			for team := range 30 {
				if b.due(tc.id, tick, team, 30) {
					n++
					per[team]++
				}
			}
			if tick%tc.every != 0 {
				if n != 0 {
					t.Fatalf("stride %d: tick %d runs the rule for %d teams, want none", tc.stride, tick, n)
				}
			} else if n < tc.lo || n > tc.hi {
				t.Fatalf("stride %d: tick %d runs the rule for %d teams, want %d to %d", tc.stride, tick, n, tc.lo, tc.hi)
			}
		}
		if len(per) != 30 {
			t.Errorf("stride %d: %d of 30 teams ran the rule in a stride", tc.stride, len(per))
		}
		for team, n := range per {
			if n != 1 {
				t.Errorf("stride %d: team %d ran the rule %d times in a stride", tc.stride, team, n)
			}
		}
	}
	// Without a budget (a stepped run) nothing is slowed.
	b = newRuleBudget(1)
	b.rules[0].avg, b.rules[0].floor, b.rules[0].demand = time.Second, time.Second, 30
	b.end()
	if !b.due(0, 1, 0, 30) || b.rules[0].stride != 1 {
		t.Error("a stepped run slowed a rule")
	}
}

// BenchmarkExpensiveRuleTick is the cost of one tick for 30 teams with a
// rule walking 200,000 elements: speed=0 without a budget (what a stepped
// run pays), speed=1 with the ×1 budget in force.
func BenchmarkExpensiveRuleTick(b *testing.B) {
	for _, speed := range []float64{0, 1} {
		b.Run(fmt.Sprintf("speed=%g", speed), func(b *testing.B) {
			x := newExpensive(b, 30, 200_000)
			ctx := context.Background()
			if speed > 0 {
				x.budget.setSpeed(speed)
			}
			for b.Loop() {
				x.mu.Lock()
				err := x.tick(ctx)
				x.mu.Unlock()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/tick")
			b.ReportMetric(float64(x.budget.rules[0].avg.Microseconds()), "µs/eval")
			b.ReportMetric(float64(x.budget.rules[0].stride), "stride")
		})
	}
}
