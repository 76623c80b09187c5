package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/plants"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// Deployment is a Docker exercise: the shared plants deployment, whose host
// traffic and network changes the containers carry.
type Deployment struct {
	*plants.Deployment
	h       *hosts
	lease   *leaser
	release func()
}

// Advance drives the plants and ends floods whose exercise time is up (a
// host agent's own bound is wall time).
func (d *Deployment) Advance(ctx context.Context, t time.Duration) error {
	if err := d.Deployment.Advance(ctx, t); err != nil {
		return err
	}
	d.lease.advancedAll()
	return d.h.advance(ctx, t)
}

// Hosts is the deployment's real hosts and networks.
func (d *Deployment) Hosts() plants.Hosts { return d.h }

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
// agents play attacks, routers open and cut conduits, Docker starts, stops,
// pauses and disconnects hosts (hostfx.go).
type hosts struct {
	cli      *client.Client
	tok      string
	publish  string // where Docker publishes the agents' ports
	hc       *http.Client
	teams    map[string]*teamRT
	zoneAddr map[*plants.Endpoint]string // a PLC's address in its zone network

	mu     sync.Mutex
	now    time.Duration // the last exercise time advanced to
	floods []flood
}

type teamRT struct {
	net    *teamNet
	router string // router API, host:port
	hosts  map[string]*hostRT
}

type hostRT struct {
	container  string
	agent      string // agent API, host:port (it changes when the host restarts)
	up         bool
	paused     bool // frozen: its agent answers nothing
	off        bool // disconnected from its zone network (a stopped host: once it starts)
	lostRoutes bool // reconnected while paused: its routes go back when it resumes
}

type flood struct {
	team, host string
	until      time.Duration
}

func newHosts(cli *client.Client, s *saved, tok string) *hosts {
	return &hosts{cli: cli, tok: tok, publish: s.Publish, teams: map[string]*teamRT{}, zoneAddr: map[*plants.Endpoint]string{},
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}}
}

// attackRequest is the host agent's POST /v1/attack.
type attackRequest struct {
	Kind    string   `json:"kind"` // write, coil, scan, flood
	Targets []string `json:"targets"`
	Unit    byte     `json:"unit"`
	Addr    uint16   `json:"addr"`
	Value   uint16   `json:"value"`
	ForMs   int64    `json:"for_ms,omitempty"`
	Slots   int      `json:"slots,omitempty"`
}

// Attack has the host's agent play the effect against the targets' zone
// addresses on port 502, across the zone networks and the router.
func (h *hosts) Attack(ctx context.Context, team string, e backend.Effect, targets []*plants.Endpoint) (backend.Result, error) {
	t := h.teams[team]
	if t == nil {
		return backend.Result{}, fmt.Errorf("unknown team %q", team)
	}
	hr := t.hosts[e.From]
	if hr == nil {
		return backend.Result{}, fmt.Errorf("team %s has no host %q", team, e.From)
	}
	h.mu.Lock()
	up, paused, off, agent := hr.up, hr.paused, hr.off, hr.agent
	h.mu.Unlock()
	switch {
	case !up:
		return backend.Result{Outcome: "blocked", Detail: fmt.Sprintf("host %s is stopped", e.From)}, nil
	case paused:
		// Its agent is frozen: a request would wait for the timeout.
		return backend.Result{Outcome: "blocked", Detail: fmt.Sprintf("host %s is paused", e.From)}, nil
	case off:
		// Its agent would answer, blocked, once its connection timed out.
		return backend.Result{Outcome: "blocked", Detail: fmt.Sprintf("host %s is disconnected", e.From)}, nil
	}
	if len(targets) == 0 {
		return backend.Result{}, errors.New("attack without a target")
	}
	req := attackRequest{Unit: targets[0].Spec.UnitID}
	if req.Unit == 0 {
		req.Unit = 1
	}
	for _, p := range targets {
		ip := h.zoneAddr[p]
		if ip == "" {
			return backend.Result{}, fmt.Errorf("plc %s is not one of this deployment's", p.Spec.ID)
		}
		req.Targets = append(req.Targets, net.JoinHostPort(ip, "502"))
	}
	switch e.Kind {
	case backend.KindModbusWrite, backend.KindCoilWrite:
		p := targets[0]
		m, ok := plantsim.LookupModel(p.Spec.Model)
		if !ok {
			return backend.Result{}, fmt.Errorf("plc %s: unknown model %q", p.Spec.ID, p.Spec.Model)
		}
		i, ok := m.Tag(e.Tag)
		if !ok {
			return backend.Result{}, fmt.Errorf("plc %s has no tag %q", p.Spec.ID, e.Tag)
		}
		def := m.Tags[i]
		req.Addr = uint16(m.Layout().Addr[i])
		if def.Table == plantsim.Coil {
			req.Kind = "coil"
			if e.Value >= 0.5 {
				req.Value = 1
			}
		} else {
			req.Kind = "write"
			req.Value = def.Scale(e.Value)
		}
	case backend.KindScan:
		req.Kind = "scan"
	case backend.KindFlood:
		req.Kind = "flood"
		req.ForMs = e.Duration.Milliseconds()
		// Twice the default client limit, as the in-process flood: every
		// slot is taken whatever the PLC allows.
		req.Slots = 2 * plantsim.DefaultMaxClients
	default:
		return backend.Result{}, fmt.Errorf("a host does not play %q", e.Kind)
	}
	var res backend.Result
	actx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := h.call(actx, agent, http.MethodPost, "/v1/attack", req, &res); err != nil {
		return backend.Result{}, fmt.Errorf("host %s: %w", e.From, err)
	}
	if res.Outcome != "ok" && res.Outcome != "blocked" {
		return backend.Result{}, fmt.Errorf("host %s: attack outcome %q: %s", e.From, res.Outcome, res.Detail)
	}
	if res.Detail == "" {
		res.Detail = e.String()
	}
	if e.Kind == backend.KindFlood && res.Outcome == "ok" {
		h.mu.Lock()
		h.floods = append(h.floods, flood{team: team, host: e.From, until: h.now + e.Duration})
		h.mu.Unlock()
	}
	return res, nil
}

