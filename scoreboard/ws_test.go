package scoreboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/scenario"
)

func seqsOf(evs []engine.EventView) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// eventSeqs are the seqs of the event messages among ms.
func eventSeqs(t testing.TB, ms []Message) []int64 {
	var out []int64
	for _, m := range ms {
		if m.Type == "event" {
			out = append(out, eventOf(t, m).Seq)
		}
	}
	return out
}

func increasing(s []int64) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return true
}

// waitClients waits until the server counts n WebSocket clients.
func waitClients(t testing.TB, s *Server, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for s.Clients() != n {
		if time.Now().After(deadline) {
			t.Fatalf("server has %d clients, want %d", s.Clients(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestWSSnapshotByRole(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	play(f)
	last := f.lastSeq()

	// No token: the public view and feed, and none of the secrets.
	w := f.dial(nil)
	w.send("hello", "", map[string]any{})
	m := w.read(5 * time.Second)
	var snap snapshot
	if m.Type != "snapshot" || json.Unmarshal(m.Data, &snap) != nil {
		t.Fatalf("public hello: %s %s", m.Type, m.Data)
	}
	for _, s := range f.secrets() {
		if bytes.Contains(m.Data, []byte(s)) {
			t.Errorf("the public snapshot holds %q", s)
		}
	}
	for _, s := range []string{sayPhone, silentTitle, `"truth"`, `"data"`, "modbus_write", `"trends"`} {
		if bytes.Contains(m.Data, []byte(s)) {
			t.Errorf("the public snapshot holds %q", s)
		}
	}
	var pv engine.PublicView
	if err := json.Unmarshal(snap.View, &pv); err != nil || len(pv.Teams) != 2 || pv.Exercise.Phase != engine.PhaseRunning {
		t.Fatalf("public view %s: %v", snap.View, err)
	}
	if snap.Role != "public" || snap.Team != "" || snap.Resumed || m.Seq != last || len(snap.Events) == 0 {
		t.Fatalf("public snapshot: role %q team %q resumed %v seq %d (log at %d), %d events", snap.Role, snap.Team, snap.Resumed, m.Seq, last, len(snap.Events))
	}
	for _, e := range snap.Events {
		if e.Kind == engine.EvAnswer || e.Kind == engine.EvHint || e.Kind == engine.EvEffect || e.Kind == engine.EvAction || e.Data != nil {
			t.Errorf("the public feed has %d %s", e.Seq, e.Kind)
		}
	}

	// A team token: the team's view and feed, and its HMI trends.
	w, snap, seq := f.connect(f.team("a"), 0)
	var tv engine.TeamView
	if err := json.Unmarshal(snap.View, &tv); err != nil || tv.Team != "a" {
		t.Fatalf("team view %s: %v", snap.View, err)
	}
	want, _ := f.events(f.team("a"), 0)
	if snap.Role != "team" || snap.Team != "a" || seq != last || !slices.Equal(seqsOf(snap.Events), seqsOf(want)) {
		t.Fatalf("team snapshot: role %q team %q seq %d, events %v, want %v", snap.Role, snap.Team, seq, seqsOf(snap.Events), seqsOf(want))
	}
	if snap.Trends == nil || len(snap.Trends.ClockMS) == 0 || len(snap.Trends.Values["tank.level"]) != len(snap.Trends.ClockMS) {
		t.Fatalf("team trends: %+v", snap.Trends)
	}

	// The instructor: everything.
	_, snap, _ = f.connect(f.instr(), 0)
	var iv engine.InstructorView
	if err := json.Unmarshal(snap.View, &iv); err != nil || len(iv.Teams) != 2 || snap.Role != "instructor" {
		t.Fatalf("instructor snapshot %s: %v", snap.View, err)
	}
	want, _ = f.events(f.instr(), 0)
	if !slices.Equal(seqsOf(snap.Events), seqsOf(want)) {
		t.Fatalf("instructor feed %v, want %v", seqsOf(snap.Events), seqsOf(want))
	}
	_ = w
}

// A fresh client gets the recent feed: at most 50 events, the newest.
func TestWSSnapshotRecentFeed(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	for i := range 80 {
		if err := f.x.Adjust(context.Background(), "a", 1, fmt.Sprint("r", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, snap, seq := f.connect(f.team("a"), 0)
	all, _ := f.events(f.team("a"), 0)
	want := seqsOf(all[len(all)-recentEvents:])
	if !slices.Equal(seqsOf(snap.Events), want) || seq != f.lastSeq() {
		t.Fatalf("recent feed %v (seq %d), want %v", seqsOf(snap.Events), seq, want)
	}
}

func TestWSHello(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})

	// The upgrade request may carry the token (as the TUI does); the hello
	// then need not, and a token in it changes nothing.
	h := http.Header{"Authorization": {"Bearer " + f.team("b")}}
	w := f.dial(h)
	snap, _ := w.hello(f.instr(), 0)
	if snap.Role != "team" || snap.Team != "b" {
		t.Fatalf("header-authenticated hello: role %q team %q", snap.Role, snap.Team)
	}
	_, res, err := websocket.DefaultDialer.Dial(f.ws, http.Header{"Authorization": {"Bearer nope"}})
	if err == nil || res == nil || res.StatusCode != 401 {
		t.Fatalf("upgrade with an unknown token: %v (%v)", err, res)
	}

	// An unknown token in hello, or a command before hello: the connection
	// closes (with an error message first, if it gets through: see
	// TestWSHelloErrorsDelivered).
	for _, c := range []struct {
		typ, code string
		data      any
	}{{"hello", "unauthorized", hello{Token: "nope"}}, {"state", "hello_first", nil}} {
		w = f.dial(nil)
		w.send(c.typ, "x1", c.data)
		for {
			m, err := w.tryRead(5 * time.Second)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("%s first: the connection stayed open", c.typ)
				}
				break
			}
			if m.Type != "error" || m.ID != "x1" || !bytes.Contains(m.Data, []byte(`"`+c.code+`"`)) {
				t.Fatalf("%s first: %s %s %s, want error %s", c.typ, m.Type, m.ID, m.Data, c.code)
			}
		}
	}
	waitClients(t, f.s, 1, 5*time.Second)

	// Not JSON: an error, and the client may still say hello.
	w = f.dial(nil)
	if err := w.c.WriteMessage(websocket.TextMessage, []byte("{nope")); err != nil {
		t.Fatal(err)
	}
	m := w.read(5 * time.Second)
	if m.Type != "error" || !bytes.Contains(m.Data, []byte(`"bad_json"`)) {
		t.Fatalf("not JSON: %s %s", m.Type, m.Data)
	}
	if snap, _ := w.hello("", 0); snap.Role != "public" {
		t.Fatalf("hello after bad JSON: %+v", snap)
	}
}

// A refused hello is answered with an error message before the connection
// closes, so a console can say "unknown token" rather than "connection
// lost".
func TestWSHelloErrorsDelivered(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	for _, c := range []struct {
		typ, code string
		data      any
	}{{"hello", "unauthorized", hello{Token: "nope"}}, {"state", "hello_first", nil}, {"hello", "bad_json", []int{1}}} {
		w := f.dial(nil)
		w.send(c.typ, "x1", c.data)
		m, err := w.tryRead(5 * time.Second)
		if err != nil || m.Type != "error" || m.ID != "x1" || !bytes.Contains(m.Data, []byte(`"`+c.code+`"`)) {
			t.Errorf("%s %v first: got %s %s %s (%v), want error %s", c.typ, c.data, m.Type, m.ID, m.Data, err, c.code)
		}
	}
}

// A client that says nothing is dropped after the hello wait (10 s).
func TestWSHelloTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 10 s hello timeout")
	}
	t.Parallel()
	f := newFixture(t, fixtureConfig{opts: noLimit})
	w := f.dial(nil)
	start := time.Now()
	_, err := w.tryRead(helloWait + 5*time.Second)
	took := time.Since(start)
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("a silent client was not dropped within %v: %v", helloWait+5*time.Second, err)
	}
	if took < helloWait-time.Second {
		t.Fatalf("dropped after %v, before the hello wait of %v", took, helloWait)
	}
	waitClients(t, f.s, 0, 5*time.Second)
}

func TestWSDeltas(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	wa, _, _ := f.connect(f.team("a"), 0)
	wb, _, _ := f.connect(f.team("b"), 0)
	wi, _, _ := f.connect(f.instr(), 0)
	wp, _, _ := f.connect("", 0)
	waitClients(t, f.s, 4, time.Second)

	var res engine.AnswerResult
	f.call("POST", "/api/answers", f.team("a"), map[string]string{"question": "q", "answer": wrongGuess}).ok(t, "answer", &res)
	isAnswer := func(m Message) bool { return m.Type == "event" && bytes.Contains(m.Data, []byte(`"answer.submitted"`)) }

	ma := wa.until(5*time.Second, isAnswer)
	ea := eventOf(t, ma[len(ma)-1])
	if ea.Team != "a" || ea.Data != nil || ea.Score == nil || *ea.Score != -7 || ea.Points != -7 || strings.Contains(ea.Text.En, wrongGuess) {
		t.Fatalf("team a's answer event: %+v", ea)
	}
	mi := wi.until(5*time.Second, isAnswer)
	ei := eventOf(t, mi[len(mi)-1])
	if ei.Seq != ea.Seq || !strings.Contains(ei.Text.En, wrongGuess) || !bytes.Contains(ei.Data, []byte(wrongGuess)) {
		t.Fatalf("the instructor's answer event: %+v", ei)
	}

	// Team b and the public never get it: everything before the marker
	// has arrived by the time the marker does.
	f.broadcast("marker-1")
	for name, w := range map[string]*wsConn{"b": wb, "public": wp} {
		ms := w.until(5*time.Second, isBroadcast("marker-1"))
		for _, m := range ms {
			if isAnswer(m) || bytes.Contains(m.Data, []byte(wrongGuess)) {
				t.Fatalf("%s got team a's answer: %s", name, m.Data)
			}
		}
		if s := eventSeqs(t, ms); !increasing(s) {
			t.Fatalf("%s: event seqs %v", name, s)
		}
	}
	ms := append(ma, wa.until(5*time.Second, isBroadcast("marker-1"))...)
	if s := eventSeqs(t, ms); !increasing(s) || len(s) != 2 {
		t.Fatalf("team a: event seqs %v, want the answer and the marker", s)
	}

	// A live event is the event as GET /api/events shows it, score included.
	for tok, ms := range map[string][]Message{f.team("a"): ms, f.instr(): append(mi, wi.until(5*time.Second, isBroadcast("marker-1"))...)} {
		evs, _ := f.events(tok, 0)
		bySeq := map[int64]engine.EventView{}
		for _, e := range evs {
			bySeq[e.Seq] = e
		}
		for _, m := range ms {
			if m.Type != "event" {
				continue
			}
			live, _ := json.Marshal(eventOf(t, m))
			stored, _ := json.Marshal(bySeq[m.Seq])
			if !bytes.Equal(live, stored) {
				t.Fatalf("live event %s\n/api/events %s", live, stored)
			}
		}
	}

	// Views follow events: team a's shows its new score, the public's the
	// ranking with it.
	wa.until(5*time.Second, func(m Message) bool {
		var v engine.TeamView
		return m.Type == "view" && json.Unmarshal(m.Data, &v) == nil && v.Team == "a" && v.Score == -7
	})
	wp.until(5*time.Second, func(m Message) bool {
		var v engine.PublicView
		if m.Type != "view" || json.Unmarshal(m.Data, &v) != nil || len(v.Teams) != 2 {
			return false
		}
		return v.Teams[1].Name == "a" && v.Teams[1].Score == -7 && v.Teams[1].Rank == 2
	})
	wi.until(5*time.Second, func(m Message) bool {
		var v engine.InstructorView
		return m.Type == "view" && json.Unmarshal(m.Data, &v) == nil && len(v.Teams) == 2
	})
	// Without events, views still come every ViewInterval (1 s).
	wb.until(3*time.Second, func(m Message) bool { return m.Type == "view" })
}

func TestWSCommands(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	wa, _, _ := f.connect(f.team("a"), 0)
	wi, _, _ := f.connect(f.instr(), 0)
	wp, _, _ := f.connect("", 0)

	expect := func(w *wsConn, typ, id string, data any, wantType, wantIn string) Message {
		t.Helper()
		m, _ := w.command(typ, id, data)
		if m.Type != wantType || m.ID != id || !bytes.Contains(m.Data, []byte(wantIn)) {
			t.Fatalf("%s %s: got %s %q %s, want %s with %s", typ, id, m.Type, m.ID, m.Data, wantType, wantIn)
		}
		if m.Type == "error" {
			var e apiError
			if err := json.Unmarshal(m.Data, &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("%s %s: error data %s", typ, id, m.Data)
			}
		}
		return m
	}
	// A team: its commands, and none of the instructor's.
	before := f.lastSeq()
	m := expect(wa, "answer", "a1", map[string]string{"question": "q", "answer": wrongGuess}, "reply", `"correct":false`)
	var res engine.AnswerResult
	json.Unmarshal(m.Data, &res)
	if res != (engine.AnswerResult{Correct: false, Penalty: 7, AttemptsLeft: 2, Score: -7}) {
		t.Fatalf("WS wrong answer: %+v", res)
	}
	if evs, _ := f.events(f.instr(), before); len(evs) != 1 || evs[0].Kind != engine.EvAnswer {
		t.Fatalf("after the reply the answer is committed: %v", kinds(evs))
	}
	expect(wa, "answer", "a2", map[string]string{"question": "q", "answer": secretAnswer}, "reply", `"correct":true`)
	expect(wa, "answer", "a3", map[string]string{"question": "q", "answer": secretAnswer}, "error", `"conflict"`)
	expect(wa, "answer", "a4", map[string]string{"question": "q2", "answer": ""}, "error", `"invalid"`)
	expect(wa, "answer", "a5", map[string]any{"question": "q2", "answer": "1", "team": "b"}, "error", `"bad_json"`)
	expect(wa, "action", "a6", map[string]string{"action": "isolate"}, "reply", `"effects":[{"outcome":"ok"}]`)
	expect(wa, "action", "a7", map[string]string{"action": "isolate"}, "error", `"limit"`)
	expect(wa, "hint", "a8", map[string]string{"hint": "h-q"}, "reply", hintText)
	expect(wa, "hint", "a9", map[string]string{"hint": "h-gift"}, "error", `"not_found"`)
	expect(wa, "hint", "a10", map[string]string{"hint": "h-q", "team": "b"}, "error", `"code"`)
	expect(wa, "control", "a11", map[string]string{"op": "pause"}, "error", `"forbidden"`)
	expect(wa, "fire", "a12", map[string]string{"inject": "phone"}, "error", `"forbidden"`)
	expect(wa, "adjust", "a13", map[string]any{"team": "a", "points": 100, "reason": "me"}, "error", `"forbidden"`)
	expect(wa, "broadcast", "a14", map[string]string{"en": "hi"}, "error", `"forbidden"`)
	expect(wa, "nope", "a15", nil, "error", `"unknown_type"`)
	m = expect(wa, "state", "a16", nil, "reply", `"team":"a"`)
	var tv engine.TeamView
	if json.Unmarshal(m.Data, &tv) != nil || tv.Score != -11 {
		t.Fatalf("team a's state: %s (want score -11: −7 wrong, −4 hint)", m.Data)
	}
	if s := teamScore(t, f, "b"); s != 0 {
		t.Fatalf("team b's score %d: a's commands reached b", s)
	}

	// The instructor: its commands, and none of a team's.
	expect(wi, "answer", "i1", map[string]string{"question": "q2", "answer": "42"}, "error", `"forbidden"`)
	expect(wi, "action", "i2", map[string]string{"action": "fix"}, "error", `"forbidden"`)
	expect(wi, "control", "i3", map[string]string{"op": "pause"}, "reply", `"phase":"paused"`)
	expect(wi, "control", "i4", map[string]string{"op": "pause"}, "error", `"conflict"`)
	expect(wi, "control", "i5", map[string]string{"op": "explode"}, "error", `"not_found"`)
	expect(wa, "answer", "a17", map[string]string{"question": "q2", "answer": "42"}, "error", `"conflict"`)
	expect(wi, "control", "i6", map[string]string{"op": "resume"}, "reply", `"phase":"running"`)
	expect(wi, "fire", "i7", map[string]string{"inject": "phone", "team": "b"}, "reply", `"ok":true`)
	expect(wi, "fire", "i8", map[string]string{"inject": "phone", "team": "b"}, "error", `"conflict"`)
	expect(wi, "fire", "i9", map[string]string{"inject": "nope"}, "error", `"not_found"`)
	expect(wi, "adjust", "i10", map[string]any{"team": "b", "points": 5, "reason": "r"}, "reply", `"ok":true`)
	expect(wi, "adjust", "i11", map[string]any{"team": "b", "points": 0, "reason": "r"}, "error", `"invalid"`)
	expect(wi, "broadcast", "i12", map[string]string{"en": "hello"}, "reply", `"ok":true`)
	expect(wi, "hint", "i13", map[string]string{"hint": "h-gift", "team": "a"}, "reply", `"ok":true`)
	m = expect(wi, "state", "i14", nil, "reply", `"injects"`)
	if s := teamScore(t, f, "b"); s != 5 {
		t.Fatalf("team b's score %d after +5", s)
	}

	// The public: may watch, not act.
	expect(wp, "answer", "p1", map[string]string{"question": "q2", "answer": "42"}, "error", `"unauthorized"`)
	expect(wp, "control", "p2", map[string]string{"op": "stop"}, "error", `"unauthorized"`)
	if _, p := f.x.Clock(); p != engine.PhaseRunning {
		t.Fatalf("phase %s", p)
	}
}

// Resuming with last_seq delivers exactly the missed events the client may
// see, in order, then the live ones, none twice.
func TestWSResume(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	ctx := context.Background()
	w, snap, seq := f.connect(f.team("a"), 0)
	f.x.Adjust(ctx, "a", 1, "one")
	f.broadcast("m1")
	ms := w.until(5*time.Second, isBroadcast("m1"))
	got := append(seqsOf(snap.Events), eventSeqs(t, ms)...)
	n := got[len(got)-1]
	if want, _ := f.events(f.team("a"), 0); !slices.Equal(got, seqsOf(want)) || seq >= n {
		t.Fatalf("first connection: %v, want %v", got, seqsOf(want))
	}
	w.c.Close()
	waitClients(t, f.s, 0, 5*time.Second)

	// Missed while away: some for a, some for b only, some for all.
	f.x.Adjust(ctx, "a", 2, "two")
	f.x.Adjust(ctx, "b", 2, "b's")
	f.call("POST", "/api/answers", f.team("a"), map[string]string{"question": "q2", "answer": "7"}).ok(t, "answer", nil)
	f.call("POST", "/api/injects/sneaky/fire", f.instr(), map[string]string{"team": "a"}).ok(t, "sneaky", nil) // invisible to a
	f.broadcast("m2")
	f.x.Adjust(ctx, "b", 3, "b's")

	w, snap, seq = f.connect(f.team("a"), n)
	want, _ := f.events(f.team("a"), n)
	if !snap.Resumed || !slices.Equal(seqsOf(snap.Events), seqsOf(want)) || len(want) != 3 {
		t.Fatalf("resumed snapshot (resumed %v): %v, want %v", snap.Resumed, kinds(snap.Events), kinds(want))
	}
	if seq < want[len(want)-1].Seq {
		t.Fatalf("snapshot seq %d below its last event %d", seq, want[len(want)-1].Seq)
	}
	// Then live, from where the snapshot ended.
	f.x.Adjust(ctx, "a", 4, "four")
	f.broadcast("m3")
	ms = w.until(5*time.Second, isBroadcast("m3"))
	live := eventSeqs(t, ms)
	if len(live) != 2 || live[0] <= seq {
		t.Fatalf("live after resume: %v (snapshot seq %d)", live, seq)
	}
}

// Resuming while events keep coming: the snapshot and the live deltas meet
// without a gap or a duplicate however the commits interleave with the
// catch-up.
func TestWSResumeWhileEventsFlow(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	ctx := context.Background()
	for iter := range 5 {
		w, _, _ := f.connect(f.team("a"), 0)
		mark := fmt.Sprint("start-", iter)
		f.broadcast(mark)
		ms := w.until(5*time.Second, isBroadcast(mark))
		n := eventSeqs(t, ms)[len(eventSeqs(t, ms))-1]
		w.c.Close()

		stop, done := make(chan struct{}), make(chan error, 1)
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				var err error
				switch i % 3 {
				case 0:
					err = f.x.Adjust(ctx, "a", 1, "p")
				case 1:
					err = f.x.Adjust(ctx, "b", 1, "p")
				default:
					err = f.x.Broadcast(ctx, scenario.Text{En: fmt.Sprint("p", i)})
				}
				if err != nil {
					done <- err
					return
				}
			}
		}()
		waitSeq(t, f, n+20)
		w = f.dial(nil)
		snap, seq := w.hello(f.team("a"), n)
		waitSeq(t, f, f.lastSeq()+20)
		close(stop)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		end := fmt.Sprint("end-", iter)
		f.broadcast(end)
		ms = w.until(10*time.Second, isBroadcast(end))
		live := eventSeqs(t, ms)
		got := append(seqsOf(snap.Events), live...)
		want, _ := f.events(f.team("a"), n)
		if !slices.Equal(got, seqsOf(want)) {
			t.Fatalf("iteration %d: snapshot (seq %d) %v + live %v\nwant %v", iter, seq, seqsOf(snap.Events), live, seqsOf(want))
		}
		if len(live) > 0 && live[0] <= seq {
			t.Fatalf("iteration %d: live event %d at or before the snapshot's seq %d", iter, live[0], seq)
		}
		w.c.Close()
	}
}

