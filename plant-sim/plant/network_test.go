package plant

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// threeZones is it → dmz → control (Modbus only on the second hop) and
// it → control on 3389 only, with an attacker in it and an HMI in control.
func threeZones() *Topology {
	return NewTopology([]string{"it", "dmz", "control"},
		[]Conduit{{From: "it", To: "dmz"}, {From: "dmz", To: "control", Ports: []int{502}}, {From: "it", To: "control", Ports: []int{3389}}},
		[]PLC{{ID: "tank", Model: "water-tank", Zone: "control"}},
		[]Host{{ID: "attacker", Role: "attacker", Zone: "it"}, {ID: "hmi", Role: "hmi", Zone: "control"}})
}

// The host state machine, effect by effect, as the engine's state and the
// deployments both kept it before they shared this one: stop and start
// end a pause, a stopped host can't be paused, being on the network is
// apart from both; and whether anything changed (what a backend is asked
// to carry out), with the detail of an effect that changed nothing.
func TestHostStates(t *testing.T) {
	steps := []struct {
		kind    string
		status  string
		off     bool
		changed bool
		same    string // detail when nothing changed
	}{
		{KindPauseHost, StatusPaused, false, true, ""},
		{KindPauseHost, StatusPaused, false, false, "already paused"},
		{KindDisconnectHost, StatusPaused, true, true, ""},
		{KindResumeHost, StatusDisconnected, true, true, ""},
		{KindResumeHost, StatusDisconnected, true, false, "not paused"},
		{KindStopHost, StatusStopped, true, true, ""},
		{KindPauseHost, StatusStopped, true, false, "stopped: nothing to pause"},
		{KindStopHost, StatusStopped, true, false, "already stopped"},
		{KindReconnectHost, StatusStopped, false, true, ""},
		{KindReconnectHost, StatusStopped, false, false, "not disconnected"},
		{KindStartHost, StatusRunning, false, true, ""},
		{KindStartHost, StatusRunning, false, false, "already running"},
		{KindPauseHost, StatusPaused, false, true, ""},
		{KindStartHost, StatusRunning, false, true, ""},
		{KindPauseHost, StatusPaused, false, true, ""},
		{KindStopHost, StatusStopped, false, true, ""},
		{KindStartHost, StatusRunning, false, true, ""},
		{KindDisconnectHost, StatusDisconnected, true, true, ""},
		{KindDisconnectHost, StatusDisconnected, true, false, "already disconnected"},
	}
	n := NewNetwork(threeZones())
	for i, s := range steps {
		e := Effect{Kind: s.kind, Host: "hmi"}
		before := n
		next, changed := n.Apply(e)
		if got := next.Host("hmi"); got.Status() != s.status || got.Off != s.off || changed != s.changed {
			t.Fatalf("step %d (%s): %s, disconnected %v, changed %v; want %s, %v, %v", i, s.kind, got.Status(), got.Off, changed, s.status, s.off, s.changed)
		}
		if !changed {
			k, _ := Lookup(s.kind)
			if want := e.String() + ": host hmi is " + s.same; k.Unchanged(e, before.Host("hmi")) != want {
				t.Fatalf("step %d: detail %q, want %q", i, k.Unchanged(e, before.Host("hmi")), want)
			}
		}
		if !reflect.DeepEqual(before.Host("hmi"), n.Host("hmi")) {
			t.Fatalf("step %d: Apply changed the network it was called on", i)
		}
		n = next
	}
}

// Reachability as both former copies answered it: port by port along open
// conduits, transitively, from a running connected host only.
func TestReach(t *testing.T) {
	n := NewNetwork(threeZones())
	cases := []struct {
		name string
		cut  [][2]string
		host string
		zone string
		port int
		why  string // "" = reaches
	}{
		{"through the dmz on 502", nil, "attacker", "control", 502, ""},
		{"not 80 past the dmz", nil, "attacker", "control", 80, "no open conduit from zone it to zone control on port 80"},
		{"direct conduit's own port", nil, "attacker", "control", 3389, ""},
		{"any port into the dmz", nil, "attacker", "dmz", 8080, ""},
		{"own zone", nil, "hmi", "control", 502, ""},
		{"no way back", nil, "hmi", "it", 502, "no open conduit from zone control to zone it on port 502"},
		{"first hop cut", [][2]string{{"it", "dmz"}}, "attacker", "control", 502, "no open conduit from zone it to zone control on port 502"},
		{"second hop cut leaves the dmz", [][2]string{{"dmz", "control"}}, "attacker", "dmz", 502, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := n
			for _, cc := range c.cut {
				m, _ = m.Apply(Effect{Kind: KindCutConduit, From: cc[0], To: cc[1]})
			}
			err := m.Reach(c.host, c.zone, c.port)
			switch {
			case c.why == "" && err != nil:
				t.Fatalf("want reached, got %v", err)
			case c.why != "" && (err == nil || !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), c.why)):
				t.Fatalf("got %v, want blocked: %s", err, c.why)
			}
		})
	}
	for _, k := range []string{KindStopHost, KindPauseHost, KindDisconnectHost} {
		m, _ := n.Apply(Effect{Kind: k, Host: "attacker"})
		if err := m.Reach("attacker", "it", 502); !errors.Is(err, ErrBlocked) {
			t.Errorf("after %s the attacker still sends: %v", k, err)
		}
		if m.Reaches("attacker", "tank") {
			t.Errorf("after %s Reaches is true", k)
		}
	}
	if !n.Reaches("attacker", "tank") || n.Reaches("hmi", "nosuch") {
		t.Fatal("Reaches disagrees with Reach")
	}
}

// Restore gives the effects that take a fresh network to any state.
func TestRestore(t *testing.T) {
	n := NewNetwork(threeZones())
	for _, e := range []Effect{
		{Kind: KindStopHost, Host: "attacker"}, {Kind: KindDisconnectHost, Host: "attacker"},
		{Kind: KindPauseHost, Host: "hmi"}, {Kind: KindCutConduit, From: "dmz", To: "control"},
	} {
		n, _ = n.Apply(e)
	}
	fresh := NewNetwork(n.Topology())
	for _, e := range n.Restore() {
		var changed bool
		if fresh, changed = fresh.Apply(e); !changed {
			t.Fatalf("%s changed nothing", e)
		}
	}
	if !reflect.DeepEqual(fresh.hosts, n.hosts) || !reflect.DeepEqual(fresh.Cut(), n.Cut()) {
		t.Fatalf("restored %+v %v, want %+v %v", fresh.hosts, fresh.Cut(), n.hosts, n.Cut())
	}
}
