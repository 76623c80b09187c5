package scoreboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/icsrange/icsrange/engine"
)

// noLimit lifts the answer rate limit for tests about something else.
var noLimit = Options{AnswerRate: rate.Inf}

// play gives the fixture a history touching every secret: hint requests
// and releases, wrong and right answers, the silent and the talking inject,
// an action, an adjustment with a private reason, and objectives reached.
func play(f *fixture) {
	t := f.t
	t.Helper()
	f.advance(90 * time.Second) // briefing fires at 1m
	a, b, in := f.team("a"), f.team("b"), f.instr()
	f.call("POST", "/api/hints", a, map[string]string{"hint": "h-q"}).ok(t, "a requests h-q", nil)
	f.call("POST", "/api/answers", a, map[string]string{"question": "q", "answer": wrongGuess}).ok(t, "a wrong", nil)
	f.call("POST", "/api/answers", a, map[string]string{"question": "q", "answer": secretAnswer}).ok(t, "a right", nil)
	f.call("POST", "/api/answers", b, map[string]string{"question": "q", "answer": wrongGuess}).ok(t, "b wrong", nil)
	f.call("POST", "/api/hints", in, map[string]string{"hint": "h-gift", "team": "b"}).ok(t, "release h-gift to b", nil)
	f.call("POST", "/api/injects/sneaky/fire", in, map[string]string{"team": "a"}).ok(t, "fire sneaky for a", nil)
	f.call("POST", "/api/injects/phone/fire", in, nil).ok(t, "fire phone for all", nil)
	f.call("POST", "/api/actions", b, map[string]string{"action": "isolate"}).ok(t, "b isolates", nil)
	f.call("POST", "/api/adjust", in, map[string]any{"team": "a", "points": 5, "reason": adjustReason}).ok(t, "adjust a", nil)
	f.advance(time.Second) // objective solved for a
}

func TestScoreboardIsPublicAndHoldsNoSecrets(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	play(f)
	for _, tok := range []string{"", f.team("a"), f.instr()} {
		r := f.call("GET", "/api/scoreboard", tok, nil)
		var v engine.PublicView
		r.ok(t, "GET /api/scoreboard", &v)
		for _, s := range f.secrets() {
			if bytes.Contains(r.body, []byte(s)) {
				t.Errorf("the public scoreboard holds the secret %q: %s", s, r.body)
			}
		}
		// Nothing of the plant beyond the team's status word, no payloads.
		for _, key := range []string{`"truth"`, `"reported"`, `"override"`, `"checksum"`, `"program"`, `"tags"`,
			`"modbus"`, `"data"`, `"effects"`, `"answers"`, `"hints"`, `"hosts_down"`, `"text"`} {
			if bytes.Contains(r.body, []byte(key)) {
				t.Errorf("the public scoreboard has the key %s: %s", key, r.body)
			}
		}
		// Nor the silent inject: its team was not told, so nobody is.
		for _, s := range []string{"modbus_write", "10.0.0.66", "level_sp", sayPhone, silentTitle, "sneaky"} {
			if bytes.Contains(r.body, []byte(s)) {
				t.Errorf("the public scoreboard mentions %q: %s", s, r.body)
			}
		}
		if v.Exercise.Phase != engine.PhaseRunning || v.Exercise.Teams != 2 || v.Exercise.Scenario != "scoreboard-test" {
			t.Errorf("exercise %+v", v.Exercise)
		}
		if len(v.Teams) != 2 || len(v.Objectives) != 2 {
			t.Fatalf("teams %+v objectives %+v", v.Teams, v.Objectives)
		}
		var ids []string
		for _, e := range v.Timeline {
			ids = append(ids, e.ID)
		}
		// Same clock: scenario order breaks the tie. The silent inject
		// (fired for a) is not on it.
		if !slices.Equal(ids, []string{"briefing", "phone"}) {
			t.Errorf("timeline %v, want briefing, phone", ids)
		}
		for _, ts := range v.Teams {
			if ts.Name == "a" && ts.Objectives["solved"] != engine.StatusAchieved {
				t.Errorf("team a: %+v, want solved achieved", ts)
			}
		}
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	f.advance(time.Second)
	type row struct {
		method, path string
		body         any
		// status per caller; 0 = not checked here
		anon, a, b, instr int
	}
	rows := []row{
		{"GET", "/api/scoreboard", nil, 200, 200, 200, 200},
		{"GET", "/api/state", nil, 401, 200, 200, 200},
		{"GET", "/api/events", nil, 401, 200, 200, 200},
		{"POST", "/api/answers", map[string]string{"question": "q2", "answer": "1"}, 401, 200, 200, 403},
		{"POST", "/api/actions", map[string]string{"action": "isolate"}, 401, 200, 200, 403},
		{"POST", "/api/hints", map[string]string{"hint": "h-q"}, 401, 200, 200, 200},
		{"POST", "/api/control/pause", nil, 401, 403, 403, 0},
		{"POST", "/api/control/start", nil, 401, 403, 403, 409},
		{"POST", "/api/injects/phone/fire", nil, 401, 403, 403, 200},
		{"POST", "/api/adjust", map[string]any{"team": "a", "points": 1, "reason": "r"}, 401, 403, 403, 200},
		{"POST", "/api/broadcast", map[string]string{"en": "hi"}, 401, 403, 403, 200},
		{"GET", "/api/report", nil, 401, 403, 403, 404}, // no renderer configured
	}
	codes := map[int]string{401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict"}
	for _, r := range rows {
		for _, c := range []struct {
			who, tok string
			want     int
		}{{"anonymous", "", r.anon}, {"team a", f.team("a"), r.a}, {"team b", f.team("b"), r.b}, {"instructor", f.instr(), r.instr}} {
			if c.want == 0 {
				continue
			}
			what := fmt.Sprintf("%s %s as %s", r.method, r.path, c.who)
			res := f.call(r.method, r.path, c.tok, r.body)
			if c.want == 200 {
				res.ok(t, what, nil)
				continue
			}
			res.fails(t, what, c.want, codes[c.want])
			if c.want == 401 && !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: 401 without WWW-Authenticate: Bearer", what)
			}
		}
	}
	// Tokens that are not ours, or not bearer tokens, are no tokens.
	for _, h := range []string{"Bearer nope", "Basic " + f.team("a"), f.team("a"), "Bearer "} {
		req, _ := http.NewRequest("GET", f.base+"/api/state", nil)
		req.Header.Set("Authorization", h)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("Authorization %q: status %d, want 401", h, res.StatusCode)
		}
		checkErrorBody(t, "Authorization "+h, res.Header, body, "unauthorized")
	}
}

