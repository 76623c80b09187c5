package engine

import (
	"context"
	"math"
	"sort"
	"time"

	"github.com/icsrange/icsrange/engine/scenario"
)

// The tick budget. A real-time run (Run) gives the rules of one tick
// RuleShare of the tick's wall period at the run's speed — 50 ms at ×1,
// 5 ms at ×10 — and leaves the rest to physics, traffic and the log. When
// the rules of a tick cost more than that, the expensive ones (a single
// evaluation over SlowEval) are evaluated less often: for each team only
// every Nth tick, the teams staggered so each tick carries its share, with
// N as small as fits (at most MaxStride). The instructor hears of it as a
// rule.slow event (which rule, how long, how often it now runs), at most
// once per rule per SlowReportEvery of wall time. The exercise clock keeps
// pace; a slowed rule fires or scores up to N ticks late. Cheap rules are
// never slowed, and a stepped run (tests, icsrange test) has no budget, so
// scenario tests do not depend on the machine's speed.
const (
	RuleShare       = 0.5
	SlowEval        = 100 * time.Microsecond
	MaxStride       = 600 // ticks: a minute of exercise time
	SlowReportEvery = time.Minute
	overTicks       = 10 // a second at ×1: one slow tick is the machine, not the rules
)

// ruleBudget keeps each rule's cost and decides how often it runs. It is
// runtime scratch, rebuilt on resume; only its reports are events.
type ruleBudget struct {
	limit time.Duration // per tick; 0 = no budget
	rules []ruleCost    // by rule ID
	order []int         // scratch for plan
	over  int           // ticks in a row whose rules took more than limit
}

type ruleCost struct {
	spent  time.Duration // this tick, of the timed evaluations
	timed  int           // evaluations timed this tick
	evals  int           // evaluations this tick, timed or not
	demand int           // evaluations asked for this tick, run or skipped
	count  uint32        // evaluations ever, to pick the ones to time
	least  time.Duration // this tick's fastest timed evaluation
	// One evaluation's cost, each jumping up at once and decaying slowly:
	// avg from the mean of a tick's timed evaluations, what the rule
	// really takes of the tick (on a busy machine too); floor from the
	// fastest, what the rule itself costs (a slower evaluation was the
	// machine: preempted, collecting garbage). floor decides whether a
	// rule is expensive, so a cheap rule is never slowed for a hiccup.
	avg, floor time.Duration
	stride     int // evaluate every stride-th tick per team
	// reported is the stride last reported (0: none yet).
	reported int
}

func newRuleBudget(rules int) *ruleBudget {
	b := &ruleBudget{rules: make([]ruleCost, rules)}
	for i := range b.rules {
		b.rules[i].stride = 1
	}
	return b
}

// setSpeed sets the budget for a real-time run at speed.
func (b *ruleBudget) setSpeed(speed float64) {
	b.limit = time.Duration(RuleShare * float64(Tick) / speed)
}

// sampleEvery: a cheap rule has one evaluation in this many timed (a
// clock read costs half of what a typical rule does); an expensive one,
// or one not yet timed, has every evaluation timed.
const sampleEvery = 8

// timing says whether to time a rule's next evaluation, and counts it.
func (b *ruleBudget) timing(id int) bool {
	c := &b.rules[id]
	c.evals++
	c.count++
	return c.expensive() || c.count%sampleEvery == 1
}

// spent records a timed evaluation's wall time.
func (b *ruleBudget) spent(id int, d time.Duration) {
	c := &b.rules[id]
	c.spent += d
	if c.timed == 0 || d < c.least {
		c.least = d
	}
	c.timed++
}

// tick is what a rule cost this tick, the untimed evaluations estimated
// from the timed ones.
func (c *ruleCost) tick() time.Duration {
	if c.timed == 0 {
		return 0
	}
	return c.spent * time.Duration(c.evals) / time.Duration(c.timed)
}

// due says whether a rule runs for a team in this tick, and counts the
// demand. With stride N, team i of n runs the rule on the ticks t with
// (t + i·N/n) mod N = 0: the teams are spread evenly over the N ticks,
// so each tick carries n/N of them. An expensive rule that has used up
// the whole budget in this tick already (it just became slow: the plan
// has not caught up) waits for the next tick for the remaining teams.
func (b *ruleBudget) due(id int, tick int64, team, teams int) bool {
	c := &b.rules[id]
	c.demand++
	if b.limit > 0 && c.spent >= b.limit && c.spent >= SlowEval*time.Duration(c.timed) {
		return false
	}
	if c.stride <= 1 {
		return true
	}
	n := int64(c.stride)
	return (tick+int64(team)*n/int64(max(teams, 1)))%n == 0
}

