package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/tui/common"
	"github.com/icsrange/icsrange/tui/pages"
)

// Page indexes, in tab order.
const (
	pagePlant = iota
	pageFeed
	pageObjectives
	pageQuestions
	pageActions
	pageHints
	pageTraffic
)

var pageKeys = []string{"plant", "feed", "objectives", "questions", "actions", "hints", "traffic"}

// Model is the root model: header, tabs, the active page and the footer.
type Model struct {
	c      *common.Common
	next   tea.Cmd // waits for the client's next message
	pages  []pages.Page
	feed   *pages.Feed
	side   *pages.Feed // the feed beside a page on wide terminals
	active int
	help   help.Model
	full   bool // full help shown
	conn   ConnMsg
	status string
}

// NewModel builds the UI. send delivers commands to the server and next
// waits for the server's next message (a Client's Send and Next); tests
// pass fakes.
func NewModel(lang string, send func(string, any) tea.Cmd, next tea.Cmd) *Model {
	if lang != "ja" {
		lang = "en"
	}
	c := &common.Common{Width: 80, Height: 24, Styles: common.DefaultStyles(), Keys: common.DefaultKeys(),
		Lang: lang, Data: &common.Data{Trends: map[string][]float64{}}, Send: send}
	m := &Model{c: c, next: next, help: help.New(), conn: ConnMsg{State: "connecting"}}
	m.feed = pages.NewFeed(c)
	m.side = pages.NewFeed(c)
	m.pages = []pages.Page{pages.NewPlant(c), m.feed, pages.NewObjectives(c), pages.NewQuestions(c), pages.NewActions(c), pages.NewHints(c),
		pages.NewTraffic(c)}
	return m
}

// Init starts listening to the client.
func (m *Model) Init() tea.Cmd { return m.next }

// Update handles server messages, keys and resizes.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	c := m.c
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		c.Width, c.Height = msg.Width, msg.Height
		m.help.Width = msg.Width
		return m, nil
	case ConnMsg:
		m.conn = msg
		if msg.State == "rejected" {
			m.status = c.Styles.Bad.Render(fmt.Sprint(msg.Err))
			return m, nil // no more messages will come
		}
		return m, m.next
	case SnapshotMsg:
		d := c.Data
		d.View, d.HaveView = msg.View, true
		if !msg.Resumed {
			d.Events, d.Traffic, d.Audit = nil, nil, nil
		}
		d.AddTraffic(msg.Traffic)
		d.AddAudit(msg.Audit)
		for _, e := range msg.Events {
			d.AddEvent(e)
		}
		if len(msg.Trends) > 0 {
			d.Trends = msg.Trends
		}
		d.LastSeq = msg.Seq
		return m, m.next
	case ViewMsg:
		c.Data.View, c.Data.HaveView = msg.View, true
		c.Data.AddSample(msg.View)
		return m, m.next
	case EventMsg:
		c.Data.AddEvent(msg.Event)
		c.Data.LastSeq = msg.Event.Seq
		return m, m.next
	case TrafficMsg:
		c.Data.AddTraffic(msg.Traffic)
		c.Data.AddAudit(msg.Audit)
		return m, m.next
	case common.Reply:
		// The page that sent the command shows the reply; the server pushes
		// the changed view right after the event is committed.
		var cmds []tea.Cmd
		for i, p := range m.pages {
			var cmd tea.Cmd
			m.pages[i], cmd = p.Update(msg)
			cmds = append(cmds, cmd)
		}
		return m, tea.Batch(cmds...)
	case common.ErrorMsg:
		m.status = c.Styles.Bad.Render(msg.Err.Error())
		return m, nil
	case tea.KeyMsg:
		return m, m.key(msg)
	}
	var cmd tea.Cmd
	m.pages[m.active], cmd = m.pages[m.active].Update(msg)
	return m, cmd
}

func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	c := m.c
	page := m.pages[m.active]
	if page.Capturing() {
		if k.Type == tea.KeyCtrlC {
			return tea.Quit
		}
		var cmd tea.Cmd
		m.pages[m.active], cmd = page.Update(k)
		return cmd
	}
	switch {
	case key.Matches(k, c.Keys.Quit):
		return tea.Quit
	case key.Matches(k, c.Keys.Help):
		m.full = !m.full
	case key.Matches(k, c.Keys.Lang):
		if c.Lang == "en" {
			c.Lang = "ja"
		} else {
			c.Lang = "en"
		}
	case key.Matches(k, c.Keys.NextTab):
		m.active = (m.active + 1) % len(m.pages)
	case key.Matches(k, c.Keys.PrevTab):
		m.active = (m.active + len(m.pages) - 1) % len(m.pages)
	case key.Matches(k, c.Keys.Tab1):
		m.active = int(k.Runes[0] - '1')
	default:
		var cmd tea.Cmd
		m.pages[m.active], cmd = page.Update(k)
		return cmd
	}
	return nil
}

