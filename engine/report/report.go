// Package report builds the after-action report of an exercise from its
// event log and plant samples: the ranking, each team's timeline, objective
// results with time-to-detect and time-to-contain, and process charts of
// truth against what the HMI showed. It renders HTML, JSON and CSV.
package report

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/internal/buildinfo"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// Version is the report format version; docs/report.md describes it.
const Version = 1

// Report is the whole after-action report.
type Report struct {
	Version int `json:"version"`
	// Build is the icsrange build that made this report.
	Build      buildinfo.Info `json:"build"`
	Exercise   Exercise       `json:"exercise"`
	Objectives []Objective    `json:"objectives"`
	Injects    []Inject       `json:"injects"`
	Ranking    []Rank         `json:"ranking"`
	Scores     []ScoreSeries  `json:"score_series"`
	Teams      []Team         `json:"teams"`
	Counts     map[string]int `json:"event_counts"`
}

// Exercise describes the run.
type Exercise struct {
	ID          string        `json:"id"`
	Scenario    string        `json:"scenario"`
	Title       scenario.Text `json:"title"`
	Description scenario.Text `json:"description"`
	Phase       engine.Phase  `json:"phase"`
	DurationMS  int64         `json:"duration_ms"`
	ClockMS     int64         `json:"clock_ms"` // exercise time reached
	Created     *time.Time    `json:"created,omitempty"`
	Started     *time.Time    `json:"started,omitempty"`
	Ended       *time.Time    `json:"ended,omitempty"`
	EndReason   string        `json:"end_reason,omitempty"`
	Teams       []string      `json:"teams"`
	Seed        uint64        `json:"seed"`
	Backend     string        `json:"backend"`
	Recoveries  int           `json:"recoveries"` // engine restarts
	// Build is the icsrange build that created the exercise; absent in
	// logs from before builds were recorded.
	Build *buildinfo.Info `json:"build,omitempty"`
}

// Objective is an objective of the scenario.
type Objective struct {
	ID       string        `json:"id"`
	Title    scenario.Text `json:"title"`
	Category string        `json:"category,omitempty"`
	Points   int           `json:"points"`
}

// Inject is an inject of the scenario.
type Inject struct {
	ID      string        `json:"id"`
	Name    scenario.Text `json:"name"`
	Trigger string        `json:"trigger"`
	Tags    []string      `json:"tags,omitempty"`
}

// Rank is a line of the final ranking.
type Rank struct {
	Rank  int    `json:"rank"`
	Team  string `json:"team"`
	Score int    `json:"score"`
}

// ScoreSeries is a team's score over exercise time: a point at the start
// and at every change.
type ScoreSeries struct {
	Team   string     `json:"team"`
	Points [][2]int64 `json:"points"` // [clock_ms, score]
}

// Team is one team's debrief.
type Team struct {
	Name       string          `json:"name"`
	Score      int             `json:"score"`
	Rank       int             `json:"rank"`
	Incidents  int             `json:"safety_incidents"`
	Objectives []TeamObjective `json:"objectives"`
	// First attack: the first inject with ATT&CK tags that fired for the
	// team. Time to detect/contain: from it to the first achieved objective
	// of category detect/contain. Null when never.
	FirstAttackMS   *int64        `json:"first_attack_ms"`
	TimeToDetectMS  *int64        `json:"time_to_detect_ms"`
	TimeToContainMS *int64        `json:"time_to_contain_ms"`
	Injects         []FiredInject `json:"injects"`
	Answers         []Answer      `json:"answers"`
	Timeline        []Entry       `json:"timeline"`
	Charts          []Chart       `json:"charts"`
}

// TeamObjective is how a team did on an objective.
type TeamObjective struct {
	Objective
	Status string `json:"status"`
	Earned int    `json:"earned"`
	AtMS   *int64 `json:"at_ms"`
}

// FiredInject is an inject as it fired for the team, with its effects'
// outcomes.
type FiredInject struct {
	ID      string        `json:"id"`
	Name    scenario.Text `json:"name"`
	ClockMS int64         `json:"clock_ms"`
	By      string        `json:"by"`
	Tags    []string      `json:"tags,omitempty"`
	Effects []Effect      `json:"effects"`
}

