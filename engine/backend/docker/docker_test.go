package docker

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/plant"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

var (
	testBinary string // the static icsrange binary TestMain builds
	daemonErr  error  // why no Docker daemon answers
	buildErr   error
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		_, err = cli.Ping(ctx)
		cli.Close()
	}
	cancel()
	daemonErr = err
	if daemonErr == nil {
		dir, err := os.MkdirTemp("", "icsrange-docker-test-")
		if err != nil {
			buildErr = err
		} else {
			defer os.RemoveAll(dir)
			testBinary = filepath.Join(dir, "icsrange")
			cmd := exec.Command("go", "build", "-trimpath", "-o", testBinary, "./cmd/icsrange")
			cmd.Dir = filepath.Join("..", "..", "..")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build icsrange: %v\n%s", err, out)
			}
		}
	}
	return m.Run()
}

// needDocker skips without a daemon, except in CI, where that is a failure.
func needDocker(tb testing.TB) {
	tb.Helper()
	if daemonErr != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("no Docker daemon answers: %v", daemonErr)
		}
		tb.Skipf("no Docker daemon answers: %v", daemonErr)
	}
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
}

// leftovers counts the containers, networks and volumes with the
// exercise's label.
func leftovers(tb testing.TB, id string) (int, int, int) {
	tb.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		tb.Fatal(err)
	}
	defer cli.Close()
	f := filters.NewArgs(filters.Arg("label", LabelExercise+"="+id))
	cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
	if err != nil {
		tb.Fatal(err)
	}
	ns, err := cli.NetworkList(context.Background(), network.ListOptions{Filters: f})
	if err != nil {
		tb.Fatal(err)
	}
	vs, err := cli.VolumeList(context.Background(), volume.ListOptions{Filters: f})
	if err != nil {
		tb.Fatal(err)
	}
	return len(cs), len(ns), len(vs.Volumes)
}

const twoZones = `
id: docker-test
version: 1
title: docker
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
actions:
  - {id: isolate, title: isolate, do: [{cut_conduit: {from: it, to: control}}]}
objectives:
  - {id: seen, points: 5, when: "writes('attacker') > 0"}
  - {id: trainee, points: 5, when: "team_wrote('tank', 'level_sp')"}
`

// endpointOf finds a team's PLC endpoint in the deployment.
// attackFrom has a team's attacker write level_sp at the tank of team
// target, straight through its agent: where the real network lets it.
func attackFrom(ctx context.Context, d *Deployment, team, target string, v float64) (attack.Result, error) {
	m, _ := plantsim.LookupModel("water-tank")
	i, _ := m.Tag("level_sp")
	return d.h.Attack(ctx, team, "attacker", attack.Spec{Kind: attack.Write, Unit: 1, Addr: uint16(m.Layout().Addr[i]),
		Value: m.Tags[i].Scale(v), Targets: []string{net.JoinHostPort(d.PLCAddress(target, "tank"), "502")}})
}

func write(value float64) plant.Effect {
	return plant.Effect{Kind: plant.KindModbusWrite, From: "attacker", PLC: "tank", Tag: "level_sp", Value: value}
}

