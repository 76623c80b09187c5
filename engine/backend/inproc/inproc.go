// Package inproc runs every team's PLCs inside the engine process, each with
// its own Modbus/TCP listener, so trainees' tools reach them while the
// engine drives their physics from the exercise clock.
package inproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/icsrange/icsrange/engine/backend"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// Backend provisions in-process plants.
type Backend struct {
	// Host is the address PLC listeners bind; default 127.0.0.1.
	Host string
	// PortBase, when set, gives PLCs consecutive ports from it (team by
	// team, PLC by PLC); otherwise the system picks free ports.
	PortBase int
	// MaxClients per PLC; default plantsim.DefaultMaxClients.
	MaxClients int
}

type saved struct {
	Addrs map[string]map[string]string `json:"addrs"` // team → plc → host:port
}

// Provision starts every team's PLCs and returns when each answers Modbus.
func (b *Backend) Provision(ctx context.Context, plan backend.Plan, progress func(backend.Step)) (backend.Deployment, error) {
	return b.start(ctx, plan, nil, progress)
}

// Recover restarts the PLCs on the ports they had, so trainees' tools keep
// working after an engine restart. Their state comes back with Restore.
func (b *Backend) Recover(ctx context.Context, plan backend.Plan, data []byte) (backend.Deployment, error) {
	var s saved
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read saved in-process deployment: %w", err)
	}
	return b.start(ctx, plan, s.Addrs, nil)
}

// Destroy has nothing to do: in-process plants end with the process.
func (b *Backend) Destroy(ctx context.Context, exerciseID string) error { return nil }

func (b *Backend) start(ctx context.Context, plan backend.Plan, addrs map[string]map[string]string, progress func(backend.Step)) (*Deployment, error) {
	host := b.Host
	if host == "" {
		host = "127.0.0.1"
	}
	d := &Deployment{plan: plan, teams: map[string]*team{}}
	total := len(plan.Teams) * len(plan.PLCs)
	done := 0
	step := func(t, what, state string) {
		if progress != nil {
			progress(backend.Step{Team: t, What: what, State: state, Done: done, Total: total})
		}
	}
	for ti, name := range plan.Teams {
		tm := &team{name: name, plcs: map[string]*plc{}, hostDown: map[string]bool{}, cut: map[[2]string]bool{}}
		d.teams[name] = tm
		d.order = append(d.order, name)
		for pi, spec := range plan.PLCs {
			if err := ctx.Err(); err != nil {
				d.Close()
				return nil, err
			}
			p, err := plantsim.New(plantsim.Config{ID: spec.ID, Model: spec.Model, Params: spec.Params,
				Seed: seedFor(plan.Seed, name, spec.ID), Noise: spec.Noise, Scan: spec.Scan, UnitID: spec.UnitID})
			if err != nil {
				d.Close()
				return nil, fmt.Errorf("team %s plc %s: %w", name, spec.ID, err)
			}
			addr := host + ":0"
			if a := addrs[name][spec.ID]; a != "" {
				addr = a
			} else if b.PortBase > 0 {
				addr = fmt.Sprintf("%s:%d", host, b.PortBase+ti*len(plan.PLCs)+pi)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				d.Close()
				return nil, fmt.Errorf("team %s plc %s: listen: %w", name, spec.ID, err)
			}
			srv := plantsim.NewServer(p, plantsim.ServerConfig{MaxClients: b.MaxClients})
			r := &plc{spec: spec, plc: p, srv: srv, addr: ln.Addr().String()}
			tm.plcs[spec.ID] = r
			tm.order = append(tm.order, spec.ID)
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				srv.Serve(ln)
			}()
			step(name, "plc "+spec.ID, "started")
			if err := ping(ctx, r.addr, spec.UnitID); err != nil {
				d.Close()
				return nil, fmt.Errorf("team %s plc %s does not answer Modbus: %w", name, spec.ID, err)
			}
			done++
			step(name, "plc "+spec.ID, "healthy")
		}
	}
	return d, nil
}

// ping checks that a PLC answers a Modbus request.
func ping(ctx context.Context, addr string, unit byte) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := modbus.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.ReadInputRegisters(unit, plantsim.DiagBase+plantsim.DiagMode, 1)
	return err
}

