package scoreboard_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// trafficScenario has an attacker host with an address and a manual
// inject that writes a setpoint from it.
const trafficScenario = `
id: traffic-browser
version: 1
title: {en: traffic panel test, ja: 通信ログ表示テスト}
description: {en: a test, ja: テスト}
duration: 30m
teams: {min: 1, max: 4}
plant:
  zones: [{id: it}, {id: control}]
  conduits: [{from: it, to: control, ports: [502]}]
  plcs:
    - {id: tank, title: {en: Intake tank, ja: 受水槽}, model: water-tank, zone: control, noise: 0, params: {level0_m: 2.5, level_sp_m: 2.5}}
  hosts:
    - {id: attacker, role: attacker, zone: it, address: 10.66.6.6}
    - {id: hmi, role: hmi, zone: control}
injects:
  - id: tamper
    manual: true
    title: Setpoint change
    do: [{modbus_write: {from: attacker, plc: tank, register: level_sp, value: 3.5}}]
objectives:
  - {id: safe, title: Safe, points: 30, fail_when: "plant.tank.level > 3.9", penalty: 10}
`

// TestTrafficBrowser: the team page's Traffic panel shows the attacker's
// write as it happens (its address, the function by name, the tag and the
// value), the PLC's panel shows a writes/min and a new-talker badge that
// do not name anyone, the writes-only filter hides reads, the instructor's
// drill-down shows the same log and follows it live, and no page logs an
// error.
func TestTrafficBrowser(t *testing.T) {
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

	sc, err := scenario.Load("traffic-browser.yaml", []byte(trafficScenario))
	if err != nil {
		t.Fatal(err)
	}
	x, err := engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(trafficScenario), ScenarioPath: "traffic-browser.yaml",
		Teams: []string{"team-1", "team-2"}, DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() }) // after the server stops (cleanups run last-in first-out)
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	tokens := x.Tokens()
	tv, err := x.TeamView("team-1")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := tv.Plant[0].Modbus

	base := serveLive(t, ctx, x)
	browser := newBrowser(t, ctx, bin, 1280, 900)

	var errs jsErrors
	do := func(tab context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tab, steps...); err != nil {
			t.Fatalf("%s: %v (page errors so far: %q)", what, err, errs.list())
		}
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
	eval := func(tab context.Context, js string) string {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	shot := func(tab context.Context, name, selector string) {
		t.Helper()
		png, err := chromedp.Run(tab, chromedp.Screenshot(chromedp.CSS(selector)))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(shots, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
	openTab := func(name string) context.Context {
		t.Helper()
		tab := browser
		if name != "team" {
			var cancelTab context.CancelFunc
			tab, cancelTab = chromedp.NewContext(browser)
			t.Cleanup(cancelTab)
		}
		do(tab, "open "+name, chromedp.EmulateViewport(1280, 900))
		errs.watch(t, tab, name)
		return tab
	}
	// modbusDo runs a trainee's tool against team-1's PLC and returns the
	// address it came from.
	modbusDo := func(f func(c *modbus.Client) error) string {
		t.Helper()
		c, err := modbus.Dial(ctx, endpoint)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := f(c); err != nil {
			t.Fatal(err)
		}
		return c.LocalAddr().String()
	}

	team := openTab("team")
	do(team, "sign in as team-1", chromedp.Navigate(base+"/team"),
		chromedp.WaitVisible(sel("token-input")),
		chromedp.SendKeys(sel("token-input"), tokens.Teams["team-1"]),
		chromedp.Click(sel("token-submit")),
		chromedp.WaitVisible(sel("hmi-tank")),
		chromedp.WaitVisible(sel("traffic-log")))

	// A trainee's read, then the attack.
	reader := modbusDo(func(c *modbus.Client) error { _, err := c.ReadHoldingRegisters(1, 0, 4); return err })
	if err := x.FireInject(ctx, "team-1", "tamper", "test"); err != nil {
		t.Fatal(err)
	}
	row := poll(team, "the attacker's write in the traffic table",
		`() => { const r = document.querySelector('[data-testid="traffic-rows"] tr[data-source="10.66.6.6"][data-write="true"]'); return r ? r.innerText : ''; }`, 20*time.Second)
	for _, want := range []string{"tank", "10.66.6.6:", "FC6 write single register", "level_sp"} {
		if !strings.Contains(row, want) {
			t.Errorf("attack row %q lacks %q", row, want)
		}
	}
	readRow := poll(team, "the trainee's read in the traffic table",
		`() => { const r = document.querySelector('[data-testid="traffic-rows"] tr[data-source="127.0.0.1"][data-fc="3"]'); return r ? r.innerText : ''; }`, 10*time.Second)
	if !strings.Contains(readRow, reader) || !strings.Contains(readRow, "FC3 read holding registers") {
		t.Errorf("read row %q, want %s's FC3", readRow, reader)
	}
	// The newest row is on top.
	if first := eval(team, `document.querySelector('[data-testid="traffic-rows"] tr').dataset.source`); first != "10.66.6.6" {
		t.Errorf("the top row is from %q, want the attack (newest)", first)
	}
	// The team sees addresses, not who they belong to.
	if s := eval(team, `document.querySelector('[data-testid="traffic-log"]').innerText`); strings.Contains(s, "attacker") {
		t.Errorf("the traffic table names the attacker host:\n%s", s)
	}

	// The PLC's panel: writes/min and a new talker, naming nobody.
	badges := poll(team, "traffic badges", `() => {
		const w = document.querySelector('[data-testid="writes-tank"]');
		const n = document.querySelector('[data-testid="newtalker-tank"]');
		return w && n && !n.hidden && w.dataset.value !== '0' ? w.textContent + '|' + n.textContent : '';
	}`, 15*time.Second)
	if !strings.HasPrefix(badges, "writes/min ") || !strings.Contains(badges, "new talker") {
		t.Errorf("badges %q", badges)
	}
	if strings.Contains(badges, "10.66") || strings.Contains(badges, "127.0.0.1") || strings.Contains(badges, "attacker") {
		t.Errorf("the badges name a source: %q", badges)
	}
	do(team, "scroll to the traffic panel", chromedp.ScrollIntoView(sel("traffic")))
	shot(team, "team-traffic", `section[aria-labelledby="h-traffic"]`)
	shot(team, "team-hmi-badges", `[data-testid="hmi-tank"] header`)
	if png, err := chromedp.Run(team, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(filepath.Join(shots, "team-full.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}

	// Writes only: the reads go, live and after the reload.
	do(team, "writes only", chromedp.Click(sel("traffic-filter-writes")))
	rows := poll(team, "writes-only rows", `() => {
		const rs = Array.from(document.querySelectorAll('[data-testid="traffic-rows"] tr'));
		const st = document.querySelector('[data-testid="traffic-status"]').textContent;
		if (!rs.length || st.includes('Loading')) return '';
		return rs.map((r) => r.dataset.write + ':' + r.dataset.fc).join(' ');
	}`, 10*time.Second)
	if strings.Contains(rows, "false") || !strings.Contains(rows, "true:6") {
		t.Errorf("writes-only rows are %q", rows)
	}
	// A read while filtered does not show; a write does.
	modbusDo(func(c *modbus.Client) error { _, err := c.ReadInputRegisters(1, 0, 2); return err })
	writer := modbusDo(func(c *modbus.Client) error { return c.WriteRegister(1, 0, 16384) })
	poll(team, "the trainee's write", `() => Array.from(document.querySelectorAll('[data-testid="traffic-rows"] tr[data-write="true"]')).some((r) => r.innerText.includes('`+writer+`')) ? 'ok' : ''`, 10*time.Second)
	if n := eval(team, `String(document.querySelectorAll('[data-testid="traffic-rows"] tr[data-write="false"]').length)`); n != "0" {
		t.Errorf("%s reads shown with writes only", n)
	}
	// The source filter lists the addresses seen; clearing shows the reads again.
	srcs := eval(team, `Array.from(document.querySelectorAll('[data-testid="traffic-filter-source"] option'), (o) => o.value).join(' ')`)
	if !strings.Contains(srcs, "10.66.6.6") || !strings.Contains(srcs, "127.0.0.1") {
		t.Errorf("source filter offers %q", srcs)
	}
	do(team, "clear the filters", chromedp.Click(sel("traffic-filter-clear")))
	poll(team, "reads back", `() => document.querySelector('[data-testid="traffic-rows"] tr[data-write="false"]') ? 'ok' : ''`, 10*time.Second)
	// The audit trail has the attacker's connection.
	poll(team, "the attacker's connect in the audit trail",
		`() => Array.from(document.querySelectorAll('[data-testid="audit-rows"] tr[data-kind="connect"]')).some((r) => r.innerText.includes('10.66.6.6')) ? 'ok' : ''`, 10*time.Second)
	shot(team, "team-audit", `section[aria-labelledby="h-audit"]`)

	// Japanese: the function names follow the language.
	do(team, "switch to Japanese", chromedp.Click(selIn("header", "lang-ja")))
	if s := poll(team, "Japanese function name", `() => { const r = document.querySelector('[data-testid="traffic-rows"] tr[data-source="10.66.6.6"][data-write="true"] .c-fc'); return r ? r.textContent : ''; }`, 5*time.Second); s != "FC6 単一レジスタ書き込み" {
		t.Errorf("Japanese function name %q", s)
	}
	do(team, "back to English", chromedp.Click(selIn("header", "lang-en")))

	// The instructor's drill-down: the same log, loaded for the team, then live.
	instr := openTab("instructor")
	do(instr, "sign in as instructor", chromedp.Navigate(base+"/instructor"),
		chromedp.WaitVisible(sel("token-input")),
		chromedp.SendKeys(sel("token-input"), tokens.Instructor),
		chromedp.Click(sel("token-submit")),
		chromedp.WaitVisible(sel("team-row-team-1")),
		chromedp.Click(sel("team-row-team-1")),
		chromedp.WaitVisible(sel("drill-traffic")))
	irow := poll(instr, "the attack in the instructor's drill-down",
		`() => { const r = document.querySelector('[data-testid="drill-traffic"] [data-testid="traffic-rows"] tr[data-source="10.66.6.6"][data-write="true"]'); return r ? r.innerText : ''; }`, 10*time.Second)
	if !strings.Contains(irow, "host attacker") {
		t.Errorf("the instructor's row %q lacks the note", irow)
	}
	poll(instr, "instructor's PLC indicators", `() => { const e = document.querySelector('[data-testid="truth-tank"]'); return e && e.dataset.writes && e.dataset.writes !== '0' ? 'ok' : ''; }`, 10*time.Second)
	late := modbusDo(func(c *modbus.Client) error { return c.WriteRegister(1, 0, 16400) })
	poll(instr, "a live row in the drill-down", `() => Array.from(document.querySelectorAll('[data-testid="drill-traffic"] [data-testid="traffic-rows"] tr')).some((r) => r.innerText.includes('`+late+`')) ? 'ok' : ''`, 10*time.Second)
	do(instr, "scroll to the drill-down traffic", chromedp.ScrollIntoView(sel("drill-traffic")))
	shot(instr, "instructor-traffic", `#drill-traffic`)

	if e := errs.list(); len(e) > 0 {
		t.Errorf("JavaScript errors:\n%s", strings.Join(e, "\n"))
	}
}
