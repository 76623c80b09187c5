package scenario

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/icsrange/icsrange/plant-sim/plant"
)

// Scenario is a loaded, checked and compiled scenario, ready to run.
type Scenario struct {
	// Spec is what the scenario was compiled from: the file as written,
	// with its defaults filled in.
	Spec     *Spec
	Duration time.Duration
	MinTeams int
	MaxTeams int

	// Topology is the plant every team gets: zones, conduits, PLCs, hosts.
	*plant.Topology

	Injects    []*Inject
	Actions    []*Action
	Questions  []*Question
	Hints      []*Hint
	Objectives []*Objective
	Layout     *Layout
	// Rules is every compiled rule, by Rule.ID.
	Rules []*Rule
	// Warnings are what loads but may hurt a run (a rule whose cost is
	// unbounded), in file order.
	Warnings Errors

	inject    map[string]*Inject
	action    map[string]*Action
	question  map[string]*Question
	hint      map[string]*Hint
	objective map[string]*Objective
}

// Trigger says how an inject fires.
type Trigger int

// Inject triggers.
const (
	TriggerAt Trigger = iota
	TriggerAfter
	TriggerWhen
	TriggerManual
)

func (t Trigger) String() string { return [...]string{"at", "after", "when", "manual"}[t] }

// Inject is a compiled inject.
type Inject struct {
	ID      string
	Title   Text
	Say     Text
	Tags    []string
	Trigger Trigger
	At      time.Duration // TriggerAt
	After   string        // TriggerAfter
	Delay   time.Duration // TriggerAfter
	When    *Rule         // TriggerWhen
	Effects []plant.Effect
	Index   int
}

// Name is the inject's display title, or its id.
func (i *Inject) Name(lang string) string {
	if s := i.Title.In(lang); s != "" {
		return s
	}
	return i.ID
}

// Action is a compiled action.
type Action struct {
	ID          string
	Title       Text
	Description Text
	Effects     []plant.Effect
	Cooldown    time.Duration // 0 = once only
	Cost        int
}

// Question is a compiled question.
type Question struct {
	ID       string
	Prompt   Text
	Attempts int
	Penalty  int
	Visible  *Rule
	match    func(string) bool
}

// Check reports whether an answer is correct.
func (q *Question) Check(answer string) bool { return q.match(answer) }

// Hint is a compiled hint.
type Hint struct {
	ID          string
	Title       Text // never empty: the spec's, or made from what it is for
	For         string
	Cost        int
	Text        Text
	At          time.Duration
	HasAt       bool
	Requestable bool
}

// Objective categories.
var ObjectiveCategories = []string{"detect", "attribute", "contain", "recover", "safety"}

// Objective is a compiled objective.
type Objective struct {
	ID       string
	Title    Text
	Category string
	Points   int
	When     *Rule
	For      time.Duration
	FailWhen *Rule
	Penalty  int
	Bonus    *Rule
	Partial  []Partial
}

// Name is the objective's display title, or its id.
func (o *Objective) Name(lang string) string {
	if s := o.Title.In(lang); s != "" {
		return s
	}
	return o.ID
}

// Partial is a compiled partial-credit tier.
type Partial struct {
	When   *Rule
	Points int
}

// Inject returns an inject by id.
func (s *Scenario) Inject(id string) (*Inject, bool) { i, ok := s.inject[id]; return i, ok }

// Action returns an action by id.
func (s *Scenario) Action(id string) (*Action, bool) { a, ok := s.action[id]; return a, ok }

// Question returns a question by id.
func (s *Scenario) Question(id string) (*Question, bool) { q, ok := s.question[id]; return q, ok }

// Hint returns a hint by id.
func (s *Scenario) Hint(id string) (*Hint, bool) { h, ok := s.hint[id]; return h, ok }

// Objective returns an objective by id.
func (s *Scenario) Objective(id string) (*Objective, bool) { o, ok := s.objective[id]; return o, ok }

// MaxPoints is the most a team can score (points plus nothing for bonuses).
func (s *Scenario) MaxPoints() int {
	n := 0
	for _, o := range s.Objectives {
		n += o.Points
	}
	return n
}

// matcher builds an answer checker from a MatcherSpec already validated.
func matcher(m MatcherSpec) func(string) bool {
	norm := func(s string) string {
		s = strings.Join(strings.Fields(s), " ")
		if !m.CaseSensitive {
			s = strings.ToLower(s)
		}
		return s
	}
	switch {
	case m.Exact != nil:
		want := norm(*m.Exact)
		return func(a string) bool { return norm(a) == want }
	case m.Number != nil:
		want, tol := *m.Number, m.Tolerance
		return func(a string) bool {
			f, err := strconv.ParseFloat(strings.TrimSpace(a), 64)
			return err == nil && f >= want-tol && f <= want+tol
		}
	case len(m.OneOf) > 0:
		set := map[string]bool{}
		for _, s := range m.OneOf {
			set[norm(s)] = true
		}
		return func(a string) bool { return set[norm(a)] }
	default:
		re := regexp.MustCompile(`^(?:` + m.Regex + `)$`)
		return func(a string) bool { return re.MatchString(strings.TrimSpace(a)) }
	}
}
