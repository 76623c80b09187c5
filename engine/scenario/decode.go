package scenario

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"github.com/icsrange/icsrange/plant-sim/plant"
)

// The decoder walks goccy/go-yaml's AST into the spec types itself rather
// than calling its struct decoder: that decoder stops at the first problem,
// names Go types in its messages and panics on some tagged values. Walking
// the AST lets every element report its own problems at their positions in
// the author's words, and decoding goes on past them.

// decode parses the file and decodes it into a Spec.
func (l *loader) decode(data []byte) (spec *Spec) {
	defer func() {
		// A parser bug must not take the validator down; say where we were.
		if r := recover(); r != nil {
			l.add(1, 1, "cannot read this file (YAML parser failure: %v)", r)
			spec = nil
		}
	}()
	if strings.TrimSpace(string(data)) == "" {
		l.add(1, 1, "the file is empty")
		return nil
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		l.yamlErr(err)
		return nil
	}
	if len(file.Docs) != 1 || file.Docs[0].Body == nil {
		l.add(1, 1, "a scenario file holds exactly one YAML document")
		return nil
	}
	l.lines = strings.Split(string(data), "\n")
	l.keys = map[string]token.Position{}
	l.tok = map[string]*token.Token{}
	l.failed = map[string]bool{}
	l.anchors = map[string]ast.Node{}
	body := file.Docs[0].Body
	if _, ok := l.resolve(body).(*ast.MappingNode); !ok {
		tk := body.GetToken()
		l.add(tk.Position.Line, tk.Position.Column, "a scenario is a map of id, version, title, duration, plant, injects, …")
		return nil
	}
	spec = &Spec{}
	l.decodeValue(body, reflect.ValueOf(spec).Elem(), "")
	return spec
}

// yamlErr reports a parse error at its position.
func (l *loader) yamlErr(err error) {
	var ye interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if e, ok := err.(interface {
		GetToken() *token.Token
		GetMessage() string
	}); ok {
		ye = e
	}
	if ye != nil && ye.GetToken() != nil {
		p := ye.GetToken().Position
		l.add(p.Line, p.Column, "YAML syntax: %s", ye.GetMessage())
		return
	}
	l.add(1, 1, "YAML syntax: %v", err)
}

// resolve strips anchors and follows aliases; YAML tags other than the
// standard ones are refused (there is no include mechanism).
func (l *loader) resolve(n ast.Node) ast.Node {
	for range 64 {
		switch v := n.(type) {
		case *ast.AnchorNode:
			if name := v.Name.String(); name != "" {
				l.anchors[name] = v.Value
			}
			n = v.Value
		case *ast.AliasNode:
			target, ok := l.anchors[v.Value.String()]
			if !ok {
				return n
			}
			n = target
		case *ast.TagNode:
			if !strings.HasPrefix(v.Start.Value, "!!") {
				return n
			}
			n = v.Value
		default:
			return n
		}
	}
	return n
}

// posOf is where a problem with a node is shown: for a block map, its
// first key (goccy places the map itself at that key's colon).
func posOf(n ast.Node) (int, int) {
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		if tk := m.Values[0].Key.GetToken(); tk != nil {
			return tk.Position.Line, tk.Position.Column
		}
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Position.Line, tk.Position.Column
	}
	return 0, 0
}

func (l *loader) addAt(n ast.Node, format string, a ...any) {
	line, col := posOf(n)
	l.add(line, col, format, a...)
}

// record notes where a path's value is, for later checks.
func (l *loader) record(n ast.Node, path string) {
	line, col := posOf(n)
	l.pos[path] = token.Position{Line: line, Column: col}
	if tk := n.GetToken(); tk != nil {
		l.tok[path] = tk
	}
}

// nodeUnmarshaler is implemented by Text, Duration and Number.
type nodeUnmarshaler interface{ UnmarshalYAML(ast.Node) error }

// typeNames are the authors' words for the spec types.
var typeNames = map[string]string{
	"Spec": "scenario", "TeamLimits": "teams", "PlantSpec": "plant", "ZoneSpec": "zone", "ConduitSpec": "conduit",
	"PLCSpec": "PLC", "HostSpec": "host", "InjectSpec": "inject", "AfterSpec": "after", "ActionSpec": "action",
	"QuestionSpec": "question", "MatcherSpec": "answer", "HintSpec": "hint", "ObjectiveSpec": "objective",
	"PartialSpec": "partial credit tier", "TestSpec": "test", "StepSpec": "step", "TraineeWrite": "write",
	"AdjustSpec": "adjustment", "ExpectSpec": "expect", "EffectArgs": "effect",
}

func lastField(path string) string {
	i := strings.LastIndexAny(path, ".")
	p := path[i+1:]
	if j := strings.Index(p, "["); j >= 0 {
		p = p[:j]
	}
	if p == "" {
		return "value"
	}
	return p
}

