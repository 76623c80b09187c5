package docker

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/icsrange/icsrange/engine/backend"
)

// Pool is where the backend takes its networks' /24s from.
var Pool = netip.MustParsePrefix("10.128.0.0/9")

// Addresses inside every /24 the backend makes.
const (
	gatewayOctet = 1   // the Docker host's end of the bridge
	routerOctet  = 254 // the team's router, in every zone network
	firstPLC     = 10  // PLCs take .10, .11, … in their zone network
	accessRouter = 2   // the router's address in the access network
)

// teamNet is one team's addressing: a /24 per zone and one for the access
// network, and every container's addresses in them.
type teamNet struct {
	Access string            `json:"access"` // the access network's CIDR
	Zones  map[string]string `json:"zones"`  // zone → CIDR
	Router node              `json:"router"`
	PLCs   map[string]node   `json:"plcs"`
	Hosts  map[string]node   `json:"hosts"`
}

// node is one container's addresses.
type node struct {
	Zone   string            `json:"zone,omitempty"`  // a PLC's or host's zone
	IP     string            `json:"ip,omitempty"`    // its address in its zone network
	Access string            `json:"access"`          // its address in the access network
	Zones  map[string]string `json:"zones,omitempty"` // the router's: zone → address
}

// allocator hands out /24s of Pool that no Docker network uses.
type allocator struct {
	mu   sync.Mutex
	used []netip.Prefix
	next netip.Addr
}

func newAllocator(used []netip.Prefix) *allocator {
	return &allocator{used: used, next: Pool.Addr()}
}

var errPoolExhausted = errors.New("no free /24 left in " + Pool.String())

// take returns the next free /24 in sequence.
func (a *allocator) take() (netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for Pool.Contains(a.next) {
		p := netip.PrefixFrom(a.next, 24)
		a.next = nextSlash24(a.next)
		if !a.overlaps(p) {
			a.used = append(a.used, p)
			return p, nil
		}
	}
	return netip.Prefix{}, errPoolExhausted
}

// markUsed records a subnet someone else took meanwhile (a network create
// that failed because its pool overlaps).
func (a *allocator) markUsed(p netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.used = append(a.used, p)
}

func (a *allocator) overlaps(p netip.Prefix) bool {
	for _, u := range a.used {
		if u.Overlaps(p) {
			return true
		}
	}
	return false
}

func nextSlash24(a netip.Addr) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8
	v += 1 << 8
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0})
}

// hostIn is address octet n of a /24.
func hostIn(p netip.Prefix, n int) string {
	b := p.Masked().Addr().As4()
	b[3] = byte(n)
	return netip.AddrFrom4(b).String()
}

// layout places every container of a team in its networks: PLCs at .10,
// .11, … of their zone, scenario hosts at their scenario address's last
// octet when it is free, the router at .254 of every zone; in the access
// network the router at .2, then the PLCs and hosts.
func layout(plan backend.Plan, zones map[string]netip.Prefix, access netip.Prefix) (*teamNet, error) {
	if n := len(plan.PLCs) + len(plan.Hosts); n > 250 {
		return nil, fmt.Errorf("a team has %d PLCs and hosts; a Docker plant takes at most 250", n)
	}
	tn := &teamNet{Access: access.String(), Zones: map[string]string{}, PLCs: map[string]node{}, Hosts: map[string]node{}}
	taken := map[string]map[int]bool{}
	for z, p := range zones {
		tn.Zones[z] = p.String()
		taken[z] = map[int]bool{0: true, gatewayOctet: true, routerOctet: true, 255: true}
	}
	tn.Router = node{Access: hostIn(access, accessRouter), Zones: map[string]string{}}
	for z, p := range zones {
		tn.Router.Zones[z] = hostIn(p, routerOctet)
	}
	acc := accessRouter + 1
	if acc < firstPLC {
		acc = firstPLC
	}
	for _, p := range plan.PLCs {
		zp, ok := zones[p.Zone]
		if !ok {
			return nil, fmt.Errorf("plc %s: unknown zone %q", p.ID, p.Zone)
		}
		n := firstPLC
		for taken[p.Zone][n] {
			n++
		}
		if n > 253 {
			return nil, fmt.Errorf("zone %s is full", p.Zone)
		}
		taken[p.Zone][n] = true
		tn.PLCs[p.ID] = node{Zone: p.Zone, IP: hostIn(zp, n), Access: hostIn(access, acc)}
		acc++
	}
	for _, h := range plan.Hosts {
		zp, ok := zones[h.Zone]
		if !ok {
			return nil, fmt.Errorf("host %s: unknown zone %q", h.ID, h.Zone)
		}
		want := 100
		if a, err := netip.ParseAddr(h.Address); err == nil && a.Is4() {
			want = int(a.As4()[3])
		}
		n, ok := freeOctet(taken[h.Zone], want)
		if !ok {
			return nil, fmt.Errorf("zone %s is full", h.Zone)
		}
		taken[h.Zone][n] = true
		tn.Hosts[h.ID] = node{Zone: h.Zone, IP: hostIn(zp, n), Access: hostIn(access, acc)}
		acc++
	}
	return tn, nil
}

