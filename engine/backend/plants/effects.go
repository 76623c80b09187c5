package plants

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

// team is one team's plant: its PLCs, its network and the floods its hosts
// play.
type team struct {
	name  string
	plcs  map[string]*Endpoint
	order []string

	mu     sync.Mutex
	net    plant.Network
	floods []flood
}

// flood is a flood a host plays until exercise time until.
type flood struct {
	host, zone string
	until      time.Duration
}

func (t *team) network() plant.Network {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.net
}

// floodsDue forgets the floods due at t and returns the hosts whose floods
// have all ended: an attacker stops its floods together.
func (t *team) floodsDue(now time.Duration) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	last := map[string]time.Duration{}
	for _, f := range t.floods {
		last[f.host] = max(last[f.host], f.until)
	}
	var due []string
	live := t.floods[:0]
	for _, f := range t.floods {
		switch {
		case last[f.host] > now:
			live = append(live, f)
		case f.until == last[f.host]:
			due = append(due, f.host)
			last[f.host] = -1 // once per host
		}
	}
	t.floods = live
	return due
}

// blockedFloods forgets the floods whose source no longer reaches its
// target and returns their hosts: cutting the attacker off is how a team
// stops one.
func (t *team) blockedFloods() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	live := t.floods[:0]
	for _, f := range t.floods {
		if t.net.Reach(f.host, f.zone, plant.ModbusPort) != nil {
			out = append(out, f.host)
			continue
		}
		live = append(live, f)
	}
	t.floods = live
	return out
}

func blocked(err error) (plant.Result, error) {
	if errors.Is(err, plant.ErrBlocked) {
		return plant.Result{Outcome: plant.Blocked, Detail: err.Error()}, nil
	}
	return plant.Result{}, err
}

// Do applies an effect to a team's plant, as its kind is carried out.
func (d *Deployment) Do(ctx context.Context, teamName string, e plant.Effect) (plant.Result, error) {
	k, ok := plant.Lookup(e.Kind)
	if !ok {
		return plant.Result{}, fmt.Errorf("effect %q is not supported", e.Kind)
	}
	t, p, err := d.lookup(teamName, e.PLC)
	if err != nil {
		return plant.Result{}, err
	}
	switch k.Carry {
	case plant.OnPLC:
		// An attacker's hand on the PLC needs a path to it, like its
		// writes.
		if e.From != "" {
			if err := t.network().Reach(e.From, p.Spec.Zone, plant.ModbusPort); err != nil {
				return blocked(err)
			}
		}
		if err := p.Handle.Apply(ctx, k.PLCEffect(e)); err != nil {
			return plant.Result{}, err
		}
		return plant.Result{Outcome: plant.OK, Detail: e.String()}, nil
	case plant.FromHost:
		return d.play(ctx, t, k, e)
	}
	return d.change(ctx, t, k, e)
}

// play plays a host's traffic at the effect's PLC (a scan without a target:
// every PLC of the team). With a logical network the deployment decides
// which targets it reaches; a real network decides for itself. Without a
// host it is the engine's own traffic, as a trainee's tool would send it.
func (d *Deployment) play(ctx context.Context, t *team, k *plant.Kind, e plant.Effect) (plant.Result, error) {
	net := t.network()
	attacker, addr := d.attacker, (*Endpoint).plantAddr
	if e.From == "" {
		attacker, addr = d.local, func(p *Endpoint) string { return p.Modbus }
	} else if err := net.Silenced(e.From); err != nil {
		return blocked(err)
	}
	ids := t.order
	if e.PLC != "" {
		ids = []string{e.PLC}
	}
	var targets []*Endpoint
	var cutOff []string
	for _, id := range ids {
		p := t.plcs[id]
		if d.real == nil && e.From != "" {
			if err := net.Reach(e.From, p.Spec.Zone, plant.ModbusPort); err != nil {
				if !errors.Is(err, plant.ErrBlocked) {
					return plant.Result{}, err
				}
				cutOff = append(cutOff, id)
				continue
			}
		}
		targets = append(targets, p)
	}
	if len(targets) == 0 {
		if len(cutOff) == 1 {
			return blocked(net.Reach(e.From, t.plcs[cutOff[0]].Spec.Zone, plant.ModbusPort))
		}
		return plant.Result{Outcome: plant.Blocked, Detail: fmt.Sprintf("%s reached no PLC", e)}, nil
	}
	m, err := d.plan.Model(targets[0].Spec.ID)
	if err != nil {
		return plant.Result{}, err
	}
	spec, err := k.Attack(e, m)
	if err != nil {
		return plant.Result{}, err
	}
	res, err := d.playAt(ctx, attacker, t.name, e.From, spec, targets, addr)
	if err != nil {
		return plant.Result{}, err
	}
	out := plant.Result{Outcome: res.Outcome, Detail: res.Detail}
	switch {
	case res.Outcome == attack.OK && spec.Kind != attack.Scan && spec.Kind != attack.Flood:
		out.Detail = e.String() // a write: the effect says it in the scenario's terms
	}
	if len(cutOff) > 0 {
		out.Detail += fmt.Sprintf("; blocked from %v", cutOff)
	}
	if spec.Kind == attack.Flood && res.Outcome == attack.OK {
		// It ends by exercise time, which the PLC keeps.
		var v plantsim.Values
		if err := targets[0].Handle.Read(&v); err != nil {
			return plant.Result{}, err
		}
		t.mu.Lock()
		t.floods = append(t.floods, flood{host: e.From, zone: targets[0].Spec.Zone, until: v.Uptime + e.Duration})
		t.mu.Unlock()
	}
	return out, nil
}

