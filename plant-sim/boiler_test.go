package plantsim

import (
	"math"
	"testing"
	"time"
)

// From another pressure the loops settle where the energy balance says:
// firing makes up the steam's latent and feedwater heat, feed equals steam,
// the level sits at its setpoint with the water mass short by the swell.
func TestBoilerSteadyState(t *testing.T) {
	p := physPLC(t, "boiler", Params{"pressure0_kpa": 940, "steam_demand_kgs": 2.5})
	p.Advance(30 * time.Minute)
	b := p.proc.(*boiler)
	ms := 2.5 // at 1000 kPa, the reference pressure
	if got := physTruth(p, "pressure"); math.Abs(got-1000) > 0.5 {
		t.Fatalf("pressure %.2f kPa, setpoint 1000", got)
	}
	for tag, want := range map[string]float64{
		"steam_flow": ms,
		"feed_flow":  ms,
		"firing":     100 * ms * (300 + 2000) / (7500 * 0.85),
		"heat":       ms * (300 + 2000) / 1000,
		"level":      0,
		// Clausius–Clapeyron at 1101.325 kPa absolute.
		"steam_temp": 1/(1/373.15-math.Log(1101.325/101.325)/4891) - 273.15,
	} {
		if got := physTruth(p, tag); math.Abs(got-want) > 0.002*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %.4f, want %.4f", tag, got, want)
		}
	}
	if got, want := b.massLevel(), -15*ms; math.Abs(got-want) > 0.5 {
		t.Errorf("water-mass level %.2f mm, want %.2f (the swell)", got, want)
	}
}

// Energy stored (C·Δp) equals heat in minus what feedwater and steam take,
// and the water mass changes by feed − steam − leak, over half an hour of
// setpoint moves, a manual spell and a tube leak.
func TestBoilerEnergyAndMassBalance(t *testing.T) {
	p := physPLC(t, "boiler", nil)
	b := p.proc.(*boiler)
	p0, w0 := physTruth(p, "pressure"), b.water
	dt := p.cfg.Physics.Seconds()
	var energy, mass float64
	physRun(p, 30*time.Minute, func(now time.Duration, v *Values) {
		if v.Truth[blReliefOpen] == 1 {
			t.Fatal("the relief valve lifted: this balance leaves it out")
		}
		energy += (v.Truth[blHeat]*1000 - v.Truth[blFeedFlow]*300 - v.Truth[blSteamFlow]*2000) * dt
		mass += (v.Truth[blFeedFlow] - v.Truth[blSteamFlow] - b.leak) * dt
		switch now {
		case 3 * time.Minute:
			physWrite(t, p, "pressure_sp", 950)
		case 10 * time.Minute:
			physWrite(t, p, "auto", 0)
			physWrite(t, p, "firing_manual", 90)
			physWrite(t, p, "feed_manual", 40)
		case 12 * time.Minute:
			physWrite(t, p, "auto", 1)
			physWrite(t, p, "pressure_sp", 1030)
			if err := p.Apply(Effect{Kind: EffectFault, Fault: "tube_leak"}); err != nil {
				t.Fatal(err)
			}
		}
	})
	if got := 1000 * (physTruth(p, "pressure") - p0); math.Abs(got-energy) > 1e-6*math.Abs(energy)+1e-3 {
		t.Fatalf("stored %.6f kJ, balance %.6f kJ", got, energy)
	}
	if got := b.water - w0; math.Abs(got-mass) > 1e-9*math.Max(1, math.Abs(mass)) {
		t.Fatalf("water changed %.9f kg, balance %.9f kg", got, mass)
	}
	if math.Abs(physTruth(p, "pressure")-1030) > 2 || math.Abs(physTruth(p, "level")) > 5 {
		t.Fatalf("loops did not recover: %.1f kPa, %.1f mm", physTruth(p, "pressure"), physTruth(p, "level"))
	}
}

