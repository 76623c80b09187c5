// Package plants is the part of a deployment every backend shares: each
// team's PLCs behind a small handle, the plant's logical network (hosts
// running, stopped, paused or disconnected; conduits open or cut) and the
// effects applied to them. A backend provisions PLCs its own way (in this
// process, as processes Terraform starts, …) and hands the handles over.
package plants

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/icsrange/icsrange/engine/backend"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/modbus"
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
	Spec   backend.PLC
	Handle PLC
	Modbus string // host:port
	Mgmt   string // management API address, if any
	Engine string // where the engine dials Modbus itself, if not Modbus (backend.Endpoint.Engine)
}

// Hosts is implemented by backends whose hosts and networks are real (the
// Docker backend): host traffic is played from the host itself, across the
// real networks, and host and conduit changes happen physically. Without
// it the deployment plays host traffic from the engine and keeps the
// network logically.
type Hosts interface {
	// Attack plays a host effect (modbus_write, coil_write, scan, flood)
	// from e.From against target (nil for a scan of every PLC). A network
	// that stops it gives Outcome "blocked".
	Attack(ctx context.Context, team string, e backend.Effect, targets []*Endpoint) (backend.Result, error)
	// StopAttacks ends the team's floods from a host (or all with "").
	StopAttacks(ctx context.Context, team, host string) error
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
	plan    backend.Plan
	teams   map[string]*team
	order   []string
	closeFn func() error
	saved   []byte
	hosts   Hosts
}

// SetHosts makes real hosts play host traffic and carry network changes.
func (d *Deployment) SetHosts(h Hosts) { d.hosts = h }

type team struct {
	name  string
	plcs  map[string]*Endpoint
	order []string

	mu       sync.Mutex
	hostDown map[string]bool
	paused   map[string]bool // running but frozen
	off      map[string]bool // off its zone network
	cut      map[[2]string]bool
	floods   []*flood
}

// New assembles a deployment from provisioned PLCs (team → PLCs in plan
// order). closeFn releases what the backend holds in this process; saved
// is what its Recover needs.
func New(plan backend.Plan, plcs map[string][]*Endpoint, saved []byte, closeFn func() error) *Deployment {
	d := &Deployment{plan: plan, teams: map[string]*team{}, closeFn: closeFn, saved: saved}
	for _, name := range plan.Teams {
		t := &team{name: name, plcs: map[string]*Endpoint{}, hostDown: map[string]bool{}, paused: map[string]bool{},
			off: map[string]bool{}, cut: map[[2]string]bool{}}
		for _, ep := range plcs[name] {
			t.plcs[ep.Spec.ID] = ep
			t.order = append(t.order, ep.Spec.ID)
		}
		d.teams[name] = t
		d.order = append(d.order, name)
	}
	return d
}

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

