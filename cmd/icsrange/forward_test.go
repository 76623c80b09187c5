package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/internal/testtool"
	"github.com/icsrange/icsrange/plant-sim/modbus"
	"github.com/icsrange/icsrange/scoreboard"
)

// fwdScenario gives both teams the same two PLCs, with unit ids 1 and 2.
const fwdScenario = `
id: forward-cli-test
version: 1
title: {en: forward test, ja: フォワードテスト}
description: {en: a test, ja: テスト}
duration: 30m
teams: {min: 1, max: 4}
plant:
  zones: [{id: control}]
  plcs:
    - {id: intake, model: water-tank, zone: control, noise: 0, params: {level0_m: 2.5, level_sp_m: 2.5}}
    - {id: clearwell, model: water-tank, zone: control, unit_id: 2, noise: 0, params: {level0_m: 3, level_sp_m: 3}}
  hosts:
    - {id: hmi, role: hmi, zone: control}
objectives:
  - {id: safe, title: Safe, points: 30, fail_when: "plant.intake.level > 3.8", penalty: 10}
`

// fwdServer is a running exercise of fwdScenario for team-1 and team-2,
// served on 127.0.0.1.
type fwdServer struct {
	x   *engine.Exercise
	s   *scoreboard.Server
	url string
	tok engine.Tokens
}

func newFwdServer(t *testing.T, fo scoreboard.ForwardOptions) *fwdServer {
	t.Helper()
	return newFwdServerOn(t, fo, &inproc.Backend{}, "inproc")
}

// newFwdServerOn is newFwdServer with the plants on be.
func newFwdServerOn(t *testing.T, fo scoreboard.ForwardOptions, be backend.Backend, name string) *fwdServer {
	t.Helper()
	sc, err := scenario.Load("forward-cli-test.yaml", []byte(fwdScenario))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	x, err := engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(fwdScenario), ScenarioPath: "forward-cli-test.yaml",
		Teams: []string{"team-1", "team-2"}, DataDir: t.TempDir(), Backend: be, BackendName: name, Seed: 5})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := x.Start(ctx, "test"); err != nil {
		cancel()
		x.Close()
		t.Fatal(err)
	}
	s := scoreboard.New(x, scoreboard.Options{Forward: fo})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		x.Close()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.Start(ctx) })
	wg.Go(func() { s.ListenAndServe(ctx, ln, "", "") })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		x.Close()
	})
	return &fwdServer{x: x, s: s, url: "http://" + ln.Addr().String(), tok: x.Tokens()}
}

// direct is a Modbus client straight to a team's PLC.
func (f *fwdServer) direct(t *testing.T, team, plc string) *modbus.Client {
	t.Helper()
	for _, e := range f.x.Endpoints() {
		if e.Team == team && e.PLC == plc {
			c, err := modbus.Dial(context.Background(), e.Modbus)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
	}
	t.Fatalf("no PLC %s/%s", team, plc)
	return nil
}

func (f *fwdServer) control(t *testing.T, op string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.url+"/api/control/"+op, nil)
	req.Header.Set("Authorization", "Bearer "+f.tok.Instructor)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("%s: %d", op, res.StatusCode)
	}
}

// fwdLine is what icsrange forward prints per PLC.
var fwdLine = regexp.MustCompile(`(?m)^(\S+) \(unit (\d+)\) → (127\.0\.0\.1:(\d+))  try: mbpoll -m tcp -a (\d+) -p (\d+) -t 3 -r 1 -c 4 127\.0\.0\.1$`)