// The low-water cutoff and the high-pressure cutout trip at their fixed
// settings on truth and latch; bypassed, the boiler dry-fires; the relief
// valve caps pressure below rupture whatever the coils say, until it seizes.
func TestBoilerSafetyLayer(t *testing.T) {
	lowWater := func(bypass bool) *PLC {
		p := physPLC(t, "boiler", nil)
		physWrite(t, p, "alarm_level_ll", -300) // the PLC's own stop defeated
		physWrite(t, p, "bypass", b2f(bypass))
		if err := p.Apply(Effect{Kind: EffectFault, Fault: "feed_pump_trip"}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := lowWater(false)
	var at float64
	physRun(p, 15*time.Minute, func(_ time.Duration, v *Values) {
		if at == 0 && v.Truth[blLWCOTrip] == 1 {
			at = v.Truth[blLevel]
		}
	})
	if at == 0 || at < -151 || physTruth(p, "flame") != 0 || physTruth(p, "tube_damage") != 0 {
		t.Fatalf("low-water cutoff: tripped at %.2f mm (setting −150), flame %v, damage %v", at, physTruth(p, "flame"), physTruth(p, "tube_damage"))
	}
	if physTruth(p, "feed_running") != 0 || physTruth(p, "level_l") != 1 {
		t.Fatal("a tripped feed pump should show, with the low level alarm")
	}
	physWrite(t, p, "reset", 1)
	p.Advance(p.Now() + time.Second)
	if physTruth(p, "lwco_trip") != 1 {
		t.Fatal("reset with the level still low cleared the cutoff")
	}
	p = lowWater(true)
	p.Advance(15 * time.Minute)
	if physTruth(p, "tube_damage") != 1 || physTruth(p, "lwco_trip") != 0 {
		t.Fatal("bypassed low-water cutoff: want tube damage and no trip")
	}

	overfire := func(bypass, seize bool) (*PLC, float64) {
		p := physPLC(t, "boiler", nil)
		physWrite(t, p, "p_limit", 1600) // the PLC's own stop defeated
		physWrite(t, p, "auto", 0)
		physWrite(t, p, "firing_manual", 100)
		physWrite(t, p, "bypass", b2f(bypass))
		if seize {
			if err := p.Apply(Effect{Kind: EffectFault, Fault: "relief_stuck"}); err != nil {
				t.Fatal(err)
			}
		}
		var peak float64
		physRun(p, 10*time.Minute, func(_ time.Duration, v *Values) { peak = math.Max(peak, v.Truth[blPressure]) })
		return p, peak
	}
	p, peak := overfire(false, false)
	if physTruth(p, "hp_trip") != 1 || peak > 1081 || peak < 1080 || physTruth(p, "relief_open") != 0 {
		t.Fatalf("high-pressure cutout: trip %v, peak %.2f kPa (setting 1080)", physTruth(p, "hp_trip"), peak)
	}
	p, peak = overfire(true, false)
	if physTruth(p, "hp_trip") != 0 || peak < 1100 || peak > 1102 || physTruth(p, "overpressure") != 0 {
		t.Fatalf("bypassed: the relief valve should cap pressure at its 1100 kPa set (peak %.2f)", peak)
	}
	p, peak = overfire(true, true)
	if physTruth(p, "overpressure") != 1 || peak < 1210 {
		t.Fatalf("bypassed with the relief seized: want overpressure (peak %.2f)", peak)
	}
}

// The burner purges before it lights, and relights after a cutoff is reset.
func TestBoilerBurnerSequence(t *testing.T) {
	p := physPLC(t, "boiler", nil)
	physWrite(t, p, "burner_on", 0)
	p.Advance(5 * time.Second)
	if physTruth(p, "flame") != 0 || physTruth(p, "firing") != 0 {
		t.Fatal("burner off should shut the fuel")
	}
	physWrite(t, p, "burner_on", 1)
	p.Advance(p.Now() + 5*time.Second)
	if physTruth(p, "purging") != 1 || physTruth(p, "flame") != 0 {
		t.Fatal("want a purge before light-off")
	}
	p.Advance(p.Now() + 7*time.Second)
	if physTruth(p, "flame") != 1 || physTruth(p, "purging") != 0 {
		t.Fatal("no light-off after the 10 s purge")
	}
	if f := physTruth(p, "firing"); f > 20.001 {
		t.Fatalf("firing %.2f%% in the low-fire hold", f)
	}
	p.Advance(p.Now() + 10*time.Minute)
	if math.Abs(physTruth(p, "pressure")-1000) > 3 || physTruth(p, "pressure_h") != 0 {
		t.Fatalf("after relight the pressure should recover: %.1f kPa", physTruth(p, "pressure"))
	}
}
