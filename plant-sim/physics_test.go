package plantsim

import (
	"math"
	"testing"
	"time"
)

func physVal(v float64) *float64 { return &v }

// physPLC makes a noiseless PLC for physics checks.
func physPLC(t *testing.T, model string, params Params) *PLC {
	t.Helper()
	p, err := New(Config{ID: "p", Model: model, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// physPLCStep is physPLC with its own physics step and scan period, for
// slow processes whose tests cover hours.
func physPLCStep(t *testing.T, model string, params Params, physics, scan time.Duration) *PLC {
	t.Helper()
	p, err := New(Config{ID: "p", Model: model, Params: params, Physics: physics, Scan: scan})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func physWrite(t *testing.T, p *PLC, tag string, v float64) {
	t.Helper()
	if err := p.Apply(Effect{Kind: EffectWrite, Tag: tag, Value: physVal(v)}); err != nil {
		t.Fatal(err)
	}
}

func physTruth(p *PLC, tag string) float64 {
	var v Values
	p.Read(&v)
	i, _ := p.model.Tag(tag)
	return v.Truth[i]
}

// The tank's level changes by exactly the integrated net flow over its area.
func TestWaterTankMassBalance(t *testing.T) {
	p := physPLC(t, "water-tank", Params{"area_m2": 5, "level0_m": 1, "pumps_running": 2})
	physWrite(t, p, "auto", 0)
	physWrite(t, p, "inlet_manual", 80)
	h0 := physTruth(p, "level")
	var in, out float64
	step := p.cfg.Physics
	var v Values
	for now := step; now <= 5*time.Minute; now += step {
		p.Advance(now)
		p.Read(&v)
		in += v.Truth[wtInflow] * step.Seconds() / 3600
		out += v.Truth[wtOutflow] * step.Seconds() / 3600
	}
	dh := v.Truth[wtLevel] - h0
	if got, want := dh*5, in-out; math.Abs(got-want) > 1e-9 {
		t.Fatalf("stored volume %.9f m3, net inflow %.9f m3", got, want)
	}
	if in < 1 || out < 1 {
		t.Fatalf("flows too small to test anything: in %.3f out %.3f", in, out)
	}
}

// Alarms switch exactly at their limits on the measured level, with
// hysteresis on the way back.
func TestWaterTankAlarmsAtThresholds(t *testing.T) {
	p := physPLC(t, "water-tank", Params{"level0_m": 3.0, "pumps_running": 0})
	physWrite(t, p, "auto", 0)
	physWrite(t, p, "inlet_manual", 100)
	limitH := physTruth(p, "alarm_h") // 80% of 4 m
	var v Values
	var sawSet bool
	for now := p.cfg.Scan; now < 10*time.Minute; now += p.cfg.Scan {
		p.Advance(now)
		p.Read(&v)
		lvl, h := v.Truth[wtLevel], f2b(v.Truth[wtLevelH])
		// The alarm is evaluated on the level measured at the scan, which
		// the physics step of the same instant has already moved.
		if !sawSet && h {
			sawSet = true
			if lvl < limitH {
				t.Fatalf("high alarm set at level %.4f below limit %.4f", lvl, limitH)
			}
			if lvl > limitH+0.01 {
				t.Fatalf("high alarm set late at level %.4f (limit %.4f)", lvl, limitH)
			}
		}
		if !sawSet && lvl > limitH+0.01 {
			t.Fatalf("level %.4f above high limit %.4f without alarm", lvl, limitH)
		}
		if v.Truth[wtSISTrip] == 1 {
			break
		}
	}
	if !sawSet {
		t.Fatal("high alarm never set")
	}
	// Drain: the alarm clears only 1% of the height (0.04 m) below the limit.
	physWrite(t, p, "inlet_manual", 0)
	physWrite(t, p, "pump1_run", 1)
	physWrite(t, p, "pump2_run", 1)
	start := p.Now()
	for now := start + p.cfg.Scan; now < start+20*time.Minute; now += p.cfg.Scan {
		p.Advance(now)
		p.Read(&v)
		lvl, h := v.Truth[wtLevel], f2b(v.Truth[wtLevelH])
		if h && lvl < limitH-0.04-0.01 {
			t.Fatalf("high alarm still set at %.4f", lvl)
		}
		if !h {
			if lvl > limitH-0.04 {
				t.Fatalf("high alarm cleared at %.4f, inside the hysteresis band", lvl)
			}
			return
		}
	}
	t.Fatal("high alarm never cleared")
}

// Whatever setpoint is written, the safety layer keeps the tank from
// overflowing; only the bypass coil defeats it.
func TestWaterTankInterlockHoldsAnySetpoint(t *testing.T) {
	for _, sp := range []float64{4.5, 10} {
		p := physPLC(t, "water-tank", nil)
		physWrite(t, p, "level_sp", sp)
		trip := 0.95 * 4.0
		for now := time.Second; now <= 30*time.Minute; now += time.Second {
			p.Advance(now)
			if lvl := physTruth(p, "level"); lvl > trip+0.01 {
				t.Fatalf("setpoint %g: level %.3f passed the trip level %.3f", sp, lvl, trip)
			}
		}
		if physTruth(p, "sis_trip") != 1 || physTruth(p, "overflow") != 0 {
			t.Fatalf("setpoint %g: want trip and no overflow", sp)
		}
		// Manual valve wide open doesn't defeat it either.
		physWrite(t, p, "auto", 0)
		physWrite(t, p, "inlet_manual", 100)
		p.Advance(p.Now() + 10*time.Minute)
		if physTruth(p, "overflow") != 0 || physTruth(p, "level") > trip+0.01 {
			t.Fatal("manual valve overfilled a tripped tank")
		}
	}
	p := physPLC(t, "water-tank", nil)
	physWrite(t, p, "level_sp", 10)
	physWrite(t, p, "bypass", 1)
	p.Advance(30 * time.Minute)
	if physTruth(p, "overflow") != 1 || physTruth(p, "sis_trip") != 0 {
		t.Fatal("bypassed tank should overflow without a trip")
	}
}

// The overflow switch sets when the water reaches the brim and dries only
// 1% of the height below it, so a level hovering at the brim spills once.
func TestWaterTankOverflowHysteresis(t *testing.T) {
	p := physPLC(t, "water-tank", Params{"level0_m": 3.9})
	physWrite(t, p, "bypass", 1)
	physWrite(t, p, "auto", 0)
	physWrite(t, p, "inlet_manual", 100) // 60 m3/h in, 15 out
	now := time.Duration(0)
	run := func(until func() bool, limit time.Duration) {
		t.Helper()
		for end := now + limit; !until(); now += time.Second {
			if now > end {
				t.Fatalf("at %v: level %.4f overflow %v", now, physTruth(p, "level"), physTruth(p, "overflow"))
			}
			p.Advance(now)
		}
	}
	run(func() bool { return physTruth(p, "overflow") == 1 }, 10*time.Minute)
	// Drain slowly (15 − 13.2 m3/h, 7.5 mm a minute): the level leaves the
	// brim at once, the switch stays wet down to 3.96 m.
	physWrite(t, p, "inlet_manual", 22)
	run(func() bool { return physTruth(p, "level") < 3.999 }, time.Minute)
	run(func() bool { return physTruth(p, "level") < 3.965 }, 10*time.Minute)
	if physTruth(p, "overflow") != 1 {
		t.Fatalf("overflow cleared at %.4f m, within 1%% of the brim", physTruth(p, "level"))
	}
	run(func() bool { return physTruth(p, "overflow") == 0 }, time.Minute)
	if lvl := physTruth(p, "level"); lvl > 3.96 || lvl < 3.95 {
		t.Fatalf("overflow cleared at %.4f m, want just under 3.96", lvl)
	}
}

// A trip latches until reset, and reset works only below the trip level.
func TestWaterTankTripResetAndDryRunInterlock(t *testing.T) {
	p := physPLC(t, "water-tank", nil)
	physWrite(t, p, "level_sp", 10)
	for now := time.Second; physTruth(p, "sis_trip") != 1; now += time.Second {
		if now > 20*time.Minute {
			t.Fatal("no trip")
		}
		p.Advance(now)
	}
	physWrite(t, p, "reset", 1)
	p.Advance(p.Now() + time.Second)
	if physTruth(p, "sis_trip") != 1 {
		t.Fatal("reset above the trip level cleared the trip")
	}
	if physTruth(p, "reset") != 0 {
		t.Fatal("reset coil should clear itself after a scan")
	}
	physWrite(t, p, "level_sp", 2.5)
	physWrite(t, p, "pump2_run", 1)
	p.Advance(p.Now() + 5*time.Minute)
	physWrite(t, p, "reset", 1)
	p.Advance(p.Now() + time.Second)
	if physTruth(p, "sis_trip") != 0 {
		t.Fatalf("reset at level %.2f did not clear the trip", physTruth(p, "level"))
	}
	// Dry run: pumps on, inlet shut → pumps stop at low-low, tank not empty.
	physWrite(t, p, "auto", 0)
	physWrite(t, p, "inlet_manual", 0)
	p.Advance(p.Now() + 30*time.Minute)
	if physTruth(p, "level_ll") != 1 || physTruth(p, "pump1_running") != 0 || physTruth(p, "pump2_running") != 0 {
		t.Fatal("pumps not interlocked off at low-low level")
	}
	if lvl := physTruth(p, "level"); lvl < 0.3 || lvl > 0.45 {
		t.Fatalf("level %.3f: pumps should stop near the low-low limit 0.4 m", lvl)
	}
}

func TestReactorPressureControlAndSafety(t *testing.T) {
	p := physPLC(t, "reactor", nil)
	p.Advance(10 * time.Minute)
	if pr := physTruth(p, "pressure"); math.Abs(pr-2700) > 15 {
		t.Fatalf("pressure %.1f kPa not held at 2700", pr)
	}
	// A 2800 kPa setpoint is followed.
	physWrite(t, p, "pressure_sp", 2800)
	p.Advance(p.Now() + 10*time.Minute)
	if pr := physTruth(p, "pressure"); math.Abs(pr-2800) > 15 {
		t.Fatalf("pressure %.1f kPa did not follow the 2800 setpoint", pr)
	}
	// Pushing toward damage trips the safety layer before the design limit.
	physWrite(t, p, "pressure_sp", 3150)
	var peak float64
	for now, end := p.Now(), p.Now()+10*time.Minute; now < end; now += time.Second {
		p.Advance(now)
		peak = math.Max(peak, physTruth(p, "pressure"))
	}
	if physTruth(p, "sis_trip") != 1 || physTruth(p, "damaged") != 0 || peak >= 3000 {
		t.Fatalf("trip=%v damaged=%v peak=%.1f", physTruth(p, "sis_trip"), physTruth(p, "damaged"), peak)
	}
	if physTruth(p, "feed_running") != 0 {
		t.Fatal("tripped reactor still feeding")
	}

	// With the bypass, the same attack damages the vessel; the mechanical
	// relief still caps the pressure.
	q := physPLC(t, "reactor", nil)
	physWrite(t, q, "bypass", 1)
	physWrite(t, q, "pressure_sp", 3200)
	peak = 0
	for now := time.Second; now < 15*time.Minute; now += time.Second {
		q.Advance(now)
		peak = math.Max(peak, physTruth(q, "pressure"))
	}
	if physTruth(q, "damaged") != 1 || physTruth(q, "sis_trip") != 0 {
		t.Fatal("bypassed reactor should be damaged without a trip")
	}
	if peak > 3180 || physTruth(q, "relief_open") != 1 {
		t.Fatalf("relief valve did not cap pressure: peak %.1f", peak)
	}
}

func TestReactorTamperedLogicTrips(t *testing.T) {
	p := physPLC(t, "reactor", nil)
	sum := p.Health().Checksum
	if err := p.Apply(Effect{Kind: EffectLogic, Program: "tampered"}); err != nil {
		t.Fatal(err)
	}
	if p.Health().Checksum == sum {
		t.Fatal("logic replacement did not change the checksum")
	}
	p.Advance(5 * time.Minute)
	if physTruth(p, "sis_trip") != 1 || physTruth(p, "pressure_hh") != 0 {
		t.Fatal("tampered logic should hide the alarm and the safety layer should trip")
	}
}

func TestBreakerProtection(t *testing.T) {
	fault := func(p *PLC) {
		if err := p.Apply(Effect{Kind: EffectFault, Fault: "line_fault"}); err != nil {
			t.Fatal(err)
		}
	}
	// 51 trips after its delay and locks out.
	p := physPLC(t, "breaker", nil)
	p.Advance(time.Second)
	fault(p)
	start := p.Now()
	var tripAt time.Duration
	for now := start; now < start+5*time.Second; now += 10 * time.Millisecond {
		p.Advance(now)
		if tripAt == 0 && physTruth(p, "trip_51") == 1 {
			tripAt = now - start
		}
	}
	// Delay 0.5 s, measured at 100 ms scans: trips between 0.5 and 0.7 s.
	if tripAt < 500*time.Millisecond || tripAt > 700*time.Millisecond {
		t.Fatalf("51 tripped after %v, want 0.5–0.7 s", tripAt)
	}
	if physTruth(p, "closed") != 0 || physTruth(p, "lockout") != 1 || physTruth(p, "damaged") != 0 {
		t.Fatal("want open, locked out, not damaged")
	}
	physWrite(t, p, "close_cmd", 1)
	p.Advance(p.Now() + time.Second)
	if physTruth(p, "closed") != 0 {
		t.Fatal("closed while locked out")
	}

	// Raised pickup (Industroyer-style): the fixed backup relay trips at 2 s.
	p = physPLC(t, "breaker", nil)
	physWrite(t, p, "pickup_a", 5000)
	fault(p)
	p.Advance(5 * time.Second)
	if physTruth(p, "trip_51") != 0 || physTruth(p, "trip_backup") != 1 || physTruth(p, "damaged") != 0 {
		t.Fatal("backup relay should trip when 51 is defeated")
	}

	// Raised pickup and bypass: the conductor is damaged.
	p = physPLC(t, "breaker", nil)
	physWrite(t, p, "pickup_a", 5000)
	physWrite(t, p, "bypass", 1)
	fault(p)
	p.Advance(30 * time.Second)
	if physTruth(p, "damaged") != 1 || physTruth(p, "energized") != 0 {
		t.Fatal("unprotected fault should damage the conductor")
	}

	// Local mode ignores open commands over Modbus; the local panel (the
	// management API) still works.
	p = physPLC(t, "breaker", nil)
	modbusCoil := func(tag string) {
		i, _ := p.model.Tag(tag)
		a := byte(p.layout.Addr[i])
		if out, ok := p.handle([]byte{5, 0, a, 0xFF, 0}, RoleNone, nil); !ok || out[0] != 5 {
			t.Fatalf("modbus write of %s: % x", tag, out)
		}
	}
	physWrite(t, p, "remote", 0)
	modbusCoil("open_cmd")
	p.Advance(time.Second)
	if physTruth(p, "closed") != 1 {
		t.Fatal("local breaker obeyed a remote open")
	}
	if physTruth(p, "open_cmd") != 0 {
		t.Fatal("an ignored command should still clear")
	}
	physWrite(t, p, "open_cmd", 1)
	p.Advance(2 * time.Second)
	if physTruth(p, "closed") != 0 {
		t.Fatal("local panel open ignored")
	}
	physWrite(t, p, "close_cmd", 1)
	p.Advance(3 * time.Second)
	if physTruth(p, "closed") != 1 {
		t.Fatal("local panel close ignored")
	}
	physWrite(t, p, "remote", 1)
	modbusCoil("open_cmd")
	p.Advance(4 * time.Second)
	if physTruth(p, "closed") != 0 || physTruth(p, "energized") != 0 {
		t.Fatal("remote open ignored in remote mode")
	}
	// A reset and a close in one scan: reset first, then close.
	p = physPLC(t, "breaker", nil)
	fault(p)
	p.Advance(2 * time.Second)
	p.Apply(Effect{Kind: EffectClearFault, Fault: "line_fault"})
	p.Advance(3 * time.Second)
	if physTruth(p, "lockout") != 1 {
		t.Fatal("no lockout after the fault")
	}
	physWrite(t, p, "reset", 1)
	physWrite(t, p, "close_cmd", 1)
	p.Advance(4 * time.Second)
	if physTruth(p, "lockout") != 0 || physTruth(p, "closed") != 1 {
		t.Fatal("reset and close in one scan should reset, then close")
	}
}

// Same seed, same run; another seed, another noise sequence.
func TestDeterministicForSeed(t *testing.T) {
	run := func(seed uint64) []float64 {
		p, err := New(Config{Model: "water-tank", Seed: seed, Noise: 1})
		if err != nil {
			t.Fatal(err)
		}
		var out []float64
		var v Values
		for now := time.Second; now <= time.Minute; now += time.Second {
			p.Advance(now)
			p.Read(&v)
			out = append(out, v.Reported[wtLevel], v.Truth[wtLevel])
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed diverged at sample %d: %v vs %v", i, a[i], b[i])
		}
	}
	same := true
	for i := range a {
		if i%2 == 0 && a[i] != c[i] {
			same = false
		}
	}
	if same {
		t.Fatal("different seeds gave identical noise")
	}
}

// Stopping the PLC stops the logic but not the physics or the safety layer.
func TestModesAndFaults(t *testing.T) {
	p := physPLC(t, "water-tank", nil)
	p.Advance(time.Second)
	scans := p.Health().ScanCount
	if err := p.Apply(Effect{Kind: EffectMode, Mode: ModeStop}); err != nil {
		t.Fatal(err)
	}
	physWrite(t, p, "level_sp", 1)
	p.Advance(2 * time.Minute)
	if h := p.Health(); h.Mode != ModeStop || h.ScanCount <= scans {
		t.Fatalf("health %+v", h)
	}
	if lvl := physTruth(p, "level"); lvl < 2.3 {
		t.Fatalf("stopped logic still followed the setpoint: level %.2f", lvl)
	}
	if err := p.Apply(Effect{Kind: EffectFault, Fault: FaultCPU}); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(Effect{Kind: EffectMode, Mode: ModeRun}); err == nil {
		t.Fatal("run accepted while faulted")
	}
	if err := p.Apply(Effect{Kind: EffectClearFault, Fault: FaultCPU}); err != nil {
		t.Fatal(err)
	}
	if p.Health().Mode != ModeStop {
		t.Fatal("cleared CPU fault should leave the PLC stopped")
	}
	if err := p.Apply(Effect{Kind: EffectMode, Mode: ModeRun}); err != nil {
		t.Fatal(err)
	}
	p.Advance(p.Now() + 30*time.Minute)
	if lvl := physTruth(p, "level"); math.Abs(lvl-1) > 0.05 {
		t.Fatalf("running logic did not bring the level to 1 m: %.2f", lvl)
	}
	// Sensor stuck: the logic sees the stuck reading and keeps filling.
	if err := p.Apply(Effect{Kind: EffectFault, Fault: FaultSensorStuck, Tag: "level"}); err != nil {
		t.Fatal(err)
	}
	physWrite(t, p, "level_sp", 1.2)
	p.Advance(p.Now() + 3*time.Minute)
	if lvl := physTruth(p, "level"); lvl < 1.5 {
		t.Fatalf("stuck sensor should mislead the loop: level %.2f", lvl)
	}
	for _, e := range []Effect{
		{Kind: EffectFault, Fault: "no_such"},
		{Kind: EffectMode, Mode: "turbo"},
		{Kind: EffectLogic, Program: "evil"},
		{Kind: EffectWrite, Tag: "level", Value: physVal(1)},
		{Kind: EffectWrite, Tag: "level_sp"},
		{Kind: EffectSpoof, Tag: "level_sp", Value: physVal(1)},
		{Kind: "melt"},
	} {
		if err := p.Apply(e); err == nil {
			t.Errorf("effect %+v accepted", e)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{Model: "nuclear"},
		{Model: "water-tank", Scan: 10 * time.Millisecond},
		{Model: "water-tank", Scan: time.Second},
		{Model: "water-tank", Params: Params{"area_m2": -1}},
		{Model: "water-tank", Params: Params{"volume": 3}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

// A restored snapshot continues exactly as the original would have.
func TestSnapshotRestoreContinuesTheSameRun(t *testing.T) {
	for _, model := range ModelNames() {
		a, _ := New(Config{Model: model, Seed: 3, Noise: 1})
		b, _ := New(Config{Model: model, Seed: 3, Noise: 1})
		i := 0
		for ; a.model.Tags[i].Table != InputRegister; i++ {
		}
		a.Advance(90 * time.Second)
		if err := a.Apply(Effect{Kind: EffectReplay, Tag: a.model.Tags[i].Name, Window: 5}); err != nil {
			t.Fatal(err)
		}
		// Every model fault and the tampered logic: their state is the
		// process's and must travel in the snapshot too.
		for _, f := range a.model.Faults {
			if err := a.Apply(Effect{Kind: EffectFault, Fault: f.Name}); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Apply(Effect{Kind: EffectLogic, Program: "tampered"}); err != nil {
			t.Fatal(err)
		}
		a.Advance(95 * time.Second)
		snap, err := a.Save()
		if err != nil {
			t.Fatal(err)
		}
		blob, err := EncodeSnapshots(map[string]*Snapshot{"x": snap})
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeSnapshots(blob)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Restore(back["x"]); err != nil {
			t.Fatal(err)
		}
		// Compared every second: a plant that trips may end where the
		// original does even when its state was not all restored.
		var va, vb Values
		for now := 96 * time.Second; now <= 5*time.Minute; now += time.Second {
			a.Advance(now)
			b.Advance(now)
			a.Read(&va)
			b.Read(&vb)
			for k := range va.Truth {
				if va.Truth[k] != vb.Truth[k] || va.Reported[k] != vb.Reported[k] {
					t.Fatalf("%s at %v: tag %s diverged after restore: %v/%v vs %v/%v", model, now, a.model.Tags[k].Name,
						va.Truth[k], va.Reported[k], vb.Truth[k], vb.Reported[k])
				}
			}
		}
	}
	w, _ := New(Config{Model: "water-tank"})
	r, _ := New(Config{Model: "reactor"})
	s, _ := w.Save()
	if err := r.Restore(s); err == nil {
		t.Fatal("restored a water-tank snapshot into a reactor")
	}
}

// A Modbus write the PLC has not scanned yet is in its snapshot: the
// engine checkpoints right after an attack writes, before the next scan,
// and a restore from that checkpoint must not lose the attack.
func TestSnapshotKeepsUnlatchedWrites(t *testing.T) {
	a := physPLC(t, "water-tank", nil)
	b := physPLC(t, "water-tank", nil)
	a.Advance(10 * time.Second)
	sp, _ := a.model.Tag("level_sp")
	pump, _ := a.model.Tag("pump1_run")
	before := physTruth(a, "level_sp")
	spAddr, pumpAddr := byte(a.layout.Addr[sp]), byte(a.layout.Addr[pump])
	if out, ok := a.handle([]byte{6, 0, spAddr, 0x0f, 0xa0}, RoleNone, nil); !ok || out[0] != 6 {
		t.Fatalf("write level_sp: % x", out)
	}
	if out, ok := a.handle([]byte{5, 0, pumpAddr, 0, 0}, RoleNone, nil); !ok || out[0] != 5 {
		t.Fatalf("write pump1_run: % x", out)
	}
	snap, err := a.Save()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := EncodeSnapshots(map[string]*Snapshot{"x": snap})
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSnapshots(blob)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(back["x"]); err != nil {
		t.Fatal(err)
	}
	a.Advance(11 * time.Second)
	b.Advance(11 * time.Second)
	if physTruth(a, "level_sp") == before || physTruth(a, "pump1_run") != 0 {
		t.Fatalf("the writes did not land in the original: level_sp %v (was %v), pump1_run %v", physTruth(a, "level_sp"), before, physTruth(a, "pump1_run"))
	}
	for _, tag := range []string{"level_sp", "pump1_run", "level"} {
		if ga, gb := physTruth(a, tag), physTruth(b, tag); ga != gb {
			t.Errorf("%s: %v in the original, %v in the restored PLC", tag, ga, gb)
		}
	}
}
