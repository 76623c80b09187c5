package plantsim

import (
	"fmt"
	"math"
	"time"
)

// Water tank tag indices. The slice literal below is indexed by them, so the
// two can't drift apart.
const (
	wtAuto = iota
	wtPump1Run
	wtPump2Run
	wtBypass
	wtReset

	wtInletOpen
	wtPump1Running
	wtPump2Running
	wtLevelLL
	wtLevelL
	wtLevelH
	wtLevelHH
	wtSISTrip
	wtOverflow

	wtLevel
	wtInflow
	wtOutflow
	wtInletValve

	wtLevelSP
	wtInletManual
	wtAlarmLL
	wtAlarmL
	wtAlarmH
	wtAlarmHH
	wtKp
	wtTi
	wtNumTags
)

var waterTankModel = newModel(Model{
	Name:  "water-tank",
	Title: "Water tank with level control",
	Desc: "A raw-water tank (SWaT stage 1 style). Mass balance A·dh/dt = Qin − Qout. " +
		"The PLC holds the level at its setpoint with a PI loop on the inlet valve; operators " +
		"run the outlet pumps (the plant's demand). Pumps stop on low-low level (dry-run interlock). " +
		"An independent safety layer closes a shut-off valve at the high-high trip level unless bypassed. " +
		"Overflow is a safety incident.",
	Equations: []string{
		"Mass balance: A·dh/dt = Q_in − Q_out − Q_leak (m³/h over m²); Q_in = x/100 · inflow_m3h while the shut-off valve is open, x the inlet valve position (%) travelling at 100/valve_stroke_s %/s; Q_out = pump_m3h per running pump (a pump needs h > 0.01 m).",
		"PLC: inlet valve = PI(level_sp − h) in auto, inlet_manual in manual; a pump runs on its command unless level_ll is set (dry-run interlock).",
		"Alarms with a hysteresis of 1% of the height: level_ll and level_l at or below, level_h and level_hh at or above their limits.",
		"Safety layer: the true h ≥ sis_trip_pct of the height latches sis_trip and closes the inlet shut-off valve; it resets 5% of the height lower with the reset coil. Only bypass defeats it.",
		"Incident: overflow while h is at height_m.",
		"Tampered program: the inlet valve driven fully open and the high alarms never shown.",
	},
	Tags: []TagDef{
		wtAuto:     {Name: "auto", Table: Coil, Class: ClassMode, Desc: "1 = PI level control, 0 = manual inlet valve position"},
		wtPump1Run: {Name: "pump1_run", Table: Coil, Class: ClassCommand, Desc: "run command for outlet pump 1"},
		wtPump2Run: {Name: "pump2_run", Table: Coil, Class: ClassCommand, Desc: "run command for outlet pump 2"},
		wtBypass:   {Name: "bypass", Table: Coil, Class: ClassBypass, Desc: "1 = safety layer bypassed (high-high trip defeated)"},
		wtReset:    {Name: "reset", Table: Coil, Class: ClassCommand, Desc: "write 1 to reset a safety trip once the level is below the trip level"},

		wtInletOpen:    {Name: "inlet_open", Table: DiscreteInput, Class: ClassFeedback, Desc: "inlet valve more than 2% open and shut-off valve open"},
		wtPump1Running: {Name: "pump1_running", Table: DiscreteInput, Class: ClassFeedback, Desc: "pump 1 running"},
		wtPump2Running: {Name: "pump2_running", Table: DiscreteInput, Class: ClassFeedback, Desc: "pump 2 running"},
		wtLevelLL:      {Name: "level_ll", Table: DiscreteInput, Class: ClassAlarm, Desc: "low-low level alarm (pumps interlocked off)"},
		wtLevelL:       {Name: "level_l", Table: DiscreteInput, Class: ClassAlarm, Desc: "low level alarm"},
		wtLevelH:       {Name: "level_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "high level alarm"},
		wtLevelHH:      {Name: "level_hh", Table: DiscreteInput, Class: ClassAlarm, Desc: "high-high level alarm"},
		wtSISTrip:      {Name: "sis_trip", Table: DiscreteInput, Class: ClassTrip, Desc: "safety layer tripped: inlet shut-off valve closed (latched)"},
		wtOverflow:     {Name: "overflow", Table: DiscreteInput, Class: ClassTrip, Desc: "tank overflowing: sets at the brim, clears 1% of the height below it (safety incident)"},

		wtLevel:      {Name: "level", Table: InputRegister, Class: ClassProcess, Unit: "m", Min: 0, Max: 10, Noise: 0.0005, Desc: "tank level"},
		wtInflow:     {Name: "inflow", Table: InputRegister, Class: ClassProcess, Unit: "m3/h", Min: 0, Max: 200, Noise: 0.002, Desc: "inlet flow"},
		wtOutflow:    {Name: "outflow", Table: InputRegister, Class: ClassProcess, Unit: "m3/h", Min: 0, Max: 200, Noise: 0.002, Desc: "outlet flow (pumps)"},
		wtInletValve: {Name: "inlet_valve", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 100, Desc: "inlet valve position"},

		wtLevelSP:     {Name: "level_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "m", Min: 0, Max: 10, Of: "level", Desc: "level setpoint"},
		wtInletManual: {Name: "inlet_manual", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Desc: "inlet valve position in manual"},
		wtAlarmLL:     {Name: "alarm_ll", Table: HoldingRegister, Class: ClassLimit, Unit: "m", Min: 0, Max: 10, Of: "level", Desc: "low-low alarm limit"},
		wtAlarmL:      {Name: "alarm_l", Table: HoldingRegister, Class: ClassLimit, Unit: "m", Min: 0, Max: 10, Of: "level", Desc: "low alarm limit"},
		wtAlarmH:      {Name: "alarm_h", Table: HoldingRegister, Class: ClassLimit, Unit: "m", Min: 0, Max: 10, Of: "level", Desc: "high alarm limit"},
		wtAlarmHH:     {Name: "alarm_hh", Table: HoldingRegister, Class: ClassLimit, Unit: "m", Min: 0, Max: 10, Of: "level", Desc: "high-high alarm limit"},
		wtKp:          {Name: "kp", Table: HoldingRegister, Class: ClassTuning, Unit: "%/m", Min: 0, Max: 2000, Desc: "PI proportional gain"},
		wtTi:          {Name: "ti", Table: HoldingRegister, Class: ClassTuning, Unit: "s", Min: 1, Max: 3600, Desc: "PI integral time"},
	},
	Params: []ParamDef{
		{Name: "area_m2", Default: 4, Min: 0.5, Max: 200, Unit: "m2", Desc: "tank cross-section"},
		{Name: "height_m", Default: 4, Min: 0.5, Max: 10, Unit: "m", Desc: "tank height; the level cannot exceed it (overflow)"},
		{Name: "inflow_m3h", Default: 60, Min: 1, Max: 200, Unit: "m3/h", Desc: "inlet flow with the inlet valve fully open"},
		{Name: "pump_m3h", Default: 15, Min: 0, Max: 100, Unit: "m3/h", Desc: "flow of one outlet pump"},
		{Name: "pumps_running", Default: 1, Min: 0, Max: 2, Desc: "pumps commanded to run at start"},
		{Name: "level0_m", Default: 2.2, Min: 0, Max: 10, Unit: "m", Desc: "initial level"},
		{Name: "level_sp_m", Default: 2.5, Min: 0, Max: 10, Unit: "m", Desc: "initial level setpoint"},
		{Name: "sis_trip_pct", Default: 95, Min: 10, Max: 100, Unit: "% of height", Desc: "safety-layer trip level"},
		{Name: "alarm_ll_pct", Default: 10, Min: 0, Max: 100, Unit: "% of height"},
		{Name: "alarm_l_pct", Default: 20, Min: 0, Max: 100, Unit: "% of height"},
		{Name: "alarm_h_pct", Default: 80, Min: 0, Max: 100, Unit: "% of height"},
		{Name: "alarm_hh_pct", Default: 90, Min: 0, Max: 100, Unit: "% of height"},
		{Name: "valve_stroke_s", Default: 8, Min: 0.1, Max: 120, Unit: "s", Desc: "inlet valve full travel time"},
	},
	Faults: []FaultDef{
		{Name: "leak", Unit: "m3/h", Desc: "a leak drains the tank at the given rate (default 10 m3/h)"},
		{Name: "valve_stuck", Desc: "the inlet valve sticks at its current position"},
	},
	Programs:  []string{"standard", "tampered"},
	Incidents: []string{"overflow"},
	// A level moves centimetres a minute: an overflow that stops and
	// starts again within half a minute is one spill.
	AlarmHold: 30 * time.Second,
	New:       newWaterTank,
})

type waterTank struct {
	area, height, inflowMax, pumpFlow, sisTrip, stroke float64
	p                                                  Params

	valveCmd, valvePos float64 // inlet valve, %
	integral           float64 // PI integral term, %
	pumpRun            [2]bool // logic outputs
	xvOpen             bool    // safety shut-off valve
	leak               float64
	valveStuck         bool
	resetSeen          bool
}

func newWaterTank(p Params) Process {
	return &waterTank{
		p: p, area: p["area_m2"], height: p["height_m"], inflowMax: p["inflow_m3h"],
		pumpFlow: p["pump_m3h"], sisTrip: p["sis_trip_pct"] / 100 * p["height_m"], stroke: p["valve_stroke_s"],
	}
}

func (w *waterTank) Init(v []float64) {
	h := w.height
	v[wtAuto] = 1
	n := int(w.p["pumps_running"])
	v[wtPump1Run] = b2f(n >= 1)
	v[wtPump2Run] = b2f(n >= 2)
	v[wtLevel] = math.Min(w.p["level0_m"], h)
	v[wtLevelSP] = w.p["level_sp_m"]
	v[wtAlarmLL] = w.p["alarm_ll_pct"] / 100 * h
	v[wtAlarmL] = w.p["alarm_l_pct"] / 100 * h
	v[wtAlarmH] = w.p["alarm_h_pct"] / 100 * h
	v[wtAlarmHH] = w.p["alarm_hh_pct"] / 100 * h
	v[wtKp] = 400
	v[wtTi] = 300
	w.xvOpen = true
	w.pumpRun = [2]bool{n >= 1, n >= 2}
	v[wtPump1Running], v[wtPump2Running] = b2f(n >= 1), b2f(n >= 2)
	// Start in equilibrium: the valve passes what the running pumps draw.
	demand := float64(n) * w.pumpFlow
	w.valvePos = math.Min(100, demand/w.inflowMax*100)
	w.valveCmd, w.integral = w.valvePos, w.valvePos
	v[wtInletManual] = w.valvePos
	w.publish(v, demand, demand)
}

func (w *waterTank) Step(v []float64, dt float64) {
	// Inlet valve travels at a finite rate unless stuck.
	if !w.valveStuck {
		w.valvePos = approach(w.valvePos, w.valveCmd, 100/w.stroke*dt)
	}
	h := v[wtLevel]
	// Independent safety layer: trips on true level, latches, resets only on
	// command once the level is back below the trip point.
	latchTrip(v, wtSISTrip, f2b(v[wtBypass]), h >= w.sisTrip, f2b(v[wtReset]) && h < w.sisTrip-0.05*w.height)
	w.xvOpen = !f2b(v[wtSISTrip]) || f2b(v[wtBypass])

	qin := 0.0
	if w.xvOpen {
		qin = w.valvePos / 100 * w.inflowMax
	}
	qout := 0.0
	for i, run := range w.pumpRun {
		running := run && h > 0.01
		v[wtPump1Running+i] = b2f(running)
		if running {
			qout += w.pumpFlow
		}
	}
	leak := 0.0
	if h > 0 {
		leak = w.leak
	}
	h += (qin - qout - leak) / 3600 / w.area * dt
	// The overflow switch at the weir wets when water reaches the brim and
	// dries only once the level is 1% of the height below it, like the
	// level alarms: a level held at the brim by a controller wobbling on
	// noise would otherwise spill and stop every few seconds.
	overflow := alarmHigh(f2b(v[wtOverflow]), h, w.height, 0.01*w.height)
	h = math.Max(0, math.Min(w.height, h))
	if h == 0 {
		// An empty tank can't feed the pumps.
		qout = math.Min(qout, qin)
	}
	v[wtLevel] = h
	v[wtOverflow] = b2f(overflow)
	w.publish(v, qin, qout)
}

func (w *waterTank) publish(v []float64, qin, qout float64) {
	v[wtInflow] = qin
	v[wtOutflow] = qout
	v[wtInletValve] = w.valvePos
	v[wtInletOpen] = b2f(w.valvePos > 2 && w.xvOpen)
}

func (w *waterTank) Scan(v, m []float64, _ []bool, dt float64, program int) {
	level := m[wtLevel]
	tampered := program != 0
	switch {
	case tampered:
		// The replaced logic fills the tank: the inlet valve is driven open.
		w.valveCmd = 100
	case f2b(v[wtAuto]):
		w.valveCmd = piStep(&w.integral, v[wtLevelSP]-level, v[wtKp], v[wtTi], dt, 0, 100)
	default:
		w.valveCmd = v[wtInletManual]
		w.integral = w.valveCmd // bumpless return to auto
	}
	// Alarms with a hysteresis of 1% of the tank height against chatter.
	hys := 0.01 * w.height
	v[wtLevelLL] = b2f(alarmLow(f2b(v[wtLevelLL]), level, v[wtAlarmLL], hys))
	v[wtLevelL] = b2f(alarmLow(f2b(v[wtLevelL]), level, v[wtAlarmL], hys))
	if tampered {
		v[wtLevelH], v[wtLevelHH] = 0, 0 // the replaced logic hides high alarms
	} else {
		v[wtLevelH] = b2f(alarmHigh(f2b(v[wtLevelH]), level, v[wtAlarmH], hys))
		v[wtLevelHH] = b2f(alarmHigh(f2b(v[wtLevelHH]), level, v[wtAlarmHH], hys))
	}
	// Dry-run interlock.
	ll := f2b(v[wtLevelLL])
	w.pumpRun[0] = f2b(v[wtPump1Run]) && !ll
	w.pumpRun[1] = f2b(v[wtPump2Run]) && !ll
	// Reset is a pulse. The safety layer reads it during physics steps, so it
	// is cleared one scan after it was latched, not in the scan that saw it.
	w.resetSeen = clearPulse(v, wtReset, w.resetSeen)
}

func (w *waterTank) Fault(name string, value float64, on bool) error {
	switch name {
	case "leak":
		if !on {
			w.leak = 0
		} else if value > 0 {
			w.leak = value
		} else {
			w.leak = 10
		}
	case "valve_stuck":
		w.valveStuck = on
	default:
		return fmt.Errorf("water-tank has no fault %q", name)
	}
	return nil
}

func (w *waterTank) saveFields() ([]*float64, []*bool) {
	return []*float64{&w.valveCmd, &w.valvePos, &w.integral, &w.leak},
		[]*bool{&w.pumpRun[0], &w.pumpRun[1], &w.xvOpen, &w.valveStuck, &w.resetSeen}
}

func (w *waterTank) save() []float64        { return packState(w.saveFields()) }
func (w *waterTank) load(s []float64) error { f, b := w.saveFields(); return unpackState(s, f, b) }
