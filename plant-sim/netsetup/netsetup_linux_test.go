//go:build linux

package netsetup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/icsrange/icsrange/plant-sim/netsetup"
)

const helperEnv = "ICSRANGE_NETSETUP_HELPER"

// helperResult is what the helper process reports.
type helperResult struct {
	Report    string
	SetupErr  string
	NeedsCGO0 bool // the test binary uses cgo: capabilities can't be dropped on every thread
	Routes    []string
	Caps      netsetup.Caps
	NoCapErr  string // adding a route without CAP_NET_ADMIN
}

// TestNetsetupRoutes adds routes and drops capabilities in a fresh network
// namespace: the test binary runs itself again under unshare -n (the drop
// is for the whole process, so it can't happen in this one). Namespaces
// need root; elsewhere the test skips.
func TestNetsetupRoutes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and routes")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) to make a network namespace")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-n", os.Args[0], "-test.run=^TestNetsetupHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "unshare failed") {
			t.Skipf("unshare -n failed: %s", out)
		}
		t.Fatalf("helper: %v\n%s", err, out)
	}
	_, js, ok := strings.Cut(string(out), "RESULT ")
	if !ok {
		if strings.Contains(string(out), "SKIP") {
			t.Skipf("helper skipped:\n%s", out)
		}
		t.Fatalf("helper said:\n%s", out)
	}
	js, _, _ = strings.Cut(js, "\n")
	var res helperResult
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("helper: %+v", res)
	for _, want := range []string{"10.128.2.0/24 via 10.128.1.254", "10.128.3.0/24 via 10.128.1.254"} {
		found := false
		for _, r := range res.Routes {
			found = found || r == want
		}
		if !found {
			t.Errorf("no route %s in %v", want, res.Routes)
		}
	}
	if res.NeedsCGO0 {
		t.Logf("this test binary uses cgo (e.g. -race): capabilities can only be dropped by a CGO_ENABLED=0 build; see cmd/icsrange TestNetsetupPLC")
		if !strings.Contains(res.SetupErr, "CGO_ENABLED=0") {
			t.Errorf("setup error %q", res.SetupErr)
		}
	} else {
		if res.SetupErr != "" {
			t.Fatalf("setup: %s", res.SetupErr)
		}
		if c := res.Caps; c.Effective != 0 || c.Permitted != 0 || c.Inheritable != 0 || c.Ambient != 0 || c.Bounding != 0 || !c.NoNewPrivs {
			t.Errorf("capabilities after the drop: %+v", c)
		}
		if !strings.Contains(res.Report, "capabilities dropped (bounding set too)") {
			t.Errorf("report %q", res.Report)
		}
	}
	if !strings.Contains(res.NoCapErr, "adding route 10.128.4.0/24 via 10.128.1.254 needs CAP_NET_ADMIN") {
		t.Errorf("route without CAP_NET_ADMIN: %q", res.NoCapErr)
	}
}

// TestNetsetupHelper is TestNetsetupRoutes' body, in its own network
// namespace. It skips unless that test started it.
func TestNetsetupHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("runs only inside TestNetsetupRoutes' network namespace")
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "zone0"}, PeerName: "zone0p"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Skipf("no veth here: %v", err)
	}
	addr, _ := netlink.ParseAddr("10.128.1.10/24")
	if err := netlink.AddrAdd(veth, addr); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		t.Fatal(err)
	}
	var res helperResult
	routes := netsetup.Routes{}
	routes.Set("10.128.2.0/24=10.128.1.254")
	routes.Set("10.128.3.0/24=10.128.1.254")
	rep, err := netsetup.Setup(routes)
	res.Report = rep.String()
	if err != nil {
		res.SetupErr = err.Error()
		res.NeedsCGO0 = errors.Is(err, netsetup.ErrNeedsStatic)
	}
	list, err := netlink.RouteList(veth, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if r.Dst != nil && r.Gw != nil {
			res.Routes = append(res.Routes, fmt.Sprintf("%s via %s", r.Dst, r.Gw))
		}
	}
	if res.Caps, err = netsetup.Current(); err != nil {
		t.Fatal(err)
	}
	// Without CAP_NET_ADMIN (dropped above, or, in a cgo binary, dropped
	// on this thread only) a route can't be added.
	done := make(chan string)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			done <- "capset: " + err.Error()
			return
		}
		r, _ := netsetup.ParseRoute("10.128.4.0/24=10.128.1.254")
		err := netsetup.AddRoutes([]netsetup.Route{r})
		done <- fmt.Sprint(err)
	}()
	res.NoCapErr = <-done
	b, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", b)
}
