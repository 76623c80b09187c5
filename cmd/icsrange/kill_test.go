package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/store"
)

// killScenario scores from its injects and physics alone: with one seed,
// every run ends with the same scores.
const killScenario = "testdata/kill-resume.yaml"

// killRounds is how many kill -9 rounds TestKillAndResume plays:
// ICSRANGE_KILL_ROUNDS, or 3 (what CI runs). `make killtest ROUNDS=10`.
func killRounds(t *testing.T) int {
	s := os.Getenv("ICSRANGE_KILL_ROUNDS")
	if s == "" {
		return 3
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("ICSRANGE_KILL_ROUNDS=%q: want a number of rounds ≥ 1", s)
	}
	return n
}

// kill -9 in the middle of an exercise, then --resume, round after round,
// each killed at another moment: the run ends with the same scores and
// objective outcomes (status, time, points) as a run of the same seed
// without a crash, no inject fires twice, and the clock continues where it
// stopped.
func TestKillAndResume(t *testing.T) {
	const seed = "11"
	ref := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "run", killScenario, "--teams", "2", "--start", "now", "--speed", "1000",
		"--seed", seed, "--data", ref, "--listen", "127.0.0.1:0", "--linger", "0").CombinedOutput()
	if err != nil {
		t.Fatalf("the run without a crash: %v\n%s", err, out)
	}
	want := readLog(t, ref, nil)
	if !want.ended || len(want.objectives) != 10 {
		t.Fatalf("the run without a crash: ended %v, objectives %v\n%s", want.ended, want.objectives, out)
	}
	rounds := killRounds(t)
	// Each round kills at another moment between the setpoint change (2m)
	// and 9m of the 12m run: inside one for: hold or another.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	passed := 0
	for r := 1; r <= rounds; r++ {
		delay := time.Duration(rng.Int64N(int64(4200 * time.Millisecond)))
		if killRound(t, r, seed, delay, want) {
			passed++
		}
	}
	t.Logf("%d of %d kill -9 rounds ended with the scores of the run without a crash: %v", passed, rounds, want.scores)
}

// killRound plays one round and reports whether it matched.
func killRound(t *testing.T, round int, seed string, delay time.Duration, want logSummary) bool {
	t.Helper()
	fail := func(format string, a ...any) bool {
		t.Errorf("round %d (killed %v after the setpoint change): %s", round, delay, fmt.Sprintf(format, a...))
		return false
	}
	data := filepath.Join(t.TempDir(), "round "+strconv.Itoa(round)) // a space: the printed commands must quote it
	cmd := exec.Command(binary, "run", killScenario, "--teams", "2", "--start", "now", "--speed", "100",
		"--seed", seed, "--data", data, "--listen", "127.0.0.1:0", "--linger", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	seen := 0
	var head strings.Builder
	deadline := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	for seen < 2 && sc.Scan() {
		head.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), `Inject "Setpoint change" fired`) {
			seen++
		}
	}
	deadline.Stop()
	if seen < 2 {
		return fail("the setpoint change never fired for both teams:\n%s", head.String())
	}
	if hint := "continue with: icsrange run --resume --data '" + data + "'"; !strings.Contains(head.String(), hint) {
		return fail("the summary does not say %q:\n%s", hint, head.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	before := readLog(t, data, nil)
	if before.ended {
		return fail("the run ended before the kill")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "run", "--resume", "--data", data, "--speed", "1000").CombinedOutput()
	if err != nil {
		return fail("resume: %v\n%s", err, out)
	}
	after := readLog(t, data, nil)
	ok := true
	if !after.ended || after.recovered != 1 || after.lastClock != 12*time.Minute {
		ok = fail("after the resume: ended %v at %v, recovered %d times\n%s", after.ended, after.lastClock, after.recovered, out)
	}
	for k, n := range after.fired {
		if n != 1 {
			ok = fail("inject %s fired %d times", k, n)
		}
	}
	for team, s := range want.scores {
		if after.scores[team] != s {
			ok = fail("team %s scored %d, %d without a crash", team, after.scores[team], s)
		}
	}
	for k, o := range want.objectives {
		if after.objectives[k] != o {
			ok = fail("objective %s: %s; without a crash %s", k, after.objectives[k], o)
		}
	}
	// The clock went on where it stopped: the recovery is stamped at or
	// after the last event before the kill, and no later than the last
	// checkpoint could be (1 s of wall time at ×100, with room for a
	// loaded machine), although more wall time passed.
	var recClock time.Duration
	st, err := store.Open(filepath.Join(data, engine.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	st.Events(context.Background(), store.Filter{Kinds: []string{engine.EvRecovered}}, func(e store.Event) error {
		recClock = e.Clock
		return nil
	})
	st.Close()
	if recClock < before.lastClock || recClock > before.lastClock+3*time.Minute {
		ok = fail("recovered at exercise time %v; the last event before the kill was at %v", recClock, before.lastClock)
	}
	if ok {
		t.Logf("round %d: killed %v after the setpoint change; last event at %v, resumed at %v; scores %v", round, delay.Round(time.Millisecond), before.lastClock, recClock, after.scores)
	}
	return ok
}
