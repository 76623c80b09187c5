package scenario

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// Env is what a rule sees: one per team, reused every tick. Rules name
// plant values as plant.<plc>.<tag> (ground truth) and hmi.<plc>.<tag>
// (what Modbus clients read); compile rewrites those into indexes into the
// flat slices below, so a rule with a wrong name fails at load and a tick
// reads slices instead of maps.
type Env struct {
	// Exercise time in seconds.
	Elapsed float64 `expr:"elapsed"`
	// The team's score.
	Score float64 `expr:"score"`

	Fired       func(string) bool         `expr:"fired"`        // inject fired
	Since       func(string) float64      `expr:"since"`        // seconds since inject fired, -1 if not
	Done        func(string) bool         `expr:"done"`         // action taken at least once
	DoneSince   func(string) float64      `expr:"done_since"`   // seconds since action last taken, -1 if never
	Answered    func(string) bool         `expr:"answered"`     // question answered correctly
	Attempts    func(string) int          `expr:"attempts"`     // answers given to a question
	Hinted      func(string) bool         `expr:"hinted"`       // hint released to the team
	Achieved    func(string) bool         `expr:"achieved"`     // objective achieved
	Failed      func(string) bool         `expr:"failed"`       // objective failed
	ConduitOpen func(string, string) bool `expr:"conduit_open"` // conduit between zones not cut
	Writes      func(string) int          `expr:"writes"`       // Modbus writes from a scenario host seen at the team's PLCs
	TeamWrote   func(string, string) bool `expr:"team_wrote"`   // the team's own tools wrote a PLC's tag
	Reachable   func(string, string) bool `expr:"reachable"`    // a host can reach a PLC on port 502 now
	Talkers     func(string) int          `expr:"talkers"`      // distinct sources that talked to a PLC

	// Flat plant values; see Layout.
	T    []float64 `expr:"_t"`    // truth, analog
	TB   []bool    `expr:"_tb"`   // truth, bits
	R    []float64 `expr:"_r"`    // reported, analog
	RB   []bool    `expr:"_rb"`   // reported, bits
	Mode []string  `expr:"_mode"` // PLC mode by PLC index
	Prog []string  `expr:"_prog"` // logic program by PLC index
	Sum  []float64 `expr:"_sum"`  // logic checksum by PLC index
	Host []bool    `expr:"_host"` // host up by host index
}

// helperIDs maps each id-taking helper to the kind of id it takes.
var helperIDs = map[string]string{
	"fired": "inject", "since": "inject",
	"done": "action", "done_since": "action",
	"answered": "question", "attempts": "question",
	"hinted":   "hint",
	"achieved": "objective", "failed": "objective",
}

// Layout says where each PLC's tags sit in Env's flat slices.
type Layout struct {
	PLCs  []string          // PLC ids by index
	Model []*plantsim.Model // by PLC index
	// Offset of each PLC's tags in T/R (analog) and TB/RB (bits): the tag
	// with model index i is at Offset[p]+i in both, only one of which is used.
	Offset []int
	Size   int
	Hosts  []string
	plc    map[string]int
	host   map[string]int
}

func newLayout(plcs []PLCSpec, hosts []HostSpec) *Layout {
	l := &Layout{plc: map[string]int{}, host: map[string]int{}}
	for _, p := range plcs {
		m, ok := plantsim.LookupModel(p.Model)
		if !ok {
			continue
		}
		if _, dup := l.plc[p.ID]; dup {
			continue
		}
		l.plc[p.ID] = len(l.PLCs)
		l.PLCs = append(l.PLCs, p.ID)
		l.Model = append(l.Model, m)
		l.Offset = append(l.Offset, l.Size)
		l.Size += len(m.Tags)
	}
	for _, h := range hosts {
		if _, dup := l.host[h.ID]; !dup {
			l.host[h.ID] = len(l.Hosts)
			l.Hosts = append(l.Hosts, h.ID)
		}
	}
	return l
}

// PLCIndex returns a PLC's index.
func (l *Layout) PLCIndex(id string) (int, bool) {
	i, ok := l.plc[id]
	return i, ok
}

