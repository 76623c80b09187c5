package scoreboard

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

func (s *Server) getScoreboard(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.x.PublicView())
}

// view is the state a caller may see.
func (s *Server) view(c who) (any, error) {
	switch c.role {
	case engine.RoleInstructor:
		return s.x.InstructorView()
	case engine.RoleTeam:
		return s.x.TeamView(c.team)
	}
	return s.x.PublicView(), nil
}

func (s *Server) getState(w http.ResponseWriter, r *http.Request, c who) {
	v, err := s.view(c)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// MaxEventsPage bounds one page of /api/events.
const MaxEventsPage = 500

// page reads a page of the log as scope sees it: the store filters by
// scope with an index, so a page costs O(its rows) however long the log.
// The instructor may narrow to one team (p.Team); for others the scope
// decides.
func (s *Server) page(ctx context.Context, scope engine.Scope, p store.Page) ([]store.Event, error) {
	return s.x.Store().Page(ctx, forScope(scope, p))
}

// count is how many events such a page would hold (at most p.Limit).
func (s *Server) count(ctx context.Context, scope engine.Scope, p store.Page) (int, error) {
	return s.x.Store().Count(ctx, forScope(scope, p))
}

func forScope(scope engine.Scope, p store.Page) store.Page {
	switch scope.Role {
	case engine.RoleInstructor:
		p.Reader = store.ReadAll
	case engine.RoleTeam:
		p.Reader, p.Team = store.ReadTeam, scope.Team
	default:
		p.Reader, p.Team = store.ReadPublic, ""
	}
	return p
}

// render shows events as scope sees them (never nil: JSON [] for none).
func (s *Server) render(scope engine.Scope, evs []store.Event) []engine.EventView {
	sc := s.x.Scenario()
	out := make([]engine.EventView, 0, len(evs))
	for _, e := range evs {
		if v, ok := engine.ViewEvent(sc, engine.Update{Event: e, Score: e.Score}, scope); ok {
			out = append(out, v)
		}
	}
	return out
}

// seqParam reads a non-negative seq parameter (0 when absent).
func seqParam(q url.Values, name string) (int64, bool) {
	v := q.Get(name)
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}

// getEvents pages the log both ways: after=SEQ the oldest events after it,
// before=SEQ the newest before it (within after, if given too).
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request, c who) {
	q := r.URL.Query()
	after, ok := seqParam(q, "after")
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid", "after must be a non-negative seq")
		return
	}
	before, ok := seqParam(q, "before")
	if !ok || (q.Has("before") && before == 0) {
		writeError(w, http.StatusBadRequest, "invalid", "before must be a positive seq")
		return
	}
	limit := 100
	if l := q.Get("limit"); l != "" {
		var err error
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > MaxEventsPage {
			writeError(w, http.StatusBadRequest, "invalid", "limit must be 1.."+strconv.Itoa(MaxEventsPage))
			return
		}
	}
	team := q.Get("team")
	if team != "" && c.role != engine.RoleInstructor {
		writeError(w, http.StatusForbidden, "forbidden", "only the instructor may choose a team")
		return
	}
	back := before > 0
	// One more than asked says whether the page is the last one.
	evs, err := s.page(r.Context(), c.scope(), store.Page{Team: team, After: after, Before: before, Limit: limit + 1, Newest: back})
	if err != nil {
		s.fail(w, err)
		return
	}
	more := len(evs) > limit
	switch {
	case more && back:
		evs = evs[1:]
	case more:
		evs = evs[:limit]
	}
	first, last := after, after
	if back {
		first, last = before, before
	}
	if len(evs) > 0 {
		first, last = evs[0].Seq, evs[len(evs)-1].Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": s.render(c.scope(), evs), "first_seq": first, "last_seq": last, "more": more})
}

// Command bodies.
type (
	answerReq struct {
		Question string `json:"question"`
		Answer   string `json:"answer"`
	}
	actionReq struct {
		Action string `json:"action"`
	}
	hintReq struct {
		Hint string `json:"hint"`
		Team string `json:"team,omitempty"` // instructor: "" = every team
	}
	fireReq struct {
		Team string `json:"team,omitempty"` // "" = every team
	}
	adjustReq struct {
		Team   string `json:"team"`
		Points int    `json:"points"`
		Reason string `json:"reason"`
	}
	broadcastReq struct {
		En string `json:"en,omitempty"`
		Ja string `json:"ja,omitempty"`
	}
)

// The commands are shared by HTTP and WebSocket; each returns after its
// event is committed.

func (s *Server) answer(ctx context.Context, c who, req answerReq) (any, error) {
	if err := s.allowAnswer(c.team); err != nil {
		return nil, err
	}
	return s.x.Answer(ctx, c.team, req.Question, req.Answer)
}