// decodeValue decodes n into v, reporting problems; it returns false when
// n could not be decoded whole.
func (l *loader) decodeValue(n ast.Node, v reflect.Value, path string) bool {
	raw := n
	n = l.resolve(n)
	l.record(n, path)
	switch t := n.(type) {
	case *ast.TagNode:
		l.addAt(raw, "YAML tag %s is not supported here", t.Start.Value)
		l.failed[path] = true
		return false
	case *ast.AliasNode:
		l.addAt(raw, "alias *%s refers to no anchor before it", t.Value.String())
		l.failed[path] = true
		return false
	}
	if u, ok := v.Addr().Interface().(nodeUnmarshaler); ok {
		if err := u.UnmarshalYAML(n); err != nil {
			if pe, ok := err.(*posError); ok {
				l.add(pe.line, pe.col, "%s: %s", lastField(path), pe.msg)
			} else {
				l.addAt(n, "%s: %v", lastField(path), err)
			}
			l.failed[path] = true
			return false
		}
		return true
	}
	if e, ok := v.Addr().Interface().(*EffectSpec); ok {
		return l.decodeEffect(n, e, path)
	}
	ok := l.decodeKind(n, v, path)
	if !ok {
		l.failed[path] = true
	}
	return ok
}

func (l *loader) decodeKind(n ast.Node, v reflect.Value, path string) bool {
	_, null := n.(*ast.NullNode)
	field := lastField(path)
	switch v.Kind() {
	case reflect.Pointer:
		if null {
			return true
		}
		p := reflect.New(v.Type().Elem())
		ok := l.decodeValue(n, p.Elem(), path)
		v.Set(p)
		return ok
	case reflect.Struct:
		if null {
			return true
		}
		return l.decodeStruct(n, v, path)
	case reflect.Slice:
		if null {
			return true
		}
		seq, isSeq := n.(*ast.SequenceNode)
		if !isSeq {
			l.addAt(n, "%s must be a list", field)
			return false
		}
		ok := true
		for i, el := range seq.Values {
			p := fmt.Sprintf("%s[%d]", path, i)
			ev := reflect.New(v.Type().Elem()).Elem()
			if _, isNull := l.resolve(el).(*ast.NullNode); isNull && v.Type().Elem().Kind() == reflect.Struct {
				l.addAt(el, "empty entry in %s", field)
				l.failed[p] = true
				ok = false
			} else if !l.decodeValue(el, ev, p) {
				ok = false
			}
			// Failed elements stay, so later paths keep their indexes.
			v.Set(reflect.Append(v, ev))
		}
		return ok
	case reflect.Map:
		if null {
			return true
		}
		m, isMap := n.(*ast.MappingNode)
		if !isMap {
			l.addAt(n, "%s must be a map", field)
			return false
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		ok := true
		for _, kv := range m.Values {
			k := kv.Key.String()
			p := path + "." + k
			l.keys[p] = *kv.Key.GetToken().Position
			if v.MapIndex(reflect.ValueOf(k)).IsValid() {
				l.addAt(kv.Key, "duplicate key %q", k)
				ok = false
				continue
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			if !l.decodeValue(kv.Value, ev, p) {
				ok = false
				continue
			}
			v.SetMapIndex(reflect.ValueOf(k), ev)
		}
		return ok
	case reflect.String:
		s, isScalar := scalarString(n)
		if null {
			return true
		}
		if !isScalar {
			l.addAt(n, "%s: want text", field)
			return false
		}
		v.SetString(s)
		return true
	case reflect.Int:
		iv, isInt := n.(*ast.IntegerNode)
		if !isInt {
			l.addAt(n, "%s: want a whole number, got %s", field, describe(n))
			return false
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(iv.GetToken().Value, "_", ""), 0, 64)
		if err != nil || i > math.MaxInt32 || i < math.MinInt32 {
			l.addAt(n, "%s: %s is out of range", field, iv.GetToken().Value)
			return false
		}
		v.SetInt(i)
		return true
	case reflect.Float64:
		var f float64
		switch nv := n.(type) {
		case *ast.IntegerNode, *ast.FloatNode:
			var err error
			f, err = strconv.ParseFloat(strings.ReplaceAll(nv.GetToken().Value, "_", ""), 64)
			if err != nil {
				if fv, ok := nv.(*ast.FloatNode); ok {
					f = fv.Value
				} else {
					l.addAt(n, "%s: bad number %s", field, nv.GetToken().Value)
					return false
				}
			}
		case *ast.NanNode, *ast.InfinityNode:
			l.addAt(n, "%s: want a finite number", field)
			return false
		default:
			l.addAt(n, "%s: want a number, got %s", field, describe(n))
			return false
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			l.addAt(n, "%s: want a finite number", field)
			return false
		}
		v.SetFloat(f)
		return true
	case reflect.Bool:
		b, isBool := n.(*ast.BoolNode)
		if !isBool {
			l.addAt(n, "%s: want true or false, got %s", field, describe(n))
			return false
		}
		v.SetBool(b.Value)
		return true
	}
	l.addAt(n, "%s: unsupported value", field)
	return false
}

// describe names what a node is, for "want X, got Y".
func describe(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode:
		return fmt.Sprintf("text %q", v.Value)
	case *ast.FloatNode:
		return "the fraction " + v.GetToken().Value
	case *ast.IntegerNode:
		return "the number " + v.GetToken().Value
	case *ast.BoolNode:
		return v.GetToken().Value
	case *ast.MappingNode:
		return "a map"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "nothing"
	}
	return "something else"
}

type fieldInfo struct {
	index    int
	required bool
}

func yamlFieldInfo(t reflect.Type) (map[string]fieldInfo, []string) {
	out := map[string]fieldInfo{}
	var names []string
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = fieldInfo{index: i, required: !strings.Contains(opts, "omitempty")}
		names = append(names, name)
	}
	return out, names
}

