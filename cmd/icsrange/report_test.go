package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A headless run writes the after-action report in every format into its
// data dir when it ends, and `icsrange report` renders it again from the
// data dir alone.
func TestReportCommand(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "run", waterScenario, "--teams", "2", "--start", "now", "--speed", "1000", "--data", data, "--linger", "0",
		"--listen", "127.0.0.1:0").CombinedOutput() // 8080 may be taken
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("After-action report: ")) {
		t.Errorf("the run does not say where the report is:\n%s", out)
	}
	// The four files, named as the run prints them.
	for _, f := range []string{"report.html", "report.json", "events.csv", "scores.csv"} {
		path := filepath.Join(data, f)
		fi, err := os.Stat(path)
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v (size %v)", f, err, fi)
		}
		if !bytes.Contains(out, []byte(path)) {
			t.Errorf("the run's output does not name %s", path)
		}
	}
	written, err := os.ReadFile(filepath.Join(data, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version  int `json:"version"`
		Exercise struct {
			Scenario  string   `json:"scenario"`
			Phase     string   `json:"phase"`
			ClockMS   int64    `json:"clock_ms"`
			EndReason string   `json:"end_reason"`
			Teams     []string `json:"teams"`
		} `json:"exercise"`
		Ranking []struct {
			Rank  int    `json:"rank"`
			Team  string `json:"team"`
			Score int    `json:"score"`
		} `json:"ranking"`
		Teams []struct {
			Name   string            `json:"name"`
			Charts []json.RawMessage `json:"charts"`
		} `json:"teams"`
	}
	if err := json.Unmarshal(written, &doc); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	ex := doc.Exercise
	if doc.Version != 1 || ex.Scenario != "water-treatment" || ex.Phase != "ended" || ex.EndReason != "time" ||
		ex.ClockMS != (45*time.Minute).Milliseconds() || len(ex.Teams) != 2 || len(doc.Ranking) != 2 || len(doc.Teams) != 2 {
		t.Errorf("report.json: version %d, exercise %+v, %d ranked, %d teams", doc.Version, ex, len(doc.Ranking), len(doc.Teams))
	}
	for _, tm := range doc.Teams {
		if len(tm.Charts) == 0 {
			t.Errorf("team %s has no charts", tm.Name)
		}
	}
	html, _ := os.ReadFile(filepath.Join(data, "report.html"))
	if !bytes.HasPrefix(html, []byte("<!doctype html>")) || !bytes.Contains(html, []byte("Water treatment")) {
		t.Errorf("report.html does not look like the report: %.200s", html)
	}
	scores, _ := os.ReadFile(filepath.Join(data, "scores.csv"))
	if !bytes.HasPrefix(scores, []byte("rank,team,score,safety_incidents,time_to_detect_s,time_to_contain_s,detect,")) {
		t.Errorf("scores.csv header: %.200s", scores)
	}

	// icsrange report --format json -o FILE: the same report, since the
	// exercise has ended — from the same binary, since a report names the
	// build that wrote it.
	file := filepath.Join(t.TempDir(), "r.json")
	rep, err := exec.Command(binary, "report", "--data", data, "--format", "json", "-o", file).CombinedOutput()
	if err != nil {
		t.Fatalf("report: %v: %s", err, rep)
	}
	if strings.TrimSpace(string(rep)) != "wrote "+file {
		t.Errorf("report -o: output %q", rep)
	}
	again, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, written) {
		a, b := strings.Split(string(written), "\n"), strings.Split(string(again), "\n")
		for i := 0; i < len(a) && i < len(b); i++ {
			if a[i] != b[i] {
				t.Errorf("icsrange report gave another JSON than the run wrote at its end: line %d\nat the end: %s\nlater:      %s", i+1, a[i], b[i])
				break
			}
		}
		if len(a) != len(b) {
			t.Errorf("icsrange report gave %d lines, the run %d", len(b), len(a))
		}
	}
	// Without -o it goes to standard output; the default format is HTML.
	stdout, stderr, code := run(t, "report", "--data", data)
	if code != 0 || !strings.HasPrefix(stdout, "<!doctype html>") {
		t.Errorf("report to stdout: exit %d, %.100q, %s", code, stdout, stderr)
	}
	stdout, _, code = run(t, "report", "--data", data, "--format", "csv")
	if code != 0 || !strings.HasPrefix(stdout, "team,seq,clock_ms,clock,kind,points,score,text_en,text_ja\n") {
		t.Errorf("csv to stdout: exit %d, %.100q", code, stdout)
	}

	// Exit codes: usage errors are 2, failures 1.
	empty := t.TempDir()
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"bad format", []string{"--data", data, "--format", "pdf"}, 2, "--format must be one of html, json, csv, csv-scores"},
		{"missing --data", []string{"--format", "json"}, 2, "--data DIR is required"},
		{"unknown flag", []string{"--data", data, "--nope"}, 2, "flag provided but not defined"},
		{"dir without an exercise", []string{"--data", empty}, 1, "no exercise in " + empty},
		{"dir that does not exist", []string{"--data", filepath.Join(empty, "nope")}, 1, "no exercise in"},
		{"unwritable output", []string{"--data", data, "-o", filepath.Join(empty, "no", "such", "dir", "r.html")}, 1, "write report"},
	} {
		_, stderr, code := run(t, append([]string{"report"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%s: exit %d, want %d; stderr %q, want it to contain %q", c.name, code, c.code, stderr, c.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(empty, "events.db")); err == nil {
		t.Error("icsrange report created an event log in a dir that had none")
	}
	if _, _, code := run(t, "report", "-h"); code != 0 {
		t.Errorf("report -h: exit %d", code)
	}
}
