// Package docker provisions every team's plant as containers on isolated
// Docker networks through the Docker Engine API: one container per PLC, per
// scenario host (attacker, workstation, HMI) and one router per team, all
// running the icsrange binary from an image built locally from it. Each of
// a team's zones is its own network; the router joins them all and passes
// only what the scenario's conduits allow (nftables), so host traffic is
// real TCP across real networks, and cutting a conduit or stopping a host
// happens for real. A separate access network per team carries the ports
// published to the engine. See docs/docker.md.
package docker

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/plants"
	"github.com/icsrange/icsrange/internal/token"
	"github.com/icsrange/icsrange/internal/workpool"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/hostagent"
	"github.com/icsrange/icsrange/plant-sim/plant"
	"github.com/icsrange/icsrange/plant-sim/router"
)

// Labels on every container and network the backend makes.
const (
	LabelExercise = "icsrange.exercise"
	LabelScenario = "icsrange.scenario" // the scenario's id (plants made before it have none)
	LabelTeam     = "icsrange.team"
	LabelRole     = "icsrange.role" // plc, host, router, network
	LabelID       = "icsrange.id"   // PLC, host or zone id; "router"; "access"
	LabelZone     = "icsrange.zone"
)

// Container roles.
const (
	RolePLC     = "plc"
	RoleHost    = "host"
	RoleRouter  = "router"
	RoleNetwork = "network"
	RoleToken   = "token" // the token volume
)

// Ports inside the containers.
const (
	portModbus = "502/tcp"
	portMgmt   = "9020/tcp" // PLC management API
	portRouter = "9030/tcp" // router API
	portAgent  = "9040/tcp" // host agent API
)

