// Package router is a team plant's zone router: a container joined to every
// zone network that forwards between zones only what the scenario's open
// conduits allow, with nftables, and opens or cuts conduits on request from
// the engine over a small management API.
//
// The rule set is rendered by a pure function (Render) from the conduits'
// state to rule descriptions, and applied by a separate netlink step, so
// what the router enforces is testable without privileges.
package router

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/icsrange/icsrange/plant-sim/plant"
)

// Conduit is a scenario conduit between two zones' networks: new TCP
// connections from From to To on Ports (any port when Ports is nil) pass
// while it is open.
type Conduit struct {
	From, To netip.Prefix
	Ports    []uint16
	Open     bool
}

// maxPorts bounds a conduit's port list.
const maxPorts = 64

// ParseConduit reads FROM_CIDR>TO_CIDR:PORTS, PORTS a comma list such as
// 502,3389 or "any". A parsed conduit is open.
func ParseConduit(s string) (Conduit, error) {
	from, rest, ok := strings.Cut(strings.TrimSpace(s), ">")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 {
		return Conduit{}, fmt.Errorf("conduit %q: want FROM_CIDR>TO_CIDR:PORTS", s)
	}
	to, ports := rest[:i], rest[i+1:]
	c := Conduit{Open: true}
	var err error
	if c.From, err = parsePrefix(from); err != nil {
		return Conduit{}, fmt.Errorf("conduit %q: from: %w", s, err)
	}
	if c.To, err = parsePrefix(to); err != nil {
		return Conduit{}, fmt.Errorf("conduit %q: to: %w", s, err)
	}
	if c.From.Addr().Is4() != c.To.Addr().Is4() {
		return Conduit{}, fmt.Errorf("conduit %q: from and to are of different IP versions", s)
	}
	if c.From == c.To {
		return Conduit{}, fmt.Errorf("conduit %q: from and to are the same network", s)
	}
	if c.Ports, err = ParsePorts(ports); err != nil {
		return Conduit{}, fmt.Errorf("conduit %q: %w", s, err)
	}
	return c, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, errors.New("a network has no zone")
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, errors.New("use the IPv4 form of an IPv4-mapped network")
	}
	return p.Masked(), nil
}

// ParsePorts reads "502,3389" (sorted, duplicates dropped) or "any" (nil).
func ParsePorts(s string) ([]uint16, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "any") {
		return nil, nil
	}
	if s == "" {
		return nil, errors.New(`no ports (give a list such as 502,3389, or "any")`)
	}
	var out []uint16
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("port %q is not in 1..65535", f)
		}
		out = append(out, uint16(n))
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxPorts {
		return nil, fmt.Errorf("%d ports; at most %d", len(out), maxPorts)
	}
	return out, nil
}