// Effect is an effect's outcome.
type Effect struct {
	Effect  string `json:"effect"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// Answer is an answer a team gave.
type Answer struct {
	ClockMS  int64  `json:"clock_ms"`
	Question string `json:"question"`
	Answer   string `json:"answer"`
	Correct  bool   `json:"correct"`
	Penalty  int    `json:"penalty,omitempty"`
}

// Entry is a line of a team's timeline.
type Entry struct {
	Seq     int64         `json:"seq"`
	ClockMS int64         `json:"clock_ms"`
	Kind    string        `json:"kind"`
	Text    scenario.Text `json:"text"`
	Level   string        `json:"level"`
	Points  int           `json:"points,omitempty"`
	Score   int           `json:"score"`
}

// Chart is one process tag over time.
type Chart struct {
	PLC  string  `json:"plc"`
	Tag  string  `json:"tag"`
	Unit string  `json:"unit,omitempty"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	// Samples are [clock_ms, truth, reported], every few seconds.
	Samples [][3]float64 `json:"samples"`
	// Diverged is true when what the HMI showed differed from the truth
	// (a spoof, freeze or replay): the debrief's key chart.
	Diverged bool `json:"diverged"`
	// Lines are the setpoints and alarm limits that apply to this value,
	// as they were (a write changes them).
	Lines []Line `json:"lines,omitempty"`
	// Steady is set when the value moved by no more than its sensor noise:
	// the HTML lists it instead of drawing it. Smoothed is set when the
	// noise is large against the movement: the HTML draws a moving
	// average. docs/report.md ("Noise") defines both.
	Steady   *Steady `json:"steady,omitempty"`
	Smoothed bool    `json:"smoothed,omitempty"`
}

// Line is a setpoint or limit over time.
type Line struct {
	Tag   string `json:"tag"`
	Class string `json:"class"` // setpoint or limit
	Desc  string `json:"desc,omitempty"`
	// Points are [clock_ms, value] at the first sample and at every change.
	Points [][2]float64 `json:"points"`
}

// Steady is a value that only moved by noise: the truth's mean, and the
// noise σ (of what the HMI showed: the truth has none).
type Steady struct {
	Mean  float64 `json:"mean"`
	Noise float64 `json:"noise"`
}

