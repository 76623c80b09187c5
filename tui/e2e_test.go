package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/scoreboard"
)

// e2eScenario is small: one tank, a question whose answer the test knows,
// an objective for answering it, and an inject that says something.
const e2eScenario = `
id: tui-e2e
version: 1
title: {en: TUI end to end, ja: TUIエンドツーエンド}
description: {en: a test, ja: テスト}
duration: 30m
teams: {min: 1, max: 4}
plant:
  zones: [{id: it}, {id: control}]
  conduits: [{from: it, to: control, ports: [502]}]
  plcs:
    - {id: tank, title: {en: Intake tank, ja: 受水槽}, model: water-tank, zone: control, noise: 0, params: {level0_m: 2.5, level_sp_m: 2.5}}
  hosts:
    - {id: attacker, role: attacker, zone: it, address: 10.0.0.66}
    - {id: hmi, role: hmi, zone: control}
injects:
  - {id: briefing, at: 20s, title: Shift start, say: {en: "Shift start: all quiet", ja: "交代：異常なし"}}
questions:
  - {id: q, prompt: {en: "Which register was written?", ja: "どのレジスタが書き込まれましたか？"}, answer: {exact: "level_sp"}, attempts: 3, penalty: 7}
objectives:
  - {id: solved, title: Solved, points: 100, when: "answered('q')"}
`

// e2e is a real exercise running in real time (×20) behind a real
// scoreboard on loopback, which the test can stop and restart on the same
// address.
type e2e struct {
	t    *testing.T
	x    *engine.Exercise
	sb   *scoreboard.Server
	addr string
	tok  engine.Tokens
	ctx  context.Context

	mu      sync.Mutex
	stopSrv context.CancelFunc
	srvDone chan struct{}
}

func startE2E(t *testing.T) *e2e {
	t.Helper()
	sc, err := scenario.Load("tui-e2e.yaml", []byte(e2eScenario))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	x, err := engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(e2eScenario), ScenarioPath: "tui-e2e.yaml",
		Teams: []string{"team-1", "team-2"}, DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 1})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := x.Start(ctx, "test"); err != nil {
		cancel()
		x.Close()
		t.Fatal(err)
	}
	e := &e2e{t: t, x: x, sb: scoreboard.New(x, scoreboard.Options{}), tok: x.Tokens(), ctx: ctx}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := x.Run(ctx, 20); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
	wg.Go(func() { e.sb.Start(ctx) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	e.serve(ln)
	t.Cleanup(func() {
		e.stopServer()
		cancel()
		wg.Wait()
		x.Close()
	})
	return e
}

// serve serves the scoreboard on ln until stopServer.
func (e *e2e) serve(ln net.Listener) {
	sctx, stop := context.WithCancel(e.ctx)
	done := make(chan struct{})
	e.mu.Lock()
	e.stopSrv, e.srvDone = stop, done
	e.mu.Unlock()
	go func() {
		defer close(done)
		if err := e.sb.ListenAndServe(sctx, ln, "", ""); err != nil {
			e.t.Errorf("ListenAndServe: %v", err)
		}
	}()
}

// stopServer shuts the HTTP server down and drops every WebSocket; the
// exercise and the hub keep running.
func (e *e2e) stopServer() {
	e.mu.Lock()
	stop, done := e.stopSrv, e.srvDone
	e.stopSrv, e.srvDone = nil, nil
	e.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		e.t.Fatal("the server did not stop")
	}
}

// restartServer serves again on the same address.
func (e *e2e) restartServer() {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", e.addr)
		if err == nil {
			e.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("listen again on %s: %v", e.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// teamEvents is what the API says team-1 may see: the seqs in order.
func (e *e2e) teamEvents(team string) []engine.EventView {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.addr+"/api/events?after=0&limit=500", nil)
	req.Header.Set("Authorization", "Bearer "+e.tok.Teams[team])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Events []engine.EventView `json:"events"`
	}
	if res.StatusCode != 200 {
		e.t.Fatalf("/api/events: %s", res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		e.t.Fatal(err)
	}
	return body.Events
}

// recorder wraps a client's Next and keeps every message the model got.
type recorder struct {
	mu   sync.Mutex
	msgs []tea.Msg
}

func (r *recorder) wrap(next tea.Cmd) tea.Cmd {
	return func() tea.Msg {
		m := next()
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
		return m
	}
}

func (r *recorder) all() []tea.Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tea.Msg(nil), r.msgs...)
}

// conns lists the connection states received so far.
func (r *recorder) conns() []ConnMsg {
	var out []ConnMsg
	for _, m := range r.all() {
		if c, ok := m.(ConnMsg); ok {
			out = append(out, c)
		}
	}
	return out
}

func (r *recorder) count(state string) int {
	n := 0
	for _, c := range r.conns() {
		if c.State == state {
			n++
		}
	}
	return n
}

