package pages

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/tui/common"
	"github.com/icsrange/icsrange/tui/components"
)

// Actions lists the responses a team may take, each confirmed first.
type Actions struct {
	c          *common.Common
	cur        components.Cursor
	confirming bool
	result     common.Note
	busy       bool
}

// NewActions makes the actions page.
func NewActions(c *common.Common) *Actions { return &Actions{c: c} }

// Capturing is true while asking for confirmation.
func (a *Actions) Capturing() bool { return a.confirming }

func (a *Actions) list() []engine.ActionView {
	if !a.c.Data.HaveView {
		return nil
	}
	return a.c.Data.View.Actions
}

// Update moves, confirms and takes actions.
func (a *Actions) Update(msg tea.Msg) (Page, tea.Cmd) {
	c := a.c
	as := a.list()
	switch m := msg.(type) {
	case common.Reply:
		if m.Kind != "action" {
			return a, nil
		}
		a.busy = false
		if m.Err != nil {
			a.result = common.Note{Level: "bad", Text: m.Err.Error()}
			return a, nil
		}
		var r struct {
			Effects []struct{ Outcome string } `json:"effects"`
		}
		json.Unmarshal(m.Data, &r)
		a.result = common.Note{Level: "good", Key: "action done"}
		for _, e := range r.Effects {
			if e.Outcome != "ok" {
				a.result = common.Note{Level: "alert", Key: "action outcome", Args: []any{common.Word(e.Outcome)}}
			}
		}
	case tea.KeyMsg:
		if a.confirming {
			switch {
			case key.Matches(m, c.Keys.Yes):
				a.confirming, a.busy = false, true
				a.result = common.Note{Level: "muted", Text: "…"}
				return a, c.Send("action", map[string]string{"action": as[a.cur.Index].ID})
			case key.Matches(m, c.Keys.No):
				a.confirming = false
			}
			return a, nil
		}
		switch {
		case key.Matches(m, c.Keys.Up):
			a.cur.Move(-1, len(as), BodyHeight(c)-6)
		case key.Matches(m, c.Keys.Down):
			a.cur.Move(1, len(as), BodyHeight(c)-6)
		case key.Matches(m, c.Keys.Select):
			if len(as) > 0 && as[a.cur.Index].Ready && !a.busy {
				a.confirming, a.result = true, common.Note{}
			}
		}
	}
	return a, nil
}

// View lists actions, their state, and the confirmation dialog.
func (a *Actions) View() string {
	c := a.c
	s := c.Styles
	as := a.list()
	if len(as) == 0 {
		return s.Muted.Render(c.T("no actions"))
	}
	a.cur.Clamp(len(as), BodyHeight(c)-6)
	var rows []string
	for i, it := range as {
		mark := "  "
		if i == a.cur.Index {
			mark = s.Selected.Render("▸ ")
		}
		state := s.Good.Render(c.T("ready"))
		switch {
		case !it.Ready && it.ReadyInMS > 0:
			state = s.Muted.Render(c.F("ready in", (time.Duration(it.ReadyInMS) * time.Millisecond).Round(time.Second)))
		case !it.Ready:
			state = s.Muted.Render(c.T("used"))
		}
		cost := ""
		if it.Cost > 0 {
			cost = s.Alert.Render(" (" + c.F("cost", it.Cost) + ")")
		}
		rows = append(rows, mark+truncate(text(c, it.Title), max(10, c.Width-30))+cost+"  "+state)
	}
	out := window(rows, a.cur.Offset, BodyHeight(c)-6)
	sel := as[a.cur.Index]
	if d := text(c, sel.Description); d != "" {
		out = append(out, "")
		for _, l := range wrap(d, c.Width-2) {
			out = append(out, s.Muted.Render(l))
		}
	}
	if a.confirming {
		msg := c.T("confirm action") + " " + text(c, sel.Title)
		if sel.Cost > 0 {
			msg += " (" + c.F("cost", sel.Cost) + ")"
		}
		out = append(out, s.Dialog.Render(msg+"\n"+c.T("yes no")))
	}
	if r := c.Note(a.result); r != "" {
		out = append(out, r)
	}
	return strings.Join(out, "\n")
}
