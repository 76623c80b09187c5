package scenario

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// The pre-scan's readers of text the YAML parser's lexer skips over (quoted
// and block scalars, comments, tags), of anchors and aliases, and of its
// quadratic corners. Where the lexer stops a scalar at an error (an unknown
// escape, a tab where indentation is expected, a bad block scalar header,
// a document marker inside quotes), it starts afresh right there and lexes
// the rest as YAML; so do these, or what follows would go uncounted.

// lessThan handles '<': the parser measures the run of '<' from every one
// of them (quadratic in the run), and "<<:" is a merge key.
func (s *prescanner) lessThan() bool {
	if s.ltLeft == 0 {
		n := 0
		for s.i+n < len(s.src) && s.src[s.i+n] == '<' {
			n++
		}
		s.ltLeft = n
		s.steps += int64(n) * int64(n+1) / 2
		if s.steps > maxParserSteps {
			s.fail(s.i, "a run of %d '<': the YAML parser's time grows with the square of such runs", n)
			return true
		}
	}
	if s.ltLeft != 2 || !s.mergeKey() {
		s.ltLeft--
		return false
	}
	// The parser drops a plain scalar before it without a token.
	s.plain, s.named = false, 0
	s.token('<')
	s.delim = s.col
	if s.flow == 0 {
		s.key(s.col, s.i)
	}
	s.ltLeft = 0
	s.i += 2
	s.col += 2
	s.space = false
	return true
}

// mergeKey reports whether "<<" at the cursor is followed by spaces, a ':'
// and a space or line break, as the parser looks for it.
func (s *prescanner) mergeKey() bool {
	for j := s.i + 2; j < len(s.src); j++ {
		switch c := s.src[j]; {
		case c == ' ':
		case c != ':':
			return false
		case j+1 < len(s.src) && (s.src[j+1] == ' ' || s.src[j+1] == '\n' || s.src[j+1] == '\r'):
			return true
		}
	}
	return false
}

// comment skips a comment and the line break after it (of a CR LF, the
// CR: the lexer takes the LF for a blank line).
func (s *prescanner) comment() {
	s.flush()
	s.token('#')
	for s.i < len(s.src) && s.src[s.i] != '\n' && s.src[s.i] != '\r' {
		s.adv()
	}
	if s.i < len(s.src) {
		s.settleTabs(s.i)
		s.nextLine()
		s.lineStart()
	}
}

// tag skips a tag: to a space or line break, or a ',' in a flow
// collection. A brace in it is an error after which lexing goes on; at the
// end of the file it makes no token.
func (s *prescanner) tag() {
	s.startNode()
	at, col := s.i, s.col
	s.adv()
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '\n' || c == '\r':
			s.tokenAt('!', at, col)
			return
		case c == ' ':
			// The lexer takes the space with the tag, counting no
			// column for it: it does not end an anchor's name.
			s.tokenAt('!', at, col)
			s.i++
			s.space = true
			return
		case c == ',' && s.flowMode():
			s.tokenAt('!', at, col)
			s.col-- // the lexer's columns on this line are one short from here
			return
		}
		s.adv()
		if c == '{' || c == '}' {
			s.tokenAt('@', at, col) // its error token
			s.col--
			s.resync()
			return
		}
	}
}

