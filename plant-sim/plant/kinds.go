package plant

import (
	"fmt"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/attack"
)

// Effect kinds, as scenarios name them.
const (
	KindModbusWrite    = "modbus_write"
	KindCoilWrite      = "coil_write"
	KindSet            = "set"
	KindSpoof          = "spoof"
	KindFreeze         = "freeze"
	KindReplay         = "replay"
	KindRelease        = "release"
	KindScan           = "scan"
	KindFlood          = "flood"
	KindLogic          = "logic"
	KindMode           = "mode"
	KindFault          = "fault"
	KindClearFault     = "clear_fault"
	KindStopHost       = "stop_host"
	KindStartHost      = "start_host"
	KindPauseHost      = "pause_host"
	KindResumeHost     = "resume_host"
	KindDisconnectHost = "disconnect_host"
	KindReconnectHost  = "reconnect_host"
	KindCutConduit     = "cut_conduit"
	KindRestoreConduit = "restore_conduit"
)

// Kind is one effect kind's registry entry: everything the scenario
// loader, the engine and the backends need to know of it.
type Kind struct {
	Name  string
	Desc  string // one line for the scenario reference and the JSON Schema
	Carry Carry
	// Fields are what a scenario writes, in the order the schema lists
	// them.
	Fields []Field

	// check adds the kind's own checks after every field's; compile puts
	// the kind's Own fields into the effect.
	check   func(c *checker)
	compile func(c *compiler)
	text    func(e Effect) string
	// plc is the change an OnPLC effect makes in the PLC.
	plc func(e Effect) plantsim.Effect
	// attack is the traffic a FromHost effect plays, without its targets
	// and unit (the deployment knows where each PLC is reached).
	attack func(e Effect, m *plantsim.Model) (attack.Spec, error)
	// net changes an OnNetwork effect's part of the network.
	net func(n *Network, e Effect)
	// same says why an OnNetwork effect changed nothing (from state s).
	same func(e Effect, s HostState) string
}

// Field is one field of an effect as a scenario writes it.
type Field struct {
	Name     string
	Required bool
	Role     Role
	Tables   []plantsim.Table // RoleTag: the tables its tag may be in
	// Own fields are checked and compiled by the kind's own check and
	// compile alone.
	Own bool
	// Default is a RoleDuration field's value when a scenario leaves it
	// out (Defaults fills it in).
	Default time.Duration
}

// Role says what a field names, and so how it is checked.
type Role int

// Field roles.
const (
	RoleHost     Role = iota // a host id
	RoleZone                 // a zone name
	RolePLC                  // a PLC id
	RoleTag                  // a tag of the PLC's model, in Tables
	RoleValue                // a number in engineering units
	RoleDuration             // a duration
	RoleProgram              // a logic program of the PLC's model
	RoleMode                 // run, stop or program
	RoleFault                // a fault of the PLC's model
)

// Required and optional field lists, for decoding.
func (k *Kind) Required() []string { return k.names(true) }

// Optional lists the fields a kind may leave out.
func (k *Kind) Optional() []string { return k.names(false) }

func (k *Kind) names(required bool) []string {
	var out []string
	for _, f := range k.Fields {
		if f.Required == required {
			out = append(out, f.Name)
		}
	}
	return out
}

// PLCEffect is the change an OnPLC effect makes in its PLC.
func (k *Kind) PLCEffect(e Effect) plantsim.Effect { return k.plc(e) }

// Attack is the traffic a FromHost effect plays, for a PLC of model m (nil
// for a scan of several PLCs); the caller adds targets and unit.
func (k *Kind) Attack(e Effect, m *plantsim.Model) (attack.Spec, error) { return k.attack(e, m) }

// Unchanged is an OnNetwork effect's detail when the network was already
// as it asks (host state s before it).
func (k *Kind) Unchanged(e Effect, s HostState) string {
	return fmt.Sprintf("%s: host %s is %s", e, e.Host, k.same(e, s))
}