func TestStateByRole(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	f.advance(time.Second)
	f.call("GET", "/api/state", "", nil).fails(t, "anonymous state", 401, "unauthorized")

	var eps = map[string]string{}
	for _, e := range f.x.Endpoints() {
		eps[e.Team] = e.Modbus
	}
	r := f.call("GET", "/api/state", f.team("a"), nil)
	var va engine.TeamView
	r.ok(t, "team a state", &va)
	if va.Team != "a" || len(va.Plant) != 1 || va.Plant[0].Modbus != eps["a"] || !va.Plant[0].Online || len(va.Plant[0].Tags) == 0 {
		t.Fatalf("team a view: %+v", va)
	}
	for _, s := range []string{eps["b"], f.team("b"), f.instr(), hintText, giftText, secretAnswer, `"truth"`, `"injects"`, `"teams":[`} {
		if bytes.Contains(r.body, []byte(s)) {
			t.Errorf("team a's view holds %q: %s", s, r.body)
		}
	}
	// The requestable hint shows without its text; the instructor-only one
	// not at all until released.
	if len(va.Hints) != 1 || va.Hints[0].ID != "h-q" || va.Hints[0].Released || va.Hints[0].Text != nil || va.Hints[0].Cost != 4 {
		t.Fatalf("team a hints before any release: %+v", va.Hints)
	}
	var qs []string
	for _, q := range va.Questions {
		qs = append(qs, q.ID)
	}
	if !slices.Equal(qs, []string{"q", "q2"}) {
		t.Fatalf("questions %v", qs)
	}

	var vb engine.TeamView
	f.call("GET", "/api/state", f.team("b"), nil).ok(t, "team b state", &vb)
	if vb.Team != "b" || vb.Plant[0].Modbus != eps["b"] {
		t.Fatalf("team b view: %+v", vb)
	}

	r = f.call("GET", "/api/state", f.instr(), nil)
	var vi engine.InstructorView
	r.ok(t, "instructor state", &vi)
	if len(vi.Teams) != 2 || len(vi.Injects) != 3 || len(vi.Hints) != 2 {
		t.Fatalf("instructor view: %d teams, %d injects, %d hints", len(vi.Teams), len(vi.Injects), len(vi.Hints))
	}
	for _, s := range []string{hintText, giftText, `"truth"`, "modbus_write"} {
		if !bytes.Contains(r.body, []byte(s)) {
			t.Errorf("the instructor view lacks %q", s)
		}
	}
}

