package scoreboard

import (
	"net/http"
	"strconv"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/store"
)

// MaxTrafficPage bounds one page of the traffic log.
const MaxTrafficPage = 1000

// teamOf is whose log a request reads: a team its own, the instructor any
// (the team parameter is required for the instructor).
func teamOf(w http.ResponseWriter, r *http.Request, c who) (string, bool) {
	team := r.URL.Query().Get("team")
	switch c.role {
	case engine.RoleTeam:
		if team != "" && team != c.team {
			writeError(w, http.StatusForbidden, "forbidden", "a team sees only its own traffic")
			return "", false
		}
		return c.team, true
	case engine.RoleInstructor:
		if team == "" {
			writeError(w, http.StatusBadRequest, "invalid", "give the team: ?team=NAME")
			return "", false
		}
		return team, true
	}
	return "", false
}

func intParam(r *http.Request, name string, def, lo, hi int64) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

func (s *Server) getTraffic(w http.ResponseWriter, r *http.Request, c who) {
	team, ok := teamOf(w, r, c)
	if !ok {
		return
	}
	if _, err := s.x.TeamView(team); err != nil {
		s.fail(w, err)
		return
	}
	q := r.URL.Query()
	after, ok1 := intParam(r, "after", 0, 0, 1<<62)
	before, ok2 := intParam(r, "before", 0, 0, 1<<62)
	limit, ok3 := intParam(r, "limit", 200, 1, MaxTrafficPage)
	fc, ok4 := intParam(r, "fc", 0, 0, 255)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		writeError(w, http.StatusBadRequest, "invalid", "after, before, limit (1.."+strconv.Itoa(MaxTrafficPage)+") and fc are numbers")
		return
	}
	f := store.TrafficFilter{Team: team, After: after, Before: before, PLC: q.Get("plc"), Source: q.Get("source"),
		Function: int(fc), WritesOnly: q.Get("writes") == "1" || q.Get("writes") == "true", Limit: int(limit),
		Newest: q.Get("newest") == "1" || q.Get("newest") == "true"}
	rows, err := s.x.Store().Traffic(r.Context(), f)
	if err != nil {
		s.fail(w, err)
		return
	}
	views := engine.ViewTraffic(rows)
	if c.role == engine.RoleTeam {
		views = engine.ForTeam(views)
	}
	writeJSON(w, http.StatusOK, map[string]any{"team": team, "traffic": views})
}

func (s *Server) getAudit(w http.ResponseWriter, r *http.Request, c who) {
	team, ok := teamOf(w, r, c)
	if !ok {
		return
	}
	if _, err := s.x.TeamView(team); err != nil {
		s.fail(w, err)
		return
	}
	after, ok1 := intParam(r, "after", 0, 0, 1<<62)
	limit, ok2 := intParam(r, "limit", 200, 1, MaxTrafficPage)
	if !ok1 || !ok2 {
		writeError(w, http.StatusBadRequest, "invalid", "after and limit (1.."+strconv.Itoa(MaxTrafficPage)+") are numbers")
		return
	}
	newest := r.URL.Query().Get("newest") == "1" || r.URL.Query().Get("newest") == "true"
	rows, err := s.x.Store().Audit(r.Context(), team, r.URL.Query().Get("plc"), after, int(limit), newest)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"team": team, "audit": engine.ViewAudit(rows)})
}
