package plantsim

import (
	"math"
	"regexp"
	"slices"
	"testing"
	"time"
)

// Every model keeps the conventions the generic parts (register map,
// spoof/freeze, rules plant.<plc>.<tag>, traffic log, report charts, other
// protocols' maps) rely on.
func TestModelConventions(t *testing.T) {
	name := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	reserved := []string{"mode", "program", "checksum"} // rules' plant.<plc>.<field>
	for _, mn := range ModelNames() {
		m := models[mn]
		if len(m.Equations) == 0 || m.Desc == "" || m.Title == "" {
			t.Errorf("%s: no equations or description for the docs", mn)
		}
		if !slices.Equal(m.Programs, []string{"standard", "tampered"}) {
			t.Errorf("%s: programs %v", mn, m.Programs)
		}
		if m.Checksum(0) == m.Checksum(1) {
			t.Errorf("%s: tampered logic has the standard checksum", mn)
		}
		bypass := 0
		for _, tg := range m.Tags {
			if !name.MatchString(tg.Name) || slices.Contains(reserved, tg.Name) {
				t.Errorf("%s: tag name %q", mn, tg.Name)
			}
			if tg.Desc == "" {
				t.Errorf("%s.%s: no description", mn, tg.Name)
			}
			wantTable := map[Class][]Table{
				ClassMode: {Coil}, ClassCommand: {Coil}, ClassBypass: {Coil},
				ClassFeedback: {DiscreteInput}, ClassAlarm: {DiscreteInput}, ClassTrip: {DiscreteInput},
				ClassProcess: {InputRegister}, ClassSetpoint: {HoldingRegister}, ClassLimit: {HoldingRegister}, ClassTuning: {HoldingRegister},
			}[tg.Class]
			if !slices.Contains(wantTable, tg.Table) {
				t.Errorf("%s.%s: class %s in the %s table", mn, tg.Name, tg.Class, tg.Table)
			}
			if tg.Analog() && (tg.Unit == "" || !(tg.Min < tg.Max)) {
				t.Errorf("%s.%s: analog tag without a unit or a range (%q, %g..%g)", mn, tg.Name, tg.Unit, tg.Min, tg.Max)
			}
			if tg.Class == ClassBypass {
				bypass++
			}
		}
		if bypass != 1 {
			t.Errorf("%s: %d bypass coils, want 1", mn, bypass)
		}
		if len(m.Incidents) == 0 {
			t.Errorf("%s: no safety incidents", mn)
		}
		for _, n := range m.Incidents {
			i, ok := m.Tag(n)
			if !ok || m.Tags[i].Class != ClassTrip {
				t.Errorf("%s: incident %q is not a trip tag", mn, n)
			}
		}
		for _, p := range m.Params {
			if p.Default < p.Min || p.Default > p.Max || p.Desc == "" && p.Unit == "" {
				t.Errorf("%s: param %+v", mn, p)
			}
		}
		if len(m.Faults) == 0 {
			t.Errorf("%s: no model faults", mn)
		}
	}
}

// A standard plant left alone runs for half an hour at nominal noise with
// every value finite and in range, and no alarm, trip or incident: what a
// passive team sees before the attack.
func TestModelsRunQuietlyWhenLeftAlone(t *testing.T) {
	for _, mn := range ModelNames() {
		t.Run(mn, func(t *testing.T) {
			t.Parallel()
			p, err := New(Config{Model: mn, Seed: 11, Noise: 1})
			if err != nil {
				t.Fatal(err)
			}
			var v Values
			check := func(when time.Duration) {
				p.Read(&v)
				for i, tg := range p.model.Tags {
					x := v.Truth[i]
					if math.IsNaN(x) || math.IsInf(x, 0) {
						t.Fatalf("%v: %s = %v", when, tg.Name, x)
					}
					if tg.Analog() && (x < tg.Min || x > tg.Max) {
						t.Fatalf("%v: %s = %g outside %g..%g", when, tg.Name, x, tg.Min, tg.Max)
					}
					if (tg.Class == ClassAlarm || tg.Class == ClassTrip) && x != 0 {
						t.Fatalf("%v: %s set in an undisturbed plant", when, tg.Name)
					}
				}
			}
			check(0)
			for now := time.Second; now <= 30*time.Minute; now += time.Second {
				p.Advance(now)
				check(now)
			}
		})
	}
}

// Each new model's tampered program is caught by its safety layer with no
// incident, and only the bypass turns the same logic into an incident.
func TestTamperedLogicMeetsTheSafetyLayer(t *testing.T) {
	for _, c := range []struct {
		model, trip, incident string
		within                time.Duration
	}{
		{"dosing", "sis_trip", "unsafe_water", 5 * time.Minute},
		{"pump-station", "trip_discharge", "main_burst", 10 * time.Minute},
		{"boiler", "lwco_trip", "tube_damage", 15 * time.Minute},
		{"hvac", "backup_cooling", "server_overheat", 25 * time.Minute},
	} {
		t.Run(c.model, func(t *testing.T) {
			t.Parallel()
			for _, bypass := range []bool{false, true} {
				p := physPLC(t, c.model, nil)
				sum := p.Health().Checksum
				if err := p.Apply(Effect{Kind: EffectLogic, Program: "tampered"}); err != nil {
					t.Fatal(err)
				}
				if p.Health().Checksum == sum {
					t.Fatal("logic replacement kept the checksum")
				}
				physWrite(t, p, "bypass", b2f(bypass))
				var tripped, incident bool
				for now := time.Second; now <= c.within; now += time.Second {
					p.Advance(now)
					tripped = tripped || physTruth(p, c.trip) == 1
					incident = incident || physTruth(p, c.incident) == 1
				}
				switch {
				case !bypass && (!tripped || incident):
					t.Fatalf("safety layer in: %s=%v %s=%v, want a trip and no incident", c.trip, tripped, c.incident, incident)
				case bypass && (tripped || !incident):
					t.Fatalf("bypassed: %s=%v %s=%v, want no trip and an incident", c.trip, tripped, c.incident, incident)
				}
			}
		})
	}
}

// physRun advances p by whole physics steps until end, calling each with the
// PLC's values after every step.
func physRun(p *PLC, end time.Duration, each func(now time.Duration, v *Values)) {
	var v Values
	for now := p.Now() + p.cfg.Physics; now <= end; now += p.cfg.Physics {
		p.Advance(now)
		p.Read(&v)
		each(now, &v)
	}
}
