package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/icsrange/icsrange/engine/backend/plants"
	"github.com/icsrange/icsrange/engine/store"
	plantsim "github.com/icsrange/icsrange/plant-sim"
	"github.com/icsrange/icsrange/plant-sim/modbus"
)

// Traffic log bounds.
const (
	// DefaultTrafficCap is how many rows a PLC's traffic log keeps in full
	// before it keeps only per-second summaries.
	DefaultTrafficCap = 20000
	// keepPerSecond is how many transactions of one source and function a
	// second keeps in full; the rest of a flood becomes one summary row.
	keepPerSecond = 20
	// trafficEvery is how often the engine collects the PLCs' records.
	trafficEvery = time.Second
	// newTalkerWindow is how long a source counts as new.
	newTalkerWindow = time.Minute
)

// TrafficBatch is what one collection added to a team's traffic log, for
// live viewers.
type TrafficBatch struct {
	Team    string        `json:"team"`
	Traffic []TrafficView `json:"traffic"`
	Audit   []AuditView   `json:"audit"`
}

// TrafficView is a traffic-log row as viewers see it.
type TrafficView struct {
	ID          int64  `json:"id"`
	PLC         string `json:"plc"`
	ClockMS     int64  `json:"clock_ms"`
	LastClockMS int64  `json:"last_clock_ms,omitempty"`
	Source      string `json:"source"`
	Note        string `json:"note,omitempty"`
	Unit        int    `json:"unit"`
	Function    int    `json:"fc"`
	Addr        int    `json:"addr"`
	Qty         int    `json:"qty"`
	Values      string `json:"values,omitempty"`
	Tags        string `json:"tags,omitempty"`
	Exception   int    `json:"exception,omitempty"`
	NoReply     bool   `json:"no_reply,omitempty"`
	Count       int    `json:"count"`
	Write       bool   `json:"write"`
}

// AuditView is an audit row as viewers see it.
type AuditView struct {
	ID      int64  `json:"id"`
	PLC     string `json:"plc"`
	ClockMS int64  `json:"clock_ms"`
	Kind    string `json:"kind"`
	Source  string `json:"source,omitempty"`
	Detail  string `json:"detail"`
	Count   int    `json:"count"`
}

// ViewTraffic converts stored rows for viewers.
func ViewTraffic(rows []store.TrafficRow) []TrafficView {
	out := make([]TrafficView, len(rows))
	for i, r := range rows {
		out[i] = TrafficView{ID: r.ID, PLC: r.PLC, ClockMS: r.Clock.Milliseconds(), Source: r.Source, Note: r.Note,
			Unit: r.Unit, Function: r.Function, Addr: r.Addr, Qty: r.Qty, Values: r.Values, Tags: r.Tags,
			Exception: r.Exception, NoReply: r.NoReply, Count: r.Count, Write: isWriteFC(r.Function)}
		if r.Count > 1 {
			out[i].LastClockMS = r.LastClock.Milliseconds()
		}
	}
	return out
}

// ForTeam hides what only the instructor may see: which scenario host a
// connection was attributed to (naming the attacker is the team's job; the
// address is evidence, the name is the answer).
func ForTeam(rows []TrafficView) []TrafficView {
	for i := range rows {
		if strings.HasPrefix(rows[i].Note, "host ") {
			rows[i].Note = ""
		}
	}
	return rows
}

// ViewAudit converts stored audit rows for viewers.
func ViewAudit(rows []store.AuditRow) []AuditView {
	out := make([]AuditView, len(rows))
	for i, a := range rows {
		out[i] = AuditView{ID: a.ID, PLC: a.PLC, ClockMS: a.Clock.Milliseconds(), Kind: a.Kind, Source: a.Source, Detail: a.Detail, Count: a.Count}
	}
	return out
}

func isWriteFC(fc int) bool {
	switch fc {
	case modbus.FuncWriteSingleCoil, modbus.FuncWriteSingleRegister, modbus.FuncWriteMultipleCoils,
		modbus.FuncWriteMultipleRegisters, modbus.FuncReadWriteRegisters:
		return true
	}
	return false
}