// HostIndex returns a host's index.
func (l *Layout) HostIndex(id string) (int, bool) {
	i, ok := l.host[id]
	return i, ok
}

// NewEnv allocates an Env's plant slices for this layout.
func (l *Layout) NewEnv() *Env {
	return &Env{
		T: make([]float64, l.Size), TB: make([]bool, l.Size),
		R: make([]float64, l.Size), RB: make([]bool, l.Size),
		Mode: make([]string, len(l.PLCs)), Prog: make([]string, len(l.PLCs)),
		Sum: make([]float64, len(l.PLCs)), Host: make([]bool, len(l.Hosts)),
	}
}

// Fill copies a PLC's values into the env.
func (l *Layout) Fill(env *Env, plc int, v *plantsim.Values) {
	off := l.Offset[plc]
	for i := range v.Truth {
		env.T[off+i] = v.Truth[i]
		env.TB[off+i] = v.Truth[i] >= 0.5
		env.R[off+i] = v.Reported[i]
		env.RB[off+i] = v.Reported[i] >= 0.5
	}
	env.Mode[plc] = string(v.Mode)
	env.Prog[plc] = v.Program
	env.Sum[plc] = float64(v.Checksum)
}

// Rule is a compiled expression.
type Rule struct {
	Source  string
	Program *vm.Program
	// ID numbers the scenario's rules from 0 (Scenario.Rules[ID] is this
	// rule), for per-rule bookkeeping at run time.
	ID int
	// Path is where the rule sits in the scenario, e.g.
	// "objectives[2].when"; it names the rule in events.
	Path string
	// File, Line and Col are where the rule's text starts.
	File      string
	Line, Col int
	// at maps a character offset in Source to its line and column in the
	// file, so a run-time error points at its token.
	at func(off int) (int, int)
}

// Pos is the rule's FILE:LINE:COL.
func (r *Rule) Pos() string { return fmt.Sprintf("%s:%d:%d", r.File, r.Line, r.Col) }

// PosAt is the FILE:LINE:COL of a character offset in the rule's text
// (expr's file.Error carries one), or of the rule when it is unknown.
func (r *Rule) PosAt(off int) string {
	if r.at == nil || off <= 0 || off >= len([]rune(r.Source)) {
		return r.Pos()
	}
	line, col := r.at(off)
	return fmt.Sprintf("%s:%d:%d", r.File, line, col)
}

// ruleCompiler compiles rules against a scenario's ids and plant.
type ruleCompiler struct {
	layout *Layout
	ids    map[string]map[string]bool // kind → ids
	rules  []*Rule                    // compiled so far, by ID
}

// compile compiles a rule; asBool picks expr.AsBool, else AsFloat64.
// The problems it returns are *ruleError; those with warn set do not stop
// the rule from loading.
func (c *ruleCompiler) compile(src string, asBool bool) (*Rule, []error) {
	p := &patcher{c: c}
	cost := &costVisitor{}
	opts := []expr.Option{expr.Env(Env{}), expr.Patch(p), expr.Patch(cost)}
	if asBool {
		opts = append(opts, expr.AsBool())
	} else {
		opts = append(opts, expr.AsFloat64())
	}
	prog, err := expr.Compile(src, opts...)
	for n := range p.open {
		if n.Value == "host" {
			p.fail(n, "write host.<name>.up, e.g. host.%s.up", firstOr(c.layout.Hosts, "hmi"))
			continue
		}
		p.fail(n, "write %s.<plc>.<tag>, e.g. %s.%s.level", n.Value, n.Value, firstOr(c.layout.PLCs, "tank"))
	}
	// A wrong name also makes the type checker fail; its message would
	// only repeat the patcher's.
	errs := p.errs
	if len(errs) == 0 && err != nil {
		errs = []error{err}
	}
	errs = append(errs, cost.errs...)
	failed := len(errs) > 0
	errs = append(errs, cost.warns...)
	if failed {
		return nil, errs
	}
	return &Rule{Source: src, Program: prog}, errs
}

