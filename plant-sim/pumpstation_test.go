package plantsim

import (
	"math"
	"testing"
	"time"
)

// psHead converts kPa of water to metres of head.
func psHead(kpa float64) float64 { return kpa * 1000 / (psRho * psG) }

// In manual at a fixed speed and valve, flow and pressures settle on the
// closed-form intersection of the pump and system curves.
func TestPumpStationSteadyState(t *testing.T) {
	for _, c := range []struct {
		speed, valve float64
		duty2        bool
	}{{90, 100, false}, {75, 40, true}, {85, 25, false}} {
		p := physPLC(t, "pump-station", Params{"inflow_m3h": 0, "level0_m": 4, "reservoir_area_m2": 10000})
		physWrite(t, p, "auto", 0)
		physWrite(t, p, "speed_manual", c.speed)
		physWrite(t, p, "valve_ramp_s", 20)
		physWrite(t, p, "valve_sp", c.valve)
		physWrite(t, p, "duty2", b2f(c.duty2))
		p.Advance(2 * time.Minute)
		h := physTruth(p, "level")
		// The curves from the parameters' defaults, in metres and m³/h.
		qr := 300.0
		kp, ks, km, kv := 30/(qr*qr), 0.5/(qr*qr), 15/(qr*qr), 2/(qr*qr)
		s, x := c.speed/100, c.valve/100
		q := math.Sqrt((h + 1 + 115*s*s - 35) / (kp + ks + km + kv/(x*x)))
		if got := physTruth(p, "flow"); math.Abs(got-q) > 1e-6*q {
			t.Errorf("%+v: flow %.6f m3/h, want %.6f", c, got, q)
		}
		hd := h + 1 - ks*q*q + 115*s*s - kp*q*q
		if got := psHead(physTruth(p, "discharge_p")); math.Abs(got-hd) > 1e-6*hd {
			t.Errorf("%+v: discharge head %.6f m, want %.6f", c, got, hd)
		}
		if got := psHead(physTruth(p, "suction_p")); math.Abs(got-(h+1-ks*q*q)) > 1e-6 {
			t.Errorf("%+v: suction head %.6f m, want %.6f", c, got, h+1-ks*q*q)
		}
		// Hydraulic power over efficiency.
		if got, want := physTruth(p, "power"), psRho*psG*q/3600*(115*s*s-kp*q*q)/0.75/1000; math.Abs(got-want) > 1e-6*want {
			t.Errorf("%+v: power %.4f kW, want %.4f", c, got, want)
		}
		running := []string{"pump1_running", "pump2_running"}
		if c.duty2 {
			running[0], running[1] = running[1], running[0]
		}
		if physTruth(p, running[0]) != 1 || physTruth(p, running[1]) != 0 {
			t.Errorf("%+v: the wrong pump runs", c)
		}
	}
	// In auto the PI loop holds the discharge pressure at its setpoint.
	p := physPLC(t, "pump-station", nil)
	physWrite(t, p, "pressure_sp", 600)
	p.Advance(2 * time.Minute)
	if got := physTruth(p, "discharge_p"); math.Abs(got-600) > 1 {
		t.Fatalf("discharge %.2f kPa, setpoint 600", got)
	}
}

