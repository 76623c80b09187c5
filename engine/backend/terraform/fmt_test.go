package terraform

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/icsrange/icsrange/internal/testtool"
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
