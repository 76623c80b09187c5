package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/icsrange/icsrange/engine/scenario"
)

// Rules run here, and only here: every rule kind (inject when, objective
// when, fail_when, partial and bonus, question visible) goes through run,
// so a rule that fails never stops the exercise and every evaluation is
// timed for the tick budget (see rulebudget.go).

// evalBool evaluates a condition for a team. A rule that fails counts as
// false.
func (x *Exercise) evalBool(ctx context.Context, rt *teamRT, r *scenario.Rule) bool {
	out, ok := x.run(ctx, rt, r)
	b, _ := out.(bool)
	return ok && b
}

// evalNumber evaluates a number for a team. A rule that fails gives 0.
func (x *Exercise) evalNumber(ctx context.Context, rt *teamRT, r *scenario.Rule) float64 {
	out, ok := x.run(ctx, rt, r)
	if !ok {
		return 0
	}
	switch v := out.(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	x.ruleFailed(ctx, rt, r, fmt.Errorf("the rule gave %T, not a number", out))
	return 0
}

// run runs a rule's program on the team's env, timing it (or a sample of
// its evaluations, see ruleBudget.timing). A failure is reported once per
// rule (ruleFailed) and run says false.
func (x *Exercise) run(ctx context.Context, rt *teamRT, r *scenario.Rule) (any, bool) {
	var start time.Time
	timed := x.budget.timing(r.ID)
	if timed {
		start = time.Now()
	}
	out, err := runProgram(&rt.vm, r.Program, rt.env)
	if timed {
		x.budget.spent(r.ID, time.Since(start))
	}
	if err != nil {
		x.ruleFailed(ctx, rt, r, err)
		return nil, false
	}
	return out, true
}

// runProgram is vm.Run with a last line of defence: expr's VM turns the
// panics of its own opcodes and of the helpers it calls into errors, and
// this catches anything that still escapes it.
func runProgram(m *vm.VM, p *vm.Program, env *scenario.Env) (out any, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, fmt.Errorf("rule panicked: %v", v)
		}
	}()
	return m.Run(p, env)
}

// ruleFailed reports a rule's failure to the instructor, once per rule for
// the whole exercise: the event is folded into the state (RuleErrors), so
// a resumed exercise knows it was reported. If the log itself fails, x.err
// is set and the tick stops on its next commit.
func (x *Exercise) ruleFailed(ctx context.Context, rt *teamRT, r *scenario.Rule, err error) {
	if x.state.RuleErrors[r.Path] {
		return
	}
	d := RuleErrorData{Rule: r.Path, Pos: r.Pos(), Team: rt.name, Error: err.Error()}
	var fe *file.Error
	if errors.As(err, &fe) {
		d.Pos, d.Error = r.PosAt(fe.From), fe.Message
	}
	x.emit(ctx, "", EvRuleError, d)
}
