package scenario

import (
	"fmt"
	"unicode/utf8"
)

// The pre-scan reads a scenario file once, before the YAML parser does, and
// turns away what would make that parser (goccy/go-yaml) or the decoder
// behind it take time or memory out of all proportion to the file: invalid
// UTF-8 (the parser would quietly turn it into U+FFFD), collections nested
// deeper than MaxNesting (the parser's cost per token grows with the depth:
// 80 KB of nested flow maps took it 590 MB), and files whose parse the
// pre-scan estimates at more than MaxParseMemory or maxParserSteps.
//
// The estimate follows what the parser really does, measured on
// goccy/go-yaml v1.19.2: a cost per byte and per token, and the paths where
// its cost is quadratic — block mappings (it copies the rest of a mapping at
// every key), blank lines ending a block scalar (each is trimmed by copying
// the whole text), tabs in double-quoted text (each rescans the rest of the
// line), runs of '<' (each rescans the run) — plus the nodes aliases expand
// to in our decoder (an alias is decoded again wherever it is used, so
// anchors of aliases of anchors are the "billion laughs").
//
// To count what the parser counts, the scanner follows the parser rather
// than the YAML specification where they differ: its lexer's notion of where
// a token starts (a flow indicator inside a plain scalar is text; '#' is a
// comment at a token start or after a space; a line ends a plain or block
// scalar only if it starts at or left of the last key's column), its errors
// (after which it lexes on, so text after an error in quotes is YAML again),
// its columns, and the nesting its parser builds (a key after a bare '-' at
// the same column is that entry's value; a '-' inside a flow collection is
// a nested block sequence). FuzzPrescan holds the scanner to the parser:
// the same tokens in the same places, no deeper nesting, no more memory.
//
// It runs in one pass, in linear time, and keeps only a stack of the open
// collections and the anchors' sizes.

// Limits of the pre-scan (see docs/scenario-reference.md, "Limits").
const (
	// MaxNesting bounds how deeply collections nest, block and flow
	// together (the top-level mapping is the first). Shipped scenarios
	// nest 6 deep.
	MaxNesting = 100
	// MaxParseMemory bounds the memory the pre-scan estimates parsing and
	// decoding a file takes. Shipped scenarios need 2–4 MB.
	MaxParseMemory = 128 << 20
	// maxParserSteps bounds the characters the parser visits on its
	// quadratic paths that allocate nothing (tabs in double-quoted text,
	// runs of '<'): about 20 ms of its time.
	maxParserSteps = 1 << 24
)

// The cost model, in bytes allocated, measured on goccy/go-yaml v1.19.2.
const (
	costPerByte  = 64  // the parser's copies of the source (runes, token origins)
	costPerNode  = 700 // a token and its AST node (550–650); a node an alias expands to in the decoder
	costPerKey   = 5   // × (2k−1) for a block mapping's k-th key: about 4.4·n² for n keys
	costPerChomp = 6   // × text length for each blank line ending a block scalar
)

// prescan checks data as described above. The error has no File.
func prescan(data []byte) *Error {
	_, err := scanYAML(data)
	return err
}

// scanYAML runs the pre-scan and returns its counts too.
func scanYAML(data []byte) (*prescanner, *Error) {
	s := &prescanner{src: data, col: 1, mem: costPerByte * int64(len(data)), anchors: map[string]int64{}}
	if off := invalidUTF8(data); off >= 0 {
		return s, errorAt(data, off, fmt.Sprintf("invalid UTF-8 (byte %#02x): save the file as UTF-8", data[off]))
	}
	s.run()
	if s.failed {
		return s, errorAt(data, s.errAt, s.errMsg)
	}
	return s, nil
}

// invalidUTF8 returns the offset of the first byte that is not UTF-8, or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// errorAt is an Error at a byte offset: lines end at LF, CRLF or CR and
// columns count characters, both from 1, as the YAML parser counts them.
func errorAt(b []byte, off int, msg string) *Error {
	line, start := 1, 0
	for i := 0; i < off; i++ {
		switch b[i] {
		case '\r':
			if i+1 < off && b[i+1] == '\n' {
				i++
			}
			fallthrough
		case '\n':
			line, start = line+1, i+1
		}
	}
	return &Error{Line: line, Col: utf8.RuneCount(b[start:off]) + 1, Msg: msg}
}

