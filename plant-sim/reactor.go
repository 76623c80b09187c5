package plantsim

import (
	"fmt"
	"math"
	"time"
)

// Reactor tag indices.
const (
	rxAuto = iota
	rxFeedOn
	rxBypass
	rxReset

	rxFeedRunning
	rxPurgeOpen
	rxPressureH
	rxPressureHH
	rxLevelH
	rxLevelL
	rxSISTrip
	rxReliefOpen
	rxDamaged

	rxPressure
	rxLevel
	rxFeed1Flow
	rxFeed2Flow
	rxPurgeFlow
	rxProductFlow
	rxPurgeValve
	rxProductValve

	rxPressureSP
	rxLevelSP
	rxFeed1SP
	rxFeed2SP
	rxPurgeManual
	rxAlarmPH
	rxAlarmPHH
	rxKp
	rxTi
	rxNumTags
)

var reactorModel = newModel(Model{
	Name:  "reactor",
	Title: "Pressurised reactor with pressure control",
	Desc: "A gas-phase reactor after GRFICS' simplified Tennessee Eastman process: two feeds (A+C, A) " +
		"react to a liquid product D. Gas holdup: dP/dt = c·(F1 + F2 − r(P) − purge − relief); " +
		"the PLC's PI loop holds pressure with the purge valve and a second loop holds the liquid level " +
		"with the product valve. The independent safety layer cuts the feeds and opens the purge at the " +
		"trip pressure unless bypassed; a mechanical relief valve caps pressure near its rating. " +
		"Pressure above the design limit damages the vessel (safety incident, latched).",
	Equations: []string{
		"Gas holdup: dP/dt = k · (F₁ + F₂ + F_surge − r − F_purge − F_relief)/3600 (kPa/s), k = kpa_per_kmol; reaction r = (60/2700)·P kmol/h; purge F_purge = 1.925 · x · √P (x the purge valve fraction); relief 12·(P − relief_kpa + 50) kmol/h while lifting (from relief_kpa until 50 kPa below it).",
		"Feeds F₁ = feed1_sp/100 · feed1_max and F₂ = feed2_sp/100 · feed2_max while feed_on and not tripped.",
		"Liquid: dL/dt = (0.1·r − F_product)/10 · 100/3600 (%/s, 10 m³ at 100%); F_product = 12 m³/h · product valve fraction. Valves travel 10 %/s.",
		"PLC: purge valve = PI(P − pressure_sp) (reverse acting) in auto, purge_manual in manual; product valve = PI(L − level_sp) with 2 %/% and 200 s.",
		"Alarms with hysteresis: pressure_h, pressure_hh at their limits (10 kPa); level_h at 90%, level_l at 10% (1%).",
		"Safety layer: P ≥ sis_trip_kpa latches sis_trip: feeds cut, purge fully open; reset 200 kPa below. Only bypass defeats it; the relief valve is mechanical.",
		"Incident: damaged once P ≥ damage_kpa (latched).",
		"Tampered program: the purge shut while feeding, and the pressure alarms never shown.",
	},
	Tags: []TagDef{
		rxAuto:   {Name: "auto", Table: Coil, Class: ClassMode, Desc: "1 = PI pressure control by purge valve, 0 = manual purge position"},
		rxFeedOn: {Name: "feed_on", Table: Coil, Class: ClassCommand, Desc: "feed pumps run command"},
		rxBypass: {Name: "bypass", Table: Coil, Class: ClassBypass, Desc: "1 = safety layer bypassed (high-pressure trip defeated)"},
		rxReset:  {Name: "reset", Table: Coil, Class: ClassCommand, Desc: "write 1 to reset a safety trip once pressure is 200 kPa below the trip"},

		rxFeedRunning: {Name: "feed_running", Table: DiscreteInput, Class: ClassFeedback, Desc: "feeds flowing"},
		rxPurgeOpen:   {Name: "purge_open", Table: DiscreteInput, Class: ClassFeedback, Desc: "purge valve more than 2% open"},
		rxPressureH:   {Name: "pressure_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "high pressure alarm"},
		rxPressureHH:  {Name: "pressure_hh", Table: DiscreteInput, Class: ClassAlarm, Desc: "high-high pressure alarm"},
		rxLevelH:      {Name: "level_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "high liquid level alarm (90%)"},
		rxLevelL:      {Name: "level_l", Table: DiscreteInput, Class: ClassAlarm, Desc: "low liquid level alarm (10%)"},
		rxSISTrip:     {Name: "sis_trip", Table: DiscreteInput, Class: ClassTrip, Desc: "safety layer tripped: feeds cut, purge open (latched)"},
		rxReliefOpen:  {Name: "relief_open", Table: DiscreteInput, Class: ClassTrip, Desc: "mechanical relief valve lifting"},
		rxDamaged:     {Name: "damaged", Table: DiscreteInput, Class: ClassTrip, Desc: "vessel pressure exceeded its design limit (safety incident, latched)"},

		rxPressure:     {Name: "pressure", Table: InputRegister, Class: ClassProcess, Unit: "kPa", Min: 0, Max: 3200, Noise: 0.0005, Desc: "reactor pressure"},
		rxLevel:        {Name: "level", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 100, Noise: 0.001, Desc: "liquid level"},
		rxFeed1Flow:    {Name: "feed1_flow", Table: InputRegister, Class: ClassProcess, Unit: "kmol/h", Min: 0, Max: 500, Noise: 0.002, Desc: "feed 1 (A+C) flow"},
		rxFeed2Flow:    {Name: "feed2_flow", Table: InputRegister, Class: ClassProcess, Unit: "kmol/h", Min: 0, Max: 500, Noise: 0.002, Desc: "feed 2 (A) flow"},
		rxPurgeFlow:    {Name: "purge_flow", Table: InputRegister, Class: ClassProcess, Unit: "kmol/h", Min: 0, Max: 500, Noise: 0.002, Desc: "purge flow"},
		rxProductFlow:  {Name: "product_flow", Table: InputRegister, Class: ClassProcess, Unit: "m3/h", Min: 0, Max: 50, Noise: 0.002, Desc: "liquid product flow"},
		rxPurgeValve:   {Name: "purge_valve", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 100, Desc: "purge valve position"},
		rxProductValve: {Name: "product_valve", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 100, Desc: "product valve position"},

		rxPressureSP:  {Name: "pressure_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "kPa", Min: 0, Max: 3200, Of: "pressure", Desc: "pressure setpoint"},
		rxLevelSP:     {Name: "level_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Of: "level", Desc: "liquid level setpoint"},
		rxFeed1SP:     {Name: "feed1_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Desc: "feed 1 valve opening"},
		rxFeed2SP:     {Name: "feed2_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Desc: "feed 2 valve opening"},
		rxPurgeManual: {Name: "purge_manual", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Desc: "purge valve position in manual"},
		rxAlarmPH:     {Name: "alarm_p_h", Table: HoldingRegister, Class: ClassLimit, Unit: "kPa", Min: 0, Max: 3200, Of: "pressure", Desc: "high pressure alarm limit"},
		rxAlarmPHH:    {Name: "alarm_p_hh", Table: HoldingRegister, Class: ClassLimit, Unit: "kPa", Min: 0, Max: 3200, Of: "pressure", Desc: "high-high pressure alarm limit"},
		rxKp:          {Name: "kp", Table: HoldingRegister, Class: ClassTuning, Unit: "%/kPa", Min: 0, Max: 10, Desc: "pressure PI proportional gain"},
		rxTi:          {Name: "ti", Table: HoldingRegister, Class: ClassTuning, Unit: "s", Min: 1, Max: 3600, Desc: "pressure PI integral time"},
	},
	Params: []ParamDef{
		{Name: "pressure0_kpa", Default: 2700, Min: 0, Max: 3200, Unit: "kPa", Desc: "initial pressure"},
		{Name: "pressure_sp_kpa", Default: 2700, Min: 0, Max: 3200, Unit: "kPa", Desc: "initial pressure setpoint"},
		{Name: "sis_trip_kpa", Default: 2900, Min: 100, Max: 3200, Unit: "kPa", Desc: "safety-layer trip pressure"},
		{Name: "damage_kpa", Default: 3000, Min: 100, Max: 3200, Unit: "kPa", Desc: "vessel design limit"},
		{Name: "relief_kpa", Default: 3100, Min: 100, Max: 3200, Unit: "kPa", Desc: "mechanical relief set pressure"},
		{Name: "feed1_max", Default: 150, Min: 1, Max: 500, Unit: "kmol/h", Desc: "feed 1 flow at 100%"},
		{Name: "feed2_max", Default: 50, Min: 0, Max: 500, Unit: "kmol/h", Desc: "feed 2 flow at 100%"},
		{Name: "kpa_per_kmol", Default: 225, Min: 1, Max: 10000, Unit: "kPa/kmol", Desc: "gas holdup: pressure rise per kmol (vessel size)"},
		{Name: "level0_pct", Default: 65, Min: 0, Max: 100, Unit: "%", Desc: "initial liquid level"},
	},
	Faults: []FaultDef{
		{Name: "purge_stuck", Desc: "the purge valve sticks at its current position"},
		{Name: "feed_surge", Unit: "kmol/h", Desc: "extra feed enters the reactor (default 60 kmol/h)"},
	},
	Programs:  []string{"standard", "tampered"},
	Incidents: []string{"damaged"},
	// Pressure moves kPa a second and the relief valve reseats 50 kPa
	// below its lift: ten seconds joins a lift-and-reseat cycle into one.
	AlarmHold: 10 * time.Second,
	New:       newReactor,
})

// Reaction and valve constants chosen so that at the nominal point (2700 kPa,
// feeds 50%) the reaction consumes 60 kmol/h and a 40%-open purge vents the
// other 40 kmol/h; with the purge shut pressure climbs about 2.5 kPa/s.
const (
	rxReactionK  = 60.0 / 2700  // kmol/h per kPa
	rxPurgeCv    = 1.925        // kmol/h per (fraction open · √kPa)
	rxReliefCv   = 12.0         // kmol/h per kPa above the relief set point
	rxProductVol = 10.0         // m3 of liquid at 100% level
	rxYield      = 0.1          // m3 liquid per kmol reacted
	rxProductMax = 12.0         // m3/h through a fully open product valve
	rxValveRate  = 100.0 / 10.0 // %/s valve travel
)

type reactor struct {
	p                             Params
	sisTrip, damage, relief, kpaK float64

	purgeCmd, purgePos     float64
	productCmd, productPos float64
	feedOut                bool // logic output: feed pumps enabled
	integral, levelInt     float64
	reliefOpen             bool
	purgeStuck             bool
	surge                  float64
	resetSeen              bool
}

func newReactor(p Params) Process {
	return &reactor{p: p, sisTrip: p["sis_trip_kpa"], damage: p["damage_kpa"], relief: p["relief_kpa"], kpaK: p["kpa_per_kmol"]}
}

func (r *reactor) Init(v []float64) {
	v[rxAuto] = 1
	v[rxFeedOn] = 1
	r.feedOut = true
	v[rxPressure] = r.p["pressure0_kpa"]
	v[rxLevel] = r.p["level0_pct"]
	v[rxPressureSP] = r.p["pressure_sp_kpa"]
	v[rxLevelSP] = 65
	v[rxFeed1SP], v[rxFeed2SP] = 50, 50
	v[rxAlarmPH], v[rxAlarmPHH] = 2800, 2870
	v[rxKp], v[rxTi] = 0.5, 60
	// Start at the nominal operating point.
	r.purgePos, r.purgeCmd, r.integral = 40, 40, 40
	r.productPos, r.productCmd, r.levelInt = 50, 50, 50
	v[rxPurgeManual] = 40
	r.flows(v, v[rxPressure], false)
}

// flows computes every flow for pressure p and publishes them; it returns
// the net gas flow in kmol/h and the liquid made in m3/h.
func (r *reactor) flows(v []float64, p float64, tripped bool) (net, liquid float64) {
	feed1, feed2 := 0.0, 0.0
	if r.feedOut && !tripped {
		feed1 = v[rxFeed1SP] / 100 * r.p["feed1_max"]
		feed2 = v[rxFeed2SP] / 100 * r.p["feed2_max"]
	}
	purgePos := r.purgePos
	if tripped {
		purgePos = 100
	}
	purge := rxPurgeCv * purgePos / 100 * math.Sqrt(math.Max(0, p))
	reaction := rxReactionK * p
	relief := 0.0
	if r.reliefOpen {
		relief = rxReliefCv * math.Max(0, p-r.relief+50)
	}
	product := r.productPos / 100 * rxProductMax
	if v[rxLevel] <= 0 {
		product = 0
	}
	v[rxFeed1Flow], v[rxFeed2Flow] = feed1, feed2
	v[rxPurgeFlow], v[rxProductFlow] = purge, product
	v[rxPurgeValve], v[rxProductValve] = purgePos, r.productPos
	v[rxFeedRunning] = b2f(feed1+feed2 > 0)
	v[rxPurgeOpen] = b2f(purgePos > 2)
	v[rxReliefOpen] = b2f(r.reliefOpen)
	return feed1 + feed2 + r.surge - reaction - purge - relief, reaction*rxYield - product
}

func (r *reactor) Step(v []float64, dt float64) {
	if !r.purgeStuck {
		r.purgePos = approach(r.purgePos, r.purgeCmd, rxValveRate*dt)
	}
	r.productPos = approach(r.productPos, r.productCmd, rxValveRate*dt)
	p := v[rxPressure]
	latchTrip(v, rxSISTrip, f2b(v[rxBypass]), p >= r.sisTrip, f2b(v[rxReset]) && p < r.sisTrip-200)
	tripped := f2b(v[rxSISTrip]) && !f2b(v[rxBypass])
	// The relief valve is mechanical: no coil defeats it.
	if r.reliefOpen {
		r.reliefOpen = p > r.relief-50
	} else {
		r.reliefOpen = p >= r.relief
	}
	net, liquid := r.flows(v, p, tripped)
	p = clamp(p+net*r.kpaK/3600*dt, 0, 3200)
	v[rxPressure] = p
	v[rxLevel] = clamp(v[rxLevel]+liquid/rxProductVol*100/3600*dt, 0, 100)
	if p >= r.damage {
		v[rxDamaged] = 1
	}
}

func (r *reactor) Scan(v, m []float64, _ []bool, dt float64, program int) {
	p := m[rxPressure]
	tampered := program != 0
	switch {
	case tampered:
		// The replaced logic shuts the purge and keeps feeding.
		r.purgeCmd = 0
	case f2b(v[rxAuto]):
		// Reverse acting: pressure above setpoint opens the purge.
		r.purgeCmd = piStep(&r.integral, p-v[rxPressureSP], v[rxKp], v[rxTi], dt, 0, 100)
	default:
		r.purgeCmd = v[rxPurgeManual]
		r.integral = r.purgeCmd
	}
	// Level loop on the product valve (direct acting), always in auto.
	r.productCmd = piStep(&r.levelInt, m[rxLevel]-v[rxLevelSP], 2, 200, dt, 0, 100)
	r.feedOut = f2b(v[rxFeedOn])

	if tampered {
		v[rxPressureH], v[rxPressureHH] = 0, 0
	} else {
		v[rxPressureH] = b2f(alarmHigh(f2b(v[rxPressureH]), p, v[rxAlarmPH], 10))
		v[rxPressureHH] = b2f(alarmHigh(f2b(v[rxPressureHH]), p, v[rxAlarmPHH], 10))
	}
	v[rxLevelH] = b2f(alarmHigh(f2b(v[rxLevelH]), m[rxLevel], 90, 1))
	v[rxLevelL] = b2f(alarmLow(f2b(v[rxLevelL]), m[rxLevel], 10, 1))
	r.resetSeen = clearPulse(v, rxReset, r.resetSeen)
}

func (r *reactor) Fault(name string, value float64, on bool) error {
	switch name {
	case "purge_stuck":
		r.purgeStuck = on
	case "feed_surge":
		switch {
		case !on:
			r.surge = 0
		case value > 0:
			r.surge = value
		default:
			r.surge = 60
		}
	default:
		return fmt.Errorf("reactor has no fault %q", name)
	}
	return nil
}

func (r *reactor) saveFields() ([]*float64, []*bool) {
	return []*float64{&r.purgeCmd, &r.purgePos, &r.productCmd, &r.productPos, &r.integral, &r.levelInt, &r.surge},
		[]*bool{&r.feedOut, &r.reliefOpen, &r.purgeStuck, &r.resetSeen}
}

func (r *reactor) save() []float64        { return packState(r.saveFields()) }
func (r *reactor) load(s []float64) error { f, b := r.saveFields(); return unpackState(s, f, b) }
