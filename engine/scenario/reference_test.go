package scenario

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/icsrange/icsrange/plant-sim/plant"

	plantsim "github.com/icsrange/icsrange/plant-sim"
)

// The scenario reference (docs/scenario-reference.md) is checked against the
// code so it can't silently rot: every full scenario it shows must load, and
// every effect kind, rule helper and top-level key must be documented.

const referencePath = "../../docs/scenario-reference.md"

// yamlBlock is a ```yaml fenced block of the reference.
type yamlBlock struct {
	line int // line of the opening fence
	text string
}

func referenceDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("read the scenario reference: %v", err)
	}
	return string(b)
}

// yamlBlocks returns every ```yaml fenced block of a Markdown document.
func yamlBlocks(t *testing.T, doc string) []yamlBlock {
	t.Helper()
	var out []yamlBlock
	var cur *yamlBlock
	var body []string
	for i, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && trimmed == "```yaml":
			cur, body = &yamlBlock{line: i + 1}, nil
		case cur != nil && trimmed == "```":
			cur.text = strings.Join(body, "\n") + "\n"
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, line)
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: ```yaml block is never closed", referencePath, cur.line)
	}
	return out
}

// A block is a full scenario when it has a top-level id: line; fragments
// (a do: list, a rule) never do.
var topLevelID = regexp.MustCompile(`(?m)^id:`)

// brokenExample is the block that shows validation errors on purpose.
const brokenExample = "id: broken-example\n"

func TestReferenceExamplesLoad(t *testing.T) {
	doc := referenceDoc(t)
	full, broken := 0, 0
	for _, b := range yamlBlocks(t, doc) {
		if !topLevelID.MatchString(b.text) {
			continue
		}
		name := fmt.Sprintf("%s:%d", referencePath, b.line)
		_, err := Load(name, []byte(b.text))
		if strings.HasPrefix(b.text, brokenExample) {
			// The error-output example must keep failing, or it shows nothing.
			broken++
			if err == nil {
				t.Errorf("%s: the broken example loads without errors", name)
			}
			continue
		}
		full++
		if err != nil {
			// Point at lines of the reference, not of the block.
			if es, ok := err.(Errors); ok {
				for i := range es {
					es[i].File = referencePath
					if es[i].Line > 0 {
						es[i].Line += b.line
					}
				}
			}
			t.Errorf("%s: a scenario in the reference does not load:\n%v", name, err)
		}
	}
	if full < 2 {
		t.Errorf("found %d full scenarios in the reference, want at least 2 (the smallest and the complete example)", full)
	}
	if broken != 1 {
		t.Errorf("found %d broken examples (starting %q), want 1", broken, strings.TrimSpace(brokenExample))
	}
}

func TestReferenceCoversEffectsAndHelpers(t *testing.T) {
	doc := referenceDoc(t)
	for _, k := range EffectKinds() {
		// Each kind has its own row in the effects table.
		if !strings.Contains(doc, "| `"+k+"` |") {
			t.Errorf("effect kind %s is not in the reference's effects table", k)
		}
	}
	helpers := []string{"fired", "since", "done", "done_since", "answered", "attempts", "hinted", "achieved", "failed", "conduit_open", "writes", "team_wrote", "reachable", "talkers"}
	for _, h := range helpers {
		if !strings.Contains(doc, "`"+h+"(") {
			t.Errorf("rule helper %s() is not in the reference", h)
		}
	}
	// Every helper the rule environment offers is in the list above.
	known := map[string]bool{}
	for _, h := range helpers {
		known[h] = true
	}
	env := reflect.TypeOf(Env{})
	for i := range env.NumField() {
		f := env.Field(i)
		if name := f.Tag.Get("expr"); f.Type.Kind() == reflect.Func && !known[name] {
			t.Errorf("rule helper %s() is new: document it in the reference and add it here", name)
		}
	}
	// Every top-level key has its section.
	spec := reflect.TypeOf(Spec{})
	for i := range spec.NumField() {
		name, _, _ := strings.Cut(spec.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" && !strings.Contains(doc, "## `"+name+"`") {
			t.Errorf("top-level key %s has no section in the reference", name)
		}
	}
}

