package plantsim

import (
	"fmt"
	"math"
	"time"
)

// Breaker tag indices.
const (
	bkCloseCmd = iota
	bkOpenCmd
	bkRemote
	bkBypass
	bkReset

	bkClosed
	bkEnergized
	bkPickup
	bkTrip51
	bkTripBackup
	bkLockout
	bkOverload
	bkDamaged

	bkCurrent
	bkVoltage
	bkPower
	bkThermal

	bkPickupA
	bkDelayS
	bkAlarmA
	bkNumTags
)

var breakerModel = newModel(Model{
	Name:  "breaker",
	Title: "Feeder breaker with overcurrent protection",
	Desc: "A distribution feeder's circuit breaker and its bay controller (the kind Industroyer " +
		"commanded over IEC 104). The load current follows a daily-like profile; a line fault adds " +
		"fault current. The PLC's definite-time overcurrent element (51) trips the breaker when the " +
		"current exceeds its pickup for its delay and locks it out until reset; both settings are " +
		"holding registers. An independent backup relay with fixed settings trips on sustained " +
		"overcurrent unless bypassed. Current above the conductor rating heats it (I²t); beyond the " +
		"damage limit the conductor is damaged (safety incident, latched). Remote commands are " +
		"ignored in local mode.",
	Equations: []string{
		"Load current while closed: I = load_a · (1 + load_swing_pct/100 · sin(2πt/load_period_s)) + I_fault (A); power P = √3 · U · I · 0.95 / 1000 (MW).",
		"Conductor heating: dE/dt = I² − I_r² (A²s/s), E never below 0, I_r = rating_a; damaged at E ≥ damage_ka2s · 10⁶ (latched; the feeder is then dead). thermal = 100·E/E_damage.",
		"PLC element 51: I > pickup_a for delay_s opens the breaker and latches trip_51 and lockout; closing is blocked while locked out; reset clears trips below pickup. Modbus commands are ignored in local mode.",
		"Alarms: pickup while I > pickup_a; overload at alarm_a (10 A hysteresis).",
		"Safety layer: a backup relay with fixed settings, I > backup_pickup_a for backup_delay_s, opens the breaker and latches trip_backup and lockout. Only bypass defeats it (and 51).",
		"Tampered program: element 51 never trips.",
	},
	Tags: []TagDef{
		bkCloseCmd: {Name: "close_cmd", Table: Coil, Class: ClassCommand, DoubleOff: "open_cmd", Desc: "write 1 to close the breaker (not locked out; over the network only in remote mode)"},
		bkOpenCmd:  {Name: "open_cmd", Table: Coil, Class: ClassCommand, Desc: "write 1 to open the breaker (over the network only in remote mode)"},
		bkRemote:   {Name: "remote", Table: Coil, Class: ClassMode, Desc: "1 = remote control allowed, 0 = local: network commands ignored, the local panel still works"},
		bkBypass:   {Name: "bypass", Table: Coil, Class: ClassBypass, Desc: "1 = protection bypassed (51 and backup relay)"},
		bkReset:    {Name: "reset", Table: Coil, Class: ClassCommand, Desc: "write 1 to reset trips and lockout when the current is below pickup (over the network only in remote mode)"},

		bkClosed:     {Name: "closed", Table: DiscreteInput, Class: ClassFeedback, Desc: "breaker closed"},
		bkEnergized:  {Name: "energized", Table: DiscreteInput, Class: ClassFeedback, Desc: "feeder energized (customers supplied)"},
		bkPickup:     {Name: "pickup", Table: DiscreteInput, Class: ClassAlarm, Desc: "current above the 51 pickup"},
		bkTrip51:     {Name: "trip_51", Table: DiscreteInput, Class: ClassTrip, Desc: "overcurrent element 51 tripped"},
		bkTripBackup: {Name: "trip_backup", Table: DiscreteInput, Class: ClassTrip, Desc: "backup relay tripped"},
		bkLockout:    {Name: "lockout", Table: DiscreteInput, Class: ClassTrip, Desc: "lockout (86): closing blocked until reset"},
		bkOverload:   {Name: "overload", Table: DiscreteInput, Class: ClassAlarm, Desc: "current above the overload alarm limit"},
		bkDamaged:    {Name: "damaged", Table: DiscreteInput, Class: ClassTrip, Desc: "conductor thermally damaged (safety incident, latched)"},

		bkCurrent: {Name: "current", Table: InputRegister, Class: ClassProcess, Unit: "A", Min: 0, Max: 5000, Noise: 0.001, Desc: "feeder current"},
		bkVoltage: {Name: "voltage", Table: InputRegister, Class: ClassProcess, Unit: "kV", Min: 0, Max: 50, Noise: 0.001, Desc: "bus voltage"},
		bkPower:   {Name: "power", Table: InputRegister, Class: ClassProcess, Unit: "MW", Min: 0, Max: 100, Noise: 0.001, Desc: "active power"},
		bkThermal: {Name: "thermal", Table: InputRegister, Class: ClassProcess, Unit: "%", Min: 0, Max: 200, Desc: "conductor heating as % of the damage limit"},

		bkPickupA: {Name: "pickup_a", Table: HoldingRegister, Class: ClassLimit, Unit: "A", Min: 0, Max: 5000, Of: "current", Desc: "51 pickup current"},
		bkDelayS:  {Name: "delay_s", Table: HoldingRegister, Class: ClassLimit, Unit: "s", Min: 0, Max: 10, Desc: "51 definite-time delay"},
		bkAlarmA:  {Name: "alarm_a", Table: HoldingRegister, Class: ClassLimit, Unit: "A", Min: 0, Max: 5000, Of: "current", Desc: "overload alarm limit"},
	},
	Params: []ParamDef{
		{Name: "voltage_kv", Default: 22, Min: 1, Max: 50, Unit: "kV", Desc: "bus voltage"},
		{Name: "load_a", Default: 350, Min: 0, Max: 2000, Unit: "A", Desc: "mean load current"},
		{Name: "load_swing_pct", Default: 15, Min: 0, Max: 100, Unit: "%", Desc: "load swing over the load period"},
		{Name: "load_period_s", Default: 900, Min: 10, Max: 86400, Unit: "s", Desc: "period of the load profile"},
		{Name: "rating_a", Default: 800, Min: 10, Max: 5000, Unit: "A", Desc: "conductor rating"},
		{Name: "pickup_a", Default: 600, Min: 1, Max: 5000, Unit: "A", Desc: "initial 51 pickup"},
		{Name: "delay_s", Default: 0.5, Min: 0, Max: 10, Unit: "s", Desc: "initial 51 delay"},
		{Name: "alarm_a", Default: 500, Min: 1, Max: 5000, Unit: "A", Desc: "initial overload alarm limit"},
		{Name: "backup_pickup_a", Default: 1200, Min: 1, Max: 5000, Unit: "A", Desc: "backup relay pickup (fixed)"},
		{Name: "backup_delay_s", Default: 2, Min: 0, Max: 60, Unit: "s", Desc: "backup relay delay (fixed)"},
		{Name: "damage_ka2s", Default: 8, Min: 0.01, Max: 1e6, Unit: "kA²s", Desc: "I²t above rating that damages the conductor"},
		{Name: "fault_a", Default: 1500, Min: 1, Max: 5000, Unit: "A", Desc: "default line-fault current"},
	},
	Faults: []FaultDef{
		{Name: "line_fault", Unit: "A", Desc: "a line fault draws extra current (default: the fault_a parameter)"},
		{Name: "breaker_stuck", Desc: "the breaker mechanism fails to move"},
	},
	Programs:  []string{"standard", "tampered"},
	Incidents: []string{"damaged"},
	// Protection acts in seconds and a feeder's current swings with its
	// load: five seconds joins a pickup that drops out and picks up again
	// on one swing.
	AlarmHold: 5 * time.Second,
	New:       newBreaker,
})