// A client that missed up to resumeEvents events gets every one; one that
// missed more gets the recent feed, as a fresh client does, told that older
// events were left out, and pages back through /api/events for them.
func TestWSResumeLongGap(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	ctx := context.Background()
	adjust := func(n int) {
		for i := range n {
			if err := f.x.Adjust(ctx, "a", 1, fmt.Sprint("r", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	w, _, seq := f.connect(f.team("a"), 0)
	w.c.Close()
	adjust(resumeEvents)
	w, snap, sseq := f.connect(f.team("a"), seq)
	want, _ := f.events(f.team("a"), seq)
	if !snap.Resumed || snap.More || len(want) != resumeEvents || !slices.Equal(seqsOf(snap.Events), seqsOf(want)) {
		t.Fatalf("resume after %d missed events: resumed %v more %v, %d events, want all %d", len(want), snap.Resumed, snap.More, len(snap.Events), len(want))
	}
	w.c.Close()

	adjust(resumeEvents + 1)
	w, snap, sseq2 := f.connect(f.team("a"), sseq)
	want, _ = f.events(f.team("a"), sseq)
	recent := want[len(want)-recentEvents:]
	if snap.Resumed || !snap.More || !slices.Equal(seqsOf(snap.Events), seqsOf(recent)) || sseq2 != f.lastSeq() {
		t.Fatalf("resume after %d missed events: resumed %v more %v, events %v (seq %d), want the newest %d",
			len(want), snap.Resumed, snap.More, seqsOf(snap.Events), sseq2, recentEvents)
	}
	// Live events follow the snapshot without a gap.
	f.broadcast("after")
	ms := w.until(10*time.Second, isBroadcast("after"))
	if live := eventSeqs(t, ms); len(live) != 1 || live[0] != sseq2+1 {
		t.Fatalf("live after the snapshot (seq %d): %v", sseq2, live)
	}
	// What the snapshot left out pages back from its first event.
	var p eventsPage
	f.call("GET", fmt.Sprintf("/api/events?after=%d&before=%d&limit=%d", sseq, snap.Events[0].Seq, MaxEventsPage), f.team("a"), nil).ok(t, "the skipped events", &p)
	if !slices.Equal(seqsOf(p.Events), seqsOf(want[:len(want)-recentEvents])) || p.More {
		t.Fatalf("skipped events: %d (more %v), want %d", len(p.Events), p.More, len(want)-recentEvents)
	}
}

// A silent inject (no say:) never reaches the public: not its snapshot,
// its live feed, nor the scoreboard; one that talks does, as its title.
func TestPublicFeedHidesSilentInjects(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	pub, _, _ := f.connect("", 0)
	f.call("POST", "/api/injects/sneaky/fire", f.instr(), map[string]string{"team": "a"}).ok(t, "fire sneaky for a", nil)
	f.call("POST", "/api/injects/phone/fire", f.instr(), map[string]string{"team": "b"}).ok(t, "fire phone for b", nil)
	f.broadcast("mark")
	ms := pub.until(5*time.Second, isBroadcast("mark"))
	var injects []string
	for _, m := range ms {
		if m.Type == "event" {
			if e := eventOf(t, m); e.Kind == engine.EvInject {
				injects = append(injects, e.Team+":"+e.Text.En)
			}
		}
	}
	if !slices.Equal(injects, []string{"b:Phone call"}) {
		t.Fatalf("the public live feed's injects: %v, want b:Phone call only", injects)
	}
	w := f.dial(nil)
	w.send("hello", "", map[string]any{})
	m := w.read(5 * time.Second)
	r := f.call("GET", "/api/scoreboard", "", nil)
	for what, body := range map[string][]byte{"snapshot": m.Data, "scoreboard": r.body} {
		if bytes.Contains(body, []byte(silentTitle)) || bytes.Contains(body, []byte("sneaky")) {
			t.Errorf("the public %s shows the silent inject: %s", what, body)
		}
		if !bytes.Contains(body, []byte("Phone call")) {
			t.Errorf("the public %s lacks the inject that talked: %s", what, body)
		}
	}
	// Its team's instructor sees it, of course.
	all, _ := f.events(f.instr(), 0)
	found := false
	for _, e := range all {
		found = found || (e.Kind == engine.EvInject && e.Team == "a" && strings.Contains(e.Text.En, silentTitle))
	}
	if !found {
		t.Error("the instructor's feed lacks the silent inject")
	}
}

// Connections without a token are bounded per source address; the excess
// is refused at the upgrade with 429. A hello with a token frees the slot,
// as does leaving; connections authenticated at the upgrade don't count.
func TestWSPublicLimitPerAddr(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: Options{PublicPerAddr: 3, AnswerRate: rate.Inf}})
	refused := func(h http.Header) {
		t.Helper()
		c, res, err := websocket.DefaultDialer.Dial(f.ws, h)
		if err == nil {
			c.Close()
			t.Fatal("a 4th connection without a token was accepted")
		}
		if res == nil || res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("the 4th connection: %v (%v), want 429", err, res)
		}
		body, _ := io.ReadAll(res.Body)
		checkErrorBody(t, "429 at the upgrade", res.Header, body, "too_many_connections")
	}
	var anon []*wsConn
	for range 3 {
		w, snap, _ := f.connect("", 0)
		if snap.Role != "public" {
			t.Fatalf("role %s", snap.Role)
		}
		anon = append(anon, w)
	}
	refused(nil)
	// Team and instructor clients authenticated at the upgrade are not
	// counted, however many.
	for range 5 {
		w := f.dial(http.Header{"Authorization": {"Bearer " + f.team("a")}})
		if snap, _ := w.hello("", 0); snap.Role != "team" {
			t.Fatalf("role %s", snap.Role)
		}
	}
	// A public viewer leaves: its slot is free again.
	anon[0].c.Close()
	deadline := time.Now().Add(10 * time.Second)
	var browser *wsConn
	for browser == nil {
		c, _, err := websocket.DefaultDialer.Dial(f.ws, nil)
		switch {
		case err == nil:
			browser = &wsConn{t: t, c: c}
			t.Cleanup(func() { c.Close() })
		case time.Now().After(deadline):
			t.Fatalf("the slot of a closed connection was not freed: %v", err)
		default:
			time.Sleep(5 * time.Millisecond)
		}
	}
	// A browser's hello with a token frees its slot at once.
	if snap, _ := browser.hello(f.team("b"), 0); snap.Role != "team" {
		t.Fatalf("role %s", snap.Role)
	}
	w := f.dial(nil)
	if snap, _ := w.hello("", 0); snap.Role != "public" {
		t.Fatalf("role %s", snap.Role)
	}
	refused(nil)
}

func TestWSMessageSizeLimit(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	w, _, _ := f.connect(f.team("a"), 0)
	// Exactly 4 KiB is fine.
	msg := func(size int) []byte {
		b := []byte(`{"type":"state","id":"`)
		tail := `","data":{}}`
		b = append(b, bytes.Repeat([]byte("x"), size-len(b)-len(tail))...)
		return append(b, tail...)
	}
	if err := w.c.WriteMessage(websocket.TextMessage, msg(MaxWSMessage)); err != nil {
		t.Fatal(err)
	}
	w.until(5*time.Second, func(m Message) bool { return m.Type == "reply" })
	// One byte more closes the connection (1009: message too big).
	if err := w.c.WriteMessage(websocket.TextMessage, msg(MaxWSMessage+1)); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := w.tryRead(5 * time.Second)
		if err == nil {
			continue // deltas already on their way
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("closed with %d, want %d", ce.Code, websocket.CloseMessageTooBig)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the connection stayed open after a message over 4 KiB")
		}
		break
	}
	waitClients(t, f.s, 0, 5*time.Second)
}

