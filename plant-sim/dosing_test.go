package plantsim

import (
	"math"
	"testing"
	"time"
)

// bisectPH solves the carbonate charge balance by plain bisection, as an
// independent check of the model's Newton solver.
func bisectPH(rawPH, ctMmol, ppm float64) float64 {
	k1, k2, kw := math.Pow(10, -6.35), math.Pow(10, -10.33), 1e-14
	ct := ctMmol / 1000
	charge := func(h float64) float64 { return (k1*h + 2*k1*k2) / (h*h + k1*h + k1*k2) }
	h0 := math.Pow(10, -rawPH)
	b := kw/h0 + ct*charge(h0) - h0 + ppm/40/1000
	lo, hi := 0.0, 14.0
	for range 200 {
		x := (lo + hi) / 2
		h := math.Pow(10, -x)
		if b+h-kw/h-ct*charge(h) > 0 {
			lo = x
		} else {
			hi = x
		}
	}
	return (lo + hi) / 2
}

func TestDosingPHSolver(t *testing.T) {
	for _, c := range []struct{ raw, ct float64 }{{6.9, 16}, {5, 0}, {8.5, 40}, {4, 2}} {
		d := newDosing(mustResolve(t, "dosing", Params{"raw_ph": c.raw, "carbonate_mmol": c.ct})).(*dosing)
		for _, ppm := range []float64{0, 0.5, 10, 60, 100, 120, 150, 300, 760, 1520, 11100, 20000} {
			want := bisectPH(c.raw, c.ct, ppm)
			for _, guess := range []float64{0, 3, 7, 10, 14} {
				if got := d.solvePH(ppm, guess); math.Abs(got-want) > 1e-6 {
					t.Errorf("raw %g ct %g: %g ppm from %g: pH %.7f, want %.7f", c.raw, c.ct, ppm, guess, got, want)
				}
			}
		}
	}
	// The figures the register map quotes for the defaults.
	for ppm, want := range map[float64]float64{100: 7.5, 150: 8.6, 300: 9.8, 1520: 12.3} {
		if got := bisectPH(6.9, 16, ppm); math.Abs(got-want) > 0.05 {
			t.Errorf("%g ppm: pH %.2f, docs say %.1f", ppm, got, want)
		}
	}
}