// freeOctet is want if free, else the next free one (wrapping in 2..253).
func freeOctet(taken map[int]bool, want int) (int, bool) {
	if want < 2 || want > 253 {
		want = 100
	}
	for i := range 252 {
		n := 2 + (want-2+i)%252
		if !taken[n] {
			return n, true
		}
	}
	return 0, false
}

// names are the Docker object names of one exercise.
type names struct{ prefix string }

func newNames(exerciseID string) names {
	return names{prefix: "icsr-" + sanitize(exerciseID)}
}

// access is the team's access network. It is the zone networks' names'
// prefix, so it sorts first: on Docker before 28 (no gateway priority) the
// network whose name sorts first gives a container its default route and
// its published ports.
func (n names) access(team string) string { return n.prefix + "-" + sanitize(team) }
func (n names) zone(team, zone string) string {
	return n.prefix + "-" + sanitize(team) + "-" + sanitize(zone)
}
func (n names) container(team, id string) string {
	return n.prefix + "-" + sanitize(team) + "-" + sanitize(id)
}

// volume holds the exercise's token file.
func (n names) volume() string { return n.prefix + "-token" }

// router is the team's router container; "_" can't start a scenario id,
// so "-_router" is taken only if a PLC or host is called router.
func (n names) router(team string, plan backend.Plan) string {
	for _, p := range plan.PLCs {
		if p.ID == "router" {
			return n.container(team, "_router")
		}
	}
	for _, h := range plan.Hosts {
		if h.ID == "router" {
			return n.container(team, "_router")
		}
	}
	return n.container(team, "router")
}

// sanitize keeps what Docker allows in names.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '_'
	}, s)
}

// checkUnique fails when two objects of the plan would get the same name
// (team "a" with zone "x-y" and team "a-x" with zone "y").
func checkUnique(plan backend.Plan, n names) error {
	nets := map[string]string{}
	ctrs := map[string]string{}
	add := func(m map[string]string, name, what string) error {
		if other, ok := m[name]; ok {
			return fmt.Errorf("%s and %s would both be named %s in Docker; rename a team", other, what, name)
		}
		m[name] = what
		return nil
	}
	teams := append([]string(nil), plan.Teams...)
	sort.Strings(teams)
	for _, t := range teams {
		if err := add(nets, n.access(t), "team "+t+"'s access network"); err != nil {
			return err
		}
		for _, z := range plan.Zones {
			if err := add(nets, n.zone(t, z), "team "+t+"'s zone "+z); err != nil {
				return err
			}
		}
		if err := add(ctrs, n.router(t, plan), "team "+t+"'s router"); err != nil {
			return err
		}
		for _, p := range plan.PLCs {
			if err := add(ctrs, n.container(t, p.ID), "team "+t+"'s plc "+p.ID); err != nil {
				return err
			}
		}
		for _, h := range plan.Hosts {
			if err := add(ctrs, n.container(t, h.ID), "team "+t+"'s host "+h.ID); err != nil {
				return err
			}
		}
	}
	return nil
}