// trafficRT is a team's traffic bookkeeping: where collection stopped,
// how full each PLC's log is, and the counts rules read.
type trafficRT struct {
	after        map[string]uint64                   // plc → last record seq collected
	ringSeen     map[string]uint64                   // plc → the ring's loss counter at the last collection
	rows         map[string]int                      // plc → rows stored
	writesFrom   map[string]int                      // source address → writes
	traineeWrote map[string]int                      // "plc.tag" → writes from the team's own tools
	firstSeen    map[string]map[string]time.Duration // plc → source address → first seen
	writeClocks  map[string][]time.Duration          // plc → recent writes, for the rate
	ringLost     uint64                              // records the PLCs' rings dropped before collection (sum of their counters)
	capLost      uint64                              // transactions dropped past twice the cap
	packets      *packetRT                           // captured packets, where PLCs capture them
}

func newTrafficRT() *trafficRT {
	return &trafficRT{after: map[string]uint64{}, ringSeen: map[string]uint64{}, rows: map[string]int{}, writesFrom: map[string]int{},
		traineeWrote: map[string]int{}, firstSeen: map[string]map[string]time.Duration{}, writeClocks: map[string][]time.Duration{},
		packets: newPacketRT()}
}

// scenarioHosts are the addresses of the scenario hosts in a team's plant:
// traffic from them is not the team's own.
func (x *Exercise) scenarioHosts(team string) map[string]bool {
	out := map[string]bool{}
	for _, h := range x.sc.Hosts {
		out[x.hostAddr(team, h.ID)] = true
	}
	return out
}

// collectTraffic gathers every PLC's new records into the traffic log,
// summarising floods, and tells viewers; then the packets of PLCs that
// capture them.
func (x *Exercise) collectTraffic(ctx context.Context) error {
	var allTx []*store.TrafficRow
	var allAudit []*store.AuditRow
	batches := map[string]*struct {
		tx    []*store.TrafficRow
		audit []*store.AuditRow
	}{}
	for _, team := range x.state.Teams {
		tr := x.rt[team].traffic
		hosts := x.scenarioHosts(team)
		for pi, p := range x.sc.PLCs {
			cp, err := x.dep.Capture(ctx, team, p.ID, tr.after[p.ID])
			if err != nil {
				return fmt.Errorf("collect traffic of team %s plc %s: %w", team, p.ID, err)
			}
			if cp.Last < tr.after[p.ID] {
				// The PLC restarted (a resumed in-process exercise): its
				// numbering starts again.
				cp = plantsim.Capture{}
				tr.after[p.ID] = 0
				if cp, err = x.dep.Capture(ctx, team, p.ID, 0); err != nil {
					return err
				}
			}
			tr.after[p.ID] = cp.Last
			tx := x.summarise(team, p.ID, pi, cp.Transactions, hosts, tr)
			audit := summariseAudit(team, p.ID, cp.Audit)
			b := batches[team]
			if b == nil {
				b = &struct {
					tx    []*store.TrafficRow
					audit []*store.AuditRow
				}{}
				batches[team] = b
			}
			b.tx = append(b.tx, tx...)
			b.audit = append(b.audit, audit...)
			allTx = append(allTx, tx...)
			allAudit = append(allAudit, audit...)
			tr.ringLost += cp.Lost - min(cp.Lost, tr.ringSeen[p.ID])
			tr.ringSeen[p.ID] = cp.Lost
		}
	}
	if err := x.store.AppendTraffic(ctx, allTx, allAudit); err != nil {
		return x.storeFailed(ctx, "traffic log", err)
	}
	if err := x.saveTrafficPositions(ctx); err != nil {
		return err
	}
	for _, team := range x.state.Teams {
		b := batches[team]
		if b == nil || (len(b.tx) == 0 && len(b.audit) == 0) {
			continue
		}
		batch := &TrafficBatch{Team: team, Traffic: ViewTraffic(deref(b.tx)), Audit: ViewAudit(derefAudit(b.audit))}
		x.feed.Publish(Update{Traffic: batch})
	}
	return x.collectPackets(ctx)
}

func deref(rs []*store.TrafficRow) []store.TrafficRow {
	out := make([]store.TrafficRow, len(rs))
	for i, r := range rs {
		out[i] = *r
	}
	return out
}

func derefAudit(rs []*store.AuditRow) []store.AuditRow {
	out := make([]store.AuditRow, len(rs))
	for i, r := range rs {
		out[i] = *r
	}
	return out
}

