package scenario

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// MaxFileSize bounds a scenario file; real ones are a few kilobytes.
const MaxFileSize = 1 << 20

// Error is one problem in a scenario file, or a warning (Warn) about
// something that loads but may hurt a run.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
	Warn bool
}

func (e Error) Error() string {
	msg := e.Msg
	if e.Warn {
		msg = "warning: " + msg
	}
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, msg)
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

// Load reads a scenario: it decodes the file, validates it, fills its
// defaults and compiles it (see validate.go); name is used in error
// positions. On failure the error is an Errors holding every problem
// found.
func Load(name string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}
	}
	// What the YAML parser must never see, before it does.
	if e := prescan(data); e != nil {
		e.File = name
		return nil, Errors{*e}
	}
	l := &loader{file: name, pos: map[string]token.Position{}}
	spec := l.decode(data)
	if spec == nil {
		return nil, l.result()
	}
	rules := l.validate(spec)
	if err := l.result(); err != nil {
		return nil, err
	}
	sc := compile(defaults(spec), rules)
	sc.Warnings = inFileOrder(l.warns)
	return sc, nil
}

type loader struct {
	file    string
	errs    Errors
	warns   Errors
	pos     map[string]token.Position // YAML path → position of its value
	keys    map[string]token.Position // YAML path → position of its key
	tok     map[string]*token.Token   // YAML path → its value's first token
	failed  map[string]bool           // YAML paths whose decoding failed
	lines   []string                  // the source, for positions inside rules
	anchors map[string]ast.Node
}

// decoded reports whether a path decoded cleanly; checks that a value is
// missing skip paths that failed, so one typo doesn't cascade.
func (l *loader) decoded(path string) bool { return !l.failed[path] }

func (l *loader) result() error {
	if len(l.errs) == 0 {
		return nil
	}
	return inFileOrder(l.errs)
}

// inFileOrder sorts problems by position; the same problem reached twice
// (e.g. by two rules) is reported once.
func inFileOrder(es Errors) Errors {
	if len(es) == 0 {
		return nil
	}
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := es[:0]
	for i, e := range es {
		if i > 0 && e == es[i-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}

func (l *loader) add(line, col int, format string, a ...any) {
	l.errs = append(l.errs, Error{File: l.file, Line: line, Col: col, Msg: fmt.Sprintf(format, a...)})
}

func (l *loader) warn(line, col int, format string, a ...any) {
	l.warns = append(l.warns, Error{File: l.file, Line: line, Col: col, Msg: fmt.Sprintf(format, a...), Warn: true})
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
