package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine"
)

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tmuxSession is a detached session on a private tmux server, so the test
// neither sees nor disturbs the user's own sessions.
type tmuxSession struct {
	t      *testing.T
	socket string
	name   string
}

func (s *tmuxSession) tmux(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	return string(out), err
}

func (s *tmuxSession) capture() string {
	s.t.Helper()
	out, err := s.tmux("capture-pane", "-p", "-t", s.name)
	if err != nil {
		s.t.Fatalf("capture-pane: %v: %s", err, out)
	}
	return out
}

func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	for _, k := range keys {
		if out, err := s.tmux("send-keys", "-t", s.name, k); err != nil {
			s.t.Fatalf("send-keys %s: %v: %s", k, err, out)
		}
		time.Sleep(100 * time.Millisecond) // one key at a time, as a person types
	}
}

// waitScreen polls the pane until ok holds.
func (s *tmuxSession) waitScreen(what string, within time.Duration, ok func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		screen := s.capture()
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waited %v for %s; the screen:\n%s", within, what, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func contains(wants ...string) func(string) bool {
	return func(s string) bool {
		for _, w := range wants {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	}
}

var headerScore = regexp.MustCompile(`Score (\d+)`)

func scoreOn(screen string) (int, bool) {
	m := headerScore.FindStringSubmatch(strings.SplitN(screen, "\n", 2)[0])
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	return n, true
}

// Tried as a new user would: an operator starts the water-treatment
// exercise, a trainee opens the terminal UI in an 80×24 terminal, waits for
// the questions, answers one right, sees the score move, and quits.
func TestTmuxTUI(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is not installed; CI must run this test")
		}
		t.Skip("tmux is not installed")
	}
	// A free port for the scoreboard.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := t.TempDir()

	var runOut syncBuffer
	run := exec.Command(binary, "run", waterScenario, "--teams", "2", "--start", "now", "--speed", "60",
		"--listen", addr, "--data", data)
	run.Stdout, run.Stderr = &runOut, &runOut
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		run.Process.Kill()
		run.Wait()
		if t.Failed() {
			t.Logf("icsrange run output:\n%s", runOut.String())
		}
	})

	// The operator's side: tokens written, scoreboard up.
	var tok engine.Tokens
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(data, engine.TokensFile))
		if err == nil && json.Unmarshal(b, &tok) == nil && tok.Teams["team-1"] != "" {
			if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exercise did not come up on %s:\n%s", addr, runOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The trainee's side, in a real terminal.
	conf := filepath.Join(t.TempDir(), "tmux.conf")
	// Keep a dead pane (to read its exit status) and no status line (the
	// program gets the whole 80×24).
	os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -g status off\n"), 0o644)
	s := &tmuxSession{t: t, socket: fmt.Sprintf("icsrange-test-%d", os.Getpid()), name: "trainee"}
	// The shell records the exit status in a file: tmux's own
	// #{pane_dead_status} is sometimes never filled in on a loaded machine.
	statusFile := filepath.Join(t.TempDir(), "status")
	cmdline := fmt.Sprintf("%s tui --server http://%s --token %s; echo $? > %s", binary, addr, tok.Teams["team-1"], statusFile)
	out, err := exec.Command("tmux", "-L", s.socket, "-f", conf, "new-session", "-d", "-s", s.name, "-x", "80", "-y", "24", cmdline).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { s.tmux("kill-server") })

	screen := s.waitScreen("the plant", 20*time.Second, contains("intake", "level", "clearwell", "● connected", "Team team-1"))
	t.Logf("the plant:\n%s", screen)
	if lines := strings.Split(strings.TrimRight(screen, "\n"), "\n"); len(lines) > 24 {
		t.Fatalf("%d lines in a 24-line terminal", len(lines))
	}
	for _, l := range strings.Split(screen, "\n") {
		if w := len([]rune(l)); w > 80 {
			t.Fatalf("line wider than the terminal: %q", l)
		}
	}

	// The questions appear after the setpoint attack (9:00 exercise time, 9 s at ×60).
	s.keys("4")
	screen = s.waitScreen("the questions", 60*time.Second, contains("Which holding register", "3 attempts left"))
	before, ok := scoreOn(screen)
	if !ok {
		t.Fatalf("no score in the header:\n%s", screen)
	}
	s.keys("Enter")
	s.waitScreen("the answer field", 5*time.Second, contains("Your answer"))
	s.keys("0", "Enter")
	screen = s.waitScreen("the result and the new score", 20*time.Second, func(screen string) bool {
		n, ok := scoreOn(screen)
		return strings.Contains(screen, "Correct!") && ok && n > before
	})
	t.Logf("after answering:\n%s", screen)
	if !strings.Contains(screen, "▸ ✓") {
		t.Errorf("the question is not marked answered:\n%s", screen)
	}

	// q quits cleanly: the pane's process ends with status 0, no panic.
	s.keys("q")
	deadline = time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(statusFile)
		if err == nil && len(strings.TrimSpace(string(b))) > 0 {
			if st := strings.TrimSpace(string(b)); st != "0" {
				t.Errorf("the program exited with status %s; the screen:\n%s", st, s.capture())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("q did not quit; the screen:\n%s", s.capture())
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := s.capture()
	t.Logf("after quitting:\n%s", after)
	for _, bad := range []string{"panic", "goroutine ", "runtime error", "icsrange tui:"} {
		if strings.Contains(after, bad) {
			t.Fatalf("the terminal shows %q after quitting:\n%s", bad, after)
		}
	}
	// The alternate screen is gone: the UI is not left drawn on the terminal.
	if strings.Contains(after, "Which holding register") {
		t.Errorf("the UI is still on the screen after quitting:\n%s", after)
	}
}
