package router_test

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/icsrange/icsrange/internal/token"
	"github.com/icsrange/icsrange/plant-sim/internal/httpapi/apitest"
	"github.com/icsrange/icsrange/plant-sim/router"
)

func mustConduit(t *testing.T, s string) router.Conduit {
	t.Helper()
	c, err := router.ParseConduit(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRouterParseConduit(t *testing.T) {
	for in, want := range map[string]string{
		"10.128.1.0/24>10.128.2.0/24:502":               "10.128.1.0/24>10.128.2.0/24:502",
		" 10.128.1.7/24 > 10.128.2.0/24 : 3389,502,502": "10.128.1.0/24>10.128.2.0/24:502,3389",
		"10.128.1.0/24>10.128.2.0/24:any":               "10.128.1.0/24>10.128.2.0/24:any",
		"10.128.1.0/24>10.128.2.0/24:ANY":               "10.128.1.0/24>10.128.2.0/24:any",
		"fd00:1::/64>fd00:2::/64:502":                   "fd00:1::/64>fd00:2::/64:502",
		"0.0.0.0/0>10.128.2.0/24:44818":                 "0.0.0.0/0>10.128.2.0/24:44818",
	} {
		c, err := router.ParseConduit(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if c.String() != want || !c.Open {
			t.Errorf("%q parsed as %s (open %v), want %s", in, c, c.Open, want)
		}
	}
	for _, bad := range []string{
		"", "10.128.1.0/24", "10.128.1.0/24>10.128.2.0/24", "10.128.1.0/24>10.128.2.0/24:",
		"10.128.1.0/24>10.128.2.0/24:0", "10.128.1.0/24>10.128.2.0/24:65536", "10.128.1.0/24>10.128.2.0/24:502,x",
		"10.128.1.0>10.128.2.0/24:502", "10.128.1.0/24>fd00::/64:502", "10.128.1.0/24>10.128.1.0/24:502",
		"10.128.1.0/33>10.128.2.0/24:502",
	} {
		if c, err := router.ParseConduit(bad); err == nil {
			t.Errorf("%q accepted as %s", bad, c)
		}
	}
}

func ruleStrings(rules []router.Rule) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.String()
	}
	return out
}

func TestRouterRender(t *testing.T) {
	a := mustConduit(t, "10.128.1.0/24>10.128.2.0/24:502,3389")
	b := mustConduit(t, "10.128.2.0/24>10.128.3.0/24:any")
	c := mustConduit(t, "10.128.3.0/24>10.128.1.0/24:502")
	c.Open = false
	got := ruleStrings(router.Render([]router.Conduit{a, b, c}, router.Options{MgmtPort: 9040}))
	want := []string{
		"input: tcp dport 9040 fib daddr . iif type != local drop",
		"forward: ip saddr 10.128.1.0/24 ip daddr 10.128.2.0/24 tcp dport { 502, 3389 } accept",
		"forward: ct direction reply ip saddr 10.128.2.0/24 ip daddr 10.128.1.0/24 tcp sport { 502, 3389 } accept",
		"forward: ip saddr 10.128.2.0/24 ip daddr 10.128.3.0/24 meta l4proto tcp accept",
		"forward: ct direction reply ip saddr 10.128.3.0/24 ip daddr 10.128.2.0/24 meta l4proto tcp accept",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// ICMP echo along open conduits; nothing at all when every conduit is
	// cut (the forward chain's policy drops everything).
	got = ruleStrings(router.Render([]router.Conduit{c, mustConduit(t, "fd00:1::/64>fd00:2::/64:502")}, router.Options{ICMP: true}))
	want = []string{
		"forward: ip6 saddr fd00:1::/64 ip6 daddr fd00:2::/64 tcp dport 502 accept",
		"forward: ct direction reply ip6 saddr fd00:2::/64 ip6 daddr fd00:1::/64 tcp sport 502 accept",
		"forward: ip6 saddr fd00:1::/64 ip6 daddr fd00:2::/64 icmpv6 type echo-request accept",
		"forward: ct direction reply ip6 saddr fd00:2::/64 ip6 daddr fd00:1::/64 icmpv6 type echo-reply accept",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rules := router.Render([]router.Conduit{c}, router.Options{ICMP: true}); len(rules) != 0 {
		t.Fatalf("a cut conduit renders %v", ruleStrings(rules))
	}
	// Every rule carries its conduit, for nft list ruleset.
	for _, r := range router.Render([]router.Conduit{a}, router.Options{ICMP: true}) {
		if r.Comment != a.String() || r.Chain != router.ChainForward || r.Verdict != router.Accept {
			t.Errorf("rule %s: chain %s comment %q", r, r.Chain, r.Comment)
		}
	}
}

// fakeNFT records applied rule sets and fails on demand.
type fakeNFT struct {
	mu      sync.Mutex
	applied [][]string
	fail    error
}

func (f *fakeNFT) Apply(rules []router.Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.applied = append(f.applied, ruleStrings(rules))
	return nil
}

func (f *fakeNFT) last() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.applied) == 0 {
		return nil
	}
	return f.applied[len(f.applied)-1]
}

func TestRouterSet(t *testing.T) {
	a := mustConduit(t, "10.128.1.0/24>10.128.2.0/24:502")
	b := mustConduit(t, "10.128.2.0/24>10.128.1.0/24:any")
	if _, err := router.New([]router.Conduit{a, a}, router.Options{}, &fakeNFT{}); err == nil {
		t.Fatal("a duplicate conduit accepted")
	}
	nft := &fakeNFT{}
	r, err := router.New([]router.Conduit{a, b}, router.Options{}, nft)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if n := len(nft.last()); n != 4 {
		t.Fatalf("started with %d rules, want 4", n)
	}
	cs, err := r.Set(netip.MustParsePrefix("10.128.1.9/24"), a.To, false)
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].Open || !cs[1].Open || len(nft.last()) != 2 || !strings.Contains(nft.last()[0], "saddr 10.128.2.0/24") {
		t.Fatalf("after the cut: %v, rules %v", cs, nft.last())
	}
	// No change, no apply.
	n := len(nft.applied)
	if _, err := r.Set(a.From, a.To, false); err != nil || len(nft.applied) != n {
		t.Fatalf("cutting a cut conduit: %v, %d applies", err, len(nft.applied)-n)
	}
	// A failed apply leaves the state as it was.
	nft.fail = errors.New("netlink broke")
	if _, err := r.Set(a.From, a.To, true); err == nil || r.Conduits()[0].Open {
		t.Fatalf("failed apply: %v, state %v", err, r.Conduits())
	}
	nft.fail = nil
	if _, err := r.Set(netip.MustParsePrefix("10.128.3.0/24"), a.From, true); !errors.Is(err, router.ErrUnknownConduit) {
		t.Fatalf("an unknown conduit: %v", err)
	}
}

