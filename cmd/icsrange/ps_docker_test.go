package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend/docker"
)

// execBinary runs the binary and returns its stdout, stderr and exit code.
func execBinary(t *testing.T, ctx context.Context, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("icsrange %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), 0
}

// psFind runs icsrange ps --json and returns the exercise with the id, nil
// when it is not listed.
func psFind(t *testing.T, ctx context.Context, id string) *docker.Exercise {
	t.Helper()
	out, stderr, code := execBinary(t, ctx, "ps", "--json")
	if code != 0 {
		t.Fatalf("ps --json: exit %d: %s", code, stderr)
	}
	var got struct{ Exercises []docker.Exercise }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("ps --json: %v\n%s", err, out)
	}
	for i := range got.Exercises {
		if got.Exercises[i].ID == id {
			return &got.Exercises[i]
		}
	}
	return nil
}

// Plants whose data dir is gone: ps lists the running exercise with an
// engine attached and down --exercise refuses it; after kill -9 of the
// engine and the data dir deleted, ps still lists it, with the engine gone
// once its lease expires; down --exercise then leaves no container,
// network or volume with its label, and says so again when run twice.
func TestDockerPsDownExercise(t *testing.T) {
	cli := dockerClient(t)
	data := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(binary, "run", waterScenario, "--backend", "docker", "--teams", "1",
		"--start", "now", "--speed", "1", "--data", data, "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id := ""
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if id == "" {
			// Stopped before it printed the id: the event log has it.
			id, _ = exerciseMeta(context.Background(), data, "exercise_id")
		}
		if id != "" {
			(&docker.Backend{Client: cli}).Destroy(context.Background(), id)
		}
	})
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if id == "" && strings.HasPrefix(line, "exercise ") {
			id = strings.Fields(line)[1]
		}
		if strings.HasPrefix(line, "Endpoints:") {
			break
		}
	}
	deadline.Stop()
	if id == "" {
		t.Fatalf("the exercise never came up:\n%s", out.String())
	}
	go io.Copy(io.Discard, stdout) // the engine must never block on its output

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Poll: the engine's first advances come as its clock starts.
	var x *docker.Exercise
	for until := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if x = psFind(t, ctx, id); x != nil && x.Engine.State == docker.EngineAttached && x.Engine.ClockMS > 0 {
			break
		}
		if time.Now().After(until) {
			t.Fatalf("ps never showed %s with its engine attached and advancing: %+v\n%s", id, x, out.String())
		}
	}
	// water-treatment: a router, 2 PLCs and 3 hosts; 3 zones and access.
	if x.Scenario != "water-treatment" || !reflect.DeepEqual(x.Teams, []string{"team-1"}) || x.Containers != 6 || x.Running != 6 ||
		x.Networks != 4 || x.Volumes != 1 || time.Since(x.Created) > time.Hour {
		t.Fatalf("ps lists %+v; want water-treatment, team-1, 6 of 6 containers running, 4 networks, 1 volume, created just now", x)
	}
	if _, stderr, code := execBinary(t, ctx, "down", "--exercise", id); code != 1 || !strings.Contains(stderr, "an engine is attached") {
		t.Fatalf("down --exercise with the engine running: exit %d, %s; want 1 and a refusal", code, stderr)
	}
	if _, all, nets, vols := labelled(t, cli, id); all != 6 || nets != 4 || vols != 1 {
		t.Fatalf("a refused down took something: %d containers, %d networks, %d volumes left", all, nets, vols)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	// The lease expires LeaseTTL after the engine's last advance.
	for until := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		if x = psFind(t, ctx, id); x == nil {
			t.Fatalf("ps no longer lists %s after the engine died and its data dir went", id)
		}
		if x.Engine.State == docker.EngineDetached {
			break
		}
		if time.Now().After(until) {
			t.Fatalf("the killed engine still shows attached: %+v", x.Engine)
		}
	}
	if x.Running != 6 || !strings.Contains(x.Engine.Detail, "vanished") {
		t.Errorf("after kill -9: %+v; want 6 containers still running and an engine that vanished", x)
	}
	table, stderr, code := execBinary(t, ctx, "ps")
	if code != 0 || !strings.Contains(table, "ENGINE") {
		t.Fatalf("ps: exit %d: %s%s", code, table, stderr)
	}
	var row string
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, id+" ") {
			row = l
		}
	}
	for _, want := range []string{"water-treatment", "1 (team-1)", "6/6 running", "no (its engine vanished"} {
		if !strings.Contains(row, want) {
			t.Errorf("ps table row %q lacks %q:\n%s", row, want, table)
		}
	}

	res, stderr, code := execBinary(t, ctx, "down", "--exercise", id)
	if code != 0 || !strings.Contains(res, "removed 6 containers, 4 networks and 1 volume of "+id) {
		t.Fatalf("down --exercise: exit %d: %s%s", code, res, stderr)
	}
	if r, a, n, v := labelled(t, cli, id); r+a+n+v != 0 {
		t.Fatalf("after down --exercise: %d containers, %d networks, %d volumes labelled with %s", a, n, v, id)
	}
	if res, stderr, code = execBinary(t, ctx, "down", "--exercise", id); code != 0 || !strings.Contains(res, "nothing to remove") {
		t.Fatalf("a second down --exercise: exit %d: %s%s; want 0 and nothing to remove", code, res, stderr)
	}
	if x = psFind(t, ctx, id); x != nil {
		t.Fatalf("ps still lists the removed exercise: %+v", x)
	}
}