type breaker struct {
	p                               Params
	closed                          bool
	t                               float64 // seconds since start, for the load profile
	heat                            float64 // A²s above rating
	timer51, timerBackup            float64
	faultA                          float64
	stuck                           bool
	openReq, closeReq               bool
	rating, damage, backupA, backup float64
}

func newBreaker(p Params) Process {
	return &breaker{p: p, rating: p["rating_a"], damage: p["damage_ka2s"] * 1e6, backupA: p["backup_pickup_a"], backup: p["backup_delay_s"]}
}

func (b *breaker) Init(v []float64) {
	b.closed = true
	v[bkRemote] = 1
	v[bkPickupA] = b.p["pickup_a"]
	v[bkDelayS] = b.p["delay_s"]
	v[bkAlarmA] = b.p["alarm_a"]
	b.publish(v)
}

func (b *breaker) current() float64 {
	if !b.closed {
		return 0
	}
	load := b.p["load_a"] * (1 + b.p["load_swing_pct"]/100*math.Sin(2*math.Pi*b.t/b.p["load_period_s"]))
	return load + b.faultA
}

func (b *breaker) publish(v []float64) {
	i := b.current()
	energized := b.closed && !f2b(v[bkDamaged])
	if !energized {
		i = 0
	}
	kv := b.p["voltage_kv"]
	v[bkClosed] = b2f(b.closed)
	v[bkEnergized] = b2f(energized)
	v[bkCurrent] = i
	v[bkVoltage] = kv
	v[bkPower] = math.Sqrt(3) * kv * i * 0.95 / 1000 // MW at power factor 0.95
	v[bkThermal] = b.heat / b.damage * 100
}

