//go:build linux

package router_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/router"
)

const helperEnv = "ICSRANGE_ROUTER_NETNS_HELPER"

// TestRouterNftables applies the rule set to the kernel's nftables and
// plays traffic through it, in a fresh network namespace: the test binary
// runs itself again under unshare -n. Namespaces and nftables need root, so
// elsewhere (CI runners, developer laptops) the test skips.
func TestRouterNftables(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and nftables rules")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) to make a network namespace")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-n", os.Args[0], "-test.run=^TestRouterNftablesHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if m := regexp.MustCompile(`--- SKIP: TestRouterNftablesHelper.*\n\s*(.*)`).FindSubmatch(out); m != nil {
		t.Skipf("helper skipped: %s", m[1])
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestRouterNftablesHelper") {
		if strings.Contains(string(out), "unshare failed") {
			t.Skipf("unshare -n failed (no namespace support here): %s", out)
		}
		t.Fatalf("helper in a network namespace: %v\n%s", err, out)
	}
	t.Logf("helper:\n%s", out)
}

// TestRouterNftablesHelper is TestRouterNftables' body, in its own network
// namespace (the router's). It skips unless that test started it.
func TestRouterNftablesHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("runs only inside TestRouterNftables' network namespace")
	}
	ab := mustConduit(t, "10.128.1.0/24>10.128.2.0/24:502")
	other := mustConduit(t, "10.128.2.0/24>10.128.3.0/24:502,3389")
	opt := router.Options{ICMP: true, MgmtPort: 9040}
	nft, err := router.NewNFT(-1)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := router.New([]router.Conduit{ab, other}, opt, nft)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(); err != nil {
		if strings.Contains(err.Error(), "not supported") {
			t.Skipf("this kernel has no nftables: %v", err)
		}
		t.Fatal(err)
	}

	// What the kernel holds, read back through the library.
	checkTable(t, len(router.Render(rt.Conduits(), opt))-1, ab.String())
	if _, err := rt.Set(ab.From, ab.To, false); err != nil {
		t.Fatal(err)
	}
	checkTable(t, len(router.Render(rt.Conduits(), opt))-1, other.String())
	if _, err := rt.Set(ab.From, ab.To, true); err != nil {
		t.Fatal(err)
	}

	forwarding(t, rt, ab)

	if err := nft.Remove(); err != nil {
		t.Fatal(err)
	}
	c, _ := nftables.New()
	if _, err := c.ListTableOfFamily(router.Table, nftables.TableFamilyINet); err == nil {
		t.Fatal("the table outlived Remove")
	}
	if err := nft.Remove(); err != nil {
		t.Fatalf("removing a missing table: %v", err)
	}
}

// checkTable reads the table back: a forward chain dropping by policy with
// forwardRules rules, the first for conduit first; an input chain with the
// management port's guard.
func checkTable(t *testing.T, forwardRules int, first string) {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := c.ListTableOfFamily(router.Table, nftables.TableFamilyINet)
	if err != nil {
		t.Fatalf("table inet %s: %v", router.Table, err)
	}
	fwd, err := c.ListChain(tbl, router.ChainForward)
	if err != nil {
		t.Fatal(err)
	}
	if fwd.Policy == nil || *fwd.Policy != nftables.ChainPolicyDrop || fwd.Hooknum == nil || *fwd.Hooknum != *nftables.ChainHookForward || fwd.Type != nftables.ChainTypeFilter {
		t.Fatalf("forward chain: %+v", fwd)
	}
	rules, err := c.GetRules(tbl, fwd)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != forwardRules {
		t.Fatalf("forward chain holds %d rules, want %d", len(rules), forwardRules)
	}
	if cm, _ := userdata.GetString(rules[0].UserData, userdata.TypeComment); cm != first {
		t.Fatalf("first rule's comment %q, want %q", cm, first)
	}
	in, err := c.ListChain(tbl, router.ChainInput)
	if err != nil {
		t.Fatal(err)
	}
	if rules, err := c.GetRules(tbl, in); err != nil || len(rules) != 1 {
		t.Fatalf("input chain: %d rules, %v", len(rules), err)
	}
}

// newNS makes a network namespace. The thread that made it is locked and
// dies with its goroutine, so no other goroutine ever runs in it.
func newNS(t *testing.T) netns.NsHandle {
	t.Helper()
	type res struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan res)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.New()
		ch <- res{ns, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("new network namespace: %v", r.err)
	}
	t.Cleanup(func() { r.ns.Close() })
	return r.ns
}

// inNS runs f on a thread in ns; sockets f makes belong to ns for good.
func inNS(ns netns.NsHandle, f func() error) error {
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		if err := netns.Set(ns); err != nil {
			done <- err
			return
		}
		done <- f()
	}()
	return <-done
}