// saveTrafficPositions keeps where collection stopped, so a resumed engine
// neither repeats nor skips a remote PLC's records.
func (x *Exercise) saveTrafficPositions(ctx context.Context) error {
	pos := map[string]map[string]uint64{}
	for _, team := range x.state.Teams {
		pos[team] = x.rt[team].traffic.after
	}
	b, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	return x.store.SetMeta(ctx, map[string]string{"traffic_after": string(b)})
}

// summarise turns a PLC's new transactions into rows: per source and
// function, the first keepPerSecond in full, the rest as one summary; past
// the cap, only summaries; past twice the cap, nothing.
func (x *Exercise) summarise(team, plc string, pi int, txs []plantsim.Transaction, hosts map[string]bool, tr *trafficRT) []*store.TrafficRow {
	if len(txs) == 0 {
		return nil
	}
	capRows := x.trafficCap
	if tr.rows[plc] >= 2*capRows {
		tr.capLost += uint64(len(txs))
		return nil
	}
	// Rows this batch adds count against the cap as they are made, so the
	// store never holds more than twice the cap for a PLC, however many
	// sources one batch brings (a flood's every connection is one).
	n := tr.rows[plc]
	type key struct {
		source string
		fc     byte
	}
	kept := map[key]int{}
	summaries := map[key]*store.TrafficRow{}
	var order []key
	var out []*store.TrafficRow
	model := x.sc.Layout.Model[pi]
	seen := tr.firstSeen[plc]
	if seen == nil {
		seen = map[string]time.Duration{}
		tr.firstSeen[plc] = seen
	}
	first := map[key]*plantsim.Transaction{}
	full1 := func(t *plantsim.Transaction, trainee bool, tags []string) *store.TrafficRow {
		return &store.TrafficRow{Team: team, PLC: plc, Clock: t.Clock, LastClock: t.Clock, Conn: t.Conn,
			Source: t.Source, Note: t.Note, Listen: t.Listen, Unit: int(t.Unit), Function: int(t.Function), Addr: int(t.Addr),
			Qty: int(t.Qty), Values: joinValues(t.Values), Tags: strings.Join(tags, ","), Trainee: trainee,
			Exception: int(t.Exception), NoReply: t.NoReply, Request: t.Request, Response: t.Response, Count: 1}
	}
	for i := range txs {
		t := &txs[i]
		if t.Source == plants.PingSource && t.Note == plants.PingNote {
			continue // the engine's own readiness check is not exercise traffic
		}
		src := store.HostOf(t.Source)
		if _, ok := seen[src]; !ok {
			seen[src] = t.Clock
		}
		trainee := !hosts[src]
		tags := writtenTags(model, t)
		if t.IsWrite() {
			tr.writesFrom[src]++
			if trainee {
				for _, tag := range tags {
					tr.traineeWrote[plc+"."+tag]++
				}
			}
			tr.writeClocks[plc] = append(tr.writeClocks[plc], t.Clock)
		}
		k := key{t.Source, t.Function}
		made := n + len(out) + len(order)
		if made < capRows && kept[k] < keepPerSecond {
			kept[k]++
			out = append(out, full1(t, trainee, tags))
			continue
		}
		s := summaries[k]
		if s == nil {
			if made >= 2*capRows {
				tr.capLost++
				continue
			}
			first[k] = t
			s = &store.TrafficRow{Team: team, PLC: plc, Clock: t.Clock, Conn: t.Conn, Source: t.Source, Note: t.Note,
				Listen: t.Listen, Unit: int(t.Unit), Function: int(t.Function), Addr: int(t.Addr), Qty: int(t.Qty), Trainee: trainee}
			summaries[k] = s
			order = append(order, k)
		}
		s.Count++
		s.LastClock = t.Clock
		if t.Exception != 0 {
			s.Exception = int(t.Exception)
		}
		for _, tag := range tags {
			if !strings.Contains(","+s.Tags+",", ","+tag+",") {
				if s.Tags != "" {
					s.Tags += ","
				}
				s.Tags += tag
			}
		}
	}
	for _, k := range order {
		if summaries[k].Count == 1 {
			// A "summary" of one is just that transaction.
			t := first[k]
			out = append(out, full1(t, summaries[k].Trainee, writtenTags(model, t)))
			continue
		}
		out = append(out, summaries[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Clock < out[j].Clock })
	tr.rows[plc] += len(out)
	// Keep the write-rate window short.
	if w := tr.writeClocks[plc]; len(w) > 0 {
		cut := 0
		for cut < len(w) && w[cut] < x.clock-newTalkerWindow {
			cut++
		}
		tr.writeClocks[plc] = w[cut:]
	}
	return out
}

// summariseAudit keeps, per kind and source, the first keepPerSecond
// entries and one summary of the rest (a flood's connects and exceptions).
func summariseAudit(team, plc string, entries []plantsim.AuditEntry) []*store.AuditRow {
	type key struct{ kind, source string }
	kept := map[key]int{}
	summaries := map[key]*store.AuditRow{}
	var order []key
	var out []*store.AuditRow
	for _, a := range entries {
		if a.Source == plants.PingSource {
			continue // the engine's readiness check
		}
		k := key{a.Kind, a.Source}
		if kept[k] < keepPerSecond {
			kept[k]++
			out = append(out, &store.AuditRow{Team: team, PLC: plc, Clock: a.Clock, Kind: a.Kind, Source: a.Source, Detail: a.Detail, Count: 1})
			continue
		}
		s := summaries[k]
		if s == nil {
			s = &store.AuditRow{Team: team, PLC: plc, Clock: a.Clock, Kind: a.Kind, Source: a.Source}
			summaries[k] = s
			order = append(order, k)
		}
		s.Count++
		s.Detail = fmt.Sprintf("%d more %s entries from %s", s.Count, a.Kind, a.Source)
	}
	for _, k := range order {
		out = append(out, summaries[k])
	}
	return out
}

func joinValues(vs []uint16) string {
	if len(vs) == 0 {
		return ""
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Itoa(int(v))
	}
	return strings.Join(parts, ",")
}

// writtenTags names the tags a write touched.
func writtenTags(m *plantsim.Model, t *plantsim.Transaction) []string {
	if !t.IsWrite() || t.Exception != 0 || t.NoReply {
		return nil
	}
	table := plantsim.HoldingRegister
	if t.Function == modbus.FuncWriteSingleCoil || t.Function == modbus.FuncWriteMultipleCoils {
		table = plantsim.Coil
	}
	l := m.Layout()
	var out []string
	seen := map[string]bool{}
	for a := int(t.Addr); a < int(t.Addr)+int(t.Qty); a++ {
		if i, ok := l.TagAt(table, a); ok && !seen[m.Tags[i].Name] {
			seen[m.Tags[i].Name] = true
			out = append(out, m.Tags[i].Name)
		}
	}
	return out
}

// restoreTraffic rebuilds a resumed exercise's traffic bookkeeping from the
// log.
func (x *Exercise) restoreTraffic(ctx context.Context, meta map[string]string) error {
	var pos map[string]map[string]uint64
	if s := meta["traffic_after"]; s != "" {
		if err := json.Unmarshal([]byte(s), &pos); err != nil {
			return fmt.Errorf("read traffic positions: %w", err)
		}
	}
	for _, team := range x.state.Teams {
		tr := x.rt[team].traffic
		for plc, seq := range pos[team] {
			tr.after[plc] = seq
		}
		c, err := x.store.TrafficCounts(ctx, team)
		if err != nil {
			return err
		}
		tr.writesFrom, tr.traineeWrote, tr.rows = c.WritesFrom, c.TraineeWrote, c.Rows
	}
	return x.restorePackets(ctx, meta)
}

// PLCTraffic is a PLC's traffic indicators: enough to notice that
// something is going on, without naming it.
type PLCTraffic struct {
	WritesPerMin int `json:"writes_per_min"`
	Talkers      int `json:"talkers"`     // distinct sources seen
	NewTalkers   int `json:"new_talkers"` // sources first seen in the last minute
}

func (x *Exercise) trafficIndicators(team, plc string) PLCTraffic {
	tr := x.rt[team].traffic
	var out PLCTraffic
	for _, c := range tr.writeClocks[plc] {
		if c >= x.clock-newTalkerWindow {
			out.WritesPerMin++
		}
	}
	for _, first := range tr.firstSeen[plc] {
		out.Talkers++
		if first >= x.clock-newTalkerWindow {
			out.NewTalkers++
		}
	}
	return out
}
