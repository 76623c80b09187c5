package docker

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/scenario"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// Labelled resources fold into exercises: teams from containers and
// networks, running counted apart, created the earliest, the scenario from
// its label or, for plants made before it, from the id; oldest first.
func TestGroup(t *testing.T) {
	t0 := time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)
	lbl := func(id, team string, kv ...string) map[string]string {
		l := map[string]string{LabelExercise: id}
		if team != "" {
			l[LabelTeam] = team
		}
		for i := 0; i+1 < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return l
	}
	const newer, older = "water-treatment-0123456789ab", "substation-ba9876543210"
	cs := []container.Summary{
		{Labels: lbl(newer, "team-2", LabelScenario, "water-treatment"), State: "running", Created: t0.Add(time.Hour).Unix()},
		{Labels: lbl(newer, "team-1", LabelScenario, "water-treatment"), State: "exited", Created: t0.Add(2 * time.Hour).Unix()},
		{Labels: lbl(older, "blue"), State: "running", Created: t0.Unix()},
	}
	ns := []network.Summary{
		{Labels: lbl(newer, "team-3"), Created: t0.Add(30 * time.Minute)},
		{Labels: lbl(older, "blue"), Created: t0.Add(time.Minute)},
		{Labels: lbl("orphan-net", "x"), Created: t0.Add(5 * time.Hour)},
	}
	vs := []*volume.Volume{{Labels: lbl(newer, ""), CreatedAt: t0.Add(29 * time.Minute).Format(time.RFC3339)}}
	got := group(cs, ns, vs)
	want := []Exercise{
		{ID: older, Scenario: "substation", Teams: []string{"blue"}, Containers: 1, Running: 1, Networks: 1, Created: t0},
		{ID: newer, Scenario: "water-treatment", Teams: []string{"team-1", "team-2", "team-3"}, Containers: 2, Running: 1,
			Networks: 1, Volumes: 1, Created: t0.Add(29 * time.Minute)},
		{ID: "orphan-net", Scenario: "orphan-net", Teams: []string{"x"}, Networks: 1, Created: t0.Add(5 * time.Hour)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("group:\n got %+v\nwant %+v", got, want)
	}
}

// A PLC's lease reads as attached within LeaseTTL, else detached with why.
func TestEngineFrom(t *testing.T) {
	for _, c := range []struct {
		s     plantsim.LeaseStatus
		state string
	}{
		{plantsim.LeaseStatus{AgoMS: 300}, EngineAttached},
		{plantsim.LeaseStatus{AgoMS: LeaseTTL.Milliseconds() + 1}, EngineDetached},
		{plantsim.LeaseStatus{AgoMS: 300, Released: true}, EngineDetached},
		{plantsim.LeaseStatus{AgoMS: -1}, EngineDetached},
	} {
		if e := engineFrom(c.s); e.State != c.state || e.Detail == "" || e.LeaseAgeMS != c.s.AgoMS {
			t.Errorf("lease %+v: %+v, want %s with a detail", c.s, e, c.state)
		}
	}
}

// Where a published port is dialled: an unspecified address is the
// daemon's host; a remote daemon's loopback is out of reach.
func TestDialHost(t *testing.T) {
	for _, c := range []struct {
		ip, remote, want string
	}{
		{"0.0.0.0", "", "127.0.0.1"},
		{"0.0.0.0", "docker.lab", "docker.lab"},
		{"127.0.0.1", "", "127.0.0.1"},
		{"127.0.0.1", "localhost", "127.0.0.1"},
		{"192.0.2.7", "docker.lab", "192.0.2.7"},
		{"127.0.0.1", "docker.lab", ""},
	} {
		got, err := dialHost(netip.MustParseAddr(c.ip), c.remote)
		if got != c.want || (err != nil) != (c.want == "") {
			t.Errorf("dialHost(%s, %q) = %q, %v; want %q", c.ip, c.remote, got, err, c.want)
		}
	}
}

// An exercise found by label alone: List shows it with its scenario,
// team, containers, networks and volume, and an engine attached while its
// deployment is open although the exercise never advanced (the lease is
// renewed on its own); Remove refuses while attached; closing the
// deployment lets go at once; Remove then takes everything, counts it and
// is idempotent.
func TestListRemove(t *testing.T) {
	needDocker(t)
	ctx := context.Background()
	sc, err := scenario.Load("docker.yaml", []byte(twoZones))
	if err != nil {
		t.Fatal(err)
	}
	be := &Backend{Binary: testBinary, Log: testLog{t}}
	x, err := engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(twoZones), Teams: []string{"a"},
		DataDir: t.TempDir(), Backend: be, BackendName: "docker", Seed: 1})
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
	find := func() *Exercise {
		t.Helper()
		list, err := be.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range list {
			if list[i].ID == id {
				return &list[i]
			}
		}
		return nil
	}
	var got *Exercise
	for deadline := time.Now().Add(time.Minute); ; {
		if got = find(); got != nil && got.Engine.State == EngineAttached {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine's lease never showed: %+v", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.Scenario != "docker-test" || !reflect.DeepEqual(got.Teams, []string{"a"}) || got.Containers != 3 || got.Running != 3 ||
		got.Networks != 3 || got.Volumes != 1 || time.Since(got.Created) > time.Hour || time.Since(got.Created) < 0 {
		t.Fatalf("listed %+v; want scenario docker-test, team a, 3 of 3 containers running, 3 networks, 1 volume, created just now", got)
	}

	var ae *AttachedError
	if _, _, err := be.Remove(ctx, id, false); !errors.As(err, &ae) {
		t.Fatalf("Remove while the engine holds the exercise: %v, want an AttachedError", err)
	}
	if c, n, v := leftovers(t, id); c != 3 || n != 3 || v != 1 {
		t.Fatalf("a refused Remove took something: %d containers, %d networks, %d volumes left", c, n, v)
	}

	closed = true
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if got = find(); got == nil || got.Engine.State != EngineDetached {
		t.Fatalf("after the deployment closed: %+v, want the engine detached at once", got)
	}
	r, _, err := be.Remove(ctx, id, false)
	if err != nil {
		t.Fatal(err)
	}
	if r != (Removed{Containers: 3, Networks: 3, Volumes: 1}) {
		t.Errorf("Remove counted %+v, want 3 containers, 3 networks, 1 volume", r)
	}
	if c, n, v := leftovers(t, id); c+n+v != 0 {
		t.Fatalf("after Remove: %d containers, %d networks, %d volumes left", c, n, v)
	}
	if r, _, err := be.Remove(ctx, id, false); err != nil || !r.None() {
		t.Fatalf("a second Remove: %+v %v, want nothing and no error", r, err)
	}
	if got = find(); got != nil {
		t.Fatalf("List still shows the removed exercise: %+v", got)
	}
	if _, _, err := be.Remove(ctx, "a b=c", false); err == nil {
		t.Fatal("Remove took a malformed exercise id")
	}
}
