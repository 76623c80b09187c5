package plantsim

import (
	"fmt"
	"math"
)

// Boiler tag indices.
const (
	blAuto = iota
	blBurnerOn
	blFeedPump
	blBypass
	blReset

	blFlame
	blPurging
	blFeedRunning
	blLevelH
	blLevelL
	blLevelLL
	blPressureH
	blLWCOTrip
	blHPTrip
	blReliefOpen
	blTubeDamage
	blOverpressure

	blPressure
	blLevel
	blSteamFlow
	blFeedFlow
	blFiring
	blFeedValve
	blSteamTemp
	blHeat

	blPressureSP
	blLevelSP
	blFiringManual
	blFeedManual
	blPLimit
	blAlarmLevelH
	blAlarmLevelL
	blAlarmLevelLL
	blAlarmPH
	blKpP
	blTiP
	blKpL
	blTiL
	blNumTags
)

const (
	blWaterRho   = 887.0  // boiling water at about 180 °C, kg/m³
	blWaterNWL   = 8000.0 // water in drum and tubes at the normal water level, kg
	blRefKPa     = 1000.0 // pressure at which steam_demand_kgs is drawn
	blLowFire    = 20.0   // burner turndown, %
	blLowFireS   = 5.0    // low-fire hold after light-off, s
	blProveS     = 2.0    // flame must be proven this long after light-off, s
	blFiringRate = 5.0    // firing rate actuator, %/s
	blValveRate  = 10.0   // feedwater valve travel, %/s
	blClausius   = 4891.0 // h_fg·M/R for water, K (Clausius–Clapeyron)
)

