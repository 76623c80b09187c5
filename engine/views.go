package engine

import (
	"sort"
	"time"
)

// Summary is an at-a-glance view of the exercise: what a projector or the
// terminal shows. It holds no secrets.
type Summary struct {
	ID       string        `json:"id"`
	Scenario string        `json:"scenario"`
	Phase    Phase         `json:"phase"`
	Clock    time.Duration `json:"-"`
	Duration time.Duration `json:"-"`
	Teams    []TeamSummary `json:"teams"`
	// Fired lists inject ids fired for at least one team, in timeline order.
	Fired []string `json:"fired"`
}

// TeamSummary is a team's line on the scoreboard.
type TeamSummary struct {
	Name       string            `json:"name"`
	Score      int               `json:"score"`
	Rank       int               `json:"rank"`
	Objectives map[string]string `json:"objectives"` // id → pending/achieved/failed
	Alarms     int               `json:"alarms"`     // active alarm and trip bits
	Incidents  int               `json:"incidents"`  // safety incidents so far
	Plant      string            `json:"plant"`      // normal, alarm, incident
}

// Summary returns the current summary.
func (x *Exercise) Summary() Summary {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := Summary{ID: x.id, Scenario: x.sc.Spec.ID, Phase: x.state.Phase, Clock: x.clock, Duration: x.sc.Duration}
	type firing struct {
		id string
		at time.Duration
		ix int
	}
	first := map[string]firing{}
	for _, name := range x.state.Teams {
		ts := x.state.Team[name]
		t := TeamSummary{Name: name, Score: ts.Score, Objectives: map[string]string{}, Incidents: ts.Incidents, Plant: "normal"}
		for _, o := range x.sc.Objectives {
			t.Objectives[o.ID] = StatusPending
			if os := ts.Objectives[o.ID]; os != nil {
				t.Objectives[o.ID] = os.Status
			}
		}
		for _, on := range ts.Alarms {
			if on {
				t.Alarms++
			}
		}
		if t.Alarms > 0 {
			t.Plant = "alarm"
		}
		if x.incidentActive(ts) {
			t.Plant = "incident"
		}
		s.Teams = append(s.Teams, t)
		for id, at := range ts.Fired {
			in, _ := x.sc.Inject(id)
			if f, ok := first[id]; !ok || at < f.at {
				first[id] = firing{id, at, in.Index}
			}
		}
	}
	rank(s.Teams)
	fs := make([]firing, 0, len(first))
	for _, f := range first {
		fs = append(fs, f)
	}
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].at != fs[j].at {
			return fs[i].at < fs[j].at
		}
		return fs[i].ix < fs[j].ix
	})
	for _, f := range fs {
		s.Fired = append(s.Fired, f.id)
	}
	return s
}

// incidentActive reports whether a safety-incident bit is set now.
func (x *Exercise) incidentActive(ts *TeamState) bool {
	for pi, m := range x.sc.Layout.Model {
		for _, tag := range m.Incidents {
			if ts.Alarms[x.sc.Layout.PLCs[pi]+"."+tag] {
				return true
			}
		}
	}
	return false
}

// rank orders teams by score (ties share a rank, then by name).
func rank(ts []TeamSummary) {
	sort.SliceStable(ts, func(i, j int) bool {
		if ts[i].Score != ts[j].Score {
			return ts[i].Score > ts[j].Score
		}
		return ts[i].Name < ts[j].Name
	})
	for i := range ts {
		ts[i].Rank = i + 1
		if i > 0 && ts[i].Score == ts[i-1].Score {
			ts[i].Rank = ts[i-1].Rank
		}
	}
}
