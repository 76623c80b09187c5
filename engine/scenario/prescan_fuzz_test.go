package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// parserCost is what goccy/go-yaml really does with a file: its tokens, how
// deep its flow collections and its AST nest, and the bytes it allocates.
type parserCost struct {
	tokens, flowDepth, astDepth int
	alloc                       int64
}

func measureParser(data []byte) parserCost {
	var c parserCost
	flow := 0
	for _, tk := range lexer.Tokenize(string(data)) {
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
			c.flowDepth = max(c.flowDepth, flow)
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		}
		c.tokens++
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	file, err := parser.ParseBytes(data, 0)
	runtime.ReadMemStats(&after)
	c.alloc = int64(after.TotalAlloc - before.TotalAlloc)
	if err == nil {
		for _, doc := range file.Docs {
			ast.Walk(&depthVisitor{max: &c.astDepth}, doc)
		}
	}
	return c
}

// depthVisitor finds how deeply mappings and sequences nest in an AST.
type depthVisitor struct {
	depth int
	max   *int
}

func (v *depthVisitor) Visit(n ast.Node) ast.Visitor {
	switch n.(type) {
	case *ast.MappingNode, *ast.SequenceNode:
		*v.max = max(*v.max, v.depth+1)
		return &depthVisitor{depth: v.depth + 1, max: v.max}
	}
	return v
}

// prescanSlack is the parser's fixed cost, beyond the pre-scan's estimate
// per byte and per token, for tiny inputs.
const prescanSlack = 64 << 10

// prescanSeeds are small hostile inputs of each kind the pre-scan knows
// (the tests use larger ones), and the corners of its model of the parser.
var prescanSeeds = []string{
	"a: " + strings.Repeat("[", 120) + strings.Repeat("]", 120),
	"a: " + strings.Repeat("{a: ", 120) + "1" + strings.Repeat("}", 120),
	"a: x" + strings.Repeat("[", 200),
	"a: \"" + strings.Repeat("[", 200) + "\"",
	"a: '" + strings.Repeat("{", 200) + "'",
	"# " + strings.Repeat("[", 200),
	"a: |\n  " + strings.Repeat("[", 200) + "\nb: 1\n",
	"a: |\n    x\n  " + strings.Repeat("[", 20) + "\n",
	"- key: |\n x\n - [[\n",
	"a: this\n  [b continuation\n",
	"a: x\n  \"\nb: [[[[]]]]\n",
	"[a\n\"[[[[\n]",
	"]]][[[[]]]]",
	"{]]][[[[[",
	"a: x#[[",
	"a: [x]#c",
	"a: \"x\"[y]",
	"[a,#b\n]",
	"? [x]\n: y",
	"a: >2\n   x\n  [y]\n",
	"a: &x[x]",
	"a: *x[x]",
	"[&a[[[ x]]]]",
	"&a\t[[[[",
	"a: !t[x]",
	"%YAML 1.2\n---\na: [1]\n",
	"a: 1\n...\n---\nb: [2]\n",
	"a: <<<<<<<<<<\n<<: {b: 1}\n",
	"a: \"\t\t\tx\"\n",
	"a: |\n  x\n\n\n\n\nb: 1\n",
	"a: |+\n  x\n\n\n\n",
	"x: &a [1, 2, 3]\ny: &b [*a, *a, *a]\nz: &c [*b, *b, *b]\nw: [*c, *c, *c]\n",
	"a: &a\n  b: &b\n    c: *a\n",
	"&x a: 1\nb: *x\n",
	strings.Repeat("k: 1\n", 50),
	strings.Repeat("- ", 110) + "x\n",
	"a:\n- b:\n  - c:\n    - d: 1\n",
	"a: \xff\n",
	"\xc3: b\n",
	"é: \"\xe2\x82\"\n",
	"a: 1\r\nb: [2,\r 3]\r\n",
}

