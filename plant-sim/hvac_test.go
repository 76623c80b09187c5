package plantsim

import (
	"math"
	"testing"
	"time"
)

// hvacPLC is a noiseless HVAC PLC stepped every 0.5 s: its zones change
// over minutes, and the tests cover hours.
func hvacPLC(t *testing.T, params Params) *PLC {
	t.Helper()
	return physPLCStep(t, "hvac", params, 500*time.Millisecond, 500*time.Millisecond)
}

// Started away from its setpoints in a steady climate, the building settles
// on the closed-form steady state, and the heat stored in the zones and the
// chilled water is exactly what the gains brought in minus what the chiller
// took out.
func TestHVACSteadyStateAndEnergyBalance(t *testing.T) {
	p := hvacPLC(t, Params{"outdoor_swing_c": 0, "start_h": 10, "office0_c": 27, "server0_c": 25})
	var v0 Values
	p.Read(&v0)
	stored := func(v []float64) float64 {
		return 40000*v[hvOfficeTemp] + 3000*v[hvServerTemp] + 2*hvWaterCp*v[hvCHWSupply]
	}
	e0, prevTo := stored(v0.Truth), v0.Truth[hvOfficeTemp]
	dt := p.cfg.Physics.Seconds()
	var gained float64
	physRun(p, 3*time.Hour, func(_ time.Duration, v *Values) {
		// Office gain (occupied all run), IT load, envelope at the start
		// of the step, the chiller and the backup unit as the step used them.
		backup := 50 * v.Truth[hvBackupCooling]
		gained += (60 + 40 + 2.5*(v.Truth[hvOutdoorTemp]-prevTo) - v.Truth[hvCoolingLoad] - backup) * dt
		prevTo = v.Truth[hvOfficeTemp]
	})
	var v Values
	p.Read(&v)
	if got := stored(v.Truth) - e0; math.Abs(got-gained) > 1e-6*math.Abs(gained)+1e-3 {
		t.Fatalf("stored %.6f kJ, gains − removed %.6f kJ", got, gained)
	}
	// Closed form with the zones at their setpoints.
	to, ts := 24.0, 22.0
	x := 0.5 * (to - ts)
	qo, qs := 60+2.5*(30-to)-x, 40+x
	tw := 7 + (qo+qs)/100
	for tag, want := range map[string]float64{
		"office_temp": to, "server_temp": ts, "chw_supply": tw, "cooling_kw": qo + qs,
		"chiller_power": (qo + qs) / 4.5,
		"office_valve":  100 * qo / (10 * (to - tw)),
		"server_valve":  100 * qs / (6 * (ts - tw)),
	} {
		tol := 0.003 * math.Max(1, want)
		if tag == "office_valve" || tag == "server_valve" {
			tol = 0.01 * want // a valve is sensitive to the last hundredths of a kelvin
		}
		if got := physTruth(p, tag); math.Abs(got-want) > tol {
			t.Errorf("%s = %.4f, want %.4f", tag, got, want)
		}
	}
}

// The schedule runs on the PLC's clock: at occ_end_h the office goes to its
// setback; a clock set wrong (as a time-sync attack would) runs the night
// schedule by day, and the occupied office overheats until the fan's
// night cycle catches it.
func TestHVACScheduleAndClock(t *testing.T) {
	p := hvacPLC(t, Params{"start_h": 18.9})
	p.Advance(5 * time.Minute)
	if physTruth(p, "occupied") != 1 || physTruth(p, "office_fan") != 1 {
		t.Fatal("occupied at 18:54")
	}
	p.Advance(15 * time.Minute)
	if c := physTruth(p, "clock_h"); math.Abs(c-(18.9+0.25)) > 1e-6 {
		t.Fatalf("clock %.6f h, want 19.15", c)
	}
	if physTruth(p, "occupied") != 0 || physTruth(p, "office_fan") != 0 || physTruth(p, "office_valve") != 0 {
		t.Fatal("after 19:00 the office should be on its setback, fan off")
	}
	// The PLC's clock runs in stop mode too.
	if err := p.Apply(Effect{Kind: EffectMode, Mode: ModeStop}); err != nil {
		t.Fatal(err)
	}
	p.Advance(p.Now() + 6*time.Minute)
	if c := physTruth(p, "clock_h"); math.Abs(c-(18.9+0.35)) > 1e-6 {
		t.Fatalf("clock %.6f h after 6 min in stop, want 19.25", c)
	}

	q := hvacPLC(t, Params{"start_h": 10})
	physWrite(t, q, "clock_h", 23)
	q.Advance(time.Second)
	if physTruth(q, "occupied") != 0 || physTruth(q, "office_fan") != 0 {
		t.Fatal("clock at 23:00: the schedule should say unoccupied")
	}
	var fanBack bool
	physRun(q, 2*time.Hour, func(_ time.Duration, v *Values) {
		fanBack = fanBack || v.Truth[hvOfficeFan] == 1
		if v.Truth[hvOfficeTemp] > 29.5 {
			t.Fatalf("office at %.2f °C: the night cycle should hold it near 29", v.Truth[hvOfficeTemp])
		}
	})
	if !fanBack || physTruth(q, "office_temp_h") != 1 {
		t.Fatal("the occupied office should warm past its alarm and the night cycle start the fan")
	}
	// The override runs the office occupied again.
	physWrite(t, q, "occ_override", 1)
	q.Advance(q.Now() + time.Hour)
	if physTruth(q, "occupied") != 1 || math.Abs(physTruth(q, "office_temp")-24) > 0.5 {
		t.Fatalf("override: office at %.2f °C", physTruth(q, "office_temp"))
	}
}

