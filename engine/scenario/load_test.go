package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/icsrange/icsrange/plant-sim/plant"

	"github.com/expr-lang/expr"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata (want.json, want.txt; got.txt of known-bug cases)")

// The golden tests are data-driven:
//
//	testdata/good/<case>/scenario.yaml  loads; want.json is a summary of the compiled Scenario
//	testdata/bad/<case>/scenario.yaml   fails; want.txt is every error line, in file order
//
// A bad case that also holds bug.txt records a known loader bug. Its
// want.txt is the correct output, written by hand, and got.txt is what the
// loader says today. The case is skipped while the loader says exactly
// got.txt, and fails once it says anything else: want.txt (the bug is fixed:
// delete bug.txt and got.txt) or something new. -update rewrites got.txt of
// such a case, never its want.txt.
func TestLoadGolden(t *testing.T) {
	for _, kind := range []string{"good", "bad"} {
		files, err := filepath.Glob(filepath.Join("testdata", kind, "*", "scenario.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no testdata/%s cases", kind)
		}
		for _, file := range files {
			dir := filepath.Dir(file)
			t.Run(kind+"/"+filepath.Base(dir), func(t *testing.T) {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if kind == "good" {
					goldenGood(t, dir, data)
				} else {
					goldenBad(t, dir, data)
				}
			})
		}
	}
}

func goldenGood(t *testing.T, dir string, data []byte) {
	sc, err := Load("scenario.yaml", data)
	if err != nil {
		t.Fatalf("Load failed:\n%v", err)
	}
	got, err := json.MarshalIndent(summarize(t, sc), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	compareGolden(t, filepath.Join(dir, "want.json"), got)
}

func goldenBad(t *testing.T, dir string, data []byte) {
	sc, panicked, err := loadRecover("scenario.yaml", data)
	got := "(loads without error)\n"
	switch {
	case panicked != nil:
		got = fmt.Sprintf("panic: %v\n", panicked)
	case err != nil:
		got = err.Error() + "\n"
	}

	if bug, berr := os.ReadFile(filepath.Join(dir, "bug.txt")); berr == nil {
		knownBug(t, dir, data, strings.TrimSpace(string(bug)), got)
		return
	}

	if panicked != nil {
		t.Fatalf("Load panicked: %v", panicked)
	}
	if err == nil {
		t.Fatal("Load succeeded; want errors")
	}
	if sc != nil {
		t.Error("Load returned a Scenario along with errors")
	}
	es, ok := err.(Errors)
	if !ok {
		t.Fatalf("error is a %T, want Errors: %v", err, err)
	}
	checkErrorList(t, "scenario.yaml", data, es)
	compareGolden(t, filepath.Join(dir, "want.txt"), []byte(got))
}

// knownBug handles a case recording a known loader bug (see TestLoadGolden).
func knownBug(t *testing.T, dir string, data []byte, bug, got string) {
	t.Helper()
	wantFile, gotFile := filepath.Join(dir, "want.txt"), filepath.Join(dir, "got.txt")
	want, err := os.ReadFile(wantFile)
	if err != nil {
		t.Fatal(err)
	}
	// The hand-written want.txt must itself be a well-formed error list.
	var wantErrs Errors
	for _, line := range strings.Split(strings.TrimSuffix(string(want), "\n"), "\n") {
		var e Error
		rest, ok := strings.CutPrefix(line, "scenario.yaml:")
		if _, err := fmt.Sscanf(rest, "%d:%d:", &e.Line, &e.Col); !ok || err != nil {
			t.Fatalf("%s: line %q is not scenario.yaml:LINE:COL: message", wantFile, line)
		}
		e.File, e.Msg = "scenario.yaml", line
		wantErrs = append(wantErrs, e)
	}
	checkErrorList(t, "scenario.yaml", data, wantErrs)
	if got == string(want) {
		t.Fatalf("the loader bug this case records is fixed: delete %s and %s\n%s",
			filepath.Join(dir, "bug.txt"), gotFile, bug)
	}
	if *update {
		if err := os.WriteFile(gotFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	buggy, err := os.ReadFile(gotFile)
	if err != nil {
		t.Fatalf("%v (run `make golden` to record the buggy output)", err)
	}
	if got != string(buggy) {
		t.Fatalf("output changed; it is neither the known buggy output (%s) nor the correct one (%s):\n%s\ncorrect:\n%s",
			gotFile, wantFile, got, want)
	}
	t.Skipf("known loader bug: %s", bug)
}

// loadRecover is Load, with a panic returned rather than raised.
func loadRecover(name string, data []byte) (sc *Scenario, panicked any, err error) {
	defer func() { panicked = recover() }()
	sc, err = Load(name, data)
	return sc, nil, err
}

// checkErrorList checks what every error list must satisfy: the file name,
// (line, col) order, no exact duplicates, and positions inside the file.
func checkErrorList(t *testing.T, name string, data []byte, es Errors) {
	t.Helper()
	if len(es) == 0 {
		t.Fatal("empty Errors")
	}
	lines := strings.Split(string(data), "\n")
	for i, e := range es {
		if e.File != name {
			t.Errorf("error %d: File %q, want %q", i, e.File, name)
		}
		if i > 0 {
			p := es[i-1]
			if e.Line < p.Line || e.Line == p.Line && e.Col < p.Col {
				t.Errorf("errors out of order: %v before %v", p, e)
			}
			if e == p {
				t.Errorf("duplicate error: %v", e)
			}
		}
		if e.Line < 1 || e.Line > len(lines) {
			t.Errorf("error %v: line outside the file's %d lines", e, len(lines))
			continue
		}
		if n := utf8.RuneCountInString(lines[e.Line-1]); e.Col < 1 || e.Col > n+1 {
			t.Errorf("error %v: column outside line %d, which has %d characters", e, e.Line, n)
		}
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `make golden` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run `make golden` if the change is intended)\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	w, g := count(want), count(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if g[l] > 0 {
			g[l]--
			continue
		}
		fmt.Fprintf(&b, "- %s\n", l)
	}
	for _, l := range strings.Split(got, "\n") {
		if w[l] > 0 {
			w[l]--
			continue
		}
		fmt.Fprintf(&b, "+ %s\n", l)
	}
	return b.String()
}

// TestLoadShippedScenarios loads every scenario shipped in scenarios/.
func TestLoadShippedScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios in ../../scenarios")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := LoadFile(f)
			if err != nil {
				t.Fatalf("%v", err)
			}
			if len(sc.Warnings) > 0 {
				t.Errorf("a shipped scenario loads with warnings:\n%v", sc.Warnings)
			}
			summarize(t, sc) // runs the consistency checks
		})
	}
}