func TestEventsVisibility(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	play(f)
	f.call("GET", "/api/events", "", nil).fails(t, "anonymous events", 401, "unauthorized")

	all, rawI := f.events(f.instr(), 0)
	evA, rawA := f.events(f.team("a"), 0)
	evB, rawB := f.events(f.team("b"), 0)
	if len(all) == 0 || len(evA) == 0 || len(evB) == 0 {
		t.Fatalf("events: instructor %d, a %d, b %d", len(all), len(evA), len(evB))
	}
	for _, c := range []struct {
		team string
		evs  []engine.EventView
		raw  []byte
	}{{"a", evA, rawA}, {"b", evB, rawB}} {
		var prev int64
		for _, e := range c.evs {
			if e.Team != "" && e.Team != c.team {
				t.Errorf("team %s sees team %s's event %d %s", c.team, e.Team, e.Seq, e.Kind)
			}
			if e.Kind == engine.EvEffect {
				t.Errorf("team %s sees effect result %d", c.team, e.Seq)
			}
			if e.Data != nil {
				t.Errorf("team %s sees the payload of event %d %s: %s", c.team, e.Seq, e.Kind, e.Data)
			}
			if e.Seq <= prev {
				t.Errorf("team %s: seq %d after %d", c.team, e.Seq, prev)
			}
			prev = e.Seq
			if e.Team != "" && e.Score == nil {
				t.Errorf("team %s: event %d %s without the score after it", c.team, e.Seq, e.Kind)
			}
		}
		// The score after a team's last event is its score now.
		for i := len(c.evs) - 1; i >= 0; i-- {
			if e := c.evs[i]; e.Team == c.team {
				if now := teamScore(t, f, c.team); e.Score == nil || *e.Score != now {
					t.Errorf("team %s: score after its last event %d %s: %v, its score is %d", c.team, e.Seq, e.Kind, e.Score, now)
				}
				break
			}
		}
		for _, s := range []string{secretAnswer, wrongGuess, silentTitle, "modbus_write", f.instr()} {
			if bytes.Contains(c.raw, []byte(s)) {
				t.Errorf("team %s's events hold %q", c.team, s)
			}
		}
	}
	// The talking injects reach each team as their say: text; the silent one
	// (fired for a) does not show at all.
	says := func(evs []engine.EventView) []string {
		var out []string
		for _, e := range evs {
			if e.Kind == engine.EvInject {
				out = append(out, e.Text.En+"/"+e.Level)
			}
		}
		return out
	}
	for _, evs := range [][]engine.EventView{evA, evB} {
		if got := says(evs); !slices.Equal(got, []string{"Shift start/alert", sayPhone + "/alert"}) {
			t.Errorf("injects a team sees: %v", got)
		}
	}
	// Hint texts reach only the team they were released to.
	if !bytes.Contains(rawA, []byte(hintText)) || bytes.Contains(rawA, []byte(giftText)) {
		t.Errorf("team a's hint texts: want %s only", hintText)
	}
	if !bytes.Contains(rawB, []byte(giftText)) || bytes.Contains(rawB, []byte(hintText)) {
		t.Errorf("team b's hint texts: want %s only", giftText)
	}
	// A team reads its own adjustment's reason; the other team nothing of it.
	if !bytes.Contains(rawA, []byte(adjustReason)) || bytes.Contains(rawB, []byte(adjustReason)) {
		t.Error("the adjustment reason should reach team a and not team b")
	}
	// The instructor sees everything, answers included.
	for _, s := range []string{secretAnswer, wrongGuess, silentTitle, hintText, giftText, adjustReason, `"data"`} {
		if !bytes.Contains(rawI, []byte(s)) {
			t.Errorf("the instructor's events lack %q", s)
		}
	}
	var sneaky, effect bool
	for _, e := range all {
		sneaky = sneaky || (e.Kind == engine.EvInject && e.Team == "a" && strings.Contains(e.Text.En, silentTitle))
		effect = effect || (e.Kind == engine.EvEffect && e.Team == "a")
	}
	if !sneaky || !effect {
		t.Errorf("the instructor should see the silent inject (%v) and its effect (%v)", sneaky, effect)
	}

	// The instructor may narrow to a team; a team may not choose one.
	var p eventsPage
	f.call("GET", "/api/events?team=b&limit=500", f.instr(), nil).ok(t, "instructor events of b", &p)
	for _, e := range p.Events {
		if e.Team != "" && e.Team != "b" {
			t.Errorf("?team=b gave team %s's event %d", e.Team, e.Seq)
		}
	}
	f.call("GET", "/api/events?team=b", f.team("a"), nil).fails(t, "team a asks for b's events", 403, "forbidden")
	for _, q := range []string{"after=-1", "after=x", "limit=0", "limit=501", "limit=x", "before=0", "before=-1", "before=x"} {
		f.call("GET", "/api/events?"+q, f.instr(), nil).fails(t, "events?"+q, 400, "invalid")
	}

	// Pages: limit bounds a page, last_seq continues it, without overlap or
	// gap; more says whether another page follows.
	var want []int64
	for _, e := range evA {
		want = append(want, e.Seq)
	}
	var got []int64
	after := int64(0)
	for range 1000 {
		var pg eventsPage
		f.call("GET", fmt.Sprintf("/api/events?after=%d&limit=3", after), f.team("a"), nil).ok(t, "page", &pg)
		if len(pg.Events) > 3 {
			t.Fatalf("limit=3 gave %d events", len(pg.Events))
		}
		if pg.More != (len(got)+len(pg.Events) < len(want)) {
			t.Fatalf("page after %d: more %v with %d of %d events read", after, pg.More, len(got)+len(pg.Events), len(want))
		}
		if len(pg.Events) == 0 {
			break
		}
		if pg.LastSeq != pg.Events[len(pg.Events)-1].Seq || pg.FirstSeq != pg.Events[0].Seq {
			t.Fatalf("first_seq %d, last_seq %d; events %v", pg.FirstSeq, pg.LastSeq, seqsOf(pg.Events))
		}
		for _, e := range pg.Events {
			got = append(got, e.Seq)
		}
		after = pg.LastSeq
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged seqs %v, want %v", got, want)
	}
	// And back: before gives the newest events before it, first_seq
	// continues, more says whether older ones exist.
	var back []int64
	before := f.lastSeq() + 1
	for range 1000 {
		var pg eventsPage
		f.call("GET", fmt.Sprintf("/api/events?before=%d&limit=3", before), f.team("a"), nil).ok(t, "page back", &pg)
		if len(pg.Events) > 3 || !increasing(seqsOf(pg.Events)) {
			t.Fatalf("before=%d&limit=3 gave %v", before, seqsOf(pg.Events))
		}
		back = append(seqsOf(pg.Events), back...)
		if pg.More != (len(back) < len(want)) {
			t.Fatalf("page before %d: more %v with %d of %d events read", before, pg.More, len(back), len(want))
		}
		if !pg.More {
			break
		}
		if pg.FirstSeq != pg.Events[0].Seq {
			t.Fatalf("first_seq %d, first event %d", pg.FirstSeq, pg.Events[0].Seq)
		}
		before = pg.FirstSeq
	}
	if !slices.Equal(back, want) {
		t.Fatalf("paged back %v, want %v", back, want)
	}
	// Both: the window between after and before, newest first taken.
	if len(want) >= 4 {
		var pg eventsPage
		f.call("GET", fmt.Sprintf("/api/events?after=%d&before=%d&limit=500", want[0], want[3]), f.team("a"), nil).ok(t, "window", &pg)
		if !slices.Equal(seqsOf(pg.Events), want[1:3]) || pg.More {
			t.Fatalf("window (%d, %d): %v more %v, want %v", want[0], want[3], seqsOf(pg.Events), pg.More, want[1:3])
		}
	}
	// A page after the end is empty.
	var end eventsPage
	r := f.call("GET", fmt.Sprintf("/api/events?after=%d", f.lastSeq()), f.instr(), nil)
	r.ok(t, "events after the end", &end)
	if len(end.Events) != 0 || end.LastSeq != f.lastSeq() || !bytes.Contains(r.body, []byte(`"events":[]`)) {
		t.Fatalf("after the end: %s (events must be [], not null)", r.body)
	}
}

