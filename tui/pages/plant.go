package pages

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/tui/common"
	"github.com/icsrange/icsrange/tui/components"
)

// Plant is the team's HMI: each PLC's reported values with units and
// trends, its alarms, setpoints and modes.
type Plant struct {
	c  *common.Common
	vp viewport.Model
}

// NewPlant makes the plant page.
func NewPlant(c *common.Common) *Plant { return &Plant{c: c, vp: viewport.New(0, 0)} }

// Capturing is false: the plant page takes no typing.
func (p *Plant) Capturing() bool { return false }

// Update scrolls.
func (p *Plant) Update(msg tea.Msg) (Page, tea.Cmd) {
	if m, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(m, p.c.Keys.Up):
			p.vp.ScrollUp(1)
		case key.Matches(m, p.c.Keys.Down):
			p.vp.ScrollDown(1)
		case key.Matches(m, p.c.Keys.PgUp):
			p.vp.PageUp()
		case key.Matches(m, p.c.Keys.PgDown):
			p.vp.PageDown()
		}
	}
	return p, nil
}

// View renders every PLC, in two columns when the terminal is wide.
func (p *Plant) View() string {
	c := p.c
	if !c.Data.HaveView {
		return c.Styles.Muted.Render(c.T("no data"))
	}
	plcs := c.Data.View.Plant
	cols := 1
	if c.Width >= 120 && len(plcs) > 1 {
		cols = 2
	}
	boxW := c.Width/cols - 1
	var rows []string
	for i := 0; i < len(plcs); i += cols {
		var boxes []string
		for j := i; j < min(i+cols, len(plcs)); j++ {
			boxes = append(boxes, p.box(plcs[j], boxW))
		}
		rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, boxes...))
	}
	p.vp.Width, p.vp.Height = c.Width, BodyHeight(c)
	p.vp.SetContent(strings.Join(rows, "\n"))
	return p.vp.View()
}

func (p *Plant) box(plc engine.PLCView, width int) string {
	c := p.c
	s := c.Styles
	inner := max(20, width-4)
	title := s.BoxTitle.Render(plc.ID) + " " + truncate(text(c, plc.Title), inner-len(plc.ID)-1)
	addr := s.Muted.Render(fmt.Sprintf("%s %s %s %d", c.T("modbus"), plc.Modbus, c.T("unit"), plc.UnitID))
	lines := []string{title, addr}
	// The traffic indicators: something is writing, someone new is
	// talking; the traffic page says who.
	ind := s.Muted.Render(fmt.Sprintf("%s %d", c.T("writes/min"), plc.Traffic.WritesPerMin))
	if plc.Traffic.WritesPerMin > 0 {
		ind = s.Alert.Render(fmt.Sprintf("%s %d", c.T("writes/min"), plc.Traffic.WritesPerMin))
	}
	if plc.Traffic.NewTalkers > 0 {
		ind += " " + s.Alarm.Render(" "+c.T("new talker")+" ")
	}
	if lipgloss.Width(addr)+2+lipgloss.Width(ind) <= inner {
		lines[1] = addr + "  " + ind
	} else {
		lines = append(lines, ind)
	}
	if !plc.Online {
		why := map[string]string{engine.HostStatusPaused: "hmi paused", engine.HostStatusDisconnected: "hmi cut off"}[plc.HMI]
		if why == "" {
			why = "hmi offline"
		}
		lines = append(lines, s.Offline.Render(truncate(c.T(why)+" "+plc.Modbus, inner)))
		return s.Box.Width(width - 2).Render(strings.Join(lines, "\n"))
	}
	nameW := 0
	for _, t := range plc.Tags {
		if t.Table == "ir" {
			nameW = max(nameW, len(t.Name))
		}
	}
	sparkW := max(0, inner-nameW-20)
	var alarms, setpoints, modes []string
	for _, t := range plc.Tags {
		switch t.Table {
		case "ir":
			val := fmt.Sprintf("%9.2f %-6s", t.Value, t.Unit)
			spark := components.Sparkline(c.Data.Trends[plc.ID+"."+t.Name], sparkW, t.Min, t.Max)
			lines = append(lines, fmt.Sprintf("%-*s %s %s", nameW, t.Name, s.Value.Render(val), s.Spark.Render(spark)))
		case "di":
			if t.Value >= 0.5 && (t.Class == "alarm" || t.Class == "trip") {
				alarms = append(alarms, s.Alarm.Render(" "+t.Name+" "))
			}
		case "hr":
			setpoints = append(setpoints, fmt.Sprintf("%s %s", t.Name, s.Value.Render(fmt.Sprintf("%.2f", t.Value))+t.Unit))
		case "co":
			mark := "○"
			if t.Value >= 0.5 {
				mark = "●"
			}
			modes = append(modes, t.Name+" "+mark)
		}
	}
	if len(alarms) > 0 {
		lines = append(lines, c.T("alarms")+": "+strings.Join(alarms, " "))
	} else {
		lines = append(lines, s.Good.Render(c.T("no alarms")))
	}
	lines = append(lines, wrapJoin(modes, inner, "  ")...)
	lines = append(lines, wrapJoin(setpoints, inner, " · ")...)
	return s.Box.Width(width - 2).Render(strings.Join(lines, "\n"))
}

// wrapJoin joins items with sep into lines of at most w cells.
func wrapJoin(items []string, w int, sep string) []string {
	var out []string
	line := ""
	for _, it := range items {
		switch {
		case line == "":
			line = it
		case lipgloss.Width(line+sep+it) > w:
			out = append(out, line)
			line = it
		default:
			line += sep + it
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}
