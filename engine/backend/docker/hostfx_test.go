package docker

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/plant"

	"github.com/docker/docker/client"

	"github.com/icsrange/icsrange/engine/backend"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// hostFX is one team's plant in containers for the host-effect tests: the
// attacker in it, the PLC in control, the router between them. Its
// attacks cross zones, so they need the routes a host adds at startup.
type hostFX struct {
	t     *testing.T
	ctx   context.Context
	d     *Deployment
	plan  backend.Plan
	cli   *client.Client
	clock time.Duration
}

func newHostFX(t *testing.T) *hostFX {
	t.Helper()
	needDocker(t)
	ctx := context.Background()
	id := fmt.Sprintf("hostfx-%d", time.Now().UnixNano()%1e9)
	plan := backend.Plan{ExerciseID: id, DataDir: t.TempDir(), Seed: 1, Teams: []string{"a"}, Topology: plant.NewTopology([]string{"it", "control"},
		[]plant.Conduit{{From: "it", To: "control", Ports: []int{502}}},
		[]plant.PLC{{ID: "tank", Model: "water-tank", Zone: "control", UnitID: 1}},
		[]plant.Host{{ID: "attacker", Role: "attacker", Zone: "it", Address: "10.20.1.66"}})}
	be := &Backend{Binary: testBinary, Log: testLog{t}}
	t.Cleanup(func() {
		if err := be.Destroy(context.Background(), id); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	dep, err := be.Provision(ctx, plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dep.Close() })
	d := dep.(*Deployment)
	return &hostFX{t: t, ctx: ctx, d: d, plan: plan, cli: d.h.cli}
}

// do applies an effect through the deployment, as the engine does.
func (f *hostFX) do(kind string) {
	f.t.Helper()
	res, err := f.d.Do(f.ctx, "a", plant.Effect{Kind: kind, Host: "attacker"})
	if err != nil || res.Outcome != "ok" {
		f.t.Fatalf("%s attacker: %+v %v", kind, res, err)
	}
}

// write writes level_sp from the attacker through the deployment; it
// says how the attack ended, how long it took and the setpoint after a
// scan.
func (f *hostFX) write(v float64) (plant.Result, time.Duration, float64) {
	f.t.Helper()
	start := time.Now()
	res, err := f.d.Do(f.ctx, "a", write(v))
	took := time.Since(start)
	if err != nil {
		f.t.Fatalf("write %g: %v", v, err)
	}
	f.clock += 300 * time.Millisecond
	if err := f.d.Advance(f.ctx, f.clock); err != nil {
		f.t.Fatal(err)
	}
	h, _ := f.d.Handle("a", "tank")
	var vals plantsim.Values
	if err := h.Read(&vals); err != nil {
		f.t.Fatal(err)
	}
	m, _ := plantsim.LookupModel("water-tank")
	i, _ := m.Tag("level_sp")
	return res, took, vals.Truth[i]
}

func (f *hostFX) wantLands(v float64) {
	f.t.Helper()
	res, _, sp := f.write(v)
	if res.Outcome != "ok" || math.Abs(sp-v) > 0.01 {
		f.t.Fatalf("write %g from the attacker: %+v, level_sp %g; want ok and the write landed", v, res, sp)
	}
}

// wantBlocked checks that a write is blocked at once with the detail,
// and changes nothing.
func (f *hostFX) wantBlocked(v float64, detail string) {
	f.t.Helper()
	res, took, sp := f.write(v)
	if res.Outcome != "blocked" || res.Detail != "blocked: "+detail || math.Abs(sp-v) < 0.01 {
		f.t.Fatalf("write %g from the attacker: %+v, level_sp %g; want blocked, %q", v, res, sp, detail)
	}
	if took > time.Second {
		f.t.Fatalf("a blocked write took %v: it waited on the agent", took)
	}
}

// state is the attacker container's: running, paused, on its zone network.
func (f *hostFX) state() (running, paused, onZone bool) {
	f.t.Helper()
	info, err := f.cli.ContainerInspect(f.ctx, f.d.h.teams["a"].hosts["attacker"].container)
	if err != nil {
		f.t.Fatal(err)
	}
	_, onZone = info.NetworkSettings.Networks[newNames(f.plan.ExerciseID).zone("a", "it")]
	return info.State.Running, info.State.Paused, onZone
}

func (f *hostFX) wantState(running, paused, onZone bool) {
	f.t.Helper()
	// The daemon records a pause or an unpause when containerd's event
	// comes back, a moment after the call returned: inspect may lag.
	r, p, z := f.state()
	for deadline := time.Now().Add(3 * time.Second); (r != running || p != paused || z != onZone) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		r, p, z = f.state()
	}
	if r != running || p != paused || z != onZone {
		f.t.Fatalf("attacker container: running %v, paused %v, on its zone network %v; want %v, %v, %v", r, p, z, running, paused, onZone)
	}
}

// probe has the attacker's agent scan the PLC, whatever the deployment
// thinks of the host: the network's own answer.
func (f *hostFX) probe(timeout time.Duration) (plant.Result, error) {
	hr := f.d.h.teams["a"].hosts["attacker"]
	ctx, cancel := context.WithTimeout(f.ctx, timeout)
	defer cancel()
	res, err := hr.agent.Attack(ctx, attack.Spec{Kind: attack.Scan, Unit: 1, Targets: []string{net.JoinHostPort(f.d.PLCAddress("a", "tank"), "502")}})
	return plant.Result{Outcome: res.Outcome, Detail: res.Detail}, err
}

