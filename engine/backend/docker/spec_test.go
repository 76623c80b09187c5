package docker

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

// A PLC container runs `icsrange plc` with the plan's frame timeout, or
// the default one.
func TestPLCCommandFrameTimeout(t *testing.T) {
	plan := backend.Plan{ExerciseID: "x-1", Seed: 1, Teams: []string{"a"}, Topology: plant.NewTopology([]string{"control"}, nil,
		[]plant.PLC{
			{ID: "tank", Model: "water-tank", Zone: "control", FrameTimeout: 7 * time.Second},
			{ID: "feeder", Model: "breaker", Zone: "control"},
		}, nil)}
	tn, err := layout(plan, map[string]netip.Prefix{"control": netip.MustParsePrefix("10.200.1.0/24")}, netip.MustParsePrefix("10.200.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"tank": "7s", "feeder": "5s"}
	for _, c := range teamSpecs(plan, "a", tn, newNames(plan.ExerciseID), "") {
		if c.role != RolePLC {
			continue
		}
		i := slices.Index(c.cmd, "--frame-timeout")
		if i < 0 || i+1 == len(c.cmd) || c.cmd[i+1] != want[c.id] {
			t.Errorf("plc %s runs %q, want --frame-timeout %s", c.id, c.cmd, want[c.id])
		}
		delete(want, c.id)
	}
	if len(want) != 0 {
		t.Errorf("no container for %v", want)
	}
}
