package backend

import (
	"fmt"
	"time"
)

// Effect kinds, as scenarios name them.
const (
	KindModbusWrite    = "modbus_write"    // write a holding register over Modbus from a host
	KindCoilWrite      = "coil_write"      // write a coil over Modbus from a host
	KindSet            = "set"             // write PLC memory through engineering access
	KindSpoof          = "spoof"           // reported value shows a constant
	KindFreeze         = "freeze"          // reported value holds
	KindReplay         = "replay"          // reported value loops recorded data
	KindRelease        = "release"         // reported value follows the sensor again
	KindScan           = "scan"            // Modbus reconnaissance from a host
	KindFlood          = "flood"           // connection exhaustion and request flood from a host
	KindLogic          = "logic"           // replace the logic program
	KindMode           = "mode"            // change PLC mode
	KindFault          = "fault"           // start a process or device fault
	KindClearFault     = "clear_fault"     // clear a fault
	KindStopHost       = "stop_host"       // stop a host
	KindStartHost      = "start_host"      // start a host
	KindPauseHost      = "pause_host"      // freeze a host's processes; its network stays up
	KindResumeHost     = "resume_host"     // unfreeze a paused host
	KindDisconnectHost = "disconnect_host" // take a host off its zone network
	KindReconnectHost  = "reconnect_host"  // put a host back on its zone network
	KindCutConduit     = "cut_conduit"     // block a conduit
	KindRestoreConduit = "restore_conduit" // reopen a conduit
)

// Effect is one compiled effect. Which fields are set depends on Kind.
type Effect struct {
	Kind     string        `json:"kind"`
	From     string        `json:"from,omitempty"`      // host (attacks) or zone (conduits)
	To       string        `json:"to,omitempty"`        // zone (conduits)
	PLC      string        `json:"plc,omitempty"`       // target PLC
	Tag      string        `json:"tag,omitempty"`       // tag name
	Value    float64       `json:"value,omitempty"`     // engineering value
	HasValue bool          `json:"has_value,omitempty"` // Value was given
	Window   time.Duration `json:"window,omitempty"`    // replay window
	Duration time.Duration `json:"duration,omitempty"`  // flood duration
	Program  string        `json:"program,omitempty"`   //
	Mode     string        `json:"mode,omitempty"`      //
	Fault    string        `json:"fault,omitempty"`     //
	Host     string        `json:"host,omitempty"`      // host effects: stop, start, pause, resume, disconnect, reconnect
}

// String is a one-line description for logs and reports.
func (e Effect) String() string {
	switch e.Kind {
	case KindModbusWrite, KindCoilWrite, KindSet:
		s := fmt.Sprintf("%s %s.%s=%g", e.Kind, e.PLC, e.Tag, e.Value)
		if e.From != "" {
			s += " from " + e.From
		}
		return s
	case KindSpoof:
		return fmt.Sprintf("spoof %s.%s=%g", e.PLC, e.Tag, e.Value) + from(e.From)
	case KindFreeze, KindRelease:
		return fmt.Sprintf("%s %s.%s", e.Kind, e.PLC, e.Tag) + from(e.From)
	case KindReplay:
		return fmt.Sprintf("replay %s.%s last %v", e.PLC, e.Tag, e.Window) + from(e.From)
	case KindScan:
		t := e.PLC
		if t == "" {
			t = "all reachable PLCs"
		}
		return fmt.Sprintf("scan %s from %s", t, e.From)
	case KindFlood:
		return fmt.Sprintf("flood %s from %s for %v", e.PLC, e.From, e.Duration)
	case KindLogic:
		return fmt.Sprintf("logic %s=%s", e.PLC, e.Program) + from(e.From)
	case KindMode:
		return fmt.Sprintf("mode %s=%s", e.PLC, e.Mode) + from(e.From)
	case KindFault, KindClearFault:
		s := fmt.Sprintf("%s %s %s", e.Kind, e.PLC, e.Fault)
		if e.Tag != "" {
			s += " " + e.Tag
		}
		return s + from(e.From)
	case KindStopHost, KindStartHost, KindPauseHost, KindResumeHost, KindDisconnectHost, KindReconnectHost:
		return e.Kind + " " + e.Host
	case KindCutConduit, KindRestoreConduit:
		return fmt.Sprintf("%s %s→%s", e.Kind, e.From, e.To)
	}
	return e.Kind
}

func from(host string) string {
	if host == "" {
		return ""
	}
	return " from " + host
}
