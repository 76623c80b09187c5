package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

// Scope is who is looking: the public, one team, or the instructor.
type Scope struct {
	Role Role   // RoleNone = public
	Team string // for RoleTeam
}

// Public, TeamScope and Instructor are the three kinds of viewer.
var (
	Public     = Scope{}
	Instructor = Scope{Role: RoleInstructor}
)

// TeamScope is one team's view.
func TeamScope(team string) Scope { return Scope{Role: RoleTeam, Team: team} }

// EventView is an event as a viewer may see it: what happened in words
// (both languages), the score change, and for the instructor the payload.
type EventView struct {
	Seq     int64           `json:"seq"`
	Time    time.Time       `json:"time"`
	ClockMS int64           `json:"clock_ms"`
	Team    string          `json:"team,omitempty"`
	Kind    string          `json:"kind"`
	Text    scenario.Text   `json:"text"`
	Level   string          `json:"level"`            // info, good, bad, alert: how to show it
	Points  int             `json:"points,omitempty"` // score change
	Score   *int            `json:"score,omitempty"`  // the team's score after it
	Data    json.RawMessage `json:"data,omitempty"`   // instructor only
}

func bi(en, ja string) scenario.Text { return scenario.Text{En: en, Ja: ja} }

// both fills a template in each language with names in that language.
func both(en, ja string, name scenario.Text, a ...any) scenario.Text {
	return scenario.Text{
		En: fmt.Sprintf(en, append([]any{name.In("en")}, a...)...),
		Ja: fmt.Sprintf(ja, append([]any{name.In("ja")}, a...)...),
	}
}

// Who besides the instructor sees each kind of event. The public and the
// teams see only what they could not use against each other; a team never
// sees another team's events.
type audience int

const (
	seenByInstructor audience = iota // effect details: the instructor only
	seenByAll                        // the public and the event's team (every team, if exercise-wide)
	seenByTeam                       // the event's team, not the public
	seenIfAnnounced                  // an inject: only one that says something (has say:)
	seenIfIncident                   // an alarm: only a safety incident starting
)

var kindAudience = map[string]audience{
	EvCreated: seenByAll, EvStarted: seenByAll, EvPaused: seenByAll, EvResumed: seenByAll,
	EvRecovered: seenByAll, EvEnded: seenByAll, EvBroadcast: seenByAll,
	EvPartial: seenByAll, EvAchieved: seenByAll, EvFailed: seenByAll, EvAdjust: seenByAll,
	EvAction: seenByTeam, EvAnswer: seenByTeam, EvHint: seenByTeam,
	EvInject:     seenIfAnnounced,
	EvPlantAlarm: seenIfIncident,
	EvEffect:     seenByInstructor,
	EvRuleError:  seenByInstructor,
	EvRuleSlow:   seenByInstructor,
}

// Visible is the scope filter, the one place that decides who sees which
// event (kindAudience): the instructor every event of a known kind; a team
// its own events and the exercise-wide ones, of its injects only those that
// say something (a silent attack is for the team to detect), and of alarms
// only safety incidents; the public the same for every team minus what is a
// team's own business (actions, answers, hints) — so the projector never
// gives away an attack its team was not told of. Events naming an inject,
// hint or objective the scenario lacks are shown to no one.
func Visible(sc *scenario.Scenario, e store.Event, s Scope) bool {
	a, known := kindAudience[e.Kind]
	if !known || !namesKnown(sc, e) {
		return false
	}
	switch {
	case s.Role == RoleInstructor:
		return true
	case s.Role == RoleTeam && e.Team != "" && e.Team != s.Team:
		return false // another team's
	}
	switch a {
	case seenByAll:
		return true
	case seenByTeam:
		return s.Role == RoleTeam && e.Team != ""
	case seenIfAnnounced:
		var d InjectData
		json.Unmarshal(e.Data, &d)
		in, _ := sc.Inject(d.Inject)
		return announced(in)
	case seenIfIncident:
		var d AlarmData
		json.Unmarshal(e.Data, &d)
		return d.Incident && d.Active
	}
	return false
}

// namesKnown reports whether the inject, hint or objective an event names
// is in the scenario.
func namesKnown(sc *scenario.Scenario, e store.Event) bool {
	ok := true
	switch e.Kind {
	case EvInject:
		var d InjectData
		json.Unmarshal(e.Data, &d)
		_, ok = sc.Inject(d.Inject)
	case EvHint:
		var d HintData
		json.Unmarshal(e.Data, &d)
		_, ok = sc.Hint(d.Hint)
	case EvPartial, EvAchieved, EvFailed:
		var d ObjectiveData
		json.Unmarshal(e.Data, &d)
		_, ok = sc.Objective(d.Objective)
	}
	return ok
}

// announced reports whether an inject tells its team it fired: only then
// may the public (and the team) see that it did.
func announced(in *scenario.Inject) bool { return !in.Say.IsZero() }

// Audience says who besides the instructor may see an event: the public,
// and the event's team (every team, for an exercise-wide event). The
// engine stores both with the event, so a page of the log for one scope is
// an indexed query.
func Audience(sc *scenario.Scenario, e store.Event) (public, team bool) {
	return Visible(sc, e, Public), Visible(sc, e, TeamScope(e.Team))
}

