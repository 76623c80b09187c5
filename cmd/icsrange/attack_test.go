package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/plctest"
)

// servePLC serves a noiseless water-tank PLC on 127.0.0.1:0.
func servePLC(t *testing.T) (*plantsim.PLC, string) {
	t.Helper()
	plc := plctest.WaterTank(t)
	_, addr := plctest.Serve(t, plc, plantsim.ServerConfig{MaxClients: 8})
	return plc, addr
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestAttackCLIExitCodes(t *testing.T) {
	plc, addr := servePLC(t)
	closed := closedPort(t)
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"attack", "write", "--target", addr, "--addr", "0", "--value", "29491"}, 0, "ok: wrote 29491 to " + addr + " unit 1 register 0\n", ""},
		{[]string{"attack", "coil", "--target", addr, "--addr", "1", "--value", "1"}, 0, "ok: wrote 1 to " + addr + " unit 1 coil 1\n", ""},
		{[]string{"attack", "scan", "--target", addr + "," + closed}, 0, "ok: scan found " + addr + " (icsrange ICSR-water-tank", ""},
		{[]string{"attack", "flood", "--target", addr, "--for", "300ms", "--slots", "4"}, 0, "ok: flooding " + addr + " with 4 connections\nflood ended after", ""},
		{[]string{"attack", "write", "--target", closed, "--value", "1"}, 3, "blocked: could not connect to " + closed + ": connection refused\n", ""},
		{[]string{"attack", "flood", "--target", closed, "--for", "1s"}, 3, "blocked: ", ""},
		{[]string{"attack", "write", "--target", addr, "--addr", "9999", "--value", "1"}, 1, "", "modbus exception 02: illegal data address"},
		{[]string{"attack"}, 2, "", "which attack?"},
		{[]string{"attack", "nuke", "--target", addr}, 2, "", `unknown attack kind "nuke"`},
		{[]string{"attack", "write"}, 2, "", "no targets"},
		{[]string{"attack", "write", "--target", addr, "--bogus"}, 2, "", "flag provided but not defined"},
		{[]string{"attack", "write", "--target", addr, "--value", "70000"}, 2, "", "0..65535"},
		{[]string{"attack", "coil", "--target", addr, "--value", "2"}, 2, "", "a coil value is 0 or 1"},
		{[]string{"attack", "write", "--target", addr, "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"attack", "-h"}, 0, "", "exit status: 0 done, 3 blocked"},
		{[]string{"attack", "write", "-h"}, 0, "", "usage: icsrange attack"},
	} {
		stdout, stderr, code := run(t, c.args...)
		if code != c.code || !strings.HasPrefix(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q…, stderr containing %q",
				strings.Join(c.args, " "), code, stdout, stderr, c.code, c.stdout, c.stderr)
		}
	}
	plc.Advance(plc.Now() + plc.ScanPeriod())
	for _, v := range plc.Tags() {
		if (v.Name == "level_sp" && (v.Truth < 4.49 || v.Truth > 4.51)) || (v.Name == "pump1_run" && v.Truth != 1) {
			t.Errorf("%s = %v after the attacks", v.Name, v.Truth)
		}
	}
}

