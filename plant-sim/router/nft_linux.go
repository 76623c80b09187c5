//go:build linux

package router

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// NFT applies rule sets to the kernel's nftables over netlink.
type NFT struct {
	opts []nftables.ConnOption
	conn *nftables.Conn
}

// NewNFT talks to nftables in this process's network namespace, or, when
// netnsFD >= 0, in the one that file descriptor refers to.
func NewNFT(netnsFD int) (*NFT, error) {
	var opts []nftables.ConnOption
	if netnsFD >= 0 {
		opts = append(opts, nftables.WithNetNSFd(netnsFD))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return &NFT{opts: opts, conn: c}, nil
}

// reset drops whatever a failed batch left queued on the connection.
func (n *NFT) reset() {
	if c, err := nftables.New(n.opts...); err == nil {
		n.conn = c
	}
}

var table = &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}

func chains() (fwd, in *nftables.Chain) {
	drop, accept := nftables.ChainPolicyDrop, nftables.ChainPolicyAccept
	fwd = &nftables.Chain{Name: ChainForward, Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop}
	in = &nftables.Chain{Name: ChainInput, Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept}
	return fwd, in
}

// Apply makes the table hold exactly rules: table and chains are created
// when missing, the chains flushed and the rules added, all in one netlink
// batch, so the kernel switches from the old rule set to the new at once.
func (n *NFT) Apply(rules []Rule) error {
	fwd, in := chains()
	n.conn.AddTable(table)
	n.conn.AddChain(fwd)
	n.conn.AddChain(in)
	n.conn.FlushChain(fwd)
	n.conn.FlushChain(in)
	for _, r := range rules {
		ch := fwd
		if r.Chain == ChainInput {
			ch = in
		}
		ex, err := n.exprs(r)
		if err != nil {
			n.reset()
			return fmt.Errorf("rule %q: %w", r, err)
		}
		nr := &nftables.Rule{Table: table, Chain: ch, Exprs: ex}
		if r.Comment != "" {
			nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.Comment)
		}
		n.conn.AddRule(nr)
	}
	if err := n.conn.Flush(); err != nil {
		n.reset()
		return nftErr("apply the rule set", err)
	}
	return nil
}

// Remove deletes the table; a missing table is no error.
func (n *NFT) Remove() error {
	n.conn.DelTable(table)
	if err := n.conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		n.reset()
		return nftErr("delete the table", err)
	}
	return nil
}

// Close releases the connection.
func (n *NFT) Close() error { return n.conn.CloseLasting() }

func nftErr(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("nftables: %s needs CAP_NET_ADMIN: %w", what, err)
	}
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), "protocol not supported") {
		return fmt.Errorf("nftables: %s: %w (is the kernel built with nf_tables and nf_conntrack?)", what, err)
	}
	return fmt.Errorf("nftables: %s: %w", what, err)
}

const reg = 1 // every load goes to register 1 and is tested at once

func cmpEq(data []byte) expr.Any {
	return &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data}
}

