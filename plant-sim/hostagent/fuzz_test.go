package hostagent_test

import (
	"encoding/json"
	"testing"

	"github.com/icsrange/icsrange/plant-sim/attack"
	"github.com/icsrange/icsrange/plant-sim/hostagent"
)

// FuzzAttackRequest: any JSON body either fails Spec with an error or
// gives an attack with a known kind, 1..MaxTargets targets and in-range
// numbers; never a panic. (The handler decodes with the same type.)
func FuzzAttackRequest(f *testing.F) {
	for _, s := range []string{`{"kind":"write","targets":["10.128.2.10"],"addr":1,"value":23456}`,
		`{"kind":"coil","targets":["10.128.2.10:502"],"unit":2,"addr":3,"value":1}`,
		`{"kind":"scan","targets":["10.128.2.10","10.128.2.11:5020"]}`,
		`{"kind":"flood","targets":["10.128.2.10"],"for_ms":1000,"slots":8}`,
		`{"kind":"write","targets":[],"unit":-1}`, `{"kind":"nuke"}`, `{"targets":["::1"]}`, `{"kind":"write","targets":["[::1]:99999"]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var q hostagent.AttackRequest
		if json.Unmarshal([]byte(body), &q) != nil {
			return
		}
		s, err := q.Spec()
		if err != nil {
			return
		}
		switch s.Kind {
		case attack.Write, attack.Coil, attack.Scan, attack.Flood:
		default:
			t.Fatalf("%s: kind %q accepted", body, s.Kind)
		}
		if len(s.Targets) == 0 || len(s.Targets) > attack.MaxTargets {
			t.Fatalf("%s: %d targets accepted", body, len(s.Targets))
		}
		if s.For < 0 || s.For > attack.MaxFor {
			t.Fatalf("%s: flood for %v accepted", body, s.For)
		}
	})
}
