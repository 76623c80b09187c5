package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/store"
)

// Phase is the exercise lifecycle: created → running ⇄ paused → ended.
type Phase string

// Phases.
const (
	PhaseCreated Phase = "created"
	PhaseRunning Phase = "running"
	PhasePaused  Phase = "paused"
	PhaseEnded   Phase = "ended"
)

// Event kinds. Every state change is one of these, appended to the log
// before anyone hears of it; State is their fold.
const (
	EvCreated    = "exercise.created"
	EvStarted    = "exercise.started"
	EvPaused     = "exercise.paused"
	EvResumed    = "exercise.resumed"
	EvRecovered  = "exercise.recovered"
	EvEnded      = "exercise.ended"
	EvInject     = "inject.fired"
	EvEffect     = "effect.result"
	EvAction     = "action.taken"
	EvAnswer     = "answer.submitted"
	EvHint       = "hint.released"
	EvPartial    = "objective.partial"
	EvAchieved   = "objective.achieved"
	EvFailed     = "objective.failed"
	EvAdjust     = "score.adjusted"
	EvBroadcast  = "message.broadcast"
	EvPlantAlarm = "plant.alarm"
)

// Event payloads.
type (
	// CreatedData starts every log.
	CreatedData struct {
		Scenario string   `json:"scenario"`
		Title    string   `json:"title"`
		Teams    []string `json:"teams"`
		Seed     uint64   `json:"seed"`
		Backend  string   `json:"backend"`
	}
	// PhaseData goes with started, paused, resumed and ended.
	PhaseData struct {
		By     string `json:"by,omitempty"`     // instructor, schedule
		Reason string `json:"reason,omitempty"` // e.g. time, stopped
	}
	// RecoveredData marks an engine restart.
	RecoveredData struct {
		DowntimeMS int64 `json:"downtime_ms"`
	}
	// InjectData is an inject firing for a team.
	InjectData struct {
		Inject string   `json:"inject"`
		By     string   `json:"by"` // schedule or instructor
		Tags   []string `json:"tags,omitempty"`
	}
	// EffectData is one effect's outcome.
	EffectData struct {
		Source  string         `json:"source"` // inject or action
		ID      string         `json:"id"`
		Effect  backend.Effect `json:"effect"`
		Outcome string         `json:"outcome"` // ok, blocked, error
		Detail  string         `json:"detail,omitempty"`
	}
	// ActionData is an action a team took.
	ActionData struct {
		Action string `json:"action"`
		Cost   int    `json:"cost,omitempty"`
	}
	// AnswerData is an answer a team gave. The answer text is kept for the
	// debrief; the public feed never carries it.
	AnswerData struct {
		Question string `json:"question"`
		Answer   string `json:"answer"`
		Correct  bool   `json:"correct"`
		Penalty  int    `json:"penalty,omitempty"`
		Attempt  int    `json:"attempt"`
	}
	// HintData is a hint released to a team.
	HintData struct {
		Hint string `json:"hint"`
		Cost int    `json:"cost,omitempty"`
		By   string `json:"by"` // request, instructor, schedule
	}
	// ObjectiveData goes with partial, achieved and failed.
	ObjectiveData struct {
		Objective string `json:"objective"`
		Points    int    `json:"points"` // score change
		Bonus     int    `json:"bonus,omitempty"`
		Tier      int    `json:"tier,omitempty"` // partial tier index
	}
	// AdjustData is an instructor's score change.
	AdjustData struct {
		Points int    `json:"points"`
		Reason string `json:"reason"`
	}
	// BroadcastData is an instructor's message.
	BroadcastData struct {
		En string `json:"en,omitempty"`
		Ja string `json:"ja,omitempty"`
	}
	// AlarmData is an alarm or trip bit of a PLC changing.
	AlarmData struct {
		PLC      string `json:"plc"`
		Tag      string `json:"tag"`
		Class    string `json:"class"` // alarm, trip
		Active   bool   `json:"active"`
		Incident bool   `json:"incident,omitempty"` // a safety incident tag
	}
)

// Objective statuses.
const (
	StatusPending  = "pending"
	StatusAchieved = "achieved"
	StatusFailed   = "failed"
)

