package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/icsrange/icsrange/engine/backend/docker"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/internal/testtool"
	"github.com/icsrange/icsrange/scoreboard"
)

// dockerClient is a client of a daemon that answers; without one the test
// skips, except in CI, where that is a failure.
func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Docker daemon answers: %v", err)
		}
		t.Skipf("no Docker daemon answers: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// labelled counts an exercise's running containers, all its containers,
// networks and volumes.
func labelled(t *testing.T, cli *client.Client, id string) (running, all, nets, vols int) {
	t.Helper()
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", docker.LabelExercise+"="+id))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.State == "running" {
			running++
		}
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	return running, len(cs), len(ns), len(vs.Volumes)
}

// The operator's path with --backend docker: run prints each team's
// endpoints on the --expose address; kill -9 leaves the containers
// running; --resume re-attaches and plays to the end; --keep, given at the
// start only, leaves the plants; down removes every labelled container,
// network and volume.
func TestDockerRunKillResumeDown(t *testing.T) {
	cli := dockerClient(t)
	data := t.TempDir()
	cmd := exec.Command(binary, "run", waterScenario, "--backend", "docker", "--expose", "127.0.0.2", "--keep", "--teams", "2",
		"--start", "now", "--speed", "60", "--data", data, "--listen", "127.0.0.1:0")
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
		if id != "" {
			(&docker.Backend{Client: cli}).Destroy(context.Background(), id)
		}
	})
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
	fired := 0
	for fired < 2 && sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if id == "" && strings.HasPrefix(line, "exercise ") {
			id = strings.Fields(line)[1]
		}
		if strings.Contains(line, `Inject "Setpoint change" fired`) {
			fired++
		}
	}
	deadline.Stop()
	if fired < 2 {
		t.Fatalf("the setpoint attack never fired in both teams:\n%s", out.String())
	}
	for _, team := range []string{"team-1", "team-2"} {
		if !strings.Contains(out.String(), "  "+team+" ") || !strings.Contains(out.String(), "=127.0.0.2:") {
			t.Fatalf("no endpoints on the --expose address for %s:\n%s", team, out.String())
		}
	}
	if !strings.Contains(out.String(), "healthy") {
		t.Errorf("no spin-up progress (healthy containers) shown:\n%s", out.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	running, all, _, _ := labelled(t, cli, id)
	if running == 0 || running != all {
		t.Fatalf("after kill -9 of the engine: %d of %d containers running, want all", running, all)
	}
	before := readLog(t, data, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// --keep and --expose were kept with the exercise: the resume keeps
	// the plants without being told again.
	res, err := exec.CommandContext(ctx, binary, "run", "--resume", "--data", data, "--speed", "600", "--linger", "0").CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, res)
	}
	after := readLog(t, data, nil)
	if !after.ended || after.recovered != 1 {
		t.Fatalf("after resume: ended %v recovered %d\n%s", after.ended, after.recovered, res)
	}
	if after.fired["team-1/tamper"] != 1 || before.fired["team-1/tamper"] != 1 {
		t.Errorf("the setpoint attack fired %d times before the kill and %d in all", before.fired["team-1/tamper"], after.fired["team-1/tamper"])
	}
	if _, all, nets, _ := labelled(t, cli, id); all != running || nets == 0 {
		t.Fatalf("--keep: %d containers and %d networks left, want the %d containers and their networks", all, nets, running)
	}

	res, err = exec.CommandContext(ctx, binary, "down", "--data", data).CombinedOutput()
	if err != nil {
		t.Fatalf("down: %v\n%s", err, res)
	}
	if r, a, n, v := labelled(t, cli, id); r+a+n+v != 0 {
		t.Fatalf("after down: %d containers, %d networks, %d volumes labelled with %s", a, n, v, id)
	}
	res, err = exec.CommandContext(ctx, binary, "down", "--data", data).CombinedOutput()
	if err != nil {
		t.Fatalf("a second down: %v\n%s", err, res)
	}
}

// icsrange forward to Docker plants: mbpoll reads and writes team-1's PLC
// through the tunnel, and the traffic log names the session as forwarded
// for team-1 although the PLC is behind Docker's networking.
func TestForwardDocker(t *testing.T) {
	mb := testtool.Need(t, "mbpoll", "mbpoll")
	cli := dockerClient(t)
	be := &docker.Backend{Binary: binary, Client: cli}
	f := newFwdServerOn(t, scoreboard.ForwardOptions{}, be, "docker")
	t.Cleanup(func() { be.Destroy(context.Background(), f.x.ID()) })
	cmd := exec.Command(binary, "forward", "--server", f.url, "--token", f.tok.Teams["team-1"], "--plc", "intake")
	var out, errb fwdBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := fwdPorts(t, out.String, 1)["intake"]
	if addr == "" {
		t.Fatalf("no listener for intake:\n%s%s", out.String(), errb.String())
	}
	runMbpoll(t, mb, addr, 1, []string{"-t", "4", "-r", "1"}, "23456")
	got := runMbpoll(t, mb, addr, 1, []string{"-t", "4", "-r", "1", "-c", "1"})
	if got[1] != 23456 {
		t.Fatalf("read back through the tunnel: %v, want 23456", got)
	}
	if err := f.x.Step(context.Background(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	rows, err := f.x.Store().Traffic(context.Background(), store.TrafficFilter{Team: "team-1", PLC: "intake", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	forwarded := 0
	for _, r := range rows {
		if r.Note == "forwarded for team-1" {
			forwarded++
		}
	}
	if forwarded < 2 {
		t.Fatalf("team-1's traffic log has %d forwarded rows, want the write and the read: %+v", forwarded, rows)
	}
}