// Shared field definitions.
var (
	fromHost    = Field{Name: "from", Role: RoleHost}
	fromHostReq = Field{Name: "from", Role: RoleHost, Required: true}
	onPLC       = Field{Name: "plc", Role: RolePLC, Required: true}
	value       = Field{Name: "value", Role: RoleValue, Required: true}
	sensorTag   = Field{Name: "tag", Role: RoleTag, Required: true, Tables: []plantsim.Table{plantsim.DiscreteInput, plantsim.InputRegister}}
	hostField   = Field{Name: "host", Role: RoleHost, Required: true}
	zones       = []Field{{Name: "from", Role: RoleZone, Required: true}, {Name: "to", Role: RoleZone, Required: true}}
)

// maxReplayWindow is what a PLC records of each tag.
const maxReplayWindow = 60 * time.Second

func from(host string) string {
	if host == "" {
		return ""
	}
	return " from " + host
}

func write(e Effect) string {
	return fmt.Sprintf("%s %s.%s=%g", e.Kind, e.PLC, e.Tag, e.Value) + from(e.From)
}

func override(k string) func(Effect) plantsim.Effect {
	return func(e Effect) plantsim.Effect {
		pe := plantsim.Effect{Kind: k, Tag: e.Tag, Window: e.Window.Seconds()}
		if k == plantsim.EffectSpoof {
			v := e.Value
			pe.Value = &v
		}
		return pe
	}
}

func tagOnly(e Effect) string { return fmt.Sprintf("%s %s.%s", e.Kind, e.PLC, e.Tag) + from(e.From) }

// modbusWrite is a holding-register or coil write: FC6 to the scaled
// register, FC5 to a coil.
func modbusWrite(e Effect, m *plantsim.Model) (attack.Spec, error) {
	i, ok := m.Tag(e.Tag)
	if !ok {
		return attack.Spec{}, fmt.Errorf("plc %s has no tag %q", e.PLC, e.Tag)
	}
	def := m.Tags[i]
	s := attack.Spec{Kind: attack.Write, Addr: uint16(m.Layout().Addr[i]), Value: def.Scale(e.Value)}
	if def.Table == plantsim.Coil {
		s.Kind, s.Value = attack.Coil, 0
		if e.Value >= 0.5 {
			s.Value = 1
		}
	}
	return s, nil
}

func hostKind(name, desc string, net func(*HostState), same func(HostState) string) *Kind {
	return &Kind{Name: name, Desc: desc, Carry: OnNetwork, Fields: []Field{hostField},
		text: func(e Effect) string { return e.Kind + " " + e.Host },
		net:  func(n *Network, e Effect) { n.setHost(e.Host, net) },
		same: func(_ Effect, s HostState) string { return same(s) }}
}

func conduitKind(name, desc string, cut bool) *Kind {
	return &Kind{Name: name, Desc: desc, Carry: OnNetwork, Fields: zones,
		check: func(c *checker) {
			if !c.topo.HasConduit(c.args.From, c.args.To) {
				c.bad("from", "no conduit %s → %s in the plant", c.args.From, c.args.To)
			}
		},
		text: func(e Effect) string { return fmt.Sprintf("%s %s→%s", e.Kind, e.From, e.To) },
		net:  func(n *Network, e Effect) { n.setCut(e.From, e.To, cut) },
		same: func(Effect, HostState) string { return "" }}
}

