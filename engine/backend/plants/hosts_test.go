package plants_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/plant-sim/plant"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// hostPlant is one team's plant: the attacker in it, the HMI beside the
// PLC in control, a conduit it → control for Modbus.
type hostPlant struct {
	t     *testing.T
	dep   backend.Deployment
	clock time.Duration
}

func newHostPlant(t *testing.T) *hostPlant {
	t.Helper()
	plan := backend.Plan{ExerciseID: "hosts", Teams: []string{"a"}, Topology: plant.NewTopology([]string{"it", "control"},
		[]plant.Conduit{{From: "it", To: "control", Ports: []int{502}}},
		[]plant.PLC{{ID: "tank", Model: "water-tank", Zone: "control", UnitID: 1}},
		[]plant.Host{{ID: "attacker", Role: "attacker", Zone: "it", Address: "10.20.1.66"},
			{ID: "hmi", Role: "hmi", Zone: "control", Address: "10.20.2.10"}})}
	dep, err := (&inproc.Backend{}).Provision(context.Background(), plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dep.Close() })
	return &hostPlant{t: t, dep: dep}
}

func (p *hostPlant) do(e plant.Effect) plant.Result {
	p.t.Helper()
	res, err := p.dep.Do(context.Background(), "a", e)
	if err != nil {
		p.t.Fatalf("%s: %v", e, err)
	}
	return res
}

func (p *hostPlant) host(kind, host string) plant.Result {
	p.t.Helper()
	return p.do(plant.Effect{Kind: kind, Host: host})
}

// write sets level_sp over Modbus from a host and says what the PLC took,
// after a scan.
func (p *hostPlant) write(from string, v float64) (plant.Result, float64) {
	p.t.Helper()
	res := p.do(plant.Effect{Kind: plant.KindModbusWrite, From: from, PLC: "tank", Tag: "level_sp", Value: v})
	p.clock += 200 * time.Millisecond
	if err := p.dep.Advance(context.Background(), p.clock); err != nil {
		p.t.Fatal(err)
	}
	var vals plantsim.Values
	if err := p.dep.Read("a", "tank", &vals); err != nil {
		p.t.Fatal(err)
	}
	m, _ := plantsim.LookupModel("water-tank")
	i, _ := m.Tag("level_sp")
	return res, vals.Truth[i]
}

// wantWrite checks that a write from a host lands (or is blocked, with
// the detail given).
func (p *hostPlant) wantWrite(from string, v float64, blocked string) {
	p.t.Helper()
	res, sp := p.write(from, v)
	landed := math.Abs(sp-v) < 0.01
	switch {
	case blocked == "" && (res.Outcome != "ok" || !landed):
		p.t.Fatalf("write %g from %s: %+v, level_sp %g: want ok and the write landed", v, from, res, sp)
	case blocked != "" && (res.Outcome != "blocked" || !strings.Contains(res.Detail, blocked) || landed):
		p.t.Fatalf("write %g from %s: %+v, level_sp %g: want blocked, %q, and nothing written", v, from, res, sp, blocked)
	}
}

// A paused host plays nothing, in any kind of attack, until it resumes.
func TestPausedHostIsBlocked(t *testing.T) {
	p := newHostPlant(t)
	p.wantWrite("attacker", 3.0, "")
	if r := p.host(plant.KindPauseHost, "attacker"); r.Outcome != "ok" {
		t.Fatalf("pause: %+v", r)
	}
	p.wantWrite("attacker", 3.1, "host attacker is paused")
	for _, e := range []plant.Effect{
		{Kind: plant.KindSpoof, From: "attacker", PLC: "tank", Tag: "level", Value: 1},
		{Kind: plant.KindScan, From: "attacker"},
		{Kind: plant.KindFlood, From: "attacker", PLC: "tank", Duration: time.Minute},
	} {
		if r := p.do(e); r.Outcome != "blocked" {
			t.Errorf("%s from a paused host: %+v, want blocked", e, r)
		}
	}
	p.wantWrite("hmi", 3.2, "") // the others play on
	if r := p.host(plant.KindPauseHost, "attacker"); r.Outcome != "ok" || !strings.Contains(r.Detail, "already paused") {
		t.Fatalf("a second pause: %+v, want ok, already paused", r)
	}
	p.host(plant.KindResumeHost, "attacker")
	p.wantWrite("attacker", 3.3, "")
}

// A disconnected host reaches nothing, not even a PLC in its own zone,
// until it is reconnected.
func TestDisconnectedHostIsBlocked(t *testing.T) {
	p := newHostPlant(t)
	p.host(plant.KindDisconnectHost, "hmi")
	p.wantWrite("hmi", 3.0, "host hmi is disconnected")
	p.wantWrite("attacker", 3.1, "")
	p.host(plant.KindReconnectHost, "hmi")
	p.wantWrite("hmi", 3.2, "")
}

// Stopping and starting end a pause; a stopped host can't be paused; the
// network is independent of both, and says why last.
func TestHostEffectsCombine(t *testing.T) {
	p := newHostPlant(t)
	p.host(plant.KindPauseHost, "attacker")
	p.host(plant.KindStopHost, "attacker")
	p.wantWrite("attacker", 3.0, "host attacker is stopped")
	if r := p.host(plant.KindPauseHost, "attacker"); r.Outcome != "ok" || !strings.Contains(r.Detail, "stopped: nothing to pause") {
		t.Fatalf("pause of a stopped host: %+v", r)
	}
	p.host(plant.KindStartHost, "attacker")
	p.wantWrite("attacker", 3.1, "") // started, not paused

	p.host(plant.KindPauseHost, "attacker")
	p.host(plant.KindStartHost, "attacker") // starting a paused host resumes it
	p.wantWrite("attacker", 3.2, "")

	p.host(plant.KindDisconnectHost, "attacker")
	p.host(plant.KindPauseHost, "attacker")
	p.wantWrite("attacker", 3.3, "host attacker is paused")
	p.host(plant.KindResumeHost, "attacker")
	p.wantWrite("attacker", 3.4, "host attacker is disconnected")
	p.host(plant.KindStopHost, "attacker")
	p.host(plant.KindStartHost, "attacker")
	p.wantWrite("attacker", 3.5, "host attacker is disconnected") // a restart does not reconnect
	p.host(plant.KindReconnectHost, "attacker")
	p.wantWrite("attacker", 3.6, "")
}

// Pausing or disconnecting a flooding host ends its flood: the PLC's
// connection slots come free.
func TestPauseAndDisconnectEndFloods(t *testing.T) {
	for _, kind := range []string{plant.KindPauseHost, plant.KindDisconnectHost} {
		t.Run(kind, func(t *testing.T) {
			p := newHostPlant(t)
			if r := p.do(plant.Effect{Kind: plant.KindFlood, From: "attacker", PLC: "tank", Duration: time.Minute}); r.Outcome != "ok" {
				t.Fatalf("flood: %+v", r)
			}
			ctx := context.Background()
			if _, err := p.dep.Do(ctx, "a", plant.Effect{Kind: plant.KindModbusWrite, PLC: "tank", Tag: "level_sp", Value: 3}); err == nil {
				t.Fatal("a write got through the flood: the test proves nothing")
			}
			p.host(kind, "attacker")
			// The PLC frees a slot when it sees the connection close.
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, err := p.dep.Do(ctx, "a", plant.Effect{Kind: plant.KindModbusWrite, PLC: "tank", Tag: "level_sp", Value: 3})
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the flood goes on after %s: %v", kind, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