func TestAnswers(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	a, b := f.team("a"), f.team("b")
	body := func(q, ans string) map[string]string { return map[string]string{"question": q, "answer": ans} }

	f.call("POST", "/api/answers", "", body("q", secretAnswer)).fails(t, "anonymous answer", 401, "unauthorized")
	f.call("POST", "/api/answers", f.instr(), body("q", secretAnswer)).fails(t, "instructor answer", 403, "forbidden")

	var res engine.AnswerResult
	before := f.lastSeq()
	f.call("POST", "/api/answers", a, body("q", wrongGuess)).ok(t, "wrong answer", &res)
	if res != (engine.AnswerResult{Correct: false, Penalty: 7, AttemptsLeft: 2, Score: -7}) {
		t.Fatalf("wrong answer: %+v", res)
	}
	// Acknowledged after commit: the event is there already.
	evs, _ := f.events(f.instr(), before)
	if len(evs) != 1 || evs[0].Kind != engine.EvAnswer || evs[0].Team != "a" || !strings.Contains(evs[0].Text.En, wrongGuess) {
		t.Fatalf("events right after the reply: %v", kinds(evs))
	}
	f.call("POST", "/api/answers", a, body("q", "  "+strings.ToLower(secretAnswer)+" ")).ok(t, "right answer", &res)
	if res != (engine.AnswerResult{Correct: true, Penalty: 0, AttemptsLeft: 1, Score: -7}) {
		t.Fatalf("right answer: %+v", res)
	}
	f.call("POST", "/api/answers", a, body("q", secretAnswer)).fails(t, "answered twice", 409, "conflict")
	f.advance(engine.Tick)
	if s := teamScore(t, f, "a"); s != 93 {
		t.Fatalf("team a score %d after −7 and the objective's 100, want 93", s)
	}

	// Attempts run out: three wrong, the fourth is refused even when right.
	for i := range 3 {
		f.call("POST", "/api/answers", b, body("q", fmt.Sprint("guess-", i))).ok(t, "b wrong", &res)
		if res.Correct || res.AttemptsLeft != 2-i || res.Score != -7*(i+1) {
			t.Fatalf("b's attempt %d: %+v", i+1, res)
		}
	}
	f.call("POST", "/api/answers", b, body("q", secretAnswer)).fails(t, "fourth attempt", 409, "limit")
	if s := teamScore(t, f, "b"); s != -21 {
		t.Fatalf("team b score %d, want -21", s)
	}

	f.call("POST", "/api/answers", a, body("nope", "x")).fails(t, "unknown question", 404, "not_found")
	f.call("POST", "/api/answers", a, body("q2", "   ")).fails(t, "empty answer", 400, "invalid")
	f.call("POST", "/api/answers", a, body("q2", strings.Repeat("x", engine.MaxAnswerLen+1))).fails(t, "long answer", 400, "invalid")
	f.call("POST", "/api/control/pause", f.instr(), nil).ok(t, "pause", nil)
	f.call("POST", "/api/answers", a, body("q2", "42")).fails(t, "answer while paused", 409, "conflict")
}

func TestAnswerRateLimit(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: Options{AnswerRate: rate.Every(time.Hour), AnswerBurst: 2}})
	a := f.team("a")
	for i := range 2 {
		f.call("POST", "/api/answers", a, map[string]string{"question": "q2", "answer": fmt.Sprint(i)}).ok(t, "within the burst", nil)
	}
	before := f.lastSeq()
	f.call("POST", "/api/answers", a, map[string]string{"question": "q2", "answer": "42"}).fails(t, "after the burst", 429, "rate_limited")
	if f.lastSeq() != before {
		t.Fatal("a rate-limited answer was recorded")
	}
	var v engine.TeamView
	f.call("GET", "/api/state", a, nil).ok(t, "state", &v)
	if v.Questions[1].AttemptsLeft != 3 {
		t.Fatalf("q2 attempts left %d, want 3: a refused answer must not use an attempt", v.Questions[1].AttemptsLeft)
	}
	// The limit is per team, and WebSocket answers share it.
	f.call("POST", "/api/answers", f.team("b"), map[string]string{"question": "q2", "answer": "42"}).ok(t, "team b is not limited by a", nil)
	w, _, _ := f.connect(a, 0)
	m, _ := w.command("answer", "r1", map[string]string{"question": "q2", "answer": "42"})
	if m.Type != "error" || !bytes.Contains(m.Data, []byte(`"rate_limited"`)) {
		t.Fatalf("WebSocket answer past the limit: %s %s", m.Type, m.Data)
	}
}

