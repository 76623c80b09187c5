package plant

import "slices"

// Ports is a set of TCP ports: every port (Any), or a sorted list.
type Ports struct {
	Any  bool
	List []uint16
}

// PortsOf is the set a conduit's port list gives: nil is every port.
func PortsOf[P int | uint16](ports []P) Ports {
	if ports == nil {
		return Ports{Any: true}
	}
	out := make([]uint16, 0, len(ports))
	for _, p := range ports {
		out = append(out, uint16(p))
	}
	slices.Sort(out)
	return Ports{List: slices.Compact(out)}
}

// Empty reports whether no port is in the set.
func (p Ports) Empty() bool { return !p.Any && len(p.List) == 0 }

// Has reports whether a port is in the set.
func (p Ports) Has(port int) bool {
	if p.Any {
		return true
	}
	_, ok := slices.BinarySearch(p.List, uint16(port))
	return ok
}

func (p Ports) intersect(q Ports) Ports {
	switch {
	case p.Any:
		return q
	case q.Any:
		return p
	}
	var out []uint16
	for _, x := range p.List {
		if _, ok := slices.BinarySearch(q.List, x); ok {
			out = append(out, x)
		}
	}
	return Ports{List: out}
}

func (p Ports) union(q Ports) Ports {
	if p.Any || q.Any {
		return Ports{Any: true}
	}
	out := slices.Concat(p.List, q.List)
	slices.Sort(out)
	return Ports{List: slices.Compact(out)}
}

func (p Ports) equal(q Ports) bool { return p.Any == q.Any && slices.Equal(p.List, q.List) }

// Link is an open conduit between two networks, named by any comparable
// key: a zone's name in the logical network, its subnet in a router.
type Link[N comparable] struct {
	From, To N
	Ports    Ports
}

// Closure is the links' transitive closure: a link from every network to
// every other it reaches along chains of links, on the ports every hop of
// some chain passes. It is the plant's one reachability: the logical
// network answers from it and a Docker plant's router renders its
// forwarding rules from it. Networks keep the order they first appear in.
func Closure[N comparable](links []Link[N]) []Link[N] {
	var nets []N
	idx := map[N]int{}
	for _, c := range links {
		for _, p := range []N{c.From, c.To} {
			if _, ok := idx[p]; !ok {
				idx[p] = len(nets)
				nets = append(nets, p)
			}
		}
	}
	var out []Link[N]
	for s := range nets {
		reach := make([]Ports, len(nets))
		reach[s] = Ports{Any: true}
		for changed := true; changed; {
			changed = false
			for _, c := range links {
				from, to := idx[c.From], idx[c.To]
				if to == s || reach[from].Empty() {
					continue
				}
				next := reach[to].union(reach[from].intersect(c.Ports))
				if !next.equal(reach[to]) {
					reach[to], changed = next, true
				}
			}
		}
		for z, ps := range reach {
			if z != s && !ps.Empty() {
				out = append(out, Link[N]{From: nets[s], To: nets[z], Ports: ps})
			}
		}
	}
	return out
}
