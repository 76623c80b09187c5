package engine

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/plant-sim/plant"

	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

// hostsScenario: ransomware freezes the HMI, a compromised workstation
// beside the PLC is isolated before it writes.
const hostsScenario = `
id: hosts-test
version: 1
title: hosts
duration: 20m
plant:
  zones: [{id: it}, {id: control}]
  conduits: [{from: it, to: control, ports: [502]}]
  plcs: [{id: tank, model: water-tank, zone: control, noise: 0}]
  hosts:
    - {id: ws, role: workstation, zone: control}
    - {id: hmi, role: hmi, zone: control}
injects:
  - {id: ransom, at: 1m, do: [{pause_host: {host: hmi}}]}
  - {id: write, at: 3m, do: [{modbus_write: {from: ws, plc: tank, register: level_sp, value: 3.5}}]}
  - {id: write-hmi, at: 4m, do: [{modbus_write: {from: hmi, plc: tank, register: level_sp, value: 3.6}}]}
actions:
  - {id: isolate, title: isolate, do: [{disconnect_host: {host: ws}}]}
  - {id: unlock, title: unlock, do: [{resume_host: {host: hmi}}]}
objectives:
  - {id: hmi-up, points: 10, when: "since('ransom') > 1 && host.hmi.up"}
  - {id: ws-up, points: 10, fail_when: "!host.ws.up"}
  - {id: ws-cut, points: 10, when: "!reachable('ws', 'tank') && !reachable('hmi', 'tank')"}
`

func newHostsExercise(t *testing.T) *Exercise {
	t.Helper()
	sc, err := scenario.Load("hosts.yaml", []byte(hostsScenario))
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(context.Background(), Config{Scenario: sc, ScenarioYAML: []byte(hostsScenario), ScenarioPath: "hosts.yaml",
		Teams: []string{"a", "b"}, DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// outcomes are the effect results of an inject or action, by team.
func outcomes(t *testing.T, x *Exercise, id string) map[string]EffectData {
	t.Helper()
	out := map[string]EffectData{}
	err := x.store.Events(context.Background(), store.Filter{Kinds: []string{EvEffect}}, func(e store.Event) error {
		var d EffectData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		if d.ID == id {
			out[e.Team] = d
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A paused HMI and an isolated workstation: what the state, the rules, the
// views and the attacks see; the log replays to the same state; and after
// an engine restart the deployment has them paused and isolated again.
func TestPauseAndDisconnectHosts(t *testing.T) {
	ctx := context.Background()
	x := newHostsExercise(t)
	closed := false
	t.Cleanup(func() {
		if !closed {
			x.Close()
		}
	})
	x.Start(ctx, "test")
	step(t, x, time.Minute+2*time.Second)

	ts := x.teamState("a")
	if st := ts.Net.Host("hmi").Status(); st != HostStatusPaused {
		t.Fatalf("hmi is %s after the ransomware, want paused", st)
	}
	v, err := x.TeamView("a")
	if err != nil {
		t.Fatal(err)
	}
	if p := v.Plant[0]; p.Online || p.HMI != HostStatusPaused || p.Tags != nil {
		t.Fatalf("team a's console with a paused HMI: online %v, hmi %q, %d tags", p.Online, p.HMI, len(p.Tags))
	}
	if st := objStatus(x, "a", "hmi-up"); st != StatusPending {
		t.Fatalf("host.hmi.up while paused: objective %s", st)
	}

	if _, err := x.Act(ctx, "a", "isolate"); err != nil {
		t.Fatal(err)
	}
	step(t, x, 4*time.Minute+Tick)
	res := outcomes(t, x, "write")
	if res["a"].Outcome != "blocked" || !strings.Contains(res["a"].Detail, "host ws is disconnected") || res["b"].Outcome != "ok" {
		t.Fatalf("the workstation's write: %+v; want team a's blocked (disconnected), team b's ok", res)
	}
	res = outcomes(t, x, "write-hmi")
	if res["a"].Outcome != "blocked" || !strings.Contains(res["a"].Detail, "host hmi is paused") {
		t.Fatalf("the paused HMI's write: %+v; want blocked (paused)", res["a"])
	}
	// reachable() in rules agrees: a disconnected workstation and a paused
	// HMI reach nothing.
	if a, b := objStatus(x, "a", "ws-cut"), objStatus(x, "b", "ws-cut"); a != StatusAchieved || b != StatusPending {
		t.Fatalf("objective ws-cut: team a %s (want achieved), team b %s (want pending)", a, b)
	}
	if st := objStatus(x, "a", "ws-up"); st != StatusPending {
		t.Fatalf("a disconnected host is up (only cut off): objective ws-up %s", st)
	}
	iv, err := x.InstructorView()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range iv.Teams {
		if it.Name == "a" && (!reflect.DeepEqual(it.HostsPaused, []string{"hmi"}) || !reflect.DeepEqual(it.HostsDisconnected, []string{"ws"}) || len(it.HostsDown) != 0) {
			t.Fatalf("instructor view of team a: down %v, paused %v, disconnected %v", it.HostsDown, it.HostsPaused, it.HostsDisconnected)
		}
	}

	replayed := NewState(x.sc.Topology)
	if err := x.store.Events(ctx, store.Filter{}, replayed.Apply); err != nil {
		t.Fatal(err)
	}
	x.mu.Lock()
	live := x.state
	x.mu.Unlock()
	if !reflect.DeepEqual(live, replayed) {
		t.Fatalf("replayed state differs from live state\nlive:     %+v\nreplayed: %+v", live.Team["a"], replayed.Team["a"])
	}

	// The engine stops and resumes: the new deployment has every host
	// running until the log's pause and disconnection are put back.
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
	write := func(from string) plant.Result {
		t.Helper()
		r, err := x2.Deployment().Do(ctx, "a", plant.Effect{Kind: plant.KindModbusWrite, From: from, PLC: "tank", Tag: "level_sp", Value: 3})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := write("ws"); r.Outcome != "blocked" || !strings.Contains(r.Detail, "disconnected") {
		t.Fatalf("after a restart the isolated workstation writes: %+v", r)
	}
	if r := write("hmi"); r.Outcome != "blocked" || !strings.Contains(r.Detail, "paused") {
		t.Fatalf("after a restart the paused HMI writes: %+v", r)
	}
	if _, err := x2.Act(ctx, "a", "unlock"); err != nil {
		t.Fatal(err)
	}
	if err := x2.Step(ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if st := objStatus(x2, "a", "hmi-up"); st != StatusAchieved {
		t.Fatalf("the HMI resumed: objective hmi-up %s, want achieved", st)
	}
	if r := write("hmi"); r.Outcome != "ok" {
		t.Fatalf("the resumed HMI's write: %+v", r)
	}
}
