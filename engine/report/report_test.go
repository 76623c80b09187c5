package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/report"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

var (
	update     = flag.Bool("update", false, "rewrite the golden files in testdata/")
	updateDocs = flag.Bool("update-docs", false, "TestReportInBrowser: write the report's screenshots for docs/report.md into docs/")
)

// goldenScenario has one water-tank PLC and one breaker PLC, an attacker in
// office IT with a Modbus path to the control zone, injects tagged with
// ATT&CK techniques (a scan, a setpoint write, a freeze of the tank level
// the HMI shows, a breaker open, a manual one that never fires), objectives
// of the categories detect, contain and safety, a question, an action that
// cuts the attacker's conduit and two hints.
const goldenScenario = `
id: report-golden
version: 1
title: {en: "Golden report: tank and feeder", ja: "ゴールデン報告書：水槽と配電線"}
description:
  en: "A scripted run for the after-action report's golden files."
  ja: "事後レビュー報告書のゴールデンファイル用の台本どおりの演習。"
duration: 8m
teams: {min: 1, max: 4}
plant:
  zones:
    - {id: it, title: {en: Office IT, ja: 事務系}}
    - {id: control, title: {en: Control network, ja: 制御系}}
  conduits:
    - {from: it, to: control, ports: [502]}
  plcs:
    - id: tank
      title: {en: Raw-water tank, ja: 原水槽}
      model: water-tank
      zone: control
      params: {area_m2: 2, level0_m: 2.5, level_sp_m: 2.5}
    - id: feeder
      title: {en: Feeder breaker, ja: 配電線遮断器}
      model: breaker
      zone: control
      unit_id: 2
      params: {load_a: 400, load_period_s: 240}
  hosts:
    - {id: attacker, role: attacker, zone: it, address: 10.0.0.66}
    - {id: hmi, role: hmi, zone: control, address: 10.0.1.10}
injects:
  - id: recon
    title: {en: Reconnaissance, ja: 偵察}
    at: 1m
    do: [{scan: {from: attacker}}]
    say: {en: "IDS: a Modbus sweep from the office network.", ja: "IDS：事務系からのModbusスキャンを検知。"}
    tags: [T0846, T0888]
  - id: tamper
    title: {en: Setpoint change, ja: 設定値変更}
    at: 3m
    do: [{modbus_write: {from: attacker, plc: tank, register: hr:level_sp, value: 3.6}}]
    tags: [T0836, T0855]
  - id: hide
    title: {en: HMI view frozen, ja: HMI表示凍結}
    after: {inject: tamper, delay: 20s}
    do: [{freeze: {from: attacker, plc: tank, tag: level}}]
    tags: [T0856, T0832]
  - id: trip
    title: {en: Feeder opened, ja: 配電線開放}
    at: 5m
    do: [{coil_write: {from: attacker, plc: feeder, coil: open_cmd, value: true}}]
    say: {en: "Dispatch: customers on the feeder report an outage.", ja: "給電指令：配電線の需要家から停電の連絡。"}
    tags: [T0855, T0831]
  - id: ransom
    title: {en: HMI ransomware, ja: HMIランサムウェア}
    manual: true
    do: [{stop_host: {host: hmi}}]
    tags: [T0828]
actions:
  - id: isolate
    title: {en: "Block office IT → control", ja: "事務系→制御系の通信を遮断"}
    do: [{cut_conduit: {from: it, to: control}}]
questions:
  - id: scanner
    prompt: {en: "Which IP address swept the PLCs?", ja: "PLCをスキャンした送信元IPアドレスは？"}
    answer: {exact: "10.0.0.66"}
    attempts: 3
    penalty: 10
    visible: "fired('recon')"
hints:
  - {id: h-scanner, for: scanner, cost: 5, text: {en: "Read the IDS alert's source address.", ja: "IDSアラートの送信元アドレスを確認してください。"}}
  - {id: h-hmi, at: 4m, request: false, text: {en: "If the HMI looks calm, read the PLC yourself.", ja: "HMIが平穏に見えても、PLCを直接読んでください。"}}
objectives:
  - {id: detect, title: {en: Identify the scanner, ja: スキャン元の特定}, category: detect, points: 100, when: "answered('scanner')"}
  - id: contain
    title: {en: Cut the intruder off, ja: 侵入者の遮断}
    category: contain
    points: 150
    when: "done('isolate') && fired('recon')"
    bonus: "max(0, 50 - since('recon') / 6)"
  - {id: safe, title: {en: Keep the tank below 3.3 m, ja: 水位3.3 m未満を維持}, category: safety, points: 200, penalty: 50, fail_when: "plant.tank.level > 3.3"}
  - {id: supply, title: {en: Keep the feeder energized, ja: 配電線の送電を維持}, category: safety, points: 50, penalty: 20, fail_when: "!plant.feeder.energized"}
`

