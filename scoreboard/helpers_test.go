package scoreboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/internal/token"
)

// Secrets of the test scenario: strings that must never reach a view that
// is not allowed to see them. Grepping raw JSON for them is the point, so
// each is unique and would not turn up by accident.
const (
	secretAnswer = "SECRET-ANSWER-7731"  // the correct answer to q
	wrongGuess   = "WRONG-GUESS-4242"    // a wrong answer teams submit
	hintText     = "HINT-TEXT-SECRET-11" // requestable hint h-q
	giftText     = "HINT-GIFT-SECRET-22" // instructor-only hint h-gift
	sayPhone     = "SAY-PHONE-CALL-33"   // what the manual inject "phone" says to the team
	silentTitle  = "Routine maintenance" // the silent inject's (deliberately vague) title
	adjustReason = "REASON-PRIVATE-44"   // an adjustment's reason: the team's own business
)

// scTest has two teams' worth of everything the API exposes: a question with
// a known answer, a second question, actions (one-shot and with cost and
// cooldown), a requestable hint with a cost, an instructor-only hint, a
// manual inject with say:, a silent manual inject with effects and no say:,
// a scheduled inject, and objectives.
const scTest = `
id: scoreboard-test
version: 1
title: {en: scoreboard test, ja: スコアボードテスト}
description: {en: a test, ja: テスト}
duration: 30m
teams: {min: 1, max: 40}
plant:
  zones: [{id: it}, {id: control}]
  conduits: [{from: it, to: control, ports: [502]}]
  plcs:
    - {id: tank, model: water-tank, zone: control, noise: 0, params: {level0_m: 2.5, level_sp_m: 2.5}}
  hosts:
    - {id: attacker, role: attacker, zone: it, address: 10.0.0.66}
    - {id: hmi, role: hmi, zone: control}
injects:
  - {id: briefing, at: 1m, title: Shift start, say: Shift start}
  - {id: phone, manual: true, title: Phone call, say: ` + sayPhone + `}
  - id: sneaky
    manual: true
    title: ` + silentTitle + `
    tags: [T0836]
    do: [{modbus_write: {from: attacker, plc: tank, register: level_sp, value: 3.5}}]
actions:
  - {id: isolate, title: isolate, do: [{cut_conduit: {from: it, to: control}}]}
  - {id: fix, title: fix, do: [{set: {plc: tank, tag: level_sp, value: 2.5}}], cost: 5, cooldown: 1m}
questions:
  - {id: q, prompt: which, answer: {exact: "` + secretAnswer + `"}, attempts: 3, penalty: 7}
  - {id: q2, prompt: how many, answer: {number: 42}, attempts: 5, penalty: 1}
hints:
  - {id: h-q, for: q, cost: 4, text: "` + hintText + `"}
  - {id: h-gift, request: false, text: "` + giftText + `"}
objectives:
  - {id: solved, title: Solved, points: 100, when: "answered('q')"}
  - {id: safe, title: Safe, points: 30, fail_when: "plant.tank.level > 3.3", penalty: 10}
`

// fixture is a running exercise served by a Server on loopback.
type fixture struct {
	t    testing.TB
	x    *engine.Exercise
	s    *Server
	base string // http://127.0.0.1:PORT
	ws   string // ws://127.0.0.1:PORT/ws
	host string // 127.0.0.1:PORT
	tok  engine.Tokens
	ctx  context.Context

	clockMu sync.Mutex
	clock   time.Duration // the virtual exercise clock given to Step
}

type fixtureConfig struct {
	opts    Options
	teams   []string // default a, b
	noStart bool     // leave the exercise in phase created
	sndBuf  int      // if set, the server's socket send buffer (bytes)
	// logEvents, if set, gives the running exercise a log that long: a mix
	// of what every scope sees and what only some do (see longLog).
	logEvents int
}

// smallSendBuffer sets the send buffer of every accepted connection, so a
// client that stops reading backs up into the server quickly.
type smallSendBuffer struct {
	net.Listener
	n int
}

func (l smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.n)
	}
	return c, err
}

