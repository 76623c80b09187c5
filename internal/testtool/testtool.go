// Package testtool finds the real programs tests drive — tshark, mbpoll —
// and runs them, with one rule for a missing one: on a user's machine the
// test skips and says what to install; under CI=true it fails, because CI
// must run every test that uses a real part.
package testtool

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Need returns the path of the program name, which Debian package pkg
// installs.
func Need(tb testing.TB, name, pkg string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not installed (apt-get install %s); CI must run this test: %v", name, pkg, err)
		}
		tb.Skipf("%s is not installed (Debian: apt-get install %s): %v", name, pkg, err)
	}
	return path
}

// Tshark runs tshark (from Need) with args and returns what it printed;
// it fails the test when tshark does.
func Tshark(tb testing.TB, bin string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	// tshark wants a writable home for its profile; keep it in the test.
	cmd.Env = append(os.Environ(), "HOME="+tb.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