// The flood runs until interrupted; an interrupt is a clean stop.
func TestAttackCLIFloodInterrupt(t *testing.T) {
	_, addr := servePLC(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	var out, errb strings.Builder
	m := &Main{Stdout: &out, Stderr: &errb}
	start := time.Now()
	if code := m.Run(ctx, []string{"attack", "flood", "--target", addr, "--for", "1h", "--slots", "2"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if d := time.Since(start); d > 5*time.Second || !strings.Contains(out.String(), "flood ended") {
		t.Fatalf("after %v: %s", d, out.String())
	}
}

// startBinary runs the icsrange binary (under prefix, e.g. unshare -n) and
// returns it once its first output line has come.
func startBinary(t *testing.T, prefix []string, args ...string) (*exec.Cmd, string, *bufio.Scanner) {
	t.Helper()
	argv := append(append([]string{}, prefix...), append([]string{binary}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	if !sc.Scan() {
		cmd.Wait()
		t.Fatalf("%s: no output; stderr: %s", strings.Join(args, " "), stderr.String())
	}
	return cmd, sc.Text(), sc
}

// stop sends SIGTERM and returns the exit code and the rest of stdout.
func stop(t *testing.T, cmd *exec.Cmd, sc *bufio.Scanner) (int, string) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for sc.Scan() {
		rest = append(rest, sc.Text())
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), strings.Join(rest, "\n")
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, strings.Join(rest, "\n")
}

func tokenFile(t *testing.T) (string, string) {
	t.Helper()
	tok := "test-token-0123456789abcdef"
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f, tok
}

func TestHostCommand(t *testing.T) {
	plc, addr := servePLC(t)
	file, tok := tokenFile(t)
	cmd, first, sc := startBinary(t, nil, "host", "--id", "attacker", "--agent", "127.0.0.1:0", "--token-file", file)
	agent, ok := strings.CutPrefix(first, "host attacker agent=")
	if !ok {
		t.Fatalf("first line %q", first)
	}
	call := func(method, path, body string, out any) int {
		req, _ := http.NewRequest(method, "http://"+agent+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, b)
			}
		}
		return resp.StatusCode
	}
	var h struct {
		OK      bool   `json:"ok"`
		Host    string `json:"host"`
		Attacks int    `json:"attacks"`
	}
	if code := call("GET", "/v1/health", "", &h); code != 200 || !h.OK || h.Host != "attacker" {
		t.Fatalf("health: %d %+v", code, h)
	}
	var res struct{ Outcome, Detail string }
	body := fmt.Sprintf(`{"kind":"write","targets":[%q],"unit":1,"addr":0,"value":29491}`, addr)
	if code := call("POST", "/v1/attack", body, &res); code != 200 || res.Outcome != "ok" {
		t.Fatalf("write: %d %+v", code, res)
	}
	body = fmt.Sprintf(`{"kind":"flood","targets":[%q],"for_ms":60000,"slots":4}`, addr)
	if code := call("POST", "/v1/attack", body, &res); code != 200 || res.Detail != "flooding "+addr+" with 4 connections" {
		t.Fatalf("flood: %d %+v", code, res)
	}
	if call("GET", "/v1/health", "", &h); h.Attacks != 1 {
		t.Fatalf("health during the flood: %+v", h)
	}
	// SIGTERM ends the floods and the agent, cleanly.
	code, rest := stop(t, cmd, sc)
	if code != 0 || !strings.Contains(rest, "host attacker stopped") {
		t.Fatalf("exit %d: %s", code, rest)
	}
	plc.Advance(plc.Now() + plc.ScanPeriod())
	var clients int
	for _, a := range plc.Capture(0).Audit {
		switch a.Kind {
		case "connect":
			clients++
		case "disconnect":
			clients--
		}
	}
	if clients != 0 {
		t.Fatalf("%d connections open after the agent stopped", clients)
	}

	for _, c := range [][]string{
		{"host"},
		{"host", "--id", "x", "--route", "10.0.0.0/8"},
		{"host", "--id", "x", "extra"},
	} {
		if _, stderr, code := run(t, c...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", c, code, stderr)
		}
	}
}

func TestRouterCommandUsage(t *testing.T) {
	for _, c := range [][]string{
		{"router", "--conduit", "10.128.1.0/24>10.128.2.0/24"},
		{"router", "--conduit", "10.128.1.0/24>10.128.2.0/24:0"},
		{"router", "--mgmt", "nope"},
		{"router", "extra"},
	} {
		if _, stderr, code := run(t, c...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", c, code, stderr)
		}
	}
	if _, stderr, code := run(t, "router", "-h"); code != 0 || !strings.Contains(stderr, "-conduit") {
		t.Errorf("router -h: exit %d: %s", code, stderr)
	}
}

// namespaced returns the command prefix that runs a process in a fresh
// network namespace, or skips: namespaces need root.
func namespaced(t *testing.T) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs the command in its own network namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1)")
	}
	if err := exec.Command(unshare, "-n", "true").Run(); err != nil {
		t.Skipf("unshare -n does not work here: %v", err)
	}
	return []string{unshare, "-n"}
}

