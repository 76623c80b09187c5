package plantsim

import (
	"fmt"
	"math"
)

// Dosing tag indices.
const (
	dsAuto = iota
	dsPumpRun
	dsFill
	dsBypass
	dsReset

	dsPumpRunning
	dsFillOpen
	dsFlowL
	dsTankLL
	dsTankL
	dsTankH
	dsDoseH
	dsPHH
	dsPHL
	dsDoseTrip
	dsSISTrip
	dsUnsafe

	dsFlow
	dsOutflow
	dsPumpSpeed
	dsPumpFlow
	dsDose
	dsResidual
	dsPH
	dsTankLevel

	dsNaOHSP
	dsPumpManual
	dsDoseLimit
	dsAlarmDoseH
	dsAlarmPHH
	dsAlarmPHL
	dsAlarmFlowL
	dsAlarmTankL
	dsKp
	dsTi
	dsNumTags
)

// Dosing chemistry and sizing constants.
const (
	dsCells   = 20      // mixing cells between the dosing point and the analyzer
	dsMaxPPM  = 20000   // top of every ppm range: admits Oldsmar's 11,100
	dsPPMPerM = 40000.0 // ppm (mg/L) of NaOH in 1 mol/L (40 g/mol)
	dsKw      = 1e-14   // water's ion product at 25 °C
	dsFilterS = 2.0     // time constant of the PLC's computed-dose filter, s
)

// Carbonic acid dissociation constants (25 °C): pKa 6.35 and 10.33.
var dsK1, dsK2 = math.Pow(10, -6.35), math.Pow(10, -10.33)

