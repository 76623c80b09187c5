package engine

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// testScenario exercises every trigger and scoring feature on one tank.
const testScenario = `
id: engine-test
version: 1
title: engine test
duration: 20m
plant:
  zones: [{id: it}, {id: control}]
  conduits: [{from: it, to: control, ports: [502]}]
  plcs:
    - {id: tank, model: water-tank, zone: control, noise: 0, params: {level0_m: 2.5, level_sp_m: 2.5}}
  hosts:
    - {id: attacker, role: attacker, zone: it, address: 10.0.0.66}
    - {id: hmi, role: hmi, zone: control}
injects:
  - {id: first, at: 1m, say: first}
  - {id: second, after: {inject: first, delay: 2m}, say: second}
  - {id: chained, after: {inject: second}, say: same tick}
  - id: attack
    at: 5m
    do: [{modbus_write: {from: attacker, plc: tank, register: level_sp, value: 3.5}}]
  - {id: noticed, when: "plant.tank.level > 3.0", say: high}
  - {id: ransom, manual: true, do: [{stop_host: {host: hmi}}]}
actions:
  - {id: isolate, title: isolate, do: [{cut_conduit: {from: it, to: control}}]}
  - {id: fix, title: fix, do: [{set: {plc: tank, tag: level_sp, value: 2.5}}], cost: 5, cooldown: 1m}
questions:
  - {id: q, prompt: which, answer: {exact: "Level SP"}, attempts: 2, penalty: 7}
  - {id: late, prompt: later, answer: {number: 3, tolerance: 0.5}, visible: "fired('second')"}
hints:
  - {id: h, for: q, cost: 4, text: look}
  - {id: free, at: 2m, request: false, text: gift}
objectives:
  - {id: answer, points: 100, when: "answered('q')", bonus: "max(0, 60 - elapsed / 10)"}
  - {id: held, points: 50, when: "fired('attack') && abs(plant.tank.level_sp - 2.5) < 0.01", for: 30s}
  - {id: safe, points: 30, fail_when: "plant.tank.level > 3.3", penalty: 10}
  - id: tiers
    points: 40
    when: "answered('q') && answered('late')"
    partial: [{when: "answered('q') || answered('late')", points: 15}]
  - {id: hmi-up, points: 20, fail_when: "!host.hmi.up"}
`

