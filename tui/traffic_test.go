package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/plant-sim/modbus"
	"github.com/icsrange/icsrange/tui/pages"
)

// fixtureTraffic is a little of everything the traffic log holds: the
// HMI's polls, a trainee's read, an attacker's write to a setpoint, a
// rejected read, a flood summarised in one row, a device identification,
// and a request a PLC dropped.
func fixtureTraffic() TrafficMsg {
	return TrafficMsg{
		Traffic: []engine.TrafficView{
			{ID: 11, PLC: "intake", ClockMS: 298_100, Source: "10.10.2.5:50211", Unit: 1, Function: 4, Addr: 0, Qty: 2, Count: 1},
			{ID: 12, PLC: "clearwell", ClockMS: 298_150, Source: "10.10.2.5:50212", Unit: 2, Function: 4, Addr: 0, Qty: 1, Count: 1},
			{ID: 13, PLC: "intake", ClockMS: 301_000, Source: "10.10.2.77:41000", Unit: 1, Function: 3, Addr: 0, Qty: 4, Count: 1},
			{ID: 14, PLC: "intake", ClockMS: 305_420, Source: "10.20.1.66:40123", Unit: 1, Function: 6, Addr: 0, Qty: 1,
				Values: "16384", Tags: "level_sp", Count: 1, Write: true},
			{ID: 15, PLC: "intake", ClockMS: 306_000, Source: "10.20.1.66:40123", Unit: 1, Function: 3, Addr: 999, Qty: 1, Exception: 2, Count: 1},
			{ID: 16, PLC: "clearwell", ClockMS: 307_000, LastClockMS: 307_990, Source: "10.20.1.66:40200", Unit: 2, Function: 3, Addr: 0, Qty: 1, Count: 1532},
			{ID: 17, PLC: "clearwell", ClockMS: 308_500, Source: "10.20.1.66:40201", Unit: 2, Function: 43, Count: 1},
			{ID: 18, PLC: "intake", ClockMS: 309_000, Source: "10.10.2.77:41002", Unit: 1, Function: 5, Addr: 1, Qty: 1,
				Values: "1", Tags: "bypass", Count: 1, Write: true, NoReply: true},
		},
		Audit: []engine.AuditView{
			{ID: 5, PLC: "intake", ClockMS: 305_400, Kind: "connect", Source: "10.20.1.66:40123", Detail: "connect from 10.20.1.66:40123", Count: 1},
			{ID: 6, PLC: "intake", ClockMS: 306_000, Kind: "exception", Source: "10.20.1.66:40123", Detail: "FC3 illegal data address", Count: 1},
			{ID: 7, PLC: "clearwell", ClockMS: 307_000, Kind: "connect", Source: "10.20.1.66:40200", Detail: "412 more connect entries from 10.20.1.66:40200", Count: 412},
			{ID: 8, PLC: "intake", ClockMS: 309_500, Kind: "mode", Detail: "mode run → program", Count: 1},
		},
	}
}

func trafficPage(t *testing.T, m *Model) *pages.Traffic {
	t.Helper()
	p, ok := m.pages[pageTraffic].(*pages.Traffic)
	if !ok {
		t.Fatalf("page %d is %T", pageTraffic, m.pages[pageTraffic])
	}
	return p
}

// bodyLines are the screen's lines below the tabs and above the footer.
func bodyLines(s string) []string {
	l := strings.Split(s, "\n")
	return l[2 : len(l)-1]
}