func mustResolve(t *testing.T, model string, p Params) Params {
	t.Helper()
	r, err := p.resolve(models[model].Params)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// NaOH pumped in = NaOH in the mixing line now − at the start + NaOH carried
// out to the analyzer; caustic drawn from the day tank = its level drop, over
// half an hour of setpoint changes, a worn pump and a refill.
func TestDosingMassBalance(t *testing.T) {
	p := physPLC(t, "dosing", Params{"tank0_m": 1.2, "fill_m3h": 4})
	d := p.proc.(*dosing)
	inventory := func() float64 {
		s := 0.0
		for _, c := range d.cells {
			s += c * d.cellVol
		}
		return s
	}
	m0, vol0 := inventory(), physTruth(p, "tank_level")*d.tankArea
	dt := p.cfg.Physics.Seconds()
	var in, out, drawn, filled float64
	physWrite(t, p, "fill", 1)
	physRun(p, 30*time.Minute, func(now time.Duration, v *Values) {
		switch now {
		case 5 * time.Minute:
			physWrite(t, p, "naoh_sp", 130)
		case 10 * time.Minute:
			if err := p.Apply(Effect{Kind: EffectFault, Fault: "pump_wear", Value: physVal(60)}); err != nil {
				t.Fatal(err)
			}
		case 18 * time.Minute:
			physWrite(t, p, "naoh_sp", 80)
		}
		q := v.Truth[dsPumpFlow]
		in += q * d.strength / 3600 * dt
		out += v.Truth[dsFlow] / 3600 * d.cells[dsCells-1] * dt
		drawn += q / 1000 / 3600 * dt
		filled += b2f(v.Truth[dsFillOpen] == 1) * d.fillRate / 3600 * dt
	})
	if in < 1000 {
		t.Fatalf("only %.1f g dosed: nothing tested", in)
	}
	if got := inventory() - m0; math.Abs(got-(in-out)) > 1e-9*in {
		t.Fatalf("mixing line gained %.6f g, in − out = %.6f g", got, in-out)
	}
	vol := physTruth(p, "tank_level") * d.tankArea
	if got := vol - vol0; math.Abs(got-(filled-drawn)) > 1e-9 {
		t.Fatalf("day tank gained %.6f m3, fill − draw = %.6f m3", got, filled-drawn)
	}
	if filled == 0 || physTruth(p, "fill_open") != 0 || physTruth(p, "tank_h") != 1 {
		t.Fatalf("the fill should have run and closed itself at 95%% (filled %.3f m3)", filled)
	}
}

// Steady state: the pump delivers dose·Q/strength, the analyzer sees the
// dose and the pH the chemistry gives; a worn pump is made up by the loop.
func TestDosingSteadyStateAndFlowLoop(t *testing.T) {
	p := physPLC(t, "dosing", Params{"flow_m3h": 250})
	physWrite(t, p, "naoh_sp", 120)
	if err := p.Apply(Effect{Kind: EffectFault, Fault: "pump_wear"}); err != nil {
		t.Fatal(err)
	}
	p.Advance(15 * time.Minute)
	wantQ := 120.0 * 250 / 760
	if q := physTruth(p, "pump_flow"); math.Abs(q-wantQ) > 0.01*wantQ {
		t.Fatalf("pump flow %.3f L/h, want %.3f", q, wantQ)
	}
	if s := physTruth(p, "pump_speed"); math.Abs(s-2*100*wantQ/200) > 0.5 {
		t.Fatalf("worn pump at speed %.2f%%, want twice the nominal %.2f%%", s, 100*wantQ/200)
	}
	for tag, want := range map[string]float64{"dose": 120, "residual": 120, "ph": bisectPH(6.9, 16, 120), "outflow": 250} {
		if got := physTruth(p, tag); math.Abs(got-want) > 0.002*math.Max(1, want) {
			t.Errorf("%s = %.4f, want %.4f", tag, got, want)
		}
	}
}

// The analyzer sees a dose change after the mixing delay: little before a
// third of the residence time V/Q, about half at V/Q, nearly all at twice it.
func TestDosingMixingDelay(t *testing.T) {
	p := physPLC(t, "dosing", nil) // 2 m3 at 100 m3/h: 72 s
	physWrite(t, p, "naoh_sp", 120)
	start := p.Now()
	frac := func() float64 { return (physTruth(p, "residual") - 100) / 20 }
	p.Advance(start + 24*time.Second)
	if f := frac(); f > 0.01 {
		t.Fatalf("after V/(3Q) the analyzer already shows %.1f%% of the change", 100*f)
	}
	p.Advance(start + 72*time.Second)
	if f := frac(); f < 0.4 || f > 0.65 {
		t.Fatalf("after V/Q the analyzer shows %.1f%% of the change, want about half", 100*f)
	}
	p.Advance(start + 144*time.Second)
	if f := frac(); f < 0.99 {
		t.Fatalf("after 2V/Q the analyzer shows %.1f%% of the change", 100*f)
	}
}

// Oldsmar: the setpoint raised from 100 to 11,100 ppm. The PLC's dose
// interlock stops the pump at once; with the interlock limit raised too the
// safety layer trips on pH and sends the water to waste; only with the bypass
// as well does caustic water reach distribution.
func TestDosingOldsmar(t *testing.T) {
	p := physPLC(t, "dosing", nil)
	physWrite(t, p, "naoh_sp", 11100)
	if got := physTruth(p, "naoh_sp"); got != 11100 {
		t.Fatalf("setpoint %v: the range must admit 11,100 ppm", got)
	}
	p.Advance(2 * time.Second)
	if physTruth(p, "dose_trip") != 1 || physTruth(p, "pump_running") != 0 {
		t.Fatal("the dose interlock did not stop the pump within 2 s")
	}
	p.Advance(5 * time.Minute)
	if physTruth(p, "sis_trip") != 0 || physTruth(p, "unsafe_water") != 0 || physTruth(p, "ph_l") != 1 {
		t.Fatal("with the pump stopped the pH should fall low, without a trip or an incident")
	}
	// Reset with the setpoint still high trips again; restored, it runs.
	physWrite(t, p, "reset", 1)
	p.Advance(p.Now() + 2*time.Second)
	if physTruth(p, "dose_trip") != 1 {
		t.Fatal("reset with the setpoint at 11,100 should trip again")
	}
	physWrite(t, p, "naoh_sp", 100)
	physWrite(t, p, "reset", 1)
	p.Advance(p.Now() + 5*time.Minute)
	if physTruth(p, "dose_trip") != 0 || math.Abs(physTruth(p, "ph")-7.51) > 0.02 {
		t.Fatalf("after restoring the setpoint: dose_trip %v, pH %.3f", physTruth(p, "dose_trip"), physTruth(p, "ph"))
	}

	q := physPLC(t, "dosing", nil)
	physWrite(t, q, "dose_limit", 20000)
	physWrite(t, q, "naoh_sp", 11100)
	var tripPH, peak float64
	var alarmed bool
	physRun(q, 5*time.Minute, func(_ time.Duration, v *Values) {
		ph, diverted := v.Truth[dsPH], v.Truth[dsSISTrip] == 1
		alarmed = alarmed || v.Truth[dsPHH] == 1
		if diverted && tripPH == 0 {
			tripPH = ph
		}
		if !diverted && ph >= 11 {
			t.Fatalf("pH %.2f sent to distribution", ph)
		}
		if diverted && v.Truth[dsOutflow] != 0 {
			t.Fatal("a tripped plant still sends water out")
		}
		peak = math.Max(peak, ph)
	})
	if tripPH < 10 || tripPH > 10.1 {
		t.Fatalf("safety layer tripped at pH %.3f, its setting is 10", tripPH)
	}
	if peak < 12 || !alarmed || physTruth(q, "unsafe_water") != 0 {
		t.Fatalf("peak pH %.2f, ph_h seen %v: the slug should raise the alarm and go to waste", peak, alarmed)
	}
	// The trip holds until pH is 0.5 below it and someone resets.
	physWrite(t, q, "naoh_sp", 100)
	physWrite(t, q, "reset", 1)
	q.Advance(q.Now() + 5*time.Minute)
	if physTruth(q, "sis_trip") != 0 {
		t.Fatalf("reset at pH %.2f did not clear the trip", physTruth(q, "ph"))
	}

	r := physPLC(t, "dosing", nil)
	physWrite(t, r, "dose_limit", 20000)
	physWrite(t, r, "bypass", 1)
	physWrite(t, r, "naoh_sp", 11100)
	r.Advance(5 * time.Minute)
	if physTruth(r, "unsafe_water") != 1 || physTruth(r, "sis_trip") != 0 || physTruth(r, "ph") < 12 {
		t.Fatalf("bypassed: pH %.2f, unsafe %v", physTruth(r, "ph"), physTruth(r, "unsafe_water"))
	}
}

func TestDosingInterlocksAndFaults(t *testing.T) {
	// Flow lost: the pump stops on low flow; the flow comes back, it runs.
	p := physPLC(t, "dosing", nil)
	if err := p.Apply(Effect{Kind: EffectFault, Fault: "flow_loss"}); err != nil {
		t.Fatal(err)
	}
	p.Advance(5 * time.Second)
	if physTruth(p, "flow") != 0 || physTruth(p, "flow_l") != 1 || physTruth(p, "pump_running") != 0 {
		t.Fatal("no flow: want flow_l and the pump stopped")
	}
	if err := p.Apply(Effect{Kind: EffectClearFault, Fault: "flow_loss"}); err != nil {
		t.Fatal(err)
	}
	p.Advance(p.Now() + 10*time.Second)
	if physTruth(p, "flow_l") != 0 || physTruth(p, "pump_running") != 1 || math.Abs(physTruth(p, "dose")-100) > 1 {
		t.Fatal("flow back: the pump should dose again")
	}

	// A failed anti-siphon valve doses with the pump stopped.
	q := physPLC(t, "dosing", nil)
	physWrite(t, q, "pump_run", 0)
	if err := q.Apply(Effect{Kind: EffectFault, Fault: "siphon", Value: physVal(10)}); err != nil {
		t.Fatal(err)
	}
	q.Advance(5 * time.Minute)
	want := 10 * 760 / 100.0
	if physTruth(q, "pump_running") != 0 || math.Abs(physTruth(q, "residual")-want) > 0.01*want {
		t.Fatalf("siphon: residual %.2f ppm, want %.2f with the pump off", physTruth(q, "residual"), want)
	}

	// An empty day tank stops the pump at 10% of its height.
	r := physPLC(t, "dosing", Params{"tank0_m": 0.25, "tank_area_m2": 0.05})
	r.Advance(20 * time.Minute)
	if physTruth(r, "tank_ll") != 1 || physTruth(r, "pump_running") != 0 || physTruth(r, "tank_l") != 1 {
		t.Fatal("want the pump stopped at tank low-low")
	}
	if lvl := physTruth(r, "tank_level"); lvl < 0.19 || lvl > 0.2 {
		t.Fatalf("pump stopped at %.4f m, the low-low is 0.2 m", lvl)
	}
	if err := r.Apply(Effect{Kind: EffectFault, Fault: "no_such"}); err == nil {
		t.Fatal("unknown fault accepted")
	}
}
