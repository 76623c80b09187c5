package scenario

import (
	"github.com/expr-lang/expr/ast"
)

// Limits on what a rule may cost, checked where the cost shows in the
// rule's text. A tick evaluates every rule for every team ten times a
// second, so a rule that walks a large collection slows the exercise
// clock for everyone; the engine's tick budget (engine.RuleShare) copes
// at run time, these limits catch the mistake at load.
const (
	// MaxRange is the largest literal range (a..b) a rule may hold; it
	// matches the run-time memory budget (RuleMemoryBudget), so a range
	// that loads is one the rule can build.
	MaxRange = 1_000_000
	// WarnRange is the literal range above which validate warns.
	WarnRange = 10_000
	// RuleMemoryBudget is the expr VM's memory budget for one evaluation
	// (in its units: elements of ranges, maps and filters built). A rule
	// that needs more fails with "memory budget exceeded", which the
	// engine reports and counts as false.
	RuleMemoryBudget = MaxRange
)

// costVisitor finds what makes a rule expensive: literal ranges above the
// limits, ranges whose bounds are known only at run time, and quantifiers
// (all, any, count, filter, map, …) nested in another's predicate, whose
// costs multiply.
type costVisitor struct {
	errs, warns []error
}

func (c *costVisitor) add(warn bool, n ast.Node, format string, a ...any) {
	e := newRuleError(n, format, a...)
	e.warn = warn
	if warn {
		c.warns = append(c.warns, e)
	} else {
		c.errs = append(c.errs, e)
	}
}

// Visit runs after a node's children (expr walks post-order).
func (c *costVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator != ".." {
			return
		}
		lo, ok1 := intConst(n.Left)
		hi, ok2 := intConst(n.Right)
		if !ok1 || !ok2 {
			c.add(true, n.Left, "this range's bounds are known only at run time, so its cost is unbounded "+
				"(a range of over %d elements fails when the rule runs)", MaxRange)
			return
		}
		if hi < lo {
			return // empty
		}
		// The span in uint64 cannot overflow, whatever the bounds.
		span := uint64(hi) - uint64(lo)
		switch {
		case span >= MaxRange:
			c.add(false, n.Left, "range %d..%d has more than %d elements; a rule runs ten times a second for every team", lo, hi, MaxRange)
		case span >= WarnRange:
			c.add(true, n.Left, "range %d..%d has %d elements; a rule that walks it every tick for every team slows the exercise (keep ranges under %d)", lo, hi, span+1, WarnRange)
		}
	case *ast.BuiltinNode:
		pred := predicate(n)
		if pred == nil {
			return
		}
		// Quantifiers inside this one's predicate run once per element.
		f := &quantifierFinder{}
		ast.Walk(&pred, f)
		for _, inner := range f.found {
			c.add(true, inner, "%s() inside the predicate of %s() runs once per element: nested quantifiers multiply their costs", inner.Name, n.Name)
		}
	}
}

// predicate is a builtin's predicate argument (all(xs, # > 1) and the
// like), or nil for builtins that take none.
func predicate(n *ast.BuiltinNode) ast.Node {
	for _, a := range n.Arguments {
		if p, ok := a.(*ast.PredicateNode); ok {
			return p.Node
		}
	}
	return nil
}

type quantifierFinder struct{ found []*ast.BuiltinNode }

func (f *quantifierFinder) Visit(node *ast.Node) {
	if n, ok := (*node).(*ast.BuiltinNode); ok && predicate(n) != nil {
		f.found = append(f.found, n)
	}
}

// intConst is the value of an integer literal, negated or not.
func intConst(n ast.Node) (int, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return n.Value, true
	case *ast.UnaryNode:
		if v, ok := intConst(n.Node); ok && n.Operator == "-" {
			return -v, true
		}
	}
	return 0, false
}