// level is an open block collection.
type level struct {
	col  int  // column of its keys or dashes
	seq  bool // a sequence, else a mapping
	keys int64
}

// anchor is an anchor whose node has not ended yet.
type anchor struct {
	name  string
	start int64 // nodes counted before it
	flow  int   // flow nesting where it stands; 0 in block context
	col   int   // in block context, a line starting at or left of this column ends its node
}

type prescanner struct {
	src []byte
	i   int // offset of the next byte
	col int // column of src[i]

	// The parser's lexer state, which decides what a character means.
	seqs, maps int  // open flow sequences and maps as it counts them (a stray ']' takes seqs below 0)
	plain      bool // a plain scalar (or an anchor or alias name) is being read
	plainCol   int  // where it began, as the lexer places it
	plainEnd   int  // the column after its last character that is not a space
	plainLines bool // it has gone on to another line
	quotedCol  int  // column of the last token if it was a quoted scalar, else 0
	space      bool // the last character was a space, tab or line break
	indented   bool // the line began with a space or tab
	named      byte // '&' or '*' while reading an anchor or alias name
	directive  bool // on a directive's line
	anchoring  bool // from a '&' or '*' to the next space or line break
	origin     byte // what the lexer's source buffer starts with since its last token: 0, ' ', '\t' (after at most one space) or 'a'
	seenText   bool // and whether it holds more than spaces and tabs

	nameAt int
	delim  int  // column of the last key, '-', '?' or '<<'; 0 for none
	last   byte // the last token's first character (':' for a mapping value)
	ltLeft int  // '<' left in the current run

	// Structure.
	flow int // open flow collections, as the parser nests them
	// The open flow collections, and the nesting the parser adds in them.
	flows  []flowLevel
	extra  int     // the sum of their extra
	block  []level // open block collections
	keyCol int     // column and offset where the last node in block context began
	keyAt  int
	bare   bool // nothing follows the last key or '-' in block context yet
	// How the last block scalar's text ended: at a line left of it, with
	// no text, after blank lines.
	textEnd, textEmpty, textBlank, textSpace bool
	// Where the line's first node is, and whether the entry before it was bare.
	lineCol  int
	lineBare bool

	// Costs.
	maxDepth      int
	nodes         int64
	mem, steps    int64
	dqTabs, dqSum int64 // tabs in double-quoted text since the last line break, and their offsets summed
	dqFirst       int
	lineEnd       int // the end of the line textFollows last looked at,
	lastText      int // and its last character that is not a space or tab

	anchors map[string]int64 // node count of each anchor; -1-i while open[i] is still open
	open    []anchor

	failed bool
	errAt  int
	errMsg string

	trace *[]tokenAt // for tests: every token counted
}

// tokenAt is a token the pre-scan counted: its first character, offset and
// column as the lexer counts it.
type tokenAt struct {
	kind    byte
	at, col int
}

func (s *prescanner) fail(at int, format string, a ...any) {
	if !s.failed {
		s.failed, s.errAt, s.errMsg = true, at, fmt.Sprintf(format, a...)
	}
}

func (s *prescanner) peek(n int) byte {
	if s.i+n < len(s.src) {
		return s.src[s.i+n]
	}
	return 0
}

