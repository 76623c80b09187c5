package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes fn allocates. TotalAlloc counts every
// allocation, so the figure does not depend on the garbage collector or on
// how loaded the machine is.
func allocated(fn func()) int64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// nestedFlow is a scenario whose plant is n flow maps nested in each other
// ({a: {a: ...}}) or, with seq, n flow sequences ([[...]]).
func nestedFlow(n int, seq bool) []byte {
	open, close := "{a: ", "}"
	if seq {
		open, close = "[", "]"
	}
	return []byte("id: x\nplant: " + strings.Repeat(open, n) + "1" + strings.Repeat(close, n) + "\n")
}

// A 200 KB file of nested flow maps took the YAML parser 11.8 s and 3.4 GB;
// the loader now turns it away at its 101st level (the top-level mapping is
// the first), allocating next to nothing. (BenchmarkPrescanNestedFlow times
// it.)
func TestLoadRejectsDeepNesting200KB(t *testing.T) {
	for _, seq := range []bool{false, true} {
		n := 200 << 10 / 5
		if seq {
			n = 200 << 10 / 2
		}
		data := nestedFlow(n, seq)
		var err error
		alloc := allocated(func() { _, err = Load("deep.yaml", data) })
		es, ok := err.(Errors)
		if !ok || len(es) != 1 {
			t.Fatalf("%d bytes nested %d deep: %v, want one error", len(data), n, err)
		}
		// The 100th opener, inside the top-level mapping: "plant: " is 7
		// columns, each level 4 ("{a: ") or 1.
		width := 4
		if seq {
			width = 1
		}
		if want := (Error{File: "deep.yaml", Line: 2, Col: 8 + 99*width, Msg: "collections nest deeper than 100 levels"}); es[0] != want {
			t.Errorf("got %v\nwant %v", es[0], want)
		}
		if alloc > 200<<20 {
			t.Errorf("rejecting %d bytes allocated %d MB, want under 200 MB", len(data), alloc>>20)
		}
		t.Logf("%d KB nested %d deep: rejected with %d bytes allocated", len(data)>>10, n, alloc)
	}
}

func BenchmarkPrescanNestedFlow(b *testing.B) {
	data := nestedFlow(200<<10/5, false)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load("deep.yaml", data); err == nil {
			b.Fatal("loaded")
		}
	}
}

// BenchmarkPrescan is the pre-scan's cost on the largest shipped scenario.
func BenchmarkPrescan(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "..", "scenarios", "chemical-reactor.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := prescan(data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLoadRejectsInvalidUTF8(t *testing.T) {
	base := "id: x\nversion: 1\ntitle: t\nduration: 10m\n"
	for _, tc := range []struct {
		name, yaml string
		line, col  int
		b          byte
	}{
		{"in a text value", base + "description: caf\xe9 au lait\n", 5, 17, 0xe9},
		{"in a key", base + "d\xffescription: x\n", 5, 2, 0xff},
		{"after other characters on the line", base + "title: {en: Tank, ja: タンク\xa0}\n", 5, 26, 0xa0},
		{"in a quoted text", base + "description: \"ok\\n\xc3(\"\n", 5, 19, 0xc3},
		{"in a comment", "# \xfe\n" + base, 1, 3, 0xfe},
		{"in a block scalar", base + "description: |\n  line one\n  line \xed\xa0\x80 two\n", 7, 8, 0xed},
		{"an overlong encoding", base + "title: \xc0\xaf\n", 5, 8, 0xc0},
		{"cut off at the end", base + "title: \xe3\x82", 5, 8, 0xe3},
		{"after CR LF lines", "id: x\r\nversion: 1\r\ntitle: \x80\r\n", 3, 8, 0x80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("bad.yaml", []byte(tc.yaml))
			want := fmt.Sprintf("bad.yaml:%d:%d: invalid UTF-8 (byte %#02x): save the file as UTF-8", tc.line, tc.col, tc.b)
			if err == nil || err.Error() != want {
				t.Fatalf("got  %v\nwant %s", err, want)
			}
			if es, ok := err.(Errors); !ok || len(es) != 1 {
				t.Fatalf("error is %T %v, want one Error", err, err)
			}
		})
	}
}

