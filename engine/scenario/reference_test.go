package scenario

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
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
