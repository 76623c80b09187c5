// Package plant is a team plant's logical shape and what can happen to it:
// the topology (zones, the conduits between them, PLCs and hosts placed in
// zones), the network state (hosts running, stopped, paused or
// disconnected; conduits open or cut) with the one reachability every
// backend and the engine share, and the registry of effect kinds — one
// entry per kind, owning its fields, its checks, its text and how a backend
// carries it out.
//
// The engine folds effects into each team's Network, deployments keep the
// same value to decide what host traffic may pass, and a Docker plant's
// router renders its firewall from the same closure, so a scenario scores
// alike on every backend.
package plant

import (
	"fmt"
	"slices"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// ModbusPort is the TCP port PLCs serve Modbus on inside a plant; conduits
// are checked against it for Modbus traffic.
const ModbusPort = 502

// Conduit is an allowed flow between zones; no ports means any port.
type Conduit struct {
	From, To string
	Ports    []int
}

// Allows reports whether the conduit passes a TCP port.
func (c Conduit) Allows(port int) bool {
	return len(c.Ports) == 0 || slices.Contains(c.Ports, port)
}

// PLC is one PLC of the plant.
type PLC struct {
	ID     string
	Model  string
	Zone   string
	Params plantsim.Params
	UnitID byte
	Scan   time.Duration
	Noise  float64
	// FrameTimeout is the Modbus server's frame deadline; 0 for
	// plantsim.DefaultFrameTimeout.
	FrameTimeout time.Duration
}

// Host is a non-PLC host: an attacker's foothold, a workstation, an HMI.
type Host struct {
	ID      string
	Role    string
	Zone    string
	Address string
}

// Topology is a plant's fixed shape: the same for every team.
type Topology struct {
	Zones    []string
	Conduits []Conduit
	PLCs     []PLC
	Hosts    []Host

	host    map[string]int
	plc     map[string]int
	conduit map[[2]string]int
}

// NewTopology indexes a plant's parts. Ids must be unique (the scenario
// loader checks them).
func NewTopology(zones []string, conduits []Conduit, plcs []PLC, hosts []Host) *Topology {
	t := &Topology{Zones: zones, Conduits: conduits, PLCs: plcs, Hosts: hosts,
		host: map[string]int{}, plc: map[string]int{}, conduit: map[[2]string]int{}}
	for i, h := range hosts {
		t.host[h.ID] = i
	}
	for i, p := range plcs {
		t.plc[p.ID] = i
	}
	for i, c := range conduits {
		t.conduit[[2]string{c.From, c.To}] = i
	}
	return t
}

// Host returns a host by id.
func (t *Topology) Host(id string) (Host, bool) {
	i, ok := t.host[id]
	if !ok {
		return Host{}, false
	}
	return t.Hosts[i], true
}

// PLC returns a PLC by id.
func (t *Topology) PLC(id string) (PLC, bool) {
	i, ok := t.plc[id]
	if !ok {
		return PLC{}, false
	}
	return t.PLCs[i], true
}

// Model returns a PLC's process model.
func (t *Topology) Model(plc string) (*plantsim.Model, error) {
	p, ok := t.PLC(plc)
	if !ok {
		return nil, fmt.Errorf("unknown PLC %q", plc)
	}
	m, ok := plantsim.LookupModel(p.Model)
	if !ok {
		return nil, fmt.Errorf("plc %s: unknown model %q", p.ID, p.Model)
	}
	return m, nil
}

// HasConduit reports whether the plant has a conduit from → to.
func (t *Topology) HasConduit(from, to string) bool {
	_, ok := t.conduit[[2]string{from, to}]
	return ok
}

// HasZone reports whether the plant has a zone.
func (t *Topology) HasZone(z string) bool { return slices.Contains(t.Zones, z) }