func (b *breaker) Step(v []float64, dt float64) {
	b.t += dt
	if !b.stuck {
		if b.openReq {
			b.closed = false
		} else if b.closeReq && !f2b(v[bkLockout]) {
			b.closed = true
		}
	}
	b.openReq, b.closeReq = false, false
	i := b.current()
	if f2b(v[bkDamaged]) {
		i = 0
	}
	// Conductor heating: I²t above the rating accumulates, below it cools.
	b.heat = math.Max(0, b.heat+(i*i-b.rating*b.rating)*dt)
	if b.heat >= b.damage {
		v[bkDamaged] = 1
	}
	// Independent backup relay, fixed settings, defeated only by bypass.
	if !f2b(v[bkBypass]) && i > b.backupA {
		b.timerBackup += dt
		if b.timerBackup >= b.backup && !b.stuck {
			b.closed = false
			v[bkTripBackup], v[bkLockout] = 1, 1
		}
	} else {
		b.timerBackup = 0
	}
	b.publish(v)
}

func (b *breaker) Scan(v, m []float64, net []bool, dt float64, program int) {
	i := m[bkCurrent]
	remote := f2b(v[bkRemote])
	// In local mode commands from the network are ignored; the local panel
	// (the management API) still operates the bay.
	obey := func(tag int) bool { return f2b(v[tag]) && (remote || !net[tag]) }
	pickup := i > v[bkPickupA]
	// Reset before close, so a reset and a close in one scan close.
	if obey(bkReset) && !pickup {
		v[bkTrip51], v[bkTripBackup], v[bkLockout] = 0, 0, 0
	}
	if obey(bkOpenCmd) {
		b.openReq = true
	}
	if obey(bkCloseCmd) && !f2b(v[bkLockout]) {
		b.closeReq = true
	}
	v[bkOpenCmd], v[bkCloseCmd], v[bkReset] = 0, 0, 0
	v[bkPickup] = b2f(pickup)
	// Overcurrent element 51; the tampered program never trips.
	if program == 0 && !f2b(v[bkBypass]) && pickup {
		b.timer51 += dt
		if b.timer51 >= v[bkDelayS] {
			b.openReq = true
			v[bkTrip51], v[bkLockout] = 1, 1
		}
	} else {
		b.timer51 = 0
	}
	v[bkOverload] = b2f(alarmHigh(f2b(v[bkOverload]), i, v[bkAlarmA], 10))
}

func (b *breaker) Fault(name string, value float64, on bool) error {
	switch name {
	case "line_fault":
		switch {
		case !on:
			b.faultA = 0
		case value > 0:
			b.faultA = value
		default:
			b.faultA = b.p["fault_a"]
		}
	case "breaker_stuck":
		b.stuck = on
	default:
		return fmt.Errorf("breaker has no fault %q", name)
	}
	return nil
}

func (b *breaker) saveFields() ([]*float64, []*bool) {
	return []*float64{&b.t, &b.heat, &b.timer51, &b.timerBackup, &b.faultA},
		[]*bool{&b.closed, &b.stuck, &b.openReq, &b.closeReq}
}

func (b *breaker) save() []float64        { return packState(b.saveFields()) }
func (b *breaker) load(s []float64) error { f, fl := b.saveFields(); return unpackState(s, f, fl) }
