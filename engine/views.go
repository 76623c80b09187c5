package engine

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/icsrange/icsrange/engine/scenario"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/plant"
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
	// Fired lists inject ids fired for at least one team, in timeline
	// order, silent ones too: it is for the operator's terminal; the
	// public timeline (PublicView) shows only those that told their team.
	Fired []string `json:"fired"`
}

// TeamSummary is a team's line on the scoreboard.
type TeamSummary struct {
	Name       string            `json:"name"`
	Score      int               `json:"score"`
	Rank       int               `json:"rank"`
	Objectives map[string]string `json:"objectives"` // id → pending/achieved/failed
	Alarms     int               `json:"alarms"`     // active alarm and trip bits (publicly: as the team's HMI shows them)
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

// shownAlarms counts the alarm and trip bits on in what a team's PLCs
// report (what its HMI and any Modbus client read), as last read.
func (x *Exercise) shownAlarms(team string) int {
	rt := x.rt[team]
	if rt == nil {
		return 0
	}
	n := 0
	for _, a := range rt.alarms {
		if r := rt.vals[a.plc].Reported; a.tag < len(r) && r[a.tag] >= 0.5 {
			n++
		}
	}
	return n
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

// ExerciseInfo heads every view.
type ExerciseInfo struct {
	ID          string        `json:"id"`
	Scenario    string        `json:"scenario"`
	Title       scenario.Text `json:"title"`
	Description scenario.Text `json:"description"`
	Phase       Phase         `json:"phase"`
	ClockMS     int64         `json:"clock_ms"`
	DurationMS  int64         `json:"duration_ms"`
	Teams       int           `json:"teams"`
}

// ObjectiveInfo names an objective.
type ObjectiveInfo struct {
	ID     string        `json:"id"`
	Title  scenario.Text `json:"title"`
	Points int           `json:"points"`
}

// TimelineEntry is an inject on the public timeline: its name and when it
// first fired, nothing of what it did. Only injects that tell their team
// (with say:) are on it, as in the public feed.
type TimelineEntry struct {
	ID      string        `json:"id"`
	Name    scenario.Text `json:"name"`
	ClockMS int64         `json:"clock_ms"`
}

// PublicView is what the projector shows. It holds no answers, hint texts,
// effects, truth values or tokens.
type PublicView struct {
	Exercise   ExerciseInfo    `json:"exercise"`
	Objectives []ObjectiveInfo `json:"objectives"`
	Timeline   []TimelineEntry `json:"timeline"`
	Teams      []TeamSummary   `json:"teams"`
}

func (x *Exercise) info() ExerciseInfo {
	sc := x.sc
	return ExerciseInfo{ID: x.id, Scenario: sc.Spec.ID, Title: sc.Spec.Title, Description: sc.Spec.Description,
		Phase: x.state.Phase, ClockMS: x.clock.Milliseconds(), DurationMS: sc.Duration.Milliseconds(), Teams: len(x.state.Teams)}
}

func (x *Exercise) objectiveInfo() []ObjectiveInfo {
	out := make([]ObjectiveInfo, len(x.sc.Objectives))
	for i, o := range x.sc.Objectives {
		out[i] = ObjectiveInfo{ID: o.ID, Title: titleOr(o.Title, o.ID), Points: o.Points}
	}
	return out
}

func titleOr(t scenario.Text, id string) scenario.Text {
	if t.IsZero() {
		return scenario.Text{En: id, Ja: id}
	}
	return t
}

// PublicView returns the projector's view.
func (x *Exercise) PublicView() PublicView {
	sum := x.Summary()
	x.mu.Lock()
	defer x.mu.Unlock()
	v := PublicView{Exercise: x.info(), Objectives: x.objectiveInfo(), Teams: sum.Teams}
	// Alarms as each team's HMI shows them, not the truth: an attack that
	// hides an alarm from the team (a frozen or spoofed sensor) must not
	// show on the projector. A safety incident is announced to all anyway.
	for i := range v.Teams {
		t := &v.Teams[i]
		t.Alarms = x.shownAlarms(t.Name)
		if t.Plant != "incident" {
			t.Plant = "normal"
			if t.Alarms > 0 {
				t.Plant = "alarm"
			}
		}
	}
	for _, id := range sum.Fired {
		in, _ := x.sc.Inject(id)
		if !announced(in) {
			continue // a silent attack is for its team to find, not the projector to tell
		}
		first := time.Duration(-1)
		for _, ts := range x.state.Team {
			if at, ok := ts.Fired[id]; ok && (first < 0 || at < first) {
				first = at
			}
		}
		v.Timeline = append(v.Timeline, TimelineEntry{ID: id, Name: titleOr(in.Title, in.ID), ClockMS: first.Milliseconds()})
	}
	return v
}

// TagView is one HMI value.
type TagView struct {
	Name    string  `json:"name"`
	Table   string  `json:"table"` // co, di, ir, hr
	Class   string  `json:"class"`
	Unit    string  `json:"unit,omitempty"`
	Value   float64 `json:"value"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Address int     `json:"address"` // 0-based
}

// PLCView is one PLC as the team's HMI shows it.
type PLCView struct {
	ID     string        `json:"id"`
	Title  scenario.Text `json:"title"`
	Model  string        `json:"model"`
	Zone   string        `json:"zone"`
	Modbus string        `json:"modbus"`
	UnitID byte          `json:"unit_id"`
	// Online is false while the team's HMI host is stopped, paused or
	// disconnected; the values are then absent (the PLC still answers
	// Modbus).
	Online bool `json:"online"`
	// HMI says why it is offline: the HMI host is stopped, paused or
	// disconnected.
	HMI  string    `json:"hmi,omitempty"`
	Tags []TagView `json:"tags,omitempty"`
	// Traffic is what the PLC's traffic log says in numbers: a trainee can
	// notice a new talker or a burst of writes, and must look for who.
	Traffic PLCTraffic `json:"traffic"`
}

// TeamObjective is an objective and how the team stands on it.
type TeamObjective struct {
	ObjectiveInfo
	Status string `json:"status"`
	Earned int    `json:"earned"`
}

// QuestionView is a question as the team sees it.
type QuestionView struct {
	ID           string        `json:"id"`
	Prompt       scenario.Text `json:"prompt"`
	Attempts     int           `json:"attempts"`
	AttemptsLeft int           `json:"attempts_left"`
	Penalty      int           `json:"penalty"`
	Answered     bool          `json:"answered"`
}

// ActionView is an action and whether it can be taken now.
type ActionView struct {
	ID          string        `json:"id"`
	Title       scenario.Text `json:"title"`
	Description scenario.Text `json:"description"`
	Cost        int           `json:"cost"`
	Taken       int           `json:"taken"`
	Once        bool          `json:"once"`
	Ready       bool          `json:"ready"`
	ReadyInMS   int64         `json:"ready_in_ms,omitempty"`
}

// HintView is a hint; its text only once released to the team.
type HintView struct {
	ID    string        `json:"id"`
	Title scenario.Text `json:"title"` // what it is about; shown before it is released

	For         string         `json:"for,omitempty"`
	Cost        int            `json:"cost"`
	Requestable bool           `json:"requestable"`
	Released    bool           `json:"released"`
	Text        *scenario.Text `json:"text,omitempty"`
}

// TeamView is everything a team sees: its HMI, objectives, questions,
// actions and hints. Nothing of other teams but their rank order.
type TeamView struct {
	Exercise   ExerciseInfo    `json:"exercise"`
	Team       string          `json:"team"`
	Score      int             `json:"score"`
	Rank       int             `json:"rank"`
	Plant      []PLCView       `json:"plant"`
	Objectives []TeamObjective `json:"objectives"`
	Questions  []QuestionView  `json:"questions"`
	Actions    []ActionView    `json:"actions"`
	Hints      []HintView      `json:"hints"`
	// Ranking is the final ranking, once the exercise has ended: what the
	// public scoreboard shows of every team's place.
	Ranking []Placing `json:"ranking,omitempty"`
}

// Placing is a team's place in the ranking.
type Placing struct {
	Team  string `json:"team"`
	Score int    `json:"score"`
	Rank  int    `json:"rank"`
}

// TeamView returns a team's view.
func (x *Exercise) TeamView(team string) (TeamView, error) {
	sum := x.Summary()
	x.mu.Lock()
	defer x.mu.Unlock()
	ts, err := x.team(team)
	if err != nil {
		return TeamView{}, err
	}
	v := TeamView{Exercise: x.info(), Team: team, Score: ts.Score}
	for _, t := range sum.Teams {
		if t.Name == team {
			v.Rank = t.Rank
		}
		if sum.Phase == PhaseEnded {
			v.Ranking = append(v.Ranking, Placing{Team: t.Name, Score: t.Score, Rank: t.Rank})
		}
	}
	// The console is the HMI: it shows nothing while an HMI host is
	// stopped, frozen or cut off from the PLCs.
	hmiUp, hmiStatus := true, ""
	for _, h := range x.sc.Hosts {
		if h.Role != "hmi" || !hmiUp {
			continue
		}
		if st := ts.Net.Host(h.ID).Status(); st != plant.StatusRunning {
			hmiUp, hmiStatus = false, st
		}
	}
	eps := map[string]backendEndpoint{}
	for _, e := range x.dep.Endpoints() {
		if e.Team == team {
			eps[e.PLC] = backendEndpoint{e.Modbus, e.UnitID}
		}
	}
	var vals plantsim.Values
	for pi, p := range x.sc.PLCs {
		spec := x.sc.Spec.Plant.PLCs[pi]
		pv := PLCView{ID: p.ID, Title: titleOr(spec.Title, p.ID), Model: p.Model, Zone: p.Zone,
			Modbus: eps[p.ID].addr, UnitID: eps[p.ID].unit, Online: hmiUp, HMI: hmiStatus, Traffic: x.trafficIndicators(team, p.ID)}
		if hmiUp {
			if err := x.dep.Read(team, p.ID, &vals); err != nil {
				return TeamView{}, err
			}
			m := x.sc.Layout.Model[pi]
			for ti, t := range m.Tags {
				tv := TagView{Name: t.Name, Table: t.Table.Prefix(), Class: t.Class.String(), Unit: t.Unit,
					Value: vals.Reported[ti], Min: t.Min, Max: t.Max, Address: m.Layout().Addr[ti]}
				if !t.Analog() {
					tv.Max = 1
				}
				pv.Tags = append(pv.Tags, tv)
			}
		}
		v.Plant = append(v.Plant, pv)
	}
	for _, o := range x.sc.Objectives {
		to := TeamObjective{ObjectiveInfo: ObjectiveInfo{ID: o.ID, Title: titleOr(o.Title, o.ID), Points: o.Points}, Status: StatusPending}
		if os := ts.Objectives[o.ID]; os != nil {
			to.Status, to.Earned = os.Status, os.Points
		}
		v.Objectives = append(v.Objectives, to)
	}
	rt := x.rt[team]
	if err := x.readPlant(rt); err != nil {
		return TeamView{}, err
	}
	for _, q := range x.sc.Questions {
		if q.Visible != nil {
			if !x.evalBool(context.Background(), rt, q.Visible) {
				continue
			}
		}
		qv := QuestionView{ID: q.ID, Prompt: q.Prompt, Attempts: q.Attempts, AttemptsLeft: q.Attempts, Penalty: q.Penalty}
		if st := ts.Answers[q.ID]; st != nil {
			qv.AttemptsLeft, qv.Answered = q.Attempts-st.Attempts, st.Correct
		}
		v.Questions = append(v.Questions, qv)
	}
	for _, a := range x.sc.Actions {
		av := ActionView{ID: a.ID, Title: a.Title, Description: a.Description, Cost: a.Cost, Once: a.Cooldown == 0, Ready: true}
		if st := ts.Actions[a.ID]; st != nil && st.Count > 0 {
			av.Taken = st.Count
			if a.Cooldown == 0 {
				av.Ready = false
			} else if wait := st.Last + a.Cooldown - x.clock; wait > 0 {
				av.Ready, av.ReadyInMS = false, wait.Milliseconds()
			}
		}
		v.Actions = append(v.Actions, av)
	}
	for _, h := range x.sc.Hints {
		hv := HintView{ID: h.ID, Title: h.Title, For: h.For, Cost: h.Cost, Requestable: h.Requestable}
		if _, ok := ts.Hints[h.ID]; ok {
			text := h.Text
			hv.Released, hv.Text = true, &text
		}
		if !hv.Requestable && !hv.Released {
			continue // instructor-only hints stay invisible until released
		}
		v.Hints = append(v.Hints, hv)
	}
	return v, nil
}

type backendEndpoint struct {
	addr string
	unit byte
}

// TruthTag is a tag as the instructor sees it: truth and reported.
type TruthTag struct {
	Name     string  `json:"name"`
	Table    string  `json:"table"`
	Class    string  `json:"class"`
	Unit     string  `json:"unit,omitempty"`
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
	Truth    float64 `json:"truth"`
	Reported float64 `json:"reported"`
	Override string  `json:"override,omitempty"`
}

// PLCTruth is a PLC as the instructor sees it.
type PLCTruth struct {
	ID       string             `json:"id"`
	Model    string             `json:"model"`
	Mode     string             `json:"mode"`
	Program  string             `json:"program"`
	Checksum string             `json:"checksum"`
	Faults   map[string]float64 `json:"faults,omitempty"`
	Tags     []TruthTag         `json:"tags"`
	Traffic  PLCTraffic         `json:"traffic"`
}

// InstructorTeam is a team in the instructor console.
type InstructorTeam struct {
	TeamSummary
	PLCs      []PLCTruth `json:"plcs"`
	HostsDown []string   `json:"hosts_down,omitempty"`
	// HostsPaused are frozen (processes stopped, network up);
	// HostsDisconnected are off their zone network (and may also be down
	// or paused).
	HostsPaused       []string              `json:"hosts_paused,omitempty"`
	HostsDisconnected []string              `json:"hosts_disconnected,omitempty"`
	Cut               []string              `json:"conduits_cut,omitempty"`
	Fired             map[string]int64      `json:"fired"`   // inject → clock_ms
	Answers           map[string]AnswerInfo `json:"answers"` // by question
	Hints             []string              `json:"hints"`
}

// AnswerInfo is how a team stands on a question.
type AnswerInfo struct {
	Attempts int  `json:"attempts"`
	Correct  bool `json:"correct"`
}

// InjectInfo is an inject for the instructor's controls.
type InjectInfo struct {
	ID      string        `json:"id"`
	Name    scenario.Text `json:"name"`
	Trigger string        `json:"trigger"`
	AtMS    int64         `json:"at_ms,omitempty"`
	After   string        `json:"after,omitempty"`
	Tags    []string      `json:"tags,omitempty"`
	Effects []string      `json:"effects"`
}

// HintInfo is a hint for the instructor.
type HintInfo struct {
	ID    string        `json:"id"`
	Title scenario.Text `json:"title"`
	For   string        `json:"for,omitempty"`
	Cost  int           `json:"cost"`
	Text  scenario.Text `json:"text"`
}

// InstructorView is the console's view: everything.
type InstructorView struct {
	Exercise   ExerciseInfo     `json:"exercise"`
	Objectives []ObjectiveInfo  `json:"objectives"`
	Injects    []InjectInfo     `json:"injects"`
	Hints      []HintInfo       `json:"hints"`
	Teams      []InstructorTeam `json:"teams"`
}

// InstructorView returns the console's view.
func (x *Exercise) InstructorView() (InstructorView, error) {
	sum := x.Summary()
	x.mu.Lock()
	defer x.mu.Unlock()
	v := InstructorView{Exercise: x.info(), Objectives: x.objectiveInfo()}
	for _, in := range x.sc.Injects {
		ii := InjectInfo{ID: in.ID, Name: titleOr(in.Title, in.ID), Trigger: in.Trigger.String(), Tags: in.Tags, After: in.After}
		if in.Trigger == scenario.TriggerAt {
			ii.AtMS = in.At.Milliseconds()
		}
		if in.Trigger == scenario.TriggerAfter {
			ii.AtMS = in.Delay.Milliseconds()
		}
		for _, e := range in.Effects {
			ii.Effects = append(ii.Effects, e.String())
		}
		v.Injects = append(v.Injects, ii)
	}
	for _, h := range x.sc.Hints {
		v.Hints = append(v.Hints, HintInfo{ID: h.ID, Title: h.Title, For: h.For, Cost: h.Cost, Text: h.Text})
	}
	var vals plantsim.Values
	for _, t := range sum.Teams {
		ts := x.state.Team[t.Name]
		it := InstructorTeam{TeamSummary: t, Fired: map[string]int64{}, Answers: map[string]AnswerInfo{}}
		for pi, p := range x.sc.PLCs {
			if err := x.dep.Read(t.Name, p.ID, &vals); err != nil {
				return v, err
			}
			m := x.sc.Layout.Model[pi]
			pt := PLCTruth{ID: p.ID, Model: p.Model, Mode: string(vals.Mode), Program: vals.Program,
				Checksum: fmt.Sprintf("%08X", vals.Checksum), Faults: maps.Clone(vals.Faults), Traffic: x.trafficIndicators(t.Name, p.ID)}
			for ti, tg := range m.Tags {
				tt := TruthTag{Name: tg.Name, Table: tg.Table.Prefix(), Class: tg.Class.String(), Unit: tg.Unit,
					Min: tg.Min, Max: tg.Max, Truth: vals.Truth[ti], Reported: vals.Reported[ti], Override: vals.Override[ti]}
				if !tg.Analog() {
					tt.Max = 1
				}
				pt.Tags = append(pt.Tags, tt)
			}
			it.PLCs = append(it.PLCs, pt)
		}
		for _, h := range x.sc.Hosts {
			s := ts.Net.Host(h.ID)
			if s.Down {
				it.HostsDown = append(it.HostsDown, h.ID)
			}
			if s.Paused {
				it.HostsPaused = append(it.HostsPaused, h.ID)
			}
			if s.Off {
				it.HostsDisconnected = append(it.HostsDisconnected, h.ID)
			}
		}
		for _, c := range ts.Net.Cut() {
			it.Cut = append(it.Cut, c[0]+"→"+c[1])
		}
		sort.Strings(it.HostsDown)
		sort.Strings(it.HostsPaused)
		sort.Strings(it.HostsDisconnected)
		sort.Strings(it.Cut)
		for id, at := range ts.Fired {
			it.Fired[id] = at.Milliseconds()
		}
		for id, a := range ts.Answers {
			it.Answers[id] = AnswerInfo{Attempts: a.Attempts, Correct: a.Correct}
		}
		for id := range ts.Hints {
			it.Hints = append(it.Hints, id)
		}
		sort.Strings(it.Hints)
		v.Teams = append(v.Teams, it)
	}
	return v, nil
}