func TestActions(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	a := f.team("a")
	f.call("POST", "/api/actions", "", map[string]string{"action": "isolate"}).fails(t, "anonymous action", 401, "unauthorized")
	f.call("POST", "/api/actions", f.instr(), map[string]string{"action": "isolate"}).fails(t, "instructor action", 403, "forbidden")

	before := f.lastSeq()
	r := f.call("POST", "/api/actions", a, map[string]string{"action": "isolate"})
	var res struct {
		OK      bool                `json:"ok"`
		Effects []map[string]string `json:"effects"`
	}
	r.ok(t, "isolate", &res)
	if !res.OK || len(res.Effects) != 1 || len(res.Effects[0]) != 1 || res.Effects[0]["outcome"] != "ok" {
		t.Fatalf("isolate: %s (teams learn outcomes, not the plumbing)", r.body)
	}
	evs, _ := f.events(f.instr(), before)
	if got := kinds(evs); !slices.Equal(got, []string{"action.taken@a", "effect.result@a"}) {
		t.Fatalf("events right after the reply: %v", got)
	}
	f.call("POST", "/api/actions", a, map[string]string{"action": "isolate"}).fails(t, "isolate twice", 409, "limit")
	f.call("POST", "/api/actions", a, map[string]string{"action": "fix"}).ok(t, "fix", nil)
	f.call("POST", "/api/actions", a, map[string]string{"action": "fix"}).fails(t, "fix in cooldown", 409, "limit")
	f.advance(time.Minute)
	f.call("POST", "/api/actions", a, map[string]string{"action": "fix"}).ok(t, "fix after the cooldown", nil)
	if s := teamScore(t, f, "a"); s != -10 {
		t.Fatalf("score after two fixes at 5: %d", s)
	}
	f.call("POST", "/api/actions", a, map[string]string{"action": "nope"}).fails(t, "unknown action", 404, "not_found")

	var vb engine.TeamView
	f.call("GET", "/api/state", f.team("b"), nil).ok(t, "b state", &vb)
	for _, av := range vb.Actions {
		if av.Taken != 0 || !av.Ready {
			t.Fatalf("team a's actions show on team b: %+v", av)
		}
	}
	evB, _ := f.events(f.team("b"), 0)
	for _, e := range evB {
		if e.Kind == engine.EvAction {
			t.Fatalf("team b sees an action: %+v", e)
		}
	}
}

func TestHints(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	a, b, in := f.team("a"), f.team("b"), f.instr()
	type hintRes struct {
		OK   bool `json:"ok"`
		Text *struct {
			En string `json:"en"`
		} `json:"text"`
	}
	f.call("POST", "/api/hints", "", map[string]string{"hint": "h-q"}).fails(t, "anonymous hint", 401, "unauthorized")

	// A team's request charges the cost once and shows the text each time.
	for i := range 2 {
		var res hintRes
		f.call("POST", "/api/hints", a, map[string]string{"hint": "h-q"}).ok(t, "a requests h-q", &res)
		if !res.OK || res.Text == nil || res.Text.En != hintText {
			t.Fatalf("request %d: %+v", i+1, res)
		}
		if s := teamScore(t, f, "a"); s != -4 {
			t.Fatalf("score after request %d: %d, want -4", i+1, s)
		}
	}
	countHint := func(team, hint string) int {
		n := 0
		evs, _ := f.events(f.instr(), 0)
		for _, e := range evs {
			if e.Kind == engine.EvHint && e.Team == team && bytes.Contains(e.Data, []byte(`"`+hint+`"`)) {
				n++
			}
		}
		return n
	}
	if n := countHint("a", "h-q"); n != 1 {
		t.Fatalf("%d hint.released events for a, want 1", n)
	}
	var va engine.TeamView
	f.call("GET", "/api/state", a, nil).ok(t, "a state", &va)
	if len(va.Hints) != 1 || !va.Hints[0].Released || va.Hints[0].Text == nil || va.Hints[0].Text.En != hintText {
		t.Fatalf("a's hints after the request: %+v", va.Hints)
	}

	f.call("POST", "/api/hints", a, map[string]string{"hint": "h-gift"}).fails(t, "request a non-requestable hint", 404, "not_found")
	f.call("POST", "/api/hints", a, map[string]string{"hint": "nope"}).fails(t, "request an unknown hint", 404, "not_found")

	// Team b can't act for team a: refused, nobody charged, nothing logged.
	before := f.lastSeq()
	r := f.call("POST", "/api/hints", b, map[string]string{"hint": "h-q", "team": "a"})
	if r.status != 403 && r.status != 404 {
		t.Fatalf("team b requests a hint for team a: status %d: %s", r.status, r.body)
	}
	checkErrorBody(t, "b for a", r.header, r.body, map[int]string{403: "forbidden", 404: "not_found"}[r.status])
	if f.lastSeq() != before || teamScore(t, f, "a") != -4 || teamScore(t, f, "b") != 0 {
		t.Fatal("a refused cross-team hint request changed something")
	}

	// The instructor releases for one team, free.
	f.call("POST", "/api/hints", in, map[string]string{"hint": "h-gift", "team": "b"}).ok(t, "release h-gift to b", nil)
	var vb engine.TeamView
	f.call("GET", "/api/state", b, nil).ok(t, "b state", &vb)
	var gift *engine.HintView
	for i := range vb.Hints {
		if vb.Hints[i].ID == "h-gift" {
			gift = &vb.Hints[i]
		}
	}
	if gift == nil || !gift.Released || gift.Text == nil || gift.Text.En != giftText || vb.Score != 0 {
		t.Fatalf("b after the release: score %d, hints %+v", vb.Score, vb.Hints)
	}
	f.call("GET", "/api/state", a, nil).ok(t, "a state", &va)
	for _, h := range va.Hints {
		if h.ID == "h-gift" {
			t.Fatal("a release to b reached a")
		}
	}
	// … and for every team (b already has it: no second event).
	f.call("POST", "/api/hints", in, map[string]string{"hint": "h-gift"}).ok(t, "release h-gift to all", nil)
	if countHint("a", "h-gift") != 1 || countHint("b", "h-gift") != 1 || teamScore(t, f, "a") != -4 {
		t.Fatal("release to all: want one event per team, free")
	}
	// Releasing a requestable hint costs nothing either.
	f.call("POST", "/api/hints", in, map[string]string{"hint": "h-q", "team": "b"}).ok(t, "release h-q to b", nil)
	if s := teamScore(t, f, "b"); s != 0 {
		t.Fatalf("b's score after a free release: %d", s)
	}
	f.call("POST", "/api/hints", in, map[string]string{"hint": "nope", "team": "b"}).fails(t, "release unknown hint", 404, "not_found")
	f.call("POST", "/api/hints", in, map[string]string{"hint": "h-gift", "team": "zz"}).fails(t, "release to unknown team", 404, "not_found")
	f.call("POST", "/api/hints", a, map[string]any{"hint": "h-q", "extra": 1}).fails(t, "unknown field", 400, "bad_json")
}

