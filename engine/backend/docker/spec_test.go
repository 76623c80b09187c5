package docker

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/plants"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// specPlan is two teams of a plant in two zones joined by a conduit, with
// two PLCs (one with the scenario's settings, one with the defaults) and
// an attacker.
func specPlan() backend.Plan {
	return backend.Plan{ExerciseID: "golden-0123456789ab", Scenario: "golden", Seed: 7, Teams: []string{"red", "blue"},
		Topology: plant.NewTopology([]string{"it", "control"},
			[]plant.Conduit{{From: "it", To: "control", Ports: []int{502}}},
			[]plant.PLC{
				{ID: "tank", Model: "water-tank", Zone: "control", Params: plantsim.Params{"level0_m": 2.5},
					UnitID: 3, Scan: 50 * time.Millisecond, Noise: 0, FrameTimeout: 7 * time.Second},
				{ID: "feeder", Model: "breaker", Zone: "control", Noise: 1},
			},
			[]plant.Host{{ID: "attacker", Role: "attacker", Zone: "it", Address: "10.20.1.66"}})}
}

// rendered is everything the backend asks the Docker API to make for an
// exercise, in the order it does.
type rendered struct {
	TokenVolume volume.CreateOptions `json:"token_volume"`
	TokenInit   containerConfig      `json:"token_init"`
	Networks    []namedNetwork       `json:"networks"`
	Containers  []containerConfig    `json:"containers"`

	teams map[string]*teamNet // each team's addressing
}

type namedNetwork struct {
	Name    string                `json:"name"`
	Options network.CreateOptions `json:"options"`
}

// render is what the backend makes of plan on a daemon with no networks:
// subnets, layout, specs and their Docker configurations, with nothing
// but the pure functions Provision uses.
func render(t *testing.T, plan backend.Plan, expose string) rendered {
	t.Helper()
	n := newNames(plan.ExerciseID)
	base := planLabels(plan)
	const image = "icsrange:0123456789ab"
	r := rendered{teams: map[string]*teamNet{}}
	r.TokenVolume, r.TokenInit = tokenVolumeConfig(image, base, n.volume())
	alloc := newAllocator(nil)
	for _, team := range plan.Teams {
		nets, err := teamNets(plan, team, n, alloc)
		if err != nil {
			t.Fatal(err)
		}
		for _, ns := range nets {
			r.Networks = append(r.Networks, namedNetwork{Name: ns.name, Options: ns.options(base)})
		}
		zones, access := subnets(nets)
		tn, err := layout(plan, zones, access)
		if err != nil {
			t.Fatal(err)
		}
		r.teams[team] = tn
		specs, err := teamSpecs(plan, team, tn, n, expose)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range specs {
			r.Containers = append(r.Containers, c.config(image, base, "127.0.0.1", n.volume()))
		}
	}
	return r
}

// The networks, volume and containers a plan is made of, as the Docker
// API gets them, are those of testdata/specs.json: a change in what the
// containers get shows in review (go test -run TestSpecsGolden -update
// rewrites it).
func TestSpecsGolden(t *testing.T) {
	raw, err := json.Marshal(render(t, specPlan(), "192.0.2.10"))
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(prune(tree), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "specs.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run TestSpecsGolden -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the rendered Docker configurations differ from %s (if intended, rerun with -update and review the diff):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// prune drops what is unset (null, "", 0, false, empty) from a decoded
// JSON tree, so the golden file shows what the backend sets: the Docker
// API's types have many fields it leaves alone.
func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if e = prune(e); e != nil {
				out[k] = e
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		out := make([]any, len(v))
		set := false
		for i, e := range v {
			if out[i] = prune(e); out[i] != nil {
				set = true
			}
		}
		if !set {
			return nil
		}
		return out
	case string:
		if v == "" {
			return nil
		}
	case float64:
		if v == 0 {
			return nil
		}
	case bool:
		if !v {
			return nil
		}
	}
	return v
}

// lineDiff is the first lines where two texts differ.
func lineDiff(want, got string) string {
	w, g := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	var out bytes.Buffer
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 20; i++ {
		var a, b []byte
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if !bytes.Equal(a, b) {
			fmt.Fprintf(&out, "line %d:\n- %s\n+ %s\n", i+1, a, b)
			shown++
		}
	}
	return out.String()
}

// A PLC container runs `icsrange plc` with the configuration every backend
// derives from the plan (the scenario's settings, or the defaults), placed
// in its networks, and the command parses back to it.
func TestPLCCommand(t *testing.T) {
	plan := specPlan()
	r := render(t, plan, "")
	n := newNames(plan.ExerciseID)
	found := 0
	for _, team := range plan.Teams {
		for _, p := range plan.PLCs {
			var cc *containerConfig
			for i := range r.Containers {
				if r.Containers[i].Name == n.container(team, p.ID) {
					cc = &r.Containers[i]
				}
			}
			if cc == nil {
				t.Fatalf("no container for team %s plc %s", team, p.ID)
			}
			cmd := cc.Config.Cmd
			if len(cmd) == 0 || cmd[0] != "plc" {
				t.Fatalf("plc %s runs %q", p.ID, cmd)
			}
			got, err := plantsim.ParseProcess(cmd[1:])
			if err != nil {
				t.Fatalf("plc %s runs %q: %v", p.ID, cmd, err)
			}
			tn := r.teams[team]
			want := plants.ProcessConfig(plan.Seed, team, p)
			want.Listen, want.Mgmt, want.TokenFile, want.Capture = "0.0.0.0:502", tn.PLCs[p.ID].Access+":9020", TokenPath, true
			// To the attacker's zone, through the router in the PLC's.
			if err := want.Routes.Set(tn.Zones["it"] + "=" + tn.Router.Zones["control"]); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("team %s plc %s runs %q:\n got %+v\nwant %+v", team, p.ID, cmd, got, want)
			}
			if wantFT := map[string]time.Duration{"tank": 7 * time.Second, "feeder": plantsim.DefaultFrameTimeout}[p.ID]; got.FrameTimeout != wantFT {
				t.Errorf("plc %s: frame timeout %v, want %v", p.ID, got.FrameTimeout, wantFT)
			}
			found++
		}
	}
	if found != 4 {
		t.Fatalf("checked %d PLC containers, want 4", found)
	}
}