var boilerModel = newModel(Model{
	Name:  "boiler",
	Title: "Steam boiler with drum level and burner management",
	Desc: "A packaged water-tube boiler: a burner heats the water in the drum and tubes, steam leaves for a " +
		"header, feedwater makes up the drum level. The PLC's master pressure loop sets the firing rate, a " +
		"two-element loop (level and steam flow) sets the feedwater valve, and its burner sequence purges before " +
		"light-off and stops the burner on low-low level or its high-pressure limit. The independent safety layer " +
		"is a low-water cutoff and a high-pressure cutout that close the fuel valve at fixed settings (latched, " +
		"manual reset) unless bypassed, as TRITON's operators meant to defeat, and a spring relief valve that no " +
		"coil can defeat. Firing while the tubes are uncovered (tube_damage) and shell pressure beyond the " +
		"rupture limit (overpressure) are safety incidents, latched.",
	Equations: []string{
		"Heat absorbed: Q = η · f/100 · Q_burner (kW), f the firing rate (%) ramping at 5 %/s; 0 while the fuel valve is shut.",
		"Steam to the header: ṁ_s = D · √(p/1000), D = steam_demand_kgs (the header draws like an orifice); relief valve ṁ_r = ṁ_rmax · √(p/p_set) while lifted: it pops at relief_kpa and reseats relief_blowdown_kpa lower.",
		"Energy (water and metal at saturation, lumped): C · dp/dt = Q − ṁ_fw · Δh_sub − (ṁ_s + ṁ_r) · h_fg, C = storage_kj_kpa, Δh_sub = feedwater_subcool_kjkg, h_fg = latent_kjkg.",
		"Water: dM/dt = ṁ_fw − ṁ_s − ṁ_r − ṁ_leak, ṁ_fw = valve/100 · feed_max_kgs with the feed pump running.",
		"Level (mm from the normal water level): L = (M − M_NWL)/(ρ·A)·1000 + swell, swell = k_sw · (ṁ_s + ṁ_r) · 1101/(p + 101): steam bubbles under the surface swell it, more at low pressure; ρ 887 kg/m³, M_NWL 8 t.",
		"Steam temperature: T_sat from Clausius–Clapeyron, 1/T = 1/373.15 − ln(p_abs/101.325)/4891 (K).",
		"PLC: firing = PI(pressure_sp − p) within 20–100% in auto (20% for 5 s after light-off), firing_manual in manual; feedwater valve = 100·ṁ_s/feed_max + PI(level_sp − L) in auto, feed_manual in manual. Burner: burner_on with no level_ll and p below p_limit (30 kPa hysteresis) purges for purge_s, lights at low fire, and drops out (re-purging) if no flame is proven within 2 s.",
		"Alarms with hysteresis: level_h, level_l, level_ll (5 mm), pressure_h (5 kPa).",
		"Safety layer on truth: L ≤ lwco_mm latches lwco_trip (reset 30 mm above), p ≥ hp_cutout_kpa latches hp_trip (reset 50 kPa below); either shuts the fuel. Only bypass defeats them; the relief valve works regardless.",
		"Incidents: tube_damage when the water-mass level (no swell) is at or below tubes_mm with heat going in; overpressure at p ≥ rupture_kpa.",
		"Tampered program: feedwater shut and the low-level alarms and the PLC's low-level burner stop gone, while the pressure loop looks normal.",
	},
	Tags: []TagDef{
		blAuto:     {Name: "auto", Table: Coil, Class: ClassMode, Desc: "1 = pressure and level loops in auto, 0 = manual firing and feedwater"},
		blBurnerOn: {Name: "burner_on", Table: Coil, Class: ClassCommand, Desc: "burner run command (purge, light-off, modulate)"},
		blFeedPump: {Name: "feed_pump", Table: Coil, Class: ClassCommand, Desc: "feedwater pump run command"},
		blBypass:   {Name: "bypass", Table: Coil, Class: ClassBypass, Desc: "1 = safety layer bypassed (low-water cutoff and high-pressure cutout defeated; the relief valve still works)"},
		blReset:    {Name: "reset", Table: Coil, Class: ClassCommand, Desc: "write 1 to reset the cutoffs once level and pressure are back inside their reset bands"},

		blFlame:        {Name: "flame", Table: DiscreteInput, Class: ClassFeedback, Desc: "flame detected (burner firing)"},
		blPurging:      {Name: "purging", Table: DiscreteInput, Class: ClassFeedback, Desc: "burner prepurge in progress"},
		blFeedRunning:  {Name: "feed_running", Table: DiscreteInput, Class: ClassFeedback, Desc: "feedwater pump running"},
		blLevelH:       {Name: "level_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "high drum level"},
		blLevelL:       {Name: "level_l", Table: DiscreteInput, Class: ClassAlarm, Desc: "low drum level"},
		blLevelLL:      {Name: "level_ll", Table: DiscreteInput, Class: ClassAlarm, Desc: "low-low drum level (the PLC stops the burner)"},
		blPressureH:    {Name: "pressure_h", Table: DiscreteInput, Class: ClassAlarm, Desc: "high steam pressure"},
		blLWCOTrip:     {Name: "lwco_trip", Table: DiscreteInput, Class: ClassTrip, Desc: "low-water cutoff tripped: fuel shut (latched)"},
		blHPTrip:       {Name: "hp_trip", Table: DiscreteInput, Class: ClassTrip, Desc: "high-pressure cutout tripped: fuel shut (latched)"},
		blReliefOpen:   {Name: "relief_open", Table: DiscreteInput, Class: ClassTrip, Desc: "spring relief valve lifting"},
		blTubeDamage:   {Name: "tube_damage", Table: DiscreteInput, Class: ClassTrip, Desc: "fired with the tubes uncovered (safety incident, latched)"},
		blOverpressure: {Name: "overpressure", Table: DiscreteInput, Class: ClassTrip, Desc: "shell pressure beyond its rupture limit (safety incident, latched)"},

		blPressure:  {Name: "pressure", Table: InputRegister, Class: ClassProcess, Unit: "kPa", Min: 0, Max: 1600, Noise: 0.0002, Desc: "steam drum pressure (gauge)"},
		blLevel:     {Name: "level", Table: InputRegister, Class: ClassProcess, Unit: "mm", Min: -300, Max: 300, Noise: 0.0005, Desc: "drum level from the normal water level"},
		blSteamFlow: {Name: "steam_flow", Table: InputRegister, Class: ClassProcess, Unit: "kg/s", Min: 0, Max: 50, Noise: 0.0005, Desc: "steam flow to the header"},
		blFeedFlow:  {Name: "feed_flow", Table: InputRegister, Class: ClassProcess, Unit: "kg/s", Min: 0, Max: 50, Noise: 0.0005, Desc: "feedwater flow"},
		blFiring:    {Name: "firing", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 100, Desc: "burner firing rate"},
		blFeedValve: {Name: "feed_valve", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 100, Desc: "feedwater valve position"},
		blSteamTemp: {Name: "steam_temp", Table: InputRegister, Class: ClassProcess, Unit: "degC", Min: 0, Max: 250, Noise: 0.0002, Desc: "saturated steam temperature"},
		blHeat:      {Name: "heat", Table: InputRegister, Class: ClassProcess, Unit: "MW", Min: 0, Max: 100, Desc: "heat absorbed from the burner"},

		blPressureSP:   {Name: "pressure_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "kPa", Min: 0, Max: 1600, Desc: "steam pressure setpoint (initially pressure_sp_kpa)"},
		blLevelSP:      {Name: "level_sp", Table: HoldingRegister, Class: ClassSetpoint, Unit: "mm", Min: -300, Max: 300, Desc: "drum level setpoint (initially 0)"},
		blFiringManual: {Name: "firing_manual", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Desc: "firing rate in manual (at least low fire)"},
		blFeedManual:   {Name: "feed_manual", Table: HoldingRegister, Class: ClassSetpoint, Unit: "%", Min: 0, Max: 100, Desc: "feedwater valve position in manual"},
		blPLimit:       {Name: "p_limit", Table: HoldingRegister, Class: ClassLimit, Unit: "kPa", Min: 0, Max: 1600, Desc: "the PLC's high-pressure burner stop (initially 1060)"},
		blAlarmLevelH:  {Name: "alarm_level_h", Table: HoldingRegister, Class: ClassLimit, Unit: "mm", Min: -300, Max: 300, Desc: "high level alarm limit (initially 100)"},
		blAlarmLevelL:  {Name: "alarm_level_l", Table: HoldingRegister, Class: ClassLimit, Unit: "mm", Min: -300, Max: 300, Desc: "low level alarm limit (initially −75)"},
		blAlarmLevelLL: {Name: "alarm_level_ll", Table: HoldingRegister, Class: ClassLimit, Unit: "mm", Min: -300, Max: 300, Desc: "low-low level: the PLC stops the burner (initially −120)"},
		blAlarmPH:      {Name: "alarm_p_h", Table: HoldingRegister, Class: ClassLimit, Unit: "kPa", Min: 0, Max: 1600, Desc: "high pressure alarm limit (initially 1040)"},
		blKpP:          {Name: "kp_p", Table: HoldingRegister, Class: ClassTuning, Unit: "%/kPa", Min: 0, Max: 20, Desc: "pressure PI proportional gain"},
		blTiP:          {Name: "ti_p", Table: HoldingRegister, Class: ClassTuning, Unit: "s", Min: 1, Max: 3600, Desc: "pressure PI integral time"},
		blKpL:          {Name: "kp_l", Table: HoldingRegister, Class: ClassTuning, Unit: "%/mm", Min: 0, Max: 20, Desc: "level PI proportional gain"},
		blTiL:          {Name: "ti_l", Table: HoldingRegister, Class: ClassTuning, Unit: "s", Min: 1, Max: 3600, Desc: "level PI integral time"},
	},
	Params: []ParamDef{
		{Name: "pressure0_kpa", Default: 1000, Min: 0, Max: 1600, Unit: "kPa", Desc: "initial pressure"},
		{Name: "pressure_sp_kpa", Default: 1000, Min: 0, Max: 1600, Unit: "kPa", Desc: "initial pressure setpoint"},
		{Name: "steam_demand_kgs", Default: 2, Min: 0, Max: 20, Unit: "kg/s", Desc: "steam the header draws at 1000 kPa (an input another unit can drive)"},
		{Name: "burner_mw", Default: 7.5, Min: 0.1, Max: 100, Unit: "MW", Desc: "burner heat input at full fire"},
		{Name: "efficiency_pct", Default: 85, Min: 10, Max: 100, Unit: "%", Desc: "share of the burner's heat the water absorbs"},
		{Name: "feedwater_subcool_kjkg", Default: 300, Min: 0, Max: 800, Unit: "kJ/kg", Desc: "heat that brings feedwater to saturation"},
		{Name: "latent_kjkg", Default: 2000, Min: 1500, Max: 2300, Unit: "kJ/kg", Desc: "latent heat of evaporation"},
		{Name: "storage_kj_kpa", Default: 1000, Min: 10, Max: 100000, Unit: "kJ/kPa", Desc: "heat stored per kPa (water and metal at saturation)"},
		{Name: "drum_area_m2", Default: 4, Min: 0.5, Max: 50, Unit: "m2", Desc: "water surface in the drum"},
		{Name: "feed_max_kgs", Default: 4, Min: 0.1, Max: 50, Unit: "kg/s", Desc: "feedwater flow with the valve fully open"},
		{Name: "swell_mm_kgs", Default: 15, Min: 0, Max: 200, Unit: "mm/(kg/s)", Desc: "level swell per kg/s of steam at 1000 kPa"},
		{Name: "lwco_mm", Default: -150, Min: -300, Max: 300, Unit: "mm", Desc: "low-water cutoff level (fixed)"},
		{Name: "hp_cutout_kpa", Default: 1080, Min: 0, Max: 1600, Unit: "kPa", Desc: "high-pressure cutout (fixed)"},
		{Name: "relief_kpa", Default: 1100, Min: 0, Max: 1600, Unit: "kPa", Desc: "relief valve set pressure"},
		{Name: "relief_blowdown_kpa", Default: 50, Min: 1, Max: 500, Unit: "kPa", Desc: "relief valve blowdown (reseats this much below set)"},
		{Name: "relief_kgs", Default: 4, Min: 0, Max: 100, Unit: "kg/s", Desc: "relief valve capacity at set pressure"},
		{Name: "tubes_mm", Default: -250, Min: -1000, Max: 300, Unit: "mm", Desc: "water-mass level at which the tubes uncover"},
		{Name: "rupture_kpa", Default: 1210, Min: 0, Max: 1600, Unit: "kPa", Desc: "shell pressure that damages the boiler (110% of the relief set)"},
		{Name: "purge_s", Default: 10, Min: 0, Max: 600, Unit: "s", Desc: "burner prepurge time"},
	},
	Faults: []FaultDef{
		{Name: "feed_pump_trip", Desc: "the feedwater pump trips and stays off until cleared"},
		{Name: "relief_stuck", Desc: "the relief valve is seized shut"},
		{Name: "tube_leak", Unit: "kg/s", Desc: "a tube leak loses water at the given rate (default 0.5 kg/s)"},
	},
	Programs:  []string{"standard", "tampered"},
	Incidents: []string{"tube_damage", "overpressure"},
	New:       newBoiler,
})

type boiler struct {
	p                                                 Params
	demand, qBurner, sub, hfg, storage, area, feedMax float64
	swell, lwco, hpCut, relief, blowdown, reliefCap   float64
	tubes, rupture, purge                             float64
	water                                             float64 // kg above the normal water level's mass
	firing, firingCmd, feedValve, feedCmd             float64
	intP, intL, purgeT, litT, leak                    float64
	lit, feedOut, reliefOpen, pHigh                   bool
	feedFailed, reliefStuck, resetSeen                bool
}

func newBoiler(p Params) Process {
	return &boiler{p: p, demand: p["steam_demand_kgs"], qBurner: p["burner_mw"] * 1000 * p["efficiency_pct"] / 100,
		sub: p["feedwater_subcool_kjkg"], hfg: p["latent_kjkg"], storage: p["storage_kj_kpa"], area: p["drum_area_m2"],
		feedMax: p["feed_max_kgs"], swell: p["swell_mm_kgs"], lwco: p["lwco_mm"], hpCut: p["hp_cutout_kpa"],
		relief: p["relief_kpa"], blowdown: p["relief_blowdown_kpa"], reliefCap: p["relief_kgs"], tubes: p["tubes_mm"],
		rupture: p["rupture_kpa"], purge: p["purge_s"]}
}

// steam is the header's draw at pressure p.
func (b *boiler) steam(p float64) float64 {
	if b.water <= -blWaterNWL {
		return 0
	}
	return b.demand * math.Sqrt(math.Max(0, p)/blRefKPa)
}

// massLevel is the level the water inventory alone gives, mm.
func (b *boiler) massLevel() float64 { return b.water / (blWaterRho * b.area) * 1000 }

func (b *boiler) Init(v []float64) {
	v[blAuto], v[blBurnerOn], v[blFeedPump] = 1, 1, 1
	p := b.p["pressure0_kpa"]
	v[blPressure] = p
	v[blPressureSP] = b.p["pressure_sp_kpa"]
	v[blPLimit], v[blAlarmPH] = 1060, 1040
	v[blAlarmLevelH], v[blAlarmLevelL], v[blAlarmLevelLL] = 100, -75, -120
	v[blKpP], v[blTiP], v[blKpL], v[blTiL] = 1, 60, 2, 120
	// Start in steady state: burner lit, feed matching steam, level at 0.
	ms := b.steam(p)
	b.lit, b.feedOut, b.litT = true, true, blLowFireS
	b.firing = clamp(100*ms*(b.sub+b.hfg)/b.qBurner, blLowFire, 100)
	b.firingCmd, b.intP = b.firing, b.firing
	b.feedValve = clamp(100*ms/b.feedMax, 0, 100)
	b.feedCmd = b.feedValve
	v[blFiringManual], v[blFeedManual] = b.firing, b.feedValve
	b.water = -b.swell * ms * (blRefKPa + 101) / (p + 101) / 1000 * blWaterRho * b.area
	b.publish(v, p, ms, 0, b.feedValve/100*b.feedMax, true)
}

func (b *boiler) Step(v []float64, dt float64) {
	bypass, reset := f2b(v[blBypass]), f2b(v[blReset])
	p, level := v[blPressure], v[blLevel]
	latchTrip(v, blLWCOTrip, bypass, level <= b.lwco, reset && level > b.lwco+30)
	latchTrip(v, blHPTrip, bypass, p >= b.hpCut, reset && p < b.hpCut-50)
	tripped := (f2b(v[blLWCOTrip]) || f2b(v[blHPTrip])) && !bypass
	fuel := b.lit && !tripped
	if fuel {
		b.firing = approach(b.firing, b.firingCmd, blFiringRate*dt)
	} else {
		b.firing = 0
	}
	b.feedValve = approach(b.feedValve, b.feedCmd, blValveRate*dt)
	feeding := b.feedOut && !b.feedFailed
	fw := 0.0
	if feeding {
		fw = b.feedValve / 100 * b.feedMax
	}
	// The relief valve is mechanical: no coil defeats it.
	if b.reliefStuck {
		b.reliefOpen = false
	} else if b.reliefOpen {
		b.reliefOpen = p > b.relief-b.blowdown
	} else {
		b.reliefOpen = p >= b.relief
	}
	rel := 0.0
	if b.reliefOpen {
		rel = b.reliefCap * math.Sqrt(math.Max(0, p)/b.relief)
	}
	ms := b.steam(p)
	if b.water <= -blWaterNWL {
		rel = 0
	}
	q := b.firing / 100 * b.qBurner
	leak := 0.0
	if b.water > -blWaterNWL {
		leak = b.leak
	}
	p = clamp(p+(q-fw*b.sub-(ms+rel)*b.hfg)/b.storage*dt, 0, 1600)
	b.water = math.Max(-blWaterNWL, b.water+(fw-ms-rel-leak)*dt)
	if b.massLevel() <= b.tubes && q > 0 {
		v[blTubeDamage] = 1
	}
	if p >= b.rupture {
		v[blOverpressure] = 1
	}
	v[blFeedRunning] = b2f(feeding)
	b.publish(v, p, ms, rel, fw, fuel)
}

func (b *boiler) publish(v []float64, p, ms, rel, fw float64, fuel bool) {
	v[blPressure] = p
	v[blLevel] = clamp(b.massLevel()+b.swell*(ms+rel)*(blRefKPa+101)/(p+101), -300, 300)
	v[blSteamFlow] = ms
	v[blFeedFlow] = fw
	v[blFiring] = b.firing
	v[blFeedValve] = b.feedValve
	v[blSteamTemp] = 1/(1/373.15-math.Log((p+101.325)/101.325)/blClausius) - 273.15
	v[blHeat] = b.firing / 100 * b.qBurner / 1000
	v[blFlame] = b2f(fuel && b.firing > 0)
	v[blReliefOpen] = b2f(b.reliefOpen)
	v[blPurging] = b2f(!b.lit && b.purgeT > 0)
}

func (b *boiler) Scan(v, m []float64, _ []bool, dt float64, program int) {
	tampered := program != 0
	p, level := m[blPressure], m[blLevel]
	v[blLevelH] = b2f(alarmHigh(f2b(v[blLevelH]), level, v[blAlarmLevelH], 5))
	v[blPressureH] = b2f(alarmHigh(f2b(v[blPressureH]), p, v[blAlarmPH], 5))
	if tampered {
		v[blLevelL], v[blLevelLL] = 0, 0
	} else {
		v[blLevelL] = b2f(alarmLow(f2b(v[blLevelL]), level, v[blAlarmLevelL], 5))
		v[blLevelLL] = b2f(alarmLow(f2b(v[blLevelLL]), level, v[blAlarmLevelLL], 5))
	}
	b.pHigh = alarmHigh(b.pHigh, p, v[blPLimit], 30)

	// Burner sequence: prepurge, light-off at low fire, flame proving.
	permit := f2b(v[blBurnerOn]) && !b.pHigh && !f2b(v[blLevelLL])
	switch {
	case !permit:
		b.lit, b.purgeT, b.litT = false, 0, 0
	case !b.lit:
		b.purgeT += dt
		if b.purgeT >= b.purge {
			b.lit, b.purgeT, b.litT = true, 0, 0
		}
	default:
		b.litT += dt
		if b.litT >= blProveS && !f2b(m[blFlame]) {
			b.lit, b.litT = false, 0 // flame failure: purge again
		}
	}
	auto := f2b(v[blAuto])
	switch {
	case !b.lit:
		b.firingCmd, b.intP = 0, blLowFire
	case b.litT < blLowFireS:
		b.firingCmd = blLowFire
	case auto:
		b.firingCmd = piStep(&b.intP, v[blPressureSP]-p, v[blKpP], v[blTiP], dt, blLowFire, 100)
	default:
		b.firingCmd = clamp(v[blFiringManual], blLowFire, 100)
		b.intP = b.firingCmd
	}
	ff := 100 * m[blSteamFlow] / b.feedMax
	switch {
	case tampered:
		b.feedCmd, b.intL = 0, 0
	case auto:
		b.feedCmd = clamp(ff+piStep(&b.intL, v[blLevelSP]-level, v[blKpL], v[blTiL], dt, -100, 100), 0, 100)
	default:
		b.feedCmd = v[blFeedManual]
		b.intL = clamp(b.feedCmd-ff, -100, 100)
	}
	b.feedOut = f2b(v[blFeedPump])
	b.resetSeen = clearPulse(v, blReset, b.resetSeen)
}

func (b *boiler) Fault(name string, value float64, on bool) error {
	switch name {
	case "feed_pump_trip":
		b.feedFailed = on
	case "relief_stuck":
		b.reliefStuck = on
	case "tube_leak":
		switch {
		case !on:
			b.leak = 0
		case value > 0:
			b.leak = value
		default:
			b.leak = 0.5
		}
	default:
		return fmt.Errorf("boiler has no fault %q", name)
	}
	return nil
}

func (b *boiler) saveFields() ([]*float64, []*bool) {
	return []*float64{&b.water, &b.firing, &b.firingCmd, &b.feedValve, &b.feedCmd, &b.intP, &b.intL, &b.purgeT, &b.litT, &b.leak},
		[]*bool{&b.lit, &b.feedOut, &b.reliefOpen, &b.pHigh, &b.feedFailed, &b.reliefStuck, &b.resetSeen}
}

func (b *boiler) save() []float64        { return packState(b.saveFields()) }
func (b *boiler) load(s []float64) error { f, fl := b.saveFields(); return unpackState(s, f, fl) }
