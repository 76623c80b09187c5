package terraform_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend/terraform"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/internal/testtool"
)

var icsrangeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "icsrange-tf-")
	if err != nil {
		panic(err)
	}
	icsrangeBin = filepath.Join(dir, "icsrange")
	build := exec.Command("go", "build", "-o", icsrangeBin, "../../../cmd/icsrange")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const scenarioText = `
id: tf-test
version: 1
title: terraform test
duration: 10m
plant:
  zones: [{id: it}, {id: control}]
  conduits: [{from: it, to: control, ports: [502]}]
  plcs:
    - {id: tank, model: water-tank, zone: control, noise: 0, params: {level0_m: 2.5}, frame_timeout: 2s}
    - {id: feeder, model: breaker, zone: control, unit_id: 2}
  hosts: [{id: attacker, role: attacker, zone: it, address: 10.9.9.9}]
injects:
  - id: attack
    at: 1m
    do: [{modbus_write: {from: attacker, plc: tank, register: level_sp, value: 4.5}}]
    tags: [T0836]
questions:
  - {id: q, prompt: which register, answer: {number: 0}}
actions:
  - {id: isolate, title: isolate, do: [{cut_conduit: {from: it, to: control}}]}
objectives:
  - {id: detect, category: detect, points: 100, when: "answered('q')"}
  - {id: raised, points: 10, when: "plant.tank.level_sp > 4"}
  - {id: safe, points: 50, fail_when: "plant.tank.overflow"}
`

func module(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("../../../deploy/terraform/local")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// pidsOf reads the pid files the local module leaves in the work dir.
func pidsOf(t *testing.T, dir string) []int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, terraform.WorkDir, "*.pid"))
	var pids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// waitGone waits for processes to exit (kill is asynchronous).
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still running after destroy", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// A 2-team exercise on the local module comes up, scores on the real
// plant state, survives an engine restart and is destroyed, leaving no
// processes behind.
func TestLocalModuleExercise(t *testing.T) {
	bin := testtool.Terraform(t)
	ctx := context.Background()
	sc, err := scenario.Load("tf.yaml", []byte(scenarioText))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	be := &terraform.Backend{Module: module(t), Terraform: bin, Icsrange: icsrangeBin, DataDir: dir}
	x, err := engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(scenarioText), Teams: []string{"a", "b"},
		DataDir: dir, Backend: be, BackendName: "terraform", Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			be.Destroy(context.Background(), x.ID())
		}
	})
	pids := pidsOf(t, dir)
	if len(pids) != 4 {
		t.Fatalf("want 4 PLC processes, pid files say %v", pids)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("PLC process %d is not running", pid)
		}
	}
	for _, ep := range x.Endpoints() {
		if ep.Mgmt != "" {
			t.Fatalf("trainee endpoints leak the management address %s", ep.Mgmt)
		}
		if ep.Team == "a" && ep.PLC == "tank" {
			checkFrameTimeout(t, ep.Modbus, 2*time.Second)
		}
	}
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if err := x.Step(ctx, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Answer(ctx, "a", "q", "0"); err != nil {
		t.Fatal(err)
	}
	if err := x.Step(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	// The attack crossed real TCP to the PLC processes and the engine saw
	// its effect through the management API.
	for _, team := range []string{"a", "b"} {
		v, err := x.TeamView(team)
		if err != nil {
			t.Fatal(err)
		}
		st := map[string]string{}
		for _, o := range v.Objectives {
			st[o.ID] = o.Status
		}
		if st["raised"] != engine.StatusAchieved {
			t.Fatalf("team %s: the attack's write did not reach the remote PLC (objectives %v)", team, st)
		}
		if team == "a" && (st["detect"] != engine.StatusAchieved || v.Score != 110) {
			t.Fatalf("team a: score %d, objectives %v", v.Score, st)
		}
	}

	// Restart the engine: it re-attaches to the running PLCs.
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x2, err := engine.Open(ctx, dir, be, func(path string, y []byte) (*scenario.Scenario, error) { return scenario.Load(path, y) })
	if err != nil {
		t.Fatal(err)
	}
	if err := x2.Step(ctx, sc.Duration); err != nil {
		t.Fatal(err)
	}
	s := x2.Summary()
	if s.Phase != engine.PhaseEnded {
		t.Fatalf("phase %s after the end", s.Phase)
	}
	for _, tm := range s.Teams {
		if tm.Name == "a" && tm.Score < 110 {
			t.Fatalf("team a lost its score across the restart: %d", tm.Score)
		}
	}
	x2.Close()

	if err := be.Destroy(ctx, ""); err != nil {
		t.Fatal(err)
	}
	destroyed = true
	waitGone(t, pids)
	if left := pidsOf(t, dir); len(left) != 0 {
		t.Fatalf("pid files left after destroy: %v", left)
	}
	// Destroy is idempotent.
	if err := be.Destroy(ctx, ""); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
}

// A failed apply destroys what it made and says why.
func TestFailedApplyLeavesNothing(t *testing.T) {
	bin := testtool.Terraform(t)
	ctx := context.Background()
	mod := t.TempDir()
	for _, f := range []string{"main.tf", "variables.tf", "outputs.tf"} {
		b, err := os.ReadFile(filepath.Join(module(t), f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(mod, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(mod, "boom.tf"), []byte(`
resource "terraform_data" "boom" {
  depends_on = [terraform_data.plc]
  provisioner "local-exec" {
    command = "echo the cloud said no >&2; exit 1"
  }
}
`), 0o644)
	sc, err := scenario.Load("tf.yaml", []byte(scenarioText))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	be := &terraform.Backend{Module: mod, Terraform: bin, Icsrange: icsrangeBin, DataDir: dir}
	_, err = engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(scenarioText), Teams: []string{"a", "b"},
		DataDir: dir, Backend: be, BackendName: "terraform", Seed: 3})
	if err == nil {
		t.Fatal("an exercise came up on a failing module")
	}
	if !strings.Contains(err.Error(), "terraform apply") || !strings.Contains(err.Error(), "the cloud said no") {
		t.Fatalf("the error should carry terraform's message: %v", err)
	}
	log, _ := os.ReadFile(filepath.Join(dir, terraform.WorkDir, terraform.LogFile))
	if !strings.Contains(string(log), "Destroy complete!") {
		t.Fatalf("no destroy after the failed apply; log:\n%s", log)
	}
	// Every PLC the apply started is gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("pgrep", "-f", filepath.Join(dir, terraform.WorkDir)).Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left after the failed apply: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkFrameTimeout checks that the PLC at addr closes a connection whose
// frame stays incomplete after timeout, and not before: the scenario's
// frame_timeout went through the module to the process.
func checkFrameTimeout(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte{0, 1, 0}); err != nil { // the start of an MBAP header
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = conn.Read(make([]byte, 16))
	var ne net.Error
	if el := time.Since(start); err == nil || errors.As(err, &ne) && ne.Timeout() || el < timeout {
		t.Fatalf("PLC %s: read %v after %v of a partial frame; want it closed after the frame timeout of %v", addr, err, el, timeout)
	}
}
