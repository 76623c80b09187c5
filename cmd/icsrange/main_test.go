package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/store"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "icsrange-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "icsrange")
	// Stamped as `make release` stamps, so TestVersionStamped sees the
	// linker's values come through.
	build := exec.Command("go", "build", "-ldflags", testLDFlags, "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const waterScenario = "../../scenarios/water-treatment.yaml"

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb}
	code := m.Run(context.Background(), args)
	return out.String(), errb.String(), code
}

func TestValidateExitCodes(t *testing.T) {
	if _, stderr, code := run(t, "validate", waterScenario); code != 0 {
		t.Fatalf("valid scenario: exit %d: %s", code, stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("id: x\nversion: 1\ntitle: t\nduration: 5\nplant: {zones: [{id: a}], plcs: [{id: p, model: nope, zone: a}]}\n"), 0o644)
	_, stderr, code := run(t, "validate", waterScenario, bad)
	if code != 1 {
		t.Fatalf("bad scenario: exit %d", code)
	}
	for _, want := range []string{bad + ":4:11: duration: 5 has no unit", bad + ":5:49: unknown model \"nope\""} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, _, code := run(t, "validate"); code != 2 {
		t.Fatalf("no files: exit %d, want 2", code)
	}
	if _, _, code := run(t, "nonsense"); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
}

func TestScenarioTestsCommand(t *testing.T) {
	out, stderr, code := run(t, "test", waterScenario)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Count(out, "PASS") != 3 {
		t.Fatalf("want 3 passing tests:\n%s", out)
	}
	// A failing expectation is reported with expected vs actual and exit 1.
	data, _ := os.ReadFile(waterScenario)
	broken := strings.Replace(string(data), "safe: failed}\n      score: 0", "safe: achieved}\n      score: 0", 1)
	if broken == string(data) {
		t.Fatal("test fixture: expectation not found in the scenario")
	}
	f := filepath.Join(t.TempDir(), "w.yaml")
	os.WriteFile(f, []byte(broken), 0o644)
	out, _, code = run(t, "test", f)
	if code != 1 || !strings.Contains(out, "objective safe: want achieved, got failed") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestPrintMap(t *testing.T) {
	out, _, code := run(t, "plc", "--model", "reactor", "--print-map")
	if code != 0 || !strings.Contains(out, "40001") || !strings.Contains(out, "pressure_sp") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, _, _ = run(t, "plc", "--model", "breaker", "--print-map", "--map-format", "json")
	var doc struct {
		Registers []struct {
			Tag string `json:"tag"`
			Ref int    `json:"ref"`
		} `json:"registers"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Registers) == 0 {
		t.Fatalf("json map: %v\n%s", err, out)
	}
}

// A 45-minute scenario runs headless to its end in seconds and exits 0.
func TestRunHeadlessToTheEnd(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "run", waterScenario, "--teams", "2", "--start", "now", "--speed", "600", "--data", data, "--listen", "127.0.0.1:0", "--linger", "0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"team-1", "team-2", "tokens.json", "Exercise ended: time is up", "Final ranking"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q", want)
		}
	}
	fi, err := os.Stat(filepath.Join(data, engine.TokensFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file: %v %v", fi, err)
	}
	var tok engine.Tokens
	b, _ := os.ReadFile(filepath.Join(data, engine.TokensFile))
	if err := json.Unmarshal(b, &tok); err != nil || tok.Instructor == "" || len(tok.Teams) != 2 {
		t.Fatalf("tokens.json: %s", b)
	}
}

type logSummary struct {
	fired      map[string]int // "team/inject" → times fired
	scores     map[string]int
	objectives map[string]string // "team/objective" → status, clock and points
	lastClock  time.Duration
	recovered  int
	ended      bool
}

func readLog(t *testing.T, dir string, upTo func(store.Event) bool) logSummary {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, engine.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := logSummary{fired: map[string]int{}, scores: map[string]int{}, objectives: map[string]string{}}
	state := engine.NewState(nil)
	stop := false
	err = st.Events(context.Background(), store.Filter{}, func(e store.Event) error {
		if stop || (upTo != nil && upTo(e)) {
			stop = true
			return nil
		}
		if err := state.Apply(e); err != nil {
			return err
		}
		switch e.Kind {
		case engine.EvInject:
			var d engine.InjectData
			json.Unmarshal(e.Data, &d)
			s.fired[e.Team+"/"+d.Inject]++
		case engine.EvRecovered:
			s.recovered++
		case engine.EvEnded:
			s.ended = true
		}
		s.lastClock = e.Clock
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for n, ts := range state.Team {
		s.scores[n] = ts.Score
		for id, o := range ts.Objectives {
			s.objectives[n+"/"+id] = fmt.Sprintf("%s at %v, %d points", o.Status, o.At, o.Points)
		}
	}
	return s
}

// down's usage: one of --data and --exercise, an id that can be one.
func TestDownUsage(t *testing.T) {
	for _, args := range [][]string{
		{"down"},
		{"down", "--data", t.TempDir(), "--exercise", "water-treatment-0123456789ab"},
		{"down", "--exercise", "a b=c"},
		{"down", "--exercise", "x", "extra"},
		{"ps", "extra"},
	} {
		if _, stderr, code := run(t, args...); code != 2 || stderr == "" {
			t.Errorf("icsrange %s: exit %d (%q), want 2 and a message", strings.Join(args, " "), code, stderr)
		}
	}
}
