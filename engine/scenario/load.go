package scenario

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// MaxFileSize bounds a scenario file; real ones are a few kilobytes.
const MaxFileSize = 1 << 20

// Error is one problem in a scenario file.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors is every problem found in a file, in file order.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// LoadFile reads, validates and compiles a scenario file.
func LoadFile(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	defer f.Close()
	data := make([]byte, MaxFileSize+1)
	n, _ := readFull(f, data)
	if n > MaxFileSize {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}
	}
	return Load(path, data[:n])
}

func readFull(f *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Load validates and compiles a scenario; name is used in error positions.
// On failure the error is an Errors holding every problem found.
func Load(name string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}
	}
	l := &loader{file: name, pos: map[string]token.Position{}}
	spec := l.decode(data)
	if spec == nil {
		return nil, l.result()
	}
	sc := l.check(spec)
	if err := l.result(); err != nil {
		return nil, err
	}
	return sc, nil
}

type loader struct {
	file   string
	errs   Errors
	pos    map[string]token.Position // YAML path → position of its value
	keys   map[string]token.Position // YAML path → position of its key
	quoted map[string]bool           // YAML path → value is a quoted string
	block  map[string]bool           // YAML path → value is a block scalar
	failed map[string]bool           // YAML paths whose decoding failed
}

// decoded reports whether a path decoded cleanly; checks that a value is
// missing skip paths that failed, so one typo doesn't cascade.
func (l *loader) decoded(path string) bool { return !l.failed[path] }

func (l *loader) result() error {
	if len(l.errs) == 0 {
		return nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool {
		a, b := l.errs[i], l.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	// The same problem reached twice (e.g. by two rules) is reported once.
	out := l.errs[:0]
	for i, e := range l.errs {
		if i > 0 && e == l.errs[i-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}

func (l *loader) add(line, col int, format string, a ...any) {
	l.errs = append(l.errs, Error{File: l.file, Line: line, Col: col, Msg: fmt.Sprintf(format, a...)})
}

// at reports a problem at a YAML path, or its nearest parent that exists.
func (l *loader) at(path, format string, a ...any) {
	for p := path; ; p = parentPath(p) {
		if pos, ok := l.pos[p]; ok {
			l.add(pos.Line, pos.Column, format, a...)
			return
		}
		if p == "" {
			l.add(0, 0, format, a...)
			return
		}
	}
}

// atKey reports a problem at the key of a path (for "this field is wrong
// here" rather than "this value is wrong").
func (l *loader) atKey(path, format string, a ...any) {
	if pos, ok := l.keys[path]; ok {
		l.add(pos.Line, pos.Column, format, a...)
		return
	}
	l.at(path, format, a...)
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// yamlErr converts a decoding error into positioned Errors.
func (l *loader) yamlErr(err error, fallback ast.Node) {
	var pe *posError
	if errors.As(err, &pe) {
		l.add(pe.line, pe.col, "%s", pe.msg)
		return
	}
	var ye interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &ye) {
		msg := ye.GetMessage()
		if tk := ye.GetToken(); tk != nil {
			l.add(tk.Position.Line, tk.Position.Column, "%s", cleanYAMLMessage(msg))
			return
		}
	}
	line, col := 0, 0
	if fallback != nil && fallback.GetToken() != nil {
		line, col = fallback.GetToken().Position.Line, fallback.GetToken().Position.Column
	}
	l.add(line, col, "%s", cleanYAMLMessage(err.Error()))
}

// cleanYAMLMessage turns Go type names in decoder messages into words a
// scenario author knows.
func cleanYAMLMessage(msg string) string {
	r := strings.NewReplacer(
		"scenario.Duration", "duration", "scenario.Text", "text", "scenario.Number", "number",
		"[]scenario.", "list of ", "scenario.", "", "*", "", "float64", "number", "int", "integer",
	)
	return r.Replace(msg)
}

func (l *loader) decode(data []byte) *Spec {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		l.yamlErr(err, nil)
		return nil
	}
	if len(file.Docs) != 1 || file.Docs[0].Body == nil {
		l.add(1, 1, "a scenario file holds exactly one YAML document")
		return nil
	}
	root, ok := unwrap(file.Docs[0].Body).(*ast.MappingNode)
	if !ok {
		tk := file.Docs[0].Body.GetToken()
		l.add(tk.Position.Line, tk.Position.Column, "a scenario is a map of id, title, plant, injects, …")
		return nil
	}
	l.keys = map[string]token.Position{}
	l.quoted, l.block, l.failed = map[string]bool{}, map[string]bool{}, map[string]bool{}
	l.index(root, "")
	l.pos[""] = *root.GetToken().Position

	spec := &Spec{}
	sv := reflect.ValueOf(spec).Elem()
	fields := yamlFields(sv.Type())
	seen := map[string]bool{}
	for _, kv := range root.Values {
		key := kv.Key.String()
		kpos := kv.Key.GetToken().Position
		if seen[key] {
			l.add(kpos.Line, kpos.Column, "duplicate key %q", key)
			continue
		}
		seen[key] = true
		fi, ok := fields[key]
		if !ok {
			l.add(kpos.Line, kpos.Column, "unknown field %q (known: %s)", key, strings.Join(sortedKeys(fields), ", "))
			continue
		}
		fv := sv.Field(fi)
		val := unwrap(kv.Value)
		if fv.Kind() == reflect.Slice {
			if _, null := val.(*ast.NullNode); null {
				continue
			}
			seq, ok := val.(*ast.SequenceNode)
			if !ok {
				pos := val.GetToken().Position
				l.add(pos.Line, pos.Column, "%s must be a list", key)
				continue
			}
			// Each element decodes on its own so one bad inject doesn't hide
			// the problems of the next.
			for i, el := range seq.Values {
				ev := reflect.New(fv.Type().Elem())
				if err := yaml.NodeToValue(el, ev.Interface(), yaml.Strict()); err != nil {
					l.yamlErr(err, el)
					l.failed[key+"["+strconv.Itoa(i)+"]"] = true
				}
				fv.Set(reflect.Append(fv, ev.Elem()))
			}
			continue
		}
		if err := yaml.NodeToValue(kv.Value, fv.Addr().Interface(), yaml.Strict()); err != nil {
			l.yamlErr(err, kv.Value)
			l.failed[key] = true
		}
	}
	for _, req := range []string{"id", "version", "title", "duration", "plant"} {
		if !seen[req] {
			l.add(1, 1, "missing required field %q", req)
		}
	}
	return spec
}

func yamlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
}

// index records the position of every value and key by path.
func (l *loader) index(n ast.Node, path string) {
	n = unwrap(n)
	if n == nil || n.GetToken() == nil {
		return
	}
	tk := n.GetToken()
	l.pos[path] = *tk.Position
	switch tk.Type {
	case token.DoubleQuoteType, token.SingleQuoteType:
		l.quoted[path] = true
	}
	switch v := n.(type) {
	case *ast.LiteralNode:
		l.block[path] = true
	case *ast.MappingNode:
		for _, kv := range v.Values {
			p := kv.Key.String()
			if path != "" {
				p = path + "." + p
			}
			l.keys[p] = *kv.Key.GetToken().Position
			l.index(kv.Value, p)
		}
	case *ast.SequenceNode:
		for i, el := range v.Values {
			l.index(el, path+"["+strconv.Itoa(i)+"]")
		}
	}
}