// PortsString is the port list as the flag gives it: "502,3389" or "any".
func (c Conduit) PortsString() string {
	if c.Ports == nil {
		return "any"
	}
	s := make([]string, len(c.Ports))
	for i, p := range c.Ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// String is the conduit in flag syntax.
func (c Conduit) String() string {
	return c.From.String() + ">" + c.To.String() + ":" + c.PortsString()
}

// Chains of the router's table.
const (
	Table        = "icsrange"
	ChainForward = "forward" // hook forward, policy drop: the conduits
	ChainInput   = "input"   // hook input, policy accept: guards the management port
)

// MatchKind is what a match tests.
type MatchKind int

// Match kinds.
const (
	MatchSaddr      MatchKind = iota // ip saddr Prefix
	MatchDaddr                       // ip daddr Prefix
	MatchReply                       // ct direction reply: a packet answering a tracked connection
	MatchTCP                         // meta l4proto tcp
	MatchDport                       // tcp dport Ports
	MatchSport                       // tcp sport Ports
	MatchICMP                        // icmp type Type (icmpv6 for IPv6)
	MatchNotLocalIn                  // fib daddr . iif type != local: to an address the incoming interface does not hold
)

// ICMP types a rule can match (IPv4 numbering; IPv6 rules use 128/129).
const (
	ICMPEchoRequest = 8
	ICMPEchoReply   = 0
)

// Match is one test in a rule.
type Match struct {
	Kind   MatchKind
	Prefix netip.Prefix // MatchSaddr, MatchDaddr
	Ports  []uint16     // MatchDport, MatchSport
	Type   uint8        // MatchICMP, in IPv4 numbering
	IPv6   bool         // MatchICMP: icmpv6
}

// Verdict is a rule's verdict.
type Verdict string

// Verdicts.
const (
	Accept Verdict = "accept"
	Drop   Verdict = "drop"
)

// Rule is one rule of the router's table, described without netlink.
type Rule struct {
	Chain   string
	Matches []Match
	Verdict Verdict
	Comment string // the conduit it serves, in flag syntax
}

func (m Match) String() string {
	ip := "ip"
	if m.Prefix.IsValid() && !m.Prefix.Addr().Is4() {
		ip = "ip6"
	}
	switch m.Kind {
	case MatchSaddr:
		return ip + " saddr " + m.Prefix.String()
	case MatchDaddr:
		return ip + " daddr " + m.Prefix.String()
	case MatchReply:
		return "ct direction reply"
	case MatchTCP:
		return "meta l4proto tcp"
	case MatchDport:
		return "tcp dport " + portList(m.Ports)
	case MatchSport:
		return "tcp sport " + portList(m.Ports)
	case MatchICMP:
		name := map[uint8]string{ICMPEchoRequest: "echo-request", ICMPEchoReply: "echo-reply"}[m.Type]
		if name == "" {
			name = strconv.Itoa(int(m.Type))
		}
		if m.IPv6 {
			return "icmpv6 type " + name
		}
		return "icmp type " + name
	case MatchNotLocalIn:
		return "fib daddr . iif type != local"
	}
	return fmt.Sprintf("match(%d)", m.Kind)
}

func portList(ports []uint16) string {
	if len(ports) == 1 {
		return strconv.Itoa(int(ports[0]))
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

// String is the rule in nft syntax, e.g.
// "forward: ip saddr 10.128.1.0/24 ip daddr 10.128.2.0/24 tcp dport 502 accept".
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Chain)
	b.WriteString(":")
	for _, m := range r.Matches {
		b.WriteString(" ")
		b.WriteString(m.String())
	}
	b.WriteString(" ")
	b.WriteString(string(r.Verdict))
	return b.String()
}

// Options tune the rendered rule set.
type Options struct {
	// ICMP lets pings (echo request and reply) along open conduits.
	ICMP bool
	// Transitive forwards along chains of open conduits too, as the
	// engine's logical network reaches zones: from A to C on a port when
	// open conduits A → B and B → C both pass it. Without it only a
	// conduit's own two networks are joined.
	Transitive bool
	// MgmtPort, when set, makes the input chain drop TCP to this port that
	// arrives on an interface not holding the destination address: zone
	// hosts can't reach the management API by sending to the router's
	// address on another network.
	MgmtPort uint16
}

// Render is the rule set for the conduits' state. The forward chain's
// policy drops what no rule accepts. Each open conduit accepts its new and
// ongoing connections and, in the reply direction of connections it let
// through, their answers; there is no blanket "ct state established"
// rule, so cutting a conduit stops its connections at once, floods
// included, instead of letting tracked ones live on.
func Render(conduits []Conduit, opt Options) []Rule {
	var rules []Rule
	if opt.MgmtPort != 0 {
		rules = append(rules, Rule{Chain: ChainInput, Verdict: Drop, Comment: "management port",
			Matches: []Match{{Kind: MatchDport, Ports: []uint16{opt.MgmtPort}}, {Kind: MatchNotLocalIn}}})
	}
	if opt.Transitive {
		conduits = Closure(conduits)
	}
	for _, c := range conduits {
		if !c.Open {
			continue
		}
		fwd := []Match{{Kind: MatchSaddr, Prefix: c.From}, {Kind: MatchDaddr, Prefix: c.To}}
		rev := []Match{{Kind: MatchReply}, {Kind: MatchSaddr, Prefix: c.To}, {Kind: MatchDaddr, Prefix: c.From}}
		if c.Ports == nil {
			fwd = append(fwd, Match{Kind: MatchTCP})
			rev = append(rev, Match{Kind: MatchTCP})
		} else {
			fwd = append(fwd, Match{Kind: MatchDport, Ports: c.Ports})
			rev = append(rev, Match{Kind: MatchSport, Ports: c.Ports})
		}
		name := c.String()
		rules = append(rules,
			Rule{Chain: ChainForward, Matches: fwd, Verdict: Accept, Comment: name},
			Rule{Chain: ChainForward, Matches: rev, Verdict: Accept, Comment: name})
		if opt.ICMP {
			v6 := !c.From.Addr().Is4()
			rules = append(rules,
				Rule{Chain: ChainForward, Verdict: Accept, Comment: name, Matches: []Match{
					{Kind: MatchSaddr, Prefix: c.From}, {Kind: MatchDaddr, Prefix: c.To}, {Kind: MatchICMP, Type: ICMPEchoRequest, IPv6: v6}}},
				Rule{Chain: ChainForward, Verdict: Accept, Comment: name, Matches: []Match{
					{Kind: MatchReply}, {Kind: MatchSaddr, Prefix: c.To}, {Kind: MatchDaddr, Prefix: c.From}, {Kind: MatchICMP, Type: ICMPEchoReply, IPv6: v6}}})
		}
	}
	return rules
}

// Closure is the open conduits' transitive closure (plant.Closure over
// the zones' networks): a conduit from every network to every other it
// reaches along chains of open conduits, on the ports every hop of some
// chain passes — the engine's reachability, port by port. Networks keep
// the order they first appear in.
func Closure(conduits []Conduit) []Conduit {
	var links []plant.Link[netip.Prefix]
	for _, c := range conduits {
		if c.Open {
			links = append(links, plant.Link[netip.Prefix]{From: c.From, To: c.To, Ports: plant.PortsOf(c.Ports)})
		}
	}
	var out []Conduit
	for _, l := range plant.Closure(links) {
		c := Conduit{From: l.From, To: l.To, Open: true}
		if !l.Ports.Any {
			c.Ports = l.Ports.List
		}
		out = append(out, c)
	}
	return out
}
