package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

// Error is a command refused for a reason a user can act on. Code is
// stable for APIs; Msg says what was wrong.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Error codes.
const (
	CodeNotFound = "not_found" // no such question, action, hint, inject or team
	CodeConflict = "conflict"  // not possible in this phase or state
	CodeInvalid  = "invalid"   // malformed input
	CodeLimit    = "limit"     // attempts used up, cooldown running
)

func errf(code, format string, a ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, a...)}
}

// MaxAnswerLen bounds an answer; findings are short.
const MaxAnswerLen = 200

// Start starts a created exercise.
func (x *Exercise) Start(ctx context.Context, by string) error {
	return x.phase(ctx, PhaseCreated, EvStarted, by)
}

// Pause pauses a running exercise: the clock, the physics and scoring stop.
func (x *Exercise) Pause(ctx context.Context, by string) error {
	return x.phase(ctx, PhaseRunning, EvPaused, by)
}

// Resume resumes a paused exercise.
func (x *Exercise) Resume(ctx context.Context, by string) error {
	return x.phase(ctx, PhasePaused, EvResumed, by)
}

func (x *Exercise) phase(ctx context.Context, from Phase, kind, by string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state.Phase != from {
		return errf(CodeConflict, "the exercise is %s, not %s", x.state.Phase, from)
	}
	if err := x.emit(ctx, "", kind, PhaseData{By: by}); err != nil {
		return err
	}
	if kind == EvPaused {
		return x.checkpoint(ctx)
	}
	return nil
}

// Stop ends the exercise early.
func (x *Exercise) Stop(ctx context.Context, by string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state.Phase == PhaseEnded {
		return errf(CodeConflict, "the exercise has already ended")
	}
	return x.end(ctx, "stopped", by)
}

func (x *Exercise) team(name string) (*TeamState, error) {
	ts, ok := x.state.Team[name]
	if !ok {
		return nil, errf(CodeNotFound, "no team %q", name)
	}
	return ts, nil
}

func (x *Exercise) running() error {
	switch x.state.Phase {
	case PhaseRunning:
		return nil
	case PhasePaused:
		return errf(CodeConflict, "the exercise is paused")
	case PhaseCreated:
		return errf(CodeConflict, "the exercise has not started")
	}
	return errf(CodeConflict, "the exercise has ended")
}

// AnswerResult is what a team learns about its answer.
type AnswerResult struct {
	Correct      bool `json:"correct"`
	Penalty      int  `json:"penalty"`
	AttemptsLeft int  `json:"attempts_left"`
	Score        int  `json:"score"`
}

// Answer checks and records a team's answer.
func (x *Exercise) Answer(ctx context.Context, team, question, answer string) (AnswerResult, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ts, err := x.team(team)
	if err != nil {
		return AnswerResult{}, err
	}
	if err := x.running(); err != nil {
		return AnswerResult{}, err
	}
	q, ok := x.sc.Question(question)
	if !ok {
		return AnswerResult{}, errf(CodeNotFound, "no question %q", question)
	}
	answer = strings.TrimSpace(answer)
	if answer == "" || !utf8.ValidString(answer) || utf8.RuneCountInString(answer) > MaxAnswerLen {
		return AnswerResult{}, errf(CodeInvalid, "an answer is 1 to %d characters of text", MaxAnswerLen)
	}
	if visible, err := x.visible(ctx, team, q); err != nil {
		return AnswerResult{}, err
	} else if !visible {
		return AnswerResult{}, errf(CodeNotFound, "no question %q", question)
	}
	st := ts.Answers[question]
	if st != nil && st.Correct {
		return AnswerResult{}, errf(CodeConflict, "question %q is already answered", question)
	}
	if st != nil && st.Attempts >= q.Attempts {
		return AnswerResult{}, errf(CodeLimit, "no attempts left for question %q", question)
	}
	correct := q.Check(answer) || x.checkAsScenarioAddress(team, q, answer)
	d := AnswerData{Question: question, Answer: answer, Correct: correct, Attempt: 1}
	if st != nil {
		d.Attempt = st.Attempts + 1
	}
	if !correct {
		d.Penalty = q.Penalty
	}
	if err := x.emit(ctx, team, EvAnswer, d); err != nil {
		return AnswerResult{}, err
	}
	return AnswerResult{Correct: correct, Penalty: d.Penalty, AttemptsLeft: q.Attempts - d.Attempt, Score: ts.Score}, nil
}

// visible says whether a question is shown to a team now.
func (x *Exercise) visible(ctx context.Context, team string, q *scenario.Question) (bool, error) {
	if q.Visible == nil {
		return true, nil
	}
	rt := x.rt[team]
	if err := x.readPlant(rt); err != nil {
		return false, err
	}
	return x.evalBool(ctx, rt, q.Visible), nil
}

// Act takes an action for a team and reports its effects' outcomes.
func (x *Exercise) Act(ctx context.Context, team, action string) ([]EffectData, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ts, err := x.team(team)
	if err != nil {
		return nil, err
	}
	if err := x.running(); err != nil {
		return nil, err
	}
	a, ok := x.sc.Action(action)
	if !ok {
		return nil, errf(CodeNotFound, "no action %q", action)
	}
	if st := ts.Actions[action]; st != nil && st.Count > 0 {
		if a.Cooldown == 0 {
			return nil, errf(CodeLimit, "action %q can be taken once and was taken", action)
		}
		if wait := st.Last + a.Cooldown - x.clock; wait > 0 {
			return nil, errf(CodeLimit, "action %q is available again in %v", action, wait.Round(time.Second))
		}
	}
	if err := x.emit(ctx, team, EvAction, ActionData{Action: action, Cost: a.Cost}); err != nil {
		return nil, err
	}
	mark := x.state.LastSeq
	if err := x.runEffects(ctx, team, "action", action, a.Effects); err != nil {
		return nil, err
	}
	if err := x.checkpoint(ctx); err != nil {
		return nil, err
	}
	return x.effectsSince(ctx, team, mark)
}

