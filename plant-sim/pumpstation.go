package plantsim

import (
	"fmt"
	"math"
)

// Pump station tag indices.
const (
	psAuto = iota
	psRun
	psDuty2
	psBypass
	psReset

	psPump1Running
	psPump2Running
	psValveOpen
	psLevelLL
	psLevelL
	psLevelH
	psDischargeH
	psDischargeL
	psTripSuction
	psTripDischarge
	psMainBurst
	psPumpDamaged

	psLevel
	psInflow
	psFlow
	psSuctionP
	psDischargeP
	psSpeed
	psValve
	psPower

	psPressureSP
	psSpeedManual
	psValveSP
	psValveRamp
	psLevelStop
	psAlarmLevelL
	psAlarmLevelH
	psAlarmPH
	psAlarmPL
	psKp
	psTi
	psNumTags
)

const (
	psRho      = 1000.0 // water density, kg/m³
	psG        = 9.81   // m/s²
	psBuckets  = 32     // velocity-drop history over one wave round trip
	psVFDRamp  = 10.0   // pump drive speed ramp, %/s
	psMinSpeed = 30.0   // the drive's minimum speed in auto, %
	psDryLevel = 0.05   // reservoir level below which a running pump draws air, m
	psDryS     = 5.0    // seconds of dry running that wreck a pump
)

