// Package plantsim simulates PLCs controlling physical processes: a process
// model stepped at a fixed physics rate, PLC logic in a scan cycle, an
// independent safety layer, a Modbus/TCP server for what clients see and a
// management API for the ground truth.
package plantsim

import (
	"fmt"
	"math"
)

// Table is a Modbus data table.
type Table uint8

// The four Modbus tables, in the order the register map lists them.
const (
	Coil Table = iota
	DiscreteInput
	InputRegister
	HoldingRegister
)

func (t Table) String() string {
	return [...]string{"coil", "discrete input", "input register", "holding register"}[t]
}

// Prefix is the short form scenarios use in references ("hr:level_sp").
func (t Table) Prefix() string { return [...]string{"co", "di", "ir", "hr"}[t] }

// Bool reports whether the table holds bits.
func (t Table) Bool() bool { return t == Coil || t == DiscreteInput }

// Class says what a tag is for. Modbus/TCP Security roles authorise writes
// by class, and the register map groups by it.
type Class uint8

// Tag classes.
const (
	ClassMode     Class = iota // auto/manual, remote/local
	ClassCommand               // start/stop, open/close, reset
	ClassBypass                // safety bypass
	ClassFeedback              // actuator states
	ClassAlarm                 // alarm flags
	ClassTrip                  // safety trips and incidents
	ClassProcess               // measured process values
	ClassSetpoint              // operator setpoints
	ClassLimit                 // alarm and protection limits
	ClassTuning                // controller tuning
)

func (c Class) String() string {
	return [...]string{"mode", "command", "bypass", "feedback", "alarm", "trip", "process", "setpoint", "limit", "tuning"}[c]
}

// TagDef describes one tag of a model. Analog tags are scaled linearly so
// 0–65535 spans [Min, Max] (as GRFICS does) and also served as float32.
type TagDef struct {
	Name  string
	Table Table
	Class Class
	Unit  string
	Min   float64
	Max   float64
	Desc  string
	// Noise is the sensor noise standard deviation as a fraction of the span,
	// multiplied by the PLC's noise setting; zero for tags without a sensor.
	Noise float64
	// Of is, for a setpoint or limit, the process value (input register)
	// it applies to: the report draws it on that value's chart.
	Of string
	// DoubleOff names, for a command coil with an opposite (close/open),
	// the coil that the OFF state of its IEC 104 double command pulses;
	// the opposite gets no double command of its own. Without it a double
	// command's OFF writes 0 to the coil itself.
	DoubleOff string
}

// Analog reports whether the tag is a register value rather than a bit.
func (d *TagDef) Analog() bool { return !d.Table.Bool() }

// Scale converts an engineering value to its uint16 register form.
func (d *TagDef) Scale(v float64) uint16 {
	if math.IsNaN(v) {
		return 0
	}
	f := (v - d.Min) / (d.Max - d.Min) * 65535
	switch {
	case f <= 0:
		return 0
	case f >= 65535:
		return 65535
	}
	return uint16(math.Round(f))
}

// Unscale converts a register value to engineering units.
func (d *TagDef) Unscale(r uint16) float64 {
	return d.Min + float64(r)/65535*(d.Max-d.Min)
}

// Clamp limits v to the tag's engineering range.
func (d *TagDef) Clamp(v float64) float64 {
	return math.Max(d.Min, math.Min(d.Max, v))
}

// ParamDef describes a model parameter a scenario may set.
type ParamDef struct {
	Name    string
	Default float64
	Min     float64
	Max     float64
	Unit    string
	Desc    string
}

// FaultDef describes a process fault the management API can inject.
type FaultDef struct {
	Name string
	Desc string
	Unit string // of the fault's value, empty when it takes none
}

// Params are a model's parameter values by name.
type Params map[string]float64

// resolve fills defaults and checks ranges and names.
func (p Params) resolve(defs []ParamDef) (Params, error) {
	out := make(Params, len(defs))
	known := make(map[string]bool, len(defs))
	for _, d := range defs {
		known[d.Name] = true
		v, ok := p[d.Name]
		if !ok {
			v = d.Default
		}
		if math.IsNaN(v) || v < d.Min || v > d.Max {
			return nil, fmt.Errorf("param %s = %g is outside %g..%g %s", d.Name, v, d.Min, d.Max, d.Unit)
		}
		out[d.Name] = v
	}
	for k := range p {
		if !known[k] {
			return nil, fmt.Errorf("unknown param %q", k)
		}
	}
	return out, nil
}
