package scenario

import (
	"strings"
	"testing"
)

const costScenario = `id: cost
version: 1
title: cost
duration: 10m
plant:
  zones: [{id: control}]
  plcs:
    - {id: tank, model: water-tank, zone: control}
injects:
  - {id: big, when: "count(1..990000, # > 5) > 0", say: b}
  - {id: nested, when: "all(1..10, any(1..5, # > 2))", say: c}
  - {id: open, when: "len(1..int(elapsed)) > 3", say: d}
  - {id: small, when: "count(1..10000, # > 5) > 0 && -3..3 != []", say: e}
objectives:
  - id: late
    points: 1
    when: >
      elapsed > 120 &&
      1 % int(elapsed * 0) == 0
`

// Rules whose cost validate can see load with a warning at the token that
// costs; the limit of 10,000 elements itself is fine.
func TestRuleCostWarnings(t *testing.T) {
	sc, err := Load("cost.yaml", []byte(costScenario))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cost.yaml:10:28: warning: rule: range 1..990000 has 990000 elements; a rule that walks it every tick for every team slows the exercise (keep ranges under 10000)",
		"cost.yaml:11:36: warning: rule: any() inside the predicate of all() runs once per element: nested quantifiers multiply their costs",
		"cost.yaml:12:27: warning: rule: this range's bounds are known only at run time, so its cost is unbounded (a range of over 1000000 elements fails when the rule runs)",
	}
	var got []string
	for _, w := range sc.Warnings {
		got = append(got, w.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A literal range over 1,000,000 elements is an error at the range, however
// its bounds are written.
func TestRuleRangeLimit(t *testing.T) {
	for _, tc := range []struct{ rule, pos string }{
		{"len(0..1000000) > 0", "10:26"},
		{"len(-1000000..0) > 0", "10:26"},
		{"len(0..9223372036854775807) > 0", "10:26"},
	} {
		src := strings.Replace(costScenario, `count(1..990000, # > 5) > 0`, tc.rule, 1)
		_, err := Load("cost.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), "cost.yaml:"+tc.pos+": rule: range ") || !strings.Contains(err.Error(), "has more than 1000000 elements") {
			t.Errorf("%s: got %v, want an error at %s", tc.rule, err, tc.pos)
		}
	}
	src := strings.Replace(costScenario, `count(1..990000, # > 5) > 0`, "len(1..1000000) > 0", 1)
	if _, err := Load("cost.yaml", []byte(src)); err != nil {
		t.Errorf("a range of exactly 1000000 elements: %v", err)
	}
}

// Every rule is numbered and knows where it is, so a run-time error can
// point at its token.
func TestRulePositions(t *testing.T) {
	sc, err := Load("cost.yaml", []byte(costScenario))
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Rules) != 5 {
		t.Fatalf("%d rules, want 5", len(sc.Rules))
	}
	for i, r := range sc.Rules {
		if r.ID != i {
			t.Errorf("rule %d has ID %d", i, r.ID)
		}
	}
	late, _ := sc.Objective("late")
	r := late.When
	if r.Path != "objectives[0].when" || r.Pos() != "cost.yaml:18:7" {
		t.Errorf("rule at %s (%s), want objectives[0].when at cost.yaml:18:7", r.Path, r.Pos())
	}
	// The % on the block scalar's second line.
	off := len([]rune(r.Source[:strings.Index(r.Source, "%")]))
	if got := r.PosAt(off); got != "cost.yaml:19:9" {
		t.Errorf("PosAt(%d) = %s, want cost.yaml:19:9", off, got)
	}
	if got := r.PosAt(-1); got != r.Pos() {
		t.Errorf("PosAt(-1) = %s, want the rule's start", got)
	}
}
