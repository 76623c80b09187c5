package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/icsrange/icsrange/plant-sim/plant"

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
	EvRuleError  = "rule.error"
	EvRuleSlow   = "rule.slow"
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
		Source  string       `json:"source"` // inject or action
		ID      string       `json:"id"`
		Effect  plant.Effect `json:"effect"`
		Outcome string       `json:"outcome"` // ok, blocked, error
		Detail  string       `json:"detail,omitempty"`
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
	// AlarmData is an alarm or trip episode of a PLC starting (the bit
	// set) or ending (the bit stayed clear for the model's alarm hold).
	AlarmData struct {
		PLC      string `json:"plc"`
		Tag      string `json:"tag"`
		Class    string `json:"class"` // alarm, trip
		Active   bool   `json:"active"`
		Incident bool   `json:"incident,omitempty"` // a safety incident tag
		// ClearMS is, when an episode ends, the exercise time its bit
		// went clear (the event comes a hold later).
		ClearMS int64 `json:"clear_ms,omitempty"`
	}
	// RuleErrorData is a rule failing at run time, reported once per rule:
	// it counts as false (a bonus as 0) wherever it fails.
	RuleErrorData struct {
		Rule  string `json:"rule"` // its place in the scenario, e.g. objectives[2].when
		Pos   string `json:"pos"`  // FILE:LINE:COL of the failing token
		Team  string `json:"team"` // the team it first failed for
		Error string `json:"error"`
	}
	// RuleSlowData is a rule costing more than the tick budget allows,
	// and how often it now runs for each team.
	RuleSlowData struct {
		Rule     string  `json:"rule"`
		Pos      string  `json:"pos"`       // FILE:LINE:COL of the rule
		EvalUS   int64   `json:"eval_us"`   // one evaluation, microseconds
		TickMS   float64 `json:"tick_ms"`   // one tick for every team that asks, if run every tick
		BudgetMS float64 `json:"budget_ms"` // what all rules of a tick may take
		Every    int     `json:"every"`     // runs for each team every this many ticks (1 = every tick)
		Evals    int     `json:"evals"`     // evaluations a tick asks for (about one per team)
		// Slowed: Every went up or down; restored: back to every tick;
		// over: the rules of a tick take more than the budget, and this,
		// the slowest, is too cheap per evaluation to slow.
		Change string `json:"change"`
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
	// RuleErrors holds the rules (by path) whose failure was reported.
	RuleErrors map[string]bool
	// RuleSlow is when (wall time) each slow rule was last reported.
	RuleSlow map[string]time.Time

	topo *plant.Topology
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
	// Net is the team's plant network: its hosts' and conduits' state,
	// as the effects that succeeded left it.
	Net       plant.Network
	Alarms    map[string]bool // "plc.tag" → active
	Incidents int
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

// Host statuses, as views show them.
const (
	HostStatusRunning      = plant.StatusRunning
	HostStatusStopped      = plant.StatusStopped
	HostStatusPaused       = plant.StatusPaused
	HostStatusDisconnected = plant.StatusDisconnected
)

// NewState is the state before any event, for a plant of topology t.
func NewState(t *plant.Topology) *State {
	return &State{Phase: PhaseCreated, Team: map[string]*TeamState{}, RuleErrors: map[string]bool{}, RuleSlow: map[string]time.Time{}, topo: t}
}

func newTeamState(name string, topo *plant.Topology) *TeamState {
	return &TeamState{Name: name, Fired: map[string]time.Duration{}, Actions: map[string]*ActionState{},
		Answers: map[string]*AnswerState{}, Hints: map[string]time.Duration{}, Objectives: map[string]*ObjectiveState{},
		Net: plant.NewNetwork(topo), Alarms: map[string]bool{}}
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
			s.Team[n] = newTeamState(n, s.topo)
		}
	case EvStarted, EvResumed:
		s.Phase = PhaseRunning
	case EvPaused:
		s.Phase = PhasePaused
	case EvEnded:
		s.Phase = PhaseEnded
	case EvRecovered, EvBroadcast:
	case EvRuleError:
		var d RuleErrorData
		if err := dec(&d); err != nil {
			return err
		}
		s.RuleErrors[d.Rule] = true
	case EvRuleSlow:
		var d RuleSlowData
		if err := dec(&d); err != nil {
			return err
		}
		s.RuleSlow[d.Rule] = e.Time
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
		if d.Outcome == plant.OK {
			t.Net, _ = t.Net.Apply(d.Effect)
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