func newTestExercise(t *testing.T, teams ...string) *Exercise {
	t.Helper()
	sc, err := scenario.Load("engine-test.yaml", []byte(testScenario))
	if err != nil {
		t.Fatal(err)
	}
	if len(teams) == 0 {
		teams = []string{"a", "b"}
	}
	x, err := New(context.Background(), Config{Scenario: sc, ScenarioYAML: []byte(testScenario), ScenarioPath: "engine-test.yaml",
		Teams: teams, DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func step(t *testing.T, x *Exercise, to time.Duration) {
	t.Helper()
	if err := x.Step(context.Background(), to); err != nil {
		t.Fatal(err)
	}
}

func (x *Exercise) teamState(name string) *TeamState {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.state.Team[name]
}

func objStatus(x *Exercise, team, id string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if o := x.state.Team[team].Objectives[id]; o != nil {
		return o.Status
	}
	return StatusPending
}

func firedAt(x *Exercise, team, id string) (time.Duration, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	at, ok := x.state.Team[team].Fired[id]
	return at, ok
}

func TestSchedulerTriggersAndPause(t *testing.T) {
	ctx := context.Background()
	x := newTestExercise(t)
	step(t, x, 5*time.Minute)
	if c, p := x.Clock(); c != 0 || p != PhaseCreated {
		t.Fatalf("a created exercise must not run: clock %v phase %s", c, p)
	}
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	step(t, x, time.Minute-Tick)
	if _, ok := firedAt(x, "a", "first"); ok {
		t.Fatal("at: 1m fired early")
	}
	step(t, x, time.Minute)
	if at, ok := firedAt(x, "a", "first"); !ok || at != time.Minute {
		t.Fatalf("at: 1m fired at %v (%v)", at, ok)
	}
	// Pause freezes the clock, the physics and the scheduler.
	if err := x.Pause(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	step(t, x, 10*time.Minute)
	if c, _ := x.Clock(); c != time.Minute {
		t.Fatalf("paused clock moved to %v", c)
	}
	if _, err := x.Answer(ctx, "a", "q", "x"); err == nil {
		t.Fatal("answer accepted while paused")
	}
	if err := x.Resume(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	step(t, x, 3*time.Minute)
	at2, ok2 := firedAt(x, "a", "second")
	at3, ok3 := firedAt(x, "a", "chained")
	if !ok2 || at2 != 3*time.Minute || !ok3 || at3 != at2 {
		t.Fatalf("after: second at %v (%v), chained at %v (%v); want both at 3m", at2, ok2, at3, ok3)
	}
	// when: fires the tick its rule first holds, on ground truth.
	step(t, x, 15*time.Minute)
	at, ok := firedAt(x, "a", "noticed")
	if !ok || at < 5*time.Minute {
		t.Fatalf("when: noticed at %v (%v)", at, ok)
	}
	// manual: never by itself, once by the instructor.
	if _, ok := firedAt(x, "a", "ransom"); ok {
		t.Fatal("manual inject fired by itself")
	}
	if err := x.FireInject(ctx, "a", "ransom", "instructor"); err != nil {
		t.Fatal(err)
	}
	if _, ok := firedAt(x, "b", "ransom"); ok {
		t.Fatal("inject for team a fired for team b")
	}
	if err := x.FireInject(ctx, "a", "ransom", "instructor"); err == nil {
		t.Fatal("an inject fired twice for one team")
	}
	if err := x.FireInject(ctx, "", "ransom", "instructor"); err != nil {
		t.Fatal(err) // b still needs it
	}
	step(t, x, 15*time.Minute+Tick)
	if objStatus(x, "a", "hmi-up") != StatusFailed || objStatus(x, "b", "hmi-up") != StatusFailed {
		t.Fatal("stopping the HMI should fail hmi-up")
	}
	step(t, x, 20*time.Minute)
	if _, p := x.Clock(); p != PhaseEnded {
		t.Fatalf("phase %s at the end", p)
	}
}

func TestScoring(t *testing.T) {
	ctx := context.Background()
	x := newTestExercise(t)
	x.Start(ctx, "test")
	step(t, x, 30*time.Second)

	// Hint cost and wrong-answer penalty.
	if _, err := x.RequestHint(ctx, "a", "h"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.RequestHint(ctx, "a", "h"); err != nil {
		t.Fatal(err) // a second request shows it again for free
	}
	if _, err := x.RequestHint(ctx, "a", "free"); err == nil {
		t.Fatal("a hint with request: false was requestable")
	}
	res, err := x.Answer(ctx, "a", "q", "setpoint")
	if err != nil || res.Correct || res.Penalty != 7 || res.AttemptsLeft != 1 {
		t.Fatalf("wrong answer: %+v %v", res, err)
	}
	if s := x.teamState("a").Score; s != -11 {
		t.Fatalf("score after hint (4) and wrong answer (7): %d, want -11", s)
	}
	// Answers are matched case- and space-insensitively.
	res, err = x.Answer(ctx, "a", "q", "  level   sp ")
	if err != nil || !res.Correct {
		t.Fatalf("right answer: %+v %v", res, err)
	}
	if _, err := x.Answer(ctx, "a", "q", "Level SP"); err == nil {
		t.Fatal("answered twice")
	}
	// Invisible questions can't be answered yet.
	if _, err := x.Answer(ctx, "a", "late", "3"); err == nil {
		t.Fatal("answered a question before it became visible")
	}
	// Attempts run out.
	x.Answer(ctx, "b", "q", "one")
	x.Answer(ctx, "b", "q", "two")
	var le *Error
	if _, err := x.Answer(ctx, "b", "q", "Level SP"); !errors.As(err, &le) || le.Code != CodeLimit {
		t.Fatalf("third attempt: %v", err)
	}

	step(t, x, 30*time.Second+Tick)
	// Time bonus: answered at 30 s → 60 − 3 = 57; partial credit 15.
	ts := x.teamState("a")
	if o := ts.Objectives["answer"]; o == nil || o.Status != StatusAchieved || o.Points != 157 {
		t.Fatalf("answer objective: %+v", o)
	}
	if o := ts.Objectives["tiers"]; o == nil || o.Points != 15 || o.Status != StatusPending {
		t.Fatalf("tiers partial: %+v", o)
	}
	step(t, x, 3*time.Minute)
	if _, err := x.Answer(ctx, "a", "late", "3.4"); err != nil {
		t.Fatal(err)
	}
	step(t, x, 3*time.Minute+Tick)
	if o := x.teamState("a").Objectives["tiers"]; o.Status != StatusAchieved || o.Points != 40 {
		t.Fatalf("tiers after both answers: %+v (partial must not be paid twice)", o)
	}

	// The attack raises the setpoint; team a fixes it (cost 5) and holds it
	// for the for: window; team b does nothing and the tank passes 3.3 m.
	step(t, x, 6*time.Minute)
	if _, err := x.Act(ctx, "a", "fix"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Act(ctx, "a", "fix"); err == nil {
		t.Fatal("cooldown not enforced")
	}
	step(t, x, 6*time.Minute+29*time.Second)
	if objStatus(x, "a", "held") != StatusPending {
		t.Fatal("for: 30s achieved early")
	}
	step(t, x, 6*time.Minute+31*time.Second)
	if objStatus(x, "a", "held") != StatusAchieved {
		t.Fatal("for: 30s not achieved after holding 30 s")
	}
	step(t, x, 20*time.Minute)
	if objStatus(x, "b", "safe") != StatusFailed || objStatus(x, "a", "safe") != StatusAchieved {
		t.Fatalf("safe: a %s, b %s", objStatus(x, "a", "safe"), objStatus(x, "b", "safe"))
	}
	// a: −4 hint −7 wrong +157 answer +40 tiers −5 fix +50 held +30 safe +20 hmi-up
	if s := x.teamState("a").Score; s != 281 {
		t.Fatalf("team a final score %d, want 281", s)
	}
	// b: −7 −7 wrong, −10 safe penalty, +20 hmi-up
	if s := x.teamState("b").Score; s != -4 {
		t.Fatalf("team b final score %d, want -4", s)
	}
}

// Replaying the log gives exactly the live state.
func TestReplayEqualsLiveState(t *testing.T) {
	ctx := context.Background()
	x := newTestExercise(t)
	x.Start(ctx, "test")
	step(t, x, 90*time.Second)
	x.RequestHint(ctx, "a", "h")
	x.Answer(ctx, "a", "q", "wrong")
	x.Answer(ctx, "b", "q", "level sp")
	x.Adjust(ctx, "b", -3, "late to the briefing")
	x.Broadcast(ctx, scenario.Text{En: "hello", Ja: "こんにちは"})
	step(t, x, 6*time.Minute)
	x.Act(ctx, "a", "isolate")
	x.Pause(ctx, "test")
	x.Resume(ctx, "test")
	step(t, x, 20*time.Minute)

	replayed := NewState(x.sc.Topology)
	if err := x.store.Events(ctx, store.Filter{}, replayed.Apply); err != nil {
		t.Fatal(err)
	}
	x.mu.Lock()
	live := x.state
	x.mu.Unlock()
	if !reflect.DeepEqual(live, replayed) {
		t.Fatalf("replayed state differs from live state\nlive:     %+v\nreplayed: %+v", live, replayed)
	}
	if live.Team["a"].Net.Open("it", "control") {
		t.Fatal("isolate did not cut the conduit in the state")
	}
}

// An isolated attacker's Modbus write is blocked by the network.
func TestCutConduitBlocksAttack(t *testing.T) {
	ctx := context.Background()
	x := newTestExercise(t)
	x.Start(ctx, "test")
	step(t, x, 4*time.Minute)
	if _, err := x.Act(ctx, "a", "isolate"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Act(ctx, "a", "isolate"); err == nil {
		t.Fatal("a once-only action was taken twice")
	}
	step(t, x, 5*time.Minute+Tick)
	var outcome = map[string]string{}
	x.store.Events(ctx, store.Filter{Kinds: []string{EvEffect}}, func(e store.Event) error {
		var d EffectData
		json.Unmarshal(e.Data, &d)
		if d.ID == "attack" {
			outcome[e.Team] = d.Outcome
		}
		return nil
	})
	if outcome["a"] != "blocked" || outcome["b"] != "ok" {
		t.Fatalf("attack outcomes %v: want a blocked, b ok", outcome)
	}
	var v plantsim.Values
	x.dep.Read("a", "tank", &v)
	i, _ := x.sc.Layout.Model[0].Tag("level_sp")
	if v.Truth[i] != 2.5 {
		t.Fatalf("blocked write changed team a's setpoint to %v", v.Truth[i])
	}
	x.dep.Read("b", "tank", &v)
	if v.Truth[i] < 3.49 {
		t.Fatalf("team b's setpoint %v: the attack should have landed", v.Truth[i])
	}
}

func TestCommandsRejectBadInput(t *testing.T) {
	ctx := context.Background()
	x := newTestExercise(t)
	if _, err := x.Answer(ctx, "a", "q", "x"); err == nil {
		t.Fatal("answer before start")
	}
	x.Start(ctx, "test")
	cases := []struct {
		name string
		err  error
		code string
	}{
		{"unknown team", func() error { _, err := x.Answer(ctx, "zz", "q", "x"); return err }(), CodeNotFound},
		{"unknown question", func() error { _, err := x.Answer(ctx, "a", "nope", "x"); return err }(), CodeNotFound},
		{"empty answer", func() error { _, err := x.Answer(ctx, "a", "q", "  "); return err }(), CodeInvalid},
		{"long answer", func() error { _, err := x.Answer(ctx, "a", "q", string(make([]byte, 300))); return err }(), CodeInvalid},
		{"unknown action", func() error { _, err := x.Act(ctx, "a", "nope"); return err }(), CodeNotFound},
		{"unknown hint", func() error { _, err := x.RequestHint(ctx, "a", "nope"); return err }(), CodeNotFound},
		{"unknown inject", x.FireInject(ctx, "a", "nope", "i"), CodeNotFound},
		{"adjust without reason", x.Adjust(ctx, "a", 5, " "), CodeInvalid},
		{"adjust zero", x.Adjust(ctx, "a", 0, "why"), CodeInvalid},
		{"empty broadcast", x.Broadcast(ctx, scenario.Text{}), CodeInvalid},
		{"start twice", x.Start(ctx, "i"), CodeConflict},
	}
	for _, c := range cases {
		var e *Error
		if !errors.As(c.err, &e) || e.Code != c.code {
			t.Errorf("%s: got %v, want code %s", c.name, c.err, c.code)
		}
	}
	if s := x.teamState("a").Score; s != 0 {
		t.Fatalf("rejected commands changed the score to %d", s)
	}
}

func TestTeamValidation(t *testing.T) {
	sc, err := scenario.Load("t.yaml", []byte(testScenario))
	if err != nil {
		t.Fatal(err)
	}
	for _, teams := range [][]string{nil, {"a", "a"}, {"bad name"}, {"x/../y"}} {
		if err := ValidateTeams(sc, teams); err == nil {
			t.Errorf("teams %q accepted", teams)
		}
	}
}
