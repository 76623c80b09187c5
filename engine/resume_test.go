package engine

import (
	"context"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
)

// holdScenario has a for: objective whose condition holds from 1m on, and
// an inject without effects (no checkpoint follows it) at 1m10s.
const holdScenario = `
id: hold-test
version: 1
title: hold test
duration: 10m
plant:
  zones: [{id: control}]
  plcs:
    - {id: tank, model: water-tank, zone: control, noise: 0, params: {level0_m: 2.5, level_sp_m: 2.5}}
injects:
  - {id: go, at: 1m, say: go}
  - {id: later, at: 1m10s, say: later}
objectives:
  - {id: steady, points: 50, when: "fired('go')", for: 30s}
`

func newHoldExercise(t *testing.T) *Exercise {
	t.Helper()
	sc, err := scenario.Load("hold.yaml", []byte(holdScenario))
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(context.Background(), Config{Scenario: sc, ScenarioYAML: []byte(holdScenario), ScenarioPath: "hold.yaml",
		Teams: []string{"a"}, DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Start(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	return x
}

// crash drops an exercise the way kill -9 does: no checkpoint, no
// goodbye; only what was committed is left.
func crash(x *Exercise) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.feed.Close()
	x.dep.Close()
	x.store.Close()
	return x.dir
}

func reopen(t *testing.T, dir string) *Exercise {
	t.Helper()
	x, err := Open(context.Background(), dir, &inproc.Backend{}, func(path string, y []byte) (*scenario.Scenario, error) { return scenario.Load(path, y) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func achievedAt(x *Exercise, team, id string) (time.Duration, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	o := x.state.Team[team].Objectives[id]
	if o == nil || o.Status != StatusAchieved {
		return 0, false
	}
	return o.At, true
}

// A for: 30s hold that has lasted 20 s when the engine dies completes 10 s
// of exercise time after the resume, not 30: its timer is saved with the
// checkpoint (here the once-a-second one of Run), or with the last tick
// that committed an event, whichever came later.
func TestResumeFinishesHold(t *testing.T) {
	for _, c := range []struct {
		name       string
		checkpoint time.Duration // when the last checkpoint was taken
		crash      time.Duration // when the engine dies
		resumeAt   time.Duration
	}{
		// The checkpoint is the latest: no event since.
		{"checkpoint", 80 * time.Second, 85 * time.Second, 80 * time.Second},
		// The hold began after the checkpoint; the inject at 1m10s
		// committed an event and its tick saved the timers.
		{"event after checkpoint", 50 * time.Second, 75 * time.Second, 70 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			x := newHoldExercise(t)
			step(t, x, c.checkpoint)
			if err := x.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			step(t, x, c.crash)
			if _, ok := achievedAt(x, "a", "steady"); ok {
				t.Fatal("achieved before the crash")
			}
			x = reopen(t, crash(x))
			if clock, _ := x.Clock(); clock != c.resumeAt {
				t.Fatalf("resumed at %v, want %v", clock, c.resumeAt)
			}
			step(t, x, 90*time.Second-Tick)
			if _, ok := achievedAt(x, "a", "steady"); ok {
				t.Fatal("achieved before the hold's 30 s")
			}
			step(t, x, 2*time.Minute)
			if at, ok := achievedAt(x, "a", "steady"); !ok || at != 90*time.Second {
				t.Fatalf("achieved %v at %v, want at 1m30s (the hold began at 1m)", ok, at)
			}
		})
	}
}

// The clock resumes from the last committed event's clock or the
// checkpoint, whichever is later; downtime is not exercise time.
func TestResumeClock(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name              string
		checkpoint, crash time.Duration
		want              time.Duration
	}{
		{"last event after the checkpoint", 65 * time.Second, 80 * time.Second, 70 * time.Second}, // "later" fired at 1m10s
		{"checkpoint after the last event", 75 * time.Second, 80 * time.Second, 75 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := newHoldExercise(t)
			step(t, x, c.checkpoint)
			if err := x.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			step(t, x, c.crash)
			dir := crash(x)
			time.Sleep(50 * time.Millisecond) // downtime, which must not count
			x = reopen(t, dir)
			clock, phase := x.Clock()
			if clock != c.want || phase != PhaseRunning {
				t.Fatalf("resumed at %v (%s), want %v running", clock, phase, c.want)
			}
			x.mu.Lock()
			last := x.state.Clock // the recovered event's
			x.mu.Unlock()
			if last != c.want {
				t.Fatalf("recovered event at %v, want %v", last, c.want)
			}
		})
	}
}
