package pages

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/tui/common"
)

// Feed lists what happened: inject messages, broadcasts, hints, score
// changes with reasons. It follows the newest event unless scrolled back.
type Feed struct {
	c      *common.Common
	vp     viewport.Model
	follow bool
}

// NewFeed makes the feed page.
func NewFeed(c *common.Common) *Feed { return &Feed{c: c, vp: viewport.New(0, 0), follow: true} }

// Capturing is false.
func (f *Feed) Capturing() bool { return false }

// Update scrolls; scrolling up stops following, reaching the end resumes.
func (f *Feed) Update(msg tea.Msg) (Page, tea.Cmd) {
	if m, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(m, f.c.Keys.Up):
			f.vp.ScrollUp(1)
		case key.Matches(m, f.c.Keys.Down):
			f.vp.ScrollDown(1)
		case key.Matches(m, f.c.Keys.PgUp):
			f.vp.PageUp()
		case key.Matches(m, f.c.Keys.PgDown):
			f.vp.PageDown()
		default:
			return f, nil
		}
		f.follow = f.vp.AtBottom()
	}
	return f, nil
}

// View renders the feed at full width.
func (f *Feed) View() string { return f.Render(f.c.Width, BodyHeight(f.c)) }

// Render renders the feed into a box of the given size.
func (f *Feed) Render(width, height int) string {
	c := f.c
	evs := c.Data.Events
	if len(evs) == 0 {
		return c.Styles.Muted.Render(c.T("empty feed"))
	}
	var lines []string
	for _, e := range evs {
		lines = append(lines, f.line(e, width)...)
	}
	f.vp.Width, f.vp.Height = width, height
	f.vp.SetContent(strings.Join(lines, "\n"))
	if f.follow {
		f.vp.GotoBottom()
	}
	return f.vp.View()
}

func (f *Feed) line(e engine.EventView, width int) []string {
	s := f.c.Styles
	msg := e.Text.In(f.c.Lang)
	if e.Points != 0 {
		msg += fmt.Sprintf(" (%+d)", e.Points)
	}
	prefix := fmt.Sprintf("%7s  ", clock(e.ClockMS))
	body := wrap(msg, max(10, width-len(prefix)))
	style := s.App
	switch e.Level {
	case "good":
		style = s.Good
	case "bad":
		style = s.Bad
	case "alert":
		style = s.Alert
	}
	out := []string{s.Muted.Render(prefix) + style.Render(body[0])}
	for _, b := range body[1:] {
		out = append(out, strings.Repeat(" ", len(prefix))+style.Render(b))
	}
	return out
}
