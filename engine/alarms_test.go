package engine

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

// The water-treatment attack overflows the intake. A team that comes back
// late with a setpoint just under the brim and the pump restarted leaves
// the level hovering at the brim, and the overflow switch wet and dry by
// turns: one overflow episode, which the public must see once and the
// score count once.
func TestOverflowIsOneIncident(t *testing.T) {
	ctx := context.Background()
	const path = "../scenarios/water-treatment.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Load(path, data)
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(ctx, Config{Scenario: sc, ScenarioYAML: data, ScenarioPath: path, Teams: []string{"a"},
		DataDir: t.TempDir(), Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	step(t, x, 20*time.Minute)
	for _, w := range []plant.Effect{
		{Kind: plant.KindModbusWrite, PLC: "intake", Tag: "level_sp", Value: 3.9, HasValue: true},
		{Kind: plant.KindCoilWrite, PLC: "intake", Tag: "pump1_run", Value: 1, HasValue: true},
	} {
		if res, err := x.Deployment().Do(ctx, "a", w); err != nil || res.Outcome != "ok" {
			t.Fatalf("%s: %+v %v", w, res, err)
		}
	}
	step(t, x, sc.Duration)

	var public, changes []string
	x.Store().Events(ctx, store.Filter{Kinds: []string{EvPlantAlarm}}, func(e store.Event) error {
		if v, ok := ViewEvent(sc, Update{Event: e}, Public); ok {
			public = append(public, FormatDuration(e.Clock)+" "+v.Text.En)
		}
		if strings.Contains(string(e.Data), `"overflow"`) {
			changes = append(changes, FormatDuration(e.Clock)+" "+string(e.Data))
		}
		return nil
	})
	t.Logf("overflow events:\n%s", strings.Join(changes, "\n"))
	if len(public) != 1 || !strings.Contains(public[0], "SAFETY INCIDENT: intake overflow") {
		t.Errorf("public alarm lines:\n%s\nwant one SAFETY INCIDENT", strings.Join(public, "\n"))
	}
	if n := x.teamState("a").Incidents; n != 1 {
		t.Errorf("%d incidents counted, want 1", n)
	}
}

// An alarm is one episode from the moment its bit sets until the bit has
// stayed clear for the model's hold (30 s for the water tank): clearing
// and setting again within the hold logs nothing, and the end is logged a
// hold after the bit cleared, with the time it cleared.
func TestAlarmHold(t *testing.T) {
	ctx := context.Background()
	x := newTestExercise(t, "a")
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	// The level sits at 2.5 m; moving the high alarm's limit under and
	// over it sets and clears level_h at will.
	limit := func(v float64) {
		t.Helper()
		if _, err := x.Deployment().Do(ctx, "a", plant.Effect{Kind: plant.KindSet, PLC: "tank", Tag: "alarm_h", Value: v, HasValue: true}); err != nil {
			t.Fatal(err)
		}
	}
	episodes := func() []AlarmData {
		var out []AlarmData
		x.Store().Events(ctx, store.Filter{Kinds: []string{EvPlantAlarm}}, func(e store.Event) error {
			var d AlarmData
			json.Unmarshal(e.Data, &d)
			if d.Tag == "level_h" {
				out = append(out, d)
			}
			return nil
		})
		return out
	}
	at := func(d time.Duration) { t.Helper(); step(t, x, d) }
	at(time.Minute)
	limit(2)
	at(time.Minute + 5*time.Second)
	limit(3)
	at(time.Minute + 15*time.Second)
	limit(2) // back within the hold: the same alarm
	at(time.Minute + 20*time.Second)
	limit(3)
	at(time.Minute + 49*time.Second)
	if got := episodes(); len(got) != 1 || !got[0].Active {
		t.Fatalf("29 s after the bit cleared: %+v, want the one episode still active", got)
	}
	if !x.teamState("a").Alarms["tank.level_h"] {
		t.Fatal("the state says the alarm is over within its hold")
	}
	at(time.Minute + 51*time.Second)
	got := episodes()
	if len(got) != 2 || got[1].Active || got[1].ClearMS < 80_000 || got[1].ClearMS > 80_300 {
		t.Fatalf("a hold after the bit cleared: %+v, want the episode ended, cleared at 1:20", got)
	}
	limit(2) // a new episode
	at(2 * time.Minute)
	if got := episodes(); len(got) != 3 || !got[2].Active {
		t.Fatalf("after the hold: %+v, want a new episode", got)
	}
}
