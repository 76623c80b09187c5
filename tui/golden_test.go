package tui

import (
	"os"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"
)

// Screens are compared as plain text: no colors, whatever the terminal
// running the tests.
func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii)
	lipgloss.SetHasDarkBackground(true)
	os.Exit(m.Run())
}

// goldenScreen drives a model through teatest at a fixed size with the
// fixture's data, applies steps, quits and compares the last frame with
// testdata/<test name>.golden (rewrite with: go test ./tui -run Golden -update).
func goldenScreen(t *testing.T, w, h int, lang string, steps ...tea.Msg) {
	t.Helper()
	f := newFake()
	f.nextMsg = nil // the fake client has nothing more to say
	m := NewModel(lang, f.send, f.next)
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	tm.Send(ConnMsg{State: "connected"})
	tm.Send(fixtureSnapshot())
	for _, s := range steps {
		tm.Send(s)
	}
	// Send blocks until the program takes the message, and the program
	// handles messages in order: the final model has seen every step.
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	view := fm.View()
	lines := strings.Split(view, "\n")
	if len(lines) > h || len(lines) < h-1 {
		t.Errorf("%d lines on a %d-line terminal", len(lines), h)
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			t.Errorf("line %d is %d cells wide on a %d-column terminal: %q", i+1, lw, w, l)
		}
		if strings.ContainsRune(l, '\x1b') {
			t.Errorf("line %d has escape sequences: %q", i+1, l)
		}
	}
	if len(f.sent) != 0 {
		t.Errorf("sent %v", f.sent)
	}
	teatest.RequireEqualOutput(t, []byte(view+"\n"))
}

func TestGoldenPlant(t *testing.T) { goldenScreen(t, 80, 24, "en") }

func TestGoldenPlantWide(t *testing.T) { goldenScreen(t, 120, 32, "en") }

func TestGoldenPlantJapanese(t *testing.T) { goldenScreen(t, 80, 24, "en", runes("L")) }

func TestGoldenFeed(t *testing.T) { goldenScreen(t, 80, 24, "en", runes("2")) }

func TestGoldenQuestionsInput(t *testing.T) {
	goldenScreen(t, 80, 24, "en", runes("4"), keyEnter, runes("4"), runes("0"))
}

func TestGoldenActionsConfirm(t *testing.T) {
	goldenScreen(t, 80, 24, "en", runes("5"), keyDown, keyDown, keyEnter)
}

func TestGoldenEnded(t *testing.T) { goldenScreen(t, 80, 24, "en", ViewMsg{View: endedView()}) }

func TestGoldenReconnectingJapanese(t *testing.T) {
	goldenScreen(t, 80, 24, "ja", runes("6"), ConnMsg{State: "reconnecting", Retry: 3200 * time.Millisecond})
}

// Hints by title, and buying one asks with its title and cost.
func TestGoldenHintsConfirm(t *testing.T) {
	goldenScreen(t, 80, 24, "en", runes("6"), keyDown, keyEnter)
}
