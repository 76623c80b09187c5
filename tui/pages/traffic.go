package pages

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/tui/common"
)

// Traffic is the team's Modbus traffic log, live: every request its PLCs
// served, newest first like the team page (o flips it), with filters by
// PLC, source, function code and writes; a switches to the PLCs' audit
// trail. Who the sources are is for the trainees to work out: the page
// shows addresses, never names.
type Traffic struct {
	c      *common.Common
	vp     viewport.Model
	follow bool // keep the newest rows in view
	f      TrafficFilter
	oldest bool // oldest first
	rows   int  // rows in the viewport when last drawn
}

// TrafficFilter is what the traffic page shows.
type TrafficFilter struct {
	PLC        string // "" = every PLC
	Source     string // a host address without the port; "" = every source
	FC         int    // 0 = every function code
	WritesOnly bool
	Audit      bool // the audit trail instead of the transactions
}

// NewTraffic makes the traffic page.
func NewTraffic(c *common.Common) *Traffic {
	return &Traffic{c: c, vp: viewport.New(0, 0), follow: true}
}

// Capturing is false: the page takes single keys only.
func (t *Traffic) Capturing() bool { return false }

// Filter returns the current filters.
func (t *Traffic) Filter() TrafficFilter { return t.f }

// Update handles the filter keys, the order and scrolling; scrolling away
// from the newest rows stops following them, scrolling back resumes.
func (t *Traffic) Update(msg tea.Msg) (Page, tea.Cmd) {
	m, ok := msg.(tea.KeyMsg)
	if !ok {
		return t, nil
	}
	k := t.c.Keys
	switch {
	// The filter keys first: f is also page down on other pages.
	case key.Matches(m, k.FilterPLC):
		t.f.PLC = cycle(t.plcs(), t.f.PLC)
	case key.Matches(m, k.FilterSource):
		t.f.Source = cycle(t.sources(), t.f.Source)
	case key.Matches(m, k.FilterFC):
		fcs := t.functions()
		names := make([]string, len(fcs))
		for i, fc := range fcs {
			names[i] = strconv.Itoa(fc)
		}
		cur := ""
		if t.f.FC != 0 {
			cur = strconv.Itoa(t.f.FC)
		}
		t.f.FC, _ = strconv.Atoi(cycle(names, cur))
	case key.Matches(m, k.WritesOnly):
		t.f.WritesOnly = !t.f.WritesOnly
	case key.Matches(m, k.AuditView):
		t.f.Audit = !t.f.Audit
	case key.Matches(m, k.ClearFilters):
		t.f = TrafficFilter{Audit: t.f.Audit}
	case key.Matches(m, k.Order):
		t.oldest = !t.oldest
	case key.Matches(m, k.Up):
		t.vp.ScrollUp(1)
		t.follow = t.atNewest()
		return t, nil
	case key.Matches(m, k.Down):
		t.vp.ScrollDown(1)
		t.follow = t.atNewest()
		return t, nil
	case key.Matches(m, k.PgUp):
		t.vp.PageUp()
		t.follow = t.atNewest()
		return t, nil
	case key.Matches(m, k.PgDown):
		t.vp.PageDown()
		t.follow = t.atNewest()
		return t, nil
	default:
		return t, nil
	}
	// A new filter or order shows its newest rows.
	t.follow, t.rows = true, 0
	return t, nil
}

// OldestFirst reports the order: false (the default) is newest first.
func (t *Traffic) OldestFirst() bool { return t.oldest }

// atNewest reports whether the viewport shows the newest rows: the top
// when newest first, the bottom when oldest first.
func (t *Traffic) atNewest() bool {
	if t.oldest {
		return t.vp.AtBottom()
	}
	return t.vp.AtTop()
}

// cycle steps through "" (all) and then each of items.
func cycle(items []string, cur string) string {
	if cur == "" {
		if len(items) == 0 {
			return ""
		}
		return items[0]
	}
	i := slices.Index(items, cur)
	if i < 0 || i+1 >= len(items) {
		return ""
	}
	return items[i+1]
}

