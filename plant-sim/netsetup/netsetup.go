// Package netsetup prepares a plant container's network namespace: it adds
// the routes to the plant's other zones (through the zone's router) and then
// drops every capability, so what serves trainees' traffic runs unprivileged.
// A container gets CAP_NET_ADMIN for this step only.
//
// Routes are added with netlink and capabilities dropped with prctl and
// capset on every thread, all without cgo, so a static binary (FROM scratch)
// does it itself. Only Linux has it; elsewhere asking for routes is an error.
package netsetup

import (
	"fmt"
	"net/netip"
	"strings"
)

// Route is a route to Dst via the gateway Gw.
type Route struct {
	Dst netip.Prefix
	Gw  netip.Addr
}

func (r Route) String() string { return r.Dst.String() + "=" + r.Gw.String() }

// ParseRoute reads CIDR=GW, e.g. 10.128.2.0/24=10.128.1.254. Host bits in
// the CIDR are masked off.
func ParseRoute(s string) (Route, error) {
	dst, gw, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		return Route{}, fmt.Errorf("route %q: want CIDR=GATEWAY", s)
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(dst))
	if err != nil {
		return Route{}, fmt.Errorf("route %q: %w", s, err)
	}
	g, err := netip.ParseAddr(strings.TrimSpace(gw))
	if err != nil {
		return Route{}, fmt.Errorf("route %q: gateway: %w", s, err)
	}
	p, g = p.Masked(), g.Unmap()
	if p.Addr().Is4() != g.Is4() {
		return Route{}, fmt.Errorf("route %q: destination and gateway are of different IP versions", s)
	}
	if g.Zone() != "" {
		return Route{}, fmt.Errorf("route %q: gateway must not have a zone", s)
	}
	return Route{Dst: p, Gw: g}, nil
}

// Routes collects repeated --route CIDR=GW flags; it is a flag.Value.
type Routes []Route

func (r *Routes) String() string {
	if r == nil {
		return ""
	}
	s := make([]string, len(*r))
	for i, rt := range *r {
		s[i] = rt.String()
	}
	return strings.Join(s, ",")
}

// Set adds one route.
func (r *Routes) Set(s string) error {
	rt, err := ParseRoute(s)
	if err != nil {
		return err
	}
	for _, have := range *r {
		if have.Dst == rt.Dst {
			return fmt.Errorf("route to %s given twice", rt.Dst)
		}
	}
	*r = append(*r, rt)
	return nil
}

// Report says what Setup did.
type Report struct {
	Routes []Route
	// Dropped: effective, permitted, inheritable and ambient sets are empty
	// and no_new_privs is set.
	Dropped bool
	// BoundingSet: the bounding set was emptied too. That needs
	// CAP_SETPCAP; without it, no_new_privs alone keeps an exec from
	// regaining what the bounding set still holds.
	BoundingSet bool
}

func (r Report) String() string {
	if len(r.Routes) == 0 && !r.Dropped {
		return "no network setup"
	}
	var b strings.Builder
	for i, rt := range r.Routes {
		if i == 0 {
			b.WriteString("routes ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s via %s", rt.Dst, rt.Gw)
	}
	if r.Dropped {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString("capabilities dropped")
		if r.BoundingSet {
			b.WriteString(" (bounding set too)")
		} else {
			b.WriteString(" (bounding set kept: no CAP_SETPCAP; no_new_privs set)")
		}
	}
	return b.String()
}

// Setup adds routes and then drops every capability. Without routes it
// does nothing at all, so a PLC run by hand is unaffected.
func Setup(routes []Route) (Report, error) {
	if len(routes) == 0 {
		return Report{}, nil
	}
	if err := AddRoutes(routes); err != nil {
		return Report{}, err
	}
	bounding, err := DropCapabilities()
	if err != nil {
		return Report{Routes: routes}, err
	}
	return Report{Routes: routes, Dropped: true, BoundingSet: bounding}, nil
}

// Caps is a process's capability state as /proc/self/status shows it.
type Caps struct {
	Inheritable, Permitted, Effective, Bounding, Ambient uint64
	NoNewPrivs                                           bool
}

// CapNetAdmin is CAP_NET_ADMIN's number, for DropCapabilities' keep list
// (the router keeps it to change its rule set).
const CapNetAdmin = 12
