package terraform

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/plants"
	"github.com/icsrange/icsrange/internal/testtool"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

// modulesDir holds the Terraform modules icsrange ships.
var modulesDir = filepath.Join("..", "..", "..", "deploy", "terraform")

// TestFmtModules checks that every shipped module is `terraform fmt` clean
// (which also means it parses as HCL).
func TestFmtModules(t *testing.T) {
	bin := testtool.Terraform(t)
	dir, err := filepath.Abs(modulesDir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "fmt", "-check", "-recursive", "-diff", dir).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		t.Fatalf("terraform fmt -check -recursive %s failed (run terraform fmt -recursive deploy/terraform):\n%s", dir, out)
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
}

var (
	contractEnd   = "# This module's own input"
	variableStart = regexp.MustCompile(`(?m)^variable "([^"]+)" \{\n`)
)

// variableBlocks returns each top-level variable block of a variables.tf,
// by name, verbatim.
func variableBlocks(t *testing.T, src string) map[string]string {
	t.Helper()
	blocks := map[string]string{}
	for _, m := range variableStart.FindAllStringSubmatchIndex(src, -1) {
		end := strings.Index(src[m[0]:], "\n}\n")
		if end < 0 {
			t.Fatalf("variable %q has no closing brace at the start of a line", src[m[2]:m[3]])
		}
		blocks[src[m[2]:m[3]]] = src[m[0] : m[0]+end+3]
	}
	return blocks
}

// TestModulesShareContract checks that every module declares the contract
// inputs exactly as the local module does, and the contract outputs.
func TestModulesShareContract(t *testing.T) {
	ref, err := os.ReadFile(filepath.Join(modulesDir, "local", "variables.tf"))
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(ref), contractEnd)
	if !ok {
		t.Fatalf("local/variables.tf has no %q line ending the contract", contractEnd)
	}
	contract := variableBlocks(t, head)
	if len(contract) < 9 {
		t.Fatalf("found %d contract variables in local/variables.tf, want at least 9", len(contract))
	}
	mods, err := os.ReadDir(modulesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		if !m.IsDir() {
			continue
		}
		t.Run(m.Name(), func(t *testing.T) {
			vars, err := os.ReadFile(filepath.Join(modulesDir, m.Name(), "variables.tf"))
			if err != nil {
				t.Fatal(err)
			}
			got := variableBlocks(t, string(vars))
			for name, want := range contract {
				if got[name] != want {
					t.Errorf("variable %q differs from the contract (local/variables.tf):\n got: %s\nwant: %s", name, got[name], want)
				}
			}
			outs, err := os.ReadFile(filepath.Join(modulesDir, m.Name(), "outputs.tf"))
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range []string{"plcs", "hosts"} {
				if !strings.Contains(string(outs), "output \""+o+"\" {") {
					t.Errorf("outputs.tf has no output %q", o)
				}
			}
		})
	}
}

// TestValidateLocalModule runs terraform validate on the local module,
// which needs no provider, so it works offline.
func TestValidateLocalModule(t *testing.T) {
	bin := testtool.Terraform(t)
	work := t.TempDir()
	if err := copyModule(filepath.Join(modulesDir, "local"), work); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-backend=false", "-input=false", "-no-color"}, {"validate", "-no-color"}} {
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// The module contract's plc_args are each PLC's `icsrange plc` arguments
// as every backend derives them from the plan, without where it listens
// or its token file, which the module adds: with those they parse back to
// the whole configuration.
func TestPLCArgs(t *testing.T) {
	plan := backend.Plan{ExerciseID: "x-1", Seed: 3, Teams: []string{"a", "b"}, Topology: plant.NewTopology([]string{"control"}, nil,
		[]plant.PLC{
			{ID: "tank", Model: "water-tank", Zone: "control", Params: plantsim.Params{"level0_m": 2.5}, Noise: 0, FrameTimeout: 2 * time.Second},
			{ID: "feeder", Model: "breaker", Zone: "control", UnitID: 2, Noise: 1},
		}, nil)}
	b := &Backend{Icsrange: "/bin/icsrange"}
	vars, err := b.vars(plan, t.TempDir(), "/data/terraform/mgmt.token")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := vars["plc_seeds"]; ok {
		t.Fatal("plc_seeds is no longer in the contract: the seed is in plc_args")
	}
	args := vars["plc_args"].(map[string][]string)
	if len(args) != 4 {
		t.Fatalf("plc_args has %d entries, want 4: %v", len(args), args)
	}
	placement := []string{"--listen=0.0.0.0:5020", "--mgmt=127.0.0.1:9020", "--token-file=/data/terraform/mgmt.token"}
	for _, team := range plan.Teams {
		for _, p := range plan.PLCs {
			a := args[team+"/"+p.ID]
			for _, x := range a {
				for _, f := range []string{"--listen", "--mgmt", "--token-file"} {
					if strings.HasPrefix(x, f) {
						t.Errorf("%s/%s: %q is the module's to give", team, p.ID, x)
					}
				}
			}
			got, err := plantsim.ParseProcess(append(slices.Clone(placement), a...))
			if err != nil {
				t.Fatalf("%s/%s: %q: %v", team, p.ID, a, err)
			}
			want := plants.ProcessConfig(plan.Seed, team, p)
			want.Listen, want.Mgmt, want.TokenFile = "0.0.0.0:5020", "127.0.0.1:9020", "/data/terraform/mgmt.token"
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s/%s: %q reads\n %+v, want\n %+v", team, p.ID, a, got, want)
			}
		}
	}
	if a := args["a/tank"]; !slices.Contains(a, "--frame-timeout=2s") || !slices.Contains(a, "--noise=0") || !slices.Contains(a, "--clock=engine") {
		t.Errorf("a/tank: %q lacks the scenario's frame timeout, its noise or the engine's clock", a)
	}
}
