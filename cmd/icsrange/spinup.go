package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/icsrange/icsrange/engine/backend"
)

// spinup shows a backend's provisioning steps: on a terminal one bar that
// redraws in place (networks and containers created, started, healthy);
// elsewhere (a log file, CI) a line at every tenth of the way and at each
// stage's end, so a slow start stays readable without flooding the log.
type spinup struct {
	w   io.Writer
	tty bool

	mu     sync.Mutex
	done   map[string]int // "network created", "created", "started", "healthy"
	total  map[string]int
	logged map[string]int // tenths already printed, per stage
}

func newSpinup(w io.Writer) *spinup {
	s := &spinup{w: w, done: map[string]int{}, total: map[string]int{}, logged: map[string]int{}}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		s.tty = true
	}
	return s
}

// spinupOf is the run's progress display, or a new one for commands that
// build a backend without a run (down).
func (m *Main) spinupOf(o runOptions) *spinup {
	if o.bar != nil {
		return o.bar
	}
	return newSpinup(m.Stdout)
}

// stages in the order a container goes through them.
var spinupStages = []string{"network created", "created", "started", "healthy"}

// step takes one backend step; the backend calls it from many goroutines
// and its counters can arrive out of order, so the highest count wins.
func (s *spinup) step(st backend.Step) {
	key := st.State
	if strings.HasPrefix(st.What, "network") {
		key = "network " + st.State
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done[key] = max(s.done[key], st.Done)
	s.total[key] = max(s.total[key], st.Total)
	if s.tty {
		fmt.Fprintf(s.w, "\r\033[K%s", s.line())
		return
	}
	if t := s.total[key]; t > 0 {
		tenth := s.done[key] * 10 / t
		if tenth > s.logged[key] {
			s.logged[key] = tenth
			fmt.Fprintf(s.w, "  %s\n", s.line())
		}
	}
}

// say prints a log line above the bar.
func (s *spinup) say(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tty {
		fmt.Fprintf(s.w, "  %s\n", line)
		return
	}
	fmt.Fprintf(s.w, "\r\033[K  %s\n", line)
	if len(s.done) > 0 {
		fmt.Fprint(s.w, s.line())
	}
}

// finish ends the bar's line on a terminal.
func (s *spinup) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tty && len(s.done) > 0 {
		fmt.Fprintln(s.w)
	}
}

// line is the bar over healthy containers and the count of every stage.
func (s *spinup) line() string {
	const width = 24
	filled := 0
	if t := s.total["healthy"]; t > 0 {
		filled = min(width, width*s.done["healthy"]/t)
	}
	parts := []string{strings.Repeat("█", filled) + strings.Repeat("░", width-filled)}
	for _, k := range spinupStages {
		if s.total[k] > 0 {
			label := k
			if k == "network created" {
				label = "networks"
			}
			parts = append(parts, fmt.Sprintf("%s %d/%d", label, s.done[k], s.total[k]))
		}
	}
	return strings.Join(parts, " · ")
}
