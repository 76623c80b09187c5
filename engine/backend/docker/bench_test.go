package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/icsrange/icsrange/engine/backend"
)

// benchPlan is teams × plcs water tanks in a control zone, an attacker in
// an IT zone and a conduit between them.
func benchPlan(id string, teams, plcs int) backend.Plan {
	p := backend.Plan{ExerciseID: id, Seed: 1, Zones: []string{"it", "control"},
		Conduits: []backend.Conduit{{From: "it", To: "control", Ports: []int{502}}},
		Hosts:    []backend.Host{{ID: "attacker", Role: "attacker", Zone: "it", Address: "10.20.1.66"}}}
	for i := range teams {
		p.Teams = append(p.Teams, fmt.Sprintf("team-%d", i+1))
	}
	for i := range plcs {
		p.PLCs = append(p.PLCs, backend.PLC{ID: fmt.Sprintf("tank%d", i+1), Model: "water-tank", Zone: "control", UnitID: 1, Noise: 1})
	}
	return p
}

// BenchmarkReady20x4 is the time from Provision to every container
// answering for 20 teams × 4 PLCs (plus a router and an attacker host per
// team: 120 containers, 60 networks), and the memory a PLC container uses.
func BenchmarkReady20x4(b *testing.B) {
	needDocker(b)
	ctx := context.Background()
	be := &Backend{Binary: testBinary}
	// The image is built once, outside the timing: it is rebuilt only
	// when the binary changes.
	cli, release, err := be.connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	if _, err := be.ensureImage(ctx, cli); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	var mem float64
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano()%1e6, i)
		plan := benchPlan(id, 20, 4)
		plan.DataDir = b.TempDir()
		b.Cleanup(func() { be.Destroy(context.Background(), id) })
		start := time.Now()
		dep, err := be.Provision(ctx, plan, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		mem = plcMemory(b, cli, id)
		dep.Close()
		if err := be.Destroy(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/ready")
	b.ReportMetric(mem, "MiB/plc")
	b.ReportMetric(0, "ns/op")
}

// plcMemory is the mean memory of the exercise's PLC containers (without
// the page cache, as docker stats shows it), from one-shot stats.
func plcMemory(tb testing.TB, cli *client.Client, id string) float64 {
	tb.Helper()
	ctx := context.Background()
	list, err := cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", LabelExercise+"="+id), filters.Arg("label", LabelRole+"="+RolePLC))})
	if err != nil {
		tb.Fatal(err)
	}
	if len(list) == 0 {
		tb.Fatal("no PLC containers")
	}
	var sum float64
	for _, c := range list {
		r, err := cli.ContainerStatsOneShot(ctx, c.ID)
		if err != nil {
			tb.Fatal(err)
		}
		var s container.StatsResponse
		err = json.NewDecoder(r.Body).Decode(&s)
		r.Body.Close()
		if err != nil {
			tb.Fatal(err)
		}
		used := s.MemoryStats.Usage
		for _, k := range []string{"total_inactive_file", "inactive_file"} { // cgroup v1, v2
			if v, ok := s.MemoryStats.Stats[k]; ok && v < used {
				used -= v
				break
			}
		}
		sum += float64(used) / (1 << 20)
	}
	return sum / float64(len(list))
}
