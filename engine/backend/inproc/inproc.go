// Package inproc runs every team's PLCs inside the engine process, each with
// its own Modbus/TCP listener, so trainees' tools reach them while the
// engine drives their physics from the exercise clock.
package inproc

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/plants"
	plantsim "github.com/icsrange/icsrange/plant-sim"
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

// Deployment is the in-process deployment: the shared plants deployment
// plus direct access to the PLCs, for tests and tools.
type Deployment struct {
	*plants.Deployment
	plcs map[string]map[string]*plantsim.PLC
}

// PLC returns a team's PLC.
func (d *Deployment) PLC(team, id string) (*plantsim.PLC, bool) {
	p, ok := d.plcs[team][id]
	return p, ok
}

func (b *Backend) start(ctx context.Context, plan backend.Plan, addrs map[string]map[string]string, progress func(backend.Step)) (*Deployment, error) {
	host := b.Host
	if host == "" {
		host = "127.0.0.1"
	}
	var servers []*plantsim.Server
	var wg sync.WaitGroup
	closeAll := func() error {
		for _, s := range servers {
			s.Close()
		}
		wg.Wait()
		return nil
	}
	eps := map[string][]*plants.Endpoint{}
	direct := map[string]map[string]*plantsim.PLC{}
	sv := saved{Addrs: map[string]map[string]string{}}
	total := len(plan.Teams) * len(plan.PLCs)
	done := 0 // PLCs answering; one at a time, so this PLC is the done+1st started
	step := func(t, what, state string, n int) {
		if progress != nil {
			progress(backend.Step{Team: t, What: what, State: state, Done: n, Total: total})
		}
	}
	for ti, name := range plan.Teams {
		direct[name] = map[string]*plantsim.PLC{}
		sv.Addrs[name] = map[string]string{}
		for pi, spec := range plan.PLCs {
			if err := ctx.Err(); err != nil {
				closeAll()
				return nil, err
			}
			pc := plants.ProcessConfig(plan.Seed, name, spec)
			if b.MaxClients > 0 {
				pc.MaxClients = b.MaxClients
			}
			p, err := plantsim.New(pc.PLC())
			if err != nil {
				closeAll()
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
				closeAll()
				return nil, fmt.Errorf("team %s plc %s: listen: %w", name, spec.ID, err)
			}
			srv := plantsim.NewServer(p, pc.Server())
			servers = append(servers, srv)
			wg.Go(func() { srv.Serve(ln) })
			step(name, "plc "+spec.ID, "started", done+1)
			if err := plants.Ping(ctx, ln.Addr().String(), spec.UnitID, func(local string) error {
				p.Attribute(local, plants.PingSource, plants.PingNote)
				return nil
			}); err != nil {
				closeAll()
				return nil, fmt.Errorf("team %s plc %s does not answer Modbus: %w", name, spec.ID, err)
			}
			done++
			step(name, "plc "+spec.ID, "healthy", done)
			eps[name] = append(eps[name], &plants.Endpoint{Spec: spec, Handle: local{p}, Modbus: ln.Addr().String()})
			direct[name][spec.ID] = p
			sv.Addrs[name][spec.ID] = ln.Addr().String()
		}
	}
	b2, _ := json.Marshal(sv)
	return &Deployment{Deployment: plants.New(plan, eps, b2, closeAll), plcs: direct}, nil
}

// local adapts an in-process PLC to the plants handle.
type local struct{ p *plantsim.PLC }

func (l local) Apply(_ context.Context, e plantsim.Effect) error { return l.p.Apply(e) }
func (l local) Advance(_ context.Context, t time.Duration) error {
	l.p.Advance(t)
	return nil
}
func (l local) Read(v *plantsim.Values) error                         { l.p.Read(v); return nil }
func (l local) Save(context.Context) (*plantsim.Snapshot, error)      { return l.p.Save() }
func (l local) Restore(_ context.Context, s *plantsim.Snapshot) error { return l.p.Restore(s) }
func (l local) Capture(_ context.Context, after uint64) (plantsim.Capture, error) {
	return l.p.Capture(after), nil
}
func (l local) Attribute(_ context.Context, remote, source, note string) error {
	l.p.Attribute(remote, source, note)
	return nil
}