// TokenPath is where the management token is in every container: on a
// volume mounted read-only at its directory.
const (
	TokenPath = tokenDir + "/token"
	tokenDir  = "/run/icsrange"
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

// netSpec is a network to make.
type netSpec struct {
	team, zone string // zone "" for the access network
	name       string
	subnet     netip.Prefix
}

func (b *Backend) provision(ctx context.Context, cli *client.Client, plan backend.Plan, s *saved, n names, tok, dial string, lease *leaser, progress func(backend.Step)) (*Deployment, error) {
	// Subnets: a /24 per team and zone, then one for the team's access
	// network, in sequence, skipping what any Docker network uses.
	existing, err := cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var used []netip.Prefix
	for _, nw := range existing {
		for _, c := range nw.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil {
				used = append(used, p)
			}
		}
	}
	alloc := newAllocator(used)
	netsOf := map[string][]*netSpec{}
	for _, t := range plan.Teams {
		for _, z := range plan.Zones {
			netsOf[t] = append(netsOf[t], &netSpec{team: t, zone: z, name: n.zone(t, z)})
		}
		netsOf[t] = append(netsOf[t], &netSpec{team: t, name: n.access(t)})
		for _, ns := range netsOf[t] {
			if ns.subnet, err = alloc.take(); err != nil {
				return nil, err
			}
		}
	}
	base := planLabels(plan)
	if err := tokenVolume(ctx, cli, s.Image, base, n.volume(), tok); err != nil {
		return nil, err
	}

	// Each team in a pipeline: its networks, then its containers (create,
	// join the zone networks, start), each then watched until it answers
	// while the others start. A semaphore bounds the Docker calls in
	// flight; the first failure stops everything.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, b.workers())
	docker := func(fn func() error) error {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		defer func() { <-sem }()
		return fn()
	}
	total := len(plan.Teams) * (1 + len(plan.PLCs) + len(plan.Hosts))
	nets := len(plan.Teams) * (len(plan.Zones) + 1)
	var netsDone, created, started, healthy int
	// One step at a time, in count order: progress callbacks need not be
	// safe for concurrent use.
	var stepMu sync.Mutex
	step := func(team, what, state string, ctr *int, of int) {
		stepMu.Lock()
		defer stepMu.Unlock()
		*ctr++
		if progress != nil {
			progress(backend.Step{Team: team, What: what, State: state, Done: *ctr, Total: of})
		}
	}
	t0 := time.Now()
	perTeam := total / max(len(plan.Teams), 1)
	var mu sync.Mutex
	var live []*ctr
	teamUp := map[string]int{}
	teamsUp := 0
	var warnOnce sync.Map
	var wg sync.WaitGroup
	for _, t := range plan.Teams {
		wg.Go(func() {
			var nwg sync.WaitGroup
			for _, ns := range netsOf[t] {
				nwg.Go(func() {
					if err := docker(func() error { return createNetwork(ctx, cli, base, ns, alloc) }); err != nil {
						cancel(err)
						return
					}
					what := "network " + ns.zone
					if ns.zone == "" {
						what = "network access"
					}
					step(t, what, "created", &netsDone, nets)
				})
			}
			nwg.Wait()
			if ctx.Err() != nil {
				return
			}
			zones := map[string]netip.Prefix{}
			var access netip.Prefix
			for _, ns := range netsOf[t] {
				if ns.zone == "" {
					access = ns.subnet
				} else {
					zones[ns.zone] = ns.subnet
				}
			}
			tn, err := layout(plan, zones, access)
			if err != nil {
				cancel(err)
				return
			}
			mu.Lock()
			s.Teams[t] = tn
			mu.Unlock()
			for _, c := range teamSpecs(plan, t, tn, n, b.Expose) {
				wg.Go(func() {
					var id string
					err := docker(func() error {
						var err error
						if id, err = createContainer(ctx, cli, s.Image, base, s.Publish, n.volume(), c, &warnOnce, b); err != nil {
							return err
						}
						step(t, c.what(), "created", &created, total)
						if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
							return fmt.Errorf("start %s: %w", c.name, err)
						}
						return nil
					})
					if err != nil {
						cancel(err)
						return
					}
					step(t, c.what(), "started", &started, total)
					lc := &ctr{spec: c, id: id}
					mu.Lock()
					live = append(live, lc)
					mu.Unlock()
					if err := b.up(ctx, cli, lc, tok, dial, s.Publish, s.Expose); err != nil {
						cancel(err)
						return
					}
					lease.add(lc.mgmt)
					step(t, c.what(), "healthy", &healthy, total)
					mu.Lock()
					teamUp[t]++
					if teamUp[t] == perTeam {
						teamsUp++
						b.logf("%s ready (%d/%d teams, %.0f s)", t, teamsUp, len(plan.Teams), time.Since(t0).Seconds())
					}
					mu.Unlock()
				})
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	b.logf("%d networks and %d containers up in %.1f s", nets, total, time.Since(t0).Seconds())
	return b.assemble(plan, s, live, cli, tok, lease)
}

// tokenVolume puts the token file in a volume every container mounts
// read-only at /run/icsrange: one copy (CopyToContainer into a container
// that is never started, which works with a remote daemon too) instead of
// one per container, each of which would mount and unmount its rootfs.
func tokenVolume(ctx context.Context, cli *client.Client, image string, base map[string]string, name, tok string) error {
	labels := withLabels(base, LabelRole, RoleToken, LabelID, "token")
	if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: labels}); err != nil {
		return fmt.Errorf("create the token volume: %w", err)
	}
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: image, Cmd: []string{"version"}, Labels: labels},
		&container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: name, Target: tokenDir}}},
		nil, nil, name+"-init")
	if err != nil {
		return fmt.Errorf("create the token volume: %w", err)
	}
	defer cli.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true})
	tt, err := tokenTar(tok)
	if err != nil {
		return err
	}
	if err := cli.CopyToContainer(ctx, c.ID, tokenDir, bytes.NewReader(tt), container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copy the token into its volume: %w", err)
	}
	return nil
}

// createNetwork makes one network; when its subnet was taken meanwhile
// (another exercise starting at the same time), it takes the next.
func createNetwork(ctx context.Context, cli *client.Client, base map[string]string, ns *netSpec, alloc *allocator) error {
	labels := withLabels(base, LabelTeam, ns.team, LabelRole, RoleNetwork)
	opts := map[string]string{
		// No NAT to the outside: nothing in a plant needs the internet.
		"com.docker.network.bridge.enable_ip_masquerade": "false",
	}
	if ns.zone == "" {
		labels[LabelID] = "access"
		// Containers of a team share the access network but never talk
		// over it: it only carries published ports.
		opts["com.docker.network.bridge.enable_icc"] = "false"
	} else {
		labels[LabelID] = ns.zone
		labels[LabelZone] = ns.zone
	}
	for attempt := 0; ; attempt++ {
		// Not cancelled midway: a create the client gave up on may still
		// complete in the daemon after the failure cleanup has listed the
		// networks, and be left behind.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_, err := cli.NetworkCreate(cctx, ns.name, network.CreateOptions{
			Driver: "bridge",
			// Not internal, though nothing leaves them: Docker's rules for
			// internal networks drop every bridged packet whose source or
			// destination is outside the network's subnet, and that is all
			// the traffic a router between zones forwards. See docs/docker.md.
			Internal: false,
			IPAM: &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{
				Subnet: ns.subnet.String(), Gateway: hostIn(ns.subnet, gatewayOctet)}}},
			Options: opts,
			Labels:  labels,
		})
		ccancel()
		if err == nil {
			return nil
		}
		if attempt < 10 && strings.Contains(err.Error(), "overlaps") {
			alloc.markUsed(ns.subnet)
			p, terr := alloc.take()
			if terr != nil {
				return terr
			}
			ns.subnet = p
			continue
		}
		return fmt.Errorf("create network %s (%s): %w", ns.name, ns.subnet, err)
	}
}

