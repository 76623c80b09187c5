// Package pages holds the terminal UI's pages: plant, feed, objectives,
// questions, actions and hints.
package pages

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/icsrange/icsrange/engine/scenario"
	"github.com/icsrange/icsrange/tui/common"
)

// Page is one screen of the UI.
type Page interface {
	// Update handles a message; pages see every message so they keep in
	// step with new views and replies.
	Update(msg tea.Msg) (Page, tea.Cmd)
	// View renders the page into the body area.
	View() string
	// Capturing reports whether the page is taking typed input, so global
	// keys (q, tabs, L) must pass through to it.
	Capturing() bool
}

// text picks a scenario text in the current language.
func text(c *common.Common, t scenario.Text) string { return t.In(c.Lang) }

// BodyHeight is the rows a page may use.
func BodyHeight(c *common.Common) int { return max(3, c.Height-3) }

// truncate cuts s to w cells.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if lipgloss.Width(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && lipgloss.Width(string(r))+1 > w {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// wrap breaks s into lines of at most w cells (CJK aware: by width, not bytes).
func wrap(s string, w int) []string {
	if w <= 4 {
		return []string{s}
	}
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range splitWords(para) {
			if line != "" && lipgloss.Width(line+word) > w {
				lines = append(lines, strings.TrimRight(line, " "))
				line = strings.TrimLeft(word, " ")
				continue
			}
			line += word
		}
		lines = append(lines, strings.TrimRight(line, " "))
	}
	return lines
}

// splitWords splits on spaces and between CJK characters, so Japanese
// text wraps too.
func splitWords(s string) []string {
	var out []string
	cur := ""
	for _, r := range s {
		wide := lipgloss.Width(string(r)) > 1
		switch {
		case r == ' ':
			out = append(out, cur+" ")
			cur = ""
		case wide:
			if cur != "" {
				out = append(out, cur)
			}
			out = append(out, string(r))
			cur = ""
		default:
			cur += string(r)
		}
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// clock formats exercise milliseconds as m:ss.
func clock(ms int64) string {
	s := ms / 1000
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// statusIcon marks an objective's status.
func statusIcon(c *common.Common, status string) string {
	switch status {
	case "achieved":
		return c.Styles.Good.Render("✓")
	case "failed":
		return c.Styles.Bad.Render("✗")
	}
	return c.Styles.Muted.Render("·")
}

// window returns the visible rows of a list with a cursor.
func window(rows []string, offset, height int) []string {
	if offset > len(rows) {
		offset = len(rows)
	}
	end := min(len(rows), offset+height)
	return rows[offset:end]
}
