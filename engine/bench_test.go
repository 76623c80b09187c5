package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
)

// benchScenario has four PLCs and n objectives whose rules never hold, so
// every tick evaluates all of them (the worst case for scoring).
func benchScenario(b *testing.B, rules int) (*scenario.Scenario, []byte) {
	var sb strings.Builder
	sb.WriteString(`id: bench
version: 1
title: bench
duration: 1h
teams: {min: 1, max: 1000}
plant:
  zones: [{id: it}, {id: control}]
  conduits: [{from: it, to: control}]
  plcs:
    - {id: tank, model: water-tank, zone: control}
    - {id: clear, model: water-tank, zone: control}
    - {id: rx, model: reactor, zone: control}
    - {id: feeder, model: breaker, zone: control}
  hosts: [{id: attacker, role: attacker, zone: it}]
injects:
  - {id: a, at: 50m, say: a}
objectives:
`)
	shapes := []string{
		"plant.tank.level > 9.5 && !plant.tank.bypass",
		"fired('a') && since('a') > 10",
		"abs(hmi.rx.pressure - plant.rx.pressure) > 500",
		"plant.feeder.current > 4000 || plant.feeder.damaged",
		"answered('q') && plant.clear.level < 0.01",
	}
	for i := range rules {
		fmt.Fprintf(&sb, "  - {id: o%d, points: 10, when: %q}\n", i, shapes[i%len(shapes)])
	}
	sb.WriteString("questions:\n  - {id: q, prompt: q, answer: {exact: x}}\n")
	data := []byte(sb.String())
	sc, err := scenario.Load("bench.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	return sc, data
}

func benchExercise(b *testing.B, teams, rules int) *Exercise {
	sc, data := benchScenario(b, rules)
	names := make([]string, teams)
	for i := range names {
		names[i] = fmt.Sprintf("t%d", i)
	}
	x, err := New(context.Background(), Config{Scenario: sc, ScenarioYAML: data, Teams: names, DataDir: b.TempDir(),
		Backend: &inproc.Backend{MaxClients: 4}, BackendName: "inproc", Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { x.Close() })
	if err := x.Start(context.Background(), "bench"); err != nil {
		b.Fatal(err)
	}
	return x
}

// BenchmarkScoringTick: 100 teams × 50 rules. One op is one tick's rule
// work for all teams (plant reading and rules; physics excluded), so
// cpu%@10Hz = ns/op × 10 / 1e9 × 100.
func BenchmarkScoringTick(b *testing.B) {
	x := benchExercise(b, 100, 50)
	ctx := context.Background()
	x.clock = time.Minute
	b.ResetTimer()
	for b.Loop() {
		for _, name := range x.state.Teams {
			if err := x.evalTeam(ctx, x.rt[name]); err != nil {
				b.Fatal(err)
			}
		}
	}
	per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(per*10/1e9*100, "cpu%@10Hz")
	b.ReportMetric(per/(100*50), "ns/rule")
}

// BenchmarkTick is a whole tick for 100 teams × 4 PLCs × 50 rules,
// physics included.
func BenchmarkTick(b *testing.B) {
	x := benchExercise(b, 100, 50)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		x.mu.Lock()
		err := x.tick(ctx)
		x.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
	per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(per*10/1e9*100, "cpu%@10Hz")
}

// BenchmarkProvision: 100 teams × 4 PLCs in-process, each listening on
// 127.0.0.1 and answering a Modbus request before it counts as up.
func BenchmarkProvision(b *testing.B) {
	sc, data := benchScenario(b, 5)
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("t%d", i)
	}
	for b.Loop() {
		x, err := New(context.Background(), Config{Scenario: sc, ScenarioYAML: data, Teams: names, DataDir: b.TempDir(),
			Backend: &inproc.Backend{}, BackendName: "inproc", Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		x.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/exercise")
}