// quoted skips a quoted scalar; its line breaks are text. Its token comes
// at its end: the scalar, or the lexer's error.
func (s *prescanner) quoted(q byte) {
	s.startNode()
	s.quotedCol = s.col
	at, col := s.i, s.col
	fail := func() {
		s.tokenAt('@', at, col)
		s.resync()
	}
	s.adv()
	lineStart := false // only spaces so far on this line of the text
	drift := 0         // characters the lexer skips after the closing quote
	for s.i < len(s.src) && !s.failed {
		c := s.src[s.i]
		switch {
		case c == '\n' || c == '\r':
			s.settleTabs(s.i)
			s.lineBreak()
			if s.docMarker() {
				fail()
				s.lineStart()
				return
			}
			lineStart = true
			continue
		case lineStart && c == ' ':
			s.adv()
			continue
		case lineStart && c == '\t' && s.delim >= s.col:
			// Indentation by tab: an error; the lexer starts again at it.
			fail()
			s.lineStart()
			return
		case lineStart && c == '\t':
			s.adv()
			continue
		}
		lineStart = false
		switch {
		case c == q && q == '\'' && s.peek(1) == '\'':
			s.adv()
		case c == q:
			s.adv()
			s.tokenAt(q, at, col)
			s.space = false
			// The lexer passes one character more for each tab in
			// double-quoted text that text follows on its line, but the
			// closing quote does not: after the quote, it skips them,
			// line breaks too (counting no line).
			for ; drift > 0 && s.i < len(s.src); drift-- {
				s.adv()
				for s.i < len(s.src) && s.src[s.i]&0xC0 == 0x80 {
					s.adv()
				}
			}
			return
		case q == '"' && c == '\\' && (s.peek(1) == '\n' || s.peek(1) == '\r'):
			s.adv()
			s.settleTabs(s.i)
			s.lineBreak()
			lineStart = true
			continue
		case q == '"' && c == '\\':
			if !s.escape() {
				fail()
				return
			}
			continue
		case q == '"' && c == '\t':
			// The parser looks from every tab in double-quoted text to
			// the end of the line.
			if s.dqTabs == 0 {
				s.dqFirst = s.i
			}
			s.dqTabs++
			s.dqSum += int64(s.i)
			if s.peek(1) != '"' && s.textFollows() {
				drift++
			}
		}
		s.adv()
	}
	fail() // not closed
}

// textFollows reports whether a character other than a space or tab
// follows the cursor on its line. It looks at each line once.
func (s *prescanner) textFollows() bool {
	if s.i >= s.lineEnd {
		s.lastText = -1
		j := s.i
		for ; j < len(s.src) && s.src[j] != '\n' && s.src[j] != '\r'; j++ {
			if s.src[j] != ' ' && s.src[j] != '\t' {
				s.lastText = j
			}
		}
		s.lineEnd = j
	}
	return s.lastText > s.i
}

// escape skips an escape sequence in double-quoted text, or reports the
// lexer's error at it (leaving the cursor where the lexer starts again).
func (s *prescanner) escape() bool {
	s.adv() // the backslash
	if s.i == len(s.src) {
		return true
	}
	switch c := s.src[s.i]; c {
	case '0', 'a', 'b', 't', 'n', 'v', 'f', 'r', 'e', ' ', '"', '/', '\\', 'N', '_', 'L', 'P', '\t':
		s.adv()
		return true
	case 'x':
		n := 3
		if s.i+2 >= len(s.src) {
			n = 1
		}
		s.skip(n)
		return true
	case 'U':
		if s.i+8 >= len(s.src) {
			s.back()
			return false
		}
		s.skip(9)
		return true
	case 'u':
		if s.i+4 >= len(s.src) {
			s.back()
			return false
		}
		if high := hexValue(s.src[s.i+1 : s.i+5]); high >= 0xD800 && high <= 0xDBFF {
			// A high surrogate must be followed by \u and a low one.
			if s.i+10 >= len(s.src) || s.src[s.i+5] != '\\' || s.src[s.i+6] != 'u' {
				s.back()
				return false
			}
			if low := hexValue(s.src[s.i+7 : s.i+11]); low < 0xDC00 || low > 0xDFFF {
				s.back()
				return false
			}
			s.skip(11)
			return true
		}
		s.skip(5)
		return true
	}
	return false // an unknown escape: the lexer goes on after the backslash
}

// back steps back over the backslash just passed (ASCII, one column).
func (s *prescanner) back() {
	s.i--
	s.col--
}

// skip passes n characters of an escape, whatever they are: the lexer
// takes a line break or the closing quote for a hex digit too.
func (s *prescanner) skip(n int) {
	for ; n > 0 && s.i < len(s.src); n-- {
		s.adv()
		for s.i < len(s.src) && s.src[s.i]&0xC0 == 0x80 {
			s.adv()
		}
	}
}