// kinds is the registry: one entry per effect kind. It is never written
// to after start.
var kinds = func() map[string]*Kind {
	m := map[string]*Kind{}
	for _, k := range []*Kind{
		{Name: KindModbusWrite, Carry: FromHost,
			Desc:   "Write a holding register over Modbus (from a host: real traffic that conduits can block).",
			Fields: []Field{onPLC, {Name: "register", Role: RoleTag, Required: true, Tables: []plantsim.Table{plantsim.HoldingRegister}}, value, fromHost},
			text:   write, attack: modbusWrite},
		{Name: KindCoilWrite, Carry: FromHost,
			Desc:   "Write a coil over Modbus (from a host: real traffic that conduits can block).",
			Fields: []Field{onPLC, {Name: "coil", Role: RoleTag, Required: true, Tables: []plantsim.Table{plantsim.Coil}}, value, fromHost},
			text:   write, attack: modbusWrite},
		{Name: KindSet, Carry: OnPLC,
			Desc:   "Write PLC memory (coil or holding tag) through engineering access; never blocked.",
			Fields: []Field{onPLC, {Name: "tag", Role: RoleTag, Required: true, Tables: []plantsim.Table{plantsim.Coil, plantsim.HoldingRegister}}, value},
			text:   write,
			plc: func(e Effect) plantsim.Effect {
				v := e.Value
				return plantsim.Effect{Kind: plantsim.EffectWrite, Tag: e.Tag, Value: &v}
			}},
		{Name: KindSpoof, Carry: OnPLC,
			Desc:   "What Modbus clients read for the tag shows a constant value; the physics go on.",
			Fields: []Field{onPLC, sensorTag, value, fromHost},
			text:   func(e Effect) string { return fmt.Sprintf("spoof %s.%s=%g", e.PLC, e.Tag, e.Value) + from(e.From) },
			plc:    override(plantsim.EffectSpoof)},
		{Name: KindFreeze, Carry: OnPLC,
			Desc:   "What Modbus clients read for the tag stops changing.",
			Fields: []Field{onPLC, sensorTag, fromHost},
			text:   tagOnly, plc: override(plantsim.EffectFreeze)},
		{Name: KindReplay, Carry: OnPLC,
			Desc:   "What Modbus clients read for the tag loops its recorded last window (default 20s).",
			Fields: []Field{onPLC, sensorTag, {Name: "window", Role: RoleDuration, Default: 20 * time.Second}, fromHost},
			check: func(c *checker) {
				if c.args.Window > maxReplayWindow {
					c.bad("window", "replay window %v is over the %v a PLC records", c.args.Window, maxReplayWindow)
				}
			},
			text: func(e Effect) string {
				return fmt.Sprintf("replay %s.%s last %v", e.PLC, e.Tag, e.Window) + from(e.From)
			},
			plc: override(plantsim.EffectReplay)},
		{Name: KindRelease, Carry: OnPLC,
			Desc:   "Remove a spoof, freeze or replay from a tag.",
			Fields: []Field{onPLC, sensorTag, fromHost},
			text:   tagOnly, plc: override(plantsim.EffectRelease)},
		{Name: KindScan, Carry: FromHost,
			Desc:   "Modbus reconnaissance: port 502 scan, unit-id sweep, device identification.",
			Fields: []Field{fromHostReq, {Name: "target", Role: RolePLC}},
			text: func(e Effect) string {
				t := e.PLC
				if t == "" {
					t = "all reachable PLCs"
				}
				return fmt.Sprintf("scan %s from %s", t, e.From)
			},
			attack: func(Effect, *plantsim.Model) (attack.Spec, error) { return attack.Spec{Kind: attack.Scan}, nil }},
		{Name: KindFlood, Carry: FromHost,
			Desc:   "Connection exhaustion and request flood for a duration (default 60s).",
			Fields: []Field{fromHostReq, onPLC, {Name: "duration", Role: RoleDuration, Default: time.Minute}},
			check: func(c *checker) {
				if c.lim.Duration > 0 && c.args.Duration > c.lim.Duration {
					c.bad("duration", "flood of %v outlasts the scenario (%v)", c.args.Duration, c.lim.Duration)
				}
			},
			text: func(e Effect) string { return fmt.Sprintf("flood %s from %s for %v", e.PLC, e.From, e.Duration) },
			attack: func(e Effect, _ *plantsim.Model) (attack.Spec, error) {
				// Twice the default client limit: every slot is taken
				// whatever the PLC allows; the connections it turns away
				// just end.
				return attack.Spec{Kind: attack.Flood, For: e.Duration, Slots: 2 * plantsim.DefaultMaxClients}, nil
			}},
		{Name: KindLogic, Carry: OnPLC,
			Desc:   "Replace the PLC's logic program (its checksum changes).",
			Fields: []Field{onPLC, {Name: "program", Role: RoleProgram, Required: true}, fromHost},
			text:   func(e Effect) string { return fmt.Sprintf("logic %s=%s", e.PLC, e.Program) + from(e.From) },
			plc:    func(e Effect) plantsim.Effect { return plantsim.Effect{Kind: plantsim.EffectLogic, Program: e.Program} }},
		{Name: KindMode, Carry: OnPLC,
			Desc:   "Change the PLC mode: run, stop, program.",
			Fields: []Field{onPLC, {Name: "mode", Role: RoleMode, Required: true}, fromHost},
			text:   func(e Effect) string { return fmt.Sprintf("mode %s=%s", e.PLC, e.Mode) + from(e.From) },
			plc: func(e Effect) plantsim.Effect {
				return plantsim.Effect{Kind: plantsim.EffectMode, Mode: plantsim.Mode(e.Mode)}
			}},
		faultKind(KindFault, plantsim.EffectFault, "Start a device or process fault.", true),
		faultKind(KindClearFault, plantsim.EffectClearFault, "Clear a fault.", false),
		hostKind(KindStopHost, "Stop a host (e.g. ransomware on the HMI).",
			func(s *HostState) { s.Down, s.Paused = true, false },
			func(HostState) string { return "already stopped" }),
		hostKind(KindStartHost, "Start a stopped host (a paused one resumes).",
			func(s *HostState) { s.Down, s.Paused = false, false },
			func(HostState) string { return "already running" }),
		hostKind(KindPauseHost, "Freeze a host: its processes stop, its network stays up (e.g. ransomware locking the HMI).",
			func(s *HostState) { s.Paused = !s.Down },
			func(s HostState) string {
				if s.Down {
					return "stopped: nothing to pause"
				}
				return "already paused"
			}),
		hostKind(KindResumeHost, "Unfreeze a paused host.",
			func(s *HostState) { s.Paused = false },
			func(HostState) string { return "not paused" }),
		hostKind(KindDisconnectHost, "Take a host off its zone network (isolate it): its traffic reaches nothing.",
			func(s *HostState) { s.Off = true },
			func(HostState) string { return "already disconnected" }),
		hostKind(KindReconnectHost, "Put a disconnected host back on its zone network.",
			func(s *HostState) { s.Off = false },
			func(HostState) string { return "not disconnected" }),
		conduitKind(KindCutConduit, "Block the conduit between two zones.", true),
		conduitKind(KindRestoreConduit, "Reopen a blocked conduit.", false),
	} {
		m[k.Name] = k
	}
	return m
}()

