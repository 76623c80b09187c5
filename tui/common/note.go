package common

import "fmt"

// Note is a line of feedback a page shows: an answer's result, an action's
// outcome, a server's error. It keeps what to say, not the words; the
// words are looked up when the page is drawn, so a language switch redraws
// it like every other line.
type Note struct {
	Level string // good, bad, alert or muted: how it is styled
	Key   string // a UI string, a format for Args
	Args  []any  // a N or a Word among them is worded in the language too
	Text  string // words from the server, shown as they are (without Key)
}

// N is a Note argument: n of something, worded by Count.
type N struct {
	Key string
	N   int
}

// Word is a Note argument: a UI string's key, or a word from the server
// (an effect's outcome) shown as it is when there is no UI string for it.
type Word string

// F formats a UI string with verbs in the current language; N and Word
// arguments are worded too.
func (c *Common) F(key string, args ...any) string {
	for i, a := range args {
		switch a := a.(type) {
		case N:
			args[i] = Count(c.Lang, a.Key, a.N)
		case Word:
			args[i] = c.T(string(a))
		}
	}
	return fmt.Sprintf(c.T(key), args...)
}

// N words a count in the current language ("2 attempts left", "残り2回").
func (c *Common) N(key string, n int, more ...any) string { return Count(c.Lang, key, n, more...) }

// Note renders a note in the current language and its level's style; the
// zero Note is "".
func (c *Common) Note(n Note) string {
	text := n.Text
	if n.Key != "" {
		text = c.F(n.Key, append([]any(nil), n.Args...)...)
	}
	if text == "" {
		return ""
	}
	s := c.Styles
	switch n.Level {
	case "good":
		return s.Good.Render(text)
	case "bad":
		return s.Bad.Render(text)
	case "alert":
		return s.Alert.Render(text)
	case "muted":
		return s.Muted.Render(text)
	}
	return text
}