// The reservoir's volume changes by exactly inflow − outflow, over 20 minutes
// of setpoint and valve moves and a pump failover.
func TestPumpStationMassBalance(t *testing.T) {
	p := physPLC(t, "pump-station", Params{"inflow_m3h": 250})
	h0 := physTruth(p, "level")
	var in, out float64
	dt := p.cfg.Physics.Seconds()
	physRun(p, 20*time.Minute, func(now time.Duration, v *Values) {
		switch now {
		case 3 * time.Minute:
			physWrite(t, p, "pressure_sp", 650)
		case 8 * time.Minute:
			physWrite(t, p, "valve_sp", 50)
		case 12 * time.Minute:
			if err := p.Apply(Effect{Kind: EffectFault, Fault: "pump_trip"}); err != nil {
				t.Fatal(err)
			}
		}
		in += v.Truth[psInflow] / 3600 * dt
		out += v.Truth[psFlow] / 3600 * dt
	})
	if out < 100 {
		t.Fatalf("only %.1f m3 pumped", out)
	}
	if got := (physTruth(p, "level") - h0) * 100; math.Abs(got-(in-out)) > 1e-9*out {
		t.Fatalf("reservoir gained %.9f m3, inflow − outflow %.9f m3", got, in-out)
	}
	if physTruth(p, "pump2_running") != 1 || physTruth(p, "pump1_running") != 0 {
		t.Fatal("the standby did not take over from the tripped duty pump")
	}
}

// A valve shut faster than 2L/a gives Joukowsky's surge a·V/g on top of the
// dead-head pressure; slower closures give less, the default ramp far less.
func TestPumpStationSurge(t *testing.T) {
	peak := func(ramp float64, bypass bool, params Params) (peak, v0, hs float64, p *PLC) {
		p = physPLC(t, "pump-station", params)
		physWrite(t, p, "auto", 0)
		physWrite(t, p, "speed_manual", physTruth(p, "speed"))
		physWrite(t, p, "bypass", b2f(bypass))
		p.Advance(time.Second)
		v0 = physTruth(p, "flow") / 3600 / (math.Pi / 4 * 0.4 * 0.4)
		physWrite(t, p, "valve_ramp_s", ramp)
		physWrite(t, p, "valve_sp", 0)
		end := p.Now() + time.Duration(ramp+20)*time.Second
		physRun(p, end, func(_ time.Duration, v *Values) { peak = math.Max(peak, v.Truth[psDischargeP]) })
		h := physTruth(p, "level")
		hs = h + 1 + 115*math.Pow(physTruth(p, "speed")/100, 2) // dead-head discharge head
		return peak, v0, hs, p
	}
	// A main that holds (burst_kpa raised) shows the whole surge.
	fast, v0, hs, p := peak(0, true, Params{"burst_kpa": 3000})
	want := psRho * psG * (hs + 1000*v0/psG) / 1000
	if math.Abs(fast-want) > 0.005*want {
		t.Fatalf("fast closure peaked at %.1f kPa, Joukowsky on the dead head gives %.1f", fast, want)
	}
	// The surge lasts one round trip 2L/a = 6 s; then the dead head stays.
	if got := physTruth(p, "discharge_p"); math.Abs(got-psRho*psG*hs/1000) > 1 {
		t.Fatalf("after the surge %.1f kPa, dead head %.1f", got, psRho*psG*hs/1000)
	}
	// Surge above the dead head, for slower and slower closures.
	last := fast - psRho*psG*hs/1000
	for _, ramp := range []float64{10, 30, 300} {
		pk, _, hs, _ := peak(ramp, true, Params{"burst_kpa": 3000})
		surge := pk - psRho*psG*hs/1000
		if surge >= last {
			t.Fatalf("a %g s closure surged %.1f kPa, no less than a faster one (%.1f)", ramp, surge, last)
		}
		if ramp == 300 && surge > 100 {
			t.Fatalf("the default 300 s ramp surged %.1f kPa", surge)
		}
		last = surge
	}
	// The default PN10 main bursts; the safety layer trips on the surge
	// but cannot undo it.
	_, _, _, p = peak(0, false, nil)
	if physTruth(p, "trip_discharge") != 1 || physTruth(p, "main_burst") != 1 {
		t.Fatal("a fast closure should trip the pumps and still burst the main")
	}
}