// ctrSpec is a container to make.
type ctrSpec struct {
	team, role, id, zone string
	name                 string
	cmd                  []string
	accessNet, accessIP  string
	zoneNets             []zoneEP // zone networks to join
	ports                []string // container ports published for the engine
	expose               string   // also publish Modbus here
	sysctls              map[string]string
	caps                 []string // capabilities added (all others dropped)
	memory, nanoCPUs     int64
	pids                 int64
}

type zoneEP struct{ net, ip, alias string }

func (c *ctrSpec) what() string {
	if c.role == RoleRouter {
		return "router"
	}
	return c.role + " " + c.id
}

// teamSpecs lists a team's router, PLCs and hosts.
func teamSpecs(plan backend.Plan, t string, tn *teamNet, n names, expose string) []*ctrSpec {
	var out []*ctrSpec
	// routes to the team's other zones, through the router.
	routes := func(zone string) []string {
		var r []string
		for _, z := range plan.Zones {
			if z != zone {
				r = append(r, "--route", tn.Zones[z]+"="+tn.Router.Zones[zone])
			}
		}
		return r
	}
	// The router: in every zone, passing what the conduits allow.
	// --transitive: the engine's model (and so the in-process backend and
	// validation) lets a host reach a zone along a chain of open conduits;
	// one router joins every zone, so a chain is one hop here and the
	// router must pass it too, or the same scenario would score
	// differently per backend.
	rc := []string{"router", "--mgmt", tn.Router.Access + ":9030", "--token-file", TokenPath, "--transitive"}
	for _, c := range plan.Conduits {
		ports := "any"
		if len(c.Ports) > 0 {
			ps := make([]string, len(c.Ports))
			for i, p := range c.Ports {
				ps[i] = strconv.Itoa(p)
			}
			ports = strings.Join(ps, ",")
		}
		rc = append(rc, "--conduit", tn.Zones[c.From]+">"+tn.Zones[c.To]+":"+ports)
	}
	r := &ctrSpec{team: t, role: RoleRouter, id: "router", name: n.router(t, plan), cmd: rc,
		accessNet: n.access(t), accessIP: tn.Router.Access, ports: []string{portRouter},
		sysctls: map[string]string{"net.ipv4.ip_forward": "1"}, caps: []string{"NET_ADMIN"}, memory: 64 << 20, nanoCPUs: 5e8, pids: 64}
	for _, z := range plan.Zones {
		r.zoneNets = append(r.zoneNets, zoneEP{net: n.zone(t, z), ip: tn.Router.Zones[z], alias: "router"})
	}
	out = append(out, r)
	for _, p := range plan.PLCs {
		nd := tn.PLCs[p.ID]
		scan := p.Scan
		if scan == 0 {
			scan = plantsim.DefaultScan
		}
		unit := p.UnitID
		if unit == 0 {
			unit = 1
		}
		cmd := []string{"plc", "--id", p.ID, "--model", p.Model, "--listen", "0.0.0.0:502",
			"--mgmt", nd.Access + ":9020", "--unit-id", strconv.Itoa(int(unit)), "--scan", scan.String(),
			"--frame-timeout", cmp.Or(p.FrameTimeout, plantsim.DefaultFrameTimeout).String(),
			"--noise", strconv.FormatFloat(p.Noise, 'g', -1, 64),
			"--seed", strconv.FormatUint(plants.SeedFor(plan.Seed, t, p.ID), 10),
			"--token-file", TokenPath, "--clock", "engine",
			// The real packets, captured at the PLC's own interfaces: every
			// Modbus packet to it crosses them, intra-zone ones too.
			"--capture"}
		keys := make([]string, 0, len(p.Params))
		for k := range p.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cmd = append(cmd, "--param="+k+"="+strconv.FormatFloat(p.Params[k], 'g', -1, 64))
		}
		cmd = append(cmd, routes(p.Zone)...)
		out = append(out, &ctrSpec{team: t, role: RolePLC, id: p.ID, zone: p.Zone, name: n.container(t, p.ID), cmd: cmd,
			accessNet: n.access(t), accessIP: nd.Access, zoneNets: []zoneEP{{net: n.zone(t, p.Zone), ip: nd.IP, alias: p.ID}},
			ports: []string{portModbus, portMgmt}, expose: expose,
			// Modbus is on 502 and the PLC binds it with no capability left.
			sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"},
			// NET_ADMIN for the routes, NET_RAW to open the capture; the PLC
			// drops both before it serves.
			caps:   []string{"NET_ADMIN", "NET_RAW"},
			memory: 64 << 20, nanoCPUs: 25e7, pids: 64})
	}
	for _, h := range plan.Hosts {
		nd := tn.Hosts[h.ID]
		cmd := []string{"host", "--id", h.ID, "--agent", nd.Access + ":9040", "--token-file", TokenPath}
		cmd = append(cmd, routes(h.Zone)...)
		out = append(out, &ctrSpec{team: t, role: RoleHost, id: h.ID, zone: h.Zone, name: n.container(t, h.ID), cmd: cmd,
			accessNet: n.access(t), accessIP: nd.Access, zoneNets: []zoneEP{{net: n.zone(t, h.Zone), ip: nd.IP, alias: h.ID}},
			ports: []string{portAgent}, caps: []string{"NET_ADMIN"}, memory: 128 << 20, nanoCPUs: 5e8, pids: 128})
	}
	return out
}