// ruleError is a problem at a column of a rule.
type ruleError struct {
	col  int // 0-based, in the rule's source
	msg  string
	warn bool // a warning: the rule loads
}

func (e *ruleError) Error() string { return e.msg }

func newRuleError(n ast.Node, format string, a ...any) *ruleError {
	return &ruleError{col: n.Location().From, msg: fmt.Sprintf(format, a...)}
}

// isWarning says whether a problem compile returned is only a warning.
func isWarning(err error) bool {
	var re *ruleError
	return errors.As(err, &re) && re.warn
}

// errColumn extracts the 0-based column of an expr error.
func errColumn(err error) (int, string) {
	var re *ruleError
	if errors.As(err, &re) {
		return re.col, re.msg
	}
	var fe *file.Error
	if errors.As(err, &fe) {
		return fe.Column, fe.Message
	}
	return 0, err.Error()
}

type patcher struct {
	c    *ruleCompiler
	errs []error
	open map[*ast.IdentifierNode]bool
}

func (p *patcher) fail(n ast.Node, format string, a ...any) {
	p.errs = append(p.errs, newRuleError(n, format, a...))
}

// Visit runs after a node's children (expr walks post-order). It rewrites
// plant.<plc>.<tag>, hmi.<plc>.<tag>, plant.<plc>.mode|program|checksum and
// host.<id>.up, and checks ids given to the helpers.
func (p *patcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		switch n.Value {
		case "plant", "hmi", "host":
			// Rewritten by the enclosing member access; if it stays, the
			// member chain was incomplete.
			p.pending(n)
		}
	case *ast.MemberNode:
		inner, ok := n.Node.(*ast.MemberNode)
		if !ok {
			return
		}
		root, ok := inner.Node.(*ast.IdentifierNode)
		if !ok || (root.Value != "plant" && root.Value != "hmi" && root.Value != "host") {
			return
		}
		p.resolve(root)
		first, ok1 := inner.Property.(*ast.StringNode)
		second, ok2 := n.Property.(*ast.StringNode)
		if !ok1 || !ok2 {
			p.fail(n, "write %s.<name>.<field> with plain names", root.Value)
			return
		}
		if root.Value == "host" {
			hi, ok := p.c.layout.HostIndex(first.Value)
			if !ok {
				p.fail(inner, "unknown host %q (have %s)", first.Value, strings.Join(p.c.layout.Hosts, ", "))
				return
			}
			if second.Value != "up" {
				p.fail(n, "hosts have one field, up (host.%s.up)", first.Value)
				return
			}
			p.replace(node, n, "_host", hi)
			return
		}
		pi, ok := p.c.layout.PLCIndex(first.Value)
		if !ok {
			p.fail(inner, "unknown PLC %q (have %s)", first.Value, strings.Join(p.c.layout.PLCs, ", "))
			return
		}
		model := p.c.layout.Model[pi]
		switch second.Value {
		case "mode", "program", "checksum":
			if root.Value == "hmi" {
				p.fail(n, "%s is a PLC property: write plant.%s.%s", second.Value, first.Value, second.Value)
				return
			}
			slice := map[string]string{"mode": "_mode", "program": "_prog", "checksum": "_sum"}[second.Value]
			p.replace(node, n, slice, pi)
			return
		}
		ti, ok := model.Tag(second.Value)
		if !ok {
			names := make([]string, len(model.Tags))
			for i, t := range model.Tags {
				names[i] = t.Name
			}
			sort.Strings(names)
			p.fail(n, "PLC %s (%s) has no tag %q (have %s, mode, program, checksum)", first.Value, model.Name, second.Value, strings.Join(names, ", "))
			return
		}
		slice := "_t"
		if root.Value == "hmi" {
			slice = "_r"
		}
		if !model.Tags[ti].Analog() {
			slice += "b"
		}
		p.replace(node, n, slice, p.c.layout.Offset[pi]+ti)
	case *ast.CallNode:
		callee, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		kind, ok := helperIDs[callee.Value]
		if !ok {
			if kinds, ok := helperArgs[callee.Value]; ok && len(n.Arguments) == len(kinds) {
				p.checkArgs(callee.Value, n.Arguments, kinds)
			}
			if callee.Value == "conduit_open" && len(n.Arguments) == 2 {
				from, ok1 := n.Arguments[0].(*ast.StringNode)
				to, ok2 := n.Arguments[1].(*ast.StringNode)
				switch {
				case !ok1:
					p.fail(n.Arguments[0], "conduit_open takes two zone ids as quoted strings")
				case !ok2:
					p.fail(n.Arguments[1], "conduit_open takes two zone ids as quoted strings")
				case !p.c.ids["zone"][from.Value]:
					p.fail(from, "unknown zone %q", from.Value)
				case !p.c.ids["zone"][to.Value]:
					p.fail(to, "unknown zone %q", to.Value)
				case !p.c.ids["conduit"][from.Value+">"+to.Value]:
					p.fail(n, "the plant has no conduit %s → %s", from.Value, to.Value)
				}
			}
			return
		}
		if len(n.Arguments) != 1 {
			return // the type checker says what is wrong
		}
		s, ok := n.Arguments[0].(*ast.StringNode)
		if !ok {
			p.fail(n.Arguments[0], "%s takes %s id as a quoted string", callee.Value, article(kind))
			return
		}
		if !p.c.ids[kind][s.Value] {
			p.fail(s, "unknown %s %q in %s()", kind, s.Value, callee.Value)
		}
	}
}

