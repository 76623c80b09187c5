package scenario

import (
	"github.com/icsrange/icsrange/plant-sim/plant"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/invopop/jsonschema"
)

// EffectSpec is one effect in a do: list, written as a map with one key, the
// kind, whose value holds the kind's fields:
//
//   - modbus_write: {from: attacker, plc: intake, register: level_sp, value: 4.5}
//
// It is decoded in two steps, like k6's executors: the kind picks which
// fields are allowed and required.
type EffectSpec struct {
	Kind string
	Args EffectArgs
	line int
	col  int
}

// EffectArgs are every field an effect kind may take.
type EffectArgs struct {
	// Host the attack comes from: its traffic crosses the conduits and is
	// blocked when they are cut. Without it the effect needs no network
	// (the instructor's hand). For conduits: the source zone.
	From string `yaml:"from,omitempty"`
	// Destination zone (conduits).
	To string `yaml:"to,omitempty"`
	// Target PLC.
	PLC string `yaml:"plc,omitempty"`
	// Holding-register tag, optionally prefixed hr: (modbus_write).
	Register string `yaml:"register,omitempty"`
	// Coil tag, optionally prefixed co: (coil_write).
	Coil string `yaml:"coil,omitempty"`
	// Tag name.
	Tag string `yaml:"tag,omitempty"`
	// Value in engineering units; true/false for coils.
	Value *Number `yaml:"value,omitempty"`
	// Replay window; default 20s.
	Window Duration `yaml:"window,omitempty"`
	// Scan target PLC; default every PLC the host reaches.
	Target string `yaml:"target,omitempty"`
	// Flood duration; default 60s.
	Duration Duration `yaml:"duration,omitempty"`
	// Logic program name.
	Program string `yaml:"program,omitempty"`
	// PLC mode: run, stop, program.
	Mode string `yaml:"mode,omitempty"`
	// Fault name.
	Fault string `yaml:"fault,omitempty"`
	// Host to stop, start, pause, resume, disconnect or reconnect.
	Host string `yaml:"host,omitempty"`
}

// Number is a number, or a boolean read as 1/0 (for coils).
type Number float64

// UnmarshalYAML accepts numbers and booleans.
func (n *Number) UnmarshalYAML(node ast.Node) error {
	switch v := unwrap(node).(type) {
	case *ast.IntegerNode, *ast.FloatNode:
		var f float64
		if err := yaml.NodeToValue(v, &f); err != nil {
			return posErr(node, "bad number: %v", err)
		}
		*n = Number(f)
		return nil
	case *ast.BoolNode:
		if v.Value {
			*n = 1
		} else {
			*n = 0
		}
		return nil
	}
	return posErr(node, "want a number (or true/false for a coil)")
}

// JSONSchema describes Number.
func (Number) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{OneOf: []*jsonschema.Schema{{Type: "number"}, {Type: "boolean"}}}
}

// EffectKinds lists the kinds, sorted.
func EffectKinds() []string {
	var out []string
	for _, k := range plant.Kinds() {
		out = append(out, k.Name)
	}
	return out
}

// JSONSchema describes an effect: one of the kinds, each with its fields.
func (EffectSpec) JSONSchema() *jsonschema.Schema {
	r := &jsonschema.Reflector{ExpandedStruct: true, FieldNameTag: "yaml", DoNotReference: true}
	all := r.Reflect(&EffectArgs{})
	var one []*jsonschema.Schema
	for _, k := range plant.Kinds() {
		name := k.Name
		props := jsonschema.NewProperties()
		for _, f := range append(k.Required(), k.Optional()...) {
			if s, ok := all.Properties.Get(f); ok {
				props.Set(f, s)
			}
		}
		outer := jsonschema.NewProperties()
		outer.Set(name, &jsonschema.Schema{Type: "object", Properties: props, Required: k.Required(),
			AdditionalProperties: jsonschema.FalseSchema, Description: k.Desc})
		one = append(one, &jsonschema.Schema{Type: "object", Properties: outer, Required: []string{name},
			AdditionalProperties: jsonschema.FalseSchema})
	}
	return &jsonschema.Schema{OneOf: one, Description: "An effect: a map with one key, its kind."}
}

// plant is the fields as the effect registry reads them.
func (a EffectArgs) plant() plant.Args {
	p := plant.Args{From: a.From, To: a.To, PLC: a.PLC, Register: a.Register, Coil: a.Coil, Tag: a.Tag,
		Window: a.Window.D(), Target: a.Target, Duration: a.Duration.D(), Program: a.Program, Mode: a.Mode,
		Fault: a.Fault, Host: a.Host}
	if a.Value != nil {
		v := float64(*a.Value)
		p.Value = &v
	}
	return p
}

// argsOf is the inverse of EffectArgs.plant, for the fields the registry
// filled in (plant.Defaults).
func argsOf(p plant.Args) EffectArgs {
	a := EffectArgs{From: p.From, To: p.To, PLC: p.PLC, Register: p.Register, Coil: p.Coil, Tag: p.Tag,
		Window: Duration(p.Window), Target: p.Target, Duration: Duration(p.Duration), Program: p.Program, Mode: p.Mode,
		Fault: p.Fault, Host: p.Host}
	if p.Value != nil {
		v := Number(*p.Value)
		a.Value = &v
	}
	return a
}
