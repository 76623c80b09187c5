package plantsim

import (
	"fmt"
	"math"
)

// HVAC tag indices.
const (
	hvAuto = iota
	hvChillerOn
	hvCHWPump
	hvOccOverride
	hvBypass
	hvReset

	hvChillerRunning
	hvPumpRunning
	hvOfficeFan
	hvOccupied
	hvOfficeTempH
	hvServerTempH
	hvServerTempHH
	hvCHWTempH
	hvFreezeTrip
	hvBackupCooling
	hvServerOverheat

	hvOfficeTemp
	hvServerTemp
	hvCHWSupply
	hvOutdoorTemp
	hvOfficeValve
	hvServerValve
	hvCoolingLoad
	hvChillerPower

	hvClock
	hvOfficeSPOcc
	hvOfficeSPUnocc
	hvServerSP
	hvCHWSP
	hvOfficeManual
	hvServerManual
	hvOccStart
	hvOccEnd
	hvAlarmOfficeH
	hvAlarmServerH
	hvAlarmServerHH
	hvCHWLow
	hvKp
	hvTi
	hvNumTags
)

const (
	hvWaterCp      = 4190.0 // chilled water, kJ/(m³·K)
	hvUnoccGain    = 0.2    // share of the office's internal gain left out of hours
	hvValveRate    = 5.0    // coil valve travel, %/s
	hvBackupBand   = 3.0    // backup thermostat's differential, K
	hvCHWHighDelta = 4.0    // chw_temp_h: supply this much above its setpoint, K
)