// helperArgs are the id kinds the multi-argument traffic helpers take.
var helperArgs = map[string][]string{
	"writes": {"host"}, "team_wrote": {"plc", "tag"}, "reachable": {"host", "plc"}, "talkers": {"plc"},
}

// checkArgs checks a traffic helper's quoted ids; a tag is checked against
// the PLC named before it and must be writable (a coil or holding register).
func (p *patcher) checkArgs(name string, args []ast.Node, kinds []string) {
	plc := -1
	for i, kind := range kinds {
		s, ok := args[i].(*ast.StringNode)
		if !ok {
			p.fail(args[i], "%s takes %s id as a quoted string", name, article(kind))
			return
		}
		switch kind {
		case "host":
			if _, ok := p.c.layout.HostIndex(s.Value); !ok {
				p.fail(s, "unknown host %q in %s()", s.Value, name)
			}
		case "plc":
			pi, ok := p.c.layout.PLCIndex(s.Value)
			if !ok {
				p.fail(s, "unknown PLC %q in %s()", s.Value, name)
				return
			}
			plc = pi
		case "tag":
			if plc < 0 {
				return
			}
			m := p.c.layout.Model[plc]
			ti, ok := m.Tag(s.Value)
			if !ok {
				p.fail(s, "PLC %s (%s) has no tag %q", p.c.layout.PLCs[plc], m.Name, s.Value)
			} else if t := m.Tags[ti].Table; t != plantsim.Coil && t != plantsim.HoldingRegister {
				p.fail(s, "tag %s is %s; trainees write coils and holding registers", s.Value, article(t.String()))
			}
		}
	}
}

// pending/resolve track plant/hmi/host identifiers not consumed by a full
// member chain, so "plant.intake" alone gets a clear message.
func (p *patcher) pending(n *ast.IdentifierNode) {
	if p.open == nil {
		p.open = map[*ast.IdentifierNode]bool{}
	}
	p.open[n] = true
}

func (p *patcher) resolve(n *ast.IdentifierNode) { delete(p.open, n) }

func (p *patcher) replace(node *ast.Node, at ast.Node, slice string, idx int) {
	id := &ast.IdentifierNode{Value: slice}
	in := &ast.IntegerNode{Value: idx}
	m := &ast.MemberNode{Node: id, Property: in}
	id.SetLocation(at.Location())
	in.SetLocation(at.Location())
	m.SetLocation(at.Location())
	ast.Patch(node, m)
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// article puts "a" or "an" before a noun.
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiouAEIOU", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}
