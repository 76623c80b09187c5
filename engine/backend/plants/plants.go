// Package plants is the part of a deployment every backend shares: each
// team's PLCs behind a small handle, the team's plant network (a
// plant.Network value, as the engine folds it) and the effects applied to
// them, dispatched by how their kind is carried out. A backend provisions
// PLCs its own way (in this process, as processes Terraform starts, as
// containers) and hands the handles over, with an Attacker that plays host
// traffic and, where hosts and networks are real, a Network that carries
// network changes out.
package plants

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/icsrange/icsrange/internal/workpool"

	"github.com/icsrange/icsrange/engine/backend"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

// PLC is a handle on one PLC: in this process (*plantsim.PLC behind an
// adapter) or behind its management API (plantsim.MgmtClient).
type PLC interface {
	Apply(ctx context.Context, e plantsim.Effect) error
	// Advance drives the PLC to exercise time t and refreshes its values.
	Advance(ctx context.Context, t time.Duration) error
	Read(v *plantsim.Values) error
	Save(ctx context.Context) (*plantsim.Snapshot, error)
	Restore(ctx context.Context, s *plantsim.Snapshot) error
	// Capture returns the PLC's traffic and audit records after seq.
	Capture(ctx context.Context, after uint64) (plantsim.Capture, error)
	// Attribute tells the PLC who the client at remote really is.
	Attribute(ctx context.Context, remote, source, note string) error
}

// Endpoint is a provisioned PLC: its handle and where Modbus clients reach it.
type Endpoint struct {
	Spec   plant.PLC
	Handle PLC
	Modbus string // host:port trainees' tools use
	Mgmt   string // management API address, if any
	Engine string // where the engine dials Modbus itself, if not Modbus (backend.Endpoint.Engine)
	// Plant is where the plant's own hosts reach the PLC's Modbus (its
	// zone address in Docker); empty means Modbus.
	Plant string
}

// plantAddr is where a host of the plant sends the PLC's Modbus traffic.
func (p *Endpoint) plantAddr() string {
	if p.Plant != "" {
		return p.Plant
	}
	return p.Modbus
}

// Attacker plays host traffic: from the engine's process, attributed to the
// host (LocalAttacker), or from inside the host's own container (the
// Docker backend's host agents).
type Attacker interface {
	// Attack plays s from a team's host. A connection the network does
	// not carry is a Blocked outcome, not an error.
	Attack(ctx context.Context, team, host string, s attack.Spec) (attack.Result, error)
	// StopAttacks ends the floods a team's host is playing.
	StopAttacks(ctx context.Context, team, host string) error
}

// Network is implemented by backends whose hosts and networks are real
// (the Docker backend): it carries a change of the logical network out
// physically. Without it the network is logical only, and the deployment
// decides from it what host traffic passes.
type Network interface {
	// SetHost starts or stops a host. Starting a paused host resumes it;
	// stopping one ends its pause.
	SetHost(ctx context.Context, team, host string, up bool) error
	// PauseHost freezes or unfreezes a running host's processes; its
	// network stays up. The deployment never asks to pause a stopped host.
	PauseHost(ctx context.Context, team, host string, paused bool) error
	// ConnectHost takes a host off its zone network or puts it back, with
	// its address and routes; a stopped host is so when it starts.
	ConnectHost(ctx context.Context, team, host string, connected bool) error
	// SetConduit opens or cuts a conduit.
	SetConduit(ctx context.Context, team, from, to string, open bool) error
}

// Deployment is every team's plant.
type Deployment struct {
	plan     backend.Plan
	teams    map[string]*team
	order    []string
	closeFn  func() error
	saved    []byte
	attacker Attacker
	local    *LocalAttacker // the engine's own traffic, and the attacker until SetAttacker
	real     Network        // nil: the network is logical only
}

// New assembles a deployment from provisioned PLCs (team → PLCs in plan
// order). closeFn releases what the backend holds in this process; saved
// is what its Recover needs. Host traffic is played from this process
// until SetAttacker names another attacker.
func New(plan backend.Plan, plcs map[string][]*Endpoint, saved []byte, closeFn func() error) *Deployment {
	d := &Deployment{plan: plan, teams: map[string]*team{}, closeFn: closeFn, saved: saved}
	for _, name := range plan.Teams {
		t := &team{name: name, plcs: map[string]*Endpoint{}, net: plant.NewNetwork(plan.Topology)}
		for _, ep := range plcs[name] {
			t.plcs[ep.Spec.ID] = ep
			t.order = append(t.order, ep.Spec.ID)
		}
		d.teams[name] = t
		d.order = append(d.order, name)
	}
	d.local = newLocalAttacker(d)
	d.attacker = d.local
	return d
}

// SetAttacker makes a itself play host traffic.
func (d *Deployment) SetAttacker(a Attacker) { d.attacker = a }

// SetNetwork makes real hosts and networks carry network changes; host
// traffic then crosses the real network, which decides what passes.
func (d *Deployment) SetNetwork(n Network) { d.real = n }

// Plan is the deployment's plan.
func (d *Deployment) Plan() backend.Plan { return d.plan }