// Low suction and high discharge trip at their settings on true pressure,
// latch, reset only inside their bands, and only the bypass defeats them.
func TestPumpStationSafetyLayer(t *testing.T) {
	drain := Params{"inflow_m3h": 0, "level0_m": 1.3, "reservoir_area_m2": 20}
	// The PLC's own low-level stop comes first.
	p := physPLC(t, "pump-station", drain)
	p.Advance(2 * time.Minute)
	if physTruth(p, "level_ll") != 1 || physTruth(p, "pump1_running") != 0 || physTruth(p, "trip_suction") != 0 {
		t.Fatal("the PLC should stop the pumps at level_stop, before the safety layer")
	}
	// With that limit lowered, the safety layer trips at 12 kPa suction.
	p = physPLC(t, "pump-station", drain)
	physWrite(t, p, "level_stop", 0)
	// at is the pressure the safety layer acted on: the one published by
	// the step before the trip.
	var at, prev float64
	physRun(p, 4*time.Minute, func(_ time.Duration, v *Values) {
		if at == 0 && v.Truth[psTripSuction] == 1 {
			at = prev
		}
		prev = v.Truth[psSuctionP]
	})
	if at == 0 || physTruth(p, "pump1_running") != 0 || physTruth(p, "pump_damaged") != 0 {
		t.Fatal("no low-suction trip")
	}
	if at > 12 || at < 11.99 {
		t.Fatalf("tripped with %.3f kPa suction, setting 12", at)
	}
	physWrite(t, p, "reset", 1)
	p.Advance(p.Now() + time.Second)
	if physTruth(p, "trip_suction") != 1 {
		t.Fatalf("reset at %.1f kPa suction (band ends at 22) cleared the trip", physTruth(p, "suction_p"))
	}
	// Bypassed, the pump runs the reservoir dry and is wrecked.
	p = physPLC(t, "pump-station", drain)
	physWrite(t, p, "level_stop", 0)
	physWrite(t, p, "bypass", 1)
	p.Advance(6 * time.Minute)
	if physTruth(p, "pump_damaged") != 1 || physTruth(p, "trip_suction") != 0 || physTruth(p, "pump1_running") != 0 {
		t.Fatal("bypassed station should wreck its pump running dry")
	}
	physWrite(t, p, "level_stop", 1)
	if err := p.Apply(Effect{Kind: EffectFault, Fault: "pump_trip", Value: physVal(1)}); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(Effect{Kind: EffectClearFault, Fault: "pump_trip"}); err != nil {
		t.Fatal(err)
	}
	p.Advance(p.Now() + time.Minute)
	if physTruth(p, "pump1_running") != 0 {
		t.Fatal("a wrecked pump does not come back with a cleared fault")
	}

	// Dead-heading at full speed: the high-discharge trip at 900 kPa.
	q := physPLC(t, "pump-station", nil)
	physWrite(t, q, "auto", 0)
	physWrite(t, q, "speed_manual", 100)
	physWrite(t, q, "valve_sp", 0)
	at, prev = 0, 0
	physRun(q, 6*time.Minute, func(_ time.Duration, v *Values) {
		if at == 0 && v.Truth[psTripDischarge] == 1 {
			at = prev
		}
		prev = v.Truth[psDischargeP]
	})
	if physTruth(q, "trip_discharge") != 1 || physTruth(q, "main_burst") != 0 || physTruth(q, "pump1_running") != 0 {
		t.Fatal("dead-head should trip, not burst")
	}
	if at < 900 || at > 905 {
		t.Fatalf("tripped with %.1f kPa on the header, setting 900", at)
	}
	// Valve open and back in auto, a reset restarts the station from the
	// drive's minimum speed: no windup, no second trip.
	physWrite(t, q, "valve_ramp_s", 0)
	physWrite(t, q, "valve_sp", 100)
	physWrite(t, q, "auto", 1)
	q.Advance(q.Now() + 5*time.Second)
	physWrite(t, q, "reset", 1)
	var peakAfter float64
	physRun(q, q.Now()+2*time.Minute, func(_ time.Duration, v *Values) { peakAfter = math.Max(peakAfter, v.Truth[psDischargeP]) })
	if physTruth(q, "trip_discharge") != 0 || peakAfter > 600 || math.Abs(physTruth(q, "discharge_p")-550) > 2 {
		t.Fatalf("after reset: trip %v, peak %.1f kPa, now %.1f", physTruth(q, "trip_discharge"), peakAfter, physTruth(q, "discharge_p"))
	}
}

