package engine

import (
	"context"
	"testing"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
)

const addrScenario = `
id: addr-test
version: 1
title: addresses
duration: 10m
plant:
  zones: [{id: it}, {id: control}]
  conduits: [{from: it, to: control, ports: [502]}]
  plcs: [{id: tank, model: water-tank, zone: control, noise: 0}]
  hosts:
    - {id: attacker, role: attacker, zone: it, address: 10.20.1.66}
    - {id: ews, role: workstation, zone: control, address: 10.20.3.20}
questions:
  - {id: who, prompt: which address, answer: {exact: "10.20.1.66"}, attempts: 5}
`

// perTeamAddrs is a backend whose hosts have addresses of their own per
// team, as Docker gives them: team a's attacker is 10.128.0.66, team b's
// 10.128.4.66.
type perTeamAddrs struct{ inproc.Backend }

type perTeamDep struct{ backend.Deployment }

func (b *perTeamAddrs) Provision(ctx context.Context, plan backend.Plan, progress func(backend.Step)) (backend.Deployment, error) {
	d, err := b.Backend.Provision(ctx, plan, progress)
	return perTeamDep{d}, err
}

func (perTeamDep) HostAddress(team, host string) string {
	return map[string]string{"a/attacker": "10.128.0.66", "b/attacker": "10.128.4.66", "a/ews": "10.128.2.20", "b/ews": "10.128.6.20"}[team+"/"+host]
}

// An answer naming the attacker by the address the team's own plant gives
// it is right; another team's address for it, or another host's, is not;
// the scenario's own address still is.
func TestAnswerWithTeamAddress(t *testing.T) {
	ctx := context.Background()
	sc, err := scenario.Load("addr.yaml", []byte(addrScenario))
	if err != nil {
		t.Fatal(err)
	}
	x, err := New(ctx, Config{Scenario: sc, ScenarioYAML: []byte(addrScenario), Teams: []string{"a", "b", "c"},
		DataDir: t.TempDir(), Backend: &perTeamAddrs{}, BackendName: "test", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		team, answer string
		want         bool
	}{
		{"a", "10.128.4.66", false}, // team b's attacker
		{"a", "10.128.2.20", false}, // team a's workstation
		{"a", "10.128.0.66", true},
		{"b", "10.128.4.66", true},
		{"c", "10.20.1.66", true},
	} {
		res, err := x.Answer(ctx, c.team, "who", c.answer)
		if err != nil {
			t.Fatal(err)
		}
		if res.Correct != c.want {
			t.Errorf("team %s answering %s: correct %v, want %v", c.team, c.answer, res.Correct, c.want)
		}
	}
}