// Each kind of file the YAML parser would choke on is turned away at the
// place that makes it so, and a file just inside a limit is not.
func TestPrescanLimits(t *testing.T) {
	rep := strings.Repeat
	blockMap := func(depth int) string {
		var b strings.Builder
		for i := range depth {
			b.WriteString(rep(" ", i) + "a:\n")
		}
		return b.String() + rep(" ", depth) + "b: 1\n"
	}
	keys := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "k%d: 1\n", i)
		}
		return b.String()
	}
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'h'; i++ {
		laughs += fmt.Sprintf("%c: &%c [%s]\n", i, i, strings.TrimSuffix(rep(fmt.Sprintf("*%c, ", i-1), 10), ", "))
	}
	for _, tc := range []struct {
		name, yaml string
		want       string // "" for accepted
		line, col  int
	}{
		{"flow maps 100 deep", string(nestedFlow(99, false)), "", 0, 0},
		{"flow maps 101 deep", string(nestedFlow(100, false)), "nest deeper than 100", 2, 8 + 99*4},
		{"block maps 100 deep", blockMap(99), "", 0, 0},
		{"block maps 101 deep", blockMap(100), "nest deeper than 100", 101, 101},
		{"compact sequences 101 deep", rep("- ", 101) + "x\n", "nest deeper than 100", 1, 201},
		// The parser nests a key after a bare '-' at the same column,
		// and '-' inside a flow collection: 2 levels a line, or a '-'.
		{"keys after bare dashes", rep("k:\n-\n", 51) + "k: 1\n", "nest deeper than 100", 101, 1},
		{"dashes in a flow sequence", "a: [" + rep("- ", 100) + "x]\n", "nest deeper than 100", 1, 5 + 98*2},
		// Ten times ten times ten...: at the eighth alias of d (23 000
		// nodes each), it would take 128 MiB.
		{"a billion laughs", laughs, "alias *d expands to", 5, 32},
		{"an alias of a big anchor, many times", "a: &a [" + rep("x, ", 3000) + "x]\nb: [" + rep("*a, ", 200) + "*a]\n", "alias *a expands to 6003 nodes", 2, 5 + 4*30},
		{"a block mapping of 5000 keys", keys(5000), "a block mapping with 4921 keys", 4921, 1},
		{"a block mapping of 3000 keys", keys(3000), "", 0, 0},
		{"200 000 flow items", "a: [" + rep("1,", 200000) + "1]\n", "too many YAML nodes", 1, 155169},
		{"20 000 blank lines ending a block scalar", "a: |\n  x\n" + rep("\n", 20000) + "b: 1\n", "20000 blank lines", 20003, 1},
		{"blank lines kept with |+", "a: |+\n  x\n" + rep("\n", 20000) + "b: 1\n", "", 0, 0},
		{"a run of 10 000 '<'", "a: " + rep("<", 10000) + "\n", "a run of 10000 '<'", 1, 4},
		{"10 000 tabs in double quotes", "a: \"" + rep("\tx", 10000) + "\"\n", "10000 tabs in double-quoted text", 1, 5},
		{"tabs in single quotes", "a: '" + rep("\tx", 10000) + "'\n", "", 0, 0},
		// Flow indicators that are text to the parser count nothing.
		{"brackets in plain text", "a: x" + rep("[", 5000) + "\n", "", 0, 0},
		{"brackets in quotes", "a: \"" + rep("[", 5000) + "\"\nb: '" + rep("{", 5000) + "'\n", "", 0, 0},
		{"brackets in a comment", "# " + rep("[", 5000) + "\na: 1\n", "", 0, 0},
		{"brackets in a block scalar", "a: |\n  " + rep("[", 5000) + "\nb: 1\n", "", 0, 0},
		// ...but after the parser's error in quoted text (here a tab
		// indenting it), it lexes the rest as YAML.
		{"brackets after an error in quotes", "a: \"x\n\t" + rep("[", 200) + "\"\n", "nest deeper than 100", 2, 2 + 99},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := prescan([]byte(tc.yaml))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %d:%d: %s", err.Line, err.Col, err.Msg)
			case tc.want == "":
			case err == nil:
				t.Fatalf("accepted, want %q", tc.want)
			case !strings.Contains(err.Msg, tc.want) || err.Line != tc.line || err.Col != tc.col:
				t.Fatalf("got %d:%d: %s\nwant %d:%d: …%s…", err.Line, err.Col, err.Msg, tc.line, tc.col, tc.want)
			}
		})
	}
}

// The cost model holds where it matters, near the limits: what the parser
// allocates for a file the pre-scan lets through is within its estimate.
func TestPrescanCostModel(t *testing.T) {
	rep := strings.Repeat
	var keys strings.Builder
	for i := range 2500 {
		fmt.Fprintf(&keys, "key%d: [1, 2]\n", i)
	}
	for _, tc := range []struct{ name, yaml string }{
		{"a block mapping of 2500 keys", keys.String()},
		{"60 000 flow items", "a: [" + rep("1, ", 60000) + "1]\n"},
		{"2000 blank lines ending a block scalar", "a: |\n" + rep("  text\n", 200) + rep("\n", 2000) + "b: 1\n"},
		{"flow maps 100 deep, 300 times", "a: [" + rep(string(nestedFlow(98, false)[len("id: x\nplant: "):len(nestedFlow(98, false))-1])+", ", 300) + "1]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.yaml)
			s, err := scanYAML(data)
			if err != nil {
				t.Fatalf("rejected: %d:%d: %s", err.Line, err.Col, err.Msg)
			}
			got := measureParser(data)
			if got.alloc > s.mem {
				t.Errorf("the parser allocated %d MB, the pre-scan estimated %d MB", got.alloc>>20, s.mem>>20)
			}
			t.Logf("%d KB: the parser allocated %.1f MB, estimated %.1f MB", len(data)>>10, float64(got.alloc)/(1<<20), float64(s.mem)/(1<<20))
		})
	}
}

// Every shipped scenario is far inside the limits.
func TestPrescanShippedScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped scenarios: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, perr := scanYAML(data)
		if perr != nil {
			t.Fatalf("%s: %d:%d: %s", f, perr.Line, perr.Col, perr.Msg)
		}
		if s.maxDepth > MaxNesting/10 || s.mem > MaxParseMemory/16 || s.steps > maxParserSteps/16 {
			t.Errorf("%s nests %d deep, needs an estimated %d MB, %d parser steps: not far inside the limits", f, s.maxDepth, s.mem>>20, s.steps)
		}
		t.Logf("%s: %d nodes, %d deep, %.1f MB", filepath.Base(f), s.nodes, s.maxDepth, float64(s.mem)/(1<<20))
	}
}
