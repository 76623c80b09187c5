package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

const trafficScenario = `
id: traffic-test
version: 1
title: traffic
duration: 10m
plant:
  zones: [{id: it}, {id: control}]
  conduits: [{from: it, to: control, ports: [502]}]
  plcs: [{id: tank, model: water-tank, zone: control, noise: 0}]
  hosts: [{id: attacker, role: attacker, zone: it, address: 10.20.1.66}]
injects:
  - id: tamper
    at: 1m
    do: [{modbus_write: {from: attacker, plc: tank, register: level_sp, value: 3.9}}]
  - id: flood
    at: 2m
    do: [{flood: {from: attacker, plc: tank, duration: 20s}}]
actions:
  - {id: isolate, title: isolate, do: [{cut_conduit: {from: it, to: control}}]}
objectives:
  - {id: restored, points: 10, when: "team_wrote('tank', 'level_sp')"}
  - {id: seen, points: 5, when: "writes('attacker') > 0 && talkers('tank') >= 2"}
  - {id: blocked, points: 20, when: "writes('attacker') > 0 && !reachable('attacker', 'tank')"}
`

func trafficExercise(t *testing.T) (*Exercise, *inproc.Deployment) {
	t.Helper()
	sc, err := scenario.Load("traffic.yaml", []byte(trafficScenario))
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(context.Background(), Config{Scenario: sc, ScenarioYAML: []byte(trafficScenario), Teams: []string{"a", "b"},
		DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 1, TrafficCap: 500})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	x.Start(context.Background(), "test")
	return x, x.Deployment().(*inproc.Deployment)
}

// Sources are attributed truthfully: the attack shows the scenario's
// attacker address, a trainee's tool its own.
func TestTrafficAttribution(t *testing.T) {
	ctx := context.Background()
	x, dep := trafficExercise(t)
	step(t, x, 70*time.Second)
	// A trainee's tool writes the setpoint back over real Modbus.
	var addr string
	for _, e := range dep.Endpoints() {
		if e.Team == "a" {
			addr = e.Modbus
		}
	}
	c, err := modbus.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteRegister(1, 0, 16384); err != nil {
		t.Fatal(err)
	}
	trainee := c.LocalAddr().String()
	c.Close()
	step(t, x, 80*time.Second)

	rows, err := x.store.Traffic(ctx, store.TrafficFilter{Team: "a", WritesOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var attack, own *store.TrafficRow
	for i := range rows {
		switch {
		case strings.HasPrefix(rows[i].Source, "10.20.1.66:"):
			attack = &rows[i]
		case rows[i].Source == trainee:
			own = &rows[i]
		}
	}
	if attack == nil || own == nil {
		t.Fatalf("want the attack from 10.20.1.66 and the trainee's write from %s; got %+v", trainee, rows)
	}
	if attack.Tags != "level_sp" || attack.Function != 6 || attack.Trainee || attack.Note != "host attacker" {
		t.Fatalf("attack row %+v", attack)
	}
	if !own.Trainee || own.Tags != "level_sp" {
		t.Fatalf("trainee row %+v", own)
	}
	// Team b's log holds only team b's traffic.
	rb, _ := x.store.Traffic(ctx, store.TrafficFilter{Team: "b"})
	for _, r := range rb {
		if r.Source == trainee {
			t.Fatal("team a's tool shows in team b's traffic log")
		}
	}
	if objStatus(x, "a", "restored") != StatusAchieved || objStatus(x, "b", "restored") != StatusPending {
		t.Fatal("team_wrote() should see team a's own write and nothing for team b")
	}
	if objStatus(x, "a", "seen") != StatusAchieved {
		t.Fatal("writes('attacker') and talkers() should count the attack")
	}
	audit, _ := x.store.Audit(ctx, "a", "", 0, 100, false)
	var sawConnect bool
	for _, a := range audit {
		if a.Kind == "connect" && strings.HasPrefix(a.Source, "10.20.1.66:") {
			sawConnect = true
		}
	}
	if !sawConnect {
		t.Fatalf("no connect from the attacker in the audit trail: %+v", audit)
	}
	if _, err := x.Act(ctx, "a", "isolate"); err != nil {
		t.Fatal(err)
	}
	step(t, x, 90*time.Second)
	if objStatus(x, "a", "blocked") != StatusAchieved {
		t.Fatal("cutting the attacker off after its write should achieve blocked")
	}
}

// A flood is summarised: the log stays bounded while the counts stay true.
func TestTrafficFloodSummarised(t *testing.T) {
	ctx := context.Background()
	x, _ := trafficExercise(t)
	// Let the flood run in wall time while the exercise clock crosses it.
	step(t, x, 2*time.Minute+time.Second)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		step(t, x, x.clock+time.Second)
		time.Sleep(100 * time.Millisecond)
	}
	step(t, x, 3*time.Minute)
	rows, err := x.store.Traffic(ctx, store.TrafficFilter{Team: "a", Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	total, summaries := 0, 0
	for _, r := range rows {
		total += r.Count
		if r.Count > 1 {
			summaries++
			if r.Request != nil {
				t.Fatal("a summary row keeps frames")
			}
		}
	}
	if total < 500 || summaries == 0 {
		t.Fatalf("flood: %d transactions in %d rows (%d summaries): want hundreds, summarised", total, len(rows), summaries)
	}
	perPLC := map[string]int{}
	for _, r := range rows {
		perPLC[r.PLC]++
	}
	for plc, n := range perPLC {
		if n > 2*500 {
			t.Fatalf("plc %s: %d rows stored with a cap of 500 (at most twice the cap)", plc, n)
		}
	}
	audit, _ := x.store.Audit(ctx, "a", "", 0, 100000, false)
	if len(audit) > 400 {
		t.Fatalf("%d audit rows for one flood: connects and exceptions should be summarised", len(audit))
	}
}
