package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/icsrange/icsrange/internal/workpool"
	"github.com/icsrange/icsrange/plant-sim/plant"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/icsrange/icsrange/engine/backend"
)

// benchPlan is teams × plcs water tanks in a control zone, an attacker in
// an IT zone and a conduit between them.
func benchPlan(id string, teams, plcs int) backend.Plan {
	p := backend.Plan{ExerciseID: id, Seed: 1}
	for i := range teams {
		p.Teams = append(p.Teams, fmt.Sprintf("team-%d", i+1))
	}
	var tanks []plant.PLC
	for i := range plcs {
		tanks = append(tanks, plant.PLC{ID: fmt.Sprintf("tank%d", i+1), Model: "water-tank", Zone: "control", UnitID: 1, Noise: 1})
	}
	p.Topology = plant.NewTopology([]string{"it", "control"}, []plant.Conduit{{From: "it", To: "control", Ports: []int{502}}},
		tanks, []plant.Host{{ID: "attacker", Role: "attacker", Zone: "it", Address: "10.20.1.66"}})
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

// BenchmarkBareContainers120 is the peer of BenchmarkReady20x4 on the same
// daemon: 120 containers of the same image, created and started with the
// same parallelism but nothing else — no networks of their own, no
// published ports, no limits, no health wait. It is the floor the daemon
// and its storage driver set; the ratio of the two is what the backend
// adds.
func BenchmarkBareContainers120(b *testing.B) {
	needDocker(b)
	ctx := context.Background()
	be := &Backend{Binary: testBinary}
	cli, release, err := be.connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	image, err := be.ensureImage(ctx, cli)
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bare-%d-%d", time.Now().UnixNano()%1e6, i)
		b.Cleanup(func() { destroy(context.Background(), cli, id, be.workers()) })
		start := time.Now()
		err := workpool.Each(ctx, 120, be.workers(), func(n int) error {
			c, err := cli.ContainerCreate(ctx, &container.Config{Image: image, Labels: map[string]string{LabelExercise: id},
				Cmd: []string{"plc", "--model", "water-tank", "--listen", "0.0.0.0:5020", "--mgmt", "127.0.0.1:9020"}},
				&container.HostConfig{}, nil, nil, fmt.Sprintf("icsr-%s-%d", id, n))
			if err != nil {
				return err
			}
			return cli.ContainerStart(ctx, c.ID, container.StartOptions{})
		})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if err := destroy(ctx, cli, id, be.workers()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/ready")
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