func TestControl(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit, noStart: true})
	in := f.instr()
	f.call("POST", "/api/control/start", "", nil).fails(t, "anonymous start", 401, "unauthorized")
	f.call("POST", "/api/control/start", f.team("a"), nil).fails(t, "team start", 403, "forbidden")
	f.call("POST", "/api/control/pause", in, nil).fails(t, "pause before start", 409, "conflict")
	f.call("POST", "/api/control/resume", in, nil).fails(t, "resume before start", 409, "conflict")
	f.call("POST", "/api/control/explode", in, nil).fails(t, "unknown op", 404, "not_found")
	f.call("POST", "/api/control/", in, nil).fails(t, "no op", 404, "not_found")
	f.call("GET", "/api/control/start", in, nil).fails(t, "GET control", 404, "not_found")
	f.call("POST", "/api/answers", f.team("a"), map[string]string{"question": "q", "answer": "x"}).fails(t, "answer before start", 409, "conflict")

	steps := []struct {
		op, phase, kind string
	}{
		{"start", "running", engine.EvStarted},
		{"pause", "paused", engine.EvPaused},
		{"resume", "running", engine.EvResumed},
		{"stop", "ended", engine.EvEnded},
	}
	for _, s := range steps {
		before := f.lastSeq()
		var res struct {
			OK    bool   `json:"ok"`
			Phase string `json:"phase"`
		}
		f.call("POST", "/api/control/"+s.op, in, nil).ok(t, s.op, &res)
		if !res.OK || res.Phase != s.phase {
			t.Fatalf("%s: %+v", s.op, res)
		}
		evs, _ := f.events(in, before)
		if len(evs) == 0 || evs[len(evs)-1].Kind != s.kind {
			t.Fatalf("%s: events right after the reply: %v", s.op, kinds(evs))
		}
		f.call("POST", "/api/control/"+s.op, in, nil).fails(t, s.op+" twice", 409, "conflict")
		if s.op == "pause" {
			f.call("POST", "/api/actions", f.team("a"), map[string]string{"action": "fix"}).fails(t, "action while paused", 409, "conflict")
			f.call("POST", "/api/hints", f.team("a"), map[string]string{"hint": "h-q"}).fails(t, "hint request while paused", 409, "conflict")
			f.call("POST", "/api/injects/phone/fire", in, nil).fails(t, "fire while paused", 409, "conflict")
		}
	}
	var v engine.PublicView
	f.call("GET", "/api/scoreboard", "", nil).ok(t, "scoreboard", &v)
	if v.Exercise.Phase != engine.PhaseEnded {
		t.Fatalf("phase %s after stop", v.Exercise.Phase)
	}
	f.call("POST", "/api/control/resume", in, nil).fails(t, "resume after the end", 409, "conflict")
	f.call("POST", "/api/hints", in, map[string]string{"hint": "h-gift"}).fails(t, "release after the end", 409, "conflict")
}

func TestFireInject(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	in := f.instr()
	f.call("POST", "/api/injects/phone/fire", "", nil).fails(t, "anonymous fire", 401, "unauthorized")
	f.call("POST", "/api/injects/phone/fire", f.team("a"), map[string]string{"team": "a"}).fails(t, "team fire", 403, "forbidden")

	before := f.lastSeq()
	f.call("POST", "/api/injects/phone/fire", in, map[string]string{"team": "a"}).ok(t, "fire phone for a", nil)
	evA, _ := f.events(f.team("a"), before)
	if len(evA) != 1 || evA[0].Kind != engine.EvInject || evA[0].Text.En != sayPhone || evA[0].Level != "alert" || evA[0].Team != "a" {
		t.Fatalf("team a after the fire: %+v", evA)
	}
	if evB, _ := f.events(f.team("b"), before); len(evB) != 0 {
		t.Fatalf("team b sees a's inject: %+v", evB)
	}
	f.call("POST", "/api/injects/phone/fire", in, map[string]string{"team": "a"}).fails(t, "fire twice for a", 409, "conflict")
	// No body (or {}) fires for every team that has not had it.
	before = f.lastSeq()
	f.call("POST", "/api/injects/phone/fire", in, nil).ok(t, "fire phone for all", nil)
	evs, _ := f.events(in, before)
	if got := kinds(evs); !slices.Equal(got, []string{"inject.fired@b"}) {
		t.Fatalf("fire for all after a had it: %v", got)
	}
	f.call("POST", "/api/injects/phone/fire", in, map[string]string{}).fails(t, "fire for all again", 409, "conflict")
	f.call("POST", "/api/injects/nope/fire", in, nil).fails(t, "unknown inject", 404, "not_found")
	f.call("POST", "/api/injects/phone/fire", in, map[string]string{"team": "zz"}).fails(t, "unknown team", 404, "not_found")
	f.call("POST", "/api/injects/sneaky/fire", in, "{nope").fails(t, "bad body", 400, "bad_json")
	f.call("POST", "/api/injects/sneaky/fire", in, map[string]string{"teams": "a"}).fails(t, "unknown field", 400, "bad_json")

	// The silent inject: the instructor sees it fire and act; the team nothing.
	before = f.lastSeq()
	f.call("POST", "/api/injects/sneaky/fire", in, map[string]string{"team": "a"}).ok(t, "fire sneaky for a", nil)
	evs, _ = f.events(in, before)
	if got := kinds(evs); !slices.Equal(got, []string{"inject.fired@a", "effect.result@a"}) {
		t.Fatalf("instructor after sneaky: %v", got)
	}
	if evA, _ := f.events(f.team("a"), before); len(evA) != 0 {
		t.Fatalf("team a sees its silent inject: %+v", evA)
	}
}