// FuzzPrescan checks the pre-scan against the parser it protects: what it
// lets through, goccy/go-yaml tokenises into no more tokens than it counted,
// nests no deeper than it measured, and parses in no more memory than it
// estimated; what it turns away has a position inside the file (invalid
// UTF-8 exactly at the first bad byte). It never panics and runs in linear
// time.
func FuzzPrescan(f *testing.F) {
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
		f.Add(data)
	}
	for _, s := range append(prescanSeeds, fuzzSnippets...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxFileSize {
			return
		}
		watchdog := time.AfterFunc(20*time.Second, func() {
			panic(fmt.Sprintf("prescan did not return within 20s on %q", data))
		})
		s, err := scanYAML(data)
		watchdog.Stop()

		if err != nil {
			if lines := 1 + strings.Count(string(data), "\n") + strings.Count(string(data), "\r"); err.Line < 1 || err.Line > lines || err.Col < 1 {
				t.Fatalf("error outside the file (%d lines): %d:%d: %s", lines, err.Line, err.Col, err.Msg)
			}
			if err.Msg == "" {
				t.Fatal("error without a message")
			}
		}
		if !utf8.Valid(data) {
			// The first bad byte, found another way: ranging over a
			// string yields a one-byte RuneError there.
			bad := -1
			for i, r := range string(data) {
				if r == utf8.RuneError && !strings.HasPrefix(string(data[i:]), "\uFFFD") {
					bad = i
					break
				}
			}
			want := errorAt(data, bad, "")
			if err == nil || !strings.HasPrefix(err.Msg, "invalid UTF-8") || err.Line != want.Line || err.Col != want.Col {
				t.Fatalf("invalid UTF-8 at %d:%d (byte %d), pre-scan says %v", want.Line, want.Col, bad, err)
			}
			return
		}
		if err != nil {
			return
		}
		checkTokens(t, data)
		got := measureParser(data)
		if got.tokens > int(s.nodes)+3 {
			t.Errorf("the parser made %d tokens, the pre-scan counted %d", got.tokens, s.nodes)
		}
		if got.flowDepth > s.maxDepth || got.astDepth > s.maxDepth+1 {
			t.Errorf("the parser nests %d deep in flow and %d in its AST, the pre-scan measured %d", got.flowDepth, got.astDepth, s.maxDepth)
		}
		if got.alloc > s.mem+prescanSlack {
			t.Errorf("the parser allocated %d bytes, the pre-scan estimated %d", got.alloc, s.mem)
		}
	})
}

// tokenKinds are the parser's token types whose places the pre-scan must
// find exactly: where a collection, a quoted or block scalar, a comment, a
// tag, an anchor or alias starts, and the indicators.
var tokenKinds = map[token.Type]byte{
	token.SequenceStartType: '[', token.SequenceEndType: ']', token.MappingStartType: '{', token.MappingEndType: '}',
	token.CollectEntryType: ',', token.MappingValueType: ':', token.SequenceEntryType: '-', token.MappingKeyType: '?',
	token.DoubleQuoteType: '"', token.SingleQuoteType: '\'', token.LiteralType: '|', token.FoldedType: '>',
	token.CommentType: '#', token.TagType: '!', token.AnchorType: '&', token.AliasType: '*',
}

// checkTokens compares where the pre-scan and the parser's lexer see those
// tokens.
func checkTokens(t *testing.T, data []byte) {
	t.Helper()
	want := map[at]int{}
	for _, tk := range lexer.Tokenize(string(data)) {
		if k, ok := tokenKinds[tk.Type]; ok {
			col := tk.Position.Column
			if k == '#' {
				col = 0 // the lexer's is its own after a block scalar header
			}
			want[at{k, tk.Position.Line, col}]++
		}
	}
	var trace []tokenAt
	s := &prescanner{src: data, col: 1, anchors: map[string]int64{}, trace: &trace}
	s.run()
	got := map[at]int{}
	for _, tk := range trace {
		if strings.IndexByte("[]{},:-?\"'|>#!&*", tk.kind) >= 0 {
			col := tk.col
			if tk.kind == '#' {
				col = 0
			}
			got[at{tk.kind, errorAt(data, tk.at, "").Line, col}]++
		}
	}
	// The lexer counts no line for a line break in a hex escape, and its
	// columns after tabs and tags are its own: compare what is certain.
	switch {
	case strings.ContainsAny(string(data), "\\\r"), strings.Contains(string(data), "\"") && strings.Contains(string(data), "\t"):
		// (Nor does it count lines after a comment ended by CR LF as we
		// do, nor a line break it skips after double-quoted text with
		// tabs.)
		want, got = collapse(want, false), collapse(got, false)
	case strings.ContainsAny(string(data), "\t!"):
		want, got = collapse(want, true), collapse(got, true)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("the lexer has %d %q at %d:%d, the pre-scan %d", n, k.kind, k.line, k.col, got[k])
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("the pre-scan has %d %q at %d:%d, the lexer none", n, k.kind, k.line, k.col)
		}
	}
}

type at struct {
	kind      byte
	line, col int
}

// collapse forgets the columns of tokens, and their lines unless keepLine.
func collapse(m map[at]int, keepLine bool) map[at]int {
	out := map[at]int{}
	for k, n := range m {
		k.col = 0
		if !keepLine {
			k.line = 0
		}
		out[k] += n
	}
	return out
}