// side is a zone host's namespace with a veth to the router.
func side(t *testing.T, name string, routerAddr, hostAddr, otherNet string) netns.NsHandle {
	t.Helper()
	ns := newNS(t)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "r" + name}, PeerName: "h" + name}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	peer, err := netlink.LinkByName("h" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetNsFd(peer, int(ns)); err != nil {
		t.Fatal(err)
	}
	ra, _ := netlink.ParseAddr(routerAddr)
	if err := netlink.AddrAdd(veth, ra); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	hl, err := h.LinkByName("h" + name)
	if err != nil {
		t.Fatal(err)
	}
	ha, _ := netlink.ParseAddr(hostAddr)
	lo, _ := h.LinkByName("lo")
	for _, err := range []error{h.AddrAdd(hl, ha), h.LinkSetUp(hl), h.LinkSetUp(lo)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	dst, _ := netlink.ParseIPNet(otherNet)
	if err := h.RouteAdd(&netlink.Route{Dst: dst, Gw: ra.IP}); err != nil {
		t.Fatalf("route: %v", err)
	}
	return ns
}

// servePLC serves plc in ns on addr.
func servePLC(t *testing.T, ns netns.NsHandle, plc *plantsim.PLC, addr string) *plantsim.Server {
	t.Helper()
	var ln net.Listener
	if err := inNS(ns, func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	srv := plantsim.NewServer(plc, plantsim.ServerConfig{IdleTimeout: 2 * time.Second})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv
}

// runnerIn attacks from ns.
func runnerIn(t *testing.T, ns netns.NsHandle) *attack.Runner {
	r := attack.NewRunner(t.Context())
	r.DialTimeout = 500 * time.Millisecond
	r.Dial = func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = inNS(ns, func() error {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	t.Cleanup(func() { r.StopAll(); r.Wait() })
	return r
}

// forwarding plays traffic across the router: zone A (10.128.1.0/24) and
// zone B (10.128.2.0/24) in namespaces of their own, a PLC in each, and the
// conduit A → B on port 502.
func forwarding(t *testing.T, rt *router.Router, ab router.Conduit) {
	lo, _ := netlink.LinkByName("lo")
	netlink.LinkSetUp(lo)
	if err := router.EnableForwarding(); err != nil {
		t.Fatal(err)
	}
	nsA := side(t, "a", "10.128.1.254/24", "10.128.1.10/24", "10.128.2.0/24")
	nsB := side(t, "b", "10.128.2.254/24", "10.128.2.10/24", "10.128.1.0/24")
	plcA, _ := plantsim.New(plantsim.Config{Model: "water-tank", Noise: 0})
	plcB, _ := plantsim.New(plantsim.Config{Model: "water-tank", Noise: 0})
	servePLC(t, nsA, plcA, "10.128.1.10:502")
	srvB := servePLC(t, nsB, plcB, "10.128.2.10:502")
	servePLC(t, nsB, plcB, "10.128.2.10:503") // listening, but no conduit to it
	fromA, fromB := runnerIn(t, nsA), runnerIn(t, nsB)
	ctx := t.Context()
	write := func(r *attack.Runner, target string) attack.Result {
		t.Helper()
		res, err := r.Run(ctx, attack.Spec{Kind: attack.Write, Targets: []string{target}, Unit: 1, Value: 1000})
		if err != nil {
			t.Fatalf("write %s: %v", target, err)
		}
		return res
	}
	// A write that should pass may take longer than a blocked one is
	// given on a loaded machine: the connect gets seconds, not 500 ms.
	pass := func(r *attack.Runner, target string) attack.Result {
		t.Helper()
		r.DialTimeout = 5 * time.Second
		defer func() { r.DialTimeout = 500 * time.Millisecond }()
		return write(r, target)
	}

	if res := pass(fromA, "10.128.2.10:502"); res.Outcome != attack.OK {
		t.Fatalf("A → B:502 along the open conduit: %+v", res)
	}
	var src string
	for _, tx := range plcB.Capture(0).Transactions {
		src = tx.Source
	}
	if !strings.HasPrefix(src, "10.128.1.10:") {
		t.Fatalf("PLC B saw the write from %q, want the attacker's own address", src)
	}
	if res := write(fromA, "10.128.2.10:503"); res.Outcome != attack.Blocked || !strings.Contains(res.Detail, "no answer") {
		t.Fatalf("A → B:503, no conduit port: %+v", res)
	}
	if res := write(fromB, "10.128.1.10:502"); res.Outcome != attack.Blocked {
		t.Fatalf("B → A, no conduit that way: %+v", res)
	}

	// A flood along the conduit dies when the conduit is cut: tracked
	// connections don't outlive it.
	res, err := fromA.Run(ctx, attack.Spec{Kind: attack.Flood, Targets: []string{"10.128.2.10:502"}, Slots: 4, For: time.Minute})
	if err != nil || res.Outcome != attack.OK {
		t.Fatalf("flood: %+v, %v", res, err)
	}
	waitFor(t, "the flood's connections", func() bool { return srvB.Clients() == 4 })
	if _, err := rt.Set(ab.From, ab.To, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the flood to end after the cut", func() bool { return fromA.Running() == 0 })
	if res := write(fromA, "10.128.2.10:502"); res.Outcome != attack.Blocked {
		t.Fatalf("A → B:502 after the cut: %+v", res)
	}
	// The PLC's idle timeout frees the slots the dead connections held.
	waitFor(t, "PLC B's slots freed", func() bool { return srvB.Clients() == 0 })
	if _, err := rt.Set(ab.From, ab.To, true); err != nil {
		t.Fatal(err)
	}
	if res := pass(fromA, "10.128.2.10:502"); res.Outcome != attack.OK {
		t.Fatalf("A → B:502 after the restore: %+v", res)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
