package engine

import (
	"encoding/json"
	"fmt"

	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
)

// Describe renders an event as one line for logs and feeds, in lang. It
// never includes answer texts or hint texts; effect details and alarms are
// left out (they are the instructor's drill-down, not a feed line).
func Describe(sc *scenario.Scenario, e store.Event, lang string) string {
	team := ""
	if e.Team != "" {
		team = e.Team + ": "
	}
	switch e.Kind {
	case EvCreated:
		return "exercise created"
	case EvStarted:
		return "exercise started"
	case EvPaused:
		return "exercise paused"
	case EvResumed:
		return "exercise resumed"
	case EvRecovered:
		var d RecoveredData
		json.Unmarshal(e.Data, &d)
		return fmt.Sprintf("engine recovered after %.1f s down", float64(d.DowntimeMS)/1000)
	case EvEnded:
		var d PhaseData
		json.Unmarshal(e.Data, &d)
		if d.Reason == "time" {
			return "exercise ended: time is up"
		}
		return "exercise ended: stopped by the instructor"
	case EvInject:
		var d InjectData
		json.Unmarshal(e.Data, &d)
		name := d.Inject
		if in, ok := sc.Inject(d.Inject); ok {
			name = in.Name(lang)
		}
		return fmt.Sprintf("%sinject %q fired", team, name)
	case EvAction:
		var d ActionData
		json.Unmarshal(e.Data, &d)
		name := d.Action
		if a, ok := sc.Action(d.Action); ok {
			name = a.Title.In(lang)
		}
		if d.Cost > 0 {
			return fmt.Sprintf("%saction %q (−%d)", team, name, d.Cost)
		}
		return fmt.Sprintf("%saction %q", team, name)
	case EvAnswer:
		var d AnswerData
		json.Unmarshal(e.Data, &d)
		if d.Correct {
			return fmt.Sprintf("%sanswered %s correctly", team, d.Question)
		}
		return fmt.Sprintf("%swrong answer to %s (−%d)", team, d.Question, d.Penalty)
	case EvHint:
		var d HintData
		json.Unmarshal(e.Data, &d)
		if d.Cost > 0 {
			return fmt.Sprintf("%shint %s (−%d)", team, d.Hint, d.Cost)
		}
		return fmt.Sprintf("%shint %s released", team, d.Hint)
	case EvPartial, EvAchieved, EvFailed:
		var d ObjectiveData
		json.Unmarshal(e.Data, &d)
		name := d.Objective
		if o, ok := sc.Objective(d.Objective); ok {
			name = o.Name(lang)
		}
		switch e.Kind {
		case EvPartial:
			return fmt.Sprintf("%spartial credit for %q (+%d)", team, name, d.Points)
		case EvAchieved:
			if d.Bonus > 0 {
				return fmt.Sprintf("%sobjective %q achieved (+%d, bonus +%d)", team, name, d.Points, d.Bonus)
			}
			return fmt.Sprintf("%sobjective %q achieved (+%d)", team, name, d.Points)
		}
		if d.Points < 0 {
			return fmt.Sprintf("%sobjective %q failed (%d)", team, name, d.Points)
		}
		return fmt.Sprintf("%sobjective %q failed", team, name)
	case EvAdjust:
		var d AdjustData
		json.Unmarshal(e.Data, &d)
		return fmt.Sprintf("%sscore adjusted %+d: %s", team, d.Points, d.Reason)
	case EvBroadcast:
		var d BroadcastData
		json.Unmarshal(e.Data, &d)
		return "message: " + scenario.Text{En: d.En, Ja: d.Ja}.In(lang)
	case EvPlantAlarm:
		var d AlarmData
		json.Unmarshal(e.Data, &d)
		if d.Incident && d.Active {
			return fmt.Sprintf("%sSAFETY INCIDENT: %s.%s", team, d.PLC, d.Tag)
		}
	}
	return ""
}