// seedFor derives a PLC's noise seed from the exercise seed, so teams get
// different noise and a rerun gets the same.
func seedFor(seed uint64, team, plc string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%s", seed, team, plc)
	return h.Sum64()
}

// Deployment is a running set of in-process plants.
type Deployment struct {
	plan  backend.Plan
	teams map[string]*team
	order []string
	wg    sync.WaitGroup
}

type team struct {
	name  string
	plcs  map[string]*plc
	order []string

	mu       sync.Mutex
	hostDown map[string]bool
	cut      map[[2]string]bool
	floods   []*flood
}

type plc struct {
	spec backend.PLC
	plc  *plantsim.PLC
	srv  *plantsim.Server
	addr string
}

// Endpoints lists every team's PLCs.
func (d *Deployment) Endpoints() []backend.Endpoint {
	var out []backend.Endpoint
	for _, name := range d.order {
		t := d.teams[name]
		for _, id := range t.order {
			p := t.plcs[id]
			out = append(out, backend.Endpoint{Team: name, PLC: id, Model: p.spec.Model, Modbus: p.addr, UnitID: p.spec.UnitID})
		}
	}
	return out
}

// PLC returns a team's PLC, for tests and tools that need it directly.
func (d *Deployment) PLC(team, id string) (*plantsim.PLC, bool) {
	t, ok := d.teams[team]
	if !ok {
		return nil, false
	}
	p, ok := t.plcs[id]
	if !ok {
		return nil, false
	}
	return p.plc, true
}

// Advance drives every PLC to exercise time t and ends floods that are due.
func (d *Deployment) Advance(ctx context.Context, t time.Duration) error {
	for _, name := range d.order {
		tm := d.teams[name]
		for _, id := range tm.order {
			tm.plcs[id].plc.Advance(t)
		}
		tm.mu.Lock()
		live := tm.floods[:0]
		for _, f := range tm.floods {
			if t >= f.until {
				f.stop()
			} else {
				live = append(live, f)
			}
		}
		tm.floods = live
		tm.mu.Unlock()
	}
	return nil
}

func (d *Deployment) lookup(team, id string) (*team, *plc, error) {
	t, ok := d.teams[team]
	if !ok {
		return nil, nil, fmt.Errorf("unknown team %q", team)
	}
	if id == "" {
		return t, nil, nil
	}
	p, ok := t.plcs[id]
	if !ok {
		return nil, nil, fmt.Errorf("team %s has no PLC %q", team, id)
	}
	return t, p, nil
}

// Read fills v with a PLC's values.
func (d *Deployment) Read(team, id string, v *plantsim.Values) error {
	_, p, err := d.lookup(team, id)
	if err != nil {
		return err
	}
	p.plc.Read(v)
	return nil
}

var errBlocked = errors.New("blocked")