func TestAdjustAndBroadcast(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	in := f.instr()
	adj := map[string]any{"team": "b", "points": 20, "reason": adjustReason}
	f.call("POST", "/api/adjust", "", adj).fails(t, "anonymous adjust", 401, "unauthorized")
	f.call("POST", "/api/adjust", f.team("b"), adj).fails(t, "team adjust", 403, "forbidden")
	before := f.lastSeq()
	f.call("POST", "/api/adjust", in, adj).ok(t, "adjust", nil)
	if s := teamScore(t, f, "b"); s != 20 {
		t.Fatalf("b's score %d after +20", s)
	}
	evB, _ := f.events(f.team("b"), before)
	if len(evB) != 1 || evB[0].Kind != engine.EvAdjust || evB[0].Points != 20 || *evB[0].Score != 20 || !strings.Contains(evB[0].Text.En, adjustReason) {
		t.Fatalf("b's adjust event: %+v", evB)
	}
	if evA, _ := f.events(f.team("a"), before); len(evA) != 0 {
		t.Fatalf("a sees b's adjustment: %+v", evA)
	}
	f.call("POST", "/api/adjust", in, map[string]any{"team": "b", "points": 0, "reason": "r"}).fails(t, "zero points", 400, "invalid")
	f.call("POST", "/api/adjust", in, map[string]any{"team": "b", "points": 5, "reason": " "}).fails(t, "no reason", 400, "invalid")
	f.call("POST", "/api/adjust", in, map[string]any{"team": "zz", "points": 5, "reason": "r"}).fails(t, "unknown team", 404, "not_found")
	f.call("POST", "/api/adjust", in, map[string]any{"team": "b", "points": "5", "reason": "r"}).fails(t, "points as a string", 400, "bad_json")

	msg := map[string]string{"en": "Break in 5 minutes", "ja": "5分後に休憩"}
	f.call("POST", "/api/broadcast", "", msg).fails(t, "anonymous broadcast", 401, "unauthorized")
	f.call("POST", "/api/broadcast", f.team("a"), msg).fails(t, "team broadcast", 403, "forbidden")
	before = f.lastSeq()
	f.call("POST", "/api/broadcast", in, msg).ok(t, "broadcast", nil)
	for _, team := range []string{"a", "b"} {
		evs, _ := f.events(f.team(team), before)
		if len(evs) != 1 || evs[0].Kind != engine.EvBroadcast || evs[0].Team != "" || evs[0].Level != "alert" ||
			!strings.Contains(evs[0].Text.En, msg["en"]) || !strings.Contains(evs[0].Text.Ja, msg["ja"]) {
			t.Fatalf("team %s's broadcast event: %+v", team, evs)
		}
	}
	f.call("POST", "/api/broadcast", in, map[string]string{"en": "  "}).fails(t, "empty broadcast", 400, "invalid")
	f.call("POST", "/api/broadcast", in, map[string]string{"fr": "salut"}).fails(t, "unknown language", 400, "bad_json")
}

func TestRequestLimits(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	a, in := f.team("a"), f.instr()
	big := `{"question": "q2", "answer": "` + strings.Repeat("x", MaxBodyBytes) + `"}`
	f.call("POST", "/api/answers", a, big).fails(t, "answer over 16 KiB", 413, "too_large")
	f.call("POST", "/api/broadcast", in, `{"en": "`+strings.Repeat("y", MaxBodyBytes+1)+`"}`).fails(t, "broadcast over 16 KiB", 413, "too_large")
	// Just under the limit is read (and refused on its merits).
	under := `{"question": "q2", "answer": "` + strings.Repeat("x", MaxBodyBytes-100) + `"}`
	f.call("POST", "/api/answers", a, under).fails(t, "answer under 16 KiB", 400, "invalid")

	f.call("POST", "/api/answers", a, `{"question": "q2", "answer": "1", "team": "b"}`).fails(t, "unknown field", 400, "bad_json")
	f.call("POST", "/api/answers", a, `{"question": "q2",`).fails(t, "truncated JSON", 400, "bad_json")
	f.call("POST", "/api/answers", a, `{"question": "q2", "answer": "1"} {}`).fails(t, "two JSON values", 400, "bad_json")
	f.callCT("POST", "/api/answers", a, "", `{"question": "q2", "answer": "1"}`).fails(t, "no Content-Type", 415, "bad_content_type")
	f.callCT("POST", "/api/answers", a, "application/jsonx", `{"question": "q2", "answer": "1"}`).fails(t, "application/jsonx", 415, "bad_content_type")
	f.callCT("POST", "/api/answers", a, "application/json; charset=latin1", `{"question": "q2", "answer": "1"}`).fails(t, "json in latin1", 415, "bad_content_type")
	f.callCT("POST", "/api/answers", a, "application/json; foo=bar", `{"question": "q2", "answer": "1"}`).fails(t, "json with a parameter", 415, "bad_content_type")
	f.callCT("POST", "/api/control/pause", in, "text/plain", `pause`).fails(t, "a text body to a command that reads none", 415, "bad_content_type")
	f.callCT("GET", "/api/state", a, "text/plain", `x`).fails(t, "a GET with a text body", 415, "bad_content_type")
	f.callCT("POST", "/api/broadcast", in, "Application/JSON;Charset=UTF-8", `{"en": "case"}`).ok(t, "JSON named in capitals", nil)
	f.callCT("POST", "/api/injects/phone/fire", in, "", nil).ok(t, "no body, no Content-Type", nil)
	f.call("POST", "/api/answers", a, ``).fails(t, "no body", 400, "bad_json")
	f.call("POST", "/api/actions", a, `["isolate"]`).fails(t, "an array", 400, "bad_json")
	f.callCT("POST", "/api/answers", a, "text/plain", `{"question": "q2", "answer": "1"}`).fails(t, "text/plain", 415, "bad_content_type")
	f.callCT("POST", "/api/adjust", in, "application/x-www-form-urlencoded", "team=a&points=5&reason=r").fails(t, "a form", 415, "bad_content_type")
	f.callCT("POST", "/api/answers", a, "application/json; charset=utf-8", `{"question": "q2", "answer": "1"}`).ok(t, "json with charset", nil)

	for _, c := range []struct{ method, path string }{
		{"GET", "/api/nope"}, {"POST", "/api/nope"}, {"GET", "/api/"}, {"DELETE", "/api/answers"},
		{"POST", "/api/scoreboard"}, {"GET", "/api/injects/phone/fire"}, {"POST", "/api/injects//fire"},
	} {
		f.call(c.method, c.path, in, nil).fails(t, c.method+" "+c.path, 404, "not_found")
	}
	// Pages and health are not API errors.
	for _, p := range []string{"/", "/team", "/instructor", "/healthz"} {
		if r := f.call("GET", p, "", nil); r.status != 200 {
			t.Errorf("GET %s: %d", p, r.status)
		}
	}
}

