package plant

import (
	"fmt"
	"strings"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// An effect is made in three steps, as a scenario is: Check reports what
// is wrong with its fields, Defaults fills the fields left out, and Compile
// builds the Effect from fields Check passed. What differs between kinds
// is declared in each kind's entry (its fields with their roles and
// defaults, its own check and compile); the steps are shared.

// Args are an effect's fields as a scenario wrote them, before checking.
type Args struct {
	From     string
	To       string
	PLC      string
	Register string
	Coil     string
	Tag      string
	Value    *float64
	Window   time.Duration
	Target   string
	Duration time.Duration
	Program  string
	Mode     string
	Fault    string
	Host     string
}

// text is a string field by its scenario name.
func (a Args) text(name string) string {
	switch name {
	case "from":
		return a.From
	case "to":
		return a.To
	case "plc":
		return a.PLC
	case "register":
		return a.Register
	case "coil":
		return a.Coil
	case "tag":
		return a.Tag
	case "target":
		return a.Target
	case "program":
		return a.Program
	case "mode":
		return a.Mode
	case "fault":
		return a.Fault
	case "host":
		return a.Host
	}
	return ""
}

// duration is a RoleDuration field by its scenario name.
func (a *Args) duration(name string) *time.Duration {
	if name == "window" {
		return &a.Window
	}
	return &a.Duration
}

// Limits are the scenario's bounds an effect is checked against.
type Limits struct {
	// Duration is the scenario's length: nothing may outlast it.
	Duration time.Duration
}

// Problem is what is wrong with one field of an effect.
type Problem struct {
	Field string
	Msg   string
}

// Defaults returns the fields with the kind's defaults filled in: each
// field left out that declares a Default gets it. An unknown kind's fields
// come back as they are.
func Defaults(kind string, a Args) Args {
	k, ok := Lookup(kind)
	if !ok {
		return a
	}
	for _, f := range k.Fields {
		if f.Default == 0 {
			continue
		}
		if d := a.duration(f.Name); *d == 0 {
			*d = f.Default
		}
	}
	return a
}

// Check reports every problem with an effect's fields against the plant,
// each naming its field; none means Compile may build it. A field left out
// is checked at its default, the value it will run with (a flood's default
// length must fit the scenario too).
func Check(kind string, a Args, t *Topology, lim Limits) []Problem {
	k, ok := Lookup(kind)
	if !ok {
		return []Problem{{Msg: fmt.Sprintf("unknown effect kind %q", kind)}}
	}
	c := &checker{topo: t, lim: lim, args: Defaults(kind, a)}
	if a.PLC != "" {
		if m, err := t.Model(a.PLC); err == nil {
			c.model = m
		} else {
			c.bad("plc", "unknown PLC %q", a.PLC)
		}
	}
	for _, f := range k.Fields {
		if !f.Own {
			c.field(f)
		}
	}
	if k.check != nil {
		k.check(c)
	}
	return c.problems
}

// Compile builds an effect from fields Check found no problem with and
// Defaults filled; it does not check them again.
func Compile(kind string, a Args, t *Topology) Effect {
	c := &compiler{args: a, e: Effect{Kind: kind, PLC: a.PLC}}
	if a.PLC != "" {
		c.model, _ = t.Model(a.PLC)
	}
	if a.Value != nil {
		c.e.Value, c.e.HasValue = *a.Value, true
	}
	k, ok := Lookup(kind)
	if !ok {
		return c.e
	}
	for _, f := range k.Fields {
		if !f.Own {
			c.field(f)
		}
	}
	if k.compile != nil {
		k.compile(c)
	}
	return c.e
}

// checker is one effect's fields being checked.
type checker struct {
	topo     *Topology
	lim      Limits
	args     Args            // with the kind's defaults
	model    *plantsim.Model // the effect's PLC's, once known
	problems []Problem
}

func (c *checker) bad(field, format string, args ...any) {
	c.problems = append(c.problems, Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// field checks one field by its role.
func (c *checker) field(f Field) {
	v := c.args.text(f.Name)
	switch f.Role {
	case RoleHost:
		if v == "" {
			return
		}
		if _, ok := c.topo.Host(v); !ok {
			c.bad(f.Name, "unknown host %q", v)
		}
	case RolePLC:
		if f.Name == "plc" || v == "" {
			return // the PLC itself is checked before any field
		}
		if _, ok := c.topo.PLC(v); !ok {
			c.bad(f.Name, "unknown PLC %q", v)
		}
	case RoleTag:
		if c.model == nil || (v == "" && !f.Required) {
			return
		}
		if _, err := c.model.TagOf(v, f.Tables...); err != nil {
			c.bad(f.Name, "%v", err)
		}
	case RoleProgram:
		if c.model == nil {
			return
		}
		if _, ok := c.model.Program(v); !ok {
			c.bad(f.Name, "model %s has no logic program %q (have %s)", c.model.Name, v, strings.Join(c.model.Programs, ", "))
		}
	case RoleMode:
		switch plantsim.Mode(v) {
		case plantsim.ModeRun, plantsim.ModeStop, plantsim.ModeProgram:
		default:
			c.bad(f.Name, "mode %q is not one of run, stop, program", v)
		}
	case RoleFault:
		if c.model == nil {
			return
		}
		if _, ok := c.model.Fault(v); !ok {
			var names []string
			for _, fd := range c.model.AllFaults() {
				names = append(names, fd.Name)
			}
			c.bad(f.Name, "model %s has no fault %q (have %s)", c.model.Name, v, strings.Join(names, ", "))
		}
	}
}

// compiler is one checked effect being compiled.
type compiler struct {
	args  Args
	model *plantsim.Model // the effect's PLC's
	e     Effect
}

// field puts one field into the effect by its role.
func (c *compiler) field(f Field) {
	v := c.args.text(f.Name)
	switch f.Role {
	case RoleHost:
		switch {
		case v == "":
		case f.Name == "host":
			c.e.Host = v
		default:
			c.e.From = v
		}
	case RoleZone:
		if f.Name == "to" {
			c.e.To = v
		} else {
			c.e.From = v
		}
	case RolePLC:
		if f.Name != "plc" && v != "" {
			c.e.PLC = v
		}
	case RoleTag:
		if c.model == nil || (v == "" && !f.Required) {
			return
		}
		// The tag's own name, without the table prefix a scenario may write.
		c.e.Tag, _ = c.model.TagOf(v, f.Tables...)
	case RoleDuration:
		if f.Name == "window" {
			c.e.Window = c.args.Window
		} else {
			c.e.Duration = c.args.Duration
		}
	case RoleProgram:
		c.e.Program = v
	case RoleMode:
		c.e.Mode = v
	case RoleFault:
		c.e.Fault = v
	}
}
