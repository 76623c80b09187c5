package scoreboard_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/scoreboard"
)

// chromiumPath finds Debian's chromium for the browser test, or skips (fails
// on CI, where the browser test must run).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "browser test needs chromium (Debian: apt-get install chromium); neither chromium nor chromium-browser is in PATH"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// serveLive runs x at ×10 and serves its scoreboard on 127.0.0.1 until the
// test ends; it returns the base URL. Register it before newBrowser:
// cleanups run last-in first-out, so the pages close before the server.
func serveLive(t *testing.T, ctx context.Context, x *engine.Exercise) string {
	t.Helper()
	srvCtx, stopServer := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		stopServer()
		wg.Wait()
	})
	wg.Go(func() {
		if err := x.Run(srvCtx, 10); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("run: %v", err)
		}
	})
	srv := scoreboard.New(x, scoreboard.Options{})
	wg.Go(func() { srv.Start(srvCtx) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		if err := srv.ListenAndServe(srvCtx, ln, "", ""); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// newBrowser starts headless chromium (bin) with a window of w×h, in
// English; it closes when the test ends.
func newBrowser(t *testing.T, ctx context.Context, bin string, w, h int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin),
		chromedp.WindowSize(w, h), chromedp.Flag("lang", "en-US"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	return browser
}

// jsErrors collects what the pages report as errors: uncaught exceptions,
// console.error and console.assert calls, and browser log entries at error
// level (failed loads, CSP violations).
type jsErrors struct {
	mu   sync.Mutex
	msgs []string
}

func (j *jsErrors) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.msgs = append(j.msgs, s)
}

func (j *jsErrors) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.msgs)
}

// watch listens to a tab. chromedp v0.23 names ListenTarget Listen.
func (j *jsErrors) watch(t *testing.T, ctx context.Context, tab string) {
	t.Helper()
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			j.add(fmt.Sprintf("%s: exception at %s:%d: %s", tab, d.URL, d.LineNumber, msg))
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
				return
			}
			var parts []string
			for _, a := range ev.Args {
				switch {
				case a.Description != "":
					parts = append(parts, a.Description)
				case len(a.Value) > 0:
					parts = append(parts, string(a.Value))
				}
			}
			j.add(fmt.Sprintf("%s: console.%s: %s", tab, ev.Type, strings.Join(parts, " ")))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				j.add(fmt.Sprintf("%s: %s log: %s (%s)", tab, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatalf("listen to %s tab: %v", tab, err)
	}
}

// sel selects an element by its data-testid.
func sel(testid string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + testid + `"]`) }

// selIn selects by data-testid inside the elements that scope matches.
func selIn(scope, testid string) chromedp.CSS {
	return chromedp.CSS(scope + ` [data-testid="` + testid + `"]`)
}

