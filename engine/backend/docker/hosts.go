package docker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/plants"
	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/hostagent"
	"github.com/icsrange/icsrange/plant-sim/router"
)

// Deployment is a Docker exercise: the shared plants deployment, whose host
// traffic and network changes the containers carry.
type Deployment struct {
	*plants.Deployment
	h       *hosts
	lease   *leaser
	release func()
}

// Advance drives the plants; every advance renews the engine's lease.
func (d *Deployment) Advance(ctx context.Context, t time.Duration) error {
	if err := d.Deployment.Advance(ctx, t); err != nil {
		return err
	}
	d.lease.advancedAll()
	return nil
}

var _ backend.HostAddresser = (*Deployment)(nil)

// HostAddress is a scenario host's address in its team's zone network: the
// source its traffic shows (the scenario's address keeps its last octet).
func (d *Deployment) HostAddress(team, host string) string {
	if t := d.h.teams[team]; t != nil {
		return t.net.Hosts[host].IP
	}
	return ""
}

// PLCAddress is a PLC's address in its team's zone network.
func (d *Deployment) PLCAddress(team, plc string) string {
	if t := d.h.teams[team]; t != nil {
		return t.net.PLCs[plc].IP
	}
	return ""
}

// ZoneSubnet is a team's zone network's CIDR.
func (d *Deployment) ZoneSubnet(team, zone string) string {
	if t := d.h.teams[team]; t != nil {
		return t.net.Zones[zone]
	}
	return ""
}

func (d *Deployment) close() error {
	d.lease.close(true)
	d.h.hc.CloseIdleConnections()
	if d.release != nil {
		d.release()
	}
	return nil
}

// hosts carries host traffic and network changes to the containers: host
// agents play attacks (plants.Attacker), routers open and cut conduits,
// Docker starts, stops, pauses and disconnects hosts (plants.Network,
// hostfx.go).
type hosts struct {
	cli     *client.Client
	tok     string
	publish string // where Docker publishes the agents' ports
	hc      *http.Client
	teams   map[string]*teamRT

	mu sync.Mutex // guards the hostRTs
}

var (
	_ plants.Attacker = (*hosts)(nil)
	_ plants.Network  = (*hosts)(nil)
)

type teamRT struct {
	net    *teamNet
	router *router.Client
	hosts  map[string]*hostRT
}

type hostRT struct {
	container  string
	agent      *hostagent.Client // its address changes when the host restarts
	up         bool
	paused     bool // frozen: its agent answers nothing
	off        bool // disconnected from its zone network (a stopped host: once it starts)
	lostRoutes bool // reconnected while paused: its routes go back when it resumes
}

func newHosts(cli *client.Client, s *saved, tok string) *hosts {
	return &hosts{cli: cli, tok: tok, publish: s.Publish, teams: map[string]*teamRT{},
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}}
}

// Attack has the host's agent play s from inside its container, across
// the zone networks and the router, which decide what gets through.
func (h *hosts) Attack(ctx context.Context, team, host string, s attack.Spec) (attack.Result, error) {
	hr, err := h.host(team, host)
	if err != nil {
		return attack.Result{}, err
	}
	h.mu.Lock()
	agent := hr.agent
	h.mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return agent.Attack(actx, s)
}

// StopAttacks ends the floods a team's host is playing. A stopped or
// paused host plays none (a paused host's ended when it froze).
func (h *hosts) StopAttacks(ctx context.Context, team, host string) error {
	hr, err := h.host(team, host)
	if err != nil {
		return err
	}
	h.mu.Lock()
	up, paused, agent := hr.up, hr.paused, hr.agent
	h.mu.Unlock()
	if !up || paused {
		return nil
	}
	if err := agent.StopAll(ctx); err != nil {
		return fmt.Errorf("host %s: %w", host, err)
	}
	return nil
}

// SetHost starts or stops a host's container. A started host's agent gets
// a new published port; it is read back and waited for. Starting a paused
// host resumes it; a paused host stops as any other (Docker thaws it to
// deliver the signal).
func (h *hosts) SetHost(ctx context.Context, team, host string, up bool) error {
	hr, err := h.host(team, host)
	if err != nil {
		return err
	}
	if !up {
		if err := h.cli.ContainerStop(ctx, hr.container, container.StopOptions{Timeout: ptr(1)}); err != nil {
			return fmt.Errorf("stop host %s: %w", host, err)
		}
		h.mu.Lock()
		hr.up, hr.paused, hr.lostRoutes = false, false, false
		h.mu.Unlock()
		return nil
	}
	h.mu.Lock()
	wasUp, paused := hr.up, hr.paused
	rejoin := hr.off && !wasUp
	h.mu.Unlock()
	if paused {
		return h.thaw(ctx, host, hr)
	}
	if rejoin {
		// On its zone network to start: it adds its routes through it.
		if err := h.zone(ctx, team, host, hr, true); err != nil {
			return err
		}
	}
	if err := h.cli.ContainerStart(ctx, hr.container, container.StartOptions{}); err != nil {
		return fmt.Errorf("start host %s: %w", host, err)
	}
	info, err := h.cli.ContainerInspect(ctx, hr.container)
	if err != nil {
		return fmt.Errorf("inspect host %s: %w", host, err)
	}
	// The published port is on the same host as before; only the port moves.
	h.mu.Lock()
	old := hr.agent.Addr()
	h.mu.Unlock()
	dialHost, _, _ := net.SplitHostPort(old)
	agent := ""
	if info.NetworkSettings != nil {
		for _, pb := range info.NetworkSettings.Ports[portAgent] {
			if pb.HostIP == h.publish {
				agent = net.JoinHostPort(dialHost, pb.HostPort)
			}
		}
	}
	if agent == "" {
		return fmt.Errorf("host %s: Docker published no agent port", host)
	}
	ac := hostagent.NewClient(agent, h.tok, h.hc)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := ac.Health(wctx)
		if err == nil {
			break
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("host %s's agent does not answer after a start: %w", host, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if rejoin {
		if err := h.zone(ctx, team, host, hr, false); err != nil {
			return err
		}
	}
	h.mu.Lock()
	hr.agent, hr.up = ac, true
	h.mu.Unlock()
	return nil
}

// SetConduit opens or cuts a conduit at the team's router.
func (h *hosts) SetConduit(ctx context.Context, team, from, to string, open bool) error {
	t := h.teams[team]
	if t == nil {
		return fmt.Errorf("unknown team %q", team)
	}
	f, ok1 := t.net.Zones[from]
	to2, ok2 := t.net.Zones[to]
	if !ok1 || !ok2 {
		return fmt.Errorf("team %s has no conduit %s → %s", team, from, to)
	}
	if _, err := t.router.Set(ctx, f, to2, open); err != nil {
		return fmt.Errorf("router of team %s: %w", team, err)
	}
	return nil
}