func (x *Exercise) effectsSince(ctx context.Context, team string, after int64) ([]EffectData, error) {
	var out []EffectData
	err := x.store.Events(ctx, store.Filter{After: after, Team: team, Kinds: []string{EvEffect}}, func(e store.Event) error {
		var d EffectData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		if e.Team == team {
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// RequestHint releases a requestable hint to a team at its cost.
func (x *Exercise) RequestHint(ctx context.Context, team, hint string) (scenario.Text, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ts, err := x.team(team)
	if err != nil {
		return scenario.Text{}, err
	}
	if err := x.running(); err != nil {
		return scenario.Text{}, err
	}
	h, ok := x.sc.Hint(hint)
	if !ok || !h.Requestable {
		return scenario.Text{}, errf(CodeNotFound, "no hint %q to request", hint)
	}
	if _, done := ts.Hints[hint]; done {
		return h.Text, nil // already theirs; no second charge
	}
	if err := x.emit(ctx, team, EvHint, HintData{Hint: hint, Cost: h.Cost, By: "request"}); err != nil {
		return scenario.Text{}, err
	}
	return h.Text, nil
}

// teamsOrAll expands "" to every team.
func (x *Exercise) teamsOrAll(team string) ([]string, error) {
	if team == "" {
		return x.state.Teams, nil
	}
	if _, err := x.team(team); err != nil {
		return nil, err
	}
	return []string{team}, nil
}

// ReleaseHint gives a hint to one team or, with team "", to all, free.
func (x *Exercise) ReleaseHint(ctx context.Context, team, hint, by string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state.Phase == PhaseEnded {
		return errf(CodeConflict, "the exercise has ended")
	}
	if _, ok := x.sc.Hint(hint); !ok {
		return errf(CodeNotFound, "no hint %q", hint)
	}
	teams, err := x.teamsOrAll(team)
	if err != nil {
		return err
	}
	for _, t := range teams {
		if _, done := x.state.Team[t].Hints[hint]; done {
			continue
		}
		if err := x.emit(ctx, t, EvHint, HintData{Hint: hint, By: by}); err != nil {
			return err
		}
	}
	return nil
}

// FireInject fires an inject now for one team or, with team "", for every
// team that has not had it.
func (x *Exercise) FireInject(ctx context.Context, team, inject, by string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.running(); err != nil {
		return err
	}
	in, ok := x.sc.Inject(inject)
	if !ok {
		return errf(CodeNotFound, "no inject %q", inject)
	}
	teams, err := x.teamsOrAll(team)
	if err != nil {
		return err
	}
	fired := 0
	for _, t := range teams {
		if _, done := x.state.Team[t].Fired[inject]; done {
			continue
		}
		if err := x.fire(ctx, t, in, by); err != nil {
			return err
		}
		fired++
	}
	if fired == 0 {
		return errf(CodeConflict, "inject %q has already fired for %s", inject, strings.Join(teams, ", "))
	}
	return nil
}

// MaxReasonLen bounds adjustment reasons and broadcasts.
const MaxReasonLen = 500

// Adjust changes a team's score with a reason the team sees.
func (x *Exercise) Adjust(ctx context.Context, team string, points int, reason string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, err := x.team(team); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > MaxReasonLen || !utf8.ValidString(reason) {
		return errf(CodeInvalid, "an adjustment needs a reason of 1 to %d characters", MaxReasonLen)
	}
	if points == 0 || points > 100000 || points < -100000 {
		return errf(CodeInvalid, "adjustment of %d points is out of range (nonzero, within ±100000)", points)
	}
	return x.emit(ctx, team, EvAdjust, AdjustData{Points: points, Reason: reason})
}

// Broadcast sends a message to every team.
func (x *Exercise) Broadcast(ctx context.Context, msg scenario.Text) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	msg.En, msg.Ja = strings.TrimSpace(msg.En), strings.TrimSpace(msg.Ja)
	if msg.IsZero() || utf8.RuneCountInString(msg.En)+utf8.RuneCountInString(msg.Ja) > MaxReasonLen ||
		!utf8.ValidString(msg.En) || !utf8.ValidString(msg.Ja) {
		return errf(CodeInvalid, "a broadcast is 1 to %d characters", MaxReasonLen)
	}
	return x.emit(ctx, "", EvBroadcast, BroadcastData{En: msg.En, Ja: msg.Ja})
}

// checkAsScenarioAddress checks an answer that is the address one of the
// scenario's hosts has in this team's own plant, as the scenario's address
// for that host: where a backend gives every team its own subnets, the
// team's traffic log and capture show that address, and a question whose
// answer is "10.20.1.66" means "the attacker's address".
func (x *Exercise) checkAsScenarioAddress(team string, q *scenario.Question, answer string) bool {
	for _, h := range x.sc.Hosts {
		if h.Address != "" && h.Address != answer && x.hostAddr(team, h.ID) == answer {
			return q.Check(h.Address)
		}
	}
	return false
}