// TestBrowser drives the three pages in headless Chromium against a live
// exercise: the projector shows the teams, a team answers a question and
// the projector's score moves without a reload, the instructor pauses and
// the projector says so, and no page logs a JavaScript error.
func TestBrowser(t *testing.T) {
	bin := chromiumPath(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	shots := os.Getenv("ICSRANGE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	sc, err := scenario.LoadFile("../scenarios/water-treatment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	x, err := engine.New(ctx, engine.Config{Scenario: sc, Teams: []string{"team-1", "team-2"}, DataDir: t.TempDir(),
		Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() }) // after the server stops (cleanups run last-in first-out)
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	tokens := x.Tokens()

	base := serveLive(t, ctx, x)
	browser := newBrowser(t, ctx, bin, 1280, 800)

	var errs jsErrors
	// shot saves what a 1280×800 screen shows from the top of the page and,
	// for the long consoles, the whole page too.
	shot := func(tab context.Context, name string, full bool) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
		if err == nil && full {
			var all []byte
			if all, err = chromedp.Run(tab, chromedp.FullScreenshot(100)); err == nil {
				err = os.WriteFile(filepath.Join(shots, name+"-full.png"), all, 0o644)
			}
		}
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(shots, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
	began := time.Now()
	do := func(tab context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		start := time.Now()
		if err := chromedp.Do(tab, steps...); err != nil {
			t.Fatalf("%s: %v (page errors so far: %q)", what, err, errs.list())
		}
		t.Logf("%6.2fs %s (%.2fs)", time.Since(began).Seconds(), what, time.Since(start).Seconds())
	}
	poll := func(tab context.Context, what, fn string, timeout time.Duration) string {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.PollFunction[string](fn,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
		if err != nil {
			t.Fatalf("%s: %v (page errors so far: %q)", what, err, errs.list())
		}
		return v
	}
	openTab := func(name string) context.Context {
		t.Helper()
		tab := browser
		if name != "public" {
			var cancelTab context.CancelFunc
			tab, cancelTab = chromedp.NewContext(browser)
			t.Cleanup(cancelTab)
		}
		// The first Run starts the browser (public) or opens the tab.
		do(tab, "open "+name, chromedp.EmulateViewport(1280, 800))
		errs.watch(t, tab, name)
		return tab
	}

	// (1) The projector shows both teams.
	pub := openTab("public")
	do(pub, "load the scoreboard", chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(sel("rank-row-team-1")), chromedp.WaitVisible(sel("rank-row-team-2")))
	names, err := chromedp.Run(pub, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('[data-testid="team-name"]'), e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "team-1") || !slices.Contains(names, "team-2") {
		t.Fatalf("scoreboard shows teams %q, want team-1 and team-2", names)
	}
	if s := poll(pub, "scoreboard title", `() => { const e = document.querySelector('[data-testid="title"]'); return e && e.textContent !== 'icsrange' ? e.textContent : ''; }`, 10*time.Second); s != sc.Spec.Title.En {
		t.Errorf("scoreboard title %q, want %q", s, sc.Spec.Title.En)
	}
	if s0 := poll(pub, "team-1's first score", `() => { const e = document.querySelector('[data-testid="score-team-1"]'); return e ? e.textContent : ''; }`, 5*time.Second); s0 != "0" {
		t.Fatalf("team-1 starts with score %q, want 0", s0)
	}

	// (2) team-1 answers "register" correctly in its console; the projector
	// (no reload) shows its score move from 0. The question shows once the
	// setpoint change has fired (9 exercise minutes in); fire it now rather
	// than wait 54 s.
	if err := x.FireInject(ctx, "", "tamper", "test"); err != nil {
		t.Fatal(err)
	}
	team := openTab("team")
	do(team, "sign in as team-1", chromedp.Navigate(base+"/team"),
		chromedp.WaitVisible(sel("token-input")),
		chromedp.SendKeys(sel("token-input"), tokens.Teams["team-1"]),
		chromedp.Click(sel("token-submit")),
		chromedp.WaitVisible(sel("hmi-intake")),
		chromedp.WaitVisible(sel("answer-input-register")))
	loc, err := chromedp.Run(team, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(loc, tokens.Teams["team-1"]) {
		t.Fatalf("the team token is in the URL: %s", loc)
	}
	if s := poll(team, "team header", `() => document.querySelector('[data-testid="team-name"]').textContent`, 5*time.Second); s != "team-1" {
		t.Errorf("team header says %q, want team-1", s)
	}
	if s := poll(team, "modbus endpoint", `() => { const e = document.querySelector('[data-testid="modbus-intake"]'); return e && e.textContent.includes(':') ? e.textContent : ''; }`, 5*time.Second); !strings.HasPrefix(s, "127.0.0.1:") {
		t.Errorf("intake's Modbus endpoint shows %q", s)
	}
	do(team, "answer the register question",
		chromedp.SendKeys(sel("answer-input-register"), "0"),
		chromedp.Click(sel("answer-submit-register")))
	fb := poll(team, "answer feedback", `() => { const e = document.querySelector('[data-testid="answer-feedback-register"]'); return e && e.textContent ? e.className + '|' + e.textContent : ''; }`, 15*time.Second)
	if !strings.Contains(fb, "ok|") {
		t.Fatalf("answer feedback %q, want correct", fb)
	}
	score := poll(pub, "team-1's score on the projector", `() => { const e = document.querySelector('[data-testid="score-team-1"]'); return e && e.textContent !== '0' ? e.textContent : ''; }`, 20*time.Second)
	t.Logf("projector: team-1 score %s", score)
	// Let the count-up finish before the screenshot.
	final := poll(pub, "team-1's final score", `() => { const e = document.querySelector('[data-testid="score-team-1"]'); return e && e.dataset.value === e.textContent ? e.textContent : ''; }`, 10*time.Second)
	if n, err := strconv.Atoi(final); err != nil || n <= 0 {
		t.Fatalf("team-1's score on the projector is %q, want a positive number", final)
	}
	for _, tm := range x.Summary().Teams {
		if tm.Name == "team-1" && strconv.Itoa(tm.Score) != final {
			t.Errorf("projector shows team-1 at %s, the engine has %d", final, tm.Score)
		}
	}
	shot(pub, "scoreboard-running", false)
	shot(team, "team-en", true)

	// The team takes a response action through its confirm step.
	do(team, "take the isolate action", chromedp.Click(sel("action-take-isolate")),
		chromedp.WaitVisible(sel("action-confirm-isolate")), chromedp.Click(sel("action-confirm-isolate")))
	if s := poll(team, "action feedback", `() => { const e = document.querySelector('[data-testid="action-isolate"] .feedback'); return e && e.textContent ? e.className + '|' + e.textContent : ''; }`, 10*time.Second); !strings.Contains(s, "ok|") {
		t.Errorf("action feedback %q, want ok", s)
	}

	// (3) The instructor fires the HMI ransomware at team-1 (its console goes
	// offline), broadcasts to everyone (the projector shows it) and pauses
	// (the projector shows that too).
	instr := openTab("instructor")
	do(instr, "sign in as instructor", chromedp.Navigate(base+"/instructor"),
		chromedp.WaitVisible(sel("token-input")),
		chromedp.SendKeys(sel("token-input"), tokens.Instructor),
		chromedp.Click(sel("token-submit")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="conn-status"][data-state="live"]`)),
		chromedp.WaitEnabled(sel("ctl-pause")))
	do(instr, "fire ransom-hmi at team-1", chromedp.SetValue(sel("inject-id"), "ransom-hmi"),
		chromedp.SetValue(sel("inject-team"), "team-1"), chromedp.Click(sel("inject-fire")))
	poll(team, "team-1's HMI offline notice", `() => { const e = document.querySelector('[data-testid="offline-intake"]'); return e && e.offsetParent !== null ? 'ok' : ''; }`, 10*time.Second)
	const msg = "Break in 5 minutes"
	do(instr, "broadcast", chromedp.SetValue(sel("broadcast-en"), msg),
		chromedp.SetValue(sel("broadcast-ja"), "5分後に休憩"), chromedp.Click(sel("broadcast-send")))
	if s := poll(pub, "broadcast banner", `() => { const e = document.querySelector('[data-testid="broadcast-banner"]'); return e && !e.hidden ? e.textContent : ''; }`, 10*time.Second); !strings.Contains(s, msg) {
		t.Errorf("projector's broadcast banner says %q, want %q", s, msg)
	}
	do(instr, "pause", chromedp.Click(sel("ctl-pause")))
	do(pub, "paused banner", chromedp.WaitVisible(sel("paused-banner")))
	if p := poll(pub, "phase badge", `() => document.querySelector('[data-testid="phase"]').dataset.phase`, 10*time.Second); p != "paused" {
		t.Errorf("phase badge says %q, want paused", p)
	}
	if _, phase := x.Clock(); phase != engine.PhasePaused {
		t.Errorf("engine phase %s after Pause, want paused", phase)
	}
	do(instr, "resume enabled", chromedp.WaitEnabled(sel("ctl-resume")))
	poll(instr, "event log", `() => document.querySelectorAll('[data-testid="log"] li').length > 2 ? 'ok' : ''`, 10*time.Second)
	shot(pub, "scoreboard-paused", false)
	shot(instr, "instructor-en", true)

	// Japanese: every page switches at run time.
	do(pub, "switch the scoreboard to Japanese", chromedp.Click(selIn("header", "lang-ja")))
	if s := poll(pub, "Japanese title", `() => document.querySelector('[data-testid="title"]').textContent`, 5*time.Second); s != sc.Spec.Title.Ja {
		t.Errorf("Japanese scoreboard title %q, want %q", s, sc.Spec.Title.Ja)
	}
	shot(pub, "scoreboard-ja", false)
	do(team, "switch the team page to Japanese", chromedp.Click(selIn("header", "lang-ja")))
	poll(team, "Japanese question", `() => document.querySelector('[data-testid="question-register"] .prompt').textContent.includes('保持レジスタ') ? 'ok' : ''`, 5*time.Second)
	shot(team, "team-ja", true)
	do(instr, "switch the instructor page to Japanese", chromedp.Click(selIn("header", "lang-ja")))
	shot(instr, "instructor-ja", true)

	// (4) No page reported an error.
	if e := errs.list(); len(e) > 0 {
		t.Errorf("JavaScript errors:\n%s", strings.Join(e, "\n"))
	}
}