// reach says whether host can reach the zone on a TCP port through the
// conduits that are not cut, and why not when it can't.
func (d *Deployment) reach(t *team, hostID, zone string, port int) error {
	var h *backend.Host
	for i := range d.plan.Hosts {
		if d.plan.Hosts[i].ID == hostID {
			h = &d.plan.Hosts[i]
		}
	}
	if h == nil {
		return fmt.Errorf("unknown host %q", hostID)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hostDown[hostID] {
		return fmt.Errorf("%w: host %s is stopped", errBlocked, hostID)
	}
	seen := map[string]bool{h.Zone: true}
	queue := []string{h.Zone}
	for len(queue) > 0 {
		z := queue[0]
		queue = queue[1:]
		if z == zone {
			return nil
		}
		for _, c := range d.plan.Conduits {
			if c.From == z && !seen[c.To] && !t.cut[[2]string{c.From, c.To}] && c.Allows(port) {
				seen[c.To] = true
				queue = append(queue, c.To)
			}
		}
	}
	return fmt.Errorf("%w: no open conduit from zone %s to zone %s on port %d", errBlocked, h.Zone, zone, port)
}

// Do applies an effect to a team's plant.
func (d *Deployment) Do(ctx context.Context, teamName string, e backend.Effect) (backend.Result, error) {
	t, p, err := d.lookup(teamName, e.PLC)
	if err != nil {
		return backend.Result{}, err
	}
	blocked := func(err error) (backend.Result, error) {
		if errors.Is(err, errBlocked) {
			return backend.Result{Outcome: "blocked", Detail: err.Error()}, nil
		}
		return backend.Result{}, err
	}
	ok := func(detail string) (backend.Result, error) { return backend.Result{Outcome: "ok", Detail: detail}, nil }
	apply := func(pe plantsim.Effect) (backend.Result, error) {
		if err := p.plc.Apply(pe); err != nil {
			return backend.Result{}, err
		}
		return ok(e.String())
	}
	val := e.Value
	switch e.Kind {
	case backend.KindSpoof, backend.KindFreeze, backend.KindReplay, backend.KindRelease,
		backend.KindLogic, backend.KindMode, backend.KindFault, backend.KindClearFault:
		// An attacker's hand on the PLC needs a path to it, like its writes.
		if e.From != "" {
			if err := d.reach(t, e.From, p.spec.Zone, 502); err != nil {
				return blocked(err)
			}
		}
	}
	switch e.Kind {
	case backend.KindModbusWrite, backend.KindCoilWrite:
		if e.From != "" {
			if err := d.reach(t, e.From, p.spec.Zone, 502); err != nil {
				return blocked(err)
			}
		}
		if err := modbusWrite(ctx, p, e); err != nil {
			return backend.Result{}, err
		}
		return ok(e.String())
	case backend.KindSet:
		return apply(plantsim.Effect{Kind: plantsim.EffectWrite, Tag: e.Tag, Value: &val})
	case backend.KindSpoof:
		return apply(plantsim.Effect{Kind: plantsim.EffectSpoof, Tag: e.Tag, Value: &val})
	case backend.KindFreeze:
		return apply(plantsim.Effect{Kind: plantsim.EffectFreeze, Tag: e.Tag})
	case backend.KindReplay:
		return apply(plantsim.Effect{Kind: plantsim.EffectReplay, Tag: e.Tag, Window: e.Window.Seconds()})
	case backend.KindRelease:
		return apply(plantsim.Effect{Kind: plantsim.EffectRelease, Tag: e.Tag})
	case backend.KindLogic:
		return apply(plantsim.Effect{Kind: plantsim.EffectLogic, Program: e.Program})
	case backend.KindMode:
		return apply(plantsim.Effect{Kind: plantsim.EffectMode, Mode: plantsim.Mode(e.Mode)})
	case backend.KindFault, backend.KindClearFault:
		k := plantsim.EffectFault
		if e.Kind == backend.KindClearFault {
			k = plantsim.EffectClearFault
		}
		pe := plantsim.Effect{Kind: k, Fault: e.Fault, Tag: e.Tag}
		if e.HasValue {
			pe.Value = &val
		}
		return apply(pe)
	case backend.KindScan:
		return d.scan(ctx, t, e)
	case backend.KindFlood:
		if err := d.reach(t, e.From, p.spec.Zone, 502); err != nil {
			return blocked(err)
		}
		f := startFlood(p.addr, p.spec.UnitID, plantsim.DefaultMaxClients)
		f.until = p.plc.Now() + e.Duration
		t.mu.Lock()
		t.floods = append(t.floods, f)
		t.mu.Unlock()
		return ok(fmt.Sprintf("%s: %d connections held", e, f.conns()))
	case backend.KindStopHost, backend.KindStartHost:
		t.mu.Lock()
		t.hostDown[e.Host] = e.Kind == backend.KindStopHost
		t.mu.Unlock()
		return ok(e.String())
	case backend.KindCutConduit, backend.KindRestoreConduit:
		t.mu.Lock()
		t.cut[[2]string{e.From, e.To}] = e.Kind == backend.KindCutConduit
		t.mu.Unlock()
		return ok(e.String())
	}
	return backend.Result{}, fmt.Errorf("effect %q is not supported in-process", e.Kind)
}

// modbusWrite makes a real Modbus write over TCP, as an attacker's or a
// trainee's tool would: FC6 to the scaled register, FC5 to a coil.
func modbusWrite(ctx context.Context, p *plc, e backend.Effect) error {
	m := p.plc.Model()
	i, ok := m.Tag(e.Tag)
	if !ok {
		return fmt.Errorf("plc %s has no tag %q", p.spec.ID, e.Tag)
	}
	def := m.Tags[i]
	addr := uint16(p.plc.Layout().Addr[i])
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := modbus.Dial(ctx, p.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if def.Table == plantsim.Coil {
		err = c.WriteCoil(p.spec.UnitID, addr, e.Value >= 0.5)
	} else {
		err = c.WriteRegister(p.spec.UnitID, addr, def.Scale(e.Value))
	}
	if err != nil {
		return fmt.Errorf("modbus write %s.%s: %w", p.spec.ID, e.Tag, err)
	}
	return nil
}

// scan is reconnaissance as real tools do it: connect to port 502, read
// device identification (FC43/14), sweep unit ids, read the first
// registers of each table.
func (d *Deployment) scan(ctx context.Context, t *team, e backend.Effect) (backend.Result, error) {
	var found, blockedZones []string
	targets := t.order
	if e.PLC != "" {
		targets = []string{e.PLC}
	}
	for _, id := range targets {
		p := t.plcs[id]
		if err := d.reach(t, e.From, p.spec.Zone, 502); err != nil {
			if !errors.Is(err, errBlocked) {
				return backend.Result{}, err
			}
			blockedZones = append(blockedZones, id)
			continue
		}
		if err := scanOne(ctx, p); err != nil {
			return backend.Result{}, fmt.Errorf("scan %s: %w", id, err)
		}
		found = append(found, id)
	}
	sort.Strings(found)
	if len(found) == 0 {
		return backend.Result{Outcome: "blocked", Detail: fmt.Sprintf("scan from %s reached no PLC", e.From)}, nil
	}
	detail := fmt.Sprintf("scan from %s found %v", e.From, found)
	if len(blockedZones) > 0 {
		detail += fmt.Sprintf("; blocked from %v", blockedZones)
	}
	return backend.Result{Outcome: "ok", Detail: detail}, nil
}

func scanOne(ctx context.Context, p *plc) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := modbus.Dial(ctx, p.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ReadDeviceID(p.spec.UnitID); err != nil {
		return err
	}
	for unit := byte(1); unit <= 4; unit++ {
		// Other unit ids answer 0x0B; that is what the sweep learns.
		if _, err := c.ReadHoldingRegisters(unit, 0, 1); err != nil && !errors.As(err, new(modbus.Exception)) {
			return err
		}
	}
	u := p.spec.UnitID
	if _, err := c.ReadCoils(u, 0, 1); err != nil && !errors.As(err, new(modbus.Exception)) {
		return err
	}
	if _, err := c.ReadInputRegisters(u, 0, 1); err != nil && !errors.As(err, new(modbus.Exception)) {
		return err
	}
	return nil
}

type snapshot map[string]*plantsim.Snapshot // "team/plc" → state

// Snapshot saves every PLC's state.
func (d *Deployment) Snapshot() ([]byte, error) {
	s := snapshot{}
	for name, t := range d.teams {
		for id, p := range t.plcs {
			ps, err := p.plc.Save()
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
			if err := p.plc.Restore(ps); err != nil {
				return fmt.Errorf("team %s plc %s: %w", name, id, err)
			}
		}
	}
	return nil
}

// Saved records the listen addresses for Recover.
func (d *Deployment) Saved() []byte {
	s := saved{Addrs: map[string]map[string]string{}}
	for name, t := range d.teams {
		s.Addrs[name] = map[string]string{}
		for id, p := range t.plcs {
			s.Addrs[name][id] = p.addr
		}
	}
	b, _ := json.Marshal(s)
	return b
}

// Close stops every listener and flood.
func (d *Deployment) Close() error {
	for _, t := range d.teams {
		t.mu.Lock()
		for _, f := range t.floods {
			f.stop()
		}
		t.floods = nil
		t.mu.Unlock()
		for _, p := range t.plcs {
			p.srv.Close()
		}
	}
	d.wg.Wait()
	return nil
}