func labelsOf(base map[string]string, c *ctrSpec) map[string]string {
	l := withLabels(base, LabelTeam, c.team, LabelRole, c.role, LabelID, c.id)
	if c.zone != "" {
		l[LabelZone] = c.zone
	}
	return l
}

// createContainer creates a container in its access network and joins it
// to its zone networks (API 1.41 daemons take one network at create).
func createContainer(ctx context.Context, cli *client.Client, image string, base map[string]string, publish, vol string, c *ctrSpec, warnOnce *sync.Map, b *Backend) (string, error) {
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	for _, p := range c.ports {
		port := nat.Port(p)
		exposed[port] = struct{}{}
		// Host port "": Docker picks a free one; ContainerInspect tells.
		bindings[port] = []nat.PortBinding{{HostIP: publish, HostPort: ""}}
	}
	if c.expose != "" && !hasBinding(bindings[portModbus], c.expose) {
		bindings[portModbus] = append(bindings[portModbus], nat.PortBinding{HostIP: c.expose, HostPort: ""})
	}
	pids := c.pids
	cfg := &container.Config{
		Image: image, Cmd: c.cmd, Hostname: c.id, Labels: labelsOf(base, c), ExposedPorts: exposed,
		StopTimeout: ptr(2),
	}
	hc := &container.HostConfig{
		NetworkMode:  container.NetworkMode(c.accessNet),
		PortBindings: bindings,
		// A PLC that restarted would be back at its initial state behind
		// the engine's back: better it stays down and the engine says so.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		// Root with CAP_NET_ADMIN (PLCs also CAP_NET_RAW) only, to add
		// routes (and, in the router, to keep its nftables rules; in a PLC,
		// to open its packet capture); PLCs and hosts drop them after setup.
		CapDrop:     []string{"ALL"},
		CapAdd:      c.caps,
		SecurityOpt: []string{"no-new-privileges:true"},
		Sysctls:     c.sysctls,
		Mounts:      []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: tokenDir, ReadOnly: true}},
		Resources:   container.Resources{Memory: c.memory, MemorySwap: c.memory, NanoCPUs: c.nanoCPUs, PidsLimit: &pids},
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		// GwPriority: Docker 28+ takes the default route from it; older
		// daemons from the network whose name sorts first, the access one.
		c.accessNet: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: c.accessIP}, GwPriority: 100},
	}}
	resp, err := cli.ContainerCreate(ctx, cfg, hc, nc, nil, c.name)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", c.name, err)
	}
	for _, w := range resp.Warnings {
		if _, seen := warnOnce.LoadOrStore(w, true); !seen {
			b.logf("warning from the Docker daemon: %s", w)
		}
	}
	for _, z := range c.zoneNets {
		if err := cli.NetworkConnect(ctx, z.net, resp.ID, &network.EndpointSettings{
			IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: z.ip}, Aliases: []string{z.alias}}); err != nil {
			return "", fmt.Errorf("connect %s to %s: %w", c.name, z.net, err)
		}
	}
	return resp.ID, nil
}

