package scenario

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/invopop/jsonschema"
)

// Langs are the languages trainee-facing text can carry.
var Langs = []string{"en", "ja"}

// Text is trainee-facing text in English and Japanese. In YAML it is either
// a plain string (English) or a map {en: ..., ja: ...}.
type Text struct {
	En string `json:"en,omitempty"`
	Ja string `json:"ja,omitempty"`
}

// In returns the text in lang, falling back to English, then Japanese.
func (t Text) In(lang string) string {
	if lang == "ja" && t.Ja != "" {
		return t.Ja
	}
	if t.En != "" {
		return t.En
	}
	return t.Ja
}

// IsZero reports whether the text is empty in every language.
func (t Text) IsZero() bool { return t.En == "" && t.Ja == "" }

// UnmarshalYAML implements the goccy/go-yaml node unmarshaler so errors keep
// their positions.
func (t *Text) UnmarshalYAML(node ast.Node) error {
	node = unwrap(node)
	switch n := node.(type) {
	case *ast.StringNode:
		t.En = n.Value
		return nil
	case *ast.LiteralNode:
		t.En = n.Value.Value
		return nil
	case *ast.MappingNode:
		for _, kv := range n.Values {
			k := kv.Key.String()
			v, ok := scalarString(kv.Value)
			if !ok {
				return posErr(kv.Value, "text in %q must be a string", k)
			}
			switch k {
			case "en":
				t.En = v
			case "ja":
				t.Ja = v
			default:
				return posErr(kv.Key, "unknown language %q in text (use en, ja)", k)
			}
		}
		return nil
	case *ast.NullNode:
		return nil
	}
	if s, ok := scalarString(node); ok {
		t.En = s
		return nil
	}
	return posErr(node, "text must be a string or a map of en/ja strings")
}

// JSONSchema describes Text for editors.
func (Text) JSONSchema() *jsonschema.Schema {
	props := jsonschema.NewProperties()
	props.Set("en", &jsonschema.Schema{Type: "string", Description: "English"})
	props.Set("ja", &jsonschema.Schema{Type: "string", Description: "Japanese"})
	return &jsonschema.Schema{
		Description: "Text in English and Japanese: a string (English) or {en, ja}.",
		OneOf: []*jsonschema.Schema{
			{Type: "string"},
			{Type: "object", Properties: props, AdditionalProperties: jsonschema.FalseSchema},
		},
	}
}

// Duration is a Go duration string in YAML ("90s", "5m", "1h30m").
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	node = unwrap(node)
	s, ok := scalarString(node)
	if !ok {
		return posErr(node, "want a duration like 90s, 5m or 1h30m, got %s", describe(node))
	}
	if _, isNum := node.(*ast.IntegerNode); isNum && s != "0" {
		return posErr(node, "%s has no unit: write %ss or %sm", s, s, s)
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return posErr(node, "%q is not a duration like 90s, 5m or 1h30m", s)
	}
	if v < 0 {
		return posErr(node, "%s is negative", s)
	}
	*d = Duration(v)
	return nil
}

// JSONSchema describes Duration for editors.
func (Duration) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$`,
		Description: "A duration such as 90s, 5m or 1h30m."}
}

func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			return v
		default:
			return n
		}
	}
}

func scalarString(n ast.Node) (string, bool) {
	switch v := unwrap(n).(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return v.GetToken().Value, true
	}
	return "", false
}

// posError is an error at a YAML node.
type posError struct {
	line, col int
	msg       string
}

func (e *posError) Error() string { return e.msg }

func posErr(n ast.Node, format string, a ...any) error {
	e := &posError{msg: fmt.Sprintf(format, a...)}
	if n != nil && n.GetToken() != nil {
		e.line, e.col = n.GetToken().Position.Line, n.GetToken().Position.Column
	}
	return e
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