// View draws the screen.
func (m *Model) View() string {
	c := m.c
	var b strings.Builder
	b.WriteString(m.header())
	b.WriteString("\n")
	b.WriteString(m.tabs())
	b.WriteString("\n")
	body := m.body()
	if r := m.finalRanking(); r != "" {
		body = r + "\n" + body
	}
	h := pages.BodyHeight(c)
	lines := strings.Split(body, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	b.WriteString(strings.Join(lines, "\n"))
	b.WriteString("\n")
	b.WriteString(m.footer())
	return b.String()
}

func (m *Model) body() string {
	c := m.c
	if m.full {
		return m.help.FullHelpView(c.Keys.In(c.Lang).FullHelp())
	}
	// The feed page is the feed; the traffic page's table wants the width.
	if c.Width >= 120 && m.active != pageFeed && m.active != pageTraffic {
		full := c.Width
		leftW := full * 62 / 100
		c.Width = leftW
		left := m.pages[m.active].View()
		c.Width = full
		right := m.side.Render(full-leftW-3, pages.BodyHeight(c))
		// One " │ " per row: padding a multi-line string only pads its
		// first and last lines.
		sep := strings.Repeat(" "+c.Styles.Muted.Render("│")+" \n", pages.BodyHeight(c))
		return lipgloss.JoinHorizontal(lipgloss.Top, lipgloss.NewStyle().Width(leftW).Render(left), strings.TrimSuffix(sep, "\n"), right)
	}
	return m.pages[m.active].View()
}

func (m *Model) header() string {
	c := m.c
	s := c.Styles
	conn := s.Offline.Render(c.T(m.conn.State))
	switch m.conn.State {
	case "connected":
		conn = s.Connected.Render("● " + c.T("connected"))
	case "reconnecting":
		conn = s.Alert.Render(fmt.Sprintf("○ %s %v", c.T("reconnecting"), m.conn.Retry.Round(100*time.Millisecond)))
	case "connecting":
		conn = s.Muted.Render("○ " + c.T("connecting"))
	}
	if !c.Data.HaveView {
		return truncate("icsrange", c.Width-lipgloss.Width(conn)-1) + " " + conn
	}
	v := c.Data.View
	phase := c.T(string(v.Exercise.Phase))
	switch v.Exercise.Phase {
	case engine.PhasePaused:
		phase = s.Alarm.Render(" " + phase + " ")
	case engine.PhaseEnded:
		phase = s.Value.Render(phase)
	}
	// Once ended, nothing is left to count down.
	if v.Exercise.Phase != engine.PhaseEnded {
		left := max(0, v.Exercise.DurationMS-v.Exercise.ClockMS)
		phase += " · " + c.F("time left", clockOf(left))
	}
	right := fmt.Sprintf("%s %s · %s · %s %s · %s %d/%d · %s",
		c.T("team"), s.Value.Render(v.Team), phase,
		c.T("score"), s.Value.Render(fmt.Sprint(v.Score)), c.T("rank"), v.Rank, v.Exercise.Teams, conn)
	if c.Width-lipgloss.Width(right)-1 < 2 {
		// No room for the title: the status alone, cut to fit.
		return truncate(right, c.Width)
	}
	title := truncate(v.Exercise.Title.In(c.Lang), c.Width-lipgloss.Width(right)-1)
	gap := max(1, c.Width-lipgloss.Width(title)-lipgloss.Width(right))
	return s.Title.Render(title) + strings.Repeat(" ", gap) + right
}

// finalRanking is the box above the page once the exercise has ended: the
// first places and the team's own.
func (m *Model) finalRanking() string {
	c := m.c
	v := c.Data.View
	if !c.Data.HaveView || v.Exercise.Phase != engine.PhaseEnded || len(v.Ranking) == 0 {
		return ""
	}
	const shown = 5
	s := c.Styles
	lines := []string{s.BoxTitle.Render(c.T("final ranking"))}
	line := func(p engine.Placing) string {
		l := fmt.Sprintf("%2d. %-16s %6d %s", p.Rank, truncate(p.Team, 16), p.Score, c.T("points"))
		if p.Team == v.Team {
			return s.Selected.Render(l + "  ◀ " + c.T("your team"))
		}
		return l
	}
	for i, p := range v.Ranking {
		switch {
		case i < shown:
			lines = append(lines, line(p))
		case p.Team == v.Team:
			lines = append(lines, s.Muted.Render("  …"), line(p))
		}
	}
	return s.Box.Width(max(10, c.Width-3)).Render(strings.Join(lines, "\n"))
}

func (m *Model) tabs() string {
	c := m.c
	var parts []string
	for i, k := range pageKeys {
		label := fmt.Sprintf("%d %s", i+1, c.T(k))
		if i == m.active {
			parts = append(parts, c.Styles.TabActive.Render(label))
		} else {
			parts = append(parts, c.Styles.Tab.Render(label))
		}
	}
	return truncate(strings.Join(parts, ""), c.Width)
}

func (m *Model) footer() string {
	c := m.c
	if m.status != "" {
		return truncate(m.status, c.Width)
	}
	return c.Styles.Footer.Render(truncate(m.help.ShortHelpView(c.Keys.In(c.Lang).ShortHelp()), c.Width))
}

func clockOf(ms int64) string {
	s := ms / 1000
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// truncate cuts s to w cells; s may be styled (the tabs, the help line),
// so escape sequences are kept whole.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	return ansi.Truncate(s, w, "…")
}

// Run runs the terminal UI against a server until the user quits.
func Run(ctx context.Context, client *Client, lang string, opts ...tea.ProgramOption) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go client.Run(ctx)
	m := NewModel(lang, client.Send, client.Next)
	p := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithAltScreen(), tea.WithContext(ctx)}, opts...)...)
	_, err := p.Run()
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}
