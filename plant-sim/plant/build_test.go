package plant

import (
	"reflect"
	"testing"
	"time"
)

// Defaults fills only the fields a kind declares a default for, and only
// when left out.
func TestDefaults(t *testing.T) {
	for _, c := range []struct {
		kind string
		in   Args
		want Args
	}{
		{KindReplay, Args{PLC: "tank", Tag: "level"}, Args{PLC: "tank", Tag: "level", Window: 20 * time.Second}},
		{KindReplay, Args{PLC: "tank", Tag: "level", Window: 45 * time.Second}, Args{PLC: "tank", Tag: "level", Window: 45 * time.Second}},
		{KindFlood, Args{From: "attacker", PLC: "tank"}, Args{From: "attacker", PLC: "tank", Duration: time.Minute}},
		{KindFlood, Args{From: "attacker", PLC: "tank", Duration: time.Second}, Args{From: "attacker", PLC: "tank", Duration: time.Second}},
		// A kind without defaults, and fields another kind defaults.
		{KindFreeze, Args{PLC: "tank", Tag: "level"}, Args{PLC: "tank", Tag: "level"}},
		{KindScan, Args{From: "attacker"}, Args{From: "attacker"}},
		{"no_such_kind", Args{PLC: "tank"}, Args{PLC: "tank"}},
	} {
		if got := Defaults(c.kind, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Defaults(%s, %+v) = %+v, want %+v", c.kind, c.in, got, c.want)
		}
	}
	// Only duration fields take a Default (Args.duration reaches no other).
	for _, k := range Kinds() {
		for _, f := range k.Fields {
			if f.Default != 0 && f.Role != RoleDuration {
				t.Errorf("%s.%s has a default but is no duration", k.Name, f.Name)
			}
		}
	}
}

// Check checks a field left out at its default: a flood with no duration
// runs for a minute, which a shorter scenario cannot hold.
func TestCheckAtDefaults(t *testing.T) {
	topo := threeZones()
	flood := Args{From: "attacker", PLC: "tank"}
	got := Check(KindFlood, flood, topo, Limits{Duration: 30 * time.Second})
	want := []Problem{{Field: "duration", Msg: "flood of 1m0s outlasts the scenario (30s)"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("short scenario: %+v, want %+v", got, want)
	}
	if got := Check(KindFlood, flood, topo, Limits{Duration: time.Hour}); len(got) != 0 {
		t.Errorf("hour-long scenario: %+v", got)
	}
	if got := Check(KindReplay, Args{PLC: "tank", Tag: "level", Window: 2 * time.Minute}, topo, Limits{}); len(got) != 1 || got[0].Field != "window" {
		t.Errorf("2m replay window: %+v", got)
	}
	if got := Check(KindReplay, Args{PLC: "tank", Tag: "level"}, topo, Limits{}); len(got) != 0 {
		t.Errorf("default replay window: %+v", got)
	}
}

// Compile builds what the effect's fields name, in the registry's words:
// tags without their table prefix, a scan's target as its PLC, a stuck
// sensor's tag; and it takes the defaults Defaults filled.
func TestCompile(t *testing.T) {
	topo := threeZones()
	v := 4.5
	for _, c := range []struct {
		kind string
		in   Args
		want Effect
	}{
		{KindModbusWrite, Args{From: "attacker", PLC: "tank", Register: "hr:level_sp", Value: &v},
			Effect{Kind: KindModbusWrite, From: "attacker", PLC: "tank", Tag: "level_sp", Value: 4.5, HasValue: true}},
		{KindScan, Args{From: "attacker", Target: "tank"}, Effect{Kind: KindScan, From: "attacker", PLC: "tank"}},
		{KindFault, Args{PLC: "tank", Fault: "sensor_stuck", Tag: "ir:level"}, Effect{Kind: KindFault, PLC: "tank", Fault: "sensor_stuck", Tag: "level"}},
		{KindFault, Args{PLC: "tank", Fault: "leak", Value: &v}, Effect{Kind: KindFault, PLC: "tank", Fault: "leak", Value: 4.5, HasValue: true}},
		{KindReplay, Defaults(KindReplay, Args{PLC: "tank", Tag: "level"}), Effect{Kind: KindReplay, PLC: "tank", Tag: "level", Window: 20 * time.Second}},
		{KindFlood, Defaults(KindFlood, Args{From: "attacker", PLC: "tank"}), Effect{Kind: KindFlood, From: "attacker", PLC: "tank", Duration: time.Minute}},
		{KindCutConduit, Args{From: "it", To: "dmz"}, Effect{Kind: KindCutConduit, From: "it", To: "dmz"}},
		{KindPauseHost, Args{Host: "hmi"}, Effect{Kind: KindPauseHost, Host: "hmi"}},
	} {
		if p := Check(c.kind, c.in, topo, Limits{Duration: time.Hour}); len(p) != 0 {
			t.Errorf("%s %+v: %+v", c.kind, c.in, p)
			continue
		}
		if got := Compile(c.kind, c.in, topo); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Compile(%s, %+v) = %+v, want %+v", c.kind, c.in, got, c.want)
		}
	}
}