// advance ends the floods that are due at exercise time t. A host's floods
// end together, when its last is due.
func (h *hosts) advance(ctx context.Context, t time.Duration) error {
	h.mu.Lock()
	h.now = t
	last := map[[2]string]time.Duration{}
	for _, f := range h.floods {
		k := [2]string{f.team, f.host}
		last[k] = max(last[k], f.until)
	}
	var due [][2]string
	live := h.floods[:0]
	for _, f := range h.floods {
		k := [2]string{f.team, f.host}
		if last[k] <= t {
			if f.until == last[k] {
				due = append(due, k)
			}
			continue
		}
		live = append(live, f)
	}
	h.floods = live
	h.mu.Unlock()
	seen := map[[2]string]bool{}
	for _, k := range due {
		if seen[k] {
			continue
		}
		seen[k] = true
		if err := h.StopAttacks(ctx, k[0], k[1]); err != nil {
			return fmt.Errorf("end the flood from %s: %w", k[1], err)
		}
	}
	return nil
}

// StopAttacks ends attacks the team's host (every host with "") is playing.
func (h *hosts) StopAttacks(ctx context.Context, team, host string) error {
	t := h.teams[team]
	if t == nil {
		return fmt.Errorf("unknown team %q", team)
	}
	var errs []error
	for id, hr := range t.hosts {
		if host != "" && id != host {
			continue
		}
		h.mu.Lock()
		up, paused, agent := hr.up, hr.paused, hr.agent
		h.mu.Unlock()
		if !up || paused { // a paused host's attacks ended when it froze
			continue
		}
		if err := h.call(ctx, agent, http.MethodDelete, "/v1/attacks", nil, nil); err != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", id, err))
		}
	}
	h.mu.Lock()
	live := h.floods[:0]
	for _, f := range h.floods {
		if f.team != team || (host != "" && f.host != host) {
			live = append(live, f)
		}
	}
	h.floods = live
	h.mu.Unlock()
	return errors.Join(errs...)
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
		live := h.floods[:0]
		for _, f := range h.floods {
			if f.team != team || f.host != host {
				live = append(live, f)
			}
		}
		h.floods = live
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
	old := hr.agent
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
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := health(wctx, agent, h.tok)
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
	hr.agent, hr.up = agent, true
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
	body := map[string]any{"from": f, "to": to2, "open": open}
	if err := h.call(ctx, t.router, http.MethodPost, "/v1/conduits", body, nil); err != nil {
		return fmt.Errorf("router of team %s: %w", team, err)
	}
	return nil
}

// call makes an API request to a host agent or router with the token.
func (h *hosts) call(ctx context.Context, addr, method, path string, in, out any) error {
	return call(ctx, h.hc, addr, h.tok, method, path, in, out)
}

var healthClient = &http.Client{Timeout: 3 * time.Second}

// health asks a host agent or router for GET /v1/health.
func health(ctx context.Context, addr, tok string) error {
	var out struct {
		OK *bool `json:"ok"`
	}
	if err := call(ctx, healthClient, addr, tok, http.MethodGet, "/v1/health", nil, &out); err != nil {
		return err
	}
	if out.OK != nil && !*out.OK {
		return errors.New("health: not ok")
	}
	return nil
}

func call(ctx context.Context, hc *http.Client, addr, tok, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}
