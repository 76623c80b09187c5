package scenario

import (
	"sort"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/invopop/jsonschema"

	"github.com/icsrange/icsrange/engine/backend"
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

type effectKind struct {
	required []string
	optional []string
	desc     string
}

// effectKinds is the table of effect kinds: fields and a description.
var effectKinds = map[string]effectKind{
	backend.KindModbusWrite:    {[]string{"plc", "register", "value"}, []string{"from"}, "Write a holding register over Modbus (from a host: real traffic that conduits can block)."},
	backend.KindCoilWrite:      {[]string{"plc", "coil", "value"}, []string{"from"}, "Write a coil over Modbus (from a host: real traffic that conduits can block)."},
	backend.KindSet:            {[]string{"plc", "tag", "value"}, nil, "Write PLC memory (coil or holding tag) through engineering access; never blocked."},
	backend.KindSpoof:          {[]string{"plc", "tag", "value"}, []string{"from"}, "What Modbus clients read for the tag shows a constant value; the physics go on."},
	backend.KindFreeze:         {[]string{"plc", "tag"}, []string{"from"}, "What Modbus clients read for the tag stops changing."},
	backend.KindReplay:         {[]string{"plc", "tag"}, []string{"window", "from"}, "What Modbus clients read for the tag loops its recorded last window (default 20s)."},
	backend.KindRelease:        {[]string{"plc", "tag"}, []string{"from"}, "Remove a spoof, freeze or replay from a tag."},
	backend.KindScan:           {[]string{"from"}, []string{"target"}, "Modbus reconnaissance: port 502 scan, unit-id sweep, device identification."},
	backend.KindFlood:          {[]string{"from", "plc"}, []string{"duration"}, "Connection exhaustion and request flood for a duration (default 60s)."},
	backend.KindLogic:          {[]string{"plc", "program"}, []string{"from"}, "Replace the PLC's logic program (its checksum changes)."},
	backend.KindMode:           {[]string{"plc", "mode"}, []string{"from"}, "Change the PLC mode: run, stop, program."},
	backend.KindFault:          {[]string{"plc", "fault"}, []string{"tag", "value", "from"}, "Start a device or process fault."},
	backend.KindClearFault:     {[]string{"plc", "fault"}, []string{"tag", "from"}, "Clear a fault."},
	backend.KindStopHost:       {[]string{"host"}, nil, "Stop a host (e.g. ransomware on the HMI)."},
	backend.KindStartHost:      {[]string{"host"}, nil, "Start a stopped host (a paused one resumes)."},
	backend.KindPauseHost:      {[]string{"host"}, nil, "Freeze a host: its processes stop, its network stays up (e.g. ransomware locking the HMI)."},
	backend.KindResumeHost:     {[]string{"host"}, nil, "Unfreeze a paused host."},
	backend.KindDisconnectHost: {[]string{"host"}, nil, "Take a host off its zone network (isolate it): its traffic reaches nothing."},
	backend.KindReconnectHost:  {[]string{"host"}, nil, "Put a disconnected host back on its zone network."},
	backend.KindCutConduit:     {[]string{"from", "to"}, nil, "Block the conduit between two zones."},
	backend.KindRestoreConduit: {[]string{"from", "to"}, nil, "Reopen a blocked conduit."},
}

// EffectKinds lists the kinds, sorted.
func EffectKinds() []string {
	out := make([]string, 0, len(effectKinds))
	for k := range effectKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// JSONSchema describes an effect: one of the kinds, each with its fields.
func (EffectSpec) JSONSchema() *jsonschema.Schema {
	r := &jsonschema.Reflector{ExpandedStruct: true, FieldNameTag: "yaml", DoNotReference: true}
	all := r.Reflect(&EffectArgs{})
	var one []*jsonschema.Schema
	for _, name := range EffectKinds() {
		k := effectKinds[name]
		props := jsonschema.NewProperties()
		for _, f := range append(k.required, k.optional...) {
			if s, ok := all.Properties.Get(f); ok {
				props.Set(f, s)
			}
		}
		outer := jsonschema.NewProperties()
		outer.Set(name, &jsonschema.Schema{Type: "object", Properties: props, Required: k.required,
			AdditionalProperties: jsonschema.FalseSchema, Description: k.desc})
		one = append(one, &jsonschema.Schema{Type: "object", Properties: outer, Required: []string{name},
			AdditionalProperties: jsonschema.FalseSchema})
	}
	return &jsonschema.Schema{OneOf: one, Description: "An effect: a map with one key, its kind."}
}