// ViewEvent renders an update for a scope, or reports that the scope may
// not see it (Visible decides). Public views never carry answers, hint
// texts, effects or payloads.
func ViewEvent(sc *scenario.Scenario, u Update, s Scope) (EventView, bool) {
	e := u.Event
	v := EventView{Seq: e.Seq, Time: e.Time.UTC(), ClockMS: e.Clock.Milliseconds(), Team: e.Team, Kind: e.Kind, Level: "info"}
	if !Visible(sc, e, s) {
		return v, false
	}
	instr := s.Role == RoleInstructor
	own := instr || (s.Role == RoleTeam && e.Team == s.Team)
	if instr {
		v.Data = e.Data
	}
	if e.Team != "" {
		score := u.Score
		v.Score = &score
	}
	switch e.Kind {
	case EvCreated:
		v.Text = bi("Exercise created", "演習を作成しました")
	case EvStarted:
		v.Text = bi("Exercise started", "演習開始")
	case EvPaused:
		v.Text, v.Level = bi("Exercise paused", "演習一時停止"), "alert"
	case EvResumed:
		v.Text = bi("Exercise resumed", "演習再開")
	case EvRecovered:
		var d RecoveredData
		json.Unmarshal(e.Data, &d)
		secs := float64(d.DowntimeMS) / 1000
		v.Text = scenario.Text{En: fmt.Sprintf("Engine recovered after %.0f s down", secs), Ja: fmt.Sprintf("エンジン復旧（停止 %.0f 秒）", secs)}
	case EvEnded:
		var d PhaseData
		json.Unmarshal(e.Data, &d)
		v.Text, v.Level = bi("Exercise ended: time is up", "演習終了：時間切れ"), "alert"
		if d.Reason != "time" {
			v.Text = bi("Exercise ended by the instructor", "講師が演習を終了しました")
		}
	case EvInject:
		var d InjectData
		json.Unmarshal(e.Data, &d)
		in, _ := sc.Inject(d.Inject) // Visible checked it exists
		name := in.Title
		if name.IsZero() {
			name = bi(in.ID, in.ID)
		}
		switch {
		case instr:
			by := map[string][2]string{"schedule": {"scheduled", "予定どおり"}, "instructor": {"by the instructor", "講師が発火"}}[d.By]
			if by[0] == "" {
				by = [2]string{d.By, d.By}
			}
			v.Text = scenario.Text{En: fmt.Sprintf("Inject %q fired (%s)", name.In("en"), by[0]),
				Ja: fmt.Sprintf("インジェクト「%s」発火（%s）", name.In("ja"), by[1])}
		case s.Role == RoleTeam:
			v.Text, v.Level = in.Say, "alert"
		default:
			v.Text = both("%s", "%s", name)
		}
	case EvEffect:
		var d EffectData
		json.Unmarshal(e.Data, &d)
		line := fmt.Sprintf("%s: ok", d.Effect)
		if d.Outcome != "ok" {
			line = fmt.Sprintf("%s: %s (%s)", d.Effect, d.Outcome, strings.TrimPrefix(d.Detail, d.Outcome+": "))
			v.Level = "bad"
		}
		v.Text = scenario.Text{En: line, Ja: line}
	case EvAction:
		var d ActionData
		json.Unmarshal(e.Data, &d)
		a, _ := sc.Action(d.Action)
		title := bi(d.Action, d.Action)
		if a != nil {
			title = a.Title
		}
		v.Text, v.Points = both("Action: %s", "対応: %s", title), -d.Cost
	case EvAnswer:
		var d AnswerData
		json.Unmarshal(e.Data, &d)
		switch {
		case d.Correct:
			v.Text, v.Level = bi("Question "+d.Question+": correct", "設問 "+d.Question+"：正解"), "good"
		default:
			v.Text = scenario.Text{En: fmt.Sprintf("Question %s: wrong answer (attempt %d)", d.Question, d.Attempt),
				Ja: fmt.Sprintf("設問 %s：不正解（%d回目）", d.Question, d.Attempt)}
			v.Level, v.Points = "bad", -d.Penalty
		}
		if instr {
			v.Text.En += fmt.Sprintf(" — %q", d.Answer)
			v.Text.Ja += fmt.Sprintf(" — %q", d.Answer)
		}
	case EvHint:
		var d HintData
		json.Unmarshal(e.Data, &d)
		h, _ := sc.Hint(d.Hint)
		v.Text = scenario.Text{En: "Hint: " + h.Text.In("en"), Ja: "ヒント：" + h.Text.In("ja")}
		v.Points = -d.Cost
	case EvPartial, EvAchieved, EvFailed:
		var d ObjectiveData
		json.Unmarshal(e.Data, &d)
		o, _ := sc.Objective(d.Objective)
		name := o.Title
		if name.IsZero() {
			name = bi(o.ID, o.ID)
		}
		v.Points = d.Points + d.Bonus
		switch e.Kind {
		case EvPartial:
			v.Text, v.Level = both("Partial credit: %s", "部分点: %s", name), "good"
		case EvAchieved:
			v.Text, v.Level = both("Objective achieved: %s", "目標達成: %s", name), "good"
			if d.Bonus > 0 {
				v.Text = both("Objective achieved: %s (time bonus %d)", "目標達成: %s（時間ボーナス %d）", name, d.Bonus)
			}
		default:
			v.Text, v.Level = both("Objective failed: %s", "目標失敗: %s", name), "bad"
		}
	case EvAdjust:
		var d AdjustData
		json.Unmarshal(e.Data, &d)
		v.Points = d.Points
		if own {
			v.Text = scenario.Text{En: "Score adjusted by the instructor: " + d.Reason, Ja: "講師による得点調整：" + d.Reason}
		} else {
			v.Text = bi("Score adjusted by the instructor", "講師による得点調整")
		}
	case EvBroadcast:
		var d BroadcastData
		json.Unmarshal(e.Data, &d)
		msg := scenario.Text{En: d.En, Ja: d.Ja}
		v.Text = scenario.Text{En: "Instructor: " + msg.In("en"), Ja: "講師：" + msg.In("ja")}
		v.Level = "alert"
	case EvPlantAlarm:
		var d AlarmData
		json.Unmarshal(e.Data, &d)
		switch {
		case d.Incident && d.Active:
			v.Text = scenario.Text{En: fmt.Sprintf("SAFETY INCIDENT: %s %s", d.PLC, d.Tag), Ja: fmt.Sprintf("安全事象発生：%s %s", d.PLC, d.Tag)}
			v.Level = "bad"
		case d.Active:
			v.Text = scenario.Text{En: fmt.Sprintf("%s %s.%s on", d.Class, d.PLC, d.Tag), Ja: fmt.Sprintf("%s %s.%s 発報", d.Class, d.PLC, d.Tag)}
			v.Level = "alert"
		default:
			v.Text = scenario.Text{En: fmt.Sprintf("%s %s.%s cleared", d.Class, d.PLC, d.Tag), Ja: fmt.Sprintf("%s %s.%s 復帰", d.Class, d.PLC, d.Tag)}
		}
	case EvRuleError:
		if !instr {
			return v, false
		}
		var d RuleErrorData
		json.Unmarshal(e.Data, &d)
		v.Level = "bad"
		v.Text = scenario.Text{En: fmt.Sprintf("Rule error at %s (%s, team %s): %s — the rule counts as false", d.Pos, d.Rule, d.Team, d.Error),
			Ja: fmt.Sprintf("ルールエラー %s（%s、チーム %s）：%s — このルールは偽として扱います", d.Pos, d.Rule, d.Team, d.Error)}
	case EvRuleSlow:
		if !instr {
			return v, false
		}
		var d RuleSlowData
		json.Unmarshal(e.Data, &d)
		cost := fmt.Sprintf("%s (%s): %.1f ms per evaluation, %.0f ms a tick for %d evaluations; the rules' budget is %.0f ms a tick",
			d.Pos, d.Rule, float64(d.EvalUS)/1000, d.TickMS, d.Evals, d.BudgetMS)
		costJa := fmt.Sprintf("%s（%s）：1回 %.1f ms、1ティック %.0f ms（%d 回評価）。ルールの予算は1ティック %.0f ms",
			d.Pos, d.Rule, float64(d.EvalUS)/1000, d.TickMS, d.Evals, d.BudgetMS)
		switch d.Change {
		case SlowRestored:
			v.Text = scenario.Text{En: fmt.Sprintf("Rule at %s (%s) is evaluated every tick again", d.Pos, d.Rule),
				Ja: fmt.Sprintf("ルール %s（%s）は毎ティックの評価に戻りました", d.Pos, d.Rule)}
		case SlowOver:
			v.Level = "alert"
			v.Text = scenario.Text{En: "The rules take longer than their budget; the slowest is at " + cost,
				Ja: "ルールの評価が予算を超えています。最も遅いのは " + costJa}
		default:
			v.Level = "alert"
			v.Text = scenario.Text{En: fmt.Sprintf("Slow rule at %s — now evaluated every %d ticks per team", cost, d.Every),
				Ja: fmt.Sprintf("遅いルール %s — 各チームで %d ティックごとに評価します", costJa, d.Every)}
		}
	default:
		return v, false
	}
	return v, true
}

// Describe renders an event as one line in lang, as the instructor sees
// it, for the operator's terminal.
func Describe(sc *scenario.Scenario, e store.Event, lang string) string {
	if e.Kind == EvEffect || (e.Kind == EvPlantAlarm && !json.Valid(e.Data)) {
		return ""
	}
	v, ok := ViewEvent(sc, Update{Event: e}, Instructor)
	if !ok {
		return ""
	}
	if e.Kind == EvPlantAlarm {
		var d AlarmData
		json.Unmarshal(e.Data, &d)
		if !d.Incident || !d.Active {
			return ""
		}
	}
	line := v.Text.In(lang)
	if e.Team != "" {
		line = e.Team + ": " + line
	}
	if v.Points != 0 {
		line += fmt.Sprintf(" (%+d)", v.Points)
	}
	return line
}
