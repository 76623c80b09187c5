// Package common holds what every part of the terminal UI shares: the
// size, styles, key bindings, language and the data the server sent.
package common

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/icsrange/icsrange/engine"
)

// Common is the shared context passed to every page.
type Common struct {
	Width, Height int
	Styles        *Styles
	Keys          KeyMap
	Lang          string // en or ja
	Data          *Data
	// Send sends a command to the server and returns a tea.Cmd that
	// delivers its Reply.
	Send func(kind string, data any) tea.Cmd
}

// T translates a UI string into the current language.
func (c *Common) T(key string) string { return Translate(c.Lang, key) }

// Data is what the server has told us.
type Data struct {
	View     engine.TeamView
	HaveView bool
	Events   []engine.EventView
	Trends   map[string][]float64 // "plc.tag" → samples, oldest first
	LastSeq  int64
	// Traffic is the team's Modbus traffic log as far as we have seen it,
	// oldest first (ids ascending), at most MaxTraffic rows.
	Traffic []engine.TrafficView
	// Audit is the PLCs' audit trail, oldest first, at most MaxAudit rows.
	Audit []engine.AuditView
}

// MaxEvents bounds the feed kept in memory.
const MaxEvents = 500

// MaxTrend bounds each trend.
const MaxTrend = 120

// MaxTraffic bounds the traffic rows kept in memory.
const MaxTraffic = 2000

// MaxAudit bounds the audit rows kept in memory.
const MaxAudit = 500

// AddTraffic appends traffic rows newer than those held (a live batch may
// repeat rows the snapshot already carried), dropping the oldest beyond
// MaxTraffic.
func (d *Data) AddTraffic(rows []engine.TrafficView) {
	var last int64
	if n := len(d.Traffic); n > 0 {
		last = d.Traffic[n-1].ID
	}
	for _, r := range rows {
		if r.ID > last {
			d.Traffic = append(d.Traffic, r)
			last = r.ID
		}
	}
	if len(d.Traffic) > MaxTraffic {
		d.Traffic = append([]engine.TrafficView(nil), d.Traffic[len(d.Traffic)-MaxTraffic:]...)
	}
}

// AddAudit appends audit rows newer than those held, dropping the oldest
// beyond MaxAudit.
func (d *Data) AddAudit(rows []engine.AuditView) {
	var last int64
	if n := len(d.Audit); n > 0 {
		last = d.Audit[n-1].ID
	}
	for _, a := range rows {
		if a.ID > last {
			d.Audit = append(d.Audit, a)
			last = a.ID
		}
	}
	if len(d.Audit) > MaxAudit {
		d.Audit = append([]engine.AuditView(nil), d.Audit[len(d.Audit)-MaxAudit:]...)
	}
}

// AddEvent appends to the feed, dropping the oldest beyond MaxEvents.
func (d *Data) AddEvent(e engine.EventView) {
	d.Events = append(d.Events, e)
	if len(d.Events) > MaxEvents {
		d.Events = d.Events[len(d.Events)-MaxEvents:]
	}
}

// AddSample records the analog HMI values of a view.
func (d *Data) AddSample(v engine.TeamView) {
	if d.Trends == nil {
		d.Trends = map[string][]float64{}
	}
	for _, p := range v.Plant {
		for _, t := range p.Tags {
			if t.Table != "ir" {
				continue
			}
			k := p.ID + "." + t.Name
			s := append(d.Trends[k], t.Value)
			if len(s) > MaxTrend {
				s = s[len(s)-MaxTrend:]
			}
			d.Trends[k] = s
		}
	}
}

// Reply is the server's answer to a command.
type Reply struct {
	Kind string
	Data []byte // JSON
	Err  error
}

// ErrorMsg is an error shown in the status line.
type ErrorMsg struct{ Err error }

// ShortHelp is what the footer shows.
func (c *Common) ShortHelp(extra ...key.Binding) []key.Binding {
	return append(extra, c.Keys.NextTab, c.Keys.Lang, c.Keys.Help, c.Keys.Quit)
}