// plcs are the PLCs to cycle through: the plant's, then any others the
// log names.
func (t *Traffic) plcs() []string {
	var out []string
	for _, p := range t.c.Data.View.Plant {
		out = append(out, p.ID)
	}
	var extra []string
	for _, r := range t.c.Data.Traffic {
		if !slices.Contains(out, r.PLC) && !slices.Contains(extra, r.PLC) {
			extra = append(extra, r.PLC)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

// sources are the host addresses seen, in address order.
func (t *Traffic) sources() []string {
	seen := map[string]bool{}
	var out []string
	add := func(src string) {
		if h := hostOf(src); h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, r := range t.c.Data.Traffic {
		add(r.Source)
	}
	for _, a := range t.c.Data.Audit {
		add(a.Source)
	}
	slices.SortFunc(out, func(a, b string) int {
		pa, ea := netip.ParseAddr(a)
		pb, eb := netip.ParseAddr(b)
		if ea == nil && eb == nil {
			return pa.Compare(pb)
		}
		return strings.Compare(a, b)
	})
	return out
}

// functions are the function codes seen, ascending.
func (t *Traffic) functions() []int {
	var out []int
	for _, r := range t.c.Data.Traffic {
		if !slices.Contains(out, r.Function) {
			out = append(out, r.Function)
		}
	}
	slices.Sort(out)
	return out
}

// hostOf is a source address without its port ("10.0.0.5:50211" →
// "10.0.0.5", "[::1]:502" → "::1").
func hostOf(source string) string {
	if i := strings.LastIndexByte(source, ':'); i > 0 && !strings.Contains(source[i:], "]") {
		return strings.Trim(source[:i], "[]")
	}
	return source
}

func (t *Traffic) matchTx(r engine.TrafficView) bool {
	f := t.f
	return (f.PLC == "" || r.PLC == f.PLC) && (f.Source == "" || hostOf(r.Source) == f.Source) &&
		(f.FC == 0 || r.Function == f.FC) && (!f.WritesOnly || r.Write)
}

func (t *Traffic) matchAudit(a engine.AuditView) bool {
	f := t.f
	return (f.PLC == "" || a.PLC == f.PLC) && (f.Source == "" || hostOf(a.Source) == f.Source)
}

// View renders the filter line, a header and the rows.
func (t *Traffic) View() string {
	c := t.c
	w, h := c.Width, BodyHeight(c)
	var lines []string
	var shown, total int
	if t.f.Audit {
		lines, shown, total = t.auditLines(w)
	} else {
		lines, shown, total = t.txLines(w)
	}
	out := []string{t.summary(w, shown, total)}
	switch {
	case total == 0 && t.f.Audit:
		return strings.Join(append(out, c.Styles.Muted.Render(truncate(c.T("no audit"), w))), "\n")
	case total == 0:
		return strings.Join(append(out, c.Styles.Muted.Render(truncate(c.T("no traffic"), w))), "\n")
	case shown == 0:
		return strings.Join(append(out, c.Styles.Muted.Render(truncate(c.T("no match"), w))), "\n")
	}
	out = append(out, lines[0]) // the column header stays put
	rows := lines[1:]
	if !t.oldest {
		slices.Reverse(rows)
	}
	t.vp.Width, t.vp.Height = w, max(1, h-2)
	t.vp.SetContent(strings.Join(rows, "\n"))
	switch {
	case t.follow && t.oldest:
		t.vp.GotoBottom()
	case t.follow:
		t.vp.GotoTop()
	case !t.oldest && t.rows > 0 && len(rows) > t.rows:
		// New rows came in above: keep the rows being read in place.
		t.vp.SetYOffset(t.vp.YOffset + len(rows) - t.rows)
	}
	t.rows = len(rows)
	return strings.Join(append(out, t.vp.View()), "\n")
}

// summary is the one-line filter summary with the keys that change it.
func (t *Traffic) summary(w, shown, total int) string {
	c := t.c
	s := c.Styles
	item := func(k, label, value string, on bool) string {
		v := value
		if on {
			v = s.Selected.Render(value)
		}
		return s.Muted.Render(k) + " " + label + " " + v
	}
	all := c.T("all")
	or := func(v string) string {
		if v == "" {
			return all
		}
		return v
	}
	parts := []string{item("p", c.T("filter plc"), or(t.f.PLC), t.f.PLC != ""),
		item("s", c.T("filter source"), or(t.f.Source), t.f.Source != "")}
	if !t.f.Audit {
		fc := all
		if t.f.FC != 0 {
			fc = "FC" + strconv.Itoa(t.f.FC)
		}
		writes := c.T("filter all reqs")
		if t.f.WritesOnly {
			writes = s.Selected.Render(c.T("filter writes"))
		}
		parts = append(parts, item("f", c.T("filter fc"), fc, t.f.FC != 0),
			s.Muted.Render("w")+" "+writes, s.Muted.Render("a")+" "+c.T("audit"))
	} else {
		parts = append([]string{s.Selected.Render(strings.ToUpper(c.T("audit")))}, parts...)
		parts = append(parts, s.Muted.Render("a")+" "+c.T("traffic log"))
	}
	order := s.Muted.Render("o") + " " + c.T("newest first")
	if t.oldest {
		order = s.Muted.Render("o") + " " + c.T("oldest first")
	}
	clear := s.Muted.Render("c") + " " + c.T("filter clear")
	count := s.Muted.Render(c.N("rows", total, shown))
	// Everything if it fits; else the count before the order's hint, then
	// before the clear key's (the time column's ▼/▲ still shows the order,
	// and ? lists the keys).
	for _, cand := range [][]string{append(parts, order, clear), append(parts, clear), parts} {
		line := strings.Join(cand, "  ")
		if lipgloss.Width(line)+2+lipgloss.Width(count) <= w {
			return line + strings.Repeat(" ", w-lipgloss.Width(line)-lipgloss.Width(count)) + count
		}
	}
	return ansi.Truncate(strings.Join(append(parts, clear), "  "), w, "…")
}

// timeHeader is the time column's heading with the order: ▼ newest first,
// ▲ oldest first.
func (t *Traffic) timeHeader() string {
	if t.oldest {
		return t.c.T("col time") + "▲"
	}
	return t.c.T("col time") + "▼"
}

// pad right-pads s to w cells (CJK aware), cutting it if longer.
func pad(s string, w int) string {
	if lipgloss.Width(s) > w {
		s = truncate(s, w)
	}
	return s + strings.Repeat(" ", max(0, w-lipgloss.Width(s)))
}

func padLeft(s string, w int) string {
	return strings.Repeat(" ", max(0, w-lipgloss.Width(s))) + s
}

// clockTenths formats exercise milliseconds as m:ss.t.
func clockTenths(ms int64) string {
	return fmt.Sprintf("%s.%d", clock(ms), ms%1000/100)
}

// FunctionName is "FC6 write reg" (short) or "FC6 write single register".
func FunctionName(c *common.Common, fc int, long bool) string {
	k := "fc " + strconv.Itoa(fc)
	if long {
		k = "fc long " + strconv.Itoa(fc)
	}
	name := "FC" + strconv.Itoa(fc)
	if n := c.T(k); n != k {
		name += " " + n
	}
	return name
}

// ExceptionName is a Modbus exception code's name.
func ExceptionName(c *common.Common, ex int) string {
	k := "ex " + strconv.Itoa(ex)
	if n := c.T(k); n != k {
		return n
	}
	return fmt.Sprintf("%s %02X", c.T("exception"), ex)
}

// column widths: as wide as the widest shown value, within bounds.
func widest(vals []string, lo, hi int) int {
	w := lo
	for _, v := range vals {
		w = max(w, lipgloss.Width(v))
	}
	return min(w, hi)
}

// txLines renders the matching transactions, oldest first, header first
// (View puts them in the page's order).
func (t *Traffic) txLines(w int) (lines []string, shown, total int) {
	c := t.c
	s := c.Styles
	rows := c.Data.Traffic
	total = len(rows)
	var match []engine.TrafficView
	for _, r := range rows {
		if t.matchTx(r) {
			match = append(match, r)
		}
	}
	shown = len(match)
	wide := w >= 120
	times := make([]string, len(match))
	plcs := make([]string, len(match))
	srcs := make([]string, len(match))
	fcs := make([]string, len(match))
	addrs := make([]string, len(match))
	for i, r := range match {
		times[i] = clockTenths(r.ClockMS)
		plcs[i] = r.PLC
		srcs[i] = r.Source
		fcs[i] = FunctionName(c, r.Function, wide)
		if r.Qty > 0 || r.Addr > 0 {
			addrs[i] = fmt.Sprintf("%d/%d", r.Addr, r.Qty)
		}
	}
	hTime, hPLC, hSrc, hFC, hAddr := t.timeHeader(), c.T("col plc"), c.T("col source"), c.T("col function"), c.T("col addr")
	tw := widest(times, lipgloss.Width(hTime), 10)
	pw := widest(plcs, lipgloss.Width(hPLC), 12)
	sw := widest(srcs, lipgloss.Width(hSrc), 24)
	fw := widest(fcs, lipgloss.Width(hFC), 32)
	aw := widest(addrs, lipgloss.Width(hAddr), 12)
	uw := 0
	if wide {
		uw = lipgloss.Width(c.T("col unit"))
		for _, r := range match {
			uw = max(uw, len(strconv.Itoa(r.Unit)))
		}
	}
	cols := func(time, plc, src, unit, fc, addr, detail string) string {
		l := padLeft(time, tw) + " " + pad(plc, pw) + " " + pad(src, sw) + " "
		if wide {
			l += padLeft(unit, uw) + " "
		}
		return l + pad(fc, fw) + " " + padLeft(addr, aw) + " " + detail
	}
	lines = append(lines, s.Muted.Render(ansi.Truncate(strings.TrimRight(cols(hTime, hPLC, hSrc, c.T("col unit"), hFC, hAddr, c.T("col detail")), " "), w, "…")))
	for i, r := range match {
		var detail []string
		if r.Values != "" {
			detail = append(detail, "="+r.Values)
		}
		if r.Tags != "" {
			detail = append(detail, strings.ReplaceAll(r.Tags, ",", " "))
		}
		if r.Exception != 0 {
			detail = append(detail, "✗ "+ExceptionName(c, r.Exception))
		}
		if r.NoReply {
			detail = append(detail, "✗ "+c.T("no reply"))
		}
		if r.Count > 1 {
			detail = append(detail, fmt.Sprintf("×%d %s", r.Count, c.T("flood")))
		}
		l := ansi.Truncate(cols(times[i], plcs[i], srcs[i], strconv.Itoa(r.Unit), fcs[i], addrs[i], strings.Join(detail, " ")), w, "…")
		l = strings.TrimRight(l, " ")
		switch {
		case r.Exception != 0 || r.NoReply:
			l = s.Bad.Render(l)
		case r.Count > 1:
			l = s.Alert.Render(l)
		case r.Write:
			l = s.Value.Render(l)
		}
		lines = append(lines, l)
	}
	return lines, shown, total
}

// auditLines renders the matching audit entries, oldest first, header
// first.
func (t *Traffic) auditLines(w int) (lines []string, shown, total int) {
	c := t.c
	s := c.Styles
	rows := c.Data.Audit
	total = len(rows)
	var match []engine.AuditView
	for _, a := range rows {
		if t.matchAudit(a) {
			match = append(match, a)
		}
	}
	shown = len(match)
	kind := func(k string) string {
		if n := c.T("kind " + k); n != "kind "+k {
			return n
		}
		return k
	}
	times := make([]string, len(match))
	plcs := make([]string, len(match))
	kinds := make([]string, len(match))
	for i, a := range match {
		times[i] = clockTenths(a.ClockMS)
		plcs[i] = a.PLC
		kinds[i] = kind(a.Kind)
	}
	hTime, hPLC, hKind := t.timeHeader(), c.T("col plc"), c.T("col kind")
	tw := widest(times, lipgloss.Width(hTime), 10)
	pw := widest(plcs, lipgloss.Width(hPLC), 12)
	kw := widest(kinds, lipgloss.Width(hKind), 14)
	lines = append(lines, s.Muted.Render(ansi.Truncate(padLeft(hTime, tw)+" "+pad(hPLC, pw)+" "+pad(hKind, kw)+" "+c.T("col audit detail"), w, "…")))
	for i, a := range match {
		detail := a.Detail
		if a.Count > 1 {
			detail += fmt.Sprintf(" ×%d", a.Count)
		}
		l := ansi.Truncate(padLeft(times[i], tw)+" "+pad(plcs[i], pw)+" "+pad(kinds[i], kw)+" "+detail, w, "…")
		switch a.Kind {
		case "refused", "exception", "evicted", "frame-timeout":
			l = s.Bad.Render(l)
		case "mode", "logic", "trip", "bypass", "fault":
			l = s.Alert.Render(l)
		}
		lines = append(lines, l)
	}
	return lines, shown, total
}