const tok = "router-token-0123456789abcdef"

type apiError = apitest.Error

func TestRouterAPI(t *testing.T) {
	a := mustConduit(t, "10.128.1.0/24>10.128.2.0/24:502,3389")
	b := mustConduit(t, "10.128.2.0/24>10.128.1.0/24:any")
	nft := &fakeNFT{}
	r, err := router.New([]router.Conduit{a, b}, router.Options{ICMP: true}, nft)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(router.Handler(r, token.HashOf(tok)))
	defer srv.Close()

	var e apiError
	if code := apitest.Do(t, srv, "GET", "/v1/health", "", "", &e); code != 401 || e.Error.Code != "unauthorized" {
		t.Fatalf("no token: %d %+v", code, e)
	}
	if code := apitest.Do(t, srv, "POST", "/v1/conduits", "not-the-token-at-all", `{"from":"10.128.1.0/24","to":"10.128.2.0/24","open":false}`, &e); code != 403 {
		t.Fatalf("wrong token: %d %+v", code, e)
	}
	var st router.State
	if code := apitest.Do(t, srv, "GET", "/v1/health", tok, "", &st); code != 200 || !st.OK || len(st.Conduits) != 2 ||
		st.Conduits[0] != (router.ConduitJSON{From: "10.128.1.0/24", To: "10.128.2.0/24", Ports: "502,3389", Open: true}) ||
		st.Conduits[1].Ports != "any" {
		t.Fatalf("health: %d %+v", code, st)
	}
	if code := apitest.Do(t, srv, "POST", "/v1/conduits", tok, `{"from":"10.128.1.0/24","to":"10.128.2.0/24","open":false}`, &st); code != 200 ||
		st.Conduits[0].Open || !st.Conduits[1].Open {
		t.Fatalf("cut: %d %+v", code, st)
	}
	if got := nft.last(); len(got) != 4 || strings.Contains(strings.Join(got, "\n"), "dport { 502, 3389 }") {
		t.Fatalf("rules after the cut: %v", got)
	}
	var rules struct {
		Table string   `json:"table"`
		Rules []string `json:"rules"`
	}
	if code := apitest.Do(t, srv, "GET", "/v1/rules", tok, "", &rules); code != 200 || rules.Table != "inet icsrange" || !slices.Equal(rules.Rules, nft.last()) {
		t.Fatalf("rules: %d %+v", code, rules)
	}
	for _, c := range []struct {
		body, code string
		status     int
	}{
		{`{"from":"10.128.3.0/24","to":"10.128.2.0/24","open":true}`, "unknown_conduit", 404},
		{`{"from":"10.128.1.0/24","to":"10.128.2.0/24"}`, "bad_conduit", 422},
		{`{"from":"10.128.1.0","to":"10.128.2.0/24","open":true}`, "bad_conduit", 422},
		{`{"from":"10.128.1.0/24","to":"10.128.2.0/24","open":"yes"}`, "bad_json", 400},
		{`{"from":"10.128.1.0/24","to":"10.128.2.0/24","open":true,"ports":"any"}`, "bad_json", 400},
		{`{"from":"10.128.1.0/24","to":"10.128.2.0/24","open":true}{}`, "bad_json", 400},
		{`{"from":"` + strings.Repeat("1", 8<<10) + `"}`, "too_large", 413},
	} {
		var e apiError
		if code := apitest.Do(t, srv, "POST", "/v1/conduits", tok, c.body, &e); code != c.status || e.Error.Code != c.code {
			t.Errorf("%.60s: %d %+v, want %d %s", c.body, code, e, c.status, c.code)
		}
	}
	nft.fail = errors.New("netlink broke")
	if code := apitest.Do(t, srv, "POST", "/v1/conduits", tok, `{"from":"10.128.1.0/24","to":"10.128.2.0/24","open":true}`, &e); code != 500 || e.Error.Code != "apply_failed" {
		t.Fatalf("failed apply: %d %+v", code, e)
	}
	nft.fail = nil
	if apitest.Do(t, srv, "GET", "/v1/health", tok, "", &st); st.Conduits[0].Open {
		t.Fatal("a failed apply opened the conduit")
	}
}