// Every command answers only once its event is in the log: the event is
// readable the moment the reply arrives, with no waiting.
func TestCommandsAcknowledgedAfterCommit(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	a, in := f.team("a"), f.instr()
	cmds := []struct {
		tok, path string
		body      any
		kind      string
	}{
		{a, "/api/answers", map[string]string{"question": "q2", "answer": "41"}, engine.EvAnswer},
		{a, "/api/actions", map[string]string{"action": "fix"}, engine.EvAction},
		{a, "/api/hints", map[string]string{"hint": "h-q"}, engine.EvHint},
		{in, "/api/hints", map[string]string{"hint": "h-gift", "team": "a"}, engine.EvHint},
		{in, "/api/injects/phone/fire", map[string]string{"team": "a"}, engine.EvInject},
		{in, "/api/adjust", map[string]any{"team": "a", "points": 3, "reason": "r"}, engine.EvAdjust},
		{in, "/api/broadcast", map[string]string{"en": "x"}, engine.EvBroadcast},
		{in, "/api/control/pause", nil, engine.EvPaused},
		{in, "/api/control/resume", nil, engine.EvResumed},
	}
	for _, c := range cmds {
		before := f.lastSeq()
		f.call("POST", c.path, c.tok, c.body).ok(t, c.path, nil)
		var p eventsPage
		f.call("GET", fmt.Sprintf("/api/events?after=%d", before), in, nil).ok(t, "events", &p)
		if len(p.Events) == 0 || p.Events[0].Kind != c.kind {
			t.Fatalf("%s: events right after the reply: %v, want %s first", c.path, kinds(p.Events), c.kind)
		}
	}
}

func TestReportDownload(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: Options{Report: func(ctx context.Context, format string, w io.Writer) (string, error) {
		if format != "csv" && format != "html" {
			return "", fmt.Errorf("no format %q", format)
		}
		fmt.Fprint(w, "team,score\n")
		return "text/csv", nil
	}}})
	r := f.call("GET", "/api/report?format=csv", f.instr(), nil)
	if r.status != 200 || r.header.Get("Content-Type") != "text/csv" || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment; filename=") ||
		!strings.HasSuffix(r.header.Get("Content-Disposition"), `.csv"`) || string(r.body) != "team,score\n" {
		t.Fatalf("report: %d %v %q", r.status, r.header, r.body)
	}
	f.call("GET", "/api/report?format=pdf", f.instr(), nil).fails(t, "report in an unknown format", 400, "invalid")
	f.call("GET", "/api/report", f.team("a"), nil).fails(t, "team report", 403, "forbidden")
}

// An unknown endpoint answers with the API's error body, uncached.
func TestErrorBodiesAreJSON(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	r := f.call("GET", "/api/nope", "", nil)
	var e struct {
		Error apiError `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code != "not_found" || !strings.Contains(e.Error.Message, "/api/nope") {
		t.Fatalf("404 body %s: %v", r.body, err)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("API replies should not be cached: Cache-Control %q", r.header.Get("Cache-Control"))
	}
}

// A page holds 100 events unless asked for more (at most 500).
func TestEventsPageSize(t *testing.T) {
	f := newFixture(t, fixtureConfig{opts: noLimit})
	for i := range 120 {
		if err := f.x.Adjust(context.Background(), "a", 1, fmt.Sprint("r", i)); err != nil {
			t.Fatal(err)
		}
	}
	var p eventsPage
	f.call("GET", "/api/events", f.instr(), nil).ok(t, "default page", &p)
	if len(p.Events) != 100 || p.LastSeq != p.Events[99].Seq {
		t.Fatalf("default page: %d events, last_seq %d", len(p.Events), p.LastSeq)
	}
	f.call("GET", "/api/events?limit=500", f.instr(), nil).ok(t, "page of 500", &p)
	if int64(len(p.Events)) != f.lastSeq() || p.LastSeq != f.lastSeq() {
		t.Fatalf("limit=500: %d events, last_seq %d, log at %d", len(p.Events), p.LastSeq, f.lastSeq())
	}
}