// hexValue reads hex digits as the lexer does: whatever the characters.
func hexValue(b []byte) int {
	v := 0
	for _, c := range b {
		d := int(c) - '0'
		switch {
		case c >= 'A' && c <= 'F':
			d = int(c) - 'A' + 10
		case c >= 'a' && c <= 'f':
			d = int(c) - 'a' + 10
		}
		v = v<<4 + d
	}
	return v
}

// docMarker reports a "---" or "..." at the cursor, at a line's start: in
// quoted text the lexer stops there with an error.
func (s *prescanner) docMarker() bool {
	if s.i+3 > len(s.src) {
		return false
	}
	m := string(s.src[s.i : s.i+3])
	if m != "---" && m != "..." {
		return false
	}
	return s.i+3 == len(s.src) || strings.IndexByte(" \t\n\r", s.src[s.i+3]) >= 0
}

// resync is the lexer starting afresh after an error.
func (s *prescanner) resync() {
	s.plain, s.named = false, 0
	s.space = false
	s.last, s.origin, s.seenText = 0, 0, false // it remembers no token, no source from before
}

// settleTabs charges the tabs in double-quoted text since the last line
// break with their scans to the break at end.
func (s *prescanner) settleTabs(end int) {
	if s.dqTabs == 0 {
		return
	}
	s.steps += s.dqTabs*int64(end) - s.dqSum
	if s.steps > maxParserSteps {
		s.fail(s.dqFirst, "%d tabs in double-quoted text on this line: the YAML parser rescans the rest of the line for each one; write \\t instead", s.dqTabs)
	}
	s.dqTabs, s.dqSum = 0, 0
}

// blockScalar skips a literal (|) or folded (>) scalar: its header, then
// every line that is blank or starts right of the last key's column (and,
// once its first line has set the text's indentation, not left of that).
func (s *prescanner) blockScalar() {
	end := s.i + 1
	for end < len(s.src) && s.src[end] != '\n' && s.src[end] != '\r' {
		end++
	}
	h, lineEnd := s.src[s.i+1:end], end
	if end == len(s.src) && len(h) > 0 {
		// At the end of the file the lexer leaves a header's last
		// character out (and reads it anew after an error), except in
		// looking for a comment.
		_, n := utf8.DecodeLastRune(h)
		h = h[:len(h)-n]
		end -= n
	}
	clip, indent, ok := blockHeader(h)
	if !ok {
		// The lexer rejects the header and goes on at the line break
		// (its column one short: it counted none for the indicator).
		s.token('@')
		for s.i < end {
			s.adv()
		}
		s.col--
		s.resync()
		return
	}
	s.startNode()
	s.token(s.src[s.i])
	headerCol := s.col
	if s.col == 1 {
		s.delim = 1
	}
	s.adv()
	for commented := false; s.i < lineEnd; s.adv() {
		if s.src[s.i] == '#' && !commented {
			s.token('#') // the rest of the line is a comment
			commented = true
		}
	}
	s.token('a') // the text
	first := 0   // column of the text's indentation, once known
	if indent > 0 {
		first = s.delim + indent
	}
	keep := !clip && strings.ContainsRune(string(h), '+')
	s.text(first, indent, clip, false)
	if s.textEnd && s.textEmpty {
		// Ended by a line with no text before it: the lexer's error if
		// its last token is in column 1; else blank lines leave its
		// buffer holding what it trimmed, so the line reads on as plain.
		switch {
		case s.textBlank && (keep || clip && s.textSpace) || headerCol == 1:
			s.tokenAt('@', s.i, s.col)
			s.resync()
		case s.textBlank:
			s.plain, s.plainCol, s.plainEnd, s.plainLines = true, s.col, s.col, false
			s.startNode()
			s.token('a')
		}
	}
}