func (s *Server) action(ctx context.Context, c who, req actionReq) (any, error) {
	effects, err := s.x.Act(ctx, c.team, req.Action)
	if err != nil {
		return nil, err
	}
	// Teams learn whether their effects worked, not the plumbing.
	type outcome struct {
		Outcome string `json:"outcome"`
	}
	out := make([]outcome, len(effects))
	for i, e := range effects {
		out[i] = outcome{e.Outcome}
	}
	return map[string]any{"ok": true, "effects": out}, nil
}

func (s *Server) hint(ctx context.Context, c who, req hintReq) (any, error) {
	if c.role == engine.RoleInstructor {
		if err := s.x.ReleaseHint(ctx, req.Team, req.Hint, "instructor"); err != nil {
			return nil, err
		}
		return map[string]any{"ok": true}, nil
	}
	if req.Team != "" && req.Team != c.team {
		return nil, &engine.Error{Code: engine.CodeNotFound, Msg: "no team " + strconv.Quote(req.Team)}
	}
	text, err := s.x.RequestHint(ctx, c.team, req.Hint)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ok": true, "text": text}, nil
}

func (s *Server) control(ctx context.Context, op string) (any, error) {
	var err error
	switch op {
	case "start":
		err = s.x.Start(ctx, "instructor")
	case "pause":
		err = s.x.Pause(ctx, "instructor")
	case "resume":
		err = s.x.Resume(ctx, "instructor")
	case "stop":
		err = s.x.Stop(ctx, "instructor")
	case "forwarding-on", "forwarding-off":
		return s.setForwarding(op == "forwarding-on"), nil
	default:
		return nil, &engine.Error{Code: engine.CodeNotFound, Msg: "no control " + strconv.Quote(op) + " (start, pause, resume, stop, forwarding-on, forwarding-off)"}
	}
	if err != nil {
		return nil, err
	}
	_, phase := s.x.Clock()
	return map[string]any{"ok": true, "phase": phase}, nil
}

func (s *Server) fire(ctx context.Context, id string, req fireReq) (any, error) {
	if err := s.x.FireInject(ctx, req.Team, id, "instructor"); err != nil {
		return nil, err
	}
	return map[string]any{"ok": true}, nil
}

func (s *Server) adjust(ctx context.Context, req adjustReq) (any, error) {
	if err := s.x.Adjust(ctx, req.Team, req.Points, req.Reason); err != nil {
		return nil, err
	}
	return map[string]any{"ok": true}, nil
}

func (s *Server) broadcast(ctx context.Context, req broadcastReq) (any, error) {
	if err := s.x.Broadcast(ctx, scenario.Text{En: req.En, Ja: req.Ja}); err != nil {
		return nil, err
	}
	return map[string]any{"ok": true}, nil
}

func (s *Server) reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) postAnswer(w http.ResponseWriter, r *http.Request, c who) {
	var req answerReq
	if decode(w, r, &req) {
		v, err := s.answer(r.Context(), c, req)
		s.reply(w, v, err)
	}
}

func (s *Server) postAction(w http.ResponseWriter, r *http.Request, c who) {
	var req actionReq
	if decode(w, r, &req) {
		v, err := s.action(r.Context(), c, req)
		s.reply(w, v, err)
	}
}

func (s *Server) postHint(w http.ResponseWriter, r *http.Request, c who) {
	var req hintReq
	if decode(w, r, &req) {
		v, err := s.hint(r.Context(), c, req)
		s.reply(w, v, err)
	}
}

func (s *Server) postControl(w http.ResponseWriter, r *http.Request, c who) {
	v, err := s.control(r.Context(), r.PathValue("op"))
	s.reply(w, v, err)
}

func (s *Server) postFire(w http.ResponseWriter, r *http.Request, c who) {
	var req fireReq
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	v, err := s.fire(r.Context(), r.PathValue("id"), req)
	s.reply(w, v, err)
}

func (s *Server) postAdjust(w http.ResponseWriter, r *http.Request, c who) {
	var req adjustReq
	if decode(w, r, &req) {
		v, err := s.adjust(r.Context(), req)
		s.reply(w, v, err)
	}
}

func (s *Server) postBroadcast(w http.ResponseWriter, r *http.Request, c who) {
	var req broadcastReq
	if decode(w, r, &req) {
		v, err := s.broadcast(r.Context(), req)
		s.reply(w, v, err)
	}
}

func (s *Server) getReport(w http.ResponseWriter, r *http.Request, c who) {
	if s.opts.Report == nil {
		writeError(w, http.StatusNotFound, "not_found", "no report renderer configured")
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "html"
	}
	names := map[string]string{"html": "report.html", "json": "report.json", "csv": "events.csv", "csv-scores": "scores.csv"}
	name, ok := names[format]
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid", "format must be html, json, csv or csv-scores")
		return
	}
	var buf bytes.Buffer
	ct, err := s.opts.Report(r.Context(), format, &buf)
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", "attachment; filename=\""+name+"\"")
	w.Write(buf.Bytes())
}