// waitConn waits until n ConnMsgs of state have arrived.
func (r *recorder) waitConn(t *testing.T, state string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for r.count(state) < n {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %d %q states; got %+v", within, n, state, r.conns())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// events lists the events delivered to the model, snapshot ones included,
// in the order it got them.
func (r *recorder) events() []engine.EventView {
	var out []engine.EventView
	for _, m := range r.all() {
		switch m := m.(type) {
		case SnapshotMsg:
			out = append(out, m.Events...)
		case EventMsg:
			out = append(out, m.Event)
		}
	}
	return out
}

// newE2EModel starts a client for team's token and the UI over it in teatest.
func newE2EModel(t *testing.T, e *e2e, token string, w, h int) (*teatest.TestModel, *Client, *recorder, <-chan struct{}) {
	t.Helper()
	client, err := NewClient("http://"+e.addr, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		client.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-ran
	})
	rec := &recorder{}
	m := NewModel("en", client.Send, rec.wrap(client.Next))
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() { tm.Quit() })
	return tm, client, rec, ran
}

func waitOutput(t *testing.T, tm *teatest.TestModel, within time.Duration, wants ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		for _, w := range wants {
			if !bytes.Contains(b, []byte(w)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(within), teatest.WithCheckInterval(20*time.Millisecond))
}

func finalModel(t *testing.T, tm *teatest.TestModel) *Model {
	t.Helper()
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	return tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
}

func TestE2EAnswerChangesScore(t *testing.T) {
	e := startE2E(t)
	tm, _, rec, _ := newE2EModel(t, e, e.tok.Teams["team-1"], 100, 30)
	waitOutput(t, tm, 15*time.Second, "● connected", "Team team-1", "Score 0", "tank", "Intake tank", "level")

	tm.Send(runes("4"))
	waitOutput(t, tm, 5*time.Second, "Which register was written?", "3 attempts left")
	tm.Send(keyEnter)
	tm.Type("level_sp")
	tm.Send(keyEnter)
	// The reply says correct; the objective then scores and the pushed view
	// changes the header.
	scored := regexp.MustCompile(`Score (\d+)`)
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		if !bytes.Contains(b, []byte("Correct!")) {
			return false
		}
		for _, m := range scored.FindAllSubmatch(b, -1) {
			if string(m[1]) == "100" {
				return true
			}
		}
		return false
	}, teatest.WithDuration(15*time.Second), teatest.WithCheckInterval(20*time.Millisecond))

	v, err := e.x.TeamView("team-1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Score != 100 || !v.Questions[0].Answered {
		t.Fatalf("engine: score %d, answered %v", v.Score, v.Questions[0].Answered)
	}
	fm := finalModel(t, tm)
	d := fm.c.Data
	if d.View.Score != 100 || !d.View.Questions[0].Answered || d.View.Team != "team-1" {
		t.Fatalf("model: %+v", d.View)
	}
	// The feed got the answer and the objective, once each.
	seen := map[string]int{}
	for _, ev := range d.Events {
		seen[ev.Kind]++
	}
	if seen["answer.submitted"] != 1 || seen["objective.achieved"] != 1 {
		t.Fatalf("feed: %v", seen)
	}
	if n := rec.count("rejected"); n != 0 {
		t.Fatalf("%d rejections", n)
	}
	if len(d.Trends["tank.level"]) == 0 {
		t.Fatal("no trend for tank.level")
	}
}