// The script's times, and what they imply.
const (
	firstAttack = 60 * time.Second // recon, the first inject with tags
	wrongAt     = 80 * time.Second // team a: a wrong answer (−10)
	answerAt    = 90 * time.Second // team a: the right answer
	isolateAt   = 2 * time.Minute  // team a: cuts it → control
	// Objectives are scored on the tick after the command.
	wantTTD = answerAt + engine.Tick - firstAttack  // 30.1 s
	wantTTC = isolateAt + engine.Tick - firstAttack // 60.1 s
	// a: −10 wrong answer, +100 detect, +150 contain +40 bonus
	// (50 − 60.1 s / 6), +200 safe and +50 supply at the end.
	wantScoreA = 530
	// b: −50 safe (the tank passes 3.3 m), −20 supply (the feeder opens).
	wantScoreB = -70
)

func step(t *testing.T, x *engine.Exercise, to time.Duration) {
	t.Helper()
	if err := x.Step(context.Background(), to); err != nil {
		t.Fatal(err)
	}
}

// scriptedRun runs the golden scenario on the virtual clock up to `until`:
// team a answers (wrong, then right) and isolates; team b does nothing.
func scriptedRun(t *testing.T, until time.Duration) *engine.Exercise {
	t.Helper()
	ctx := context.Background()
	sc, err := scenario.Load("report-golden.yaml", []byte(goldenScenario))
	if err != nil {
		t.Fatal(err)
	}
	x, err := engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(goldenScenario), ScenarioPath: "report-golden.yaml",
		Teams: []string{"a", "b"}, DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	script := []struct {
		at time.Duration
		do func() error
	}{
		{wrongAt, func() error {
			res, err := x.Answer(ctx, "a", "scanner", "10.0.0.1")
			if err == nil && (res.Correct || res.Penalty != 10) {
				err = fmt.Errorf("wrong answer taken as %+v", res)
			}
			return err
		}},
		{answerAt, func() error {
			res, err := x.Answer(ctx, "a", "scanner", "10.0.0.66")
			if err == nil && !res.Correct {
				err = fmt.Errorf("right answer taken as %+v", res)
			}
			return err
		}},
		{isolateAt, func() error { _, err := x.Act(ctx, "a", "isolate"); return err }},
	}
	for _, s := range script {
		if s.at > until {
			break
		}
		step(t, x, s.at)
		if err := s.do(); err != nil {
			t.Fatalf("at %v: %v", s.at, err)
		}
	}
	step(t, x, until)
	return x
}

