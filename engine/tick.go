package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/icsrange/icsrange/plant-sim/plant"

	"github.com/expr-lang/expr/vm"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// teamRT is a team's runtime scratch: its rule env, value buffers, the
// timers of for: rules and of alarm holds. Everything here is derived;
// the state is the log. The for: timers alone cannot be derived from the
// log (a rule that holds commits nothing): they are saved with every
// checkpoint and after every tick that committed events (saveHolds).
type teamRT struct {
	name   string
	index  int // in State.Teams: staggers slowed rules (ruleBudget.due)
	env    *scenario.Env
	vm     vm.VM
	vals   []plantsim.Values
	since  map[string]time.Duration // objective → when its when-rule started holding
	alarms []alarmTag
	// clearSince is, per alarm, since when its bit has been clear while
	// the log says the alarm is active (-1: it isn't clearing).
	clearSince []time.Duration
	traffic    *trafficRT
}

type alarmTag struct {
	plc, tag int
	key      string
	class    string
	incident bool
	hold     time.Duration // the model's AlarmHold
}

func (x *Exercise) initRuntime(teams []string) {
	x.rt = map[string]*teamRT{}
	l := x.sc.Layout
	var alarms []alarmTag
	for pi, m := range l.Model {
		incident := map[string]bool{}
		for _, n := range m.Incidents {
			incident[n] = true
		}
		for ti, t := range m.Tags {
			if t.Class == plantsim.ClassAlarm || t.Class == plantsim.ClassTrip {
				alarms = append(alarms, alarmTag{plc: pi, tag: ti, key: l.PLCs[pi] + "." + t.Name, class: t.Class.String(),
					incident: incident[t.Name], hold: m.AlarmHold})
			}
		}
	}
	for i, name := range teams {
		rt := &teamRT{name: name, index: i, env: l.NewEnv(), vals: make([]plantsim.Values, len(l.PLCs)),
			since: map[string]time.Duration{}, alarms: alarms, clearSince: make([]time.Duration, len(alarms)), traffic: newTrafficRT()}
		for j := range rt.clearSince {
			rt.clearSince[j] = -1
		}
		rt.vm.MemoryBudget = scenario.RuleMemoryBudget
		x.bindEnv(rt)
		x.rt[name] = rt
	}
	x.budget = newRuleBudget(len(x.sc.Rules))
}

// due says whether a tick evaluates a rule for a team (a rule over the
// tick budget runs only every few ticks; see rulebudget.go).
func (x *Exercise) due(rt *teamRT, r *scenario.Rule) bool {
	return x.budget.due(r.ID, int64(x.clock/Tick), rt.index, len(x.rt))
}

// bindEnv ties a team's rule helpers to its state. The closures read the
// state through the exercise, so a replayed state is seen as well.
func (x *Exercise) bindEnv(rt *teamRT) {
	ts := func() *TeamState { return x.state.Team[rt.name] }
	secs := func(at time.Duration) float64 { return (x.clock - at).Seconds() }
	e := rt.env
	e.Fired = func(id string) bool { _, ok := ts().Fired[id]; return ok }
	e.Since = func(id string) float64 {
		at, ok := ts().Fired[id]
		if !ok {
			return -1
		}
		return secs(at)
	}
	e.Done = func(id string) bool { a := ts().Actions[id]; return a != nil && a.Count > 0 }
	e.DoneSince = func(id string) float64 {
		a := ts().Actions[id]
		if a == nil || a.Count == 0 {
			return -1
		}
		return secs(a.Last)
	}
	e.Answered = func(id string) bool { a := ts().Answers[id]; return a != nil && a.Correct }
	e.Attempts = func(id string) int {
		if a := ts().Answers[id]; a != nil {
			return a.Attempts
		}
		return 0
	}
	e.Hinted = func(id string) bool { _, ok := ts().Hints[id]; return ok }
	e.Achieved = func(id string) bool { o := ts().Objectives[id]; return o != nil && o.Status == StatusAchieved }
	e.Failed = func(id string) bool { o := ts().Objectives[id]; return o != nil && o.Status == StatusFailed }
	e.ConduitOpen = func(from, to string) bool { return ts().Net.Open(from, to) }
	e.Writes = func(host string) int { return rt.traffic.writesFrom[x.hostAddr(rt.name, host)] }
	e.TeamWrote = func(plc, tag string) bool { return rt.traffic.traineeWrote[plc+"."+tag] > 0 }
	e.Reachable = func(host, plc string) bool { return ts().Net.Reaches(host, plc) }
	e.Talkers = func(plc string) int { return len(rt.traffic.firstSeen[plc]) }
}