// Handle returns a team's PLC handle.
func (d *Deployment) Handle(teamName, id string) (PLC, bool) {
	t, ok := d.teams[teamName]
	if !ok {
		return nil, false
	}
	p, ok := t.plcs[id]
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
	if err := parallel(ctx, len(all), func(i int) error {
		if err := all[i].Handle.Advance(ctx, t); err != nil {
			return fmt.Errorf("advance plc %s: %w", all[i].Spec.ID, err)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, name := range d.order {
		tm := d.teams[name]
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

// parallel runs fn for 0..n-1 on up to GOMAXPROCS×4 goroutines (a small n
// runs inline: goroutines would cost more than they save).
func parallel(ctx context.Context, n int, fn func(int) error) error {
	if n <= 8 {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	workers := min(n, runtime.GOMAXPROCS(0)*4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
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

var errBlocked = errors.New("blocked")

// reach says whether a host can reach a zone on a TCP port through the
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
	if err := t.silenced(hostID); err != nil {
		return err
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

// silenced says why a host sends no traffic at all, if it doesn't: it is
// stopped, paused (its processes are frozen) or disconnected (it has no
// network). The caller holds t.mu.
func (t *team) silenced(hostID string) error {
	switch {
	case t.hostDown[hostID]:
		return fmt.Errorf("%w: host %s is stopped", errBlocked, hostID)
	case t.paused[hostID]:
		return fmt.Errorf("%w: host %s is paused", errBlocked, hostID)
	case t.off[hostID]:
		return fmt.Errorf("%w: host %s is disconnected", errBlocked, hostID)
	}
	return nil
}

// hostState is what the logical network knows of one host.
type hostState struct{ down, paused, off bool }

// apply is the state after a host effect, with the engine state's rules:
// stopping or starting ends a pause, a stopped host can't be paused, the
// network is independent of both. changed says whether there is anything
// for a backend to carry out.
func (s hostState) apply(kind string) (next hostState, changed bool) {
	next = s
	switch kind {
	case backend.KindStopHost, backend.KindStartHost:
		next.down, next.paused = kind == backend.KindStopHost, false
		return next, true // a backend checks the host itself
	case backend.KindPauseHost:
		next.paused = !s.down
	case backend.KindResumeHost:
		next.paused = false
	case backend.KindDisconnectHost, backend.KindReconnectHost:
		next.off = kind == backend.KindDisconnectHost
	}
	return next, next != s
}

func (t *team) host(id string) hostState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return hostState{down: t.hostDown[id], paused: t.paused[id], off: t.off[id]}
}

func (t *team) setHost(id string, s hostState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hostDown[id], t.paused[id], t.off[id] = s.down, s.paused, s.off
}

// hostDetail is an ok host effect's detail; one that changed nothing
// (from state s) says why.
func hostDetail(e backend.Effect, s hostState, changed bool) string {
	if changed {
		return e.String()
	}
	var why string
	switch e.Kind {
	case backend.KindPauseHost:
		why = "already paused"
		if s.down {
			why = "stopped: nothing to pause"
		}
	case backend.KindResumeHost:
		why = "not paused"
	case backend.KindDisconnectHost:
		why = "already disconnected"
	case backend.KindReconnectHost:
		why = "not disconnected"
	}
	return fmt.Sprintf("%s: host %s is %s", e, e.Host, why)
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
		if err := p.Handle.Apply(ctx, pe); err != nil {
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
			if err := d.reach(t, e.From, p.Spec.Zone, 502); err != nil {
				return blocked(err)
			}
		}
	}
	if d.hosts != nil {
		if res, handled, err := d.doReal(ctx, t, p, e); handled {
			return res, err
		}
	}
	switch e.Kind {
	case backend.KindModbusWrite, backend.KindCoilWrite:
		if e.From != "" {
			if err := d.reach(t, e.From, p.Spec.Zone, 502); err != nil {
				return blocked(err)
			}
		}
		if err := d.modbusWrite(ctx, p, e); err != nil {
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
		if err := d.reach(t, e.From, p.Spec.Zone, 502); err != nil {
			return blocked(err)
		}
		var v plantsim.Values
		if err := p.Handle.Read(&v); err != nil {
			return backend.Result{}, err
		}
		// Twice the default client limit: every slot is taken whatever the
		// PLC allows; the connections it turns away just end.
		f := startFlood(p.Modbus, p.Spec.UnitID, 2*plantsim.DefaultMaxClients, func(local net.Addr) {
			p.Handle.Attribute(ctx, local.String(), attributedAddr(d.hostAddr(e.From), local), "host "+e.From)
		})
		f.until = v.Uptime + e.Duration
		f.from, f.zone = e.From, p.Spec.Zone
		t.mu.Lock()
		t.floods = append(t.floods, f)
		t.mu.Unlock()
		return ok(fmt.Sprintf("%s: %d connections opened", e, f.conns()))
	case backend.KindStopHost, backend.KindStartHost, backend.KindPauseHost, backend.KindResumeHost,
		backend.KindDisconnectHost, backend.KindReconnectHost:
		s := t.host(e.Host)
		next, changed := s.apply(e.Kind)
		t.setHost(e.Host, next)
		d.stopBlockedFloods(t)
		return ok(hostDetail(e, s, changed))
	case backend.KindCutConduit, backend.KindRestoreConduit:
		t.mu.Lock()
		t.cut[[2]string{e.From, e.To}] = e.Kind == backend.KindCutConduit
		t.mu.Unlock()
		d.stopBlockedFloods(t)
		return ok(e.String())
	}
	return backend.Result{}, fmt.Errorf("effect %q is not supported", e.Kind)
}

// doReal applies the effects real hosts and networks carry. The logical
// network state is kept too, for views and rules.
func (d *Deployment) doReal(ctx context.Context, t *team, p *Endpoint, e backend.Effect) (backend.Result, bool, error) {
	switch e.Kind {
	case backend.KindModbusWrite, backend.KindCoilWrite, backend.KindFlood:
		if e.From == "" {
			return backend.Result{}, false, nil
		}
		res, err := d.hosts.Attack(ctx, t.name, e, []*Endpoint{p})
		return res, true, err
	case backend.KindScan:
		var targets []*Endpoint
		if p != nil {
			targets = []*Endpoint{p}
		} else {
			for _, id := range t.order {
				targets = append(targets, t.plcs[id])
			}
		}
		res, err := d.hosts.Attack(ctx, t.name, e, targets)
		return res, true, err
	case backend.KindStopHost, backend.KindStartHost, backend.KindPauseHost, backend.KindResumeHost,
		backend.KindDisconnectHost, backend.KindReconnectHost:
		// The containers first: a failure leaves the logical state as it was.
		s := t.host(e.Host)
		next, changed := s.apply(e.Kind)
		if !changed {
			return backend.Result{Outcome: "ok", Detail: hostDetail(e, s, false)}, true, nil
		}
		var err error
		switch e.Kind {
		case backend.KindStopHost, backend.KindStartHost:
			err = d.hosts.SetHost(ctx, t.name, e.Host, e.Kind == backend.KindStartHost)
		case backend.KindPauseHost, backend.KindResumeHost:
			err = d.hosts.PauseHost(ctx, t.name, e.Host, e.Kind == backend.KindPauseHost)
		default:
			err = d.hosts.ConnectHost(ctx, t.name, e.Host, e.Kind == backend.KindReconnectHost)
		}
		if err != nil {
			return backend.Result{}, true, err
		}
		t.setHost(e.Host, next)
		return backend.Result{Outcome: "ok", Detail: e.String()}, true, nil
	case backend.KindCutConduit, backend.KindRestoreConduit:
		open := e.Kind == backend.KindRestoreConduit
		if err := d.hosts.SetConduit(ctx, t.name, e.From, e.To, open); err != nil {
			return backend.Result{}, true, err
		}
		t.mu.Lock()
		t.cut[[2]string{e.From, e.To}] = !open
		t.mu.Unlock()
		return backend.Result{Outcome: "ok", Detail: e.String()}, true, nil
	}
	return backend.Result{}, false, nil
}

// Plan is the deployment's plan.
func (d *Deployment) Plan() backend.Plan { return d.plan }

// stopBlockedFloods ends floods whose source can no longer reach their
// target: cutting the attacker off is how a team stops one.
func (d *Deployment) stopBlockedFloods(t *team) {
	t.mu.Lock()
	floods := append([]*flood(nil), t.floods...)
	t.mu.Unlock()
	var live []*flood
	for _, f := range floods {
		if err := d.reach(t, f.from, f.zone, 502); err != nil {
			f.stop()
			continue
		}
		live = append(live, f)
	}
	t.mu.Lock()
	t.floods = live
	t.mu.Unlock()
}

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

// hostAddr is a scenario host's address, the source its traffic shows.
func (d *Deployment) hostAddr(id string) string {
	for _, h := range d.plan.Hosts {
		if h.ID == id {
			return h.Address
		}
	}
	return ""
}

// dialAs opens a Modbus connection to a PLC and, when it plays a scenario
// host's traffic, attributes it to the host's address before the first
// request, so the PLC's traffic log shows the attacker, not the engine.
func (d *Deployment) dialAs(ctx context.Context, p *Endpoint, from string) (*modbus.Client, error) {
	c, err := modbus.Dial(ctx, p.Modbus)
	if err != nil {
		return nil, err
	}
	if from != "" {
		src := d.hostAddr(from)
		if err := p.Handle.Attribute(ctx, c.LocalAddr().String(), attributedAddr(src, c.LocalAddr()), "host "+from); err != nil {
			c.Close()
			return nil, fmt.Errorf("attribute the connection to %s: %w", from, err)
		}
	}
	return c, nil
}

// attributedAddr is the host's address with the connection's real source
// port, so streams stay apart in a capture.
func attributedAddr(host string, local net.Addr) string {
	if ta, ok := local.(*net.TCPAddr); ok && host != "" {
		return net.JoinHostPort(host, strconv.Itoa(ta.Port))
	}
	return local.String()
}

// modbusWrite makes a real Modbus write over TCP, as an attacker's or a
// trainee's tool would: FC6 to the scaled register, FC5 to a coil.
func (d *Deployment) modbusWrite(ctx context.Context, p *Endpoint, e backend.Effect) error {
	m, ok := plantsim.LookupModel(p.Spec.Model)
	if !ok {
		return fmt.Errorf("plc %s: unknown model %q", p.Spec.ID, p.Spec.Model)
	}
	i, ok := m.Tag(e.Tag)
	if !ok {
		return fmt.Errorf("plc %s has no tag %q", p.Spec.ID, e.Tag)
	}
	def := m.Tags[i]
	addr := uint16(m.Layout().Addr[i])
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.dialAs(ctx, p, e.From)
	if err != nil {
		return err
	}
	defer c.Close()
	if def.Table == plantsim.Coil {
		err = c.WriteCoil(p.Spec.UnitID, addr, e.Value >= 0.5)
	} else {
		err = c.WriteRegister(p.Spec.UnitID, addr, def.Scale(e.Value))
	}
	if err != nil {
		return fmt.Errorf("modbus write %s.%s: %w", p.Spec.ID, e.Tag, err)
	}
	return nil
}

// scan is reconnaissance as real tools do it: connect to port 502, read
// device identification (FC43/14), sweep unit ids, read the first
// registers of each table.
func (d *Deployment) scan(ctx context.Context, t *team, e backend.Effect) (backend.Result, error) {
	var found, blockedPLCs []string
	targets := t.order
	if e.PLC != "" {
		targets = []string{e.PLC}
	}
	for _, id := range targets {
		p := t.plcs[id]
		if err := d.reach(t, e.From, p.Spec.Zone, 502); err != nil {
			if !errors.Is(err, errBlocked) {
				return backend.Result{}, err
			}
			blockedPLCs = append(blockedPLCs, id)
			continue
		}
		if err := d.scanOne(ctx, p, e.From); err != nil {
			return backend.Result{}, fmt.Errorf("scan %s: %w", id, err)
		}
		found = append(found, id)
	}
	sort.Strings(found)
	if len(found) == 0 {
		return backend.Result{Outcome: "blocked", Detail: fmt.Sprintf("scan from %s reached no PLC", e.From)}, nil
	}
	detail := fmt.Sprintf("scan from %s found %v", e.From, found)
	if len(blockedPLCs) > 0 {
		detail += fmt.Sprintf("; blocked from %v", blockedPLCs)
	}
	return backend.Result{Outcome: "ok", Detail: detail}, nil
}

func (d *Deployment) scanOne(ctx context.Context, p *Endpoint, from string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.dialAs(ctx, p, from)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ReadDeviceID(p.Spec.UnitID); err != nil {
		return err
	}
	for unit := byte(1); unit <= 4; unit++ {
		// Other unit ids answer 0x0B; that is what the sweep learns.
		if _, err := c.ReadHoldingRegisters(unit, 0, 1); err != nil && !errors.As(err, new(modbus.Exception)) {
			return err
		}
	}
	u := p.Spec.UnitID
	if _, err := c.ReadCoils(u, 0, 1); err != nil && !errors.As(err, new(modbus.Exception)) {
		return err
	}
	if _, err := c.ReadInputRegisters(u, 0, 1); err != nil && !errors.As(err, new(modbus.Exception)) {
		return err
	}
	return nil
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

// Close stops floods and releases the backend's resources in this process.
func (d *Deployment) Close() error {
	for _, t := range d.teams {
		t.mu.Lock()
		for _, f := range t.floods {
			f.stop()
		}
		t.floods = nil
		t.mu.Unlock()
	}
	if d.closeFn != nil {
		return d.closeFn()
	}
	return nil
}