// blankOrEnd reports a space, tab or line break, or 0 (the end, or a NUL:
// the lexer does not tell them apart after a '-').
func blankOrEnd(c byte) bool { return c == 0 || c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// blankAfter reports whether the n-th byte from the cursor is a space,
// tab or line break, or past the end.
func (s *prescanner) blankAfter(n int) bool {
	j := s.i + n
	return j >= len(s.src) || s.src[j] == ' ' || s.src[j] == '\t' || s.src[j] == '\n' || s.src[j] == '\r'
}

// adv moves one byte on; continuation bytes of a character add no column.
func (s *prescanner) adv() {
	s.i++
	if s.i < len(s.src) && s.src[s.i]&0xC0 != 0x80 {
		s.col++
	}
}

func (s *prescanner) flowMode() bool { return s.seqs > 0 || s.maps > 0 }

func (s *prescanner) depth() int { return len(s.block) + s.flow + s.extra }

// token counts one token of the parser's, starting at the cursor.
func (s *prescanner) token(kind byte) { s.tokenAt(kind, s.i, s.col) }

func (s *prescanner) tokenAt(kind byte, at, col int) {
	if s.trace != nil {
		*s.trace = append(*s.trace, tokenAt{kind, at, col})
	}
	if kind != 'a' {
		s.last = kind // a plain scalar's token comes when it ends
		s.origin, s.seenText = 0, false
	}
	s.nodes++
	s.mem += costPerNode
	if s.mem > MaxParseMemory {
		s.fail(s.i, "too many YAML nodes: parsing this file would take more than %d MiB (about %d bytes a node; a scenario has a few thousand nodes)",
			MaxParseMemory>>20, costPerNode)
	}
}

// startNode notes where a node in block context begins, for its key.
func (s *prescanner) startNode() {
	if s.flow == 0 {
		s.keyCol, s.keyAt = s.col, s.i
		s.bare = false
	}
}

// flush ends a plain scalar, an anchor or alias name.
func (s *prescanner) flush() {
	if s.named != 0 {
		s.endName()
	}
	if s.plain {
		s.last = 'a'
		s.origin, s.seenText = 0, false
	}
	s.plain = false
}

// see adds a character the lexer keeps in its source buffer.
func (s *prescanner) see(c byte) {
	if c != ' ' && c != '\t' {
		s.seenText = true
	}
	switch {
	case s.origin == 0 && (c == ' ' || c == '\t'), s.origin == ' ' && c == '\t':
		s.origin = c
	case s.origin == 0 || s.origin == ' ':
		s.origin = 'a'
	}
}

func (s *prescanner) run() {
	s.lineStart()
	for s.i < len(s.src) && !s.failed {
		s.step()
	}
	s.settleTabs(len(s.src))
}

func (s *prescanner) step() {
	c := s.src[s.i]
	if c != '<' {
		s.ltLeft = 0
	}
	switch c {
	case '\n', '\r':
		s.newline()
		return
	case ' ':
		if s.anchoring || s.directive {
			s.flush()
			s.anchoring = false
		} else {
			s.see(c)
		}
		s.space = true
		s.adv()
		return
	case '\t':
		s.tab() // does not end a name
		return
	case '[', '{':
		if s.plain && !s.flowMode() {
			break // text in a plain scalar
		}
		s.flush()
		if s.flow == 0 {
			s.startNode()
		}
		s.token(c)
		if c == '[' {
			s.seqs++
		} else {
			s.maps++
		}
		s.flow++
		s.flows = append(s.flows, flowLevel{isMap: c == '{'})
		s.nest(s.i)
		s.space = false
		s.adv()
		return
	case ']', '}':
		if c == ']' && s.plain && s.seqs <= 0 || c == '}' && s.maps <= 0 {
			break
		}
		s.flush()
		s.token(c)
		if c == ']' {
			s.seqs--
		} else {
			s.maps--
		}
		if s.flow > 0 {
			s.closeFlowAnchors(s.flow)
			s.flow--
			s.flowEntry()
			s.flows = s.flows[:len(s.flows)-1]
		}
		s.space = false
		s.adv()
		return
	case ',':
		if !s.flowMode() {
			break
		}
		s.flush()
		s.token(c)
		s.closeFlowAnchors(s.flow)
		s.flowEntry()
		s.space = false
		s.adv()
		return
	case ':':
		if s.mapValue() {
			return
		}
	case '-':
		if s.col == 1 && !s.indented && s.run3('-') && s.blankAfter(3) {
			s.document()
			return
		}
		if !s.plain && blankOrEnd(s.peek(1)) {
			if s.origin == '\t' {
				s.lexError() // "tab character cannot use as a sequence delimiter"
				return
			}
			s.token(c)
			s.delim = s.col
			if s.flow == 0 {
				s.entry(s.col, true)
			} else {
				s.nestInFlow()
			}
			s.space = false
			s.adv()
			return
		}
	case '?':
		if !s.plain && (s.peek(1) == ' ' || s.peek(1) == '\t') {
			s.token(c)
			s.delim = s.col
			if s.flow == 0 {
				s.entry(s.col, false)
			}
			s.space = false
			s.adv()
			return
		}
	case '.':
		if s.col == 1 && !s.indented && s.run3('.') {
			s.flush()
			s.token('E')
			s.i += 3
			s.col += 3
			s.space = false
			return
		}
	case '<':
		if s.lessThan() {
			return
		}
	case '|', '>':
		if !s.plain {
			s.blockScalar()
			return
		}
	case '!':
		if !s.plain && !s.directive {
			s.tag()
			return
		}
	case '%':
		if !s.plain && !s.indented {
			s.token(c)
			s.directive = true
			s.space = false
			s.adv()
			return
		}
	case '&', '*':
		if !s.plain {
			s.flush()
			s.startNode()
			s.token(c)
			// The name is read as a plain scalar, from its first
			// character that would start one.
			s.named, s.nameAt = c, s.i+1
			s.anchoring = true
			s.space = false
			s.adv()
			return
		}
	case '@', '`':
		if !s.plain {
			s.lexError() // reserved
			return
		}
	case '#':
		if !s.plain || s.space {
			s.comment()
			return
		}
	case '"', '\'':
		if !s.plain {
			s.quoted(c)
			return
		}
	}
	// Anything else is text of a plain scalar.
	if !s.plain {
		s.plain, s.plainCol, s.plainLines = true, s.col, false
		s.startNode()
		s.token('a')
	}
	s.see(c)
	s.space = false
	s.adv()
	s.plainEnd = s.col
}

// lexError is the lexer's error at the character at the cursor: it takes
// the character and starts afresh after it.
func (s *prescanner) lexError() {
	s.token('@')
	s.adv()
	s.resync()
}

// run3 reports whether exactly three c start at the cursor.
func (s *prescanner) run3(c byte) bool {
	return s.peek(0) == c && s.peek(1) == c && s.peek(2) == c && s.peek(3) != c
}

// newline consumes a line break and starts the next line.
func (s *prescanner) newline() {
	s.settleTabs(s.i)
	if s.named != 0 || s.anchoring || s.directive {
		s.flush()
	}
	if !s.seenText {
		s.origin = 0 // the lexer drops spaces and tabs at a line's end
	}
	if s.plain && !s.plainLines {
		// A plain scalar going on to the next line: the lexer places it
		// by the break less its text, so its trailing spaces move it.
		s.plainLines = true
		s.plainCol = s.col - (s.plainEnd - s.plainCol)
	}
	s.see(s.src[s.i])
	s.lineBreak()
	s.lineStart()
}

func (s *prescanner) lineBreak() {
	if s.src[s.i] == '\r' && s.peek(1) == '\n' {
		s.i++
	}
	s.nextLine()
}

// nextLine passes a one-byte line break.
func (s *prescanner) nextLine() {
	s.i++
	s.col = 1
	s.space = true
	s.indented = false
	s.directive, s.anchoring = false, false
}

// lineStart skips a line's indentation and applies the line to the structure.
func (s *prescanner) lineStart() {
	start := s.i
	for s.i < len(s.src) && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		if s.src[s.i] == '\t' {
			at, col := s.i, s.col
			if s.tab() && !s.flowMode() {
				// A tab indenting a line at or left of the key: the
				// lexer's error, after which it starts afresh.
				s.tokenAt('@', at, col)
				s.resync()
				s.space = true
			}
			continue
		}
		s.see(' ')
		s.i++
		s.col++
	}
	s.indented = s.i > start
	if s.i == len(s.src) || s.src[s.i] == '\n' || s.src[s.i] == '\r' {
		return // a blank line changes nothing
	}
	s.lineBegins()
}

// tab passes a tab outside quoted and block scalars. The lexer takes one
// right of the last key (or in a plain scalar before any key) for
// indentation and counts no column for it; it reports whether the tab was
// not such.
func (s *prescanner) tab() bool {
	s.space = true
	s.see('\t')
	if s.plain && s.delim == 0 || s.delim < s.col {
		s.i++
		s.indented = true // it counts it as indentation wherever it is
		return false
	}
	s.adv()
	return true
}
