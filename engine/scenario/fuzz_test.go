package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// fuzzSnippets are small seeds that reach the loader's corners: YAML
// oddities, every section in its wrong shape, and rules.
var fuzzSnippets = []string{
	"",
	"\n",
	"---\n...\n",
	"null",
	"[]",
	"{}",
	"id: x\n---\nid: y\n",
	"id: &a x\ntitle: *a\n",
	"plant: *missing\n",
	"<<: {id: x}\n",
	"? [a, b]\n: c\n",
	"!!binary aGk=\n",
	"id: !custom x\nversion: !!str 1\n",
	"duration: 5\n",
	"duration: -1h\n",
	"duration: [1m]\n",
	"title: {en: a, ja: b, fr: c}\n",
	"title: |\n  a\n  b\n",
	"teams: {min: 0, max: 0}\n",
	"plant: {zones: [{id: z}], plcs: [{id: p, model: water-tank, zone: z, params: {area_m2: .nan}}]}\n",
	"injects: [~, 1, [], {}]\n",
	"injects: [{id: a, do: [~, x, {}, {scan: ~}, {scan: {}}, {a: 1, b: 2}]}]\n",
	"injects: [{id: a, after: {inject: a}}, {id: b, after: {inject: c}}, {id: c, after: {inject: b}}]\n",
	"objectives: [{id: o, points: 1, when: 'plant.', bonus: '(((('}]\n",
	"objectives: [{id: o, points: 1, when: \"fired(\", fail_when: \"host.\"}]\n",
	"objectives: [{id: o, points: 1, when: 'all(1..20000, any(-3..int(elapsed), # > 1))', fail_when: 'len(0..9223372036854775807) > 0'}]\n",
	"questions: [{id: q, prompt: p, answer: {regex: '('}}]\n",
	"tests: [{name: t, steps: [{at: 1m, answer: {q: a}}], expect: {objectives: {o: x}}}]\n",
	"id: x\nversion: 1\ntitle: t\nduration: 1m\nplant:\n  zones: [{id: z}]\n  plcs: [{id: p, model: reactor, zone: z}]\nobjectives:\n  - id: o\n    points: 1\n    when: |\n      plant.p.pressure >\n        plant.q.level\n",
}

// FuzzLoad checks that Load never panics or hangs, that a failure is
// always an Errors list naming the file, in (line, col) order, and that a
// scenario that loads has its defaults filled.
func FuzzLoad(f *testing.F) {
	var files []string
	for _, pattern := range []string{
		filepath.Join("testdata", "*", "*", "scenario.yaml"),
		filepath.Join("..", "..", "scenarios", "*.yaml"),
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		f.Fatal("no seed scenarios")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		// A case recording a known loader panic (see TestLoadGolden) would
		// fail every plain go test run; it is reported there instead.
		if _, err := os.Stat(filepath.Join(filepath.Dir(file), "bug.txt")); err == nil {
			if _, p, _ := loadRecover("seed", data); p != nil {
				f.Logf("not seeding %s: known panic", file)
				continue
			}
		}
		f.Add(data)
	}
	for _, s := range fuzzSnippets {
		f.Add([]byte(s))
	}

	const name = "fuzz.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang fails the run with the input: the fuzzing engine has no
		// per-input timeout.
		watchdog := time.AfterFunc(20*time.Second, func() {
			panic(fmt.Sprintf("Load did not return within 20s on %q", data))
		})
		sc, err := Load(name, data)
		watchdog.Stop()

		if err == nil {
			if sc == nil {
				t.Fatal("Load returned neither a Scenario nor an error")
			}
			for i, w := range sc.Warnings {
				if w.File != name || w.Line < 1 || w.Col < 1 || !w.Warn || w.Msg == "" {
					t.Errorf("warning %d is not a warning at a place in the file: %#v", i, w)
				}
			}
			// The spec compiled is the defaulted one, and its defaults are
			// filled once and for all.
			if again := defaults(sc.Spec); !reflect.DeepEqual(again, sc.Spec) {
				t.Error("filling the defaults of the compiled spec changed it")
			}
			return
		}
		if sc != nil {
			t.Error("Load returned a Scenario along with an error")
		}
		es, ok := err.(Errors)
		if !ok {
			t.Fatalf("error is a %T, want Errors: %v", err, err)
		}
		if len(es) == 0 {
			t.Fatal("Load failed with an empty Errors")
		}
		for i, e := range es {
			if e.File != name {
				t.Errorf("error %d names file %q, want %q", i, e.File, name)
			}
			if e.Line < 0 || e.Col < 0 {
				t.Errorf("error %d at negative position: %v", i, e)
			}
			if e.Msg == "" {
				t.Errorf("error %d has no message", i)
			}
			if e.Warn {
				t.Errorf("error %d is marked a warning: %v", i, e)
			}
			if i > 0 {
				p := es[i-1]
				if e.Line < p.Line || e.Line == p.Line && e.Col < p.Col {
					t.Errorf("errors out of order: %v before %v", p, e)
				}
			}
		}
	})
}