func TestTrafficPage(t *testing.T) {
	m, f := newApp(t, "en")
	isNext(t, f, update(t, m, fixtureTraffic()))
	press(t, m, runes("7"))
	if m.active != pageTraffic {
		t.Fatalf("7: page %d", m.active)
	}
	s := screen(t, m)
	wantIn(t, s, "7 Traffic", "PLC all", "source all", "FC all", "reads+writes", "8/8 rows",
		"5:05.4 intake", "10.20.1.66:40123", "FC6 write reg", "0/1 =16384 level_sp",
		"✗ illegal data address", "×1532 flood", "FC43 device id", "✗ no reply")
	// Newest first, as on the team page, under the column header; o puts
	// the oldest first, and back.
	newestFirst := func(s string) {
		t.Helper()
		body := bodyLines(s)
		if !strings.Contains(body[1], "time▼") || !strings.Contains(body[1], "source") {
			t.Errorf("no column header marked newest first:\n%s", s)
		}
		if !strings.Contains(body[2], "5:09.0") || !strings.Contains(body[2], "bypass") || !strings.Contains(body[9], "4:58.1") {
			t.Errorf("the newest row is not first:\n%s", s)
		}
	}
	newestFirst(s)
	// The summary names the order where there is room (? lists the key).
	update(t, m, tea.WindowSizeMsg{Width: 120, Height: 24})
	wantIn(t, screen(t, m), "o newest first")
	press(t, m, runes("o"))
	wantIn(t, screen(t, m), "o oldest first")
	update(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	s = screen(t, m)
	if tr := trafficPage(t, m); !tr.OldestFirst() {
		t.Fatal("o did not flip the order")
	}
	body := bodyLines(s)
	last := ""
	for _, l := range body {
		if strings.TrimSpace(l) != "" {
			last = l
		}
	}
	if !strings.Contains(body[1], "time▲") || !strings.Contains(body[2], "4:58.1") || !strings.Contains(last, "5:09.0") {
		t.Errorf("oldest first: the oldest row is not first, the newest not last:\n%s", s)
	}
	press(t, m, runes("o"))
	newestFirst(screen(t, m))
	// Names, never: the page shows addresses, not who they are.
	wantNotIn(t, s, "attacker")
}

func TestTrafficFilters(t *testing.T) {
	m, _ := newApp(t, "en")
	update(t, m, fixtureTraffic())
	press(t, m, runes("7"))
	p := trafficPage(t, m)

	// p cycles the plant's PLCs, then back to all.
	press(t, m, runes("p"))
	if got := p.Filter().PLC; got != "intake" {
		t.Fatalf("p: PLC %q", got)
	}
	s := screen(t, m)
	wantIn(t, s, "PLC intake", "5/8 rows", "FC6 write reg")
	wantNotIn(t, s, "clearwell", "×1532")
	press(t, m, runes("p"))
	if got := p.Filter().PLC; got != "clearwell" {
		t.Fatalf("p p: PLC %q", got)
	}
	wantIn(t, screen(t, m), "×1532 flood", "3/8 rows")
	press(t, m, runes("p"))
	if got := p.Filter().PLC; got != "" {
		t.Fatalf("p p p: PLC %q, want all", got)
	}

	// s cycles the hosts seen, in address order, ports ignored.
	var srcs []string
	for range 4 {
		press(t, m, runes("s"))
		srcs = append(srcs, p.Filter().Source)
	}
	if want := []string{"10.10.2.5", "10.10.2.77", "10.20.1.66", ""}; fmt.Sprint(srcs) != fmt.Sprint(want) {
		t.Fatalf("s cycles %q, want %q", srcs, want)
	}
	press(t, m, runes("s"), runes("s"), runes("s"))
	s = screen(t, m)
	wantIn(t, s, "source 10.20.1.66", "4/8 rows", "10.20.1.66:40123", "10.20.1.66:40200")
	wantNotIn(t, s, "10.10.2.")

	// f cycles the function codes seen; f is not page down here.
	press(t, m, runes("c"))
	var fcs []int
	for range 7 {
		press(t, m, runes("f"))
		fcs = append(fcs, p.Filter().FC)
	}
	if want := []int{3, 4, 5, 6, 43, 0, 3}; fmt.Sprint(fcs) != fmt.Sprint(want) {
		t.Fatalf("f cycles %v, want %v", fcs, want)
	}
	s = screen(t, m)
	wantIn(t, s, "FC FC3", "3/8 rows", "×1532", "illegal data address")
	wantNotIn(t, s, "FC6 write")

	// w: writes only, reads gone.
	press(t, m, runes("c"), runes("w"))
	if !p.Filter().WritesOnly {
		t.Fatal("w: not writes only")
	}
	s = screen(t, m)
	wantIn(t, s, "writes only", "2/8 rows", "FC6 write reg", "FC5 write coil")
	wantNotIn(t, s, "FC3", "FC4", "FC43")
	press(t, m, runes("w"))
	wantIn(t, screen(t, m), "8/8 rows")

	// Filters combine; nothing matching says so; c clears them all.
	press(t, m, runes("w"), runes("p"), runes("p")) // writes to clearwell: none
	s = screen(t, m)
	wantIn(t, s, "Nothing matches the filters (c clears them).", "0/8 rows")
	press(t, m, runes("c"))
	if p.Filter() != (pages.TrafficFilter{}) {
		t.Fatalf("c left %+v", p.Filter())
	}
	wantIn(t, screen(t, m), "8/8 rows")
}

func TestTrafficAuditToggle(t *testing.T) {
	m, _ := newApp(t, "en")
	update(t, m, fixtureTraffic())
	press(t, m, runes("7"), runes("a"))
	if !trafficPage(t, m).Filter().Audit {
		t.Fatal("a: not the audit trail")
	}
	s := screen(t, m)
	wantIn(t, s, "AUDIT", "a traffic", "4/4 rows", "connect from 10.20.1.66:40123", "exception",
		"FC3 illegal data address", "412 more connect entries from 10.20.1.66:40200 ×412", "mode run → program")
	wantNotIn(t, s, "FC6 write reg")
	// The PLC and source filters apply to the trail too; c keeps the view.
	press(t, m, runes("p"))
	s = screen(t, m)
	wantIn(t, s, "3/4 rows", "mode run → program")
	wantNotIn(t, s, "412 more")
	press(t, m, runes("c"))
	if f := trafficPage(t, m).Filter(); !f.Audit || f.PLC != "" {
		t.Fatalf("c in the audit view: %+v", f)
	}
	press(t, m, runes("a"))
	wantIn(t, screen(t, m), "FC6 write reg", "8/8 rows")
}

func TestTrafficMessages(t *testing.T) {
	m, f := newApp(t, "en")
	press(t, m, runes("7"))
	wantIn(t, screen(t, m), "No Modbus traffic yet.")
	press(t, m, runes("a"))
	wantIn(t, screen(t, m), "No audit entries yet.")
	press(t, m, runes("a"))

	// A batch appends; the model keeps listening.
	isNext(t, f, update(t, m, fixtureTraffic()))
	wantIn(t, screen(t, m), "8/8 rows")
	// A live batch may repeat what the snapshot carried: no duplicates.
	more := TrafficMsg{Traffic: []engine.TrafficView{
		fixtureTraffic().Traffic[7],
		{ID: 19, PLC: "intake", ClockMS: 311_000, Source: "10.20.1.66:40300", Unit: 1, Function: 16, Addr: 0, Qty: 2,
			Values: "16512,0", Tags: "level_sp", Count: 1, Write: true},
	}}
	isNext(t, f, update(t, m, more))
	if n := len(m.c.Data.Traffic); n != 9 {
		t.Fatalf("%d rows after a batch repeating one, want 9", n)
	}
	s := screen(t, m)
	wantIn(t, s, "9/9 rows", "FC16 write regs", "=16512,0 level_sp")
	body := bodyLines(s)
	if !strings.Contains(body[len(body)-1]+body[len(body)-2], "5:11.0") {
		// (the last body line may be padding)
		found := false
		for _, l := range body {
			found = found || strings.Contains(l, "5:11.0")
		}
		if !found {
			t.Errorf("the new row is not shown:\n%s", s)
		}
	}

	// Scrolled back to older rows, new rows don't move the view, in
	// either order; c follows again.
	for i := range 60 {
		update(t, m, TrafficMsg{Traffic: []engine.TrafficView{{ID: int64(100 + i), PLC: "intake", ClockMS: int64(320_000 + i*100),
			Source: "10.10.2.5:50211", Unit: 1, Function: 4, Qty: 2, Count: 1}}})
	}
	for i, order := range []struct {
		keys   string // scrolls back
		flip   bool   // o first
		source string
	}{{"jjj", false, "10.99.0.1:1"}, {"kkk", true, "10.99.0.2:1"}} {
		if order.flip {
			press(t, m, runes("o"))
		}
		screen(t, m)
		for _, k := range order.keys {
			press(t, m, runes(string(k)))
		}
		before := screen(t, m)
		update(t, m, TrafficMsg{Traffic: []engine.TrafficView{{ID: int64(500 + i), PLC: "intake", ClockMS: int64(400_000 + i), Source: order.source, Function: 6, Write: true, Count: 1}}})
		after := screen(t, m)
		if strings.Join(bodyLines(before)[2:], "\n") != strings.Join(bodyLines(after)[2:], "\n") {
			t.Errorf("oldest first %v: a new row moved the scrolled-back view:\n%s\n---\n%s", order.flip, before, after)
		}
		wantNotIn(t, after, order.source)
		press(t, m, runes("c"))
		wantIn(t, screen(t, m), order.source)
	}
	press(t, m, runes("o"))

	// The audit trail grows the same way.
	update(t, m, TrafficMsg{Audit: []engine.AuditView{{ID: 9, PLC: "intake", ClockMS: 400_000, Kind: "refused", Source: "10.99.0.1:1", Detail: "refused 10.99.0.1:1: too many connections", Count: 1}}})
	press(t, m, runes("a"))
	wantIn(t, screen(t, m), "refused 10.99.0.1:1: too many connections", "5/5 rows")

	// Memory stays bounded.
	for i := range 2100 {
		m.c.Data.AddTraffic([]engine.TrafficView{{ID: int64(1000 + i), PLC: "intake", Count: 1}})
	}
	if n := len(m.c.Data.Traffic); n > 2000 {
		t.Errorf("%d traffic rows kept", n)
	}
}

// The snapshot carries the newest rows: a fresh one replaces what we had,
// a resumed one adds what is new.
func TestTrafficSnapshot(t *testing.T) {
	m, f := newApp(t, "en")
	snap := fixtureSnapshot()
	tr := fixtureTraffic()
	snap.Traffic, snap.Audit = tr.Traffic[:5], tr.Audit[:2]
	isNext(t, f, update(t, m, snap))
	if len(m.c.Data.Traffic) != 5 || len(m.c.Data.Audit) != 2 {
		t.Fatalf("after a snapshot: %d rows, %d audit", len(m.c.Data.Traffic), len(m.c.Data.Audit))
	}
	snap.Resumed, snap.Traffic, snap.Audit = true, tr.Traffic[3:], tr.Audit
	update(t, m, snap)
	if len(m.c.Data.Traffic) != 8 || len(m.c.Data.Audit) != 4 {
		t.Fatalf("after a resumed snapshot: %d rows, %d audit", len(m.c.Data.Traffic), len(m.c.Data.Audit))
	}
	snap.Resumed, snap.Traffic, snap.Audit = false, tr.Traffic[7:], nil
	update(t, m, snap)
	if len(m.c.Data.Traffic) != 1 || len(m.c.Data.Audit) != 0 {
		t.Fatalf("after a fresh snapshot: %d rows, %d audit", len(m.c.Data.Traffic), len(m.c.Data.Audit))
	}
}

// The plant page shows the writes rate and a new talker, never who.
func TestTrafficPlantIndicators(t *testing.T) {
	m, _ := newApp(t, "en")
	s := screen(t, m)
	wantIn(t, s, "Modbus 127.0.0.1:40001 unit 1  writes/min 0")
	wantNotIn(t, s, "new talker")
	v := fixtureView()
	v.Plant[0].Traffic = engine.PLCTraffic{WritesPerMin: 12, Talkers: 3, NewTalkers: 1}
	update(t, m, ViewMsg{View: v})
	s = screen(t, m)
	wantIn(t, s, "writes/min 12", "new talker")
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "new talker") && !strings.Contains(l, "40001") {
			t.Errorf("the new-talker badge is not on intake's line: %q", l)
		}
	}
	m.c.Lang = "ja"
	wantIn(t, screen(t, m), "書込/分 12", "新規通信元")
	// Narrow: the indicators take a line of their own, inside the box.
	update(t, m, tea.WindowSizeMsg{Width: 44, Height: 24})
	wantIn(t, screen(t, m), "新規通信元")
}