var hvacModel = newModel(Model{
	Name:  "hvac",
	Title: "Building chiller plant with an office and a server room",
	Desc: "Building automation of the kind METI's building-systems security guideline covers: a chiller and a " +
		"chilled-water pump serve an office air handler and a server room's cooling unit. The PLC follows an " +
		"occupancy schedule on its own clock (occupied and setback setpoints, the office fan off out of hours " +
		"unless the office gets too warm), holds each zone with a PI loop on its coil valve, and stops the " +
		"chiller on low chilled-water temperature (freeze protection, latched). The server room's IT load heats " +
		"it steadily, so it warms within minutes when cooling stops. The independent safety layer is a server-room " +
		"thermostat with fixed settings that runs a stand-alone backup cooling unit unless bypassed. A server room " +
		"at the overheat temperature is a safety incident.",
	Equations: []string{
		"Outdoor: T_out = outdoor_c + outdoor_swing_c · cos(2π(t_day − 15)/24) (+ a heat wave), t_day the real time of day (h) from start_h.",
		"Office: C_o · dT_o/dt = G_o + UA_o·(T_out − T_o) − Q_o − UA_s·(T_o − T_s), G_o = office_gain_kw while people are in (occ_start_h to occ_end_h of the real clock), 20% of it otherwise.",
		"Server room: C_s · dT_s/dt = G_s + UA_s·(T_o − T_s) − Q_s − Q_b, G_s = server_load_kw around the clock, Q_b the backup unit's backup_kw while it runs.",
		"Coils: Q_z = u_z/100 · UA_coil,z · max(0, T_z − T_w), u_z the valve (%, travelling 5 %/s); with the chilled-water pump running, and the office's only with its fan on.",
		"Chilled water: C_w · dT_w/dt = Q_o + Q_s − Q_ch, C_w = 4190 kJ/(m³·K) · loop_m3; the chiller's own controller gives Q_ch = clamp(K_ch·(T_w − chw_sp), 0, chiller_kw) while it runs, drawing Q_ch/COP. Once stopped it cannot restart for restart_s (anti-short-cycle).",
		"Steady state (zones at setpoint): Q_ch = Q_o + Q_s and T_w = chw_sp + Q_ch/K_ch.",
		"PLC: clock_h is its real-time clock (runs in every mode; writing it sets the time). Occupied when clock_h is within occ_start_h..occ_end_h (wrapping past midnight) or occ_override; the office setpoint is office_sp_occ then, office_sp_unocc otherwise; the office fan runs when occupied or the office is above its setback setpoint (1 K hysteresis). Valves: PI(T_z − setpoint) in auto, manual positions otherwise. The chiller runs with chiller_on, the pump and no freeze_trip; T_w ≤ chw_low latches freeze_trip (reset 2 K above).",
		"Alarms with hysteresis 0.5 K: office_temp_h, server_temp_h, server_temp_hh at their limits, chw_temp_h at chw_sp + 4 K.",
		"Safety layer: the backup unit starts at a true T_s ≥ backup_on_c and stops 3 K below; only bypass holds it off.",
		"Incident: server_overheat while T_s ≥ overheat_c.",
		"Tampered program (ransomware-style sabotage): the chiller stopped, the server room's valve shut and its temperature alarms never shown; the office looks normal.",
	},
	Tags: []TagDef{
		hvAuto:        {Name: "auto", Table: Coil, Class: ClassMode, Desc: "1 = schedule and PI loops, 0 = manual valve positions"},
		hvChillerOn:   {Name: "chiller_on", Table: Coil, Class: ClassCommand, Desc: "chiller enable"},
		hvCHWPump:     {Name: "chw_pump", Table: Coil, Class: ClassCommand, Desc: "chilled-water pump run command"},
		hvOccOverride: {Name: "occ_override", Table: Coil, Class: ClassCommand, Desc: "1 = run the office as occupied whatever the schedule says"},
		hvBypass:      {Name: "bypass", Table: Coil, Class: ClassBypass, Desc: "1 = safety layer bypassed (the server room's backup cooling held off)"},
		hvReset:       {Name: "reset", Table: Coil, Class: ClassCommand, Desc: "write 1 to reset the freeze trip once the chilled water is 2 K above chw_low"},

		hvChillerRunning: {Name: "chiller_running", Table: DiscreteInput, Class: ClassFeedback, Desc: "chiller compressor running"},
		hvPumpRunning:    {Name: "pump_running", Table: DiscreteInput, Class: ClassFeedback, Desc: "chilled-water pump running"},
		hvOfficeFan:      {Name: "office_fan", Table: DiscreteInput, Class: ClassFeedback, Desc: "office air-handler fan running"},
		hvOccupied:       {Name: "occupied", Table: DiscreteInput, Class: ClassFeedback, Desc: "the schedule (on the PLC's clock) or the override says occupied"},
		hvOfficeTempH:    {Name: "office_temp_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "office too warm"},
		hvServerTempH:    {Name: "server_temp_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "server room high temperature"},
		hvServerTempHH:   {Name: "server_temp_hh", Table: DiscreteInput, Class: ClassAlarm, Desc: "server room high-high temperature"},
		hvCHWTempH:       {Name: "chw_temp_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "chilled-water supply 4 K above its setpoint"},
		hvFreezeTrip:     {Name: "freeze_trip", Table: DiscreteInput, Class: ClassTrip, Desc: "chiller stopped on low chilled-water temperature (latched)"},
		hvBackupCooling:  {Name: "backup_cooling", Table: DiscreteInput, Class: ClassTrip, Desc: "safety layer: the server room's backup cooling unit running"},
		hvServerOverheat: {Name: "server_overheat", Table: DiscreteInput, Class: ClassTrip, Desc: "server room at its overheat temperature (safety incident)"},

		hvOfficeTemp:   {Name: "office_temp", Table: InputRegister, Class: ClassProcess, Unit: "degC", Min: -20, Max: 60, Noise: 0.0005, Desc: "office zone temperature"},
		hvServerTemp:   {Name: "server_temp", Table: InputRegister, Class: ClassProcess, Unit: "degC", Min: -20, Max: 60, Noise: 0.0005, Desc: "server room temperature"},
		hvCHWSupply:    {Name: "chw_supply", Table: InputRegister, Class: ClassProcess, Unit: "degC", Min: -20, Max: 60, Noise: 0.0005, Desc: "chilled-water supply temperature"},
		hvOutdoorTemp:  {Name: "outdoor_temp", Table: InputRegister, Class: ClassProcess, Unit: "degC", Min: -20, Max: 60, Noise: 0.0005, Desc: "outdoor air temperature"},
		hvOfficeValve:  {Name: "office_valve", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 100, Desc: "office coil valve position"},
		hvServerValve:  {Name: "server_valve", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 100, Desc: "server room coil valve position"},
		hvCoolingLoad:  {Name: "cooling_kw", Table: InputRegister, Class: ClassProcess, Unit: "kW", Min: 0, Max: 2000, Noise: 0.0005, Desc: "heat the chiller removes"},
		hvChillerPower: {Name: "chiller_power", Table: InputRegister, Class: ClassProcess, Unit: "kW", Min: 0, Max: 1000, Noise: 0.0005, Desc: "electric power the chiller draws"},

		hvClock:         {Name: "clock_h", Table: HoldingRegister, Class: ClassSetpoint, Unit: "h", Min: 0, Max: 24, Desc: "the PLC's clock, hours since midnight (starts at start_h); the schedule runs on it"},
		hvOfficeSPOcc:   {Name: "office_sp_occ", Table: HoldingRegister, Class: ClassSetpoint, Unit: "degC", Min: 10, Max: 40, Desc: "office setpoint when occupied (initially 24)"},
		hvOfficeSPUnocc: {Name: "office_sp_unocc", Table: HoldingRegister, Class: ClassSetpoint, Unit: "degC", Min: 10, Max: 40, Desc: "office setback setpoint out of hours (initially 28)"},
		hvServerSP:      {Name: "server_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "degC", Min: 10, Max: 40, Desc: "server room setpoint (initially 22)"},
		hvCHWSP:         {Name: "chw_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "degC", Min: 0, Max: 20, Desc: "chilled-water supply setpoint (initially 7)"},
		hvOfficeManual:  {Name: "office_manual", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Desc: "office valve position in manual"},
		hvServerManual:  {Name: "server_manual", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Desc: "server room valve position in manual"},
		hvOccStart:      {Name: "occ_start_h", Table: HoldingRegister, Class: ClassSetpoint, Unit: "h", Min: 0, Max: 24, Desc: "schedule: occupied from (initially occ_start_h)"},
		hvOccEnd:        {Name: "occ_end_h", Table: HoldingRegister, Class: ClassSetpoint, Unit: "h", Min: 0, Max: 24, Desc: "schedule: occupied until (initially occ_end_h)"},
		hvAlarmOfficeH:  {Name: "alarm_office_h", Table: HoldingRegister, Class: ClassLimit, Unit: "degC", Min: 10, Max: 50, Desc: "office high temperature alarm limit (initially 28)"},
		hvAlarmServerH:  {Name: "alarm_server_h", Table: HoldingRegister, Class: ClassLimit, Unit: "degC", Min: 10, Max: 50, Desc: "server room high alarm limit (initially 27)"},
		hvAlarmServerHH: {Name: "alarm_server_hh", Table: HoldingRegister, Class: ClassLimit, Unit: "degC", Min: 10, Max: 50, Desc: "server room high-high alarm limit (initially 29)"},
		hvCHWLow:        {Name: "chw_low", Table: HoldingRegister, Class: ClassLimit, Unit: "degC", Min: -5, Max: 20, Desc: "freeze protection: the chiller stops at or below it (initially 3)"},
		hvKp:            {Name: "kp", Table: HoldingRegister, Class: ClassTuning, Unit: "%/K", Min: 0, Max: 200, Desc: "zone PI proportional gain"},
		hvTi:            {Name: "ti", Table: HoldingRegister, Class: ClassTuning, Unit: "s", Min: 1, Max: 3600, Desc: "zone PI integral time"},
	},
	Params: []ParamDef{
		{Name: "start_h", Default: 9, Min: 0, Max: 24, Unit: "h", Desc: "time of day when the exercise starts (the real clock and the PLC's)"},
		{Name: "occ_start_h", Default: 7, Min: 0, Max: 24, Unit: "h", Desc: "people arrive (and the schedule's initial start)"},
		{Name: "occ_end_h", Default: 19, Min: 0, Max: 24, Unit: "h", Desc: "people leave (and the schedule's initial end)"},
		{Name: "outdoor_c", Default: 30, Min: -20, Max: 50, Unit: "degC", Desc: "mean outdoor temperature"},
		{Name: "outdoor_swing_c", Default: 4, Min: 0, Max: 20, Unit: "degC", Desc: "daily outdoor swing (amplitude, warmest at 15:00)"},
		{Name: "office_ua_kwk", Default: 2.5, Min: 0, Max: 100, Unit: "kW/K", Desc: "office envelope heat transfer to outdoors"},
		{Name: "office_cap_mjk", Default: 40, Min: 0.1, Max: 10000, Unit: "MJ/K", Desc: "office thermal capacity (air, furniture, structure)"},
		{Name: "office_gain_kw", Default: 60, Min: 0, Max: 2000, Unit: "kW", Desc: "office internal gain while people are in"},
		{Name: "office_coil_kwk", Default: 10, Min: 0.1, Max: 500, Unit: "kW/K", Desc: "office coil heat transfer with its valve fully open"},
		{Name: "office0_c", Default: 24, Min: -20, Max: 60, Unit: "degC", Desc: "initial office temperature"},
		{Name: "server_ua_kwk", Default: 0.5, Min: 0, Max: 100, Unit: "kW/K", Desc: "server room heat transfer to the office"},
		{Name: "server_cap_mjk", Default: 3, Min: 0.1, Max: 10000, Unit: "MJ/K", Desc: "server room thermal capacity (air and racks)"},
		{Name: "server_load_kw", Default: 40, Min: 0, Max: 2000, Unit: "kW", Desc: "IT load, all of it heat"},
		{Name: "server_coil_kwk", Default: 6, Min: 0.1, Max: 500, Unit: "kW/K", Desc: "server room coil heat transfer with its valve fully open"},
		{Name: "server0_c", Default: 22, Min: -20, Max: 60, Unit: "degC", Desc: "initial server room temperature"},
		{Name: "chiller_kw", Default: 200, Min: 1, Max: 5000, Unit: "kW", Desc: "chiller cooling capacity"},
		{Name: "chiller_gain_kwk", Default: 100, Min: 1, Max: 10000, Unit: "kW/K", Desc: "chiller controller gain: cooling per K of supply above its setpoint"},
		{Name: "chiller_cop", Default: 4.5, Min: 1, Max: 10, Desc: "chiller coefficient of performance"},
		{Name: "loop_m3", Default: 2, Min: 0.1, Max: 1000, Unit: "m3", Desc: "chilled water in the loop"},
		{Name: "restart_s", Default: 120, Min: 0, Max: 1800, Unit: "s", Desc: "chiller anti-short-cycle time after a stop"},
		{Name: "backup_on_c", Default: 30, Min: 10, Max: 60, Unit: "degC", Desc: "server room temperature that starts the backup cooling (fixed)"},
		{Name: "backup_kw", Default: 50, Min: 0, Max: 2000, Unit: "kW", Desc: "backup cooling unit capacity"},
		{Name: "overheat_c", Default: 35, Min: 10, Max: 60, Unit: "degC", Desc: "server room temperature that is a safety incident"},
	},
	Faults: []FaultDef{
		{Name: "chiller_trip", Desc: "the chiller's compressor trips and stays off until cleared"},
		{Name: "pump_fail", Desc: "the chilled-water pump fails: no coil cools, and the chiller stops on its flow interlock"},
		{Name: "heat_wave", Unit: "K", Desc: "the outdoor temperature rises by the given amount (default 8 K)"},
	},
	Programs:  []string{"standard", "tampered"},
	Incidents: []string{"server_overheat"},
	New:       newHVAC,
})

type hvac struct {
	p                                    Params
	cO, cS, cW, uaO, uaS, coilO, coilS   float64
	gainO, gainS, chCap, chK, cop, start float64
	occFrom, occTo, backupOn, backupCap  float64
	overheat, restart, outMean, outSwing float64
	t, offT, heat, valveO, valveS        float64
	cmdO, cmdS, intO, intS               float64
	chiller, backup, nightCool           bool
	fanOut, chillerOut, pumpOut          bool
	chillerFailed, pumpFailed, resetSeen bool
}

func newHVAC(p Params) Process {
	return &hvac{p: p, cO: p["office_cap_mjk"] * 1000, cS: p["server_cap_mjk"] * 1000, cW: p["loop_m3"] * hvWaterCp,
		uaO: p["office_ua_kwk"], uaS: p["server_ua_kwk"], coilO: p["office_coil_kwk"], coilS: p["server_coil_kwk"],
		gainO: p["office_gain_kw"], gainS: p["server_load_kw"], chCap: p["chiller_kw"], chK: p["chiller_gain_kwk"],
		cop: p["chiller_cop"], start: p["start_h"], occFrom: p["occ_start_h"], occTo: p["occ_end_h"],
		backupOn: p["backup_on_c"], backupCap: p["backup_kw"], overheat: p["overheat_c"], restart: p["restart_s"],
		outMean: p["outdoor_c"], outSwing: p["outdoor_swing_c"]}
}

// inHours reports whether hour h is in [from, to), wrapping past midnight.
func inHours(h, from, to float64) bool {
	if from <= to {
		return h >= from && h < to
	}
	return h >= from || h < to
}

// dayHour is the real time of day t seconds after the start.
func (h *hvac) dayHour() float64 { return math.Mod(h.start+h.t/3600, 24) }

func (h *hvac) outdoor() float64 {
	return h.outMean + h.outSwing*math.Cos(2*math.Pi*(h.dayHour()-15)/24) + h.heat
}

func (h *hvac) officeGain() float64 {
	if inHours(h.dayHour(), h.occFrom, h.occTo) {
		return h.gainO
	}
	return hvUnoccGain * h.gainO
}

func (h *hvac) Init(v []float64) {
	v[hvAuto], v[hvChillerOn], v[hvCHWPump] = 1, 1, 1
	v[hvClock] = math.Mod(h.start, 24)
	v[hvOfficeSPOcc], v[hvOfficeSPUnocc], v[hvServerSP], v[hvCHWSP] = 24, 28, 22, 7
	v[hvOccStart], v[hvOccEnd] = h.occFrom, h.occTo
	v[hvAlarmOfficeH], v[hvAlarmServerH], v[hvAlarmServerHH], v[hvCHWLow] = 28, 27, 29, 3
	v[hvKp], v[hvTi] = 20, 300
	to, ts := h.p["office0_c"], h.p["server0_c"]
	v[hvOfficeTemp], v[hvServerTemp] = to, ts
	h.chiller, h.chillerOut, h.pumpOut = true, true, true
	occ := inHours(v[hvClock], h.occFrom, h.occTo)
	v[hvOccupied] = b2f(occ)
	h.fanOut = occ || to > v[hvOfficeSPUnocc]
	// Start in the steady state the zone temperatures imply: the coils
	// carry each zone's load and the chiller all of it.
	x := h.uaS * (to - ts)
	qo := 0.0
	if h.fanOut {
		qo = math.Max(0, h.officeGain()+h.uaO*(h.outdoor()-to)-x)
	}
	qs := math.Max(0, h.gainS+x)
	tw := v[hvCHWSP] + math.Min(qo+qs, h.chCap)/h.chK
	v[hvCHWSupply] = tw
	if to > tw {
		h.valveO = clamp(100*qo/(h.coilO*(to-tw)), 0, 100)
	}
	if ts > tw {
		h.valveS = clamp(100*qs/(h.coilS*(ts-tw)), 0, 100)
	}
	h.cmdO, h.intO, h.cmdS, h.intS = h.valveO, h.valveO, h.valveS, h.valveS
	v[hvOfficeManual], v[hvServerManual] = h.valveO, h.valveS
	qch, _, _, _ := h.loads(v, to, ts, tw)
	h.publish(v, qch)
}

// loads are the chiller's and the coils' heat flows (kW) at the given
// temperatures, and whether the pump runs.
func (h *hvac) loads(v []float64, to, ts, tw float64) (qch, qo, qs float64, pump bool) {
	pump = h.pumpOut && !h.pumpFailed
	if h.chiller {
		qch = clamp(h.chK*(tw-v[hvCHWSP]), 0, h.chCap)
	}
	if pump {
		if h.fanOut {
			qo = h.valveO / 100 * h.coilO * math.Max(0, to-tw)
		}
		qs = h.valveS / 100 * h.coilS * math.Max(0, ts-tw)
	}
	return qch, qo, qs, pump
}

func (h *hvac) Step(v []float64, dt float64) {
	h.t += dt
	v[hvClock] = math.Mod(v[hvClock]+dt/3600, 24) // the PLC's real-time clock
	to, ts, tw := v[hvOfficeTemp], v[hvServerTemp], v[hvCHWSupply]

	// The chiller's onboard controls: it needs flow, and once stopped it
	// waits out its anti-short-cycle time.
	want := h.chillerOut && h.pumpOut && !h.pumpFailed && !h.chillerFailed
	switch {
	case !want:
		if h.chiller {
			h.offT = 0
		}
		h.chiller = false
	case !h.chiller && h.offT >= h.restart:
		h.chiller = true
	}
	if !h.chiller {
		h.offT += dt
	}
	h.valveO = approach(h.valveO, h.cmdO, hvValveRate*dt)
	h.valveS = approach(h.valveS, h.cmdS, hvValveRate*dt)

	// Independent safety layer: a thermostat in the server room runs the
	// backup unit; only the bypass holds it off.
	switch {
	case f2b(v[hvBypass]):
		h.backup = false
	case h.backup:
		h.backup = ts > h.backupOn-hvBackupBand
	default:
		h.backup = ts >= h.backupOn
	}
	qb := 0.0
	if h.backup {
		qb = h.backupCap
	}
	qch, qo, qs, _ := h.loads(v, to, ts, tw)
	x := h.uaS * (to - ts)
	v[hvOfficeTemp] = to + (h.officeGain()+h.uaO*(h.outdoor()-to)-qo-x)/h.cO*dt
	v[hvServerTemp] = ts + (h.gainS+x-qs-qb)/h.cS*dt
	v[hvCHWSupply] = tw + (qo+qs-qch)/h.cW*dt
	v[hvServerOverheat] = b2f(v[hvServerTemp] >= h.overheat)
	h.publish(v, qch)
}

func (h *hvac) publish(v []float64, qch float64) {
	v[hvChillerRunning] = b2f(h.chiller)
	v[hvPumpRunning] = b2f(h.pumpOut && !h.pumpFailed)
	v[hvOfficeFan] = b2f(h.fanOut)
	v[hvBackupCooling] = b2f(h.backup)
	v[hvOutdoorTemp] = h.outdoor()
	v[hvOfficeValve], v[hvServerValve] = h.valveO, h.valveS
	v[hvCoolingLoad] = qch
	v[hvChillerPower] = qch / h.cop
}

func (h *hvac) Scan(v, m []float64, _ []bool, dt float64, program int) {
	tampered := program != 0
	to, ts, tw := m[hvOfficeTemp], m[hvServerTemp], m[hvCHWSupply]
	occ := inHours(v[hvClock], v[hvOccStart], v[hvOccEnd]) || f2b(v[hvOccOverride])
	v[hvOccupied] = b2f(occ)
	sp := v[hvOfficeSPUnocc]
	if occ {
		sp = v[hvOfficeSPOcc]
	}
	h.nightCool = alarmHigh(h.nightCool, to, v[hvOfficeSPUnocc], 1)
	h.fanOut = occ || h.nightCool

	if f2b(v[hvReset]) && tw > v[hvCHWLow]+2 {
		v[hvFreezeTrip] = 0
	}
	if tw <= v[hvCHWLow] {
		v[hvFreezeTrip] = 1
	}
	h.pumpOut = f2b(v[hvCHWPump])
	h.chillerOut = f2b(v[hvChillerOn]) && !f2b(v[hvFreezeTrip]) && !tampered

	switch {
	case !f2b(v[hvAuto]):
		h.cmdO, h.cmdS = v[hvOfficeManual], v[hvServerManual]
		h.intO, h.intS = h.cmdO, h.cmdS
	default:
		if h.fanOut {
			h.cmdO = piStep(&h.intO, to-sp, v[hvKp], v[hvTi], dt, 0, 100)
		} else {
			h.cmdO, h.intO = 0, 0
		}
		h.cmdS = piStep(&h.intS, ts-v[hvServerSP], v[hvKp], v[hvTi], dt, 0, 100)
	}
	if tampered {
		h.cmdS, h.intS = 0, 0
		v[hvServerTempH], v[hvServerTempHH] = 0, 0
	} else {
		v[hvServerTempH] = b2f(alarmHigh(f2b(v[hvServerTempH]), ts, v[hvAlarmServerH], 0.5))
		v[hvServerTempHH] = b2f(alarmHigh(f2b(v[hvServerTempHH]), ts, v[hvAlarmServerHH], 0.5))
	}
	v[hvOfficeTempH] = b2f(alarmHigh(f2b(v[hvOfficeTempH]), to, v[hvAlarmOfficeH], 0.5))
	v[hvCHWTempH] = b2f(alarmHigh(f2b(v[hvCHWTempH]), tw, v[hvCHWSP]+hvCHWHighDelta, 0.5))
	h.resetSeen = clearPulse(v, hvReset, h.resetSeen)
}

func (h *hvac) Fault(name string, value float64, on bool) error {
	switch name {
	case "chiller_trip":
		h.chillerFailed = on
	case "pump_fail":
		h.pumpFailed = on
	case "heat_wave":
		switch {
		case !on:
			h.heat = 0
		case value != 0:
			h.heat = value
		default:
			h.heat = 8
		}
	default:
		return fmt.Errorf("hvac has no fault %q", name)
	}
	return nil
}

func (h *hvac) saveFields() ([]*float64, []*bool) {
	return []*float64{&h.t, &h.offT, &h.heat, &h.valveO, &h.valveS, &h.cmdO, &h.cmdS, &h.intO, &h.intS},
		[]*bool{&h.chiller, &h.backup, &h.nightCool, &h.fanOut, &h.chillerOut, &h.pumpOut, &h.chillerFailed, &h.pumpFailed, &h.resetSeen}
}

func (h *hvac) save() []float64        { return packState(h.saveFields()) }
func (h *hvac) load(s []float64) error { f, b := h.saveFields(); return unpackState(s, f, b) }