// begin starts a tick's accounting; evaluations between ticks (views)
// don't count.
func (b *ruleBudget) begin() {
	for i := range b.rules {
		c := &b.rules[i]
		c.spent, c.timed, c.evals, c.demand = 0, 0, 0, 0
	}
}

// end closes a tick's accounting: it updates each rule's cost and, with a
// budget, plans the strides. It returns the tick's rule time.
func (b *ruleBudget) end() time.Duration {
	var total time.Duration
	for i := range b.rules {
		c := &b.rules[i]
		total += c.tick()
		if c.timed == 0 {
			continue
		}
		c.avg = follow(c.avg, c.spent/time.Duration(c.timed))
		c.floor = follow(c.floor, c.least)
	}
	if b.limit > 0 {
		b.plan()
	}
	return total
}

// follow moves an estimate to a new sample: up at once, down by a tenth.
func follow(est, sample time.Duration) time.Duration {
	if sample >= est {
		return sample
	}
	return (9*est + sample) / 10
}

// expensive says whether a rule is one the budget may slow.
func (c *ruleCost) expensive() bool { return c.floor >= SlowEval }

// full is what a rule would cost this tick if it ran for every team that
// asked for it.
func (c *ruleCost) full() time.Duration { return c.avg * time.Duration(c.demand) }

// plan shares the budget out, max-min fair: cheap rules run every tick
// and their cost comes off the top; the expensive ones, cheapest first,
// each run every tick if they fit in an equal share of what is left, and
// otherwise as often as that share allows.
func (b *ruleBudget) plan() {
	left := b.limit
	b.order = b.order[:0]
	for i := range b.rules {
		c := &b.rules[i]
		if !c.expensive() {
			c.stride = 1
			left -= c.full()
			continue
		}
		b.order = append(b.order, i)
	}
	// Cheap rules may eat the whole budget (too many teams × rules for
	// the speed); the expensive ones still get a quarter of it.
	left = max(left, b.limit/4)
	sort.Slice(b.order, func(i, j int) bool { return b.rules[b.order[i]].full() < b.rules[b.order[j]].full() })
	for k, id := range b.order {
		c := &b.rules[id]
		share := left / time.Duration(len(b.order)-k)
		cost := c.full()
		if cost <= share {
			c.stride = 1
			left -= cost
			continue
		}
		c.stride = min(MaxStride, int(math.Ceil(float64(cost)/float64(max(share, 1)))))
		left -= cost / time.Duration(c.stride)
	}
}

// reportSlow tells the instructor about rules whose stride changed since
// it was last reported, and, when the rules took more than the budget for
// a second of ticks in a row with none left to slow, about the slowest
// one (too many teams × rules for the speed). Each rule is
// reported at most once per SlowReportEvery of wall time (folded into the
// state, so a resume keeps the pace).
func (x *Exercise) reportSlow(ctx context.Context, total time.Duration) error {
	b := x.budget
	if b.limit <= 0 {
		return nil
	}
	now := time.Now()
	report := func(r *scenario.Rule, c *ruleCost, change string) error {
		if last, ok := x.state.RuleSlow[r.Path]; ok && now.Sub(last) < SlowReportEvery {
			return nil
		}
		c.reported = c.stride
		return x.emit(ctx, "", EvRuleSlow, RuleSlowData{Rule: r.Path, Pos: r.Pos(), EvalUS: c.avg.Microseconds(),
			TickMS: ms(c.full()), BudgetMS: ms(b.limit), Every: c.stride, Evals: c.demand, Change: change})
	}
	changed := false
	for id := range b.rules {
		c := &b.rules[id]
		if c.stride == c.reported || (c.reported == 0 && c.stride == 1) {
			continue
		}
		changed = true
		change := SlowSlowed
		if c.stride == 1 {
			change = SlowRestored
		}
		if err := report(x.sc.Rules[id], c, change); err != nil {
			return err
		}
	}
	if total <= b.limit {
		b.over = 0
		return nil
	}
	if b.over++; changed || b.over < overTicks {
		return nil
	}
	slowest := -1
	for id := range b.rules {
		if slowest < 0 || b.rules[id].full() > b.rules[slowest].full() {
			slowest = id
		}
	}
	if slowest < 0 || b.rules[slowest].stride > 1 {
		return nil
	}
	return report(x.sc.Rules[slowest], &b.rules[slowest], SlowOver)
}

// RuleSlowData.Change values.
const (
	SlowSlowed   = "slowed"
	SlowRestored = "restored"
	SlowOver     = "over"
)

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }
