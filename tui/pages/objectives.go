package pages

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/icsrange/icsrange/tui/common"
)

// Objectives lists what the team scores on and how it stands.
type Objectives struct{ c *common.Common }

// NewObjectives makes the objectives page.
func NewObjectives(c *common.Common) *Objectives { return &Objectives{c: c} }

// Capturing is false.
func (o *Objectives) Capturing() bool { return false }

// Update does nothing: the page only shows.
func (o *Objectives) Update(tea.Msg) (Page, tea.Cmd) { return o, nil }

// View lists the objectives.
func (o *Objectives) View() string {
	c := o.c
	if !c.Data.HaveView {
		return c.Styles.Muted.Render(c.T("no data"))
	}
	var lines []string
	for _, ob := range c.Data.View.Objectives {
		pts := fmt.Sprintf("%4d/%-4d %s", ob.Earned, ob.Points, c.T("points"))
		status := c.T(ob.Status)
		w := max(10, c.Width-32)
		title := truncate(text(c, ob.Title), w)
		// Pad by cells, not runes: Japanese titles are two cells a character.
		title += strings.Repeat(" ", max(0, w-lipgloss.Width(title)))
		lines = append(lines, fmt.Sprintf(" %s %s %s  %s", statusIcon(c, ob.Status), title, c.Styles.Value.Render(pts), c.Styles.Muted.Render(status)))
	}
	return strings.Join(window(lines, 0, BodyHeight(c)), "\n")
}