var pumpStationModel = newModel(Model{
	Name:  "pump-station",
	Title: "Distribution pump station with surge",
	Desc: "A booster station lifts water from a ground reservoir into a distribution main. Two pumps, duty and " +
		"standby, on a variable-speed drive; the PLC holds the discharge pressure with a PI loop on the " +
		"speed, starts the standby when the duty pump fails, " +
		"stops the pumps at low reservoir level, and ramps the main's control valve so it never closes faster " +
		"than its ramp time. Closing the valve faster than the main's critical time 2L/a gives a pressure surge " +
		"(water hammer) up to Joukowsky's ρ·a·ΔV. The independent safety layer stops the pumps on low suction " +
		"pressure and on high discharge pressure at fixed settings unless bypassed, but no trip undoes a surge. " +
		"A burst main and a pump wrecked by running dry are safety incidents (latched).",
	Equations: []string{
		"Pump curve, n pumps in parallel at speed s (fraction): H_p = H₀·s² − K_p·(Q/n)², K_p = (H₀ − H_r)/Q_r² from shutoff_head_m, rated_head_m, rated_flow_m3h.",
		"System: the discharge head H_d = h + z − K_s·Q² + H_p must equal H_st + (K_m + K_v/x²)·Q², x the valve opening (fraction), K_m, K_v, K_s the main's, the open valve's and the suction line's losses at rated flow divided by Q_r². Hence Q = √((h + z + H₀s² − H_st)/(K_p/n² + K_s + K_m + K_v/x²)), 0 when the numerator is not positive (the check valves hold).",
		"Reservoir: A·dh/dt = Q_in − Q; an empty reservoir (h ≤ 0) passes only Q_in, and a pump running below 0.05 m for 5 s is wrecked (pump_damaged).",
		"Pressures (kPa, gauge, at the pump centreline): suction p_s = ρg·(h + z − K_s·Q²)/1000; discharge p_d = ρg·(H_d + ΔH)/1000, H_d = H_st with no pump running.",
		"Surge: ΔH = (a/g)·ΣΔV, the drops of the main's velocity V = Q/A_main while the valve is closing, summed over the last wave round trip 2L/a. A closure faster than 2L/a gives Joukowsky's a·ΔV/g; a slower one Michaud's 2·L·V/(g·T). Down-surges after pump trips are not modelled.",
		"Power drawn: P = ρ·g·Q·H_p / η (kW).",
		"PLC: in auto speed = PI(pressure_sp − p_d) within 30–100% (held at 30% while no pump runs), in manual speed_manual; the drive ramps at 10 %/s. The duty pump (pump 2 if duty2) runs with run and no level_ll; the standby starts 3 s after the duty pump fails to run, and stops once it runs again. The valve command moves toward valve_sp at 100/valve_ramp_s %/s (at once when 0); the actuator itself travels at most 100/actuator_stroke_s %/s.",
		"Alarms with hysteresis: level_ll (the pump stop), level_l, level_h (0.05 m), discharge_h, discharge_l (10 kPa).",
		"Safety layer on true pressures: p_s ≤ sis_suction_kpa latches trip_suction (reset 10 kPa above), p_d ≥ sis_discharge_kpa latches trip_discharge (reset 50 kPa below); either stops every pump. Only bypass defeats them.",
		"Incidents: main_burst when p_d ≥ burst_kpa (the main then loses most of its static head and resistance); pump_damaged as above.",
		"Tampered program: the pumps run at full speed whatever the mode, the valve is ramped shut (dead-heading the pumps) and the high-discharge alarm never shows.",
	},
	Tags: []TagDef{
		psAuto:   {Name: "auto", Table: Coil, Class: ClassMode, Desc: "1 = PI discharge pressure control by pump speed, 0 = manual speed"},
		psRun:    {Name: "run", Table: Coil, Class: ClassCommand, Desc: "station run command (the duty pump, or the standby when the duty pump fails)"},
		psDuty2:  {Name: "duty2", Table: Coil, Class: ClassMode, Desc: "1 = pump 2 is duty and pump 1 standby, 0 = the reverse"},
		psBypass: {Name: "bypass", Table: Coil, Class: ClassBypass, Desc: "1 = safety layer bypassed (low-suction and high-discharge trips defeated)"},
		psReset:  {Name: "reset", Table: Coil, Class: ClassCommand, Desc: "write 1 to reset safety trips once pressures are back inside their reset bands"},

		psPump1Running:  {Name: "pump1_running", Table: DiscreteInput, Class: ClassFeedback, Desc: "pump 1 running"},
		psPump2Running:  {Name: "pump2_running", Table: DiscreteInput, Class: ClassFeedback, Desc: "pump 2 running"},
		psValveOpen:     {Name: "valve_open", Table: DiscreteInput, Class: ClassFeedback, Desc: "main control valve more than 2% open"},
		psLevelLL:       {Name: "level_ll", Table: DiscreteInput, Class: ClassAlarm, Desc: "reservoir low-low at level_stop (pumps stopped)"},
		psLevelL:        {Name: "level_l", Table: DiscreteInput, Class: ClassAlarm, Desc: "reservoir low level"},
		psLevelH:        {Name: "level_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "reservoir high level"},
		psDischargeH:    {Name: "discharge_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "high discharge pressure"},
		psDischargeL:    {Name: "discharge_l", Table: DiscreteInput, Class: ClassAlarm, Desc: "low discharge pressure (supply to the zone failing)"},
		psTripSuction:   {Name: "trip_suction", Table: DiscreteInput, Class: ClassTrip, Desc: "safety layer: low suction pressure, pumps stopped (latched)"},
		psTripDischarge: {Name: "trip_discharge", Table: DiscreteInput, Class: ClassTrip, Desc: "safety layer: high discharge pressure, pumps stopped (latched)"},
		psMainBurst:     {Name: "main_burst", Table: DiscreteInput, Class: ClassTrip, Desc: "the distribution main burst (safety incident, latched)"},
		psPumpDamaged:   {Name: "pump_damaged", Table: DiscreteInput, Class: ClassTrip, Desc: "a pump was wrecked running dry (safety incident, latched)"},

		psLevel:      {Name: "level", Table: InputRegister, Class: ClassProcess, Unit: "m", Min: 0, Max: 20, Noise: 0.0002, Desc: "reservoir level"},
		psInflow:     {Name: "inflow", Table: InputRegister, Class: ClassProcess, Unit: "m3/h", Min: 0, Max: 5000, Noise: 0.0002, Desc: "reservoir inflow"},
		psFlow:       {Name: "flow", Table: InputRegister, Class: ClassProcess, Unit: "m3/h", Min: 0, Max: 5000, Noise: 0.0002, Desc: "station discharge flow into the main"},
		psSuctionP:   {Name: "suction_p", Table: InputRegister, Class: ClassProcess, Unit: "kPa", Min: -100, Max: 300, Noise: 0.0005, Desc: "pump suction pressure"},
		psDischargeP: {Name: "discharge_p", Table: InputRegister, Class: ClassProcess, Unit: "kPa", Min: 0, Max: 3000, Noise: 0.0002, Desc: "discharge header pressure"},
		psSpeed:      {Name: "speed", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 100, Desc: "pump drive speed"},
		psValve:      {Name: "valve", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 100, Desc: "main control valve position"},
		psPower:      {Name: "power", Table: InputRegister, Class: ClassProcess, Unit: "kW", Min: 0, Max: 5000, Noise: 0.0005, Desc: "electric power drawn by the pumps"},

		psPressureSP:  {Name: "pressure_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "kPa", Min: 0, Max: 3000, Desc: "discharge pressure setpoint (initially pressure_sp_kpa)"},
		psSpeedManual: {Name: "speed_manual", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Desc: "pump speed in manual"},
		psValveSP:     {Name: "valve_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Desc: "main control valve opening (initially 100)"},
		psValveRamp:   {Name: "valve_ramp_s", Table: HoldingRegister, Class: ClassTuning, Unit: "s", Min: 0, Max: 3600, Desc: "the PLC's valve ramp: full-travel time (initially 300); 0 moves the valve as fast as the actuator goes"},
		psLevelStop:   {Name: "level_stop", Table: HoldingRegister, Class: ClassLimit, Unit: "m", Min: 0, Max: 20, Desc: "reservoir level at which the PLC stops the pumps (initially 1.0)"},
		psAlarmLevelL: {Name: "alarm_level_l", Table: HoldingRegister, Class: ClassLimit, Unit: "m", Min: 0, Max: 20, Desc: "low level alarm limit (initially 1.5)"},
		psAlarmLevelH: {Name: "alarm_level_h", Table: HoldingRegister, Class: ClassLimit, Unit: "m", Min: 0, Max: 20, Desc: "high level alarm limit (initially 90% of the reservoir height)"},
		psAlarmPH:     {Name: "alarm_p_h", Table: HoldingRegister, Class: ClassLimit, Unit: "kPa", Min: 0, Max: 3000, Desc: "high discharge pressure alarm limit (initially 700)"},
		psAlarmPL:     {Name: "alarm_p_l", Table: HoldingRegister, Class: ClassLimit, Unit: "kPa", Min: 0, Max: 3000, Desc: "low discharge pressure alarm limit (initially 400)"},
		psKp:          {Name: "kp", Table: HoldingRegister, Class: ClassTuning, Unit: "%/kPa", Min: 0, Max: 10, Desc: "pressure PI proportional gain"},
		psTi:          {Name: "ti", Table: HoldingRegister, Class: ClassTuning, Unit: "s", Min: 1, Max: 3600, Desc: "pressure PI integral time"},
	},
	Params: []ParamDef{
		{Name: "reservoir_area_m2", Default: 100, Min: 10, Max: 10000, Unit: "m2", Desc: "reservoir cross-section"},
		{Name: "reservoir_height_m", Default: 5, Min: 1, Max: 20, Unit: "m", Desc: "reservoir height (it spills over the top)"},
		{Name: "level0_m", Default: 3, Min: 0, Max: 20, Unit: "m", Desc: "initial reservoir level"},
		{Name: "inflow_m3h", Default: 330, Min: 0, Max: 5000, Unit: "m3/h", Desc: "reservoir inflow (an input another unit's outflow can drive)"},
		{Name: "suction_head_m", Default: 1, Min: 0, Max: 10, Unit: "m", Desc: "reservoir floor above the pump centreline"},
		{Name: "suction_loss_m", Default: 0.5, Min: 0, Max: 10, Unit: "m", Desc: "suction line loss at rated flow"},
		{Name: "shutoff_head_m", Default: 115, Min: 10, Max: 300, Unit: "m", Desc: "one pump's head at zero flow, full speed"},
		{Name: "rated_flow_m3h", Default: 300, Min: 10, Max: 5000, Unit: "m3/h", Desc: "one pump's rated flow at full speed"},
		{Name: "rated_head_m", Default: 85, Min: 5, Max: 300, Unit: "m", Desc: "one pump's head at rated flow, full speed (below the shutoff head)"},
		{Name: "static_head_m", Default: 35, Min: 0, Max: 200, Unit: "m", Desc: "zone elevation plus service pressure above the pump centreline"},
		{Name: "main_loss_m", Default: 15, Min: 0, Max: 200, Unit: "m", Desc: "friction loss in the main at rated flow"},
		{Name: "valve_loss_m", Default: 2, Min: 0.01, Max: 50, Unit: "m", Desc: "loss in the fully open control valve at rated flow"},
		{Name: "main_length_m", Default: 3000, Min: 10, Max: 100000, Unit: "m", Desc: "length of the main from the station to the valve"},
		{Name: "main_diameter_m", Default: 0.4, Min: 0.05, Max: 3, Unit: "m", Desc: "inside diameter of the main"},
		{Name: "wave_speed_ms", Default: 1000, Min: 100, Max: 1500, Unit: "m/s", Desc: "pressure wave speed in the main (ductile iron 1000–1300, PVC 300–500)"},
		{Name: "actuator_stroke_s", Default: 2, Min: 0.1, Max: 600, Unit: "s", Desc: "the valve actuator's fastest full travel"},
		{Name: "pressure_sp_kpa", Default: 550, Min: 0, Max: 3000, Unit: "kPa", Desc: "initial discharge pressure setpoint"},
		{Name: "efficiency_pct", Default: 75, Min: 10, Max: 95, Unit: "%", Desc: "pump and motor efficiency"},
		{Name: "sis_suction_kpa", Default: 12, Min: -100, Max: 300, Unit: "kPa", Desc: "safety-layer low-suction trip (fixed)"},
		{Name: "sis_discharge_kpa", Default: 900, Min: 0, Max: 3000, Unit: "kPa", Desc: "safety-layer high-discharge trip (fixed)"},
		{Name: "burst_kpa", Default: 1000, Min: 0, Max: 3000, Unit: "kPa", Desc: "pressure at which the main bursts (PN10 pipe: 1000 kPa)"},
	},
	Faults: []FaultDef{
		{Name: "pump_trip", Unit: "pump", Desc: "the motor of pump 1 or 2 (the value; default 1) trips and stays off until the fault is cleared (which restores both)"},
		{Name: "valve_stuck", Desc: "the main control valve sticks at its current position"},
		{Name: "strainer_clog", Unit: "m", Desc: "a clogged suction strainer adds the given loss at rated flow (default 3 m): suction pressure falls"},
	},
	Programs:  []string{"standard", "tampered"},
	Incidents: []string{"main_burst", "pump_damaged"},
	New:       newPumpStation,
})

type pumpStation struct {
	p                                         Params
	area, height, inflow, z, h0, kp, hst      float64
	ksuc, km, kv, amain, wave, stroke         float64
	sisSuction, sisDischarge, burst, eff, bkt float64

	speed, speedCmd, valve, valveCmd, integral float64
	clog, dry, vPrev, bucketT                  float64
	failT                                      float64
	surge                                      [psBuckets]float64
	bucket                                     float64 // index into surge, whole
	run, failed, wrecked                       [2]bool
	valveStuck, resetSeen                      bool
}

func newPumpStation(p Params) Process {
	qr := p["rated_flow_m3h"]
	s := &pumpStation{p: p, area: p["reservoir_area_m2"], height: p["reservoir_height_m"], inflow: p["inflow_m3h"],
		z: p["suction_head_m"], h0: p["shutoff_head_m"], kp: math.Max(0, p["shutoff_head_m"]-p["rated_head_m"]) / (qr * qr),
		hst: p["static_head_m"], ksuc: p["suction_loss_m"] / (qr * qr), km: p["main_loss_m"] / (qr * qr), kv: p["valve_loss_m"] / (qr * qr),
		amain: math.Pi / 4 * p["main_diameter_m"] * p["main_diameter_m"], wave: p["wave_speed_ms"], stroke: p["actuator_stroke_s"],
		sisSuction: p["sis_suction_kpa"], sisDischarge: p["sis_discharge_kpa"], burst: p["burst_kpa"], eff: p["efficiency_pct"] / 100}
	s.bkt = 2 * p["main_length_m"] / s.wave / psBuckets
	return s
}

// flow is the steady flow with n pumps at speed sp (fraction), the valve x
// open (fraction) and reservoir level h.
func (s *pumpStation) flow(sp float64, n int, x, h float64, burst bool) float64 {
	if n == 0 || x <= 0 {
		return 0
	}
	hst, km := s.system(burst)
	head := h + s.z + s.h0*sp*sp - hst
	if head <= 0 {
		return 0
	}
	nn := float64(n)
	return math.Sqrt(head / (s.kp/(nn*nn) + s.ksuc + s.clog + km + s.kv/(x*x)))
}

// system is the main's static head and loss coefficient: a burst main
// loses most of both to the break.
func (s *pumpStation) system(burst bool) (hst, km float64) {
	if burst {
		return 0.2 * s.hst, 0.25 * s.km
	}
	return s.hst, s.km
}

func (s *pumpStation) Init(v []float64) {
	v[psAuto], v[psRun] = 1, 1
	v[psPressureSP] = s.p["pressure_sp_kpa"]
	v[psValveSP] = 100
	v[psValveRamp] = 300
	v[psLevelStop], v[psAlarmLevelL], v[psAlarmLevelH] = 1.0, 1.5, 0.9*s.height
	v[psAlarmPH], v[psAlarmPL] = 700, 400
	v[psKp], v[psTi] = 0.05, 5
	h := math.Min(s.p["level0_m"], s.height)
	v[psLevel] = h
	s.valve, s.valveCmd = 100, 100
	s.run[0] = true
	// Start at the operating point: the speed at which one pump, valve
	// open, makes the setpoint pressure.
	hd := v[psPressureSP] * 1000 / (psRho * psG)
	sp := 0.0
	if hd > s.hst {
		q2 := (hd - s.hst) / (s.km + s.kv)
		sp = math.Sqrt(math.Max(0, (hd-(h+s.z-s.ksuc*q2)+s.kp*q2)/s.h0))
	}
	s.speed = clamp(100*sp, psMinSpeed, 100)
	s.speedCmd, s.integral = s.speed, s.speed
	v[psSpeedManual] = s.speed
	q := s.flow(s.speed/100, 1, 1, h, false)
	s.vPrev = q / 3600 / s.amain
	v[psPump1Running] = 1
	s.publish(v, q, 1, h, 0)
}

func (s *pumpStation) Step(v []float64, dt float64) {
	bypass, reset := f2b(v[psBypass]), f2b(v[psReset])
	ps, pd := v[psSuctionP], v[psDischargeP]
	latchTrip(v, psTripSuction, bypass, ps <= s.sisSuction, reset && ps > s.sisSuction+10)
	latchTrip(v, psTripDischarge, bypass, pd >= s.sisDischarge, reset && pd < s.sisDischarge-50)
	stopped := (f2b(v[psTripSuction]) || f2b(v[psTripDischarge])) && !bypass

	n := 0
	var running [2]bool
	for i := range running {
		running[i] = s.run[i] && !s.failed[i] && !s.wrecked[i] && !stopped
		v[psPump1Running+i] = b2f(running[i])
		if running[i] {
			n++
		}
	}
	prev := s.valve
	if !s.valveStuck {
		s.valve = approach(s.valve, s.valveCmd, 100/s.stroke*dt)
	}
	closing := s.valve < prev
	if n == 0 {
		s.speed = 0
	} else {
		s.speed = approach(s.speed, s.speedCmd, psVFDRamp*dt)
	}
	burst := f2b(v[psMainBurst])
	h := v[psLevel]
	q := s.flow(s.speed/100, n, s.valve/100, h, burst)
	if h <= 0 {
		q = math.Min(q, s.inflow)
	}
	// Running dry: a pump below the air-entrainment level for long is wrecked.
	if n > 0 && h <= psDryLevel {
		s.dry += dt
		if s.dry >= psDryS {
			v[psPumpDamaged] = 1
			s.wrecked[0] = s.wrecked[0] || running[0]
			s.wrecked[1] = s.wrecked[1] || running[1]
		}
	} else {
		s.dry = 0
	}
	h = clamp(h+(s.inflow-q)/3600/s.area*dt, 0, s.height)

	// Surge: velocity lost while the valve closes, over the last 2L/a.
	vel := q / 3600 / s.amain
	if closing && vel < s.vPrev {
		s.surge[int(s.bucket)] += s.vPrev - vel
	}
	s.vPrev = vel
	sum := 0.0
	for _, d := range s.surge {
		sum += d
	}
	s.bucketT += dt
	if steps := int(s.bucketT / s.bkt); steps >= psBuckets {
		clear(s.surge[:])
		s.bucketT -= float64(steps) * s.bkt
	} else {
		for ; steps > 0; steps-- {
			s.bucketT -= s.bkt
			s.bucket = float64((int(s.bucket) + 1) % psBuckets)
			s.surge[int(s.bucket)] = 0
		}
	}
	s.publish(v, q, n, h, s.wave/psG*sum)
	if v[psDischargeP] >= s.burst {
		v[psMainBurst] = 1
	}
}

// publish computes the pressures and power for flow q with n pumps running
// and a surge head dh (m), and writes the process values.
func (s *pumpStation) publish(v []float64, q float64, n int, h, dh float64) {
	suction := h + s.z - (s.ksuc+s.clog)*q*q
	hp := 0.0
	hd, _ := s.system(f2b(v[psMainBurst]))
	if n > 0 {
		nn := float64(n)
		sp := s.speed / 100
		hp = s.h0*sp*sp - s.kp*q*q/(nn*nn)
		hd = suction + hp
	}
	v[psLevel] = h
	v[psInflow] = s.inflow
	v[psFlow] = q
	v[psSuctionP] = psRho * psG * suction / 1000
	v[psDischargeP] = psRho * psG * (hd + dh) / 1000
	v[psSpeed] = s.speed
	v[psValve] = s.valve
	v[psValveOpen] = b2f(s.valve > 2)
	v[psPower] = psRho * psG * q / 3600 * math.Max(0, hp) / s.eff / 1000
}

func (s *pumpStation) Scan(v, m []float64, _ []bool, dt float64, program int) {
	tampered := program != 0
	level, pd := m[psLevel], m[psDischargeP]
	v[psLevelLL] = b2f(alarmLow(f2b(v[psLevelLL]), level, v[psLevelStop], 0.05))
	v[psLevelL] = b2f(alarmLow(f2b(v[psLevelL]), level, v[psAlarmLevelL], 0.05))
	v[psLevelH] = b2f(alarmHigh(f2b(v[psLevelH]), level, v[psAlarmLevelH], 0.05))
	v[psDischargeL] = b2f(alarmLow(f2b(v[psDischargeL]), pd, v[psAlarmPL], 10))
	if tampered {
		v[psDischargeH] = 0
	} else {
		v[psDischargeH] = b2f(alarmHigh(f2b(v[psDischargeH]), pd, v[psAlarmPH], 10))
	}

	duty := 0
	if f2b(v[psDuty2]) {
		duty = 1
	}
	stby := 1 - duty
	on := f2b(v[psRun]) && !f2b(v[psLevelLL])
	// Duty failover: the standby takes over 3 s after the duty pump was
	// commanded and did not run.
	switch {
	case !on || f2b(m[psPump1Running+duty]):
		s.failT = 0
	default:
		s.failT += dt
	}
	s.run[duty] = on
	s.run[stby] = on && s.failT >= 3

	target := v[psValveSP]
	switch {
	case tampered:
		s.speedCmd, s.integral = 100, 100
		target = 0
	case f2b(v[psAuto]) && !f2b(m[psPump1Running]) && !f2b(m[psPump2Running]):
		// No pump running (stopped, failed or tripped): the loop waits at
		// minimum speed instead of winding up against a dead header.
		s.speedCmd, s.integral = psMinSpeed, psMinSpeed
	case f2b(v[psAuto]):
		s.speedCmd = piStep(&s.integral, v[psPressureSP]-pd, v[psKp], v[psTi], dt, psMinSpeed, 100)
	default:
		s.speedCmd = v[psSpeedManual]
		s.integral = clamp(s.speedCmd, psMinSpeed, 100)
	}
	if ramp := v[psValveRamp]; ramp <= 0 {
		s.valveCmd = target
	} else {
		s.valveCmd = approach(s.valveCmd, target, 100/ramp*dt)
	}
	s.resetSeen = clearPulse(v, psReset, s.resetSeen)
}

func (s *pumpStation) Fault(name string, value float64, on bool) error {
	switch name {
	case "pump_trip":
		switch {
		case !on:
			s.failed = [2]bool{}
		case value == 0 || value == 1:
			s.failed[0] = true
		case value == 2:
			s.failed[1] = true
		default:
			return fmt.Errorf("pump_trip: pump %g: the station has pumps 1 and 2", value)
		}
	case "valve_stuck":
		s.valveStuck = on
	case "strainer_clog":
		qr := s.p["rated_flow_m3h"]
		switch {
		case !on:
			s.clog = 0
		case value > 0:
			s.clog = value / (qr * qr)
		default:
			s.clog = 3 / (qr * qr)
		}
	default:
		return fmt.Errorf("pump-station has no fault %q", name)
	}
	return nil
}

func (s *pumpStation) saveFields() ([]*float64, []*bool) {
	f := []*float64{&s.speed, &s.speedCmd, &s.valve, &s.valveCmd, &s.integral, &s.clog, &s.dry, &s.vPrev, &s.bucketT,
		&s.failT}
	for i := range s.surge {
		f = append(f, &s.surge[i])
	}
	f = append(f, &s.bucket)
	return f, []*bool{&s.run[0], &s.run[1], &s.failed[0], &s.failed[1], &s.wrecked[0], &s.wrecked[1], &s.valveStuck, &s.resetSeen}
}

func (s *pumpStation) save() []float64 { return packState(s.saveFields()) }
func (s *pumpStation) load(st []float64) error {
	f, b := s.saveFields()
	// The surge bucket index is the last float; check it before anything
	// changes, so a bad snapshot leaves the process as it was.
	if len(st) == len(f)+len(b) {
		if k := st[len(f)-1]; k < 0 || k >= psBuckets || k != math.Trunc(k) {
			return fmt.Errorf("surge bucket %g is outside 0..%d", k, psBuckets-1)
		}
	}
	return unpackState(st, f, b)
}
