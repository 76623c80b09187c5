package plantsim

import (
	"fmt"
	"hash/crc32"
	"sort"
	"strings"
	"time"
)

// Process is one physical process and the control logic of the PLC that runs
// it. Each model in the models table implements it. All methods
// run under the PLC's lock, so implementations keep plain fields.
//
// v holds every tag's true value by tag index (bits as 0/1): process values
// are ground truth, coils and holding registers are the PLC's memory. m holds
// what the PLC's sensors measure (truth plus noise, or a stuck reading).
type Process interface {
	// Init writes the initial state into v.
	Init(v []float64)
	// Step advances the physics and the independent safety layer by dt
	// seconds. The safety layer reads truth, not the PLC's measurements.
	Step(v []float64, dt float64)
	// Scan runs one PLC logic scan of dt seconds with the given program
	// (0 = the standard program). It reads measurements from m and memory
	// from v and writes commands, alarms and memory to v. net marks the coils
	// and registers written over the network (Modbus, IEC 104 or OPC UA)
	// since the last scan, as opposed to
	// from the local panel (the management API), for logic that obeys the
	// network only in remote mode.
	Scan(v, m []float64, net []bool, dt float64, program int)
	// Fault starts or clears a process fault declared in the model's Faults.
	Fault(name string, value float64, on bool) error
	// save and load move internal state (integrators, valve positions,
	// timers) in and out of snapshots.
	save() []float64
	load([]float64) error
}

// Model describes a process model: its tags (and so its register map), its
// parameters, its faults and its logic programs.
type Model struct {
	Name  string
	Title string
	Desc  string
	// Equations state the model's physics and logic, one statement each,
	// with the units of every symbol, for docs/register-maps.md.
	Equations []string
	Tags      []TagDef
	Params    []ParamDef
	Faults    []FaultDef
	Programs  []string // index 0 is the standard program
	// Incidents name the trip-class tags that are safety incidents.
	Incidents []string
	// AlarmHold is how long an alarm or trip bit must stay clear before
	// its episode is over (ISA-18.2's off-delay): a bit that clears and
	// sets again within it is the same alarm and the same incident, so a
	// process hovering at a limit raises one alarm, not one per wobble.
	// It suits the process's pace; zero means DefaultAlarmHold.
	AlarmHold time.Duration
	New       func(p Params) Process

	index     map[string]int
	layout    *Layout
	checksums []uint32 // per program; every scan publishes one
	points    []Point  // IEC 104 information objects, by address
	pointAt   map[uint32]int
}

// Layout returns the model's register map.
func (m *Model) Layout() *Layout { return m.layout }

// Tag returns the index of the named tag.
func (m *Model) Tag(name string) (int, bool) {
	i, ok := m.index[name]
	return i, ok
}

// TagOf resolves a tag reference as scenarios write it, "level_sp" or
// "hr:level_sp", to the name of a tag in one of tables; the error says what
// the model has instead.
func (m *Model) TagOf(name string, tables ...Table) (string, error) {
	if pre, rest, ok := strings.Cut(name, ":"); ok {
		match := false
		for _, t := range tables {
			if t.Prefix() == pre {
				match = true
			}
		}
		if !match {
			return "", fmt.Errorf("prefix %q does not fit here (want %s)", pre, tableNames(tables))
		}
		name = rest
	}
	i, ok := m.Tag(name)
	if !ok {
		var names []string
		for _, t := range m.Tags {
			for _, tb := range tables {
				if t.Table == tb {
					names = append(names, t.Name)
				}
			}
		}
		return "", fmt.Errorf("model %s has no %s tag %q (have %s)", m.Name, tableNames(tables), name, strings.Join(names, ", "))
	}
	for _, tb := range tables {
		if m.Tags[i].Table == tb {
			return name, nil
		}
	}
	return "", fmt.Errorf("tag %s is %s, not %s", name, article(m.Tags[i].Table.String()), article(tableNames(tables)))
}

func tableNames(ts []Table) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.String())
	}
	return strings.Join(s, " or ")
}

// article puts "a" or "an" before a noun.
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiouAEIOU", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// Program returns the index of a named logic program.
func (m *Model) Program(name string) (int, bool) {
	for i, p := range m.Programs {
		if p == name {
			return i, true
		}
	}
	return 0, false
}

// Checksum is the logic checksum the PLC reports for a program; a changed
// checksum is how trainees detect a logic replacement (ATT&CK T0843/T0889).
func (m *Model) Checksum(program int) uint32 {
	return m.checksums[program]
}

func checksum(model, program string) uint32 {
	return crc32.ChecksumIEEE([]byte(fmt.Sprintf("icsrange/%s/%s/v1", model, program)))
}

// Param returns a parameter definition by name.
func (m *Model) Param(name string) (ParamDef, bool) {
	for _, p := range m.Params {
		if p.Name == name {
			return p, true
		}
	}
	return ParamDef{}, false
}

// Fault returns a fault definition by name, including the generic faults
// every PLC supports.
func (m *Model) Fault(name string) (FaultDef, bool) {
	for _, f := range genericFaults {
		if f.Name == name {
			return f, true
		}
	}
	for _, f := range m.Faults {
		if f.Name == name {
			return f, true
		}
	}
	return FaultDef{}, false
}

// AllFaults lists generic and model faults.
func (m *Model) AllFaults() []FaultDef {
	return append(append([]FaultDef(nil), genericFaults...), m.Faults...)
}

// Generic faults handled by the PLC itself rather than the process.
const (
	FaultSensorStuck = "sensor_stuck"
	FaultCommLoss    = "comm_loss"
	FaultCPU         = "cpu_fault"
)

var genericFaults = []FaultDef{
	{Name: FaultSensorStuck, Desc: "the named tag's sensor reading freezes; the logic and the HMI both see the stuck value"},
	{Name: FaultCommLoss, Desc: "the PLC stops answering Modbus requests (they time out); the management API still works"},
	{Name: FaultCPU, Desc: "the CPU faults: logic stops scanning and mode reads \"fault\" until cleared"},
}

// DefaultAlarmHold is a model's AlarmHold unless it says otherwise.
const DefaultAlarmHold = 10 * time.Second

func newModel(m Model) *Model {
	if m.AlarmHold == 0 {
		m.AlarmHold = DefaultAlarmHold
	}
	m.index = make(map[string]int, len(m.Tags))
	for i, t := range m.Tags {
		if t.Name == "" {
			panic(fmt.Sprintf("plantsim: model %s: tag %d has no name", m.Name, i))
		}
		if _, dup := m.index[t.Name]; dup {
			panic(fmt.Sprintf("plantsim: model %s: duplicate tag %s", m.Name, t.Name))
		}
		m.index[t.Name] = i
	}
	m.layout = newLayout(&m)
	m.points, m.pointAt = buildPoints(&m)
	m.checksums = make([]uint32, len(m.Programs))
	for i, p := range m.Programs {
		m.checksums[i] = checksum(m.Name, p)
	}
	return &m
}

// models is the fixed table of process models. It is built once and never
// changed, so sharing it is safe.
var models = map[string]*Model{
	"water-tank":   waterTankModel,
	"reactor":      reactorModel,
	"breaker":      breakerModel,
	"dosing":       dosingModel,
	"pump-station": pumpStationModel,
	"boiler":       boilerModel,
	"hvac":         hvacModel,
}

// LookupModel returns the named model.
func LookupModel(name string) (*Model, bool) {
	m, ok := models[name]
	return m, ok
}

// ModelNames lists the models, sorted.
func ModelNames() []string {
	names := make([]string, 0, len(models))
	for n := range models {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