// defaultsScenario leaves out every field that has a default.
const defaultsScenario = `id: defaults
version: 1
title: Defaults
duration: 1h
plant:
  zones: [{id: it}, {id: control}]
  conduits: [{from: it, to: control}]
  plcs: [{id: tank, model: water-tank, zone: control}]
  hosts: [{id: attacker, role: attacker, zone: it}]
injects:
  - id: a
    at: 1m
    do: [{replay: {plc: tank, tag: level}}, {flood: {from: attacker, plc: tank}}]
  - id: b
    after: {inject: a}
    say: later
actions:
  - {id: act, title: Act, do: [{stop_host: {host: attacker}}]}
questions:
  - {id: q, prompt: Q, answer: {number: 1}}
hints:
  - {id: h, text: T}
`

// The reference's Defaults table lists every default, each at the value a
// scenario that leaves it out gets, and nothing else; the effect fields
// with a default are those the registry declares.
func TestReferenceDefaults(t *testing.T) {
	sc, err := Load("defaults.yaml", []byte(defaultsScenario))
	if err != nil {
		t.Fatal(err)
	}
	// short writes a duration as the reference does: 60s, not 1m0s.
	short := func(d time.Duration) string {
		switch {
		case d == 0:
			return "0"
		case d%time.Second == 0:
			return fmt.Sprintf("%ds", d/time.Second)
		}
		return d.String()
	}
	// orPLC is a PLC setting the scenario leaves 0: the PLC's own applies.
	orPLC := func(d, plc time.Duration) string {
		if d != 0 {
			return "scenario sets " + d.String()
		}
		return short(plc)
	}
	always := func(r *Rule) string {
		if r == nil {
			return "always"
		}
		return r.Source
	}
	in := sc.Injects
	want := map[string]string{
		"teams.min":                    fmt.Sprint(sc.MinTeams),
		"teams.max":                    fmt.Sprint(sc.MaxTeams),
		"plant.plcs[].unit_id":         fmt.Sprint(sc.PLCs[0].UnitID),
		"plant.plcs[].scan":            orPLC(sc.PLCs[0].Scan, plantsim.DefaultScan),
		"plant.plcs[].noise":           fmt.Sprint(sc.PLCs[0].Noise),
		"plant.plcs[].frame_timeout":   orPLC(sc.PLCs[0].FrameTimeout, plantsim.DefaultFrameTimeout),
		"plant.hosts[].address":        sc.Hosts[0].Address,
		"injects[].after.delay":        short(in[1].Delay),
		"replay.window":                short(in[0].Effects[0].Window),
		"flood.duration":               short(in[0].Effects[1].Duration),
		"actions[].cooldown":           short(sc.Actions[0].Cooldown),
		"questions[].attempts":         fmt.Sprint(sc.Questions[0].Attempts),
		"questions[].answer.tolerance": fmt.Sprint(sc.Spec.Questions[0].Answer.Tolerance),
		"questions[].visible":          always(sc.Questions[0].Visible),
		"hints[].title":                sc.Hints[0].Title.In("en"),
		"hints[].request":              fmt.Sprint(sc.Hints[0].Requestable),
	}
	for _, k := range plant.Kinds() {
		for _, f := range k.Fields {
			if f.Default == 0 {
				continue
			}
			name := k.Name + "." + f.Name
			if w, ok := want[name]; !ok {
				t.Errorf("effect field %s has a default the test does not know: add it to defaultsScenario and here", name)
			} else if w != short(f.Default) {
				t.Errorf("%s: a scenario gets %s, the registry declares %s", name, w, short(f.Default))
			}
		}
	}

	doc := referenceDoc(t)
	start := strings.Index(doc, "\n## Defaults\n")
	if start < 0 {
		t.Fatal("the reference has no Defaults section")
	}
	section := doc[start+1:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| (.*) \\|$")
	rows := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		rows[m[1]] = m[2]
	}
	for field, value := range want {
		cell, ok := rows[field]
		switch {
		case !ok:
			t.Errorf("the reference's Defaults table has no row for %s (default %s)", field, value)
		case !strings.Contains(cell, "`"+value+"`"):
			t.Errorf("the reference gives %s the default %q; a scenario gets `%s`", field, cell, value)
		}
	}
	for field := range rows {
		if _, ok := want[field]; !ok {
			t.Errorf("the reference's Defaults table lists %s, which this test does not check", field)
		}
	}
}
