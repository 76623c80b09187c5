package pages

import (
	"encoding/json"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/icsrange/icsrange/engine"
	"github.com/icsrange/icsrange/tui/common"
	"github.com/icsrange/icsrange/tui/components"
)

// Questions lists the team's questions; enter opens an answer field.
type Questions struct {
	c        *common.Common
	cur      components.Cursor
	input    textinput.Model
	typing   bool
	asking   string // question id being answered
	feedback common.Note
	busy     bool
}

// NewQuestions makes the questions page.
func NewQuestions(c *common.Common) *Questions {
	in := textinput.New()
	in.CharLimit = engine.MaxAnswerLen
	in.Prompt = "> "
	return &Questions{c: c, input: in}
}

// Capturing is true while typing an answer.
func (q *Questions) Capturing() bool { return q.typing }

func (q *Questions) list() []engine.QuestionView {
	if !q.c.Data.HaveView {
		return nil
	}
	return q.c.Data.View.Questions
}

// Update moves, opens the answer field, submits and shows the result.
func (q *Questions) Update(msg tea.Msg) (Page, tea.Cmd) {
	c := q.c
	qs := q.list()
	switch m := msg.(type) {
	case common.Reply:
		if m.Kind != "answer" {
			return q, nil
		}
		q.busy = false
		if m.Err != nil {
			q.feedback = common.Note{Level: "bad", Text: m.Err.Error()}
			return q, nil
		}
		var r engine.AnswerResult
		json.Unmarshal(m.Data, &r)
		switch {
		case r.Correct:
			q.feedback = common.Note{Level: "good", Key: "correct"}
		case r.AttemptsLeft > 0:
			q.feedback = common.Note{Level: "bad", Key: "wrong", Args: []any{r.Penalty, common.N{Key: "attempts left", N: r.AttemptsLeft}}}
		default:
			q.feedback = common.Note{Level: "bad", Key: "wrong", Args: []any{r.Penalty, common.Word("no attempts")}}
		}
		return q, nil
	case tea.KeyMsg:
		if q.typing {
			switch {
			case m.Type == tea.KeyEsc:
				q.typing = false
				q.input.Blur()
				return q, nil
			case m.Type == tea.KeyEnter:
				ans := strings.TrimSpace(q.input.Value())
				if ans == "" {
					return q, nil
				}
				q.typing, q.busy = false, true
				q.input.Blur()
				q.feedback = common.Note{Level: "muted", Text: "…"}
				return q, c.Send("answer", map[string]string{"question": q.asking, "answer": ans})
			}
			var cmd tea.Cmd
			q.input, cmd = q.input.Update(m)
			return q, cmd
		}
		switch {
		case key.Matches(m, c.Keys.Up):
			q.cur.Move(-1, len(qs), q.rows())
		case key.Matches(m, c.Keys.Down):
			q.cur.Move(1, len(qs), q.rows())
		case key.Matches(m, c.Keys.Select):
			if len(qs) == 0 || q.busy {
				return q, nil
			}
			sel := qs[q.cur.Index]
			switch {
			case sel.Answered:
				q.feedback = common.Note{Level: "muted", Key: "answered"}
			case sel.AttemptsLeft <= 0:
				q.feedback = common.Note{Level: "bad", Key: "no attempts"}
			default:
				q.asking, q.typing, q.feedback = sel.ID, true, common.Note{}
				q.input.SetValue("")
				return q, q.input.Focus()
			}
		}
	}
	return q, nil
}

func (q *Questions) rows() int { return max(1, BodyHeight(q.c)-6) }

// View lists questions and, below, the selected one in full with the
// answer field.
func (q *Questions) View() string {
	c := q.c
	s := c.Styles
	qs := q.list()
	if len(qs) == 0 {
		return s.Muted.Render(c.T("no questions"))
	}
	if q.typing {
		// Questions may appear meanwhile: keep the one being answered selected.
		for i, it := range qs {
			if it.ID == q.asking {
				q.cur.Index = i
			}
		}
	}
	q.cur.Clamp(len(qs), q.rows())
	var rows []string
	for i, it := range qs {
		mark := "  "
		if i == q.cur.Index {
			mark = s.Selected.Render("▸ ")
		}
		state := c.T("no attempts")
		if it.AttemptsLeft > 0 {
			state = c.N("attempts left", it.AttemptsLeft)
		}
		icon := s.Muted.Render("?")
		if it.Answered {
			icon, state = s.Good.Render("✓"), c.T("answered")
		}
		rows = append(rows, mark+icon+" "+truncate(text(c, it.Prompt), max(10, c.Width-28))+"  "+s.Muted.Render(state))
	}
	out := window(rows, q.cur.Offset, q.rows())
	sel := qs[q.cur.Index]
	out = append(out, "")
	for _, l := range wrap(text(c, sel.Prompt), c.Width-2) {
		out = append(out, s.Title.Render(l))
	}
	if sel.Penalty > 0 {
		out = append(out, s.Muted.Render(c.F("penalty", common.N{Key: "points", N: sel.Penalty})))
	}
	if q.typing {
		out = append(out, c.T("answer prompt"), q.input.View())
	}
	if fb := c.Note(q.feedback); fb != "" {
		out = append(out, fb)
	}
	return strings.Join(out, "\n")
}