// Endpoints lists every team's PLCs.
func (d *Deployment) Endpoints() []backend.Endpoint {
	var out []backend.Endpoint
	for _, name := range d.order {
		t := d.teams[name]
		for _, id := range t.order {
			p := t.plcs[id]
			out = append(out, backend.Endpoint{Team: name, PLC: id, Model: p.Spec.Model, Modbus: p.Modbus, UnitID: p.Spec.UnitID, Mgmt: p.Mgmt, Engine: p.Engine})
		}
	}
	return out
}

// Endpoint returns a team's provisioned PLC.
func (d *Deployment) Endpoint(teamName, id string) (*Endpoint, bool) {
	t, ok := d.teams[teamName]
	if !ok {
		return nil, false
	}
	p, ok := t.plcs[id]
	return p, ok
}

// Handle returns a team's PLC handle.
func (d *Deployment) Handle(teamName, id string) (PLC, bool) {
	p, ok := d.Endpoint(teamName, id)
	if !ok {
		return nil, false
	}
	return p.Handle, true
}

// Advance drives every PLC to t, in parallel (remote PLCs answer over the
// network), and ends floods that are due.
func (d *Deployment) Advance(ctx context.Context, t time.Duration) error {
	var all []*Endpoint
	for _, name := range d.order {
		tm := d.teams[name]
		for _, id := range tm.order {
			all = append(all, tm.plcs[id])
		}
	}
	// Remote PLCs answer over the network: several at a time.
	if err := workpool.Each(ctx, len(all), runtime.GOMAXPROCS(0)*4, func(i int) error {
		if err := all[i].Handle.Advance(ctx, t); err != nil {
			return fmt.Errorf("advance plc %s: %w", all[i].Spec.ID, err)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, name := range d.order {
		tm := d.teams[name]
		for _, host := range tm.floodsDue(t) {
			if err := d.attacker.StopAttacks(ctx, tm.name, host); err != nil {
				return fmt.Errorf("end the flood from %s: %w", host, err)
			}
		}
	}
	return nil
}

func (d *Deployment) lookup(teamName, id string) (*team, *Endpoint, error) {
	t, ok := d.teams[teamName]
	if !ok {
		return nil, nil, fmt.Errorf("unknown team %q", teamName)
	}
	if id == "" {
		return t, nil, nil
	}
	p, ok := t.plcs[id]
	if !ok {
		return nil, nil, fmt.Errorf("team %s has no PLC %q", teamName, id)
	}
	return t, p, nil
}

// Read fills v with a PLC's values.
func (d *Deployment) Read(teamName, id string, v *plantsim.Values) error {
	_, p, err := d.lookup(teamName, id)
	if err != nil {
		return err
	}
	return p.Handle.Read(v)
}

// Net is a team's plant network as the deployment holds it.
func (d *Deployment) Net(teamName string) (plant.Network, bool) {
	t, ok := d.teams[teamName]
	if !ok {
		return plant.Network{}, false
	}
	return t.network(), true
}

// Snapshot saves every PLC's state.
func (d *Deployment) Snapshot() ([]byte, error) {
	s := map[string]*plantsim.Snapshot{}
	for name, t := range d.teams {
		for id, p := range t.plcs {
			ps, err := p.Handle.Save(context.Background())
			if err != nil {
				return nil, fmt.Errorf("team %s plc %s: %w", name, id, err)
			}
			s[name+"/"+id] = ps
		}
	}
	return plantsim.EncodeSnapshots(s)
}

// Restore loads saved PLC state.
func (d *Deployment) Restore(data []byte) error {
	s, err := plantsim.DecodeSnapshots(data)
	if err != nil {
		return err
	}
	for name, t := range d.teams {
		for id, p := range t.plcs {
			ps, ok := s[name+"/"+id]
			if !ok {
				return fmt.Errorf("checkpoint has no state for team %s plc %s", name, id)
			}
			if err := p.Handle.Restore(context.Background(), ps); err != nil {
				return fmt.Errorf("team %s plc %s: %w", name, id, err)
			}
		}
	}
	return nil
}

// Saved is what the backend's Recover needs.
func (d *Deployment) Saved() []byte { return d.saved }

// Capture returns a team's PLC's traffic and audit records after seq.
func (d *Deployment) Capture(ctx context.Context, teamName, id string, after uint64) (plantsim.Capture, error) {
	_, p, err := d.lookup(teamName, id)
	if err != nil {
		return plantsim.Capture{}, err
	}
	return p.Handle.Capture(ctx, after)
}

// Attribute tells a team's PLC who the client at remote really is.
func (d *Deployment) Attribute(ctx context.Context, teamName, id, remote, source, note string) error {
	_, p, err := d.lookup(teamName, id)
	if err != nil {
		return err
	}
	return p.Handle.Attribute(ctx, remote, source, note)
}

// Close stops the floods played from this process and releases the
// backend's resources in this process.
func (d *Deployment) Close() error {
	d.local.close()
	if d.closeFn != nil {
		return d.closeFn()
	}
	return nil
}