// text skips the lines of a block scalar's text (from the next line, or
// from the cursor if inLine) as the lexer does: blank lines, and lines that
// start right of the last key's column, until first (the column of the
// text's indentation, 0 until its first line sets it) moves that column.
func (s *prescanner) text(first, indent int, clip, inLine bool) {
	s.textEnd, s.textSpace = false, false
	spaceOnly := 0 // indentation of the last blank line before the text
	var size, blank int64
	for (inLine || s.i < len(s.src)) && !s.failed {
		start := s.i
		if inLine {
			// The '-' that starts folded text sets no column: the
			// first character the lexer reads as text after it does.
			inLine = false
			s.adv()
			for s.i < len(s.src) && s.src[s.i] != '\n' && s.src[s.i] != '\r' {
				if s.src[s.i] != '\t' {
					s.delim = first - 1
				}
				s.adv()
			}
			size += int64(s.i-start) + 1
			continue
		}
		s.settleTabs(s.i)
		s.lineBreak()
		start = s.i
		for s.i < len(s.src) && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
			if s.src[s.i] == '\t' && (first == 0 && s.col == 1 || first > s.col) {
				// A tab where indentation is expected: an error, and
				// the lexer goes on after it.
				s.endBlockScalar(clip, size, blank)
				s.adv()
				s.resync()
				s.lineStart()
				return
			}
			s.i++
			s.col++
		}
		if s.i == len(s.src) || s.src[s.i] == '\n' || s.src[s.i] == '\r' {
			if first == 0 {
				spaceOnly = s.col - 1
			} else if s.col > first {
				s.textSpace = true // spaces right of the indentation are text
			}
			blank++
			continue
		}
		if s.delim != 0 && s.col <= s.delim {
			s.endBlockScalar(clip, size, blank)
			s.indented = s.i > start
			s.textEnd, s.textEmpty, s.textBlank = true, size == 0, blank > 0
			s.lineBegins()
			return
		}
		if indent == 0 && first == 0 && spaceOnly > s.col || indent > 0 && first > s.col {
			// Less indented than a blank line before it or than the
			// header said: an error after this character.
			s.endBlockScalar(clip, size, blank)
			s.adv()
			s.resync()
			return
		}
		if first == 0 {
			first = s.col
		}
		s.delim = first - 1
		for s.i < len(s.src) && s.src[s.i] != '\n' && s.src[s.i] != '\r' {
			s.adv()
		}
		size += int64(s.i-start) + 1 + blank
		blank = 0
	}
	s.endBlockScalar(clip, size, blank)
}

// blockHeader reads what follows '|' or '>' on its line as the lexer does:
// chomping and indentation indicators, then maybe a comment. ok is false
// for a header the lexer rejects.
func blockHeader(h []byte) (clip bool, indent int, ok bool) {
	v := strings.TrimRight(string(h), " ")
	opt := v
	if i := strings.IndexByte(v, '#'); i > 0 {
		opt = v[:i]
	}
	opt = strings.TrimRight(opt, " \t")
	clip = !strings.HasPrefix(opt, "-") && !strings.HasSuffix(opt, "-") && !strings.HasPrefix(opt, "+") && !strings.HasSuffix(opt, "+")
	n := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(opt, "-"), "+"), "-"), "+")
	if n == "" {
		return clip, 0, true
	}
	i, err := strconv.ParseInt(n, 10, 64)
	if n == "0" || err != nil || i > 9 {
		return false, 0, false
	}
	return clip, int(max(i, 0)), true
}

// endBlockScalar charges the parser's trimming of the blank lines that end
// a block scalar: it copies the whole text for each.
func (s *prescanner) endBlockScalar(clip bool, size, blank int64) {
	if !clip || blank < 2 {
		return
	}
	s.mem += costPerChomp * blank * (size + blank)
	if s.mem > MaxParseMemory {
		s.fail(s.i, "%d blank lines end the block scalar before this line: parsing this file would take more than %d MiB (the YAML parser copies the text for each one); remove them",
			blank, MaxParseMemory>>20)
	}
}