// newFixture builds an exercise from scTest with the in-process backend,
// starts it (unless told not to), runs the server's hub and serves it on
// 127.0.0.1:0. Everything stops when the test ends. Exercise time does not
// move unless the test calls advance.
func newFixture(t testing.TB, cfg fixtureConfig) *fixture {
	t.Helper()
	teams := cfg.teams
	if len(teams) == 0 {
		teams = []string{"a", "b"}
	}
	sc, err := scenario.Load("scoreboard-test.yaml", []byte(scTest))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	x, err := engine.New(ctx, engine.Config{Scenario: sc, ScenarioYAML: []byte(scTest), ScenarioPath: "scoreboard-test.yaml",
		Teams: teams, DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 7})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if !cfg.noStart || cfg.logEvents > 0 {
		if err := x.Start(ctx, "test"); err != nil {
			cancel()
			x.Close()
			t.Fatal(err)
		}
	}
	tok := x.Tokens() // a resumed exercise keeps only their hashes
	if cfg.logEvents > 0 {
		if x, err = longLog(ctx, x, teams, cfg.logEvents); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	s := New(x, cfg.opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		x.Close()
		t.Fatal(err)
	}
	if cfg.sndBuf > 0 {
		ln = smallSendBuffer{ln, cfg.sndBuf}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.Start(ctx) }()
	go func() {
		defer wg.Done()
		if err := s.ListenAndServe(ctx, ln, "", ""); err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		x.Close()
	})
	host := ln.Addr().String()
	return &fixture{t: t, x: x, s: s, base: "http://" + host, ws: "ws://" + host + "/ws", host: host, tok: tok, ctx: ctx}
}

// longLog stops x (a fresh exercise), appends n events to its log in one
// transaction, noted with scores and audiences as the engine notes them,
// and resumes it, as an engine restarted during a long exercise does. Of
// every ten events, per team in turn: an adjustment (seen by all) three
// times, a wrong answer (the team), a silent inject firing and its effect
// (the instructor), an alarm going on and off (the instructor), and a
// broadcast (all).
func longLog(ctx context.Context, x *engine.Exercise, teams []string, n int) (*engine.Exercise, error) {
	dir, sc := x.Dir(), x.Scenario()
	score := map[string]int{}
	if err := x.Close(); err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(dir, engine.EventsFile))
	if err != nil {
		return nil, err
	}
	js := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	now := time.Now()
	evs := make([]*store.Event, n)
	for i := range evs {
		team := teams[(i/10)%len(teams)]
		e := &store.Event{Time: now, Team: team}
		switch i % 10 {
		case 0, 1, 2:
			e.Kind, e.Data = engine.EvAdjust, js(engine.AdjustData{Points: 1, Reason: "steady"})
		case 3:
			e.Kind, e.Data = engine.EvAnswer, js(engine.AnswerData{Question: "q2", Answer: "7", Penalty: 1, Attempt: 1})
		case 4:
			e.Kind, e.Data = engine.EvInject, js(engine.InjectData{Inject: "sneaky", By: "instructor"})
		case 5:
			e.Kind, e.Data = engine.EvEffect, js(engine.EffectData{Source: "inject", ID: "sneaky", Outcome: "blocked", Detail: "blocked: no path"})
		case 6, 7:
			e.Kind, e.Data = engine.EvPlantAlarm, js(engine.AlarmData{PLC: "tank", Tag: "high", Class: "alarm", Active: i%10 == 6})
		default:
			e.Team, e.Kind, e.Data = "", engine.EvBroadcast, js(engine.BroadcastData{En: fmt.Sprint("news ", i)})
		}
		e.Public, e.TeamSees = engine.Audience(sc, *e)
		if e.Team != "" {
			points, err := engine.ScoreChange(*e)
			if err != nil {
				return nil, err
			}
			score[e.Team] += points
			e.Score = score[e.Team]
		}
		evs[i] = e
	}
	err = st.Append(ctx, evs...)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return engine.Open(ctx, dir, &inproc.Backend{}, scenario.Load)
}

// advance moves the exercise clock forward by d with x.Step: virtual time,
// as fast as the engine can tick.
func (f *fixture) advance(d time.Duration) {
	f.t.Helper()
	f.clockMu.Lock()
	f.clock += d
	to := f.clock
	f.clockMu.Unlock()
	if err := f.x.Step(context.Background(), to); err != nil {
		f.t.Fatal(err)
	}
}

// team and instr are the fixture's tokens.
func (f *fixture) team(name string) string { return f.tok.Teams[name] }
func (f *fixture) instr() string           { return f.tok.Instructor }

// secrets are strings no public view may hold: answers, hint texts, tokens
// and their hashes.
func (f *fixture) secrets() []string {
	out := []string{secretAnswer, wrongGuess, hintText, giftText, adjustReason, f.instr(), token.HashOf(f.instr()).String()}
	for _, tok := range f.tok.Teams {
		out = append(out, tok, token.HashOf(tok).String())
	}
	return out
}