func TestLoadErrorsAreErrors(t *testing.T) {
	_, err := Load("x.yaml", []byte("id: [\n"))
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 || es[0].File != "x.yaml" {
		t.Fatalf("got %#v", err)
	}
	big := bytes.Repeat([]byte("#"), MaxFileSize+1)
	_, err = Load("big.yaml", big)
	if err == nil || err.Error() != fmt.Sprintf("big.yaml: file is larger than %d bytes", MaxFileSize) {
		t.Errorf("oversized file: got %v", err)
	}
	_, err = LoadFile(filepath.Join("testdata", "no-such-file.yaml"))
	if !errors.As(err, &es) || es[0].Line != 0 || !strings.HasPrefix(es.Error(), filepath.Join("testdata", "no-such-file.yaml")+": ") {
		t.Errorf("missing file: got %v", err)
	}
}

// summary is what want.json records of a compiled Scenario.
type summary struct {
	ID         string             `json:"id"`
	Title      Text               `json:"title"`
	Duration   string             `json:"duration"`
	Teams      [2]int             `json:"teams"`
	MaxPoints  int                `json:"max_points"`
	Zones      []string           `json:"zones"`
	Conduits   []plant.Conduit    `json:"conduits,omitempty"`
	PLCs       []plcSummary       `json:"plcs"`
	Hosts      []plant.Host       `json:"hosts,omitempty"`
	Layout     layoutSummary      `json:"layout"`
	Injects    []injectSummary    `json:"injects,omitempty"`
	Actions    []actionSummary    `json:"actions,omitempty"`
	Questions  []questionSummary  `json:"questions,omitempty"`
	Hints      []hintSummary      `json:"hints,omitempty"`
	Objectives []objectiveSummary `json:"objectives,omitempty"`
	Tests      []testSummary      `json:"tests,omitempty"`
}

type plcSummary struct {
	ID     string             `json:"id"`
	Model  string             `json:"model"`
	Zone   string             `json:"zone"`
	Params map[string]float64 `json:"params,omitempty"`
	UnitID byte               `json:"unit_id"`
	Scan   string             `json:"scan"`
	Noise  float64            `json:"noise"`
}

type layoutSummary struct {
	PLCs   []string `json:"plcs"`
	Offset []int    `json:"offset"`
	Size   int      `json:"size"`
	Hosts  []string `json:"hosts,omitempty"`
}

