package common

import "github.com/charmbracelet/lipgloss"

// Styles is every style the UI uses, in one place.
type Styles struct {
	App       lipgloss.Style
	Header    lipgloss.Style
	Title     lipgloss.Style
	Muted     lipgloss.Style
	TabActive lipgloss.Style
	Tab       lipgloss.Style
	Box       lipgloss.Style
	BoxTitle  lipgloss.Style
	Selected  lipgloss.Style
	Good      lipgloss.Style
	Bad       lipgloss.Style
	Alert     lipgloss.Style
	Alarm     lipgloss.Style // an active alarm or trip bit
	Value     lipgloss.Style
	Spark     lipgloss.Style
	Footer    lipgloss.Style
	Dialog    lipgloss.Style
	Connected lipgloss.Style
	Offline   lipgloss.Style
}

// DefaultStyles are the styles.
func DefaultStyles() *Styles {
	accent := lipgloss.AdaptiveColor{Light: "#005f87", Dark: "#5fafff"}
	muted := lipgloss.AdaptiveColor{Light: "#6c6c6c", Dark: "#8a8a8a"}
	good := lipgloss.AdaptiveColor{Light: "#00875f", Dark: "#5fd787"}
	bad := lipgloss.AdaptiveColor{Light: "#af0000", Dark: "#ff5f5f"}
	alert := lipgloss.AdaptiveColor{Light: "#af5f00", Dark: "#ffaf5f"}
	return &Styles{
		App:       lipgloss.NewStyle(),
		Header:    lipgloss.NewStyle().Bold(true),
		Title:     lipgloss.NewStyle().Bold(true).Foreground(accent),
		Muted:     lipgloss.NewStyle().Foreground(muted),
		TabActive: lipgloss.NewStyle().Bold(true).Reverse(true).Padding(0, 1),
		Tab:       lipgloss.NewStyle().Foreground(muted).Padding(0, 1),
		Box:       lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(muted).Padding(0, 1),
		BoxTitle:  lipgloss.NewStyle().Bold(true).Foreground(accent),
		Selected:  lipgloss.NewStyle().Bold(true).Foreground(accent),
		Good:      lipgloss.NewStyle().Foreground(good),
		Bad:       lipgloss.NewStyle().Foreground(bad),
		Alert:     lipgloss.NewStyle().Foreground(alert),
		Alarm:     lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("#ffffff")).Background(bad),
		Value:     lipgloss.NewStyle().Bold(true),
		Spark:     lipgloss.NewStyle().Foreground(accent),
		Footer:    lipgloss.NewStyle().Foreground(muted),
		Dialog:    lipgloss.NewStyle().Border(lipgloss.DoubleBorder()).BorderForeground(alert).Padding(0, 1),
		Connected: lipgloss.NewStyle().Foreground(good),
		Offline:   lipgloss.NewStyle().Foreground(bad).Bold(true),
	}
}
