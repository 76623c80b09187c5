package plants

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/icsrange/icsrange/plant-sim/attack"
)

// LocalAttacker plays host traffic from the engine's process, over real
// TCP to the PLCs' Modbus listeners. Each host has its own attack runner,
// whose every connection the target PLC is told, before its first request,
// belongs to the host's scenario address: the PLC's traffic log shows the
// attacker, not the engine.
type LocalAttacker struct {
	d      *Deployment
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	runners map[[2]string]*attack.Runner
}

func newLocalAttacker(d *Deployment) *LocalAttacker {
	ctx, cancel := context.WithCancel(context.Background())
	return &LocalAttacker{d: d, ctx: ctx, cancel: cancel, runners: map[[2]string]*attack.Runner{}}
}

func (a *LocalAttacker) runner(team, host string) *attack.Runner {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := [2]string{team, host}
	r := a.runners[k]
	if r == nil {
		r = attack.NewRunner(a.ctx)
		r.Dial = a.dialer(team, host)
		a.runners[k] = r
	}
	return r
}

// dialer connects as host: the PLC at addr is told who the connection is.
func (a *LocalAttacker) dialer(team, host string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	src := ""
	if h, ok := a.d.plan.Host(host); ok {
		src = h.Address
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var p *Endpoint
		if t := a.d.teams[team]; t != nil {
			for _, id := range t.order {
				if c := t.plcs[id]; c.plantAddr() == addr || c.Modbus == addr {
					p = c
				}
			}
		}
		if p == nil {
			return nil, fmt.Errorf("%s is no PLC of team %s", addr, team)
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil || host == "" {
			return conn, err // the engine's own traffic is the engine's
		}
		if err := p.Handle.Attribute(ctx, conn.LocalAddr().String(), attributedAddr(src, conn.LocalAddr()), "host "+host); err != nil {
			conn.Close()
			return nil, fmt.Errorf("attribute the connection to %s: %w", host, err)
		}
		return conn, nil
	}
}

// attributedAddr is the host's address with the connection's real source
// port, so streams stay apart in a capture.
func attributedAddr(host string, local net.Addr) string {
	if ta, ok := local.(*net.TCPAddr); ok && host != "" {
		return net.JoinHostPort(host, strconv.Itoa(ta.Port))
	}
	return local.String()
}

// Attack plays s from the host, from this process.
func (a *LocalAttacker) Attack(ctx context.Context, team, host string, s attack.Spec) (attack.Result, error) {
	if s.Kind == attack.Flood {
		// The deployment ends it by exercise time; it dies with the engine.
		s.For = attack.MaxFor
	}
	return a.runner(team, host).Run(ctx, s)
}

// StopAttacks ends the host's floods.
func (a *LocalAttacker) StopAttacks(_ context.Context, team, host string) error {
	a.mu.Lock()
	r := a.runners[[2]string{team, host}]
	a.mu.Unlock()
	if r != nil {
		r.StopAll()
	}
	return nil
}

// close ends every flood and waits for them.
func (a *LocalAttacker) close() {
	a.cancel()
	a.mu.Lock()
	rs := make([]*attack.Runner, 0, len(a.runners))
	for _, r := range a.runners {
		rs = append(rs, r)
	}
	a.mu.Unlock()
	for _, r := range rs {
		r.StopAll()
		r.Wait()
	}
}