func TestE2EReconnectResumes(t *testing.T) {
	e := startE2E(t)
	ctx := context.Background()
	tm, _, rec, _ := newE2EModel(t, e, e.tok.Teams["team-1"], 100, 30)
	waitOutput(t, tm, 15*time.Second, "● connected", "tank")
	tm.Send(runes("2")) // watch the feed
	adjust := func(team string, pts int, reason string) {
		t.Helper()
		if err := e.x.Adjust(ctx, team, pts, reason); err != nil {
			t.Fatal(err)
		}
	}
	adjust("team-1", 5, "before the drop")
	waitOutput(t, tm, 5*time.Second, "before the drop")

	// Drop every connection; what happens meanwhile must arrive on resume.
	e.stopServer()
	rec.waitConn(t, "reconnecting", 1, 5*time.Second)
	waitOutput(t, tm, 5*time.Second, "reconnecting")
	adjust("team-1", 7, "missed one")
	adjust("team-2", 9, "not for team-1")
	if err := e.x.Broadcast(ctx, scenario.Text{En: "missed broadcast", Ja: "見逃した放送"}); err != nil {
		t.Fatal(err)
	}
	adjust("team-1", 11, "missed two")
	time.Sleep(300 * time.Millisecond)
	e.restartServer()
	rec.waitConn(t, "connected", 2, 10*time.Second)
	waitOutput(t, tm, 5*time.Second, "missed one", "missed broadcast", "missed two")
	adjust("team-1", 13, "after the return")
	waitOutput(t, tm, 5*time.Second, "after the return")

	// A second drop: the connection had been up, so the client retries
	// quickly again instead of carrying the backoff over.
	before := len(rec.conns())
	e.stopServer()
	rec.waitConn(t, "reconnecting", rec.count("reconnecting")+1, 5*time.Second)
	var retry time.Duration
	for _, c := range rec.conns()[before:] {
		if c.State == "reconnecting" {
			retry = c.Retry
			break
		}
	}
	if retry >= time.Second {
		t.Errorf("after a connection that was up, the client waits %v before reconnecting", retry)
	}
	adjust("team-1", 17, "missed three")
	e.restartServer()
	rec.waitConn(t, "connected", 3, 10*time.Second)
	waitOutput(t, tm, 5*time.Second, "missed three")
	// The pushed views carry on too: 5+7+11+13+17.
	waitOutput(t, tm, 5*time.Second, "Score 53")

	server := e.teamEvents("team-1")
	fm := finalModel(t, tm)

	// Snapshots after a drop resume; the first one does not.
	var snaps []SnapshotMsg
	for _, m := range rec.all() {
		if s, ok := m.(SnapshotMsg); ok {
			snaps = append(snaps, s)
		}
	}
	if len(snaps) != 3 || snaps[0].Resumed || !snaps[1].Resumed || !snaps[2].Resumed {
		t.Fatalf("snapshots: %d, resumed %v", len(snaps), func() (r []bool) {
			for _, s := range snaps {
				r = append(r, s.Resumed)
			}
			return
		}())
	}
	if rec.count("rejected") != 0 {
		t.Fatal("rejected")
	}

	// What the model got, and what it keeps, is exactly what the server
	// says the team may see: no event twice, none missing.
	checkSeqs := func(what string, got []engine.EventView) {
		t.Helper()
		if len(got) == 0 {
			t.Fatalf("%s: no events", what)
		}
		start := -1
		for i, ev := range server {
			if ev.Seq == got[0].Seq {
				start = i
			}
		}
		if start < 0 {
			t.Fatalf("%s: first event %d is not one the server lists", what, got[0].Seq)
		}
		want := server[start:]
		if len(got) != len(want) {
			t.Errorf("%s: %d events, the server lists %d from seq %d:\n got %v\nwant %v", what, len(got), len(want), got[0].Seq, seqs(got), seqs(want))
			return
		}
		for i := range got {
			if got[i].Seq != want[i].Seq || got[i].Text != want[i].Text {
				t.Errorf("%s: event %d is seq %d %q, want seq %d %q", what, i, got[i].Seq, got[i].Text.En, want[i].Seq, want[i].Text.En)
			}
		}
	}
	checkSeqs("delivered", rec.events())
	checkSeqs("feed", fm.c.Data.Events)
	count := map[string]int{}
	for _, ev := range fm.c.Data.Events {
		count[ev.Text.En]++
	}
	for _, s := range []string{"before the drop", "missed one", "missed broadcast", "missed two", "after the return", "missed three"} {
		key := "Score adjusted by the instructor: " + s
		if s == "missed broadcast" {
			key = "Instructor: " + s
		}
		if count[key] != 1 {
			t.Errorf("%q is in the feed %d times", key, count[key])
		}
	}
	for k := range count {
		if strings.Contains(k, "not for team-1") {
			t.Errorf("team-1 saw %q", k)
		}
	}
	if fm.c.Data.View.Score != 53 {
		t.Errorf("score %d", fm.c.Data.View.Score)
	}
	// LastSeq is where the client resumes: at its newest event, or past it
	// when the log's newest events are not the team's to see (a snapshot
	// covers the log up to its seq).
	logLast, err := e.x.Store().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last := fm.c.Data.Events[len(fm.c.Data.Events)-1].Seq; fm.c.Data.LastSeq < last || fm.c.Data.LastSeq > logLast {
		t.Errorf("LastSeq %d, last event %d, the log at %d", fm.c.Data.LastSeq, last, logLast)
	}
}

func seqs(evs []engine.EventView) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

func TestE2ERejected(t *testing.T) {
	e := startE2E(t)
	for _, tc := range []struct{ name, token, msg string }{
		{"unknown token", "not-a-token-" + strconv.Itoa(42), "the server rejected the token"},
		{"instructor token", e.tok.Instructor, "not a team token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm, _, rec, ran := newE2EModel(t, e, tc.token, 100, 30)
			waitOutput(t, tm, 10*time.Second, "token rejected", tc.msg)
			select {
			case <-ran:
			case <-time.After(5 * time.Second):
				t.Fatal("the client keeps running after a rejection")
			}
			time.Sleep(1500 * time.Millisecond) // longer than the first retry would wait
			conns := rec.conns()
			if len(conns) != 2 || conns[0].State != "connecting" || conns[1].State != "rejected" || conns[1].Err == nil {
				t.Fatalf("states %+v", conns)
			}
			if !strings.Contains(conns[1].Err.Error(), tc.msg) {
				t.Fatalf("error %v", conns[1].Err)
			}
			fm := finalModel(t, tm)
			if fm.c.Data.HaveView && tc.name == "unknown token" {
				t.Fatal("a view without a valid token")
			}
			if !strings.Contains(fm.View(), tc.msg) {
				t.Fatalf("the screen does not say why:\n%s", fm.View())
			}
		})
	}
}