func TestRouterClosure(t *testing.T) {
	it := "10.20.1.0/24"
	dmz := "10.20.2.0/24"
	ctl := "10.20.3.0/24"
	cs := []router.Conduit{
		mustConduit(t, it+">"+dmz+":502,3389"),
		mustConduit(t, dmz+">"+ctl+":502"),
		mustConduit(t, ctl+">"+dmz+":any"),
		mustConduit(t, dmz+">"+it+":443"),
	}
	var got []string
	for _, c := range router.Closure(cs) {
		got = append(got, c.String())
	}
	want := []string{
		it + ">" + dmz + ":502,3389",
		it + ">" + ctl + ":502", // through the DMZ, on what both hops pass
		dmz + ">" + it + ":443",
		dmz + ">" + ctl + ":502",
		ctl + ">" + it + ":443", // back through the DMZ
		ctl + ">" + dmz + ":any",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("closure:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A cut hop cuts the chains through it.
	cs[1].Open = false
	got = got[:0]
	for _, c := range router.Closure(cs) {
		got = append(got, c.String())
	}
	if strings.Contains(strings.Join(got, " "), ">"+ctl) {
		t.Fatalf("the control zone is reachable with its only way in cut: %v", got)
	}
	// Render uses the closure when asked.
	rules := ruleStrings(router.Render(cs[:2], router.Options{Transitive: true}))
	if len(rules) != 2 || !strings.Contains(rules[0], "saddr "+it+" ip daddr "+dmz) {
		t.Fatalf("transitive rules with the hop cut: %v", rules)
	}
	cs[1].Open = true
	rules = ruleStrings(router.Render(cs[:2], router.Options{Transitive: true}))
	if len(rules) != 6 || rules[2] != "forward: ip saddr "+it+" ip daddr "+ctl+" tcp dport 502 accept" {
		t.Fatalf("transitive rules:\n%s", strings.Join(rules, "\n"))
	}
}
