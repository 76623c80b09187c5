// Package docker provisions every team's plant as containers on isolated
// Docker networks through the Docker Engine API: one container per PLC, per
// scenario host (attacker, workstation, HMI) and one router per team, all
// running the icsrange binary from an image built locally from it. Each of
// a team's zones is its own network; the router joins them all and passes
// only what the scenario's conduits allow (nftables), so host traffic is
// real TCP across real networks, and cutting a conduit or stopping a host
// happens for real. A separate access network per team carries the ports
// published to the engine. See docs/docker.md.
//
// The files, by concern: backend.go the Backend and its entry points
// (Provision, and the deployment it returns), specs.go what is made, as
// pure functions from the plan and its addresses (addr.go) to the Docker
// API's configurations, provision.go the pipeline that makes them,
// ready.go the readiness checks, recover.go re-attaching, reap.go
// removal, list.go listing, lease.go the engine's lease, hosts.go and
// hostfx.go what the deployment does to hosts and conduits, image.go the
// image, volume.go the token volume, labels.go the labels.
package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/plants"
	"github.com/icsrange/icsrange/internal/token"
	"github.com/icsrange/icsrange/plant-sim/hostagent"
	"github.com/icsrange/icsrange/plant-sim/plant"
	"github.com/icsrange/icsrange/plant-sim/router"
)

// WorkDir is the backend's directory inside a data dir (the token file).
const WorkDir = "docker"

// Backend provisions plants as Docker containers.
type Backend struct {
	// Binary is the static Linux icsrange binary the image is built from;
	// default this executable.
	Binary string
	// Expose, when set, also publishes every PLC's Modbus port on this
	// address of the Docker host (a port Docker picks), for trainees'
	// tools; the endpoints shown to trainees are those.
	Expose string
	// Publish is the Docker host's address the engine's ports (Modbus,
	// management, host agents, routers) are published on; default
	// 127.0.0.1, which only a local daemon's engine can reach.
	Publish string
	// ReadyTimeout bounds the wait for every container to answer (default
	// 60 s).
	ReadyTimeout time.Duration
	// Parallel bounds the Docker calls in flight (default 16: a daemon
	// starting containers is CPU-bound; more only queue).
	Parallel int
	// Log receives a line per provisioning stage.
	Log io.Writer
	// Client is used instead of one from the environment (DOCKER_HOST,
	// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH); the backend does not close it.
	Client *client.Client

	logMu sync.Mutex
}

// saved is what Recover needs: the addressing and the token file.
type saved struct {
	Image     string              `json:"image"`
	TokenFile string              `json:"token_file"`
	Publish   string              `json:"publish"`
	Expose    string              `json:"expose,omitempty"`
	Teams     map[string]*teamNet `json:"teams"`
}

func (b *Backend) logf(format string, a ...any) {
	if b.Log == nil {
		return
	}
	b.logMu.Lock()
	defer b.logMu.Unlock()
	fmt.Fprintf(b.Log, format+"\n", a...)
}

// connect returns a client of the daemon and a function releasing it.
func (b *Backend) connect(ctx context.Context) (*client.Client, func(), error) {
	cli := b.Client
	release := func() {}
	if cli == nil {
		var err error
		cli, err = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			return nil, nil, fmt.Errorf("docker client: %w", err)
		}
		release = func() { cli.Close() }
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		release()
		return nil, nil, fmt.Errorf("no Docker daemon answers at %s (set DOCKER_HOST?): %w", cli.DaemonHost(), err)
	}
	cli.NegotiateAPIVersion(ctx)
	return cli, release, nil
}

