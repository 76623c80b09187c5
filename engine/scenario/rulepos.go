package scenario

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/token"
)

// rulePos maps an offset (in characters) into a rule's decoded text back
// to its line and column in the file, through quotes, escapes, line folding
// and block scalars, so an error points at the offending token.
func (l *loader) rulePos(path string, off int) (int, int) {
	tk := l.tok[path]
	if tk == nil || tk.Position == nil {
		pos := l.pos[path]
		return pos.Line, pos.Column
	}
	line, col := tk.Position.Line, tk.Position.Column
	if line < 1 || line > len(l.lines) {
		return line, col
	}
	switch tk.Type {
	case token.LiteralType, token.FoldedType:
		return l.blockPos(line, off)
	}
	quote := rune(0)
	switch tk.Type {
	case token.DoubleQuoteType:
		quote = '"'
	case token.SingleQuoteType:
		quote = '\''
	}
	src := []rune(l.lines[line-1])
	i := col - 1 // goccy columns count characters from 1
	if quote != 0 {
		i++
	}
	n := 0
	for {
		if i >= len(src) {
			// The scalar continues on the next line: the break folds into
			// one space and the next line's indentation is dropped.
			if line >= len(l.lines) {
				return line, i + 1
			}
			line++
			src = []rune(l.lines[line-1])
			i = 0
			for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
				i++
			}
			if n == off {
				return line, i + 1
			}
			n++
			continue
		}
		if n == off {
			return line, i + 1
		}
		switch {
		case quote == '\'' && src[i] == '\'' && i+1 < len(src) && src[i+1] == '\'':
			i += 2
		case quote == '"' && src[i] == '\\' && i+1 < len(src):
			i += 1 + escapeLen(src[i+1:])
		default:
			i++
		}
		n++
	}
}

// escapeLen is the source length of a double-quoted escape after its
// backslash.
func escapeLen(r []rune) int {
	switch r[0] {
	case 'x':
		return min(3, len(r))
	case 'u':
		return min(5, len(r))
	case 'U':
		return min(9, len(r))
	}
	return 1
}

// blockPos maps an offset into a block scalar (| or >) that starts on the
// line after its indicator.
func (l *loader) blockPos(indicator, off int) (int, int) {
	line := indicator + 1
	indent := -1
	for ; line <= len(l.lines); line++ {
		text := l.lines[line-1]
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" {
			if off == 0 {
				return line, 1
			}
			off-- // an empty line is one character (a line break)
			continue
		}
		if indent < 0 {
			indent = len(text) - len(trimmed)
		}
		content := []rune(text)
		if len(content) > indent {
			content = content[indent:]
		}
		if off <= len(content) {
			return line, indent + off + 1
		}
		off -= len(content) + 1 // the line and its break
	}
	return indicator, 1
}

// friendlyRuleMessage says expr's type complaints in an author's words.
func friendlyRuleMessage(msg string) string {
	kinds := map[string]string{"float64": "a number", "int": "a number", "string": "text", "bool": "true or false", "interface {}": "a value of any type"}
	var want, got string
	if n, _ := fmt.Sscanf(msg, "expected %s but got %s", &want, &got); n == 2 {
		want = strings.TrimSuffix(want, ",")
		if k, ok := kinds[got]; ok {
			got = k
		}
		switch want {
		case "bool":
			return "this rule must be a condition (true or false), but it gives " + got
		case "float64":
			return "this rule must give a number, but it gives " + got
		}
	}
	return msg
}