func hasBinding(bs []nat.PortBinding, ip string) bool {
	for _, b := range bs {
		if b.HostIP == ip {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// tokenTar is the token file as CopyToContainer takes it, relative to
// tokenDir. The processes
// run as root without CAP_DAC_OVERRIDE; owner nobody, group root and mode
// 0440 let them (and a process that switched to nobody) read it.
func tokenTar(tok string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	data := []byte(tok + "\n")
	for _, h := range []*tar.Header{
		{Name: path.Base(TokenPath), Typeflag: tar.TypeReg, Mode: 0o440, Uid: 65534, Gid: 0, Size: int64(len(data)), ModTime: now},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ctr is a started container and where its published ports are.
type ctr struct {
	spec    *ctrSpec
	id      string
	ports   map[string]string    // container port → host:port the engine dials
	exposed string               // Modbus on the --expose address
	mgmt    *plantsim.MgmtClient // a PLC's management API
}

// up reads a started container's published ports and waits until it
// answers: a PLC its management API and Modbus, a host agent and a router
// their health. A container that exits fails at once, with its log.
func (b *Backend) up(ctx context.Context, cli *client.Client, c *ctr, tok, dial, publish, expose string) error {
	info, err := cli.ContainerInspect(ctx, c.id)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", c.spec.name, err)
	}
	c.ports = map[string]string{}
	if info.NetworkSettings != nil {
		for _, p := range c.spec.ports {
			for _, pb := range info.NetworkSettings.Ports[nat.Port(p)] {
				if pb.HostIP == publish {
					c.ports[p] = net.JoinHostPort(dial, pb.HostPort)
				}
			}
		}
		if expose != "" && c.spec.role == RolePLC {
			for _, pb := range info.NetworkSettings.Ports[portModbus] {
				if pb.HostIP == expose {
					c.exposed = net.JoinHostPort(exposedHost(expose), pb.HostPort)
				}
			}
		}
	}
	for _, p := range c.spec.ports {
		if c.ports[p] == "" {
			return fmt.Errorf("%s: Docker published no port for %s on %s (its networks: %v)", c.spec.name, p, publish, networkNames(info))
		}
	}
	var check func(context.Context) error
	switch c.spec.role {
	case RolePLC:
		mc := plantsim.NewMgmtClient(c.ports[portMgmt], tok)
		c.mgmt = mc
		check = func(ctx context.Context) error {
			if _, err := mc.Health(ctx); err != nil {
				return err
			}
			return probeModbus(ctx, c.ports[portModbus])
		}
	case RoleHost:
		ac := hostagent.NewClient(c.ports[portAgent], tok, healthClient)
		check = func(ctx context.Context) error { _, err := ac.Health(ctx); return err }
	case RoleRouter:
		rc := router.NewClient(c.ports[portRouter], tok, healthClient)
		check = func(ctx context.Context) error { _, err := rc.Health(ctx); return err }
	}
	return waitUp(ctx, cli, c, check, b.readyTimeout())
}

// healthClient is what readiness checks ask with: a short timeout, since
// they are retried.
var healthClient = &http.Client{Timeout: 3 * time.Second}

// waitUp polls check until it passes, the container exits or time runs out.
func waitUp(ctx context.Context, cli *client.Client, c *ctr, check func(context.Context) error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	lastInspect := time.Now() // the daemon is busy starting the others: ask it seldom
	delay := 50 * time.Millisecond
	for {
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		if time.Since(lastInspect) > 2*time.Second {
			lastInspect = time.Now()
			if info, err := cli.ContainerInspect(ctx, c.id); err == nil && info.State != nil && !info.State.Running {
				return fmt.Errorf("%s exited (code %d): %s", c.spec.name, info.State.ExitCode, logTail(context.WithoutCancel(ctx), cli, c.id))
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s does not answer after %v: %v; its log: %s", c.spec.name, timeout, last, logTail(context.WithoutCancel(ctx), cli, c.id))
			}
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 400*time.Millisecond)
	}
}

// probeModbus checks that the published Modbus port leads to a listener,
// without sending a request: Docker's proxy accepts at once and closes the
// connection only when the container refuses it. A Modbus request would
// show in the traffic log as the Docker gateway's, which the engine can't
// attribute to itself through the proxy; the management API's health says
// the PLC serves (it listens on Modbus before it starts the API).
func probeModbus(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	var b [1]byte
	_, err = conn.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil // held open: the PLC took the connection
	}
	if err == nil {
		return errors.New("modbus: unexpected data before a request")
	}
	return fmt.Errorf("modbus %s: %w", addr, err)
}

func networkNames(info container.InspectResponse) []string {
	var out []string
	if info.NetworkSettings != nil {
		for n := range info.NetworkSettings.Networks {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// logTail is the end of a container's log, for errors.
func logTail(ctx context.Context, cli *client.Client, id string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "10"})
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer rc.Close()
	var out bytes.Buffer
	stdcopy.StdCopy(&out, &out, io.LimitReader(rc, 16<<10))
	s := strings.TrimSpace(out.String())
	if s == "" {
		return "(empty)"
	}
	return strings.ReplaceAll(s, "\n", " | ")
}

// exposedHost is what trainees dial for a port on the --expose address:
// the address itself, or for 0.0.0.0 this machine's name.
func exposedHost(expose string) string {
	if ip, err := netip.ParseAddr(expose); err == nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			return h
		}
	}
	return expose
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

// Recover re-attaches to a running exercise's containers: it finds them by
// label, unpauses and reconnects hosts, starts any that stopped (the
// engine then restores the PLCs' checkpoint and replays stopped, paused and
// disconnected hosts and cut conduits), re-reads their published ports and
// waits until they answer.
func (b *Backend) Recover(ctx context.Context, plan backend.Plan, data []byte) (backend.Deployment, error) {
	var s saved
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read saved docker deployment: %w", err)
	}
	tb, err := os.ReadFile(s.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("read mgmt token: %w", err)
	}
	tok := strings.TrimSpace(string(tb))
	cli, release, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	_, dial, err := (&Backend{Publish: s.Publish, Expose: s.Expose}).addrs(cli)
	if err != nil {
		release()
		return nil, err
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelExercise+"="+plan.ExerciseID))})
	if err != nil {
		release()
		return nil, fmt.Errorf("list the exercise's containers: %w", err)
	}
	found := map[string]container.Summary{}
	for _, c := range list {
		found[c.Labels[LabelTeam]+"/"+c.Labels[LabelRole]+"/"+c.Labels[LabelID]] = c
	}
	var specs []*ctrSpec
	for _, t := range plan.Teams {
		if s.Teams[t] == nil {
			release()
			return nil, fmt.Errorf("the saved deployment has no team %s", t)
		}
		specs = append(specs, teamSpecs(plan, t, s.Teams[t], newNames(plan.ExerciseID), s.Expose)...)
	}
	live := make([]*ctr, len(specs))
	for i, sp := range specs {
		c, ok := found[sp.team+"/"+sp.role+"/"+sp.id]
		if !ok {
			release()
			return nil, fmt.Errorf("team %s's %s is gone (removed with icsrange down?)", sp.team, sp.what())
		}
		live[i] = &ctr{spec: sp, id: c.ID}
	}
	lease := newLeaser(b.workers())
	err = workpool.Each(ctx, len(live), b.workers(), func(i int) error {
		c := live[i]
		if c.spec.role == RoleHost {
			// Paused or disconnected by the exercise: back as it was made
			// (a paused container does not start); the engine then
			// replays what the log says.
			if err := resetHost(ctx, cli, c); err != nil {
				return err
			}
		}
		if err := cli.ContainerStart(ctx, c.id, container.StartOptions{}); err != nil {
			return fmt.Errorf("start %s: %w", c.spec.name, err)
		}
		if err := b.up(ctx, cli, c, tok, dial, s.Publish, s.Expose); err != nil {
			return err
		}
		lease.add(c.mgmt)
		return nil
	})
	if err != nil {
		lease.close(false)
		release()
		return nil, err
	}
	d, err := b.assemble(plan, &s, live, cli, tok, lease)
	if err != nil {
		lease.close(false)
		release()
		return nil, err
	}
	d.release = release
	return d, nil
}
