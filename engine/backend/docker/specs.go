package docker

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/go-connections/nat"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/plants"
	"github.com/icsrange/icsrange/plant-sim/netsetup"
	"github.com/icsrange/icsrange/plant-sim/plant"
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

// netSpec is a network to make.
type netSpec struct {
	team, zone string // zone "" for the access network
	name       string
	subnet     netip.Prefix
}

// teamNets are team's networks: one per zone, then its access network,
// each with the next /24 alloc has.
func teamNets(plan backend.Plan, t string, n names, alloc *allocator) ([]*netSpec, error) {
	var out []*netSpec
	for _, z := range plan.Zones {
		out = append(out, &netSpec{team: t, zone: z, name: n.zone(t, z)})
	}
	out = append(out, &netSpec{team: t, name: n.access(t)})
	for _, ns := range out {
		var err error
		if ns.subnet, err = alloc.take(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// subnets are where a team's networks are, once made (a network's subnet
// may have moved, see createNetwork): each zone's and the access
// network's.
func subnets(nets []*netSpec) (zones map[string]netip.Prefix, access netip.Prefix) {
	zones = map[string]netip.Prefix{}
	for _, ns := range nets {
		if ns.zone == "" {
			access = ns.subnet
		} else {
			zones[ns.zone] = ns.subnet
		}
	}
	return zones, access
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
func teamSpecs(plan backend.Plan, t string, tn *teamNet, n names, expose string) ([]*ctrSpec, error) {
	var out []*ctrSpec
	// routes to the team's other zones, through the router.
	routes := func(zone string) (netsetup.Routes, error) {
		var r netsetup.Routes
		for _, z := range plan.Zones {
			if z != zone {
				if err := r.Set(tn.Zones[z] + "=" + tn.Router.Zones[zone]); err != nil {
					return nil, fmt.Errorf("team %s: %w", t, err)
				}
			}
		}
		return r, nil
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
		pc := plants.ProcessConfig(plan.Seed, t, p)
		pc.Listen = net.JoinHostPort("0.0.0.0", strconv.Itoa(plant.ModbusPort))
		pc.Mgmt = nd.Access + ":9020"
		pc.TokenFile = TokenPath
		// The real packets, captured at the PLC's own interfaces: every
		// Modbus packet to it crosses them, intra-zone ones too.
		pc.Capture = true
		var err error
		if pc.Routes, err = routes(p.Zone); err != nil {
			return nil, err
		}
		out = append(out, &ctrSpec{team: t, role: RolePLC, id: p.ID, zone: p.Zone, name: n.container(t, p.ID),
			cmd:       append([]string{"plc"}, pc.Args()...),
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
		rs, err := routes(h.Zone)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			cmd = append(cmd, "--route", r.String())
		}
		out = append(out, &ctrSpec{team: t, role: RoleHost, id: h.ID, zone: h.Zone, name: n.container(t, h.ID), cmd: cmd,
			accessNet: n.access(t), accessIP: nd.Access, zoneNets: []zoneEP{{net: n.zone(t, h.Zone), ip: nd.IP, alias: h.ID}},
			ports: []string{portAgent}, caps: []string{"NET_ADMIN"}, memory: 128 << 20, nanoCPUs: 5e8, pids: 128})
	}
	return out, nil
}

func labelsOf(base map[string]string, c *ctrSpec) map[string]string {
	l := withLabels(base, LabelTeam, c.team, LabelRole, c.role, LabelID, c.id)
	if c.zone != "" {
		l[LabelZone] = c.zone
	}
	return l
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

// containerConfig is everything a container is made with: the Docker
// API's three configurations at create, then the zone networks it joins
// (API 1.41 daemons take one network at create).
type containerConfig struct {
	Name       string                    `json:"name"`
	Config     *container.Config         `json:"config"`
	Host       *container.HostConfig     `json:"host_config"`
	Networking *network.NetworkingConfig `json:"networking_config"`
	Join       []networkJoin             `json:"join,omitempty"`
}

// networkJoin is a network a container joins after create.
type networkJoin struct {
	Network  string                    `json:"network"`
	Endpoint *network.EndpointSettings `json:"endpoint"`
}

// config is the container c is made as, from image, with the exercise's
// labels base, its ports published on publish and the token volume vol.
func (c *ctrSpec) config(image string, base map[string]string, publish, vol string) containerConfig {
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
	cc := containerConfig{Name: c.name}
	cc.Config = &container.Config{
		Image: image, Cmd: c.cmd, Hostname: c.id, Labels: labelsOf(base, c), ExposedPorts: exposed,
		StopTimeout: ptr(2),
	}
	cc.Host = &container.HostConfig{
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
	cc.Networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		// GwPriority: Docker 28+ takes the default route from it; older
		// daemons from the network whose name sorts first, the access one.
		c.accessNet: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: c.accessIP}, GwPriority: 100},
	}}
	for _, z := range c.zoneNets {
		cc.Join = append(cc.Join, networkJoin{Network: z.net, Endpoint: z.endpoint()})
	}
	return cc
}

// endpoint is how a container joins its zone network: at its address,
// under its id as the name the zone's other containers resolve.
func (z zoneEP) endpoint() *network.EndpointSettings {
	return &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: z.ip}, Aliases: []string{z.alias}}
}

// options are what ns is created with, the exercise's labels base on it.
func (ns *netSpec) options(base map[string]string) network.CreateOptions {
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
	return network.CreateOptions{
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
	}
}

// tokenVolumeConfig is the token volume name, with the exercise's labels
// base, and the container, never started, that its file is copied in
// through.
func tokenVolumeConfig(image string, base map[string]string, name string) (volume.CreateOptions, containerConfig) {
	labels := withLabels(base, LabelRole, RoleToken, LabelID, "token")
	return volume.CreateOptions{Name: name, Driver: "local", Labels: labels}, containerConfig{
		Name:   name + "-init",
		Config: &container.Config{Image: image, Cmd: []string{"version"}, Labels: labels},
		Host:   &container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: name, Target: tokenDir}}},
	}
}