// playAt plays spec at the targets, each addressed at its own unit id (one
// attack per unit id), and says what happened in the PLCs' names rather
// than addresses that differ by backend.
func (d *Deployment) playAt(ctx context.Context, attacker Attacker, team, host string, spec attack.Spec, targets []*Endpoint, addr func(*Endpoint) string) (attack.Result, error) {
	var units []byte
	for _, p := range targets {
		if u := max(p.Spec.UnitID, 1); !slices.Contains(units, u) {
			units = append(units, u)
		}
	}
	var ok, no []string
	for _, u := range units {
		s := spec
		s.Unit, s.Targets = u, nil
		for _, p := range targets {
			if max(p.Spec.UnitID, 1) == u {
				s.Targets = append(s.Targets, addr(p))
			}
		}
		res, err := attacker.Attack(ctx, team, host, s)
		if err != nil {
			return attack.Result{}, fmt.Errorf("host %s: %w", host, err)
		}
		for _, p := range targets {
			res.Detail = strings.ReplaceAll(res.Detail, addr(p), "plc "+p.Spec.ID)
		}
		switch res.Outcome {
		case attack.OK:
			if len(ok) > 0 {
				res.Detail = strings.TrimPrefix(res.Detail, "scan found ")
			}
			ok = append(ok, res.Detail)
		case attack.Blocked:
			no = append(no, res.Detail)
		default:
			return attack.Result{}, fmt.Errorf("host %s: attack outcome %q: %s", host, res.Outcome, res.Detail)
		}
	}
	if len(ok) == 0 {
		return attack.Result{Outcome: attack.Blocked, Detail: strings.Join(no, "; ")}, nil
	}
	return attack.Result{Outcome: attack.OK, Detail: strings.Join(append(ok, no...), "; ")}, nil
}

// change applies a network effect: the logical network first in thought,
// then (where hosts and networks are real) physically, then for real in
// the team's state. A failure leaves the state as it was.
func (d *Deployment) change(ctx context.Context, t *team, k *plant.Kind, e plant.Effect) (plant.Result, error) {
	t.mu.Lock()
	before := t.net
	t.mu.Unlock()
	next, changed := before.Apply(e)
	if !changed {
		return plant.Result{Outcome: plant.OK, Detail: k.Unchanged(e, before.Host(e.Host))}, nil
	}
	if d.real != nil {
		if err := d.realize(ctx, t.name, e, before.Host(e.Host), next.Host(e.Host)); err != nil {
			return plant.Result{}, err
		}
	}
	t.mu.Lock()
	t.net = next
	t.mu.Unlock()
	for _, host := range t.blockedFloods() {
		if err := d.attacker.StopAttacks(ctx, t.name, host); err != nil {
			return plant.Result{}, fmt.Errorf("end the flood from %s: %w", host, err)
		}
	}
	return plant.Result{Outcome: plant.OK, Detail: e.String()}, nil
}

// realize carries one network change out on the real hosts and networks.
func (d *Deployment) realize(ctx context.Context, team string, e plant.Effect, from, to plant.HostState) error {
	switch e.Kind {
	case plant.KindCutConduit, plant.KindRestoreConduit:
		return d.real.SetConduit(ctx, team, e.From, e.To, e.Kind == plant.KindRestoreConduit)
	}
	switch {
	case from.Down != to.Down:
		return d.real.SetHost(ctx, team, e.Host, !to.Down)
	case from.Paused != to.Paused:
		return d.real.PauseHost(ctx, team, e.Host, to.Paused)
	case from.Off != to.Off:
		return d.real.ConnectHost(ctx, team, e.Host, !to.Off)
	}
	return nil
}