// ---- HTTP ----

type resp struct {
	status int
	header http.Header
	body   []byte
}

// call sends method path with a bearer token (if any) and a body: nil for
// none, a string or []byte as is, anything else as JSON. Bodies are sent as
// application/json.
func (f *fixture) call(method, path, tok string, body any) resp {
	f.t.Helper()
	return f.callCT(method, path, tok, "application/json", body)
}

func (f *fixture) callCT(method, path, tok, contentType string, body any) resp {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.base+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if rd != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp{res.StatusCode, res.Header, b}
}

// ok asserts a 200 and decodes the body into v (if not nil).
func (r resp) ok(t testing.TB, what string, v any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200: %s", what, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q", what, ct)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("%s: decode %s: %v", what, r.body, err)
		}
	}
}

// fails asserts an error reply: the status, and a JSON body of exactly
// {"error": {"code": code, "message": non-empty}}.
func (r resp) fails(t testing.TB, what string, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	checkErrorBody(t, what, r.header, r.body, code)
}

func checkErrorBody(t testing.TB, what string, h http.Header, body []byte, code string) {
	t.Helper()
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: error Content-Type %q, want application/json: %s", what, ct, body)
	}
	var e map[string]map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("%s: error body is not {\"error\": {...}}: %v: %s", what, err, body)
	}
	inner, ok := e["error"]
	if len(e) != 1 || !ok {
		t.Fatalf("%s: error body %s: want exactly one key, error", what, body)
	}
	if len(inner) != 2 {
		t.Fatalf("%s: error body %s: want exactly code and message", what, body)
	}
	if c, _ := inner["code"].(string); c != code {
		t.Fatalf("%s: error code %q, want %q: %s", what, inner["code"], code, body)
	}
	if m, _ := inner["message"].(string); m == "" {
		t.Fatalf("%s: error without a message: %s", what, body)
	}
}

// eventsPage is GET /api/events.
type eventsPage struct {
	Events   []engine.EventView `json:"events"`
	FirstSeq int64              `json:"first_seq"`
	LastSeq  int64              `json:"last_seq"`
	More     bool               `json:"more"`
}

// events returns every event tok may see after seq (as raw JSON too).
func (f *fixture) events(tok string, after int64) ([]engine.EventView, []byte) {
	f.t.Helper()
	var all []engine.EventView
	var raw []byte
	for {
		r := f.call("GET", fmt.Sprintf("/api/events?after=%d&limit=%d", after, MaxEventsPage), tok, nil)
		var p eventsPage
		r.ok(f.t, "GET /api/events", &p)
		raw = append(raw, r.body...)
		all = append(all, p.Events...)
		if len(p.Events) == 0 || p.LastSeq <= after {
			return all, raw
		}
		after = p.LastSeq
	}
}

// lastSeq is the newest seq in the log.
func (f *fixture) lastSeq() int64 {
	f.t.Helper()
	n, err := f.x.Store().LastSeq(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func teamScore(t testing.TB, f *fixture, team string) int {
	t.Helper()
	var v engine.TeamView
	f.call("GET", "/api/state", f.team(team), nil).ok(t, "GET /api/state", &v)
	return v.Score
}

func kinds(evs []engine.EventView) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
		if e.Team != "" {
			out[i] += "@" + e.Team
		}
	}
	return out
}

// ---- WebSocket ----

// wsConn is a test client.
type wsConn struct {
	t     testing.TB
	c     *websocket.Conn
	queue [][]byte // messages of the last frame not read yet
}

// dial opens /ws with optional headers; it fails the test unless the
// upgrade succeeds.
func (f *fixture) dial(h http.Header) *wsConn {
	f.t.Helper()
	c, res, err := websocket.DefaultDialer.Dial(f.ws, h)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		f.t.Fatalf("dial %s: %v (status %d)", f.ws, err, status)
	}
	f.t.Cleanup(func() { c.Close() })
	return &wsConn{t: f.t, c: c}
}

// snapshot is the data of a snapshot message.
type snapshot struct {
	Role    string             `json:"role"`
	Team    string             `json:"team"`
	View    json.RawMessage    `json:"view"`
	Events  []engine.EventView `json:"events"`
	Resumed bool               `json:"resumed"`
	More    bool               `json:"more"`
	Trends  *teamTrend         `json:"trends"`
}