// Pause freezes the host for real and its attacks are blocked at once,
// not after the agent's timeout; resume brings it back. A paused host
// stops, and a paused host started again runs.
func TestPauseHost(t *testing.T) {
	f := newHostFX(t)
	f.wantLands(3.0)

	f.do(plant.KindPauseHost)
	f.wantState(true, true, true)
	if _, err := f.probe(2 * time.Second); err == nil {
		t.Fatal("the paused host's agent answered: it is not frozen")
	}
	f.wantBlocked(3.1, "host attacker is paused")
	f.do(plant.KindResumeHost)
	f.wantState(true, false, true)
	f.wantLands(3.2)

	// docker stop on a paused container (Docker thaws it to signal it).
	f.do(plant.KindPauseHost)
	f.do(plant.KindStopHost)
	f.wantState(false, false, true)
	f.wantBlocked(3.3, "host attacker is stopped")
	f.do(plant.KindStartHost)
	f.wantLands(3.4)

	// start_host on a paused host resumes it.
	f.do(plant.KindPauseHost)
	f.do(plant.KindStartHost)
	f.wantState(true, false, true)
	f.wantLands(3.5)

	// Back to back, faster than the daemon records each change.
	for range 3 {
		f.do(plant.KindPauseHost)
		f.do(plant.KindResumeHost)
	}
	f.wantLands(3.6)
}

// Disconnect takes the host off its zone network for real; reconnect puts
// it back with its address and its routes to the other zones, so its
// attack crosses the router to the PLC again and the register changes.
func TestDisconnectHost(t *testing.T) {
	f := newHostFX(t)
	addr := f.d.HostAddress("a", "attacker")
	f.wantLands(3.0)

	f.do(plant.KindDisconnectHost)
	f.wantState(true, false, false)
	if res, err := f.probe(10 * time.Second); err != nil || res.Outcome != "blocked" {
		t.Fatalf("the disconnected host's own scan: %+v %v; want blocked by the network", res, err)
	}
	f.wantBlocked(3.1, "host attacker is disconnected")

	f.do(plant.KindReconnectHost)
	f.wantState(true, false, true)
	if got := f.d.HostAddress("a", "attacker"); got != addr {
		t.Fatalf("the reconnected host is at %s, was %s", got, addr)
	}
	info, err := f.cli.ContainerInspect(f.ctx, f.d.h.teams["a"].hosts["attacker"].container)
	if err != nil {
		t.Fatal(err)
	}
	ep := info.NetworkSettings.Networks[newNames(f.plan.ExerciseID).zone("a", "it")]
	if ep == nil || ep.IPAddress != addr || !contains(ep.Aliases, "attacker") {
		t.Fatalf("zone network endpoint after reconnect: %+v; want %s with alias attacker", ep, addr)
	}
	f.wantLands(3.2)

	// Reconnected while paused: the routes go back when it resumes.
	f.do(plant.KindDisconnectHost)
	f.do(plant.KindPauseHost)
	f.do(plant.KindReconnectHost)
	f.wantState(true, true, true)
	f.do(plant.KindResumeHost)
	f.wantLands(3.3)

	// Disconnected while stopped: it starts (adding its routes on its zone
	// network), then leaves.
	f.do(plant.KindStopHost)
	f.do(plant.KindDisconnectHost)
	f.do(plant.KindStartHost)
	f.wantState(true, false, false)
	f.wantBlocked(3.4, "host attacker is disconnected")
	f.do(plant.KindReconnectHost)
	f.wantLands(3.5)

	// Disconnected while paused: its frozen agent is not asked to stop
	// anything.
	f.do(plant.KindPauseHost)
	f.do(plant.KindDisconnectHost)
	f.wantState(true, true, false)
	f.do(plant.KindResumeHost)
	f.wantBlocked(3.6, "host attacker is disconnected")
	f.do(plant.KindReconnectHost)
	f.wantLands(3.7)
}

// resetHost, which Recover runs before it starts a host, brings a paused
// and disconnected host back as it was made: running, on its zone network,
// with its routes.
func TestResetHost(t *testing.T) {
	f := newHostFX(t)
	f.do(plant.KindDisconnectHost)
	f.do(plant.KindPauseHost)
	f.wantState(true, true, false)
	var spec *ctrSpec
	specs, err := teamSpecs(f.plan, "a", f.d.h.teams["a"].net, newNames(f.plan.ExerciseID), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range specs {
		if c.role == RoleHost && c.id == "attacker" {
			spec = c
		}
	}
	if err := resetHost(f.ctx, f.cli, &ctr{spec: spec, id: f.d.h.teams["a"].hosts["attacker"].container}); err != nil {
		t.Fatal(err)
	}
	f.wantState(true, false, true)
	if res, err := f.probe(10 * time.Second); err != nil || res.Outcome != "ok" {
		t.Fatalf("the reset host's scan: %+v %v; want ok (back on its network, with its routes)", res, err)
	}
}

// An engine that stopped while a host was paused and cut off re-attaches:
// Recover brings the host back as it was made (a paused container would
// not start) and the engine's replay pauses it again.
func TestRecoverPausedHost(t *testing.T) {
	f := newHostFX(t)
	f.do(plant.KindDisconnectHost)
	f.do(plant.KindPauseHost)
	saved := f.d.Saved()
	if err := f.d.Close(); err != nil {
		t.Fatal(err)
	}
	be := &Backend{Binary: testBinary, Log: testLog{t}}
	dep, err := be.Recover(f.ctx, f.plan, saved)
	if err != nil {
		t.Fatalf("recover with a paused, disconnected host: %v", err)
	}
	t.Cleanup(func() { dep.Close() })
	f.d = dep.(*Deployment)
	f.cli = f.d.h.cli
	f.wantState(true, false, true)
	f.wantLands(3.1)
	f.do(plant.KindPauseHost)
	f.wantState(true, true, true)
	f.wantBlocked(3.3, "host attacker is paused")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