func build(t *testing.T, st *store.Store) *report.Report {
	t.Helper()
	r, err := report.Build(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func render(t *testing.T, r *report.Report, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.Write(&b, format); err != nil {
		t.Fatalf("write %s: %v", format, err)
	}
	return b.Bytes()
}

// volatileJSON are the report's fields that differ between two runs of the
// same script (a random exercise id, wall-clock times), with the
// placeholders the golden files hold instead.
var volatileJSON = map[string]string{
	"exercise.id":      "EXERCISE-ID",
	"exercise.created": "CREATED-TIME",
	"exercise.started": "STARTED-TIME",
	"exercise.ended":   "ENDED-TIME",
	// The Go version and platform of the test binary, and the release
	// stamp of a `make release` build.
	"build":          "BUILD",
	"exercise.build": "BUILD",
}

// normalizeJSON decodes a report's JSON, replaces the volatile fields that
// are present by their placeholders and encodes it again (keys sorted,
// numbers as written). It returns the fields it replaced.
func normalizeJSON(t *testing.T, raw []byte) ([]byte, []string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("report JSON does not parse: %v", err)
	}
	var replaced []string
	for path, placeholder := range volatileJSON {
		keys := strings.Split(path, ".")
		node, _ := doc.(map[string]any)
		for _, k := range keys[:len(keys)-1] {
			node, _ = node[k].(map[string]any)
		}
		last := keys[len(keys)-1]
		if _, ok := node[last]; ok {
			node[last] = placeholder
			replaced = append(replaced, path)
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), replaced
}

// normalizeText replaces the exercise id and the start and end times, as
// the HTML shows them, by the placeholders: the start time first, then the
// end time after it (both may read the same second).
func normalizeText(b []byte, r *report.Report) []byte {
	s := string(b)
	if r.Exercise.ID != "" {
		s = strings.ReplaceAll(s, r.Exercise.ID, volatileJSON["exercise.id"])
	}
	s = strings.ReplaceAll(s, r.Build.String(), volatileJSON["build"])
	if r.Exercise.Build != nil {
		s = strings.ReplaceAll(s, r.Exercise.Build.String(), volatileJSON["exercise.build"])
	}
	from := 0
	for _, f := range []struct {
		t    *time.Time
		path string
	}{{r.Exercise.Started, "exercise.started"}, {r.Exercise.Ended, "exercise.ended"}} {
		if f.t == nil {
			continue
		}
		v := f.t.Format("2006-01-02 15:04:05 UTC")
		if i := strings.Index(s[from:], v); i >= 0 {
			i += from
			s = s[:i] + volatileJSON[f.path] + s[i+len(v):]
			from = i + len(volatileJSON[f.path])
		}
	}
	return []byte(s)
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended):\n%s", name, firstDiff(want, got))
	}
}

// firstDiff shows the first line where two texts differ.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			// Show the lines from a little before the first differing byte.
			c := 0
			for c < min(len(w), len(g)) && w[c] == g[c] {
				c++
			}
			clip := func(s string) string {
				from := max(0, c-60)
				return "…" + s[min(from, len(s)):min(len(s), from+240)] + "…"
			}
			return fmt.Sprintf("line %d, byte %d:\nwant: %s\ngot:  %s", i+1, c+1, clip(w), clip(g))
		}
	}
	return fmt.Sprintf("same lines, %d vs %d bytes", len(want), len(got))
}

// goldenOutputs is one scripted run's report in every format, normalised.
type goldenOutputs struct {
	r                        *report.Report
	json, html, events, csvs []byte
	raw                      []byte // the JSON as written
}

func goldenRun(t *testing.T) goldenOutputs {
	t.Helper()
	x := scriptedRun(t, 8*time.Minute)
	if _, phase := x.Clock(); phase != engine.PhaseEnded {
		t.Fatalf("phase %s after the scenario's duration", phase)
	}
	r := build(t, x.Store())
	raw := render(t, r, "json")
	norm, replaced := normalizeJSON(t, raw)
	if len(replaced) != len(volatileJSON) {
		t.Errorf("normalised %v, want all of %v: an ended report has every one", replaced, volatileJSON)
	}
	return goldenOutputs{r: r, raw: raw, json: norm,
		html:   normalizeText(render(t, r, "html"), r),
		events: normalizeText(render(t, r, "csv"), r),
		csvs:   normalizeText(render(t, r, "csv-scores"), r)}
}