// State is the fold of the event log.
type State struct {
	Phase    Phase
	Clock    time.Duration // exercise clock of the last event
	Scenario string
	Title    string
	Seed     uint64
	Teams    []string
	Team     map[string]*TeamState
	LastSeq  int64
}

// TeamState is one team's part of the state.
type TeamState struct {
	Name       string
	Score      int
	Fired      map[string]time.Duration
	Actions    map[string]*ActionState
	Answers    map[string]*AnswerState
	Hints      map[string]time.Duration
	Objectives map[string]*ObjectiveState
	HostDown   map[string]bool // stopped
	HostPaused map[string]bool // frozen: processes stopped, network up
	HostOff    map[string]bool // disconnected from its zone network
	Cut        map[[2]string]bool
	Alarms     map[string]bool // "plc.tag" → active
	Incidents  int
}

// ActionState tracks an action.
type ActionState struct {
	Count int
	Last  time.Duration
}

// AnswerState tracks a question.
type AnswerState struct {
	Attempts int
	Correct  bool
	At       time.Duration
}

// ObjectiveState tracks an objective.
type ObjectiveState struct {
	Status  string
	At      time.Duration
	Points  int // points earned from it so far (partial + full + bonus − penalty)
	Partial map[int]bool
}

// NewState is the state before any event.
func NewState() *State { return &State{Phase: PhaseCreated, Team: map[string]*TeamState{}} }

func newTeamState(name string) *TeamState {
	return &TeamState{Name: name, Fired: map[string]time.Duration{}, Actions: map[string]*ActionState{},
		Answers: map[string]*AnswerState{}, Hints: map[string]time.Duration{}, Objectives: map[string]*ObjectiveState{},
		HostDown: map[string]bool{}, HostPaused: map[string]bool{}, HostOff: map[string]bool{},
		Cut: map[[2]string]bool{}, Alarms: map[string]bool{}}
}

// Host statuses, as views show them.
const (
	HostStatusRunning      = "running"
	HostStatusStopped      = "stopped"
	HostStatusPaused       = "paused"
	HostStatusDisconnected = "disconnected"
)

// HostStatus is a host's status: stopped, paused, disconnected or running.
// A host can be disconnected and also stopped or paused; the status names
// the first that holds, in that order (HostOff says whether it is also
// disconnected). Only a running host plays traffic.
func (t *TeamState) HostStatus(id string) string {
	switch {
	case t.HostDown[id]:
		return HostStatusStopped
	case t.HostPaused[id]:
		return HostStatusPaused
	case t.HostOff[id]:
		return HostStatusDisconnected
	}
	return HostStatusRunning
}

// applyHostEffect folds a host effect that succeeded into the team's state,
// as the deployment applies it: stopping or starting a host ends a pause,
// a stopped host can't be paused, and being on the network or not is
// independent of both.
func (t *TeamState) applyHostEffect(e backend.Effect) {
	h := e.Host
	switch e.Kind {
	case backend.KindStopHost, backend.KindStartHost:
		t.HostDown[h] = e.Kind == backend.KindStopHost
		t.HostPaused[h] = false
	case backend.KindPauseHost:
		t.HostPaused[h] = !t.HostDown[h]
	case backend.KindResumeHost:
		t.HostPaused[h] = false
	case backend.KindDisconnectHost, backend.KindReconnectHost:
		t.HostOff[h] = e.Kind == backend.KindDisconnectHost
	}
}

func (t *TeamState) objective(id string) *ObjectiveState {
	o, ok := t.Objectives[id]
	if !ok {
		o = &ObjectiveState{Status: StatusPending, Partial: map[int]bool{}}
		t.Objectives[id] = o
	}
	return o
}

