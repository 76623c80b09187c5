package scenario

// The pre-scan's model of the structure the YAML parser builds: block
// collections by column, the nesting it adds inside flow collections, and
// the extent of anchored nodes, for what aliases expand to.

// flowLevel is an open flow collection. Not YAML, but the parser nests
// what is block syntax in it: a '-' as a block sequence entry, a ':' in a
// sequence or after a map's first key as a mapping, up to the next ','.
type flowLevel struct {
	isMap        bool
	extra, pairs int // nesting added since the last ',', and ':' seen
}

// lineBegins applies a line whose first character is at the cursor: at or
// left of the last key's column it ends a plain scalar (else the line goes
// on with it); in block context it closes the collections right of it.
func (s *prescanner) lineBegins() {
	if s.delim != 0 && s.col <= s.delim {
		s.flush()
	}
	if s.plain && s.delim != 0 && s.src[s.i] == '-' {
		// A plain scalar's next line starting with '-': the lexer reads
		// it and what follows as folded text.
		s.text(s.col, 0, false, true)
		return
	}
	if s.plain || s.flow > 0 {
		return
	}
	for n := len(s.open); n > 0; n = len(s.open) {
		a := s.open[n-1]
		if a.flow != 0 || a.col == 0 || s.col > a.col {
			break
		}
		s.closeAnchor()
	}
	// The parser's rules, not the YAML specification's: what starts at a
	// collection's column is its next entry, or, after a '-' with nothing
	// behind it, that entry's value — a mapping there, or a sequence
	// after a bare key, nests inside.
	dash := s.src[s.i] == '-' && blankOrEnd(s.peek(1))
	bare := s.bare
	for n := len(s.block); n > 0; n = len(s.block) {
		top := s.block[n-1]
		if top.col < s.col || top.col == s.col && (!top.seq || dash || bare) {
			break
		}
		s.block = s.block[:n-1]
		bare = false
	}
	s.lineCol, s.lineBare = s.col, bare
}

// entry applies a '-' (seq) or '?' at col in block context.
func (s *prescanner) entry(col int, seq bool) {
	if !seq {
		s.key(col, s.i)
		return
	}
	for n := len(s.block); n > 0 && s.block[n-1].col > col; n = len(s.block) {
		s.block = s.block[:n-1]
	}
	if n := len(s.block); n > 0 && s.block[n-1].col == col && s.block[n-1].seq {
		s.bare = true
		return
	}
	s.push(level{col: col, seq: true}, s.i)
	s.bare = true
}

// key counts a key of a block mapping at col.
func (s *prescanner) key(col, at int) {
	defer func() { s.bare = true }()
	// A key at a sequence's column ends it, unless it starts the line
	// after a bare '-' (see lineBegins).
	nested := col == s.lineCol && s.lineBare
	for n := len(s.block); n > 0; n = len(s.block) {
		if top := s.block[n-1]; top.col < col || top.col == col && (!top.seq || nested) {
			break
		}
		s.block = s.block[:n-1]
	}
	if n := len(s.block); n > 0 && s.block[n-1].col == col && !s.block[n-1].seq {
		top := &s.block[n-1]
		top.keys++
		s.mem += costPerKey * (2*top.keys - 1)
		if s.mem > MaxParseMemory {
			s.fail(at, "a block mapping with %d keys: parsing this file would take more than %d MiB (the YAML parser's cost grows with the square of a block mapping's keys; split the mapping or write it as a {flow: map})",
				top.keys, MaxParseMemory>>20)
		}
		return
	}
	s.push(level{col: col, keys: 1}, at)
	s.mem += costPerKey
}

func (s *prescanner) push(l level, at int) {
	s.block = append(s.block, l)
	s.nest(at)
}

// nest notes a new level of nesting, started at offset at.
func (s *prescanner) nest(at int) {
	s.maxDepth = max(s.maxDepth, s.depth())
	if s.depth() > MaxNesting {
		s.fail(at, "collections nest deeper than %d levels", MaxNesting)
	}
}

// nestInFlow adds a level of nesting inside the innermost flow collection.
func (s *prescanner) nestInFlow() {
	if n := len(s.flows); n > 0 {
		s.flows[n-1].extra++
		s.extra++
		s.nest(s.i)
	}
}

// flowEntry ends an entry of the innermost flow collection.
func (s *prescanner) flowEntry() {
	if n := len(s.flows); n > 0 {
		s.extra -= s.flows[n-1].extra
		s.flows[n-1].extra, s.flows[n-1].pairs = 0, 0
	}
}

// mapValue handles a ':' that is a mapping value indicator, as the parser
// decides it is one.
func (s *prescanner) mapValue() bool {
	if s.anchoring || s.directive {
		return false // part of the name
	}
	nc := s.peek(1)
	if s.maps <= 0 && !s.blankAfter(1) || s.maps > 0 && (nc == '/' || s.last == ':') {
		return false
	}
	if s.origin == '\t' {
		// "tab character cannot use as a map key directly"; the key is lost.
		s.plain, s.named = false, 0
		s.lexError()
		return true
	}
	switch {
	case s.plain:
		s.delim = s.plainCol
	case (s.last == '"' || s.last == '\'') && s.quotedCol > 0:
		s.delim = s.quotedCol
	}
	s.flush()
	s.token(':')
	if s.flow == 0 {
		if s.keyAt < s.i {
			s.key(s.keyCol, s.keyAt)
		} else {
			s.key(s.col, s.i)
		}
	} else {
		s.closeFlowAnchors(s.flow)
		if n := len(s.flows); n > 0 {
			f := &s.flows[n-1]
			if f.pairs++; !f.isMap || f.pairs > 1 {
				s.nestInFlow()
			}
		}
	}
	s.keyAt = s.i + 1 // a node after this one begins anew
	s.space = false
	s.adv()
	return true
}

// document handles a "---" line: a new document starts from nothing.
func (s *prescanner) document() {
	s.flush()
	s.token('D')
	s.delim = 0
	s.block = s.block[:0]
	for len(s.open) > 0 {
		s.closeAnchor()
	}
	s.i += 3
	s.col += 3
	s.space = false
}

// endName ends an anchor, alias or directive name at the cursor.
func (s *prescanner) endName() {
	kind, name := s.named, s.src[s.nameAt:s.i]
	s.named = 0
	switch kind {
	case '&':
		s.anchors[string(name)] = int64(-1 - len(s.open))
		s.open = append(s.open, anchor{name: string(name), start: s.nodes, flow: s.flow, col: s.delim})
	case '*':
		n, ok := s.anchors[string(name)]
		if !ok {
			return
		}
		if n < 0 {
			n = s.nodes - s.open[-1-n].start // an alias inside its own anchor
		}
		s.nodes += n
		s.mem += costPerNode * n
		if s.mem > MaxParseMemory {
			s.fail(s.nameAt-1, "alias *%s expands to %d nodes: decoding this file would take more than %d MiB (aliases of anchors that hold aliases multiply)",
				name, n, MaxParseMemory>>20)
		}
	}
}

// closeAnchor ends the innermost open anchor's node.
func (s *prescanner) closeAnchor() {
	a := s.open[len(s.open)-1]
	s.open = s.open[:len(s.open)-1]
	s.anchors[a.name] = s.nodes - a.start
}

// closeFlowAnchors ends the nodes of anchors at flow depth f or deeper.
func (s *prescanner) closeFlowAnchors(f int) {
	for n := len(s.open); n > 0 && s.open[n-1].flow >= f && s.open[n-1].flow > 0; n = len(s.open) {
		s.closeAnchor()
	}
}