// ruleSummary is a compiled rule and what it gives on a zero env (no
// helper true, every plant value 0), which shows the rewritten plant
// references index inside the env's slices.
type ruleSummary struct {
	Source string `json:"src"`
	Pos    string `json:"pos"`
	Zero   any    `json:"zero"`
}

type injectSummary struct {
	ID      string         `json:"id"`
	Index   int            `json:"index"`
	Title   Text           `json:"title,omitzero"`
	Say     Text           `json:"say,omitzero"`
	Tags    []string       `json:"tags,omitempty"`
	Trigger string         `json:"trigger"`
	At      string         `json:"at,omitempty"`
	After   string         `json:"after,omitempty"`
	Delay   string         `json:"delay,omitempty"`
	When    *ruleSummary   `json:"when,omitempty"`
	Effects []plant.Effect `json:"effects,omitempty"`
}

type actionSummary struct {
	ID          string         `json:"id"`
	Title       Text           `json:"title"`
	Description Text           `json:"description,omitzero"`
	Effects     []plant.Effect `json:"effects"`
	Cooldown    string         `json:"cooldown"`
	Cost        int            `json:"cost"`
}

type questionSummary struct {
	ID       string       `json:"id"`
	Prompt   Text         `json:"prompt"`
	Matcher  string       `json:"matcher"`
	Attempts int          `json:"attempts"`
	Penalty  int          `json:"penalty"`
	Visible  *ruleSummary `json:"visible,omitempty"`
}

type hintSummary struct {
	ID          string `json:"id"`
	Title       Text   `json:"title"`
	For         string `json:"for,omitempty"`
	Cost        int    `json:"cost"`
	Text        Text   `json:"text"`
	At          string `json:"at,omitempty"`
	HasAt       bool   `json:"has_at"`
	Requestable bool   `json:"requestable"`
}

type objectiveSummary struct {
	ID       string           `json:"id"`
	Title    Text             `json:"title,omitzero"`
	Points   int              `json:"points"`
	When     *ruleSummary     `json:"when,omitempty"`
	For      string           `json:"for,omitempty"`
	FailWhen *ruleSummary     `json:"fail_when,omitempty"`
	Penalty  int              `json:"penalty"`
	Bonus    *ruleSummary     `json:"bonus,omitempty"`
	Partial  []partialSummary `json:"partial,omitempty"`
}

type partialSummary struct {
	When   *ruleSummary `json:"when"`
	Points int          `json:"points"`
}

type testSummary struct {
	Name  string `json:"name"`
	Steps int    `json:"steps"`
}

