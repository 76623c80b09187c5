package scenario

import (
	"fmt"
	"strings"
	"testing"
)

func TestMatcher(t *testing.T) {
	str := func(s string) *string { return &s }
	num := func(f float64) *float64 { return &f }
	tests := []struct {
		name string
		m    MatcherSpec
		yes  []string
		no   []string
	}{
		{
			name: "exact trims, collapses spaces and ignores case",
			m:    MatcherSpec{Exact: str("Modify  Parameter")},
			yes:  []string{"modify parameter", "  MODIFY PARAMETER  ", "modify \t parameter", "Modify\nParameter", "modify  parameter"},
			no:   []string{"modifyparameter", "modify parameters", "modify", "", "modify-parameter"},
		},
		{
			name: "exact case_sensitive",
			m:    MatcherSpec{Exact: str("Mod Bus"), CaseSensitive: true},
			yes:  []string{"Mod Bus", "  Mod   Bus ", "Mod\tBus"},
			no:   []string{"mod bus", "MOD BUS", "Mod bus", "ModBus"},
		},
		{
			name: "exact ip address",
			m:    MatcherSpec{Exact: str("10.20.1.66")},
			yes:  []string{"10.20.1.66", " 10.20.1.66\n"},
			no:   []string{"10.20.1.6", "10.20.1.660", "10.20.1.66/32", "10 .20.1.66"},
		},
		{
			name: "exact empty string",
			m:    MatcherSpec{Exact: str("")},
			yes:  []string{"", "   ", "\t\n"},
			no:   []string{"x"},
		},
		{
			name: "exact spaces in the answer key are normalised too",
			m:    MatcherSpec{Exact: str("  Mixed   Case ")},
			yes:  []string{"mixed case"},
			no:   []string{"mixedcase"},
		},
		{
			name: "number",
			m:    MatcherSpec{Number: num(0)},
			yes:  []string{"0", " 0 ", "0.0", "-0", "+0", "0e5", "0x0p0", "00"},
			no:   []string{"", "zero", "0.0001", "-0.0001", "1", "0 m", "0,0", "NaN", "nan", "0x0"},
		},
		{
			name: "number with tolerance, bounds included",
			m:    MatcherSpec{Number: num(40001), Tolerance: 0.5},
			yes:  []string{"40001", "40000.5", "40001.5", "4.0001e4", "40001.25", " 40001\n"},
			no:   []string{"40002", "40000.49", "40001.51", "40,001", "40001 m", "forty thousand and one", "+Inf", "-Inf", "Infinity"},
		},
		{
			name: "number rejects non-numbers",
			m:    MatcherSpec{Number: num(2.5), Tolerance: 1e9},
			yes:  []string{"2.5", "-1e8", "1e9"},
			no:   []string{"", "   ", "2.5m", "two and a half", "2,5", "NaN", "0x10", "true", "Inf", "2.5 2.5"},
		},
		{
			name: "negative number",
			m:    MatcherSpec{Number: num(-3)},
			yes:  []string{"-3", "-3.0", " -3 "},
			no:   []string{"3", "- 3", "−3"},
		},
		{
			name: "one_of",
			m:    MatcherSpec{OneOf: []string{"T0836", "Modify  Parameter"}},
			yes:  []string{"T0836", "t0836", " t0836 ", "modify parameter", "MODIFY   PARAMETER"},
			no:   []string{"T0855", "T0836, T0855", "", "modify"},
		},
		{
			name: "one_of case_sensitive",
			m:    MatcherSpec{OneOf: []string{"T0836", "T0855"}, CaseSensitive: true},
			yes:  []string{"T0836", " T0855 "},
			no:   []string{"t0836", "t0855"},
		},
		{
			name: "regex is anchored to the whole answer",
			m:    MatcherSpec{Regex: "cyber"},
			yes:  []string{"cyber", "  cyber  "},
			no:   []string{"cyber attack", "a cyber", "Cyber", "cyberr", ""},
		},
		{
			name: "regex alternation is anchored as a whole",
			m:    MatcherSpec{Regex: "a|b"},
			yes:  []string{"a", "b"},
			no:   []string{"ab", "ba", "xa", "bx", "a|b"},
		},
		{
			name: "regex flags, and case_sensitive does not apply",
			m:    MatcherSpec{Regex: "(?i)cyber( attack)?|サイバー", CaseSensitive: true},
			yes:  []string{"cyber", "CYBER", "Cyber Attack", "サイバー"},
			no:   []string{"cyber  attack", "physical", "サイバー攻撃"},
		},
		{
			name: "regex with its own anchors",
			m:    MatcherSpec{Regex: `^\d+$`},
			yes:  []string{"502", " 502 "},
			no:   []string{"502a", "", "5 02"},
		},
		{
			name: "regex does not collapse inner spaces",
			m:    MatcherSpec{Regex: `mod bus`},
			yes:  []string{"mod bus"},
			no:   []string{"mod  bus", "Mod Bus"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			match := matcher(tt.m)
			for _, a := range tt.yes {
				if !match(a) {
					t.Errorf("answer %q rejected, want accepted", a)
				}
			}
			for _, a := range tt.no {
				if match(a) {
					t.Errorf("answer %q accepted, want rejected", a)
				}
			}
		})
	}
}

