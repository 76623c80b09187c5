package main

import (
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// The values TestMain links into the test binary, the way `make release`
// does (see LDFLAGS in the Makefile).
const (
	testVersion = "v0.0.0-test-1-gfeedfac"
	testCommit  = "feedfacefeedfacefeedfacefeedfacefeedface"
	testDate    = "2026-11-22T10:00:00Z"
	testLDFlags = "-X github.com/icsrange/icsrange/internal/buildinfo.version=" + testVersion +
		" -X github.com/icsrange/icsrange/internal/buildinfo.commit=" + testCommit +
		" -X github.com/icsrange/icsrange/internal/buildinfo.date=" + testDate
)

// A stamped binary says its version, commit, date and Go version, in
// `icsrange version`, `--version` and `version --json`.
func TestVersionStamped(t *testing.T) {
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("icsrange version: %v\n%s", err, out)
	}
	for _, want := range []string{"version   " + testVersion, "commit    " + testCommit, "date      " + testDate, "go        " + runtime.Version(),
		"platform  " + runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(string(out), want) {
			t.Errorf("icsrange version lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(binary, "--version").CombinedOutput()
	if want := "icsrange " + testVersion + " (commit feedfacefeed, date " + testDate + ", " + runtime.Version(); err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("icsrange --version: %v: %q, want it to start %q", err, out, want)
	}
	out, err = exec.Command(binary, "version", "--json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"version": "`+testVersion+`"`) || !strings.Contains(string(out), `"commit": "`+testCommit+`"`) {
		t.Errorf("icsrange version --json: %v\n%s", err, out)
	}
}

// An unstamped build (go run, go build, this test) still says what it
// knows, and the usage names the command.
func TestVersionUnstamped(t *testing.T) {
	out, stderr, code := run(t, "version")
	if code != 0 || !strings.Contains(out, "version   devel") || !strings.Contains(out, "go        "+runtime.Version()) {
		t.Fatalf("exit %d: %s%s", code, out, stderr)
	}
	if _, _, code := run(t, "version", "extra"); code != 2 {
		t.Errorf("version with an argument: exit %d, want 2", code)
	}
	if out, _, _ := run(t, "--help"); !strings.Contains(out, "version ") {
		t.Errorf("usage lacks the version command:\n%s", out)
	}
}

// A scoreboard port another program holds fails before anything is
// provisioned, with how to choose another: --listen, and LISTEN= for make
// run.
func TestRunBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	out, stderr, code := run(t, "run", "--listen", addr, "--data", t.TempDir()+"/x", waterScenario)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	for _, want := range []string{addr + " is already in use", "--listen HOST:PORT", "make run LISTEN="} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(out, "Provisioning") {
		t.Errorf("provisioned before finding the port busy:\n%s", out)
	}
}