func faultKind(name, pk, desc string, takesValue bool) *Kind {
	sensors := []plantsim.Table{plantsim.DiscreteInput, plantsim.InputRegister}
	fields := []Field{onPLC, {Name: "fault", Role: RoleFault, Required: true}, {Name: "tag", Role: RoleTag, Tables: sensors, Own: true}}
	if takesValue {
		fields = append(fields, Field{Name: "value", Role: RoleValue})
	}
	return &Kind{Name: name, Desc: desc, Carry: OnPLC, Fields: append(fields, fromHost),
		// Only a stuck sensor names the sensor; other faults are the PLC's
		// or the process's as a whole.
		check: func(c *checker) {
			if c.model == nil {
				return
			}
			if _, ok := c.model.Fault(c.args.Fault); !ok {
				return
			}
			switch {
			case c.args.Fault == plantsim.FaultSensorStuck:
				if _, err := c.model.TagOf(c.args.Tag, sensors...); err != nil {
					c.bad("tag", "%s needs a sensor tag: %v", c.args.Fault, err)
				}
			case c.args.Tag != "":
				c.bad("tag", "fault %s takes no tag", c.args.Fault)
			}
		},
		compile: func(c *compiler) {
			if c.args.Fault == plantsim.FaultSensorStuck && c.model != nil {
				c.e.Tag, _ = c.model.TagOf(c.args.Tag, sensors...)
			}
		},
		text: func(e Effect) string {
			s := fmt.Sprintf("%s %s %s", e.Kind, e.PLC, e.Fault)
			if e.Tag != "" {
				s += " " + e.Tag
			}
			return s + from(e.From)
		},
		plc: func(e Effect) plantsim.Effect {
			pe := plantsim.Effect{Kind: pk, Fault: e.Fault, Tag: e.Tag}
			if e.HasValue {
				v := e.Value
				pe.Value = &v
			}
			return pe
		}}
}