// Without cooling the server room warms at (IT load + heat from the office)
// over its capacity; the backup unit holds it under the overheat limit, and
// only the bypass lets it overheat.
func TestHVACServerRoomWithoutCooling(t *testing.T) {
	p := hvacPLC(t, nil)
	if err := p.Apply(Effect{Kind: EffectFault, Fault: "pump_fail"}); err != nil {
		t.Fatal(err)
	}
	t0, to0 := physTruth(p, "server_temp"), physTruth(p, "office_temp")
	p.Advance(time.Minute)
	slope := (40 + 0.5*(to0-t0)) / 3000 // K/s
	if got := (physTruth(p, "server_temp") - t0) / 60; math.Abs(got-slope) > 0.02*slope {
		t.Fatalf("server room warmed %.5f K/s, want %.5f", got, slope)
	}
	if physTruth(p, "chiller_running") != 0 || physTruth(p, "pump_running") != 0 {
		t.Fatal("the chiller should stop on its flow interlock")
	}
	var peak float64
	var alarmed bool
	physRun(p, time.Hour, func(_ time.Duration, v *Values) {
		peak = math.Max(peak, v.Truth[hvServerTemp])
		alarmed = alarmed || v.Truth[hvServerTempH] == 1 && v.Truth[hvServerTempHH] == 1
	})
	if !alarmed || peak > 30.05 || peak < 30 || physTruth(p, "server_overheat") != 0 {
		t.Fatalf("backup cooling should start at 30 °C and hold the room (peak %.2f)", peak)
	}
	physWrite(t, p, "bypass", 1)
	p.Advance(p.Now() + 30*time.Minute)
	if physTruth(p, "server_overheat") != 1 || physTruth(p, "backup_cooling") != 0 {
		t.Fatal("bypassed: want the server room overheated")
	}
	// Cooling back: the chiller, stopped long ago, starts at once.
	physWrite(t, p, "bypass", 0)
	if err := p.Apply(Effect{Kind: EffectClearFault, Fault: "pump_fail"}); err != nil {
		t.Fatal(err)
	}
	p.Advance(p.Now() + time.Second)
	if physTruth(p, "chiller_running") != 1 {
		t.Fatal("the chiller should restart with the pump back")
	}
	p.Advance(p.Now() + time.Hour)
	if math.Abs(physTruth(p, "server_temp")-22) > 0.5 {
		t.Fatalf("cooling back: server room at %.2f °C", physTruth(p, "server_temp"))
	}
	// Stopped and started again, it waits out its anti-short-cycle time.
	physWrite(t, p, "chiller_on", 0)
	p.Advance(p.Now() + 10*time.Second)
	physWrite(t, p, "chiller_on", 1)
	stop := p.Now() - 10*time.Second
	var started time.Duration
	physRun(p, p.Now()+5*time.Minute, func(now time.Duration, v *Values) {
		if started == 0 && v.Truth[hvChillerRunning] == 1 {
			started = now
		}
	})
	if d := started - stop; d < 120*time.Second || d > 121*time.Second {
		t.Fatalf("chiller restarted %v after its stop, anti-short-cycle is 120 s", d)
	}
}

// A chilled-water setpoint below the freeze limit trips the chiller
// (latched); reset works once the water has warmed 2 K above the limit.
func TestHVACFreezeProtectionAndFaults(t *testing.T) {
	p := hvacPLC(t, nil)
	physWrite(t, p, "chw_sp", 1)
	var at float64
	for now := p.Now(); at == 0 && now < 15*time.Minute; now += p.cfg.Scan {
		p.Advance(now)
		if physTruth(p, "freeze_trip") == 1 {
			at = physTruth(p, "chw_supply")
		}
	}
	p.Advance(p.Now() + time.Second)
	if at == 0 || at > 3 || at < 2.9 || physTruth(p, "chiller_running") != 0 {
		t.Fatalf("want the freeze trip at 3 °C (tripped at %.3f)", at)
	}
	physWrite(t, p, "chw_sp", 7)
	physWrite(t, p, "reset", 1)
	p.Advance(p.Now() + time.Second)
	if physTruth(p, "freeze_trip") != 1 {
		t.Fatalf("reset at %.2f °C (limit 3) cleared the trip", physTruth(p, "chw_supply"))
	}
	p.Advance(p.Now() + 5*time.Minute)
	physWrite(t, p, "reset", 1)
	p.Advance(p.Now() + 5*time.Minute)
	if physTruth(p, "freeze_trip") != 0 || physTruth(p, "chiller_running") != 1 {
		t.Fatal("reset with warm water should restart the chiller")
	}

	q := hvacPLC(t, Params{"outdoor_swing_c": 0})
	if err := q.Apply(Effect{Kind: EffectFault, Fault: "heat_wave", Value: physVal(6)}); err != nil {
		t.Fatal(err)
	}
	q.Advance(time.Second)
	if got := physTruth(q, "outdoor_temp"); math.Abs(got-36) > 1e-9 {
		t.Fatalf("heat wave: outdoor %.3f °C, want 36", got)
	}
	if err := q.Apply(Effect{Kind: EffectFault, Fault: "chiller_trip"}); err != nil {
		t.Fatal(err)
	}
	q.Advance(q.Now() + 5*time.Minute)
	if physTruth(q, "chiller_running") != 0 || physTruth(q, "chw_temp_h") != 1 || physTruth(q, "server_temp_h") != 0 {
		t.Fatal("tripped chiller: first the chilled water warms")
	}
	q.Advance(q.Now() + 30*time.Minute)
	if physTruth(q, "server_temp_h") != 1 || physTruth(q, "server_valve") != 100 {
		t.Fatal("then the server room, its valve wide open")
	}
}