// exprs translates a rule into nftables expressions.
func (n *NFT) exprs(r Rule) ([]expr.Any, error) {
	var out []expr.Any
	// ip saddr and the like need the network protocol tested first in an
	// inet table, as nft does.
	fam := byte(0)
	for _, m := range r.Matches {
		switch {
		case m.Kind == MatchSaddr || m.Kind == MatchDaddr:
			f := byte(unix.NFPROTO_IPV4)
			if !m.Prefix.Addr().Is4() {
				f = unix.NFPROTO_IPV6
			}
			if fam != 0 && fam != f {
				return nil, errors.New("mixes IPv4 and IPv6")
			}
			fam = f
		case m.Kind == MatchICMP:
			f := byte(unix.NFPROTO_IPV4)
			if m.IPv6 {
				f = unix.NFPROTO_IPV6
			}
			if fam != 0 && fam != f {
				return nil, errors.New("mixes IPv4 and IPv6")
			}
			fam = f
		}
	}
	if fam != 0 {
		out = append(out, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg}, cmpEq([]byte{fam}))
	}
	for _, m := range r.Matches {
		switch m.Kind {
		case MatchSaddr, MatchDaddr:
			p := m.Prefix
			if p.Bits() == 0 {
				continue // the whole family: the nfproto test says it
			}
			size := uint32(4)
			off := uint32(12)
			if !p.Addr().Is4() {
				size, off = 16, 8
			}
			if m.Kind == MatchDaddr {
				off += size
			}
			out = append(out, &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size})
			if p.Bits() < p.Addr().BitLen() {
				mask := make([]byte, size)
				for i := range p.Bits() {
					mask[i/8] |= 0x80 >> (i % 8)
				}
				out = append(out, &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: size, Mask: mask, Xor: make([]byte, size)})
			}
			out = append(out, cmpEq(p.Addr().AsSlice()))
		case MatchReply:
			out = append(out, &expr.Ct{Register: reg, Key: expr.CtKeyDIRECTION}, cmpEq([]byte{1})) // IP_CT_DIR_REPLY
		case MatchTCP:
			out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}, cmpEq([]byte{unix.IPPROTO_TCP}))
		case MatchDport, MatchSport:
			if len(m.Ports) == 0 {
				return nil, errors.New("port match without ports")
			}
			off := uint32(2)
			if m.Kind == MatchSport {
				off = 0
			}
			out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}, cmpEq([]byte{unix.IPPROTO_TCP}),
				&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2})
			if len(m.Ports) == 1 {
				out = append(out, cmpEq(binaryutil.BigEndian.PutUint16(m.Ports[0])))
				continue
			}
			set := &nftables.Set{Table: table, Anonymous: true, Constant: true, KeyType: nftables.TypeInetService}
			elems := make([]nftables.SetElement, len(m.Ports))
			for i, p := range m.Ports {
				elems[i] = nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(p)}
			}
			if err := n.conn.AddSet(set, elems); err != nil {
				return nil, err
			}
			out = append(out, &expr.Lookup{SourceRegister: reg, SetName: set.Name, SetID: set.ID})
		case MatchICMP:
			proto, typ := byte(unix.IPPROTO_ICMP), m.Type
			if m.IPv6 {
				proto = unix.IPPROTO_ICMPV6
				switch typ {
				case ICMPEchoRequest:
					typ = 128
				case ICMPEchoReply:
					typ = 129
				}
			}
			out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}, cmpEq([]byte{proto}),
				&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1}, cmpEq([]byte{typ}))
		case MatchNotLocalIn:
			out = append(out, &expr.Fib{Register: reg, FlagDADDR: true, FlagIIF: true, ResultADDRTYPE: true},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)})
		default:
			return nil, fmt.Errorf("unknown match kind %d", m.Kind)
		}
	}
	out = append(out, &expr.Counter{})
	switch r.Verdict {
	case Accept:
		out = append(out, &expr.Verdict{Kind: expr.VerdictAccept})
	case Drop:
		out = append(out, &expr.Verdict{Kind: expr.VerdictDrop})
	default:
		return nil, fmt.Errorf("unknown verdict %q", r.Verdict)
	}
	return out, nil
}

// EnableForwarding turns on IPv4 forwarding in this network namespace. A
// read-only /proc/sys is no error when forwarding is already on (Docker
// sets it with --sysctl net.ipv4.ip_forward=1).
func EnableForwarding() error { return setForwarding(true) }

// DisableForwarding turns IPv4 forwarding off, when /proc/sys lets it.
func DisableForwarding() error { return setForwarding(false) }

const ipForward = "/proc/sys/net/ipv4/ip_forward"

func setForwarding(on bool) error {
	want := "0"
	if on {
		want = "1"
	}
	err := os.WriteFile(ipForward, []byte(want+"\n"), 0o644)
	if err == nil {
		return nil
	}
	if b, rerr := os.ReadFile(ipForward); rerr == nil && strings.TrimSpace(string(b)) == want {
		return nil
	}
	return fmt.Errorf("set %s to %s: %w (start the container with --sysctl net.ipv4.ip_forward=1)", ipForward, want, err)
}