// Every traffic screen fits, in both languages, at every size.
func TestTrafficScreensFit(t *testing.T) {
	m, _ := newApp(t, "en")
	update(t, m, fixtureTraffic())
	press(t, m, runes("7"))
	for _, sz := range [][2]int{{80, 24}, {60, 20}, {40, 10}, {120, 30}, {200, 50}} {
		update(t, m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		for _, lang := range []string{"en", "ja"} {
			m.c.Lang = lang
			for _, keys := range []string{"", "p", "s", "f", "w", "a", "ac"} {
				for _, k := range keys {
					press(t, m, runes(string(k)))
				}
				screen(t, m)
			}
			press(t, m, runes("c"))
			if trafficPage(t, m).Filter().Audit {
				press(t, m, runes("a"))
			}
		}
	}
	// Japanese at 80: translated labels and names.
	update(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m.c.Lang = "ja"
	s := screen(t, m)
	wantIn(t, s, "7 通信", "送信元 すべて", "レジ書込", "✗ 不正なデータ", "×1532 大量", "応答なし")
	press(t, m, runes("a"))
	wantIn(t, screen(t, m), "監査ログ", "接続", "モード変更")
	press(t, m, runes("a"))
	// Wide: the long function names and the unit, across the whole width
	// (no side feed).
	m.c.Lang = "en"
	update(t, m, tea.WindowSizeMsg{Width: 160, Height: 30})
	s = screen(t, m)
	wantIn(t, s, "FC6 write single register", "FC43 read device identification", "unit")
	wantNotIn(t, s, " │ ")
}

// The full help lists the traffic keys, in both languages.
func TestTrafficHelp(t *testing.T) {
	m, _ := newApp(t, "en")
	update(t, m, tea.WindowSizeMsg{Width: 160, Height: 30})
	press(t, m, runes("?"))
	wantIn(t, screen(t, m), "cycle PLC", "cycle source", "cycle function", "writes only", "traffic/audit", "clear filters", "o newest/oldest first", "1-7")
	m.c.Lang = "ja"
	wantIn(t, screen(t, m), "PLC切替", "フィルタ解除", "新しい順/古い順")
}

func TestGoldenTraffic(t *testing.T) {
	goldenScreen(t, 80, 24, "en", fixtureTraffic(), runes("7"))
}

// Against a real server: a team's own Modbus write shows up in the TUI
// client's traffic messages with the tool's address, and a client that
// connects later gets it in its snapshot.
func TestTrafficClientLive(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	e := startE2E(t)
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	cl, err := NewClient("http://"+e.addr, e.tok.Teams["team-1"], nil)
	if err != nil {
		t.Fatal(err)
	}
	go cl.Run(ctx)
	msgs := pump(ctx, cl)
	var endpoint string
	for endpoint == "" {
		select {
		case m := <-msgs:
			if s, ok := m.(SnapshotMsg); ok && len(s.View.Plant) > 0 {
				endpoint = s.View.Plant[0].Modbus
			}
		case <-ctx.Done():
			t.Fatal("no snapshot")
		}
	}
	mc, err := modbus.Dial(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.ReadHoldingRegisters(1, 0, 2); err != nil {
		t.Fatal(err)
	}
	if err := mc.WriteRegister(1, 0, 16384); err != nil {
		t.Fatal(err)
	}
	me := mc.LocalAddr().String()
	mc.Close()
	var read, write bool
	for !read || !write {
		select {
		case m := <-msgs:
			tm, ok := m.(TrafficMsg)
			if !ok {
				continue
			}
			for _, r := range tm.Traffic {
				if r.Source != me {
					continue
				}
				read = read || (r.Function == 3 && !r.Write)
				write = write || (r.Function == 6 && r.Write && r.Tags == "level_sp" && r.Values == "16384")
			}
		case <-ctx.Done():
			t.Fatalf("no traffic message with %s's read and write (read %v, write %v)", me, read, write)
		}
	}
	// A second client gets the rows in its snapshot.
	cl2, err := NewClient("http://"+e.addr, e.tok.Teams["team-1"], nil)
	if err != nil {
		t.Fatal(err)
	}
	go cl2.Run(ctx)
	msgs2 := pump(ctx, cl2)
	for {
		select {
		case m := <-msgs2:
			s, ok := m.(SnapshotMsg)
			if !ok {
				continue
			}
			for _, r := range s.Traffic {
				if r.Source == me && r.Write {
					return
				}
			}
			t.Fatalf("the snapshot's %d traffic rows lack %s's write", len(s.Traffic), me)
		case <-ctx.Done():
			t.Fatal("no snapshot for the second client")
		}
	}
}

// pump delivers a client's messages on a channel until ctx ends.
func pump(ctx context.Context, cl *Client) <-chan tea.Msg {
	ch := make(chan tea.Msg, 64)
	go func() {
		for ctx.Err() == nil {
			m := cl.Next()
			select {
			case ch <- m:
			case <-ctx.Done():
			}
		}
	}()
	return ch
}
