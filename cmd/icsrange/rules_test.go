package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// withRule is the water-treatment scenario with one more objective.
func withRule(t *testing.T, rule string) (string, int) {
	t.Helper()
	data, err := os.ReadFile(waterScenario)
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "\ntests:\n"
	i := bytes.Index(data, []byte(anchor))
	if i < 0 {
		t.Fatal("test fixture: no tests: section in the scenario")
	}
	extra := "  - {id: extra, points: 1, when: \"" + rule + "\"}\n"
	line := bytes.Count(data[:i+1], []byte("\n")) + 1
	out := append(append(append([]byte{}, data[:i+1]...), extra...), data[i+1:]...)
	f := filepath.Join(t.TempDir(), "w.yaml")
	if err := os.WriteFile(f, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return f, line
}

// validate warns about a rule whose cost is unbounded, at the range, and
// still exits 0; a literal range over 1,000,000 elements is an error.
func TestValidateWarnsAboutCostlyRules(t *testing.T) {
	f, line := withRule(t, "count(1..990000, # > 5) < 0")
	out, stderr, code := run(t, "validate", f)
	want := f + ":" + strconv.Itoa(line) + ":41: warning: rule: range 1..990000 has 990000 elements"
	if code != 0 || !strings.Contains(out, f+": ok") || !strings.HasPrefix(stderr, want) {
		t.Fatalf("exit %d\nstdout %s\nstderr %s\nwant exit 0 and %q", code, out, stderr, want)
	}
	f, line = withRule(t, "len(1..1000001) > 0")
	_, stderr, code = run(t, "validate", f)
	if want := f + ":" + strconv.Itoa(line) + ":39: rule: range 1..1000001 has more than 1000000 elements"; code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d\n%s\nwant exit 1 and %q", code, stderr, want)
	}
}

// A rule that fails late never stops `icsrange run`: the run reaches its
// end, exits 0, and the terminal names the rule once.
func TestRunGoesOnPastAFailingRule(t *testing.T) {
	f, line := withRule(t, "elapsed > 120 && 1 % int(elapsed * 0) == 0")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "run", f, "--teams", "2", "--start", "now", "--speed", "600",
		"--data", t.TempDir(), "--listen", "127.0.0.1:0", "--linger", "0").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "Rule error at " + f + ":" + strconv.Itoa(line) + ":54 (objectives[6].when, team team-"
	if n := strings.Count(string(out), want); n != 1 || !strings.Contains(string(out), "integer divide by zero — the rule counts as false") {
		t.Errorf("the terminal shows %q %d times, want once:\n%s", want, n, out)
	}
	if !strings.Contains(string(out), "Exercise ended: time is up") {
		t.Errorf("the run did not reach its end:\n%s", out)
	}
}