// Apply folds one event into the state. It is the only place state
// changes, so live state and a replayed log agree by construction.
func (s *State) Apply(e store.Event) error {
	s.Clock, s.LastSeq = e.Clock, e.Seq
	var t *TeamState
	if e.Team != "" {
		t = s.Team[e.Team]
		if t == nil {
			return fmt.Errorf("event %d (%s) for unknown team %q", e.Seq, e.Kind, e.Team)
		}
		points, err := ScoreChange(e)
		if err != nil {
			return err
		}
		t.Score += points
	}
	dec := func(v any) error { return decodeEvent(e, v) }
	switch e.Kind {
	case EvCreated:
		var d CreatedData
		if err := dec(&d); err != nil {
			return err
		}
		s.Scenario, s.Title, s.Seed, s.Teams = d.Scenario, d.Title, d.Seed, d.Teams
		for _, n := range d.Teams {
			s.Team[n] = newTeamState(n)
		}
	case EvStarted, EvResumed:
		s.Phase = PhaseRunning
	case EvPaused:
		s.Phase = PhasePaused
	case EvEnded:
		s.Phase = PhaseEnded
	case EvRecovered, EvBroadcast:
	case EvInject:
		var d InjectData
		if err := dec(&d); err != nil {
			return err
		}
		t.Fired[d.Inject] = e.Clock
	case EvEffect:
		var d EffectData
		if err := dec(&d); err != nil {
			return err
		}
		if d.Outcome == "ok" {
			switch d.Effect.Kind {
			case backend.KindStopHost, backend.KindStartHost, backend.KindPauseHost, backend.KindResumeHost,
				backend.KindDisconnectHost, backend.KindReconnectHost:
				t.applyHostEffect(d.Effect)
			case backend.KindCutConduit, backend.KindRestoreConduit:
				t.Cut[[2]string{d.Effect.From, d.Effect.To}] = d.Effect.Kind == backend.KindCutConduit
			}
		}
	case EvAction:
		var d ActionData
		if err := dec(&d); err != nil {
			return err
		}
		a := t.Actions[d.Action]
		if a == nil {
			a = &ActionState{}
			t.Actions[d.Action] = a
		}
		a.Count++
		a.Last = e.Clock
	case EvAnswer:
		var d AnswerData
		if err := dec(&d); err != nil {
			return err
		}
		a := t.Answers[d.Question]
		if a == nil {
			a = &AnswerState{}
			t.Answers[d.Question] = a
		}
		a.Attempts++
		if d.Correct {
			a.Correct, a.At = true, e.Clock
		}
	case EvHint:
		var d HintData
		if err := dec(&d); err != nil {
			return err
		}
		t.Hints[d.Hint] = e.Clock
	case EvPartial, EvAchieved, EvFailed:
		var d ObjectiveData
		if err := dec(&d); err != nil {
			return err
		}
		o := t.objective(d.Objective)
		switch e.Kind {
		case EvPartial:
			o.Partial[d.Tier] = true
		case EvAchieved:
			o.Status, o.At = StatusAchieved, e.Clock
		case EvFailed:
			o.Status, o.At = StatusFailed, e.Clock
		}
		o.Points += d.Points + d.Bonus
	case EvAdjust: // the score only
	case EvPlantAlarm:
		var d AlarmData
		if err := dec(&d); err != nil {
			return err
		}
		t.Alarms[d.PLC+"."+d.Tag] = d.Active
		if d.Active && d.Incident {
			t.Incidents++
		}
	default:
		return fmt.Errorf("event %d: unknown kind %q", e.Seq, e.Kind)
	}
	return nil
}

func decodeEvent(e store.Event, v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("event %d (%s): %w", e.Seq, e.Kind, err)
	}
	return nil
}

// ScoreChange is what an event does to its team's score. Apply adds it,
// and the engine stores the score after each event with the event, so a
// page of the log shows scores without folding what came before.
func ScoreChange(e store.Event) (int, error) {
	switch e.Kind {
	case EvAction:
		var d ActionData
		err := decodeEvent(e, &d)
		return -d.Cost, err
	case EvAnswer:
		var d AnswerData
		err := decodeEvent(e, &d)
		return -d.Penalty, err
	case EvHint:
		var d HintData
		err := decodeEvent(e, &d)
		return -d.Cost, err
	case EvPartial, EvAchieved, EvFailed:
		var d ObjectiveData
		err := decodeEvent(e, &d)
		return d.Points + d.Bonus, err
	case EvAdjust:
		var d AdjustData
		err := decodeEvent(e, &d)
		return d.Points, err
	}
	return 0, nil
}