// Two teams' plants in containers: host traffic crosses the zone networks
// and the router, never another team's; the inject's write lands and the
// traffic log shows the attacker's Docker address; cutting the conduit
// blocks the attacker; Destroy leaves nothing.
func TestTwoTeams(t *testing.T) {
	needDocker(t)
	ctx := context.Background()
	sc, err := scenario.Load("docker.yaml", []byte(twoZones))
	if err != nil {
		t.Fatal(err)
	}
	var steps []backend.Step
	be := &Backend{Binary: testBinary, Log: testLog{t}}
	start := time.Now()
	x, err := engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(twoZones), Teams: []string{"a", "b"},
		DataDir: t.TempDir(), Backend: be, BackendName: "docker", Seed: 1,
		Progress: func(s backend.Step) { steps = append(steps, s) }})
	if err != nil {
		t.Fatal(err)
	}
	id := x.ID()
	closed := false
	t.Cleanup(func() {
		if !closed {
			x.Close()
		}
		if err := be.Destroy(context.Background(), id); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	t.Logf("2 teams ready in %v", time.Since(start))
	if c, n, v := leftovers(t, id); c != 6 || n != 6 || v != 1 {
		t.Fatalf("want 6 containers (a router, a PLC, a host per team), 6 networks and the token volume; have %d, %d and %d", c, n, v)
	}
	var healthy int
	for _, s := range steps {
		if s.State == "healthy" {
			healthy++
		}
	}
	if healthy != 6 {
		t.Errorf("progress told %d containers healthy, want 6: %+v", healthy, steps)
	}
	d := x.Deployment().(*Deployment)
	attackerA := d.HostAddress("a", "attacker")
	if !strings.HasSuffix(attackerA, ".66") || !netip.MustParsePrefix(d.ZoneSubnet("a", "it")).Contains(netip.MustParseAddr(attackerA)) {
		t.Fatalf("team a's attacker is at %s, want .66 of %s", attackerA, d.ZoneSubnet("a", "it"))
	}
	for _, e := range d.Endpoints() {
		if !strings.HasPrefix(e.Modbus, "127.0.0.1:") || !strings.HasPrefix(e.Mgmt, "127.0.0.1:") {
			t.Fatalf("endpoint %+v: want ports published on 127.0.0.1", e)
		}
	}
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}

	// Team a's attacker can't reach team b's PLC: no route, and Docker
	// isolates the teams' networks.
	ares, err := attackFrom(ctx, d, "a", "b", 1)
	if err != nil {
		t.Fatal(err)
	}
	if ares.Outcome != "blocked" {
		t.Fatalf("team a's attacker reached team b's PLC: %+v", ares)
	}

	// The inject at 1m writes team a's setpoint from team a's attacker.
	if err := x.Step(ctx, 70*time.Second); err != nil {
		t.Fatal(err)
	}
	m, _ := plantsim.LookupModel("water-tank")
	sp, _ := m.Tag("level_sp")
	for team, want := range map[string]float64{"a": 3.9, "b": 3.9} {
		h, _ := d.Handle(team, "tank")
		var v plantsim.Values
		if err := h.Read(&v); err != nil {
			t.Fatal(err)
		}
		if math.Abs(v.Truth[sp]-want) > 0.01 {
			t.Fatalf("team %s: level_sp = %g after the inject, want %g", team, v.Truth[sp], want)
		}
	}
	rows, err := x.Store().Traffic(ctx, store.TrafficFilter{Team: "a", WritesOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var seen bool
	for _, r := range rows {
		if strings.HasPrefix(r.Source, attackerA+":") && r.Tags == "level_sp" && r.Function == 6 {
			seen = true
		}
	}
	if !seen {
		t.Fatalf("team a's traffic log has no write of level_sp from %s: %+v", attackerA, rows)
	}
	// The rules see the attacker's Docker address as the attacker's, not
	// as a trainee's.
	for _, r := range rows {
		if strings.HasPrefix(r.Source, attackerA+":") && r.Trainee {
			t.Fatalf("the attacker's write is marked as a trainee's: %+v", r)
		}
	}
	for _, tm := range x.Summary().Teams {
		if tm.Objectives["seen"] != engine.StatusAchieved || tm.Objectives["trainee"] == engine.StatusAchieved {
			t.Fatalf("team %s: writes('attacker') objective %s, team_wrote objective %s; want achieved and not", tm.Name, tm.Objectives["seen"], tm.Objectives["trainee"])
		}
	}

	// Team a cuts the conduit: its attacker is blocked, team b's is not.
	if _, err := x.Act(ctx, "a", "isolate"); err != nil {
		t.Fatal(err)
	}
	// The real network blocks it, not the deployment: its agent's
	// connection goes nowhere.
	res, err := d.Do(ctx, "a", write(2))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "blocked" {
		t.Fatalf("after the cut, team a's attacker still reaches its PLC: %+v", res)
	}
	res, err = d.Do(ctx, "b", write(2))
	if err != nil || res.Outcome != "ok" {
		t.Fatalf("team b's conduit is open, want ok: %+v %v", res, err)
	}

	// A stopped host plays nothing; started again, it does.
	if _, err := d.Do(ctx, "b", plant.Effect{Kind: plant.KindStopHost, Host: "attacker"}); err != nil {
		t.Fatal(err)
	}
	res, err = d.Do(ctx, "b", write(2.2))
	if err != nil || res.Outcome != "blocked" || res.Detail != "blocked: host attacker is stopped" {
		t.Fatalf("attack from a stopped host: %+v %v", res, err)
	}
	if _, err := d.Do(ctx, "b", plant.Effect{Kind: plant.KindStartHost, Host: "attacker"}); err != nil {
		t.Fatal(err)
	}
	res, err = d.Do(ctx, "b", write(2.4))
	if err != nil || res.Outcome != "ok" {
		t.Fatalf("attack from the restarted host: %+v %v", res, err)
	}

	closed = true
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := be.Destroy(ctx, id); err != nil {
		t.Fatal(err)
	}
	if c, n, v := leftovers(t, id); c != 0 || n != 0 || v != 0 {
		t.Fatalf("after Destroy: %d containers, %d networks and %d volumes left", c, n, v)
	}
	if err := be.Destroy(ctx, id); err != nil {
		t.Fatalf("a second Destroy: %v", err)
	}
}

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
