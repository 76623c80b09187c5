package common

import "github.com/charmbracelet/bubbles/key"

// KeyMap is every key binding, with help text.
type KeyMap struct {
	NextTab key.Binding
	PrevTab key.Binding
	Tab1    key.Binding
	Up      key.Binding
	Down    key.Binding
	Select  key.Binding
	Back    key.Binding
	Yes     key.Binding
	No      key.Binding
	Lang    key.Binding
	Help    key.Binding
	Quit    key.Binding
	PgUp    key.Binding
	PgDown  key.Binding
	// The traffic page's filters.
	FilterPLC    key.Binding
	FilterSource key.Binding
	FilterFC     key.Binding
	WritesOnly   key.Binding
	AuditView    key.Binding
	ClearFilters key.Binding
	Order        key.Binding
}

// DefaultKeys are the bindings.
func DefaultKeys() KeyMap {
	return KeyMap{
		NextTab: key.NewBinding(key.WithKeys("tab", "right", "l"), key.WithHelp("tab/→", "next page")),
		PrevTab: key.NewBinding(key.WithKeys("shift+tab", "left", "h"), key.WithHelp("shift+tab/←", "previous page")),
		Tab1:    key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7"), key.WithHelp("1-7", "go to page")),
		Up:      key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:    key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Select:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "select")),
		Back:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		Yes:     key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
		No:      key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n", "no")),
		Lang:    key.NewBinding(key.WithKeys("L"), key.WithHelp("L", "English/日本語")),
		Help:    key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:    key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		PgUp:    key.NewBinding(key.WithKeys("pgup", "b"), key.WithHelp("pgup", "page up")),
		PgDown:  key.NewBinding(key.WithKeys("pgdown", "f", " "), key.WithHelp("pgdn", "page down")),
		// On the traffic page these come before the paging keys (f is
		// also page down elsewhere).
		FilterPLC:    key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "cycle PLC")),
		FilterSource: key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "cycle source")),
		FilterFC:     key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "cycle function")),
		WritesOnly:   key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "writes only")),
		AuditView:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "traffic/audit")),
		ClearFilters: key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "clear filters")),
		Order:        key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "newest/oldest first")),
	}
}

// FullHelp groups the bindings for the help page.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.NextTab, k.PrevTab, k.Tab1},
		{k.Up, k.Down, k.PgUp, k.PgDown},
		{k.Select, k.Back, k.Yes, k.No},
		// The traffic page's keys go under the last column: a fifth
		// would not fit 80 columns.
		{k.Lang, k.Help, k.Quit, k.FilterPLC, k.FilterSource, k.FilterFC, k.WritesOnly, k.AuditView, k.ClearFilters, k.Order},
	}
}

// ShortHelp is the footer line.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.NextTab, k.Select, k.Lang, k.Help, k.Quit}
}

// In returns the bindings with their help text in lang, for the footer and
// the help page.
func (k KeyMap) In(lang string) KeyMap {
	if lang != "ja" {
		return k
	}
	for _, b := range []*key.Binding{&k.NextTab, &k.PrevTab, &k.Tab1, &k.Up, &k.Down, &k.Select, &k.Back,
		&k.Yes, &k.No, &k.Lang, &k.Help, &k.Quit, &k.PgUp, &k.PgDown,
		&k.FilterPLC, &k.FilterSource, &k.FilterFC, &k.WritesOnly, &k.AuditView, &k.ClearFilters, &k.Order} {
		h := b.Help()
		if t := Translate(lang, "key "+h.Desc); t != "key "+h.Desc {
			b.SetHelp(h.Key, t)
		}
	}
	return k
}