var dosingModel = newModel(Model{
	Name:  "dosing",
	Title: "Caustic soda dosing with pH monitoring",
	Desc: "Sodium hydroxide (NaOH) dosed into a water flow for pH correction, as at Oldsmar in 2021, where " +
		"an intruder raised the NaOH setpoint from 100 to 11,100 ppm through the HMI. A metering pump draws " +
		"50% caustic from a day tank; the PLC paces the dose to the measured water flow and holds the pump's " +
		"flow with a PI loop. The dosed water mixes on its way to a pH analyzer (a mixing and transport delay). " +
		"The PLC stops the pump on low flow, an empty day tank, or a computed dose above its interlock limit " +
		"(latched). The independent safety layer reads the true pH at the analyzer: at its fixed trip it stops " +
		"the pump through a hardwired contactor and sends the plant's water to waste, unless bypassed. Water at " +
		"or above the hazard pH sent to distribution is a safety incident. The dose setpoint's range admits 11,100 ppm.",
	Equations: []string{
		"Metering pump: q = s/100 · q_max · w (L/h), s its speed (%) ramping at pump_ramp_pct_s, w the delivered fraction (1 unless worn); NaOH mass flow ṁ = q · c_sol (g/h), c_sol = strength_gl.",
		"Day tank: A_t · dh/dt = Q_fill − q/1000 (m³/h); the fill valve closes at 95% of the tank height (tank_h).",
		"Dose at the dosing point: dose = ṁ / Q (g/m³ = ppm), Q the water flow (m³/h).",
		fmt.Sprintf("Mixing delay: the volume V between dosing point and analyzer is %d well-mixed cells in series (tanks-in-series model), each V/%d: (V/%d)·dC_i/dt = Q·(C_(i−1) − C_i), NaOH entering cell 1; mean residence V/Q, integrated implicitly so it is stable at any flow and conserves mass exactly.", dsCells, dsCells, dsCells),
		"pH at the analyzer from the charge balance of water with total carbonate C_T (mol/L): b + [H⁺] = K_w/[H⁺] + C_T·(K₁[H⁺] + 2K₁K₂)/([H⁺]² + K₁[H⁺] + K₁K₂), b = b₀ + C/40000 the base added (mol/L, C the residual in ppm), b₀ the raw water's from raw_ph; pK₁ 6.35, pK₂ 10.33, K_w 10⁻¹⁴. Solved by safeguarded Newton on pH.",
		"With the defaults 100 ppm gives pH 7.5, 150 ppm 8.6, 300 ppm 9.8 and the pump's 1,520 ppm at full speed 12.3: pH is steep past the carbonate buffer, as operators of caustic dosing know.",
		"PLC: target pump flow q* = dose_sp · Q / c_sol; speed = clamp(100·q*/q_max + PI(q* − q)) in auto (the feedforward alone until the pump runs), pump_manual in manual. Computed dose = q·c_sol/Q (0 while flow_l) filtered over 2 s; dose ≥ dose_limit latches dose_trip; pump permitted only with pump_run, no flow_l, no tank_ll, no dose_trip.",
		"Alarms with hysteresis: flow_l (2 m³/h), tank_ll at 10% and tank_l (2% of height), tank_h at 95% (5%), dose_h (2 ppm), ph_h and ph_l (0.1 pH).",
		"Safety layer: true pH at the analyzer ≥ sis_ph trips (latched): pump contactor open, outlet to waste (outflow 0). Reset below sis_ph − 0.5 with the reset coil. Only bypass defeats it.",
		"Incident: unsafe_water while the outlet is not diverted and the true pH ≥ hazard_ph.",
		"Tampered program: the pump runs flat out whatever the setpoint, the dose interlock and low-flow stop are gone, and the dose and high-pH alarms never show.",
	},
	Tags: []TagDef{
		dsAuto:    {Name: "auto", Table: Coil, Class: ClassMode, Desc: "1 = flow-paced dosing at the setpoint, 0 = manual pump speed"},
		dsPumpRun: {Name: "pump_run", Table: Coil, Class: ClassCommand, Desc: "metering pump run command"},
		dsFill:    {Name: "fill", Table: Coil, Class: ClassCommand, Desc: "open the day tank's fill valve from bulk storage (closes itself at 95%)"},
		dsBypass:  {Name: "bypass", Table: Coil, Class: ClassBypass, Desc: "1 = safety layer bypassed (high-pH trip defeated)"},
		dsReset:   {Name: "reset", Table: Coil, Class: ClassCommand, Desc: "write 1 to reset the dose interlock (when the dose is below its limit) and the safety trip (when pH is 0.5 below the trip)"},

		dsPumpRunning: {Name: "pump_running", Table: DiscreteInput, Class: ClassFeedback, Desc: "metering pump running"},
		dsFillOpen:    {Name: "fill_open", Table: DiscreteInput, Class: ClassFeedback, Desc: "day tank fill valve open"},
		dsFlowL:       {Name: "flow_l", Table: DiscreteInput, Class: ClassAlarm, Desc: "low water flow (pump interlocked off)"},
		dsTankLL:      {Name: "tank_ll", Table: DiscreteInput, Class: ClassAlarm, Desc: "day tank low-low at 10% of its height (pump interlocked off)"},
		dsTankL:       {Name: "tank_l", Table: DiscreteInput, Class: ClassAlarm, Desc: "day tank low"},
		dsTankH:       {Name: "tank_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "day tank high at 95% of its height (fill valve closed)"},
		dsDoseH:       {Name: "dose_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "computed dose high"},
		dsPHH:         {Name: "ph_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "high pH at the analyzer"},
		dsPHL:         {Name: "ph_l", Table: DiscreteInput, Class: ClassAlarm, Desc: "low pH at the analyzer"},
		dsDoseTrip:    {Name: "dose_trip", Table: DiscreteInput, Class: ClassTrip, Desc: "high-dose interlock: computed dose reached dose_limit, pump stopped (latched)"},
		dsSISTrip:     {Name: "sis_trip", Table: DiscreteInput, Class: ClassTrip, Desc: "safety layer tripped on high pH: pump contactor open, water sent to waste (latched)"},
		dsUnsafe:      {Name: "unsafe_water", Table: DiscreteInput, Class: ClassTrip, Desc: "water at or above the hazard pH going to distribution (safety incident)"},

		dsFlow:      {Name: "flow", Table: InputRegister, Class: ClassProcess, Unit: "m3/h", Min: 0, Max: 2000, Noise: 0.0002, Desc: "water flow through the dosing point"},
		dsOutflow:   {Name: "outflow", Table: InputRegister, Class: ClassProcess, Unit: "m3/h", Min: 0, Max: 2000, Noise: 0.0002, Desc: "treated water flow to distribution (0 while sent to waste)"},
		dsPumpSpeed: {Name: "pump_speed", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 100, Desc: "metering pump speed"},
		dsPumpFlow:  {Name: "pump_flow", Table: InputRegister, Class: ClassProcess, Unit: "L/h", Min: 0, Max: 2000, Noise: 0.0002, Desc: "caustic flow (dosing line flowmeter)"},
		dsDose:      {Name: "dose", Table: InputRegister, Class: ClassProcess, Unit: "ppm", Min: 0, Max: dsMaxPPM, Desc: "NaOH added at the dosing point"},
		dsResidual:  {Name: "residual", Table: InputRegister, Class: ClassProcess, Unit: "ppm", Min: 0, Max: dsMaxPPM, Desc: "NaOH in the water at the analyzer"},
		dsPH:        {Name: "ph", Table: InputRegister, Class: ClassProcess, Unit: "pH", Min: 0, Max: 14, Noise: 0.0005, Desc: "pH at the analyzer (plant outlet)"},
		dsTankLevel: {Name: "tank_level", Table: InputRegister, Class: ClassProcess, Unit: "m", Min: 0, Max: 5, Noise: 0.0005, Desc: "caustic day tank level"},

		dsNaOHSP:     {Name: "naoh_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "ppm", Min: 0, Max: dsMaxPPM, Desc: "NaOH dose setpoint (initially naoh_sp_ppm)"},
		dsPumpManual: {Name: "pump_manual", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Desc: "pump speed in manual"},
		dsDoseLimit:  {Name: "dose_limit", Table: HoldingRegister, Class: ClassLimit, Unit: "ppm", Min: 0, Max: dsMaxPPM, Desc: "high-dose interlock limit (initially dose_limit_ppm)"},
		dsAlarmDoseH: {Name: "alarm_dose_h", Table: HoldingRegister, Class: ClassLimit, Unit: "ppm", Min: 0, Max: dsMaxPPM, Desc: "high dose alarm limit (initially 130)"},
		dsAlarmPHH:   {Name: "alarm_ph_h", Table: HoldingRegister, Class: ClassLimit, Unit: "pH", Min: 0, Max: 14, Desc: "high pH alarm limit (initially 8.5)"},
		dsAlarmPHL:   {Name: "alarm_ph_l", Table: HoldingRegister, Class: ClassLimit, Unit: "pH", Min: 0, Max: 14, Desc: "low pH alarm limit (initially 7.0)"},
		dsAlarmFlowL: {Name: "alarm_flow_l", Table: HoldingRegister, Class: ClassLimit, Unit: "m3/h", Min: 0, Max: 2000, Desc: "low flow alarm and pump interlock limit (initially 20% of flow_m3h)"},
		dsAlarmTankL: {Name: "alarm_tank_l", Table: HoldingRegister, Class: ClassLimit, Unit: "m", Min: 0, Max: 5, Desc: "day tank low alarm limit (initially 25% of its height)"},
		dsKp:         {Name: "kp", Table: HoldingRegister, Class: ClassTuning, Unit: "%/(L/h)", Min: 0, Max: 10, Desc: "pump flow PI proportional gain"},
		dsTi:         {Name: "ti", Table: HoldingRegister, Class: ClassTuning, Unit: "s", Min: 1, Max: 3600, Desc: "pump flow PI integral time"},
	},
	Params: []ParamDef{
		{Name: "flow_m3h", Default: 100, Min: 0, Max: 2000, Unit: "m3/h", Desc: "water flow through the dosing point (an input another unit's outflow can drive)"},
		{Name: "strength_gl", Default: 760, Min: 10, Max: 800, Unit: "g/L", Desc: "NaOH in the dosing solution (50% w/w caustic is 760 g/L)"},
		{Name: "pump_lh", Default: 200, Min: 1, Max: 2000, Unit: "L/h", Desc: "metering pump capacity at full speed"},
		{Name: "pump_ramp_pct_s", Default: 20, Min: 0.1, Max: 100, Unit: "%/s", Desc: "metering pump speed ramp"},
		{Name: "naoh_sp_ppm", Default: 100, Min: 0, Max: dsMaxPPM, Unit: "ppm", Desc: "initial dose setpoint"},
		{Name: "dose_limit_ppm", Default: 150, Min: 0, Max: dsMaxPPM, Unit: "ppm", Desc: "initial high-dose interlock limit"},
		{Name: "mixing_m3", Default: 2, Min: 0.05, Max: 100, Unit: "m3", Desc: "volume from the dosing point to the analyzer (72 s at 100 m3/h)"},
		{Name: "raw_ph", Default: 6.9, Min: 4, Max: 9, Unit: "pH", Desc: "pH of the water before dosing"},
		{Name: "carbonate_mmol", Default: 16, Min: 0, Max: 50, Unit: "mmol/L", Desc: "total carbonate (CO2, HCO3-, CO3--) of the raw water: its buffer"},
		{Name: "tank_area_m2", Default: 0.8, Min: 0.05, Max: 20, Unit: "m2", Desc: "day tank cross-section"},
		{Name: "tank_height_m", Default: 2, Min: 0.5, Max: 5, Unit: "m", Desc: "day tank height"},
		{Name: "tank0_m", Default: 1.5, Min: 0, Max: 5, Unit: "m", Desc: "initial day tank level"},
		{Name: "fill_m3h", Default: 0.5, Min: 0, Max: 10, Unit: "m3/h", Desc: "fill flow from bulk storage"},
		{Name: "sis_ph", Default: 10, Min: 7, Max: 14, Unit: "pH", Desc: "safety-layer trip: true pH at the analyzer (fixed)"},
		{Name: "hazard_ph", Default: 11, Min: 7, Max: 14, Unit: "pH", Desc: "pH of water sent to distribution that is a safety incident"},
	},
	Faults: []FaultDef{
		{Name: "flow_loss", Unit: "m3/h", Desc: "the water flow through the dosing point drops to the given value (default 0) whatever feeds it"},
		{Name: "pump_wear", Unit: "%", Desc: "the metering pump delivers only the given share of its nominal flow (default 50%)"},
		{Name: "siphon", Unit: "L/h", Desc: "caustic siphons into the line past a failed anti-siphon valve, pump running or not (default 5 L/h)"},
	},
	Programs:  []string{"standard", "tampered"},
	Incidents: []string{"unsafe_water"},
	New:       newDosing,
})

type dosing struct {
	p                                         Params
	supply, strength, capLH, ramp, cellVol    float64
	tankArea, tankHeight, fillRate            float64
	sisPH, hazardPH, ct, b0                   float64
	speedCmd, speed, integral, doseFilt       float64
	cells                                     [dsCells]float64 // NaOH, ppm
	flowLossTo, wear, siphon                  float64
	permit, fillOut, flowLoss, tankH, resetSn bool
}

func newDosing(p Params) Process {
	d := &dosing{p: p, supply: p["flow_m3h"], strength: p["strength_gl"], capLH: p["pump_lh"], ramp: p["pump_ramp_pct_s"],
		cellVol: p["mixing_m3"] / dsCells, tankArea: p["tank_area_m2"], tankHeight: p["tank_height_m"], fillRate: p["fill_m3h"],
		sisPH: p["sis_ph"], hazardPH: p["hazard_ph"], ct: p["carbonate_mmol"] / 1000, wear: 1}
	// The raw water's base equivalent: what its measured pH says it holds.
	h0 := math.Pow(10, -p["raw_ph"])
	d.b0 = dsKw/h0 + d.ct*dsCarbonateCharge(h0) - h0
	return d
}

// dsCarbonateCharge is the negative charge per mol of total carbonate at
// hydrogen ion activity h: (K1·h + 2·K1·K2)/(h² + K1·h + K1·K2).
func dsCarbonateCharge(h float64) float64 {
	return (dsK1*h + 2*dsK1*dsK2) / (h*h + dsK1*h + dsK1*dsK2)
}

// solvePH returns the pH of the raw water with ppm of NaOH added, starting
// from guess (the last step's pH, so a step usually takes one iteration).
// The charge balance falls strictly with pH, so Newton's steps are kept in
// a shrinking bracket and bisect when they would leave it.
func (d *dosing) solvePH(ppm, guess float64) float64 {
	b := d.b0 + ppm/dsPPMPerM
	lo, hi := 0.0, 14.0
	x := clamp(guess, lo, hi)
	for range 60 {
		h := math.Exp(-x * math.Ln10)
		den := h*h + dsK1*h + dsK1*dsK2
		num := dsK1*h + 2*dsK1*dsK2
		f := b + h - dsKw/h - d.ct*num/den
		if f > 0 {
			lo = x
		} else {
			hi = x
		}
		dnum := (dsK1*den - num*(2*h+dsK1)) / (den * den) // d(charge)/dh
		dfdx := -math.Ln10 * (h + dsKw/h - d.ct*h*dnum)
		nx := x - f/dfdx
		if !(nx > lo && nx < hi) {
			nx = (lo + hi) / 2
		}
		if math.Abs(nx-x) < 1e-9 || hi-lo < 1e-9 {
			return nx
		}
		x = nx
	}
	return x
}

func (d *dosing) Init(v []float64) {
	sp := d.p["naoh_sp_ppm"]
	v[dsAuto], v[dsPumpRun] = 1, 1
	v[dsNaOHSP] = sp
	v[dsDoseLimit] = d.p["dose_limit_ppm"]
	v[dsAlarmDoseH] = 130
	v[dsAlarmPHH], v[dsAlarmPHL] = 8.5, 7.0
	v[dsAlarmFlowL] = 0.2 * d.supply
	v[dsAlarmTankL] = 0.25 * d.tankHeight
	v[dsKp], v[dsTi] = 0.1, 10
	v[dsTankLevel] = math.Min(d.p["tank0_m"], d.tankHeight)
	// Start in steady state: the pump delivers the setpoint dose and the
	// mixing cells hold it all the way to the analyzer.
	d.permit = d.supply > v[dsAlarmFlowL]
	if d.permit && d.supply > 0 {
		q := sp * d.supply / d.strength
		d.speed = clamp(q/d.capLH*100, 0, 100)
		d.speedCmd = d.speed
		dose := d.speed / 100 * d.capLH * d.strength / d.supply
		for i := range d.cells {
			d.cells[i] = dose
		}
		d.doseFilt = dose
	}
	v[dsPH] = d.solvePH(d.cells[dsCells-1], 7)
	v[dsPumpRunning] = b2f(d.permit && v[dsTankLevel] > 0)
	d.publish(v, d.supply, d.speed/100*d.capLH, false)
}

func (d *dosing) Step(v []float64, dt float64) {
	// Independent safety layer on the true pH at the analyzer.
	ph := v[dsPH]
	latchTrip(v, dsSISTrip, f2b(v[dsBypass]), ph >= d.sisPH, f2b(v[dsReset]) && ph < d.sisPH-0.5)
	tripped := f2b(v[dsSISTrip]) && !f2b(v[dsBypass])

	vol := v[dsTankLevel] * d.tankArea
	running := d.permit && !tripped && vol > 0
	if running {
		d.speed = approach(d.speed, d.speedCmd, d.ramp*dt)
	} else {
		d.speed = 0
	}
	q := d.speed / 100 * d.capLH * d.wear
	if vol > 0 {
		q += d.siphon
	}
	// The tank can't give more than it holds.
	if out := q / 1000 * dt / 3600; out > vol {
		q = vol * 1000 * 3600 / dt
	}
	fill := 0.0
	if d.fillOut {
		fill = d.fillRate
	}
	vol += (fill - q/1000) * dt / 3600
	v[dsTankLevel] = clamp(vol/d.tankArea, 0, d.tankHeight)

	flow := d.supply
	if d.flowLoss {
		flow = math.Min(flow, d.flowLossTo)
	}
	// Tanks in series, backward Euler: unconditionally stable, and the mass
	// leaving the last cell is exactly flow·C_last·dt.
	k := flow / 3600 * dt / d.cellVol
	inv := 1 / (1 + k)
	d.cells[0] = (d.cells[0] + q*d.strength/3600*dt/d.cellVol) * inv
	for i := 1; i < dsCells; i++ {
		d.cells[i] = (d.cells[i] + k*d.cells[i-1]) * inv
	}
	ph = d.solvePH(d.cells[dsCells-1], ph)
	v[dsPH] = ph
	v[dsPumpRunning] = b2f(running)
	v[dsUnsafe] = b2f(!tripped && ph >= d.hazardPH)
	d.publish(v, flow, q, tripped)
}

func (d *dosing) publish(v []float64, flow, q float64, diverted bool) {
	v[dsFlow] = flow
	v[dsOutflow] = flow
	if diverted {
		v[dsOutflow] = 0
	}
	v[dsPumpSpeed] = d.speed
	v[dsPumpFlow] = q
	dose := float64(dsMaxPPM)
	if flow > 0 {
		dose = math.Min(dose, q*d.strength/flow)
	} else if q == 0 {
		dose = 0
	}
	v[dsDose] = dose
	v[dsResidual] = math.Min(d.cells[dsCells-1], dsMaxPPM)
	v[dsFillOpen] = b2f(d.fillOut)
}

func (d *dosing) Scan(v, m []float64, _ []bool, dt float64, program int) {
	tampered := program != 0
	flow, q, level, ph := m[dsFlow], m[dsPumpFlow], m[dsTankLevel], m[dsPH]
	v[dsFlowL] = b2f(alarmLow(f2b(v[dsFlowL]), flow, v[dsAlarmFlowL], 2))
	// The computed dose means something only with flow; without it the
	// low-flow interlock has the pump.
	dose := 0.0
	if !f2b(v[dsFlowL]) && flow > 0 {
		dose = math.Min(dsMaxPPM, q*d.strength/flow)
	}
	d.doseFilt += (dose - d.doseFilt) * math.Min(1, dt/dsFilterS)

	v[dsTankLL] = b2f(alarmLow(f2b(v[dsTankLL]), level, 0.1*d.tankHeight, 0.02*d.tankHeight))
	v[dsTankL] = b2f(alarmLow(f2b(v[dsTankL]), level, v[dsAlarmTankL], 0.02*d.tankHeight))
	d.tankH = alarmHigh(d.tankH, level, 0.95*d.tankHeight, 0.05*d.tankHeight)
	v[dsTankH] = b2f(d.tankH)
	v[dsPHL] = b2f(alarmLow(f2b(v[dsPHL]), ph, v[dsAlarmPHL], 0.1))
	if tampered {
		v[dsDoseH], v[dsPHH] = 0, 0
	} else {
		v[dsDoseH] = b2f(alarmHigh(f2b(v[dsDoseH]), d.doseFilt, v[dsAlarmDoseH], 2))
		v[dsPHH] = b2f(alarmHigh(f2b(v[dsPHH]), ph, v[dsAlarmPHH], 0.1))
	}
	// The dose interlock: reset first, so a reset while the dose is still
	// high trips again in the same scan.
	if f2b(v[dsReset]) && d.doseFilt < v[dsDoseLimit] {
		v[dsDoseTrip] = 0
	}
	if !tampered && d.doseFilt >= v[dsDoseLimit] {
		v[dsDoseTrip] = 1
	}
	d.fillOut = f2b(v[dsFill]) && !d.tankH

	target := v[dsNaOHSP] * flow / d.strength // L/h
	ff := 100 * target / d.capLH
	switch {
	case tampered:
		d.permit = f2b(v[dsPumpRun]) && !f2b(v[dsTankLL])
		d.speedCmd, d.integral = 100, 0
	default:
		d.permit = f2b(v[dsPumpRun]) && !f2b(v[dsFlowL]) && !f2b(v[dsTankLL]) && !f2b(v[dsDoseTrip])
		switch {
		case !d.permit:
			d.speedCmd, d.integral = 0, 0
		case !f2b(m[dsPumpRunning]):
			// Not running yet (or held off by the safety layer): start from
			// the feedforward, with no integral wound up meanwhile.
			d.speedCmd, d.integral = clamp(ff, 0, 100), 0
		case f2b(v[dsAuto]):
			d.speedCmd = clamp(ff+piStep(&d.integral, target-q, v[dsKp], v[dsTi], dt, -100, 100), 0, 100)
		default:
			d.speedCmd = v[dsPumpManual]
			d.integral = clamp(v[dsPumpManual]-ff, -100, 100) // bumpless return to auto
		}
	}
	d.resetSn = clearPulse(v, dsReset, d.resetSn)
}

func (d *dosing) Fault(name string, value float64, on bool) error {
	switch name {
	case "flow_loss":
		d.flowLoss, d.flowLossTo = on, math.Max(0, value)
	case "pump_wear":
		switch {
		case !on:
			d.wear = 1
		case value > 0:
			d.wear = math.Min(value, 100) / 100
		default:
			d.wear = 0.5
		}
	case "siphon":
		switch {
		case !on:
			d.siphon = 0
		case value > 0:
			d.siphon = value
		default:
			d.siphon = 5
		}
	default:
		return fmt.Errorf("dosing has no fault %q", name)
	}
	return nil
}

func (d *dosing) saveFields() ([]*float64, []*bool) {
	f := []*float64{&d.speedCmd, &d.speed, &d.integral, &d.doseFilt, &d.flowLossTo, &d.wear, &d.siphon}
	for i := range d.cells {
		f = append(f, &d.cells[i])
	}
	return f, []*bool{&d.permit, &d.fillOut, &d.flowLoss, &d.tankH, &d.resetSn}
}

func (d *dosing) save() []float64        { return packState(d.saveFields()) }
func (d *dosing) load(s []float64) error { f, b := d.saveFields(); return unpackState(s, f, b) }