// addrs are the addresses ports are published on and the engine dials.
func (b *Backend) addrs(cli *client.Client) (publish, dial string, err error) {
	publish = b.Publish
	if publish == "" {
		publish = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(publish)
	if err != nil {
		return "", "", fmt.Errorf("publish address %q: %w", publish, err)
	}
	if b.Expose != "" {
		if _, err := netip.ParseAddr(b.Expose); err != nil {
			return "", "", fmt.Errorf("--expose %q: want an IP address of the Docker host: %w", b.Expose, err)
		}
	}
	if dial, err = dialHost(ip, daemonHost(cli)); err != nil {
		return "", "", fmt.Errorf("%w (set the backend's Publish address)", err)
	}
	return publish, dial, nil
}

// dialHost is the address this process dials for a port Docker published
// on ip of the Docker host; remote is the daemon's host for a tcp://
// daemon, "" for a local socket.
func dialHost(ip netip.Addr, remote string) (string, error) {
	switch {
	case ip.IsUnspecified():
		if remote == "" {
			return "127.0.0.1", nil
		}
		return remote, nil
	case ip.IsLoopback() && remote != "" && !isLoopbackName(remote):
		return "", fmt.Errorf("the Docker host %s is remote: ports published on its %s are out of this machine's reach", remote, ip)
	}
	return ip.String(), nil
}

// daemonHost is the Docker host's name for a tcp:// daemon, "" for a local
// socket.
func daemonHost(cli *client.Client) string {
	u, err := url.Parse(cli.DaemonHost())
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return u.Hostname()
}

func isLoopbackName(h string) bool {
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// Provision builds the image if needed, makes every team's networks and
// containers and returns when every PLC answers Modbus and its management
// API, and every host agent and router its API. Leftovers of the exercise
// go first; a failure removes what it made.
func (b *Backend) Provision(ctx context.Context, plan backend.Plan, progress func(backend.Step)) (backend.Deployment, error) {
	if plan.ExerciseID == "" {
		return nil, errors.New("docker: the plan has no exercise id")
	}
	n := newNames(plan.ExerciseID)
	if err := checkUnique(plan, n); err != nil {
		return nil, err
	}
	cli, release, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	publish, dial, err := b.addrs(cli)
	if err != nil {
		release()
		return nil, err
	}
	start := time.Now()
	// Reconcile: whatever carries this exercise's label is a leftover.
	if err := destroy(ctx, cli, plan.ExerciseID, b.workers()); err != nil {
		release()
		return nil, fmt.Errorf("remove leftovers of %s: %w", plan.ExerciseID, err)
	}
	image, err := b.ensureImage(ctx, cli)
	if err != nil {
		release()
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Join(plan.DataDir, WorkDir))
	if err != nil {
		release()
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		release()
		return nil, fmt.Errorf("docker work dir: %w", err)
	}
	tok := token.New()
	s := &saved{Image: image, TokenFile: filepath.Join(dir, "mgmt.token"), Publish: publish, Expose: b.Expose, Teams: map[string]*teamNet{}}
	if err := os.WriteFile(s.TokenFile, []byte(tok+"\n"), 0o600); err != nil {
		release()
		return nil, fmt.Errorf("write mgmt token: %w", err)
	}
	lease := newLeaser(b.workers())
	d, err := b.provision(ctx, cli, plan, s, n, tok, dial, lease, progress)
	if err != nil {
		lease.close(false)
		b.logf("provisioning failed; removing what it made")
		if derr := destroy(context.WithoutCancel(ctx), cli, plan.ExerciseID, b.workers()); derr != nil {
			err = fmt.Errorf("%w (and the cleanup failed too: %v; retry with icsrange down)", err, derr)
		}
		release()
		return nil, err
	}
	d.release = release
	b.logf("%d teams ready in %.1f s", len(plan.Teams), time.Since(start).Seconds())
	return d, nil
}

func (b *Backend) workers() int {
	if b.Parallel > 0 {
		return b.Parallel
	}
	return 16
}

func (b *Backend) readyTimeout() time.Duration {
	if b.ReadyTimeout > 0 {
		return b.ReadyTimeout
	}
	return 60 * time.Second
}

// assemble builds the deployment over started, answering containers.
func (b *Backend) assemble(plan backend.Plan, s *saved, live []*ctr, cli *client.Client, tok string, lease *leaser) (*Deployment, error) {
	h := newHosts(cli, s, tok)
	direct := reachesAccess(plan, s)
	byName := map[string]*ctr{}
	for _, c := range live {
		byName[c.spec.team+"/"+c.spec.role+"/"+c.spec.id] = c
	}
	eps := map[string][]*plants.Endpoint{}
	for _, t := range plan.Teams {
		tr := &teamRT{net: s.Teams[t], hosts: map[string]*hostRT{}}
		r := byName[t+"/"+RoleRouter+"/router"]
		if r == nil {
			return nil, fmt.Errorf("team %s has no router container", t)
		}
		tr.router = router.NewClient(r.ports[portRouter], tok, h.hc)
		for _, p := range plan.PLCs {
			c := byName[t+"/"+RolePLC+"/"+p.ID]
			if c == nil {
				return nil, fmt.Errorf("team %s has no container for plc %s", t, p.ID)
			}
			modbus := c.ports[portModbus]
			if c.exposed != "" {
				modbus = c.exposed
			}
			ep := &plants.Endpoint{Spec: p, Handle: c.mgmt, Modbus: modbus, Mgmt: c.ports[portMgmt]}
			if direct {
				ep.Engine = net.JoinHostPort(s.Teams[t].PLCs[p.ID].Access, strings.TrimSuffix(portModbus, "/tcp"))
			}
			ep.Plant = net.JoinHostPort(s.Teams[t].PLCs[p.ID].IP, strconv.Itoa(plant.ModbusPort))
			eps[t] = append(eps[t], ep)
		}
		for _, ho := range plan.Hosts {
			c := byName[t+"/"+RoleHost+"/"+ho.ID]
			if c == nil {
				return nil, fmt.Errorf("team %s has no container for host %s", t, ho.ID)
			}
			tr.hosts[ho.ID] = &hostRT{container: c.id, agent: hostagent.NewClient(c.ports[portAgent], tok, h.hc), up: true}
		}
		h.teams[t] = tr
	}
	blob, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	d := &Deployment{h: h, lease: lease}
	d.Deployment = plants.New(plan, eps, blob, d.close)
	d.SetAttacker(h)
	d.SetNetwork(h)
	return d, nil
}

// reachesAccess says whether this process reaches the containers' access
// addresses directly, as on Linux with a local daemon (the host is on
// every bridge), not through a VM (Docker Desktop) or a remote daemon.
// Forwarded sessions then go there instead of through a published port,
// where docker-proxy would hide the engine's source port from the PLC and
// the traffic log could not tell whose session it is. The probe is a
// connect to a PLC's management port: it leaves nothing in the traffic
// log.
func reachesAccess(plan backend.Plan, s *saved) bool {
	if len(plan.Teams) == 0 || len(plan.PLCs) == 0 || s.Teams[plan.Teams[0]] == nil {
		return false
	}
	addr := s.Teams[plan.Teams[0]].PLCs[plan.PLCs[0].ID].Access
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strings.TrimSuffix(portMgmt, "/tcp")), 500*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