// summarize builds the summary and checks the Scenario's lookups agree
// with its lists.
func summarize(t *testing.T, sc *Scenario) summary {
	t.Helper()
	env := sc.Layout.NewEnv()
	env.Fired = func(string) bool { return false }
	env.Since = func(string) float64 { return -1 }
	env.Done = func(string) bool { return false }
	env.DoneSince = func(string) float64 { return -1 }
	env.Answered = func(string) bool { return false }
	env.Attempts = func(string) int { return 0 }
	env.Hinted = func(string) bool { return false }
	env.Achieved = func(string) bool { return false }
	env.Failed = func(string) bool { return false }
	env.ConduitOpen = func(string, string) bool { return true }
	for i := range env.Host {
		env.Host[i] = true
	}
	rule := func(r *Rule) *ruleSummary {
		if r == nil {
			return nil
		}
		if r.Program == nil {
			t.Errorf("rule %q has no program", r.Source)
			return &ruleSummary{Source: r.Source}
		}
		out, err := expr.Run(r.Program, env)
		if err != nil {
			t.Errorf("rule %q on a zero env: %v", r.Source, err)
		}
		if sc.Rules[r.ID] != r {
			t.Errorf("rule %q is not Rules[%d]", r.Source, r.ID)
		}
		return &ruleSummary{Source: r.Source, Pos: r.Pos(), Zero: out}
	}
	dur := func(d interface{ String() string }, set bool) string {
		if !set {
			return ""
		}
		return d.String()
	}

	s := summary{ID: sc.Spec.ID, Title: sc.Spec.Title, Duration: sc.Duration.String(),
		Teams: [2]int{sc.MinTeams, sc.MaxTeams}, MaxPoints: sc.MaxPoints(), Zones: sc.Zones,
		Conduits: sc.Conduits, Hosts: sc.Hosts,
		Layout: layoutSummary{PLCs: sc.Layout.PLCs, Offset: sc.Layout.Offset, Size: sc.Layout.Size, Hosts: sc.Layout.Hosts}}
	for _, p := range sc.PLCs {
		s.PLCs = append(s.PLCs, plcSummary{ID: p.ID, Model: p.Model, Zone: p.Zone, Params: p.Params,
			UnitID: p.UnitID, Scan: p.Scan.String(), Noise: p.Noise})
	}
	for i, in := range sc.Injects {
		if got, ok := sc.Inject(in.ID); !ok || got != in {
			t.Errorf("Inject(%q) does not return injects[%d]", in.ID, i)
		}
		if in.Index != i {
			t.Errorf("inject %q has Index %d, want %d", in.ID, in.Index, i)
		}
		s.Injects = append(s.Injects, injectSummary{ID: in.ID, Index: in.Index, Title: in.Title, Say: in.Say,
			Tags: in.Tags, Trigger: in.Trigger.String(), At: dur(in.At, in.Trigger == TriggerAt),
			After: in.After, Delay: dur(in.Delay, in.Trigger == TriggerAfter), When: rule(in.When), Effects: in.Effects})
	}
	for _, a := range sc.Actions {
		if got, ok := sc.Action(a.ID); !ok || got != a {
			t.Errorf("Action(%q) does not return the action", a.ID)
		}
		s.Actions = append(s.Actions, actionSummary{ID: a.ID, Title: a.Title, Description: a.Description,
			Effects: a.Effects, Cooldown: a.Cooldown.String(), Cost: a.Cost})
	}
	for i, q := range sc.Questions {
		if got, ok := sc.Question(q.ID); !ok || got != q {
			t.Errorf("Question(%q) does not return the question", q.ID)
		}
		if q.match == nil {
			t.Errorf("question %q has no matcher", q.ID)
		}
		m := sc.Spec.Questions[i].Answer
		kind := ""
		switch {
		case m.Exact != nil:
			kind = fmt.Sprintf("exact %q", *m.Exact)
		case m.Number != nil:
			kind = fmt.Sprintf("number %g ± %g", *m.Number, m.Tolerance)
		case len(m.OneOf) > 0:
			kind = fmt.Sprintf("one_of %q", m.OneOf)
		default:
			kind = fmt.Sprintf("regex %q", m.Regex)
		}
		if m.CaseSensitive {
			kind += " case_sensitive"
		}
		s.Questions = append(s.Questions, questionSummary{ID: q.ID, Prompt: q.Prompt, Matcher: kind,
			Attempts: q.Attempts, Penalty: q.Penalty, Visible: rule(q.Visible)})
	}
	for _, h := range sc.Hints {
		if got, ok := sc.Hint(h.ID); !ok || got != h {
			t.Errorf("Hint(%q) does not return the hint", h.ID)
		}
		s.Hints = append(s.Hints, hintSummary{ID: h.ID, Title: h.Title, For: h.For, Cost: h.Cost, Text: h.Text,
			At: dur(h.At, h.HasAt), HasAt: h.HasAt, Requestable: h.Requestable})
	}
	for _, o := range sc.Objectives {
		if got, ok := sc.Objective(o.ID); !ok || got != o {
			t.Errorf("Objective(%q) does not return the objective", o.ID)
		}
		obj := objectiveSummary{ID: o.ID, Title: o.Title, Points: o.Points, When: rule(o.When),
			For: dur(o.For, o.For > 0), FailWhen: rule(o.FailWhen), Penalty: o.Penalty, Bonus: rule(o.Bonus)}
		for _, p := range o.Partial {
			obj.Partial = append(obj.Partial, partialSummary{When: rule(p.When), Points: p.Points})
		}
		s.Objectives = append(s.Objectives, obj)
	}
	for _, ts := range sc.Spec.Tests {
		s.Tests = append(s.Tests, testSummary{Name: ts.Name, Steps: len(ts.Steps)})
	}
	if n := len(sc.Layout.PLCs); n != len(sc.PLCs) || len(sc.Layout.Offset) != n || len(sc.Layout.Model) != n {
		t.Errorf("layout has %d PLCs, %d offsets, %d models; scenario has %d PLCs",
			n, len(sc.Layout.Offset), len(sc.Layout.Model), len(sc.PLCs))
	}
	if !sort.SliceIsSorted(sc.Layout.Offset, func(i, j int) bool { return sc.Layout.Offset[i] < sc.Layout.Offset[j] }) {
		t.Errorf("layout offsets not increasing: %v", sc.Layout.Offset)
	}
	return s
}

