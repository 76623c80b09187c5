package plant

import (
	"sort"
	"time"
)

// Effect is one compiled effect: what an inject or an action does to a
// team's plant. Which fields are set depends on Kind; its registry entry
// says which. The JSON form is what the event log keeps.
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
	if k, ok := Lookup(e.Kind); ok {
		return k.text(e)
	}
	return e.Kind
}

// Outcomes of an effect.
const (
	OK      = "ok"
	Blocked = "blocked" // the network stopped it
)

// Result says what an effect did, for the event log and the debrief.
type Result struct {
	// Outcome is OK, or Blocked when the network stopped it.
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// Carry is how a backend carries an effect kind out.
type Carry int

// Ways of carrying an effect out.
const (
	// OnPLC effects change a PLC through engineering access (the
	// instructor's hand, or an attacker's when from: names a host, which
	// must then reach the PLC's zone on the Modbus port).
	OnPLC Carry = iota
	// FromHost effects are traffic a host sends: real Modbus from the
	// host, which the plant's network carries or blocks.
	FromHost
	// OnNetwork effects change the plant's network: hosts and conduits.
	// The logical network always changes; backends with real hosts and
	// networks carry the change out physically.
	OnNetwork
)

// Lookup returns an effect kind's registry entry.
func Lookup(name string) (*Kind, bool) {
	k, ok := kinds[name]
	return k, ok
}

// Kinds lists every effect kind, sorted by name.
func Kinds() []*Kind {
	out := make([]*Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
