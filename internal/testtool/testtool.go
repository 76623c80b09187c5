// Package testtool finds the real programs tests drive — tshark, mbpoll,
// terraform — and runs them, with one rule for a missing one: on a user's machine the
// test skips and says what to install; under CI=true it fails, because CI
// must run every test that uses a real part.
package testtool

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
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

// TerraformVersion is the terraform release tests run with: the README
// and .ci/run name it, and `terraform fmt` and plan output differ across
// releases.
const TerraformVersion = "1.5.7"

// Terraform returns the terraform binary tests use: $ICSRANGE_TERRAFORM,
// else the one .ci/run builds into the icsrange cache
// ($ICSRANGE_CACHE/bin, default ~/.cache/icsrange/bin), else terraform on
// PATH. Under CI=true anything but TerraformVersion fails, so a newer
// terraform that happens to be on PATH cannot pass for the pinned one.
func Terraform(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv("ICSRANGE_TERRAFORM")
	if bin == "" {
		cache := os.Getenv("ICSRANGE_CACHE")
		if cache == "" {
			if home, err := os.UserHomeDir(); err == nil {
				cache = filepath.Join(home, ".cache", "icsrange")
			}
		}
		if p := filepath.Join(cache, "bin", "terraform"); cache != "" && isFile(p) {
			bin = p
		}
	}
	if bin == "" {
		p, err := exec.LookPath("terraform")
		if err != nil {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("no terraform binary in CI: .ci/run builds terraform %s and sets ICSRANGE_TERRAFORM", TerraformVersion)
			}
			tb.Skipf("no terraform binary: set ICSRANGE_TERRAFORM to terraform %s (.ci/run builds it)", TerraformVersion)
		}
		bin = p
	}
	out, err := exec.Command(bin, "version", "-json").Output()
	var v struct {
		Version string `json:"terraform_version"`
	}
	if err != nil || json.Unmarshal(out, &v) != nil {
		tb.Fatalf("%s version -json: %v: %s", bin, err, out)
	}
	if v.Version != TerraformVersion {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is terraform %s; CI pins %s (ICSRANGE_TERRAFORM)", bin, v.Version, TerraformVersion)
		}
		tb.Logf("%s is terraform %s, not the pinned %s: set ICSRANGE_TERRAFORM to test what CI tests", bin, v.Version, TerraformVersion)
	}
	return bin
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
