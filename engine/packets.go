package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/icsrange/icsrange/engine/backend"
	"github.com/icsrange/icsrange/engine/store"
	"github.com/icsrange/icsrange/plant-sim/capture"
)

// Captured packets: with a deployment whose PLCs capture at their own
// interfaces (backend.PacketSource, the Docker backend), the engine
// collects the real packets with the traffic log, once a second, into the
// store's packets table, for pcap export after the containers are gone.
const (
	// PacketsPerRow turns the traffic cap (rows a PLC's log keeps in full)
	// into the packet cap: a transaction is a request, a response and up
	// to two ACKs on the wire, so a PLC's capture covers about the span
	// its traffic log keeps in full.
	PacketsPerRow = 4
	// packetPage is what one request fetches and packetPages how many
	// requests a PLC gets per collection: 8000 packets a second. A flood
	// beyond that loses packets in the PLC's ring, counted as dropped.
	packetPage  = 2000
	packetPages = 4
	// packetWorkers is how many PLCs are asked at once; their packets are
	// stored before the next ones are asked, which bounds the memory a
	// collection takes.
	packetWorkers = 16
	// metaPackets is the meta key of the collection positions.
	metaPackets = "packets"
)

// PacketCap is how many packets each PLC keeps for a traffic cap.
func PacketCap(trafficCap int) int { return trafficCap * PacketsPerRow }

// packetRT is a team's packet collection: where it stopped per PLC, how
// many are stored and lost, and which PLCs capture nothing.
type packetRT struct {
	pos    map[string]PacketPosition // plc →
	stored map[string]int            // plc → packets stored
	off    map[string]bool           // plc → captures nothing
}

// PacketPosition is where a PLC's packet collection stands; the exercise's
// metadata keeps it (key "packets": team → plc → position), so a resumed
// engine continues and `icsrange pcap` can say what is missing.
type PacketPosition struct {
	After uint64 `json:"after"` // last seq collected
	// Dropped are packets the capture saw but the store does not hold:
	// overwritten in the PLC's ring before collection, dropped by the
	// PLC's kernel (queue full), or past the cap.
	Dropped uint64 `json:"dropped"`
	// Kernel is the PLC's kernel drop counter at the last collection.
	Kernel uint64 `json:"kernel"`
}

func newPacketRT() *packetRT {
	return &packetRT{pos: map[string]PacketPosition{}, stored: map[string]int{}, off: map[string]bool{}}
}

// packetJob is one PLC's collection, run without the exercise's state.
type packetJob struct {
	team, plc string
	pos       PacketPosition
	room      int // packets the cap still takes

	rows []*store.PacketRow
	off  bool
	err  error
}

// pull fetches the PLC's new packets: pages while the capture has more
// (up to packetPages), the first room of them kept, the rest counted.
func (j *packetJob) pull(ctx context.Context, src backend.PacketSource) {
	for range packetPages {
		max := packetPage
		if j.room <= 0 {
			// Past the cap: one packet, to learn how many to skip.
			max = 1
		}
		p, err := src.Packets(ctx, j.team, j.plc, j.pos.After, max)
		if errors.Is(err, capture.ErrOff) {
			j.off = true
			return
		}
		if err != nil {
			j.err = err
			return
		}
		if p.Newest < j.pos.After {
			// The capture restarted (its PLC did) and numbers from 1 again.
			j.pos.After, j.pos.Kernel = 0, 0
			continue
		}
		j.pos.Dropped += p.Dropped + p.KernelDropped - min(p.KernelDropped, j.pos.Kernel)
		j.pos.Kernel = p.KernelDropped
		if j.room <= 0 {
			j.pos.Dropped += p.Newest - j.pos.After - p.Dropped
			j.pos.After = p.Newest
			return
		}
		for _, k := range p.Packets {
			if j.room <= 0 {
				j.pos.Dropped++
				continue
			}
			j.room--
			j.rows = append(j.rows, &store.PacketRow{Team: j.team, PLC: j.plc, Seq: k.Seq, Time: k.Time,
				Len: k.Len, CsumPartial: k.CsumPartial, Data: k.Data})
		}
		j.pos.After = p.Next
		if !p.More {
			return
		}
	}
}

// collectPackets gathers every capturing PLC's new packets into the store.
func (x *Exercise) collectPackets(ctx context.Context) error {
	src, ok := x.dep.(backend.PacketSource)
	if !ok {
		return nil
	}
	capPkts := PacketCap(x.trafficCap)
	var jobs []*packetJob
	for _, team := range x.state.Teams {
		pr := x.rt[team].traffic.packets
		for _, p := range x.sc.PLCs {
			if !pr.off[p.ID] {
				jobs = append(jobs, &packetJob{team: team, plc: p.ID, pos: pr.pos[p.ID], room: capPkts - pr.stored[p.ID]})
			}
		}
	}
	changed := false
	for len(jobs) > 0 {
		// Remote PLCs answer over the network: ask several at once.
		chunk := jobs[:min(len(jobs), packetWorkers)]
		jobs = jobs[len(chunk):]
		var wg sync.WaitGroup
		for _, j := range chunk {
			wg.Go(func() { j.pull(ctx, src) })
		}
		wg.Wait()
		var rows []*store.PacketRow
		for _, j := range chunk {
			if j.err != nil {
				return fmt.Errorf("collect packets of team %s plc %s: %w", j.team, j.plc, j.err)
			}
			if j.off {
				x.rt[j.team].traffic.packets.off[j.plc] = true
				continue
			}
			rows = append(rows, j.rows...)
		}
		if err := x.store.AppendPackets(ctx, rows); err != nil {
			return x.storeFailed(ctx, "packet capture", err)
		}
		for _, j := range chunk {
			if pr := x.rt[j.team].traffic.packets; !j.off {
				changed = changed || j.pos != pr.pos[j.plc]
				pr.pos[j.plc] = j.pos
				pr.stored[j.plc] += len(j.rows)
			}
		}
	}
	if !changed {
		return nil
	}
	pos := map[string]map[string]PacketPosition{}
	for _, team := range x.state.Teams {
		pos[team] = maps.Clone(x.rt[team].traffic.packets.pos)
	}
	b, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	return x.store.SetMeta(ctx, map[string]string{metaPackets: string(b)})
}

// restorePackets rebuilds a resumed exercise's packet collection.
func (x *Exercise) restorePackets(ctx context.Context, meta map[string]string) error {
	pos, err := PacketPositions(meta)
	if err != nil {
		return err
	}
	for _, team := range x.state.Teams {
		pr := x.rt[team].traffic.packets
		maps.Copy(pr.pos, pos[team])
		counts, err := x.store.PacketCounts(ctx, team)
		if err != nil {
			return err
		}
		for plc, c := range counts {
			pr.stored[plc] = c.Packets
			// Packets stored just before a crash, whose position never
			// reached the metadata: don't fetch them twice.
			p := pr.pos[plc]
			p.After = max(p.After, c.LastSeq)
			pr.pos[plc] = p
		}
	}
	return nil
}

// PacketPositions reads the packet collection positions from an
// exercise's metadata: team → plc → position (empty when none).
func PacketPositions(meta map[string]string) (map[string]map[string]PacketPosition, error) {
	pos := map[string]map[string]PacketPosition{}
	if s := meta[metaPackets]; s != "" {
		if err := json.Unmarshal([]byte(s), &pos); err != nil {
			return nil, fmt.Errorf("read packet positions: %w", err)
		}
	}
	return pos, nil
}