// procCaps reads a process's capability sets.
func procCaps(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for l := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && (strings.HasPrefix(k, "Cap") || k == "NoNewPrivs") {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// The router in a namespace of its own: rule set applied, every capability
// but CAP_NET_ADMIN dropped, SIGTERM removes the table and exits 0. (The
// package tests check the rules and the API.)
func TestRouterCommand(t *testing.T) {
	prefix := namespaced(t)
	file, _ := tokenFile(t)
	cmd, first, sc := startBinary(t, prefix, "router", "--mgmt", "127.0.0.1:9040", "--token-file", file,
		"--conduit", "10.128.1.0/24>10.128.2.0/24:502,3389", "--conduit", "10.128.2.0/24>10.128.1.0/24:any")
	if strings.Contains(first, "nftables") {
		t.Skipf("no nftables here: %s", first)
	}
	if !strings.HasPrefix(first, "router mgmt=127.0.0.1:9040 conduits=2 open=2 rules=9 table=inet icsrange") {
		t.Fatalf("first line %q", first)
	}
	caps := procCaps(t, cmd.Process.Pid)
	if caps["CapEff"] != "0000000000001000" || caps["CapPrm"] != "0000000000001000" || caps["NoNewPrivs"] != "1" {
		t.Fatalf("capabilities: %v", caps)
	}
	code, rest := stop(t, cmd, sc)
	if code != 0 || !strings.Contains(rest, "router stopped") {
		t.Fatalf("exit %d: %s", code, rest)
	}
}

// icsrange plc --route: routes added in the container's namespace, then no
// capabilities at all. Needs ip(8) to give the namespace an interface.
func TestNetsetupPLC(t *testing.T) {
	prefix := namespaced(t)
	// Without an interface on the gateway's network, the route fails clearly.
	out, err := exec.Command(prefix[0], append(prefix[1:], binary, "plc", "--model", "water-tank",
		"--route", "10.128.2.0/24=10.128.1.254")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "adding route 10.128.2.0/24 via 10.128.1.254: the gateway is on none of this container's networks") {
		t.Fatalf("route without an interface: %v: %s", err, out)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("needs ip(8) to make a veth in the namespace")
	}
	script := ip + " link add zone0 type veth peer name zone0p && " + ip + " addr add 10.128.1.10/24 dev zone0 && " +
		ip + " link set zone0 up && " + ip + " link set lo up && exec \"$@\""
	file, _ := tokenFile(t)
	cmd, first, sc := startBinary(t, append(prefix, "sh", "-c", script, "sh"), "plc", "--model", "water-tank",
		"--listen", "127.0.0.1:0", "--mgmt", "127.0.0.1:0", "--token-file", file,
		"--route", "10.128.2.0/24=10.128.1.254", "--route", "10.128.3.0/24=10.128.1.254")
	if !strings.HasPrefix(first, "plc water-tank") || !sc.Scan() ||
		sc.Text() != "routes 10.128.2.0/24 via 10.128.1.254, 10.128.3.0/24 via 10.128.1.254; capabilities dropped (bounding set too)" {
		t.Fatalf("output %q, %q", first, sc.Text())
	}
	caps := procCaps(t, cmd.Process.Pid)
	for _, k := range []string{"CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"} {
		if caps[k] != "0000000000000000" {
			t.Errorf("%s = %s", k, caps[k])
		}
	}
	if caps["NoNewPrivs"] != "1" {
		t.Errorf("no_new_privs not set: %v", caps)
	}
	routes, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/net/route")
	if err != nil {
		t.Fatal(err)
	}
	// /proc/net/route: destination and gateway in hex, little-endian.
	for _, want := range []string{"0002800A\tFE01800A", "0003800A\tFE01800A"} {
		if !strings.Contains(string(routes), want) {
			t.Errorf("no route %s in\n%s", want, routes)
		}
	}
	if code, rest := stop(t, cmd, sc); code != 0 || !strings.Contains(rest, "stopped") {
		t.Fatalf("exit %d: %s", code, rest)
	}
}