// TestQuestionCheck runs the matchers through Load and Question.Check, as
// the engine does.
func TestQuestionCheck(t *testing.T) {
	const src = `id: q
version: 1
title: Q
duration: 10m
plant:
  zones: [{id: z}]
  plcs: [{id: p, model: water-tank, zone: z}]
questions:
  - {id: exact, prompt: P, answer: {exact: " Cyber  Attack "}}
  - {id: exact-cs, prompt: P, answer: {exact: Cyber Attack, case_sensitive: true}}
  - {id: number, prompt: P, answer: {number: 2.5, tolerance: 0.25}}
  - {id: integer, prompt: P, answer: {number: 40001}}
  - {id: one-of, prompt: P, answer: {one_of: [T0836, T0855]}}
  - {id: regex, prompt: P, answer: {regex: '10\.20\.1\.\d+'}}
`
	sc, err := Load("q.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		q, answer string
		want      bool
	}{
		{"exact", "cyber attack", true},
		{"exact", "CYBER\tATTACK", true},
		{"exact", "cyberattack", false},
		{"exact-cs", "Cyber   Attack", true},
		{"exact-cs", "cyber attack", false},
		{"number", "2.75", true},
		{"number", "2.25", true},
		{"number", "2.76", false},
		{"number", "2.5.1", false},
		{"number", "", false},
		{"integer", "40001", true},
		{"integer", "40001.0", true},
		{"integer", "40001.000001", false},
		{"integer", "40000", false},
		{"one-of", "t0855", true},
		{"one-of", "T0836 T0855", false},
		{"regex", "10.20.1.66", true},
		{"regex", "10.20.1.66.1", false},
		{"regex", "10x20.1.66", false},
		{"regex", "host 10.20.1.66", false},
	}
	for _, tt := range tests {
		q, ok := sc.Question(tt.q)
		if !ok {
			t.Fatalf("no question %q", tt.q)
		}
		if got := q.Check(tt.answer); got != tt.want {
			t.Errorf("question %s: Check(%q) = %v, want %v", tt.q, tt.answer, got, tt.want)
		}
	}
}

// TestMatcherLongAnswers checks that matchers cope with a large answer.
func TestMatcherLongAnswers(t *testing.T) {
	long := strings.Repeat("a ", 100000)
	for i, m := range []MatcherSpec{
		{Exact: new(string)}, {Number: new(float64)}, {OneOf: []string{"a"}}, {Regex: "(a )*"},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			matcher(m)(long)
		})
	}
}