func TestWSOrigin(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: Options{Origins: []string{"https://scoreboard.example.org/"}}})
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + f.host, true},
		{"https://scoreboard.example.org", true},
		{"http://evil.example", false},
		{"http://" + f.host + ".evil.example", false},
		{"null", false},
		{"https://scoreboard.example.org.evil", false},
	} {
		h := http.Header{}
		if c.origin != "" {
			h.Set("Origin", c.origin)
		}
		conn, res, err := websocket.DefaultDialer.Dial(f.ws, h)
		if c.ok {
			if err != nil {
				t.Errorf("Origin %q refused: %v", c.origin, err)
				continue
			}
			w := &wsConn{t: t, c: conn}
			if snap, _ := w.hello("", 0); snap.Role != "public" {
				t.Errorf("Origin %q: snapshot %+v", c.origin, snap)
			}
			conn.Close()
			continue
		}
		if err == nil {
			conn.Close()
			t.Errorf("Origin %q accepted", c.origin)
			continue
		}
		if res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %q: %v (%v), want 403", c.origin, err, res)
		}
	}
}

// A client that stops reading is dropped once its buffer fills, and a
// reading client keeps getting every event promptly meanwhile. Events are
// produced in lockstep with the fast client, so it never has more than one
// event in flight and its small buffer is enough.
func TestWSSlowClientDropped(t *testing.T) {
	// Small socket buffers on both ends make a client that stops reading
	// back up into the server after a few messages rather than megabytes.
	f := newFixture(t, fixtureConfig{opts: Options{ClientBuffer: 8, AnswerRate: rate.Inf}, noStart: true, sndBuf: 8 << 10})
	ctx := context.Background()
	// The slow client takes the instructor's (largest) messages and stops
	// reading after its snapshot.
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	sc, _, err := d.Dial(f.ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	slow := &wsConn{t: t, c: sc}
	slow.hello(f.instr(), 0)
	fast, _, _ := f.connect("", 0)
	waitClients(t, f.s, 2, time.Second)

	var seqs []int64
	droppedAt := -1
	for i := 0; ; i++ {
		if err := f.x.Adjust(ctx, "a", 1, strings.Repeat("r", 400)); err != nil {
			t.Fatal(err)
		}
		ms := fast.until(2*time.Second, func(m Message) bool { return m.Type == "event" })
		seqs = append(seqs, eventOf(t, ms[len(ms)-1]).Seq)
		if droppedAt < 0 && f.s.Clients() == 1 {
			droppedAt = i
			t.Logf("the slow client was dropped after %d events", i+1)
		}
		if droppedAt >= 0 && i >= droppedAt+100 {
			break
		}
		if i > 50000 {
			t.Fatal("the slow client was never dropped")
		}
	}
	// No event was lost or repeated for the fast client: adjustments are
	// the only events, so their seqs are consecutive.
	for k := 1; k < len(seqs); k++ {
		if seqs[k] != seqs[k-1]+1 {
			t.Fatalf("fast client: seq %d after %d", seqs[k], seqs[k-1])
		}
	}
	if f.s.Clients() != 1 {
		t.Fatalf("%d clients, want the fast one only", f.s.Clients())
	}
	// (The dropped client's connection ends once the server's pending
	// write times out or the client reads again; reading back everything
	// the kernel buffered through a 4 KiB window takes long, so we don't.)
}

// waitSeq waits until the log reaches seq.
func waitSeq(t testing.TB, f *fixture, seq int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.lastSeq() < seq {
		if time.Now().After(deadline) {
			t.Fatalf("the log did not reach seq %d", seq)
		}
		time.Sleep(time.Millisecond)
	}
}