func (l *loader) decodeStruct(n ast.Node, v reflect.Value, path string) bool {
	what := typeNames[v.Type().Name()]
	fields, names := yamlFieldInfo(v.Type())
	m, isMap := n.(*ast.MappingNode)
	if !isMap {
		if path == "" {
			l.addAt(n, "a scenario is a map of %s", strings.Join(names, ", "))
		} else {
			l.addAt(n, "%s must be a map of %s", lastField(path), strings.Join(names, ", "))
		}
		return false
	}
	ok := true
	seen := map[string]bool{}
	for _, kv := range m.Values {
		key := kv.Key.String()
		p := key
		if path != "" {
			p = path + "." + key
		}
		l.keys[p] = *kv.Key.GetToken().Position
		if seen[key] {
			l.addAt(kv.Key, "duplicate key %q", key)
			ok = false
			continue
		}
		seen[key] = true
		fi, known := fields[key]
		if !known {
			l.addAt(kv.Key, "unknown field %q in %s (known: %s)", key, what, strings.Join(names, ", "))
			ok = false
			continue
		}
		if !l.decodeValue(kv.Value, v.Field(fi.index), p) {
			ok = false
		}
	}
	for _, name := range names {
		if fields[name].required && !seen[name] {
			if path == "" {
				l.add(1, 1, "missing required field %q", name)
			} else {
				l.addAt(n, "%s has no %s", what, name)
			}
			ok = false
		}
	}
	return ok
}

// decodeEffect decodes the one-key effect map: the kind picks which fields
// are allowed and required.
func (l *loader) decodeEffect(n ast.Node, e *EffectSpec, path string) bool {
	e.line, e.col = posOf(n)
	m, ok := n.(*ast.MappingNode)
	if !ok || len(m.Values) != 1 {
		l.addAt(n, "an effect is a map with one key, its kind (one of %s)", strings.Join(EffectKinds(), ", "))
		return false
	}
	kv := m.Values[0]
	kindName := kv.Key.String()
	kind, known := plant.Lookup(kindName)
	if !known {
		l.addAt(kv.Key, "unknown effect %q (one of %s)", kindName, strings.Join(EffectKinds(), ", "))
		return false
	}
	e.Kind = kindName
	fieldsOf := strings.Join(append(kind.Required(), kind.Optional()...), ", ")
	args, isMap := l.resolve(kv.Value).(*ast.MappingNode)
	if !isMap {
		l.addAt(kv.Value, "effect %s takes a map of fields: %s", kindName, fieldsOf)
		return false
	}
	base := path + "." + kindName
	l.record(args, base)
	allowed := map[string]bool{}
	for _, f := range append(kind.Required(), kind.Optional()...) {
		allowed[f] = true
	}
	fields, _ := yamlFieldInfo(reflect.TypeOf(EffectArgs{}))
	av := reflect.ValueOf(&e.Args).Elem()
	good := true
	present := map[string]bool{}
	for _, f := range args.Values {
		k := f.Key.String()
		p := base + "." + k
		l.keys[p] = *f.Key.GetToken().Position
		if present[k] {
			l.addAt(f.Key, "duplicate key %q", k)
			good = false
			continue
		}
		present[k] = true
		if !allowed[k] {
			l.addAt(f.Key, "effect %s has no field %q (it takes %s)", kindName, k, fieldsOf)
			good = false
			continue
		}
		if !l.decodeValue(f.Value, av.Field(fields[k].index), p) {
			good = false
		}
	}
	for _, f := range kind.Required() {
		if !present[f] {
			l.addAt(kv.Key, "effect %s needs %s", kindName, f)
			good = false
		}
	}
	if !good {
		l.failed[path] = true
	}
	return good
}