// TestRuleReadsTheNamedTag checks that the patcher's rewrite of
// plant.<plc>.<tag> and hmi.<plc>.<tag> reads that PLC's tag: every analog
// tag of every PLC (two of the same model, so offsets matter) is a bonus rule
// evaluated on an env where each slot holds a distinct value.
func TestRuleReadsTheNamedTag(t *testing.T) {
	var b strings.Builder
	b.WriteString("id: t\nversion: 1\ntitle: T\nduration: 1h\nplant:\n  zones: [{id: z}]\n  plcs:\n" +
		"    - {id: a, model: reactor, zone: z}\n    - {id: b, model: reactor, zone: z}\n    - {id: c, model: breaker, zone: z}\n" +
		"  hosts: [{id: h1, role: hmi, zone: z}, {id: h2, role: hmi, zone: z}]\nobjectives:\n")
	type want struct {
		src  string
		want any
	}
	var wants []want
	add := func(src string, v any) {
		fmt.Fprintf(&b, "  - {id: o%d, points: 1, when: 'true', bonus: %q}\n", len(wants), src)
		wants = append(wants, want{src, v})
	}
	plcs := []string{"a", "b", "c"}
	truth := func(p, i int) float64 { return float64(100*p + i + 1) }
	for p, id := range plcs {
		m := map[int]string{0: "reactor", 1: "reactor", 2: "breaker"}[p]
		model, _ := plantsim.LookupModel(m)
		for i, tag := range model.Tags {
			if !tag.Analog() {
				continue
			}
			add(fmt.Sprintf("plant.%s.%s", id, tag.Name), truth(p, i))
			add(fmt.Sprintf("hmi.%s.%s", id, tag.Name), -truth(p, i))
		}
		add(fmt.Sprintf("plant.%s.checksum", id), float64(7000+p))
	}
	sc, err := Load("t.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Objectives) != len(wants) || len(wants) < 20 {
		t.Fatalf("%d objectives for %d rules", len(sc.Objectives), len(wants))
	}
	env := sc.Layout.NewEnv()
	for p := range plcs {
		m := sc.Layout.Model[p]
		off := sc.Layout.Offset[p]
		for i := range m.Tags {
			env.T[off+i], env.R[off+i] = truth(p, i), -truth(p, i)
		}
		env.Sum[p] = float64(7000 + p)
	}
	for i, o := range sc.Objectives {
		got, err := expr.Run(o.Bonus.Program, env)
		if err != nil {
			t.Errorf("%s: %v", wants[i].src, err)
			continue
		}
		if got != wants[i].want {
			t.Errorf("%s = %v, want %v", wants[i].src, got, wants[i].want)
		}
	}

	// Bits, modes, programs and hosts, as booleans.
	bypass, _ := sc.Layout.Model[1].Tag("bypass")
	rules := []struct {
		src  string
		set  func()
		want bool
	}{
		{"plant.b.bypass", func() { env.TB[sc.Layout.Offset[1]+bypass] = true }, true},
		{"plant.a.bypass", nil, false},
		{"hmi.b.bypass", func() { env.RB[sc.Layout.Offset[1]+bypass] = true }, true},
		{"plant.c.mode == 'stop'", func() { env.Mode[2] = "stop" }, true},
		{"plant.a.program == 'tampered'", func() { env.Prog[0] = "tampered" }, true},
		{"host.h2.up && !host.h1.up", func() { env.Host[1] = true }, true},
	}
	for _, r := range rules {
		rc := &ruleCompiler{layout: sc.Layout, ids: map[string]map[string]bool{}}
		rule, errs := rc.compile(r.src, true)
		if len(errs) > 0 {
			t.Errorf("%s: %v", r.src, errs)
			continue
		}
		if r.set != nil {
			r.set()
		}
		got, err := expr.Run(rule.Program, env)
		if err != nil || got != r.want {
			t.Errorf("%s = %v, %v; want %v", r.src, got, err, r.want)
		}
	}
}

// A PLC's frame timeout reaches the plan every backend starts it from.
func TestLoadPLCFrameTimeout(t *testing.T) {
	sc, err := Load("ft.yaml", []byte(`id: ft
version: 1
title: t
duration: 10m
plant:
  zones: [{id: control}]
  plcs:
    - {id: tank, model: water-tank, zone: control, frame_timeout: 7s}
    - {id: feeder, model: breaker, zone: control}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := []time.Duration{sc.PLCs[0].FrameTimeout, sc.PLCs[1].FrameTimeout}; got[0] != 7*time.Second || got[1] != 0 {
		t.Fatalf("frame timeouts %v, want [7s 0s] (0: the server's default)", got)
	}
}
