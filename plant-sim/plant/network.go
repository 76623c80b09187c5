package plant

import (
	"errors"
	"fmt"
	"slices"
)

// Host statuses, as views show them.
const (
	StatusRunning      = "running"
	StatusStopped      = "stopped"
	StatusPaused       = "paused"
	StatusDisconnected = "disconnected"
)

// HostState is what the logical network knows of one host.
type HostState struct {
	Down   bool // stopped
	Paused bool // running but frozen: its processes stop, its network stays up
	Off    bool // off its zone network
}

// Up reports whether the host's processes run (a disconnected host is up,
// only cut off).
func (s HostState) Up() bool { return !s.Down && !s.Paused }

// Status names the first of stopped, paused, disconnected that holds, or
// running. Only a running host plays traffic.
func (s HostState) Status() string {
	switch {
	case s.Down:
		return StatusStopped
	case s.Paused:
		return StatusPaused
	case s.Off:
		return StatusDisconnected
	}
	return StatusRunning
}

// Network is one team's plant network: the topology and the state of its
// hosts and conduits. It is a value: Apply returns the next state and
// leaves the receiver as it was, so the engine's fold, a deployment and a
// test can hold states side by side.
type Network struct {
	topo  *Topology
	hosts []HostState // by topology host index
	cut   []bool      // by topology conduit index
	reach map[[2]string]Ports
}

// NewNetwork is the network as provisioned: every host running and
// connected, every conduit open. A nil topology is an empty plant.
func NewNetwork(t *Topology) Network {
	if t == nil {
		t = NewTopology(nil, nil, nil, nil)
	}
	n := Network{topo: t, hosts: make([]HostState, len(t.Hosts)), cut: make([]bool, len(t.Conduits))}
	n.reach = n.closure()
	return n
}

// Topology is the network's fixed shape.
func (n Network) Topology() *Topology { return n.topo }

// Host is a host's state (the zero state for an unknown id).
func (n Network) Host(id string) HostState {
	if i, ok := n.topo.host[id]; ok {
		return n.hosts[i]
	}
	return HostState{}
}

// Open reports whether the conduit from → to is open (false if there is
// none).
func (n Network) Open(from, to string) bool {
	i, ok := n.topo.conduit[[2]string{from, to}]
	return ok && !n.cut[i]
}

// Cut lists the cut conduits as [from, to] pairs, in the topology's order.
func (n Network) Cut() [][2]string {
	var out [][2]string
	for i, c := range n.topo.Conduits {
		if n.cut[i] {
			out = append(out, [2]string{c.From, c.To})
		}
	}
	return out
}

// Apply is the network after an effect that succeeded, and whether it
// differs. Effects that are not network effects change nothing.
func (n Network) Apply(e Effect) (Network, bool) {
	k, ok := Lookup(e.Kind)
	if !ok || k.net == nil {
		return n, false
	}
	next := n
	next.hosts = slices.Clone(n.hosts)
	next.cut = slices.Clone(n.cut)
	k.net(&next, e)
	if slices.Equal(next.hosts, n.hosts) && slices.Equal(next.cut, n.cut) {
		return n, false
	}
	if !slices.Equal(next.cut, n.cut) {
		next.reach = next.closure()
	}
	return next, true
}

func (n *Network) setHost(id string, f func(*HostState)) {
	if i, ok := n.topo.host[id]; ok {
		f(&n.hosts[i])
	}
}

func (n *Network) setCut(from, to string, cut bool) {
	if i, ok := n.topo.conduit[[2]string{from, to}]; ok {
		n.cut[i] = cut
	}
}

// Restore is the effects that take a freshly provisioned network to n, in
// an order every backend can carry out: stop, then pause (a stopped host has
// no pause to put back), then disconnect, then the cut conduits.
func (n Network) Restore() []Effect {
	var out []Effect
	for i, h := range n.topo.Hosts {
		s := n.hosts[i]
		switch {
		case s.Down:
			out = append(out, Effect{Kind: KindStopHost, Host: h.ID})
		case s.Paused:
			out = append(out, Effect{Kind: KindPauseHost, Host: h.ID})
		}
		if s.Off {
			out = append(out, Effect{Kind: KindDisconnectHost, Host: h.ID})
		}
	}
	for _, c := range n.Cut() {
		out = append(out, Effect{Kind: KindCutConduit, From: c[0], To: c[1]})
	}
	return out
}

func (n Network) closure() map[[2]string]Ports {
	var links []Link[string]
	for i, c := range n.topo.Conduits {
		if !n.cut[i] {
			links = append(links, Link[string]{From: c.From, To: c.To, Ports: PortsOf(c.Ports)})
		}
	}
	out := map[[2]string]Ports{}
	for _, l := range Closure(links) {
		out[[2]string{l.From, l.To}] = l.Ports
	}
	return out
}

// ZoneReach reports whether traffic from one zone reaches another on a TCP
// port through the open conduits (a zone always reaches itself).
func (n Network) ZoneReach(from, to string, port int) bool {
	return from == to || n.reach[[2]string{from, to}].Has(port)
}

// ErrBlocked marks traffic the network does not carry.
var ErrBlocked = errors.New("blocked")

// Silenced says why a host sends no traffic at all, if it doesn't: it is
// stopped, paused (its processes are frozen) or disconnected (it has no
// network). The error wraps ErrBlocked.
func (n Network) Silenced(host string) error {
	i, ok := n.topo.host[host]
	if !ok {
		return fmt.Errorf("unknown host %q", host)
	}
	switch s := n.hosts[i]; {
	case s.Down:
		return fmt.Errorf("%w: host %s is stopped", ErrBlocked, host)
	case s.Paused:
		return fmt.Errorf("%w: host %s is paused", ErrBlocked, host)
	case s.Off:
		return fmt.Errorf("%w: host %s is disconnected", ErrBlocked, host)
	}
	return nil
}

// Reach says whether a host's traffic reaches a zone on a TCP port, and why
// not when it doesn't (an error wrapping ErrBlocked).
func (n Network) Reach(host, zone string, port int) error {
	if err := n.Silenced(host); err != nil {
		return err
	}
	h := n.topo.Hosts[n.topo.host[host]]
	if !n.ZoneReach(h.Zone, zone, port) {
		return fmt.Errorf("%w: no open conduit from zone %s to zone %s on port %d", ErrBlocked, h.Zone, zone, port)
	}
	return nil
}

// Reaches reports whether a host's Modbus traffic reaches a PLC (rules'
// reachable()).
func (n Network) Reaches(host, plc string) bool {
	p, ok := n.topo.PLC(plc)
	return ok && n.Reach(host, p.Zone, ModbusPort) == nil
}
