package router

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/icsrange/icsrange/plant-sim/plant"
)

// accepts says whether the forward chain's rules let a new TCP connection
// from src to dst on port through (the chain's policy drops the rest).
func accepts(rules []Rule, src, dst netip.Addr, port uint16) bool {
	for _, r := range rules {
		if r.Chain != ChainForward || r.Verdict != Accept {
			continue
		}
		ok := true
		for _, m := range r.Matches {
			switch m.Kind {
			case MatchSaddr:
				ok = ok && m.Prefix.Contains(src)
			case MatchDaddr:
				ok = ok && m.Prefix.Contains(dst)
			case MatchDport:
				ok = ok && slices.Contains(m.Ports, port)
			case MatchTCP:
			default: // reply, sport, ICMP: not a new TCP connection's rule
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// The router's rendered rules pass exactly what the plant's logical
// network reaches, zone pair by zone pair and port by port, in every state
// of the conduits.
func TestRulesMatchNetworkReach(t *testing.T) {
	topo := plant.NewTopology([]string{"it", "dmz", "control", "safety"},
		[]plant.Conduit{{From: "it", To: "dmz"}, {From: "dmz", To: "control", Ports: []int{502, 2404}},
			{From: "it", To: "control", Ports: []int{3389}}, {From: "control", To: "safety", Ports: []int{502}},
			{From: "dmz", To: "it", Ports: []int{443}}},
		nil, nil)
	subnet := map[string]netip.Prefix{}
	for i, z := range topo.Zones {
		subnet[z] = netip.MustParsePrefix(fmt.Sprintf("10.128.%d.0/24", i+1))
	}
	ports := []int{80, 443, 502, 2404, 3389}
	// Every subset of cut conduits.
	for mask := range 1 << len(topo.Conduits) {
		n := plant.NewNetwork(topo)
		for i, c := range topo.Conduits {
			if mask&(1<<i) != 0 {
				n, _ = n.Apply(plant.Effect{Kind: plant.KindCutConduit, From: c.From, To: c.To})
			}
		}
		var cs []Conduit
		for _, c := range topo.Conduits {
			rc := Conduit{From: subnet[c.From], To: subnet[c.To], Open: n.Open(c.From, c.To)}
			if c.Ports != nil {
				for _, p := range c.Ports {
					rc.Ports = append(rc.Ports, uint16(p))
				}
			}
			cs = append(cs, rc)
		}
		rules := Render(cs, Options{Transitive: true})
		for _, from := range topo.Zones {
			for _, to := range topo.Zones {
				if from == to {
					continue
				}
				for _, port := range ports {
					src, dst := subnet[from].Addr().Next(), subnet[to].Addr().Next()
					if got, want := accepts(rules, src, dst, uint16(port)), n.ZoneReach(from, to, port); got != want {
						t.Fatalf("cut %v: %s → %s on %d: router accepts %v, network reaches %v", n.Cut(), from, to, port, got, want)
					}
				}
			}
		}
	}
}