// Step runs the exercise clock forward in ticks up to t (while running).
// Real-time runs call it with wall time × speed; tests call it directly
// with a virtual clock.
func (x *Exercise) Step(ctx context.Context, t time.Duration) error {
	for {
		x.mu.Lock()
		if x.err != nil {
			x.mu.Unlock()
			return x.err
		}
		if x.state.Phase != PhaseRunning || x.clock+Tick > t {
			x.mu.Unlock()
			return nil
		}
		err := x.tick(ctx)
		x.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// tick advances the exercise by one Tick: physics, then per team the plant
// reading, alarms, injects, scheduled hints and scoring.
func (x *Exercise) tick(ctx context.Context) error {
	// Events since the timers were last saved (a command's, between ticks)
	// move the clock a resume starts from: save the timers of that clock.
	if err := x.saveHoldsIfBehind(ctx); err != nil {
		return err
	}
	t := x.clock + Tick
	if err := x.dep.Advance(ctx, t); err != nil {
		return fmt.Errorf("advance plants: %w", err)
	}
	x.clock = t
	if t%trafficEvery == 0 {
		if err := x.collectTraffic(ctx); err != nil {
			return err
		}
	}
	x.budget.begin()
	for _, name := range x.state.Teams {
		if err := x.evalTeam(ctx, x.rt[name]); err != nil {
			return err
		}
	}
	if err := x.reportSlow(ctx, x.budget.end()); err != nil {
		return err
	}
	if t%SampleEvery == 0 {
		if err := x.sample(ctx); err != nil {
			return err
		}
	}
	if t >= x.sc.Duration {
		return x.end(ctx, "time", "schedule")
	}
	return x.saveHoldsIfBehind(ctx)
}

// saveHoldsIfBehind saves the for: timers when events were committed since
// they were last saved. A resume goes on from the last event's clock; with
// the timers of that clock, a hold begun before the crash ends on time after
// it, and the ticks from there on repeat what the engine would have done.
func (x *Exercise) saveHoldsIfBehind(ctx context.Context) error {
	if x.state.LastSeq == x.holdsSeq {
		return nil
	}
	return x.saveHolds(ctx)
}

func (x *Exercise) readPlant(rt *teamRT) error {
	ts := x.state.Team[rt.name]
	l := x.sc.Layout
	for i, id := range l.PLCs {
		if err := x.dep.Read(rt.name, id, &rt.vals[i]); err != nil {
			return fmt.Errorf("read team %s plc %s: %w", rt.name, id, err)
		}
		l.Fill(rt.env, i, &rt.vals[i])
	}
	for i, h := range l.Hosts {
		// Up: its processes run. A disconnected host is up, only cut off.
		rt.env.Host[i] = ts.Net.Host(h).Up()
	}
	rt.env.Elapsed = x.clock.Seconds()
	rt.env.Score = float64(ts.Score)
	return nil
}

func (x *Exercise) evalTeam(ctx context.Context, rt *teamRT) error {
	if err := x.readPlant(rt); err != nil {
		return err
	}
	ts := x.state.Team[rt.name]

	for i := range rt.alarms {
		if err := x.alarm(ctx, rt, ts, i); err != nil {
			return err
		}
	}

	// Injects; an after: chain with no delay fires in the same tick.
	for changed := true; changed; {
		changed = false
		for _, in := range x.sc.Injects {
			if _, done := ts.Fired[in.ID]; done {
				continue
			}
			due := false
			switch in.Trigger {
			case scenario.TriggerAt:
				due = x.clock >= in.At
			case scenario.TriggerAfter:
				if at, ok := ts.Fired[in.After]; ok {
					due = x.clock >= at+in.Delay
				}
			case scenario.TriggerWhen:
				due = x.due(rt, in.When) && x.evalBool(ctx, rt, in.When)
			}
			if due {
				if err := x.fire(ctx, rt.name, in, "schedule"); err != nil {
					return err
				}
				changed = true
			}
		}
	}

	for _, h := range x.sc.Hints {
		if _, done := ts.Hints[h.ID]; !done && h.HasAt && x.clock >= h.At {
			if err := x.emit(ctx, rt.name, EvHint, HintData{Hint: h.ID, By: "schedule"}); err != nil {
				return err
			}
		}
	}

	rt.env.Score = float64(ts.Score)
	for _, o := range x.sc.Objectives {
		if err := x.scoreObjective(ctx, rt, ts, o); err != nil {
			return err
		}
	}
	return nil
}

// alarm follows one alarm or trip bit. An episode starts when the bit
// sets and ends once it has stayed clear for the model's hold; a bit that
// sets again within the hold continues the episode, with no event, so a
// process wobbling at a limit is one alarm and one incident. The log holds
// only episodes; how long the bit has been clear is runtime, and after a
// restart the hold starts again from the first tick that sees it clear
// (a clear line at most one hold later, never a second incident).
func (x *Exercise) alarm(ctx context.Context, rt *teamRT, ts *TeamState, i int) error {
	a := rt.alarms[i]
	on := rt.vals[a.plc].Truth[a.tag] >= 0.5
	active := ts.Alarms[a.key]
	d := AlarmData{Class: a.class, Active: on, Incident: a.incident}
	d.PLC, d.Tag, _ = cutKey(a.key)
	switch {
	case on:
		rt.clearSince[i] = -1
		if active {
			return nil
		}
	case !active:
		return nil
	default:
		if rt.clearSince[i] < 0 {
			rt.clearSince[i] = x.clock
		}
		if x.clock-rt.clearSince[i] < a.hold {
			return nil
		}
		d.ClearMS = rt.clearSince[i].Milliseconds()
		rt.clearSince[i] = -1
	}
	return x.emit(ctx, rt.name, EvPlantAlarm, d)
}

// hostAddr is a scenario host's address in a team's plant: the scenario's,
// or the team's own where the backend gives every team its own subnets
// (Docker), which is the address its traffic shows.
func (x *Exercise) hostAddr(team, id string) string {
	if ha, ok := x.dep.(backend.HostAddresser); ok {
		if a := ha.HostAddress(team, id); a != "" {
			return a
		}
	}
	for _, h := range x.sc.Hosts {
		if h.ID == id {
			return h.Address
		}
	}
	return ""
}

// SampleEvery is how often plant values are recorded for the report.
const SampleEvery = 2 * time.Second

// sample records every team's analog values, truth and reported, and the
// setpoints and limits drawn with them, from the buffers the tick just
// filled.
func (x *Exercise) sample(ctx context.Context) error {
	l := x.sc.Layout
	samples := make([]store.Sample, 0, len(x.state.Teams))
	for _, name := range x.state.Teams {
		rt := x.rt[name]
		plcs := make(map[string]map[string][2]float64, len(l.PLCs))
		for pi, id := range l.PLCs {
			tags := map[string][2]float64{}
			for ti, t := range l.Model[pi].Tags {
				if sampled(t) {
					tags[t.Name] = [2]float64{round4(rt.vals[pi].Truth[ti]), round4(rt.vals[pi].Reported[ti])}
				}
			}
			plcs[id] = tags
		}
		b, err := json.Marshal(plcs)
		if err != nil {
			return err
		}
		samples = append(samples, store.Sample{Clock: x.clock, Team: name, Data: b})
	}
	if err := x.store.AppendSamples(ctx, samples); err != nil {
		return x.storeFailed(ctx, "event log", err)
	}
	return nil
}

// round4 keeps samples small: four decimals are finer than any chart.
func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

func cutKey(k string) (string, string, bool) {
	for i := range len(k) {
		if k[i] == '.' {
			return k[:i], k[i+1:], true
		}
	}
	return k, "", false
}

func (x *Exercise) scoreObjective(ctx context.Context, rt *teamRT, ts *TeamState, o *scenario.Objective) error {
	os := ts.Objectives[o.ID]
	if os != nil && os.Status != StatusPending {
		return nil
	}
	if o.FailWhen != nil && x.due(rt, o.FailWhen) && x.evalBool(ctx, rt, o.FailWhen) {
		delete(rt.since, o.ID)
		return x.emit(ctx, rt.name, EvFailed, ObjectiveData{Objective: o.ID, Points: -o.Penalty})
	}
	for i, p := range o.Partial {
		if os != nil && os.Partial[i] {
			continue
		}
		if x.due(rt, p.When) && x.evalBool(ctx, rt, p.When) {
			if err := x.emit(ctx, rt.name, EvPartial, ObjectiveData{Objective: o.ID, Points: p.Points, Tier: i}); err != nil {
				return err
			}
			os = ts.Objectives[o.ID]
		}
	}
	if o.When == nil || !x.due(rt, o.When) {
		return nil
	}
	if !x.evalBool(ctx, rt, o.When) {
		delete(rt.since, o.ID)
		return nil
	}
	start, holding := rt.since[o.ID]
	if !holding {
		start = x.clock
		rt.since[o.ID] = start
	}
	if x.clock-start < o.For {
		return nil
	}
	delete(rt.since, o.ID)
	return x.achieve(ctx, rt, ts, o)
}

func (x *Exercise) achieve(ctx context.Context, rt *teamRT, ts *TeamState, o *scenario.Objective) error {
	points := o.Points
	if os := ts.Objectives[o.ID]; os != nil {
		points -= os.Points // partial credit already paid
	}
	bonus := 0
	if o.Bonus != nil {
		if b := x.evalNumber(ctx, rt, o.Bonus); b > 0 && !math.IsInf(b, 0) {
			bonus = int(math.Round(math.Min(b, 1e6)))
		}
	}
	return x.emit(ctx, rt.name, EvAchieved, ObjectiveData{Objective: o.ID, Points: points, Bonus: bonus})
}

// fire fires an inject for a team: the firing is committed first, then the
// effects run and their outcomes are logged, then the plants are
// checkpointed. A crash in between loses an effect rather than repeating
// one: no inject ever fires twice.
func (x *Exercise) fire(ctx context.Context, team string, in *scenario.Inject, by string) error {
	if err := x.emit(ctx, team, EvInject, InjectData{Inject: in.ID, By: by, Tags: in.Tags}); err != nil {
		return err
	}
	if len(in.Effects) == 0 {
		return nil
	}
	if err := x.runEffects(ctx, team, "inject", in.ID, in.Effects); err != nil {
		return err
	}
	return x.checkpoint(ctx)
}

func (x *Exercise) runEffects(ctx context.Context, team, source, id string, effects []plant.Effect) error {
	for _, e := range effects {
		res, err := x.dep.Do(ctx, team, e)
		d := EffectData{Source: source, ID: id, Effect: e, Outcome: res.Outcome, Detail: res.Detail}
		if err != nil {
			d.Outcome, d.Detail = "error", err.Error()
		}
		if err := x.emit(ctx, team, EvEffect, d); err != nil {
			return err
		}
	}
	return nil
}

// end ends the exercise: objectives that only had to avoid failing are
// achieved, the plants are checkpointed for the report.
func (x *Exercise) end(ctx context.Context, reason, by string) error {
	for _, name := range x.state.Teams {
		rt, ts := x.rt[name], x.state.Team[name]
		if err := x.readPlant(rt); err != nil {
			return err
		}
		for _, o := range x.sc.Objectives {
			if os := ts.Objectives[o.ID]; o.When == nil && (os == nil || os.Status == StatusPending) {
				if err := x.achieve(ctx, rt, ts, o); err != nil {
					return err
				}
			}
		}
	}
	if err := x.checkpoint(ctx); err != nil {
		return err
	}
	return x.emit(ctx, "", EvEnded, PhaseData{Reason: reason, By: by})
}
