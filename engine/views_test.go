package engine

import (
	"context"
	"testing"
	"time"

	"github.com/icsrange/icsrange/plant-sim/plant"
)

// The projector shows a team's alarms as its HMI does: an alarm an attack
// hides from the team (a frozen sensor) is not on the public scoreboard,
// while the instructor sees the truth and an alarm the HMI shows is public.
func TestPublicAlarmsAreWhatTheHMIShows(t *testing.T) {
	ctx := context.Background()
	x := newTestExercise(t)
	x.Start(ctx, "test")
	step(t, x, 10*time.Second)
	dep := x.Deployment()
	// Team a's high-level alarm is frozen off on its HMI; then both teams'
	// alarm limit drops below the level, so the alarm comes on in truth.
	if _, err := dep.Do(ctx, "a", plant.Effect{Kind: plant.KindFreeze, PLC: "tank", Tag: "level_h"}); err != nil {
		t.Fatal(err)
	}
	for _, team := range []string{"a", "b"} {
		if _, err := dep.Do(ctx, team, plant.Effect{Kind: plant.KindSet, PLC: "tank", Tag: "alarm_h", Value: 1, HasValue: true}); err != nil {
			t.Fatal(err)
		}
	}
	step(t, x, 15*time.Second)

	iv, err := x.InstructorView()
	if err != nil {
		t.Fatal(err)
	}
	truth := map[string]TeamSummary{}
	for _, tm := range iv.Teams {
		truth[tm.Name] = tm.TeamSummary
	}
	shown := map[string]TeamSummary{}
	for _, tm := range x.PublicView().Teams {
		shown[tm.Name] = tm
	}
	if truth["a"].Alarms == 0 || truth["a"].Plant != "alarm" || truth["b"].Alarms == 0 {
		t.Fatalf("the instructor's truth: a %+v, b %+v; want alarms on both", truth["a"], truth["b"])
	}
	if shown["a"].Alarms != truth["a"].Alarms-1 || (shown["a"].Alarms == 0 && shown["a"].Plant != "normal") {
		t.Errorf("the projector shows team a %+v: the frozen alarm must not count (truth %d alarms)", shown["a"], truth["a"].Alarms)
	}
	if shown["b"].Alarms != truth["b"].Alarms || shown["b"].Plant != "alarm" {
		t.Errorf("the projector shows team b %+v, want its %d alarms as its HMI shows them", shown["b"], truth["b"].Alarms)
	}
	tv, err := x.TeamView("a")
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tv.Plant[0].Tags {
		if tag.Name == "level_h" && tag.Value != 0 {
			t.Errorf("team a's HMI shows level_h %v; the freeze should hold it off", tag.Value)
		}
	}
}