// Build reads an exercise's log (and the scenario kept in it) and builds
// its report. It works on a running exercise too.
func Build(ctx context.Context, st *store.Store) (*Report, error) {
	meta, err := st.Meta(ctx)
	if err != nil {
		return nil, err
	}
	sc, err := scenario.Load(meta["scenario_path"], []byte(meta["scenario_yaml"]))
	if err != nil {
		return nil, fmt.Errorf("load the exercise's scenario: %w", err)
	}
	seed, _ := strconv.ParseUint(meta["seed"], 10, 64)
	r := &Report{Version: Version, Build: buildinfo.Get(), Counts: map[string]int{}}
	r.Exercise = Exercise{ID: meta["exercise_id"], Scenario: sc.Spec.ID, Title: sc.Spec.Title, Description: sc.Spec.Description,
		DurationMS: sc.Duration.Milliseconds(), Seed: seed, Backend: meta["backend"]}
	if b := meta["build"]; b != "" {
		var in buildinfo.Info
		if err := json.Unmarshal([]byte(b), &in); err == nil {
			r.Exercise.Build = &in
		}
	}
	for _, o := range sc.Objectives {
		r.Objectives = append(r.Objectives, Objective{ID: o.ID, Title: nameOr(o.Title, o.ID), Category: o.Category, Points: o.Points})
	}
	for _, in := range sc.Injects {
		r.Injects = append(r.Injects, Inject{ID: in.ID, Name: nameOr(in.Title, in.ID), Trigger: in.Trigger.String(), Tags: in.Tags})
	}

	state := engine.NewState(sc.Topology)
	teams := map[string]*Team{}
	series := map[string]*ScoreSeries{}
	var last time.Duration
	err = st.Events(ctx, store.Filter{}, func(e store.Event) error {
		if err := state.Apply(e); err != nil {
			return err
		}
		r.Counts[e.Kind]++
		last = e.Clock
		t := e.Time.UTC()
		switch e.Kind {
		case engine.EvCreated:
			r.Exercise.Created = &t
			for _, name := range state.Teams {
				teams[name] = &Team{Name: name, Injects: []FiredInject{}, Answers: []Answer{}, Timeline: []Entry{}, Charts: []Chart{}, Objectives: []TeamObjective{}}
				series[name] = &ScoreSeries{Team: name, Points: [][2]int64{{0, 0}}}
			}
		case engine.EvStarted:
			if r.Exercise.Started == nil {
				r.Exercise.Started = &t
			}
		case engine.EvEnded:
			r.Exercise.Ended = &t
			var d engine.PhaseData
			json.Unmarshal(e.Data, &d)
			r.Exercise.EndReason = d.Reason
		case engine.EvRecovered:
			r.Exercise.Recoveries++
		}
		if e.Team == "" {
			return nil
		}
		tm, ts := teams[e.Team], state.Team[e.Team]
		if s := series[e.Team]; s.Points[len(s.Points)-1][1] != int64(ts.Score) {
			s.Points = append(s.Points, [2]int64{e.Clock.Milliseconds(), int64(ts.Score)})
		}
		switch e.Kind {
		case engine.EvInject:
			var d engine.InjectData
			json.Unmarshal(e.Data, &d)
			in, _ := sc.Inject(d.Inject)
			fi := &FiredInject{ID: d.Inject, ClockMS: e.Clock.Milliseconds(), By: d.By, Tags: d.Tags, Effects: []Effect{}}
			if in != nil {
				fi.Name = nameOr(in.Title, in.ID)
			}
			tm.Injects = append(tm.Injects, *fi)
			if len(d.Tags) > 0 && tm.FirstAttackMS == nil {
				ms := e.Clock.Milliseconds()
				tm.FirstAttackMS = &ms
			}
		case engine.EvEffect:
			var d engine.EffectData
			json.Unmarshal(e.Data, &d)
			if d.Source == "inject" {
				for i := range tm.Injects {
					if tm.Injects[i].ID == d.ID {
						tm.Injects[i].Effects = append(tm.Injects[i].Effects, Effect{Effect: d.Effect.String(), Outcome: d.Outcome, Detail: d.Detail})
					}
				}
			}
		case engine.EvAnswer:
			var d engine.AnswerData
			json.Unmarshal(e.Data, &d)
			tm.Answers = append(tm.Answers, Answer{ClockMS: e.Clock.Milliseconds(), Question: d.Question, Answer: d.Answer, Correct: d.Correct, Penalty: d.Penalty})
		}
		if v, ok := engine.ViewEvent(sc, engine.Update{Event: e, Score: ts.Score}, engine.Instructor); ok && e.Kind != engine.EvEffect {
			tm.Timeline = append(tm.Timeline, Entry{Seq: e.Seq, ClockMS: v.ClockMS, Kind: e.Kind, Text: v.Text, Level: v.Level, Points: v.Points, Score: ts.Score})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the event log: %w", err)
	}
	r.Exercise.Phase, r.Exercise.Teams, r.Exercise.ClockMS = state.Phase, state.Teams, last.Milliseconds()
	if ck, _, err := st.Checkpoint(ctx); err == nil && ck > last {
		r.Exercise.ClockMS = ck.Milliseconds()
	}

	for _, name := range state.Teams {
		tm, ts := teams[name], state.Team[name]
		tm.Score, tm.Incidents = ts.Score, ts.Incidents
		for _, o := range r.Objectives {
			to := TeamObjective{Objective: o, Status: engine.StatusPending}
			if os := ts.Objectives[o.ID]; os != nil {
				to.Status, to.Earned = os.Status, os.Points
				if os.Status != engine.StatusPending {
					at := os.At.Milliseconds()
					to.AtMS = &at
				}
			}
			tm.Objectives = append(tm.Objectives, to)
		}
		tm.TimeToDetectMS = sinceAttack(tm, "detect")
		tm.TimeToContainMS = sinceAttack(tm, "contain")
		r.Scores = append(r.Scores, *series[name])
	}
	if err := addCharts(ctx, st, sc, teams); err != nil {
		return nil, err
	}
	for _, name := range state.Teams {
		r.Teams = append(r.Teams, *teams[name])
	}
	sort.SliceStable(r.Teams, func(i, j int) bool {
		if r.Teams[i].Score != r.Teams[j].Score {
			return r.Teams[i].Score > r.Teams[j].Score
		}
		return r.Teams[i].Name < r.Teams[j].Name
	})
	for i := range r.Teams {
		r.Teams[i].Rank = i + 1
		if i > 0 && r.Teams[i].Score == r.Teams[i-1].Score {
			r.Teams[i].Rank = r.Teams[i-1].Rank
		}
		r.Ranking = append(r.Ranking, Rank{Rank: r.Teams[i].Rank, Team: r.Teams[i].Name, Score: r.Teams[i].Score})
	}
	return r, nil
}

func nameOr(t scenario.Text, id string) scenario.Text {
	if t.IsZero() {
		return scenario.Text{En: id, Ja: id}
	}
	return t
}

// sinceAttack is the time from the first attack to the first achieved
// objective of a category.
func sinceAttack(tm *Team, category string) *int64 {
	if tm.FirstAttackMS == nil {
		return nil
	}
	var best *int64
	for _, o := range tm.Objectives {
		if o.Category == category && o.Status == engine.StatusAchieved && o.AtMS != nil {
			d := max(0, *o.AtMS-*tm.FirstAttackMS)
			if best == nil || d < *best {
				best = &d
			}
		}
	}
	return best
}

// addCharts turns the plant samples into one chart per analog tag.
func addCharts(ctx context.Context, st *store.Store, sc *scenario.Scenario, teams map[string]*Team) error {
	type key struct{ team, plc, tag string }
	charts := map[key]*Chart{}
	err := st.Samples(ctx, "", func(s store.Sample) error {
		var data map[string]map[string][2]float64
		if err := json.Unmarshal(s.Data, &data); err != nil {
			return fmt.Errorf("sample at %v: %w", s.Clock, err)
		}
		for plc, tags := range data {
			for tag, v := range tags {
				k := key{s.Team, plc, tag}
				c := charts[k]
				if c == nil {
					c = &Chart{PLC: plc, Tag: tag}
					charts[k] = c
				}
				c.Samples = append(c.Samples, [3]float64{float64(s.Clock.Milliseconds()), v[0], v[1]})
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read plant samples: %w", err)
	}
	for name, tm := range teams {
		for pi, p := range sc.PLCs {
			m := sc.Layout.Model[pi]
			for _, t := range m.Tags {
				if t.Table != plantsim.InputRegister {
					continue
				}
				c := charts[key{name, p.ID, t.Name}]
				if c == nil {
					continue
				}
				c.Unit, c.Min, c.Max = t.Unit, t.Min, t.Max
				tol := (t.Max - t.Min) * 0.01
				for _, s := range c.Samples {
					if d := s[1] - s[2]; d > tol || d < -tol {
						c.Diverged = true
						break
					}
				}
				for _, l := range m.Tags {
					if l.Of != t.Name || l.Table != plantsim.HoldingRegister {
						continue
					}
					if src := charts[key{name, p.ID, l.Name}]; src != nil {
						c.Lines = append(c.Lines, Line{Tag: l.Name, Class: l.Class.String(), Desc: l.Desc, Points: steps(src.Samples)})
					}
				}
				c.classify()
				tm.Charts = append(tm.Charts, *c)
			}
		}
	}
	return nil
}

// steps keeps a setpoint's samples where it changed: the first, and each
// that differs from the one before.
func steps(samples [][3]float64) [][2]float64 {
	var out [][2]float64
	for i, s := range samples {
		if i == 0 || s[1] != samples[i-1][1] {
			out = append(out, [2]float64{s[0], s[1]})
		}
	}
	return out
}
