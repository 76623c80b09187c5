package plant

import (
	"fmt"
	"strings"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

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

// Build checks an effect's fields against the plant and compiles it. It
// returns every problem, each naming its field; the effect is only usable
// when there are none. The kind must be known (decoding checks that).
func Build(kind string, a Args, t *Topology, lim Limits) (Effect, []Problem) {
	k, ok := Lookup(kind)
	if !ok {
		return Effect{}, []Problem{{Msg: fmt.Sprintf("unknown effect kind %q", kind)}}
	}
	b := &builder{topo: t, lim: lim, args: a, e: Effect{Kind: kind}}
	if a.PLC != "" {
		b.e.PLC = a.PLC
		if m, err := t.Model(a.PLC); err == nil {
			b.model = m
		} else {
			b.bad("plc", "unknown PLC %q", a.PLC)
		}
	}
	if a.Value != nil {
		b.e.Value, b.e.HasValue = *a.Value, true
	}
	for _, f := range k.Fields {
		if !f.Own {
			b.field(f)
		}
	}
	if k.check != nil {
		k.check(b)
	}
	return b.e, b.problems
}

// builder is one effect being checked and compiled.
type builder struct {
	topo     *Topology
	lim      Limits
	args     Args
	model    *plantsim.Model // the effect's PLC's, once known
	e        Effect
	problems []Problem
}

func (b *builder) bad(field, format string, args ...any) {
	b.problems = append(b.problems, Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// field checks one field by its role and puts it into the effect.
func (b *builder) field(f Field) {
	v := b.args.text(f.Name)
	switch f.Role {
	case RoleHost:
		if v == "" {
			return
		}
		if _, ok := b.topo.Host(v); !ok {
			b.bad(f.Name, "unknown host %q", v)
		}
		if f.Name == "host" {
			b.e.Host = v
		} else {
			b.e.From = v
		}
	case RoleZone:
		if f.Name == "to" {
			b.e.To = v
		} else {
			b.e.From = v
		}
	case RolePLC:
		if f.Name == "plc" || v == "" {
			return // the PLC itself is checked before any field
		}
		if _, ok := b.topo.PLC(v); !ok {
			b.bad(f.Name, "unknown PLC %q", v)
		}
		b.e.PLC = v
	case RoleTag:
		if b.model == nil || (v == "" && !f.Required) {
			return
		}
		tag, err := b.model.TagOf(v, f.Tables...)
		if err != nil {
			b.bad(f.Name, "%v", err)
		}
		b.e.Tag = tag
	case RoleDuration:
		if f.Name == "window" {
			b.e.Window = b.args.Window
		} else {
			b.e.Duration = b.args.Duration
		}
	case RoleProgram:
		b.e.Program = v
		if b.model != nil {
			if _, ok := b.model.Program(v); !ok {
				b.bad(f.Name, "model %s has no logic program %q (have %s)", b.model.Name, v, strings.Join(b.model.Programs, ", "))
			}
		}
	case RoleMode:
		b.e.Mode = v
		switch plantsim.Mode(v) {
		case plantsim.ModeRun, plantsim.ModeStop, plantsim.ModeProgram:
		default:
			b.bad(f.Name, "mode %q is not one of run, stop, program", v)
		}
	case RoleFault:
		b.e.Fault = v
		if b.model != nil {
			if _, ok := b.model.Fault(v); !ok {
				var names []string
				for _, fd := range b.model.AllFaults() {
					names = append(names, fd.Name)
				}
				b.bad(f.Name, "model %s has no fault %q (have %s)", b.model.Name, v, strings.Join(names, ", "))
			}
		}
	}
}
