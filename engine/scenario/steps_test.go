package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/token"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

// The three steps after decoding (validate.go) keep to their parts:
// validation and defaults change no spec, defaults are filled once and for
// all, and compile places every rule validation compiled.

// decodeFile decodes a scenario as Load does, stopping before validation.
func decodeFile(t *testing.T, data []byte) (*loader, *Spec) {
	t.Helper()
	l := &loader{file: "scenario.yaml", pos: map[string]token.Position{}}
	return l, l.decode(data)
}

// stepCases are every scenario of the golden tests and every shipped one.
func stepCases(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, pattern := range []string{filepath.Join("testdata", "*", "*", "scenario.yaml"), filepath.Join("..", "..", "scenarios", "*.yaml")} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[f] = data
		}
	}
	if len(out) < 40 {
		t.Fatalf("only %d scenarios to test with", len(out))
	}
	return out
}

func TestValidateAndDefaultsChangeNoSpec(t *testing.T) {
	var big strings.Builder
	big.WriteString("id: big\nversion: 1\ntitle: T\nduration: 1h\nplant:\n  zones: [{id: z}]\n  plcs: [{id: p, model: water-tank, zone: z}]\nhints:\n")
	for i := range maxItems + 1 {
		fmt.Fprintf(&big, "  - {id: h%d, text: t}\n", i)
	}
	cases := stepCases(t)
	cases["over the section limit"] = []byte(big.String())
	valid := 0
	for name, data := range cases {
		l, s := decodeFile(t, data)
		if s == nil {
			continue // decoding failed: nothing to validate
		}
		_, before := decodeFile(t, data)
		l.validate(s)
		if !reflect.DeepEqual(s, before) {
			t.Errorf("%s: validate changed the spec", name)
		}
		if len(l.errs) > 0 {
			continue
		}
		valid++
		d := defaults(s)
		if !reflect.DeepEqual(s, before) {
			t.Errorf("%s: defaults changed the spec it was given", name)
		}
		if again := defaults(d); !reflect.DeepEqual(again, d) {
			t.Errorf("%s: filling the defaults of a defaulted spec changed it", name)
		}
		if reflect.DeepEqual(d, s) {
			t.Errorf("%s: defaults filled nothing (teams at least have defaults)", name)
		}
	}
	if valid < 5 {
		t.Errorf("only %d valid scenarios", valid)
	}
}

// Compile finds each rule by the path validation compiled it at: every
// rule written in the file is compiled once, numbered in order, and sits
// in the one place it was written.
func TestCompilePlacesEveryRule(t *testing.T) {
	for name, data := range stepCases(t) {
		sc, err := Load("scenario.yaml", data)
		if err != nil {
			continue
		}
		s := sc.Spec
		written := 0
		for _, in := range s.Injects {
			written += nonEmpty(in.When)
		}
		for _, q := range s.Questions {
			written += nonEmpty(q.Visible)
		}
		for _, o := range s.Objectives {
			written += nonEmpty(o.When) + nonEmpty(o.FailWhen) + nonEmpty(o.Bonus) + len(o.Partial)
		}
		placed := map[*Rule]string{}
		place := func(r *Rule, src, where string) {
			if src == "" {
				if r != nil {
					t.Errorf("%s: %s has a rule but the file writes none there", name, where)
				}
				return
			}
			switch {
			case r == nil:
				t.Errorf("%s: %s: rule %q was not compiled into its place", name, where, src)
			case r.Source != src:
				t.Errorf("%s: %s holds rule %q, the file writes %q", name, where, r.Source, src)
			case placed[r] != "":
				t.Errorf("%s: rule %q is in both %s and %s", name, src, placed[r], where)
			default:
				placed[r] = where
			}
		}
		for i, in := range sc.Injects {
			place(in.When, s.Injects[i].When, fmt.Sprintf("injects[%d].when", i))
		}
		for i, q := range sc.Questions {
			place(q.Visible, s.Questions[i].Visible, fmt.Sprintf("questions[%d].visible", i))
		}
		for i, o := range sc.Objectives {
			os := s.Objectives[i]
			place(o.When, os.When, fmt.Sprintf("objectives[%d].when", i))
			place(o.FailWhen, os.FailWhen, fmt.Sprintf("objectives[%d].fail_when", i))
			place(o.Bonus, os.Bonus, fmt.Sprintf("objectives[%d].bonus", i))
			for j, p := range o.Partial {
				place(p.When, os.Partial[j].When, fmt.Sprintf("objectives[%d].partial[%d].when", i, j))
			}
		}
		if len(sc.Rules) != written || len(placed) != written {
			t.Errorf("%s: the file writes %d rules; %d compiled, %d placed", name, written, len(sc.Rules), len(placed))
		}
		for i, r := range sc.Rules {
			if r.ID != i || placed[r] != r.Path {
				t.Errorf("%s: Rules[%d] has id %d and path %s, but sits at %q", name, i, r.ID, r.Path, placed[r])
			}
		}
	}
}

func nonEmpty(s string) int {
	if s == "" {
		return 0
	}
	return 1
}

// EffectArgs and plant.Args hold the same fields, and an effect's fields
// pass to the registry and back (for its defaults) whole.
func TestEffectArgsRoundTrip(t *testing.T) {
	if a, p := reflect.TypeOf(EffectArgs{}).NumField(), reflect.TypeOf(plant.Args{}).NumField(); a != p {
		t.Fatalf("EffectArgs has %d fields, plant.Args %d", a, p)
	}
	var a EffectArgs
	v := reflect.ValueOf(&a).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name)
		case reflect.Int64: // Duration
			f.SetInt(int64(i + 1))
		case reflect.Pointer: // Value
			n := Number(float64(i) + 0.5)
			f.Set(reflect.ValueOf(&n))
		default:
			t.Fatalf("field %s of kind %s: teach this test to set it", v.Type().Field(i).Name, f.Kind())
		}
	}
	p := a.plant()
	pv := reflect.ValueOf(p)
	for i := range pv.NumField() {
		if pv.Field(i).IsZero() {
			t.Errorf("plant.Args.%s is not set from EffectArgs", pv.Type().Field(i).Name)
		}
	}
	if back := argsOf(p); !reflect.DeepEqual(back, a) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, a)
	}
}
