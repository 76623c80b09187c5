package netsetup_test

import (
	"flag"
	"strings"
	"testing"

	"github.com/icsrange/icsrange/plant-sim/netsetup"
)

func TestNetsetupParseRoute(t *testing.T) {
	for in, want := range map[string]string{
		"10.128.2.0/24=10.128.1.254":      "10.128.2.0/24=10.128.1.254",
		" 10.128.2.9/24 = 10.128.1.254 ":  "10.128.2.0/24=10.128.1.254",
		"0.0.0.0/0=10.128.1.254":          "0.0.0.0/0=10.128.1.254",
		"fd00:2::/64=fd00:1::fe":          "fd00:2::/64=fd00:1::fe",
		"10.128.2.0/24=::ffff:10.128.1.1": "10.128.2.0/24=10.128.1.1",
	} {
		r, err := netsetup.ParseRoute(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if r.String() != want {
			t.Errorf("%q parsed as %s, want %s", in, r, want)
		}
	}
	for _, bad := range []string{"", "10.128.2.0/24", "10.128.2.0/24=", "=10.128.1.254", "10.128.2.0=10.128.1.254",
		"10.128.2.0/24=fd00::1", "10.128.2.0/24=10.128.1", "10.128.2.0/40=10.128.1.254"} {
		if _, err := netsetup.ParseRoute(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNetsetupRoutesFlag(t *testing.T) {
	var routes netsetup.Routes
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	fs.Var(&routes, "route", "")
	if err := fs.Parse([]string{"--route", "10.128.2.0/24=10.128.1.254", "--route=10.128.3.0/24=10.128.1.254"}); err != nil {
		t.Fatal(err)
	}
	if got := routes.String(); got != "10.128.2.0/24=10.128.1.254,10.128.3.0/24=10.128.1.254" {
		t.Fatalf("routes %s", got)
	}
	if err := fs.Parse([]string{"--route", "10.128.2.0/24=10.128.1.253"}); err == nil {
		t.Fatal("a second route to the same network accepted")
	}
}

func TestNetsetupWithoutRoutes(t *testing.T) {
	// No routes: nothing happens, whatever the platform and privileges.
	rep, err := netsetup.Setup(nil)
	if err != nil || rep.Dropped || len(rep.Routes) != 0 {
		t.Fatalf("Setup(nil) = %+v, %v", rep, err)
	}
	if rep.String() != "no network setup" {
		t.Fatalf("report %q", rep)
	}
	rep = netsetup.Report{Routes: []netsetup.Route{{}}, Dropped: true}
	rep.Routes[0], _ = netsetup.ParseRoute("10.128.2.0/24=10.128.1.254")
	if got := rep.String(); got != "routes 10.128.2.0/24 via 10.128.1.254; capabilities dropped (bounding set kept: no CAP_SETPCAP; no_new_privs set)" {
		t.Fatalf("report %q", got)
	}
}
