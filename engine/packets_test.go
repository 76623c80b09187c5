package engine

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/backend/inproc"
	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/plant-sim/capture"
)

// capBackend is the in-process backend whose deployment also serves
// captured packets from rings the test fills, as PLC containers do.
type capBackend struct {
	inproc.Backend
	mu    sync.Mutex
	rings map[string]*capture.Ring // team/plc →; none: the PLC captures nothing
}

func (b *capBackend) ring(team, plc string) *capture.Ring {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rings[team+"/"+plc]
}

func (b *capBackend) setRing(team, plc string, r *capture.Ring) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rings[team+"/"+plc] = r
}

func (b *capBackend) Provision(ctx context.Context, plan backend.Plan, progress func(backend.Step)) (backend.Deployment, error) {
	d, err := b.Backend.Provision(ctx, plan, progress)
	return &capDeployment{Deployment: d, b: b}, err
}

func (b *capBackend) Recover(ctx context.Context, plan backend.Plan, saved []byte) (backend.Deployment, error) {
	d, err := b.Backend.Recover(ctx, plan, saved)
	return &capDeployment{Deployment: d, b: b}, err
}

type capDeployment struct {
	backend.Deployment
	b *capBackend
}

func (d *capDeployment) Packets(_ context.Context, team, plc string, after uint64, max int) (capture.Page, error) {
	r := d.b.ring(team, plc)
	if r == nil {
		return capture.Page{}, capture.ErrOff
	}
	return r.Page(after, max), nil
}

func fill(r *capture.Ring, n int, tag byte) {
	for i := range n {
		r.Add(time.Unix(1700000000, int64(i)), []byte{tag, byte(i)}, 2, false)
	}
}

func storedPackets(t *testing.T, x *Exercise, team string) []store.PacketRow {
	t.Helper()
	rows, err := x.Store().Packets(context.Background(), store.PacketFilter{Team: team, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// The engine keeps each capturing PLC's packets with the traffic log: the
// first PacketCap of them, the rest (and what the PLC's ring overwrote)
// counted; a restarted capture is followed from its new start; a resumed
// engine carries on where it stopped. PLCs that capture nothing are left
// alone, and no team sees another's packets.
func TestPacketCollection(t *testing.T) {
	ctx := context.Background()
	sc, err := scenario.Load("traffic.yaml", []byte(trafficScenario))
	if err != nil {
		t.Fatal(err)
	}
	be := &capBackend{rings: map[string]*capture.Ring{}}
	be.setRing("a", "tank", capture.NewRing(capture.Config{}))
	be.setRing("b", "tank", capture.NewRing(capture.Config{MaxPackets: 4}))
	dir := t.TempDir()
	const trafficCap = 5 // 20 packets per PLC
	x, err := New(ctx, Config{Scenario: sc, ScenarioYAML: []byte(trafficScenario), Teams: []string{"a", "b", "c"},
		DataDir: dir, Backend: be, BackendName: "inproc", Seed: 1, TrafficCap: trafficCap})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			x.Close()
		}
	})
	if err := x.Start(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	capPkts := PacketCap(trafficCap)

	fill(be.ring("a", "tank"), 8, 'a')
	fill(be.ring("b", "tank"), 10, 'b') // the ring keeps 4
	step(t, x, time.Second)
	a, b := storedPackets(t, x, "a"), storedPackets(t, x, "b")
	if len(a) != 8 || a[0].Seq != 1 || a[7].Seq != 8 || a[0].Data[0] != 'a' || a[0].PLC != "tank" || !a[3].Time.Equal(time.Unix(1700000000, 3)) {
		t.Fatalf("team a stored %d packets: %+v", len(a), a)
	}
	if len(b) != 4 || b[0].Seq != 7 || b[0].Data[0] != 'b' {
		t.Fatalf("team b stored %d packets, want seq 7..10: %+v", len(b), b)
	}
	if c := storedPackets(t, x, "c"); len(c) != 0 {
		t.Fatalf("team c captures nothing, stored %d", len(c))
	}
	meta, _ := x.Store().Meta(ctx)
	pos, err := PacketPositions(meta)
	if err != nil {
		t.Fatal(err)
	}
	if pos["a"]["tank"] != (PacketPosition{After: 8}) || pos["b"]["tank"] != (PacketPosition{After: 10, Dropped: 6}) {
		t.Fatalf("positions %+v", pos)
	}

	// Past the cap: the first capPkts are kept, the rest counted.
	fill(be.ring("a", "tank"), 30, 'a')
	step(t, x, 2*time.Second)
	fill(be.ring("a", "tank"), 5, 'a')
	step(t, x, 3*time.Second)
	if a = storedPackets(t, x, "a"); len(a) != capPkts || a[capPkts-1].Seq != uint64(capPkts) {
		t.Fatalf("team a stored %d packets (last seq %d), want the first %d", len(a), a[len(a)-1].Seq, capPkts)
	}
	meta, _ = x.Store().Meta(ctx)
	pos, _ = PacketPositions(meta)
	if want := (PacketPosition{After: 43, Dropped: 43 - uint64(capPkts)}); pos["a"]["tank"] != want {
		t.Fatalf("team a's position %+v, want %+v", pos["a"]["tank"], want)
	}

	// Team b's PLC restarts: its capture numbers from 1 again.
	be.setRing("b", "tank", capture.NewRing(capture.Config{}))
	fill(be.ring("b", "tank"), 3, 'B')
	step(t, x, 4*time.Second)
	if b = storedPackets(t, x, "b"); len(b) != 7 || b[4].Seq != 1 || b[4].Data[0] != 'B' {
		t.Fatalf("after the restart team b stored %d packets: %+v", len(b), b)
	}

	// The engine restarts; the captures go on meanwhile.
	closed = true
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	fill(be.ring("b", "tank"), 2, 'B')
	// The engine had stored seq 4 when it died, before it noted so.
	st, err := store.Open(filepath.Join(dir, EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendPackets(ctx, []*store.PacketRow{{Team: "b", PLC: "tank", Seq: 4, Time: time.Unix(1700000000, 0), Len: 2, Data: []byte{'B', 0}}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	x, err = Open(ctx, dir, be, func(path string, y []byte) (*scenario.Scenario, error) { return scenario.Load(path, y) })
	if err != nil {
		t.Fatal(err)
	}
	closed = false
	step(t, x, 6*time.Second)
	if b = storedPackets(t, x, "b"); len(b) != 9 || b[7].Seq != 4 || b[8].Seq != 5 {
		t.Fatalf("after resuming team b stored %d packets: %+v", len(b), b)
	}
	fill(be.ring("a", "tank"), 1, 'a')
	step(t, x, 7*time.Second)
	meta, _ = x.Store().Meta(ctx)
	pos, _ = PacketPositions(meta)
	if a = storedPackets(t, x, "a"); len(a) != capPkts || pos["a"]["tank"].Dropped != 44-uint64(capPkts) {
		t.Fatalf("after resuming team a stored %d packets, position %+v: the cap was forgotten", len(a), pos["a"]["tank"])
	}
}