// fwdPorts waits for the forwarder's lines and returns PLC id → address.
func fwdPorts(t *testing.T, out func() string, n int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ms := fwdLine.FindAllStringSubmatch(out(), -1)
		if len(ms) >= n {
			got := map[string]string{}
			for _, m := range ms {
				if m[2] != m[5] || m[4] != m[6] {
					t.Fatalf("hint does not match the listener: %q", m[0])
				}
				got[m[1]] = m[3]
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("icsrange forward printed no listeners:\n%s", out())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var mbpollLine = regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(\d+)`)

// runMbpoll runs mbpoll against addr and returns the registers it printed.
func runMbpoll(t *testing.T, path, addr string, unit int, opts []string, values ...string) map[int]uint16 {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"-m", "tcp", "-a", strconv.Itoa(unit), "-p", port, "-o", "2", "-1"}, opts...)
	args = append(args, "127.0.0.1")
	args = append(args, values...)
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mbpoll %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	got := map[int]uint16{}
	for _, m := range mbpollLine.FindAllStringSubmatch(string(out), -1) {
		ref, _ := strconv.Atoi(m[1])
		v, _ := strconv.Atoi(m[2])
		got[ref] = uint16(v)
	}
	return got
}

// A real mbpoll through the built binary: it reads the team's PLCs' input
// registers, writes only the team's own PLC, shows in the team's traffic
// log, and Ctrl-C ends the forwarder with exit 0.
func TestForwardMbpoll(t *testing.T) {
	mb := testtool.Need(t, "mbpoll", "mbpoll")
	f := newFwdServer(t, scoreboard.ForwardOptions{})
	cmd := exec.Command(binary, "forward", "--server", f.url, "--token", f.tok.Teams["team-1"])
	var out, errb fwdBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addrs := fwdPorts(t, out.String, 2)
	if addrs["intake"] == "" || addrs["clearwell"] == "" || !strings.Contains(out.String(), "clearwell (unit 2)") {
		t.Fatalf("listeners: %v\n%s", addrs, out.String())
	}

	for _, p := range []struct {
		id   string
		unit int
	}{{"intake", 1}, {"clearwell", 2}} {
		got := runMbpoll(t, mb, addrs[p.id], p.unit, []string{"-t", "3", "-r", "1", "-c", "4"})
		want, err := f.direct(t, "team-1", p.id).ReadInputRegisters(byte(p.unit), 0, 4)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if g, ok := got[i+1]; !ok || g != w {
				t.Fatalf("%s: mbpoll read %v, team-1's PLC has %v", p.id, got, want)
			}
		}
	}

	// A write through team-1's forwarder changes team-1's intake only
	// (team-2 has an "intake" too).
	before2, err := f.direct(t, "team-2", "intake").ReadHoldingRegisters(1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	runMbpoll(t, mb, addrs["intake"], 1, []string{"-t", "4", "-r", "1"}, "23456")
	h1, _ := f.direct(t, "team-1", "intake").ReadHoldingRegisters(1, 0, 1)
	h2, _ := f.direct(t, "team-2", "intake").ReadHoldingRegisters(1, 0, 1)
	if h1[0] != 23456 || h2[0] != before2[0] {
		t.Fatalf("after writing 23456 through team-1's forwarder: team-1 intake %d, team-2 intake %d (was %d)", h1[0], h2[0], before2[0])
	}

	// The sessions are in team-1's traffic log as forwarded, not team-2's.
	if err := f.x.Step(context.Background(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	rows, err := f.x.Store().Traffic(context.Background(), store.TrafficFilter{Team: "team-1", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	fwd := map[string]int{}
	for _, r := range rows {
		if r.Note == "forwarded for team-1" && strings.HasPrefix(r.Source, "127.0.0.1:") {
			fwd[r.PLC]++
		}
	}
	if fwd["intake"] < 2 || fwd["clearwell"] < 1 {
		t.Fatalf("team-1's traffic log: forwarded rows %v, want intake ≥ 2 and clearwell ≥ 1: %+v", fwd, rows)
	}
	rows2, _ := f.x.Store().Traffic(context.Background(), store.TrafficFilter{Team: "team-2", Limit: 500})
	for _, r := range rows2 {
		if strings.Contains(r.Note, "forward") {
			t.Fatalf("team-2's traffic log holds %+v", r)
		}
	}

	// Ctrl-C: a clean stop, exit 0.
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("after Ctrl-C: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("icsrange forward did not stop on Ctrl-C\n%s", out.String())
	}
	if !strings.Contains(out.String(), "Stopped; 3 forwarded connection(s) served") {
		t.Fatalf("stdout:\n%s", out.String())
	}
	if errb.String() != "" {
		t.Fatalf("stderr:\n%s", errb.String())
	}
}

// fwdBuffer is a bytes.Buffer safe for a writer and a reader at once.
type fwdBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *fwdBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *fwdBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startForward runs icsrange forward in process until the test ends.
func startForward(t *testing.T, args ...string) (stdout, stderr *fwdBuffer, stop func() int) {
	t.Helper()
	stdout, stderr = &fwdBuffer{}, &fwdBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	m := &Main{Stdout: stdout, Stderr: stderr}
	go func() { code <- m.Run(ctx, append([]string{"forward"}, args...)) }()
	var once sync.Once
	var c int
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case c = <-code:
			case <-time.After(10 * time.Second):
				t.Errorf("icsrange forward did not stop")
				c = -1
			}
		})
		return c
	}
	t.Cleanup(func() { stop() })
	return stdout, stderr, stop
}

// waitFor polls s until it holds want.
func waitFor(t *testing.T, what string, s func() string, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q in:\n%s", what, want, s())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// closedSoon asserts the server side of a local connection goes away.
func closedSoon(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 16)); err == nil {
		t.Fatalf("%s: local connection still open", what)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("%s: local connection not closed", what)
	}
}

func TestForwardClientErrors(t *testing.T) {
	f := newFwdServer(t, scoreboard.ForwardOptions{MaxConns: 1, Off: true})
	t1 := f.tok.Teams["team-1"]
	for _, c := range []struct {
		what string
		args []string
		code int
		want string
	}{
		{"no token", []string{"--server", f.url}, 2, "give your team token"},
		{"--local without --plc", []string{"--server", f.url, "--token", t1, "--local", "127.0.0.1:0"}, 2, "--local needs --plc"},
		{"unknown token", []string{"--server", f.url, "--token", "nope"}, 1, "rejected the token"},
		{"instructor token", []string{"--server", f.url, "--token", f.tok.Instructor}, 1, "not a team token"},
		{"no such PLC", []string{"--server", f.url, "--token", t1, "--plc", "reactor"}, 1, `team team-1 has no PLC "reactor" (its PLCs: intake, clearwell)`},
		{"bad url", []string{"--server", "ftp://x", "--token", t1}, 2, "want http(s)://host:port"},
	} {
		t.Setenv("ICSRANGE_TOKEN", "")
		_, stderr, code := run(t, append([]string{"forward"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Fatalf("%s: exit %d (want %d), stderr %q (want %q)", c.what, code, c.code, stderr, c.want)
		}
	}

	// One PLC on a given port (a bare port means 127.0.0.1).
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	out, stderr, stop := startForward(t, "--server", f.url, "--token", t1, "--plc", "clearwell", "--local", port)
	addrs := fwdPorts(t, out.String, 1)
	if len(addrs) != 1 || addrs["clearwell"] != "127.0.0.1:"+port {
		t.Fatalf("listeners %v, want clearwell on 127.0.0.1:%s", addrs, port)
	}
	addr := addrs["clearwell"]

	// Forwarding is off: the local connection is closed and the reason shown.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	closedSoon(t, c, "forwarding off")
	waitFor(t, "refused while off", stderr.String, "clearwell: the server refused the connection from 127.0.0.1:")
	waitFor(t, "refused while off", stderr.String, "403 forwarding_off: forwarding is off")

	// On: it works, and the team's limit (1 here) refuses a second one.
	f.control(t, "forwarding-on")
	c1, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	mc := modbus.NewClient(c1)
	want, _ := f.direct(t, "team-1", "clearwell").ReadInputRegisters(2, 0, 4)
	got, err := mc.ReadInputRegisters(2, 0, 4)
	if err != nil || !slicesEqual(got, want) {
		t.Fatalf("read through the forwarder: %v %v, want %v", got, err, want)
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	closedSoon(t, c2, "over the limit")
	waitFor(t, "over the limit", stderr.String, "429 too_many_tunnels")

	// Off again: the open tunnel closes and says why.
	f.control(t, "forwarding-off")
	c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(bufio.NewReader(c1)); err != nil {
		t.Fatalf("open connection when forwarding went off: %v", err)
	}
	waitFor(t, "switched off", stderr.String, "clearwell: the server closed the tunnel: forwarding is off")

	if code := stop(); code != 0 {
		t.Fatalf("exit %d after Ctrl-C\n%s", code, stderr.String())
	}
	if !strings.Contains(out.String(), "Stopped;") {
		t.Fatalf("stdout:\n%s", out.String())
	}
}

func slicesEqual(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
