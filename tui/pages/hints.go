package pages

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/tui/common"
	"github.com/icsrange/icsrange/tui/components"
)

// Hints lists hints with their cost; buying one asks first.
type Hints struct {
	c          *common.Common
	cur        components.Cursor
	confirming bool
	asking     string // the hint being confirmed
	result     common.Note
}

// NewHints makes the hints page.
func NewHints(c *common.Common) *Hints { return &Hints{c: c} }

// Capturing is true while asking for confirmation.
func (h *Hints) Capturing() bool { return h.confirming }

func (h *Hints) list() []engine.HintView {
	if !h.c.Data.HaveView {
		return nil
	}
	return h.c.Data.View.Hints
}

// Update moves, confirms and requests hints.
func (h *Hints) Update(msg tea.Msg) (Page, tea.Cmd) {
	c := h.c
	hs := h.list()
	switch m := msg.(type) {
	case common.Reply:
		if m.Kind == "hint" {
			h.result = common.Note{}
			if m.Err != nil {
				h.result = common.Note{Level: "bad", Text: m.Err.Error()}
			}
		}
	case tea.KeyMsg:
		if h.confirming {
			switch {
			case key.Matches(m, c.Keys.Yes):
				h.confirming = false
				h.result = common.Note{Level: "muted", Text: "…"}
				return h, c.Send("hint", map[string]string{"hint": h.asking})
			case key.Matches(m, c.Keys.No):
				h.confirming = false
			}
			return h, nil
		}
		switch {
		case key.Matches(m, c.Keys.Up):
			h.cur.Move(-1, len(hs), 1)
		case key.Matches(m, c.Keys.Down):
			h.cur.Move(1, len(hs), 1)
		case key.Matches(m, c.Keys.Select):
			if len(hs) > 0 && !hs[h.cur.Index].Released && hs[h.cur.Index].Requestable {
				h.confirming, h.asking, h.result = true, hs[h.cur.Index].ID, common.Note{}
			}
		}
	}
	return h, nil
}

// View lists hints; released ones show their text.
func (h *Hints) View() string {
	c := h.c
	s := c.Styles
	hs := h.list()
	if len(hs) == 0 {
		return s.Muted.Render(c.T("no hints"))
	}
	if h.confirming {
		// Hints may appear meanwhile: keep the one being confirmed selected.
		for i, it := range hs {
			if it.ID == h.asking {
				h.cur.Index = i
			}
		}
	}
	h.cur.Clamp(len(hs), 1)
	var out []string
	for i, it := range hs {
		mark := "  "
		if i == h.cur.Index {
			mark = s.Selected.Render("▸ ")
		}
		state := s.Alert.Render(c.F("cost", it.Cost))
		if it.Released {
			state = s.Good.Render(c.T("released"))
		}
		out = append(out, mark+truncate(hintTitle(c, it), max(10, c.Width-lipgloss.Width(state)-6))+"  "+state)
		if it.Released && it.Text != nil {
			for _, l := range wrap(text(c, *it.Text), c.Width-6) {
				out = append(out, "    "+l)
			}
		}
	}
	if h.confirming {
		sel := hs[h.cur.Index]
		out = append(out, s.Dialog.Render(c.F("confirm hint", hintTitle(c, sel), sel.Cost)+"\n"+c.T("yes no")))
	}
	if r := c.Note(h.result); r != "" {
		out = append(out, r)
	}
	body := BodyHeight(c)
	if len(out) > body {
		// Keep the selection and the dialog in view.
		out = out[len(out)-body:]
	}
	return strings.Join(out, "\n")
}

// hintTitle is what a hint is about; the id for a server too old to send
// titles.
func hintTitle(c *common.Common, h engine.HintView) string {
	if t := text(c, h.Title); t != "" {
		return t
	}
	return h.ID
}