func TestPumpStationFaultsAndStandby(t *testing.T) {
	p := physPLC(t, "pump-station", nil)
	if err := p.Apply(Effect{Kind: EffectFault, Fault: "pump_trip"}); err != nil {
		t.Fatal(err)
	}
	p.Advance(2 * time.Second)
	if physTruth(p, "pump1_running") != 0 || physTruth(p, "pump2_running") != 0 {
		t.Fatal("the standby should wait 3 s")
	}
	p.Advance(p.Now() + 3*time.Minute)
	if physTruth(p, "pump2_running") != 1 || math.Abs(physTruth(p, "discharge_p")-550) > 2 {
		t.Fatalf("standby running %v, pressure %.1f", physTruth(p, "pump2_running"), physTruth(p, "discharge_p"))
	}
	if err := p.Apply(Effect{Kind: EffectFault, Fault: "pump_trip", Value: physVal(3)}); err == nil {
		t.Fatal("pump 3 accepted")
	}
	// The duty pump back, the standby stands by again; duty2 swaps them.
	if err := p.Apply(Effect{Kind: EffectClearFault, Fault: "pump_trip"}); err != nil {
		t.Fatal(err)
	}
	p.Advance(p.Now() + time.Second)
	if physTruth(p, "pump1_running") != 1 || physTruth(p, "pump2_running") != 0 {
		t.Fatal("the standby should stop once the duty pump runs")
	}
	physWrite(t, p, "duty2", 1)
	p.Advance(p.Now() + time.Second)
	if physTruth(p, "pump1_running") != 0 || physTruth(p, "pump2_running") != 1 {
		t.Fatal("duty2 should make pump 2 the duty pump")
	}
	// A clogged strainer lowers the suction pressure by its loss.
	r := physPLC(t, "pump-station", nil)
	physWrite(t, r, "auto", 0)
	before := physTruth(r, "suction_p")
	if err := r.Apply(Effect{Kind: EffectFault, Fault: "strainer_clog", Value: physVal(1)}); err != nil {
		t.Fatal(err)
	}
	r.Advance(time.Second)
	q2 := math.Pow(physTruth(r, "flow")/300, 2)
	if got, want := before-physTruth(r, "suction_p"), psRho*psG*(1*q2)/1000; math.Abs(got-want) > 0.2 {
		t.Fatalf("clog lowered suction by %.2f kPa, want about %.2f", got, want)
	}
	// A badly clogged strainer trips the station on low suction.
	if err := r.Apply(Effect{Kind: EffectFault, Fault: "strainer_clog", Value: physVal(4)}); err != nil {
		t.Fatal(err)
	}
	r.Advance(r.Now() + time.Second)
	if physTruth(r, "trip_suction") != 1 {
		t.Fatalf("suction %.1f kPa with a 4 m clog: want the low-suction trip", physTruth(r, "suction_p"))
	}
	if err := r.Apply(Effect{Kind: EffectClearFault, Fault: "strainer_clog"}); err != nil {
		t.Fatal(err)
	}
	// A stuck valve ignores its setpoint.
	physWrite(t, r, "valve_ramp_s", 0)
	if err := r.Apply(Effect{Kind: EffectFault, Fault: "valve_stuck"}); err != nil {
		t.Fatal(err)
	}
	physWrite(t, r, "valve_sp", 0)
	r.Advance(r.Now() + 10*time.Second)
	if physTruth(r, "valve") != 100 {
		t.Fatal("stuck valve moved")
	}
}