// connect dials, says hello with tok (may be "") and lastSeq (0 for a first
// connection) and returns the snapshot and its seq.
func (f *fixture) connect(tok string, lastSeq int64) (*wsConn, snapshot, int64) {
	f.t.Helper()
	w := f.dial(nil)
	snap, seq := w.hello(tok, lastSeq)
	return w, snap, seq
}

func (w *wsConn) hello(tok string, lastSeq int64) (snapshot, int64) {
	w.t.Helper()
	w.send("hello", "", hello{Token: tok, LastSeq: lastSeq})
	m := w.read(5 * time.Second)
	if m.Type != "snapshot" {
		w.t.Fatalf("after hello: got %s %s, want a snapshot", m.Type, m.Data)
	}
	var s snapshot
	if err := json.Unmarshal(m.Data, &s); err != nil {
		w.t.Fatalf("decode snapshot: %v", err)
	}
	return s, m.Seq
}

func (w *wsConn) send(typ, id string, data any) {
	w.t.Helper()
	d, err := json.Marshal(data)
	if err != nil {
		w.t.Fatal(err)
	}
	if data == nil {
		d = nil
	}
	if err := w.c.WriteJSON(Message{Type: typ, ID: id, Data: d}); err != nil {
		w.t.Fatalf("send %s: %v", typ, err)
	}
}

// read returns the next message or fails the test after timeout.
func (w *wsConn) read(timeout time.Duration) Message {
	w.t.Helper()
	m, err := w.tryRead(timeout)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return m
}

func (w *wsConn) tryRead(timeout time.Duration) (Message, error) {
	var m Message
	// A frame may carry several messages, one per line.
	for len(w.queue) == 0 {
		w.c.SetReadDeadline(time.Now().Add(timeout))
		_, frame, err := w.c.ReadMessage()
		if err != nil {
			return m, err
		}
		for _, line := range bytes.Split(frame, []byte{'\n'}) {
			if len(line) > 0 {
				w.queue = append(w.queue, line)
			}
		}
	}
	b := w.queue[0]
	w.queue = w.queue[1:]
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode %s: %w", b, err)
	}
	return m, nil
}

// until reads messages until one satisfies stop, within timeout overall,
// and returns all it read (the last one satisfies stop).
func (w *wsConn) until(timeout time.Duration, stop func(Message) bool) []Message {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	var got []Message
	for {
		left := time.Until(deadline)
		if left <= 0 {
			w.t.Fatalf("no awaited message within %v; got %d: %s", timeout, len(got), summarize(got))
		}
		m, err := w.tryRead(left)
		if err != nil {
			w.t.Fatalf("awaiting a message: %v; got %d: %s", err, len(got), summarize(got))
		}
		got = append(got, m)
		if stop(m) {
			return got
		}
	}
}

// command sends a command and returns its reply or error, skipping the
// deltas in between (which it returns too).
func (w *wsConn) command(typ, id string, data any) (Message, []Message) {
	w.t.Helper()
	w.send(typ, id, data)
	got := w.until(5*time.Second, func(m Message) bool {
		return (m.Type == "reply" || m.Type == "error") && m.ID == id
	})
	return got[len(got)-1], got[:len(got)-1]
}

func summarize(ms []Message) string {
	var b strings.Builder
	for i, m := range ms {
		if i == 12 {
			fmt.Fprintf(&b, " …")
			break
		}
		fmt.Fprintf(&b, " %s/%d", m.Type, m.Seq)
	}
	return b.String()
}

// eventOf decodes an event message's data.
func eventOf(t testing.TB, m Message) engine.EventView {
	t.Helper()
	var e engine.EventView
	if err := json.Unmarshal(m.Data, &e); err != nil {
		t.Fatalf("decode event %s: %v", m.Data, err)
	}
	if e.Seq != m.Seq {
		t.Fatalf("event message seq %d carries event seq %d", m.Seq, e.Seq)
	}
	return e
}

// isBroadcast matches the event of a broadcast whose English text has s.
func isBroadcast(s string) func(Message) bool {
	return func(m Message) bool {
		return m.Type == "event" && bytes.Contains(m.Data, []byte(`"message.broadcast"`)) && bytes.Contains(m.Data, []byte(s))
	}
}

// broadcast sends a marker every client sees, to bound "never arrives"
// checks: events come in seq order, so anything not seen before the marker
// will not come.
func (f *fixture) broadcast(text string) {
	f.t.Helper()
	f.call("POST", "/api/broadcast", f.instr(), map[string]string{"en": text}).ok(f.t, "broadcast "+text, nil)
}