func TestGoldenReport(t *testing.T) {
	first := goldenRun(t)
	// The same script on the same seed must give the same report, byte for
	// byte once the id and the wall-clock times are masked.
	second := goldenRun(t)
	for _, c := range []struct {
		name     string
		one, two []byte
	}{{"json", first.json, second.json}, {"html", first.html, second.html},
		{"csv", first.events, second.events}, {"csv-scores", first.csvs, second.csvs}} {
		if !bytes.Equal(c.one, c.two) {
			t.Errorf("two runs of one script gave different %s reports: not deterministic\n%s", c.name, firstDiff(c.one, c.two))
		}
	}
	golden(t, "golden.json", first.json)
	golden(t, "golden.html", first.html)
	golden(t, "golden-events.csv", first.events)
	golden(t, "golden-scores.csv", first.csvs)

	checkFacts(t, first.raw)
}

// checkFacts asserts what the script implies, on the JSON as written.
func checkFacts(t *testing.T, raw []byte) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 || doc["version"] != float64(1) {
		t.Errorf("version %d, want 1", r.Version)
	}
	ex := r.Exercise
	if ex.Phase != engine.PhaseEnded || ex.EndReason != "time" || ex.ClockMS != 480000 || ex.DurationMS != 480000 ||
		ex.Seed != 42 || ex.Backend != "inproc" || ex.Scenario != "report-golden" || ex.Recoveries != 0 ||
		ex.Created == nil || ex.Started == nil || ex.Ended == nil || ex.Ended.Before(*ex.Started) || !strings.HasPrefix(ex.ID, "report-golden-") {
		t.Errorf("exercise: %+v", ex)
	}
	if len(r.Objectives) != 4 || len(r.Injects) != 5 {
		t.Errorf("%d objectives, %d injects; want 4 and 5", len(r.Objectives), len(r.Injects))
	}
	for _, in := range r.Injects {
		if in.ID == "ransom" && (in.Trigger != "manual" || len(in.Tags) != 1) {
			t.Errorf("manual inject: %+v", in)
		}
	}

	// Ranking: a first, b second.
	want := []report.Rank{{Rank: 1, Team: "a", Score: wantScoreA}, {Rank: 2, Team: "b", Score: wantScoreB}}
	if fmt.Sprint(r.Ranking) != fmt.Sprint(want) {
		t.Errorf("ranking %+v, want %+v", r.Ranking, want)
	}
	teams := map[string]report.Team{}
	jteams := map[string]map[string]any{}
	for i, tm := range r.Teams {
		teams[tm.Name] = tm
		jteams[tm.Name] = doc["teams"].([]any)[i].(map[string]any)
	}
	a, b := teams["a"], teams["b"]
	if a.Score != wantScoreA || a.Rank != 1 || b.Score != wantScoreB || b.Rank != 2 {
		t.Errorf("teams: a %d (rank %d), b %d (rank %d)", a.Score, a.Rank, b.Score, b.Rank)
	}

	// Score series start at 0 and end at the final scores.
	for _, s := range r.Scores {
		if len(s.Points) < 2 || s.Points[0] != [2]int64{0, 0} {
			t.Errorf("score series of %s starts %v", s.Team, s.Points)
			continue
		}
		if end := s.Points[len(s.Points)-1][1]; end != int64(teams[s.Team].Score) {
			t.Errorf("score series of %s ends at %d, final score %d", s.Team, end, teams[s.Team].Score)
		}
	}

	// First attack, time to detect and contain.
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	eq := func(p *int64, want int64) bool { return p != nil && *p == want }
	if !eq(a.FirstAttackMS, ms(firstAttack)) || !eq(b.FirstAttackMS, ms(firstAttack)) {
		t.Errorf("first attack: a %v, b %v; want %d", a.FirstAttackMS, b.FirstAttackMS, ms(firstAttack))
	}
	if !eq(a.TimeToDetectMS, ms(wantTTD)) || !eq(a.TimeToContainMS, ms(wantTTC)) {
		t.Errorf("team a: time to detect %v, to contain %v; want %d and %d", deref(a.TimeToDetectMS), deref(a.TimeToContainMS), ms(wantTTD), ms(wantTTC))
	}
	for _, k := range []string{"time_to_detect_ms", "time_to_contain_ms"} {
		if v, ok := jteams["b"][k]; !ok || v != nil {
			t.Errorf("team b %s = %v (present %v), want null", k, v, ok)
		}
	}

	// Objectives.
	status := func(tm report.Team) map[string]string {
		m := map[string]string{}
		for _, o := range tm.Objectives {
			m[o.ID] = fmt.Sprintf("%s %d", o.Status, o.Earned)
		}
		return m
	}
	if got, want := fmt.Sprint(status(a)), "map[contain:achieved 190 detect:achieved 100 safe:achieved 200 supply:achieved 50]"; got != want {
		t.Errorf("team a objectives %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(status(b)), "map[contain:pending 0 detect:pending 0 safe:failed -50 supply:failed -20]"; got != want {
		t.Errorf("team b objectives %s, want %s", got, want)
	}

	// Answers.
	if len(a.Answers) != 2 || a.Answers[0].Correct || a.Answers[0].Penalty != 10 || a.Answers[0].ClockMS != ms(wrongAt) ||
		!a.Answers[1].Correct || a.Answers[1].ClockMS != ms(answerAt) || len(b.Answers) != 0 {
		t.Errorf("answers: a %+v, b %+v", a.Answers, b.Answers)
	}

	// Injects and their effects: the isolated team's attacks after 2:00
	// are blocked, the other team's land.
	outcomes := func(tm report.Team) string {
		var s []string
		for _, in := range tm.Injects {
			for _, e := range in.Effects {
				s = append(s, in.ID+"@"+fmt.Sprint(in.ClockMS/1000)+"="+e.Outcome)
			}
		}
		return strings.Join(s, " ")
	}
	if got, want := outcomes(a), "recon@60=ok tamper@180=blocked hide@200=blocked trip@300=blocked"; got != want {
		t.Errorf("team a inject outcomes %q, want %q", got, want)
	}
	if got, want := outcomes(b), "recon@60=ok tamper@180=ok hide@200=ok trip@300=ok"; got != want {
		t.Errorf("team b inject outcomes %q, want %q", got, want)
	}

	// Charts: one per input register of each PLC (tank 4, feeder 4), a
	// sample every 2 s. Only team b's HMI level was frozen while the real
	// level rose: that chart alone diverged.
	for _, tm := range []report.Team{a, b} {
		if len(tm.Charts) != 8 {
			t.Errorf("team %s: %d charts, want 8", tm.Name, len(tm.Charts))
		}
		for _, c := range tm.Charts {
			if len(c.Samples) != 240 || c.Samples[0][0] != 2000 || c.Samples[239][0] != 480000 {
				t.Errorf("team %s chart %s.%s: %d samples", tm.Name, c.PLC, c.Tag, len(c.Samples))
			}
			frozen := tm.Name == "b" && c.PLC == "tank" && c.Tag == "level"
			if c.Diverged != frozen {
				t.Errorf("team %s chart %s.%s: diverged %v, want %v", tm.Name, c.PLC, c.Tag, c.Diverged, frozen)
			}
			if frozen {
				last := c.Samples[len(c.Samples)-1]
				if last[1] < 3.3 || last[2] > 2.8 {
					t.Errorf("team b's tank level at the end: truth %v, HMI %v; want the truth above 3.3 m, the HMI frozen near 2.5 m", last[1], last[2])
				}
			}
		}
	}
	// Setpoints and limits come with the value they apply to, as they
	// were: team b's level setpoint was written to 3.6 by the tamper inject
	// at 3:00; team a, cut off at 2:00, kept 2.5.
	chartOf := func(tm report.Team, plc, tag string) report.Chart {
		for _, c := range tm.Charts {
			if c.PLC == plc && c.Tag == tag {
				return c
			}
		}
		t.Fatalf("team %s has no chart %s.%s", tm.Name, plc, tag)
		return report.Chart{}
	}
	lines := func(c report.Chart) map[string]string {
		m := map[string]string{}
		for _, l := range c.Lines {
			m[l.Tag] = fmt.Sprintf("%s %v", l.Class, l.Points)
		}
		return m
	}
	bl, al := lines(chartOf(b, "tank", "level")), lines(chartOf(a, "tank", "level"))
	for _, l := range chartOf(b, "tank", "level").Lines {
		if l.Tag == "level_sp" && (len(l.Points) != 2 || l.Points[0] != [2]float64{2000, 2.5} ||
			l.Points[1][0] < 180000 || l.Points[1][0] > 184000 || math.Abs(l.Points[1][1]-3.6) > 0.001) {
			t.Errorf("team b's level setpoint: %v, want 2.5 and 3.6 from 3:00", l.Points)
		}
	}
	if bl["level_sp"] == "" {
		t.Errorf("team b's level has no setpoint line: %v", bl)
	}
	if got := al["level_sp"]; got != "setpoint [[2000 2.5]]" {
		t.Errorf("team a's level setpoint: %s", got)
	}
	for _, k := range []string{"alarm_ll", "alarm_l", "alarm_h", "alarm_hh"} {
		if !strings.HasPrefix(bl[k], "limit [[2000 ") {
			t.Errorf("team b's level has no %s line: %v", k, bl)
		}
	}
	if got := lines(chartOf(a, "feeder", "current")); len(got) != 2 || got["pickup_a"] != "limit [[2000 600]]" || got["alarm_a"] != "limit [[2000 500]]" {
		t.Errorf("feeder current lines: %v", got)
	}
	// Nothing moved team a's level or outflow but noise; team b's frozen
	// level is drawn.
	if c := chartOf(a, "tank", "outflow"); c.Steady == nil || c.Steady.Mean != 15 {
		t.Errorf("team a's outflow (pumps at 15 m3/h all along): steady %+v", c.Steady)
	}
	if c := chartOf(b, "tank", "level"); c.Steady != nil {
		t.Errorf("team b's level was left out as steady")
	}

	// The timeline ends with the end of the exercise and its score.
	for _, tm := range []report.Team{a, b} {
		if len(tm.Timeline) == 0 || tm.Timeline[len(tm.Timeline)-1].Score != tm.Score {
			t.Errorf("team %s timeline does not end at its score", tm.Name)
		}
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// A report of an exercise that has not ended builds, in every format, with
// what happened so far.
func TestReportOfRunningExercise(t *testing.T) {
	x := scriptedRun(t, 3*time.Minute+30*time.Second)
	r := build(t, x.Store())
	if r.Exercise.Phase != engine.PhaseRunning || r.Exercise.Ended != nil || r.Exercise.EndReason != "" || r.Exercise.Started == nil {
		t.Fatalf("exercise: %+v", r.Exercise)
	}
	clock, _ := x.Clock()
	// clock_ms is the later of the last event and the last checkpoint, so it
	// may lag the exercise clock of a running exercise (and its samples).
	t.Logf("clock_ms %d at exercise clock %v", r.Exercise.ClockMS, clock)
	if r.Exercise.ClockMS <= 0 || r.Exercise.ClockMS > clock.Milliseconds() {
		t.Errorf("clock_ms %d, exercise clock %v", r.Exercise.ClockMS, clock)
	}
	for _, f := range report.Formats {
		if len(render(t, r, f)) == 0 {
			t.Errorf("%s report is empty", f)
		}
	}
	raw := render(t, r, "json")
	if _, replaced := normalizeJSON(t, raw); strings.Contains(fmt.Sprint(replaced), "ended") {
		t.Errorf("a running exercise's report has an end time")
	}
	var a report.Team
	for _, tm := range r.Teams {
		if tm.Name == "a" {
			a = tm
		}
		for _, o := range tm.Objectives {
			if o.ID == "safe" && tm.Name == "a" && o.Status != engine.StatusPending {
				t.Errorf("team a's safe objective is %s before the end", o.Status)
			}
		}
		if len(tm.Charts) != 8 || len(tm.Charts[0].Samples) != 105 {
			t.Errorf("team %s: %d charts", tm.Name, len(tm.Charts))
		}
	}
	if a.TimeToDetectMS == nil || *a.TimeToDetectMS != wantTTD.Milliseconds() || a.Score != -10+100+190 {
		t.Errorf("team a so far: %+v", a)
	}
	if !bytes.Contains(render(t, r, "html"), []byte("Golden report: tank and feeder")) {
		t.Error("the HTML lacks the title")
	}
}

// Build fails with an error, not a panic, on data that is not an exercise.
func TestReportBuildRejectsBadData(t *testing.T) {
	ctx := context.Background()

	// An empty data dir: opening creates an empty log with no scenario.
	st, err := store.Open(filepath.Join(t.TempDir(), engine.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if r, err := report.Build(ctx, st); err == nil {
		t.Fatalf("an empty log built a report: %+v", r)
	} else if !strings.Contains(err.Error(), "scenario") {
		t.Errorf("empty log: %v", err)
	}

	// A file that is not SQLite.
	garbage := filepath.Join(t.TempDir(), engine.EventsFile)
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 512), 0o644); err != nil {
		t.Fatal(err)
	}
	if gst, err := store.Open(garbage); err != nil {
		t.Logf("garbage file: open: %v", err)
	} else {
		_, err = report.Build(ctx, gst)
		gst.Close()
		if err == nil {
			t.Fatal("a garbage file built a report")
		}
		t.Logf("garbage file: build: %v", err)
	}

	// A log whose scenario is garbage.
	bad, err := store.Open(filepath.Join(t.TempDir(), engine.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.SetMeta(ctx, map[string]string{"scenario_path": "x.yaml", "scenario_yaml": "id: [unclosed"})
	if _, err := report.Build(ctx, bad); err == nil || !strings.Contains(err.Error(), "scenario") {
		t.Errorf("garbage scenario: %v", err)
	}

	// A real exercise whose log then got an event for an unknown team and
	// whose samples got a corrupt row.
	x := scriptedRun(t, 10*time.Second)
	xs := x.Store()
	if err := xs.AppendSamples(ctx, []store.Sample{{Clock: time.Hour, Team: "a", Data: json.RawMessage(`{"tank":`)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := report.Build(ctx, xs); err == nil || !strings.Contains(err.Error(), "sample") {
		t.Errorf("corrupt sample: %v", err)
	}
	if err := xs.Append(ctx, &store.Event{Time: time.Now(), Clock: time.Minute, Team: "zz", Kind: engine.EvAdjust, Data: json.RawMessage(`{"points":1}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := report.Build(ctx, xs); err == nil || !strings.Contains(err.Error(), "unknown team") {
		t.Errorf("event for an unknown team: %v", err)
	}
}

// chromiumPath finds chromium, or skips (fails on CI, where the browser
// test must run).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "the browser test needs chromium (Debian: apt-get install chromium); neither chromium nor chromium-browser is in PATH"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestReportInBrowser opens the HTML report from a file in headless
// Chromium: no script errors, no request but the file itself (the report is
// self-contained), the language switch works, and a full-page screenshot is
// a valid PNG (kept in ICSRANGE_SCREENSHOTS when set).
func TestReportInBrowser(t *testing.T) {
	bin := chromiumPath(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	x := scriptedRun(t, 8*time.Minute)
	r := build(t, x.Store())
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, render(t, r, "html"), 0o644); err != nil {
		t.Fatal(err)
	}
	pageURL := (&url.URL{Scheme: "file", Path: page}).String()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin),
		chromedp.WindowSize(1280, 900), chromedp.Flag("lang", "en-US"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()

	var mu sync.Mutex
	var problems, requests []string
	listener := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, a.Description+string(a.Value))
				}
				problems = append(problems, "console.error: "+strings.Join(parts, " "))
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				problems = append(problems, fmt.Sprintf("%s log: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		}
	}
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf), chromedp.WithListener(listener))
	defer cancelTab()

	if err := chromedp.Do(tab, chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS(`[data-testid="title"]`))); err != nil {
		t.Fatalf("load %s: %v", pageURL, err)
	}
	// The page opens in English (the browser's language).
	enTitle, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`[data-testid="title"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(enTitle) != r.Exercise.Title.En {
		t.Errorf("English title %q, want %q", enTitle, r.Exercise.Title.En)
	}
	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shots := os.Getenv("ICSRANGE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	pngPath := filepath.Join(shots, "report.png")
	if err := os.WriteFile(pngPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 2000 {
		t.Errorf("full-page screenshot is %v: the page should be long (two teams' debriefs)", b)
	}
	t.Logf("screenshot: %s (%v)", pngPath, img.Bounds())
	// Charts are drawn for every team, numbered inject markers with them.
	if n, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="chart"] svg').length`)); err != nil || n == 0 {
		t.Errorf("%d process charts drawn (%v)", n, err)
	}
	if n, err := chromedp.Run(tab, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="chart"] .marker').length`)); err != nil || n == 0 {
		t.Errorf("%d inject markers drawn (%v)", n, err)
	}
	if *updateDocs {
		// The top of the report at a laptop's window, and the team whose
		// HMI was frozen: its process charts.
		docs := map[string]chromedp.Action[[]byte]{
			"report-summary.png": chromedp.CaptureScreenshot(),
			"report-charts.png":  chromedp.Screenshot(chromedp.CSS(`#team-b [data-testid="charts"]`)),
		}
		for name, a := range docs {
			shot, err := chromedp.Run(tab, a)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := os.WriteFile(filepath.Join("..", "..", "docs", name), shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote docs/%s (%d bytes)", name, len(shot))
		}
	}

	// Switch to Japanese: the Japanese title shows, the English one hides.
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`#lang-ja`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="title"] .ja`)),
		chromedp.WaitNotVisible(chromedp.CSS(`[data-testid="title"] .en`))); err != nil {
		t.Fatalf("switch to Japanese: %v", err)
	}
	jaTitle, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(`[data-testid="title"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(jaTitle) != r.Exercise.Title.Ja {
		t.Errorf("Japanese title %q, want %q", jaTitle, r.Exercise.Title.Ja)
	}
	lang, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.documentElement.lang + " " + document.getElementById("lang-ja").getAttribute("aria-pressed")`))
	if err != nil || lang != "ja true" {
		t.Errorf("after the switch: lang and pressed %q (%v), want \"ja true\"", lang, err)
	}
	if shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(shots, "report-ja.png"), shot, 0o644)
	}

	// Let late events arrive before judging.
	if err := chromedp.Do(tab, chromedp.Sleep(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("page error: %s", p)
	}
	for _, u := range requests {
		if u != pageURL {
			t.Errorf("the report fetched %s: it must be self-contained", u)
		}
	}
	if len(requests) == 0 {
		t.Error("no request seen at all: the network listener is not working")
	}
}

// Every field of the JSON report is in the documented schema.
func TestReportSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/report.md")
	if err != nil {
		t.Fatal(err)
	}
	raw := render(t, build(t, scriptedRun(t, 8*time.Minute).Store()), "json")
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if path != "event_counts" { // its keys are event kinds
					keys[k] = true
				}
				walk(k, e)
			}
		case []any:
			for _, e := range v {
				walk(path, e)
			}
		}
	}
	walk("", v)
	for k := range keys {
		if !bytes.Contains(doc, []byte("`"+k+"`")) {
			t.Errorf("JSON field %q is not in docs/report.md", k)
		}
	}
}
