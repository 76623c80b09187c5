package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

// The scope filter, pinned: which events each scope sees. Columns: the
// public, the event's own team (a), another team (b), the instructor. An
// exercise-wide event's "own team" is every team.
func TestVisibleKindsPerScope(t *testing.T) {
	sc, err := scenario.Load("engine-test.yaml", []byte(testScenario))
	if err != nil {
		t.Fatal(err)
	}
	js := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	cases := []struct {
		name  string
		team  string
		kind  string
		data  any
		wants string // public, own, other, instructor: "y" or "-"
	}{
		{"created", "", EvCreated, CreatedData{}, "yyyy"},
		{"started", "", EvStarted, PhaseData{}, "yyyy"},
		{"paused", "", EvPaused, PhaseData{}, "yyyy"},
		{"resumed", "", EvResumed, PhaseData{}, "yyyy"},
		{"recovered", "", EvRecovered, RecoveredData{}, "yyyy"},
		{"ended", "", EvEnded, PhaseData{}, "yyyy"},
		{"broadcast", "", EvBroadcast, BroadcastData{En: "hi"}, "yyyy"},
		{"inject with say", "a", EvInject, InjectData{Inject: "first"}, "yy-y"},
		{"silent inject", "a", EvInject, InjectData{Inject: "attack"}, "---y"},
		{"silent inject (stop host)", "a", EvInject, InjectData{Inject: "ransom"}, "---y"},
		{"unknown inject", "a", EvInject, InjectData{Inject: "nope"}, "----"},
		{"effect result", "a", EvEffect, EffectData{Outcome: "ok"}, "---y"},
		{"action", "a", EvAction, ActionData{Action: "isolate"}, "-y-y"},
		{"answer", "a", EvAnswer, AnswerData{Question: "q"}, "-y-y"},
		{"hint", "a", EvHint, HintData{Hint: "h"}, "-y-y"},
		{"unknown hint", "a", EvHint, HintData{Hint: "nope"}, "----"},
		{"partial", "a", EvPartial, ObjectiveData{Objective: "tiers"}, "yy-y"},
		{"achieved", "a", EvAchieved, ObjectiveData{Objective: "answer"}, "yy-y"},
		{"failed", "a", EvFailed, ObjectiveData{Objective: "safe"}, "yy-y"},
		{"unknown objective", "a", EvAchieved, ObjectiveData{Objective: "nope"}, "----"},
		{"adjusted", "a", EvAdjust, AdjustData{Points: 3}, "yy-y"},
		{"incident starts", "a", EvPlantAlarm, AlarmData{Incident: true, Active: true}, "yy-y"},
		{"incident clears", "a", EvPlantAlarm, AlarmData{Incident: true}, "---y"},
		{"alarm on", "a", EvPlantAlarm, AlarmData{Active: true}, "---y"},
		{"rule error", "", EvRuleError, RuleErrorData{Rule: "objectives[0].when"}, "---y"},
		{"rule slow", "", EvRuleSlow, RuleSlowData{Rule: "objectives[0].when"}, "---y"},
		{"unknown kind", "a", "made.up", struct{}{}, "----"},
	}
	scopes := []Scope{Public, TeamScope("a"), TeamScope("b"), Instructor}
	var public []string
	for _, c := range cases {
		e := store.Event{Seq: 1, Team: c.team, Kind: c.kind, Data: js(c.data)}
		got := ""
		for _, s := range scopes {
			vis := Visible(sc, e, s)
			if _, ok := ViewEvent(sc, Update{Event: e}, s); ok != vis {
				t.Errorf("%s: ViewEvent for %+v says %v, Visible %v", c.name, s, ok, vis)
			}
			got += map[bool]string{true: "y", false: "-"}[vis]
		}
		if got != c.wants {
			t.Errorf("%s: seen by public/own/other/instructor %q, want %q", c.name, got, c.wants)
		}
		pub, team := Audience(sc, e)
		if pub != (got[0] == 'y') || team != (got[1] == 'y') {
			t.Errorf("%s: Audience public %v team %v, want %c%c", c.name, pub, team, got[0], got[1])
		}
		if pub {
			public = append(public, c.name)
		}
	}
	// Every kind of the log is in the table above.
	for kind := range kindAudience {
		found := false
		for _, c := range cases {
			found = found || c.kind == kind
		}
		if !found {
			t.Errorf("kind %s has no row in the table", kind)
		}
	}
	t.Logf("the public sees: %s", strings.Join(public, ", "))
}

// What the engine keeps with each event — score after it, public, seen by
// its team — agrees with the fold and the scope filter; a log whose notes
// are missing or stale gets them back when the engine opens it.
func TestEventAnnotations(t *testing.T) {
	ctx := context.Background()
	sc, err := scenario.Load("engine-test.yaml", []byte(testScenario))
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(ctx, Config{Scenario: sc, ScenarioYAML: []byte(testScenario), ScenarioPath: "engine-test.yaml",
		Teams: []string{"a", "b"}, DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	x.Start(ctx, "test")
	step(t, x, 90*time.Second)
	x.RequestHint(ctx, "a", "h")
	x.Answer(ctx, "a", "q", "wrong")
	x.Answer(ctx, "b", "q", "level sp")
	x.Adjust(ctx, "b", -3, "late")
	x.FireInject(ctx, "a", "ransom", "instructor")
	step(t, x, 6*time.Minute)
	x.Act(ctx, "a", "isolate")

	check := func(st *store.Store) int {
		t.Helper()
		fold := NewState(nil)
		n := 0
		err := st.Events(ctx, store.Filter{}, func(e store.Event) error {
			if err := fold.Apply(e); err != nil {
				return err
			}
			n++
			pub, team := Audience(x.sc, e)
			if e.Public != pub || e.TeamSees != team {
				return fmt.Errorf("event %d %s@%s: public %v team %v, want %v %v", e.Seq, e.Kind, e.Team, e.Public, e.TeamSees, pub, team)
			}
			if ts := fold.Team[e.Team]; ts != nil && e.Score != ts.Score {
				return fmt.Errorf("event %d %s@%s: score %d, the fold says %d", e.Seq, e.Kind, e.Team, e.Score, ts.Score)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := check(x.store); n < 10 {
		t.Fatalf("only %d events", n)
	}
	var scored bool
	x.store.Events(ctx, store.Filter{Team: "a"}, func(e store.Event) error {
		scored = scored || (e.Team == "a" && e.Score != 0)
		return nil
	})
	if !scored {
		t.Fatal("no event of team a carries a score")
	}

	// Wipe the notes, as in a log written before they were kept.
	dir := x.Dir()
	var wiped []store.Event
	x.store.Events(ctx, store.Filter{}, func(e store.Event) error {
		e.Score, e.Public, e.TeamSees = 0, false, false
		wiped = append(wiped, e)
		return nil
	})
	if err := x.store.Annotate(ctx, wiped); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x2, err := Open(ctx, dir, &inproc.Backend{}, func(path string, y []byte) (*scenario.Scenario, error) { return scenario.Load(path, y) })
	if err != nil {
		t.Fatal(err)
	}
	defer x2.Close()
	check(x2.store)
}
