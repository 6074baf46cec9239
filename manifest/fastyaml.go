package manifest

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// parseFast builds the yaml.Node tree of one YAML document without yaml.v3,
// for the block-style subset that nearly all Kubernetes manifests are written
// in. When it returns ok, the tree is exactly the one yaml.Unmarshal(data,
// &node) produces — same Kind, Style, Tag, Value, Line, Column and Content —
// except that comments are not recorded (the loader never reads them). When
// the document uses anything outside the subset, or is not valid YAML, it
// returns ok=false and the caller parses the document with yaml.v3, which
// then also reports the syntax error.
//
// The subset:
//
//   - an optional "---" line first (with nothing but a comment after it),
//     then a block mapping or block sequence (or a one-line flow collection);
//     an input of only blank and comment lines is an empty document;
//   - block mappings whose keys are single-line plain or quoted scalars
//     written "key: value" (no space before the colon, at most 1000 bytes);
//   - block sequences, including "- key: value" compact mappings, "- - x"
//     compact sequences and sequences written at the same indentation as
//     their parent key;
//   - values: single-line plain scalars, single- and double-quoted scalars
//     that end on their own line (double quotes with yaml.v3's escapes),
//     empty values (null), literal (|) and folded (>) block scalars with an
//     optional chomping indicator (|-, |+, >-, >+), and flow sequences and
//     mappings ({}, [], {a: b, c: [d]}) that end on their own line;
//   - comments on their own lines and after values, and blank lines.
//
// Everything else makes it give up: anchors, aliases, tags, merge keys (<<),
// complex keys (?), directives, document markers other than a leading
// "---", multi-line plain, quoted or flow scalars, block scalar indentation
// indicators, tabs anywhere but inside quoted scalars, comments and block
// scalar text, CR line ends, byte order marks, control characters and
// invalid UTF-8, a space before a key's colon, a root scalar, and nesting
// deeper than fastMaxDepth.
func parseFast(data []byte) (*yaml.Node, bool) {
	return parseFastIn(data, nil)
}

// parseFastIn is parseFast taking the tree's nodes from a (when not nil):
// the tree is valid until a.reset.
func parseFastIn(data []byte, a *fastArena) (*yaml.Node, bool) {
	if !fastText(data) {
		return nil, false
	}
	var stack [64]*yaml.Node
	p := &fastParser{src: string(data), line: 1, stack: stack[:0], arena: a}
	return p.document()
}

// fastArena keeps the nodes of parsed trees for the next documents of a
// file once a tree has been read: a file of many documents then allocates
// its nodes once instead of once per document.
type fastArena struct {
	nodes [][]yaml.Node  // blocks of fastArenaBlock nodes
	used  int            // blocks handed out since the last reset
	kids  [][]*yaml.Node // blocks of fastArenaBlock Content pointers
	kused int
}

// fastArenaBlock is the size of an arena block, in nodes or pointers.
const fastArenaBlock = 256

// reset makes every block free again: trees from the arena must no longer
// be read.
func (a *fastArena) reset() { a.used, a.kused = 0, 0 }

func (a *fastArena) nodeBlock() []yaml.Node {
	if a.used == len(a.nodes) {
		a.nodes = append(a.nodes, make([]yaml.Node, fastArenaBlock))
	}
	a.used++
	return a.nodes[a.used-1]
}

func (a *fastArena) kidBlock() []*yaml.Node {
	if a.kused == len(a.kids) {
		a.kids = append(a.kids, make([]*yaml.Node, fastArenaBlock))
	}
	a.kused++
	return a.kids[a.kused-1]
}

// fastMaxDepth bounds the nesting of collections parseFast accepts.
const fastMaxDepth = 1000

// fastMaxKey is the longest key parseFast accepts, in bytes. YAML (and
// yaml.v3) limits implicit keys to 1024 characters.
const fastMaxKey = 1000

// fastText reports whether data holds only characters yaml.v3 reads as
// ordinary printable text, spaces, tabs and "\n" line breaks, so that the
// parser need not consider other line breaks, byte order marks or encodings.
func fastText(data []byte) bool {
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if (c < ' ' && c != '\n' && c != '\t') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if size == 1 || r < 0xa0 || r == 0x2028 || r == 0x2029 || r == 0xfeff || r == 0xfffe || r == 0xffff {
			return false
		}
		i += size
	}
	return true
}

type fastParser struct {
	src   string
	pos   int // offset of the start of the current line
	line  int // 1-based number of the current line
	depth int

	slab  []yaml.Node  // nodes handed out by node
	kids  []*yaml.Node // backing store for Content slices
	stack []*yaml.Node // children of the collections being built
	buf   []byte       // scratch for scalars that need unescaping
	arena *fastArena   // where slab and kids come from, when not nil
}

// node returns a new node at line and 1-based column col.
func (p *fastParser) node(kind yaml.Kind, style yaml.Style, tag, value string, line, col int) *yaml.Node {
	if len(p.slab) == 0 {
		if p.arena != nil {
			p.slab = p.arena.nodeBlock()
		} else {
			size := 256
			if p.slab == nil {
				size = p.estimate()
			}
			p.slab = make([]yaml.Node, size)
		}
	}
	n := &p.slab[0]
	p.slab = p.slab[1:]
	// The whole node: one from an arena holds an earlier tree's fields.
	*n = yaml.Node{Kind: kind, Style: style, Tag: tag, Value: value, Line: line, Column: col}
	return n
}

// estimate guesses how many nodes the document has (nearly every node is a
// key and its value, or an item of a flow collection), for the first
// allocation of nodes and of Content slices.
func (p *fastParser) estimate() int {
	return min(2*strings.Count(p.src, ":")+strings.Count(p.src, ",")+4, 1024)
}

// scalar returns a scalar node; plain scalars get the tag yaml.v3 resolves.
func (p *fastParser) scalar(style yaml.Style, value string, line, col int) *yaml.Node {
	tag := tagStr
	if style == 0 {
		tag = plainTag(value)
	}
	return p.node(yaml.ScalarNode, style, tag, value, line, col)
}

func (p *fastParser) null(line, col int) *yaml.Node {
	return p.node(yaml.ScalarNode, 0, tagNull, "", line, col)
}

// finish moves the children pushed since mark into n.Content.
func (p *fastParser) finish(n *yaml.Node, mark int) {
	k := len(p.stack) - mark
	if k == 0 {
		return
	}
	if len(p.kids) < k {
		switch {
		case p.arena != nil && k <= fastArenaBlock:
			p.kids = p.arena.kidBlock()
		case p.arena != nil:
			p.kids = make([]*yaml.Node, k)
		default:
			size := 256
			if p.kids == nil {
				size = p.estimate() // every node but the document is a child
			}
			p.kids = make([]*yaml.Node, max(k, size))
		}
	}
	c := p.kids[:k:k]
	p.kids = p.kids[k:]
	copy(c, p.stack[mark:])
	clear(p.stack[mark:])
	p.stack = p.stack[:mark]
	n.Content = c
}

func (p *fastParser) enter() bool {
	p.depth++
	return p.depth <= fastMaxDepth
}

// col returns the 1-based column (in characters) of offset i on the current
// line.
func (p *fastParser) col(i int) int {
	return 1 + utf8.RuneCountInString(p.src[p.pos:i])
}

// eol returns the offset of the end of the line holding offset i.
func (p *fastParser) eol(i int) int {
	if j := strings.IndexByte(p.src[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(p.src)
}

// nextLine makes the line after the one ending at eol current.
func (p *fastParser) nextLine(eol int) {
	if eol < len(p.src) {
		p.pos = eol + 1
		p.line++
	} else {
		p.pos = len(p.src)
	}
}

// endLine checks that the rest of the current line from offset i is blank or
// a comment (after at least one space), and moves to the next line.
func (p *fastParser) endLine(i int) bool {
	j := i
	for j < len(p.src) && p.src[j] == ' ' {
		j++
	}
	if j < len(p.src) && p.src[j] != '\n' {
		if p.src[j] != '#' || j == i {
			return false
		}
		j = p.eol(j)
	}
	p.nextLine(j)
	return true
}

// skipBlank moves to the next line holding a node, past blank and comment
// lines, and returns its indentation, or -1 at the end of the input. It
// fails on tabs in indentation and on document markers.
func (p *fastParser) skipBlank() (int, bool) {
	for p.pos < len(p.src) {
		i := p.pos
		for i < len(p.src) && p.src[i] == ' ' {
			i++
		}
		if i == len(p.src) {
			p.pos = i
			break
		}
		switch p.src[i] {
		case '\n':
			p.nextLine(i)
			continue
		case '#':
			p.nextLine(p.eol(i))
			continue
		case '\t':
			return 0, false
		}
		if i == p.pos && (strings.HasPrefix(p.src[i:], "---") || strings.HasPrefix(p.src[i:], "...")) {
			return 0, false
		}
		return i - p.pos, true
	}
	return -1, true
}

// blankAt reports whether offset i is a space, a line break or the end of
// the input (tabs are rejected by the callers).
func (p *fastParser) blankAt(i int) bool {
	return i >= len(p.src) || p.src[i] == ' ' || p.src[i] == '\n'
}

// dashAt reports whether a block sequence entry ("-" followed by a space or
// the end of the line) starts at offset i.
func (p *fastParser) dashAt(i int) bool {
	return p.src[i] == '-' && p.blankAt(i+1)
}

func (p *fastParser) document() (*yaml.Node, bool) {
	explicit := false
	if strings.HasPrefix(p.src, "---") && p.blankAt(3) {
		explicit = true
		if !p.endLine(3) {
			return nil, false
		}
	}
	ind, ok := p.skipBlank()
	if !ok {
		return nil, false
	}
	if ind < 0 {
		if !explicit {
			return &yaml.Node{}, true
		}
		// The empty root is a null at the end of the stream, which yaml.v3
		// puts at the start of the line after the last one.
		line := p.line
		if !strings.HasSuffix(p.src, "\n") {
			line++
		}
		doc := p.node(yaml.DocumentNode, 0, "", "", 1, 1)
		p.stack = append(p.stack, p.null(line, 1))
		p.finish(doc, 0)
		return doc, true
	}
	off := p.pos + ind
	line, col := 1, 1
	if !explicit {
		line, col = p.line, ind+1
	}
	doc := p.node(yaml.DocumentNode, 0, "", "", line, col)
	var root *yaml.Node
	switch {
	case p.dashAt(off):
		root, ok = p.blockSeq(off, ind, false)
	case p.src[off] == '[' || p.src[off] == '{':
		var end int
		root, end, ok = p.flowCollection(off)
		ok = ok && p.endLine(end)
	default:
		root, ok = p.blockMapping(off, ind)
	}
	if !ok {
		return nil, false
	}
	if ind, ok = p.skipBlank(); !ok || ind >= 0 {
		return nil, false
	}
	p.stack = append(p.stack, root)
	p.finish(doc, 0)
	return doc, true
}

// blockMapping parses a block mapping whose first key is at offset off of the
// current line, in column ind (0-based); the following keys must be in the
// same column.
func (p *fastParser) blockMapping(off, ind int) (*yaml.Node, bool) {
	if !p.enter() {
		return nil, false
	}
	m := p.node(yaml.MappingNode, 0, tagMap, "", p.line, ind+1)
	mark := len(p.stack)
	for {
		key, colon, ok := p.mappingKey(off)
		if !ok {
			return nil, false
		}
		val, ok := p.mappingValue(colon+1, ind)
		if !ok {
			return nil, false
		}
		p.stack = append(p.stack, key, val)
		next, ok := p.skipBlank()
		if !ok || next > ind {
			return nil, false
		}
		if next < ind {
			break
		}
		off = p.pos + next
		if p.dashAt(off) {
			return nil, false
		}
	}
	p.finish(m, mark)
	p.depth--
	return m, true
}

// mappingKey parses the key at offset off and returns it with the offset of
// the colon that follows it.
func (p *fastParser) mappingKey(off int) (*yaml.Node, int, bool) {
	eol := p.eol(off)
	var key *yaml.Node
	var end int
	switch p.src[off] {
	case '"', '\'':
		var v string
		var ok bool
		if v, end, ok = p.quoted(off, eol); !ok || end >= eol || p.src[end] != ':' {
			return nil, 0, false
		}
		key = p.scalar(quoteStyle(p.src[off]), v, p.line, p.col(off))
	default:
		if !p.plainStart(off, eol, false) {
			return nil, 0, false
		}
		var colon, ok bool
		end, colon, ok = p.blockPlain(off, eol)
		if !ok || !colon {
			return nil, 0, false
		}
		v := p.src[off:end]
		if v == "<<" {
			return nil, 0, false // merge key
		}
		key = p.scalar(0, v, p.line, p.col(off))
	}
	if !p.blankAt(end+1) || end+1-off > fastMaxKey {
		return nil, 0, false
	}
	return key, end, true
}

// mappingValue parses the value of a key of the block mapping in column ind;
// i is the offset just after the key's colon.
func (p *fastParser) mappingValue(i, ind int) (*yaml.Node, bool) {
	j := p.skipSpaces(i)
	if j < len(p.src) && p.src[j] != '\n' && (p.src[j] != '#' || j == i) {
		n, compact, ok := p.inlineNode(j, ind)
		if compact {
			return nil, false // "a: b: c" or "a: - b"
		}
		return n, ok
	}
	// Nothing more on this line: the value is a nested collection or null.
	line, col := p.line, p.col(i)
	p.nextLine(p.eol(j))
	next, ok := p.skipBlank()
	if !ok {
		return nil, false
	}
	if next >= ind {
		off := p.pos + next
		switch {
		case p.dashAt(off):
			return p.blockSeq(off, next, next == ind)
		case next > ind:
			return p.blockMapping(off, next)
		}
	}
	return p.null(line, col), true
}

// blockSeq parses a block sequence whose first "-" is at offset off of the
// current line, in column ind. An indentless sequence (one in the column of
// its parent key) ends at the first line in that column without a "-".
func (p *fastParser) blockSeq(off, ind int, indentless bool) (*yaml.Node, bool) {
	if !p.enter() {
		return nil, false
	}
	s := p.node(yaml.SequenceNode, 0, tagSeq, "", p.line, ind+1)
	mark := len(p.stack)
	for {
		item, ok := p.seqItem(off+1, ind)
		if !ok {
			return nil, false
		}
		p.stack = append(p.stack, item)
		next, ok := p.skipBlank()
		if !ok || next > ind {
			return nil, false
		}
		if next < ind {
			break
		}
		off = p.pos + next
		if !p.dashAt(off) {
			if indentless {
				break
			}
			return nil, false
		}
	}
	p.finish(s, mark)
	p.depth--
	return s, true
}

// seqItem parses the entry of the block sequence in column ind whose "-" ends
// at offset i.
func (p *fastParser) seqItem(i, ind int) (*yaml.Node, bool) {
	j := p.skipSpaces(i)
	if j < len(p.src) && p.src[j] != '\n' && (p.src[j] != '#' || j == i) {
		n, compact, ok := p.inlineNode(j, ind)
		if compact && ok {
			col := p.col(j) - 1
			if p.dashAt(j) {
				return p.blockSeq(j, col, false)
			}
			return p.blockMapping(j, col)
		}
		return n, ok
	}
	line, col := p.line, p.col(i)
	p.nextLine(p.eol(j))
	next, ok := p.skipBlank()
	if !ok {
		return nil, false
	}
	if next > ind {
		off := p.pos + next
		if p.dashAt(off) {
			return p.blockSeq(off, next, false)
		}
		return p.blockMapping(off, next)
	}
	return p.null(line, col), true
}

// skipSpaces returns the offset of the first non-space at or after i. A tab
// counts as a non-space: callers reject it.
func (p *fastParser) skipSpaces(i int) int {
	for i < len(p.src) && p.src[i] == ' ' {
		i++
	}
	return i
}

// inlineNode parses the node that starts at offset i of the current line,
// inside a block collection in column ind, and moves past it. If the line
// holds a compact collection instead ("- x" or "key: value") it returns
// compact=true without moving, for the caller to parse.
func (p *fastParser) inlineNode(i, ind int) (n *yaml.Node, compact, ok bool) {
	eol := p.eol(i)
	switch c := p.src[i]; c {
	case '|', '>':
		n, ok = p.blockScalar(i, ind)
		return n, false, ok
	case '[', '{':
		n, end, ok := p.flowCollection(i)
		if !ok || !p.endLine(end) {
			return nil, false, false
		}
		return n, false, true
	case '"', '\'':
		v, end, ok := p.quoted(i, eol)
		if !ok {
			return nil, false, false
		}
		if end < eol && p.src[end] == ':' {
			return nil, true, true
		}
		n = p.scalar(quoteStyle(c), v, p.line, p.col(i))
		return n, false, p.endLine(end)
	}
	if p.dashAt(i) {
		return nil, true, true
	}
	if !p.plainStart(i, eol, false) {
		return nil, false, false
	}
	end, colon, ok := p.blockPlain(i, eol)
	if !ok {
		return nil, false, false
	}
	if colon {
		return nil, true, true
	}
	n = p.scalar(0, p.src[i:end], p.line, p.col(i))
	return n, false, p.endLine(end)
}

func quoteStyle(q byte) yaml.Style {
	if q == '"' {
		return yaml.DoubleQuotedStyle
	}
	return yaml.SingleQuotedStyle
}

// plainStart reports whether a plain scalar may start at offset i: not at an
// indicator, except "-", "?" and (outside flow collections) ":" directly
// followed by a non-space.
func (p *fastParser) plainStart(i, eol int, flow bool) bool {
	switch p.src[i] {
	case '-':
		return i+1 < eol && p.src[i+1] != ' ' && p.src[i+1] != '\t'
	case '?', ':':
		return !flow && i+1 < eol && p.src[i+1] != ' ' && p.src[i+1] != '\t'
	case ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ', '\t':
		return false
	}
	return true
}

// blockPlain scans a plain scalar outside flow collections, starting at
// offset i, up to the end of its line. It returns the offset after its last
// character and whether it ends at a ":" that makes it a mapping key. It
// fails on a tab and on a space before such a ":". Whether the scalar goes
// on on the next line is left to the callers, which reject any line more
// indented than they expect.
func (p *fastParser) blockPlain(i, eol int) (end int, colon, ok bool) {
	end = i
	for j := i; j < eol; {
		switch p.src[j] {
		case ':':
			if j+1 == eol || p.src[j+1] == ' ' {
				return end, true, true
			}
			if p.src[j+1] == '\t' {
				return 0, false, false
			}
			j++
			end = j
		case ' ':
			k := p.skipSpaces(j)
			if k == eol || p.src[k] == '#' {
				return end, false, true
			}
			if p.src[k] == '\t' || (p.src[k] == ':' && (k+1 == eol || p.src[k+1] == ' ')) {
				return 0, false, false
			}
			j = k
		case '\t':
			return 0, false, false
		default:
			j++
			end = j
		}
	}
	return end, false, true
}

// quoted scans the single- or double-quoted scalar at offset i, which must
// end before eol, and returns its value and the offset after the closing
// quote.
func (p *fastParser) quoted(i, eol int) (string, int, bool) {
	q := p.src[i]
	for j := i + 1; j < eol; j++ {
		switch p.src[j] {
		case q:
			if q == '\'' && j+1 < eol && p.src[j+1] == '\'' {
				return p.unquote(i, eol)
			}
			return p.src[i+1 : j], j + 1, true
		case '\\':
			if q == '"' {
				return p.unquote(i, eol)
			}
		}
	}
	return "", 0, false
}

// unquote is quoted for scalars with escapes: doubled single quotes or
// backslash sequences.
func (p *fastParser) unquote(i, eol int) (string, int, bool) {
	q := p.src[i]
	b := p.buf[:0]
	for j := i + 1; j < eol; {
		c := p.src[j]
		switch {
		case c == q && q == '\'' && j+1 < eol && p.src[j+1] == '\'':
			b = append(b, '\'')
			j += 2
		case c == q:
			p.buf = b
			return string(b), j + 1, true
		case c == '\\' && q == '"':
			var ok bool
			if b, j, ok = p.escape(b, j+1, eol); !ok {
				return "", 0, false
			}
		default:
			b = append(b, c)
			j++
		}
	}
	return "", 0, false
}

// escape appends the character of the escape sequence after the backslash
// at offset j-1, as yaml.v3 decodes it, and returns the offset after it.
func (p *fastParser) escape(b []byte, j, eol int) ([]byte, int, bool) {
	if j >= eol {
		return nil, 0, false // an escaped line break continues the scalar
	}
	size := 0
	switch p.src[j] {
	case '0':
		b = append(b, 0)
	case 'a':
		b = append(b, '\a')
	case 'b':
		b = append(b, '\b')
	case 't', '\t':
		b = append(b, '\t')
	case 'n':
		b = append(b, '\n')
	case 'v':
		b = append(b, '\v')
	case 'f':
		b = append(b, '\f')
	case 'r':
		b = append(b, '\r')
	case 'e':
		b = append(b, 0x1b)
	case ' ', '"', '\'', '\\':
		b = append(b, p.src[j])
	case 'N':
		b = append(b, "\u0085"...)
	case '_':
		b = append(b, "\u00a0"...)
	case 'L':
		b = append(b, "\u2028"...)
	case 'P':
		b = append(b, "\u2029"...)
	case 'x':
		size = 2
	case 'u':
		size = 4
	case 'U':
		size = 8
	default:
		return nil, 0, false
	}
	j++
	if size == 0 {
		return b, j, true
	}
	if j+size > eol {
		return nil, 0, false
	}
	v := 0
	for _, c := range []byte(p.src[j : j+size]) {
		switch {
		case isDigit(c):
			v = v<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return nil, 0, false
		}
	}
	if (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff {
		return nil, 0, false
	}
	return utf8.AppendRune(b, rune(v)), j + size, true
}

// blockScalar parses the literal or folded scalar whose indicator is at
// offset i, in a block collection in column ind, following yaml.v3's
// scanner (yaml_parser_scan_block_scalar), and moves to the first line after
// it.
func (p *fastParser) blockScalar(i, ind int) (*yaml.Node, bool) {
	literal := p.src[i] == '|'
	style := yaml.FoldedStyle
	if literal {
		style = yaml.LiteralStyle
	}
	n := p.node(yaml.ScalarNode, style, tagStr, "", p.line, p.col(i))

	j := i + 1
	chomp := 0
	if j < len(p.src) && (p.src[j] == '+' || p.src[j] == '-') {
		chomp = 1
		if p.src[j] == '-' {
			chomp = -1
		}
		j++
	}
	eol := p.eol(j)
	if k := p.skipSpaces(j); k < eol && (p.src[k] != '#' || k == j) {
		return nil, false // indentation indicator or junk after the header
	}

	src := p.src
	pos, start, line := eol, eol, p.line // start: offset of the start of pos's line
	if pos < len(src) {
		pos++
		start, line = pos, line+1
	}
	indent := 0
	trailing := 0 // line breaks after the last content line
	leading := 0  // the line break that ended the last content line (0 or 1)
	leadingBlank := false
	b := p.buf[:0]

	// breaks eats indentation and empty lines, as
	// yaml_parser_scan_block_scalar_breaks, and sets indent if still unknown.
	breaks := func() bool {
		maxIndent := 0
		for {
			for (indent == 0 || pos-start < indent) && pos < len(src) && src[pos] == ' ' {
				pos++
			}
			maxIndent = max(maxIndent, pos-start)
			if pos == len(src) || src[pos] != '\n' {
				if (indent == 0 || pos-start < indent) && pos < len(src) && src[pos] == '\t' {
					return false
				}
				break
			}
			trailing++
			pos++
			start, line = pos, line+1
		}
		if indent == 0 {
			indent = max(maxIndent, ind+1, 1)
		}
		return true
	}

	if !breaks() {
		return nil, false
	}
	for pos-start == indent && pos < len(src) {
		trailingBlank := src[pos] == ' ' || src[pos] == '\t'
		if !literal && !leadingBlank && !trailingBlank && leading > 0 {
			if trailing == 0 {
				b = append(b, ' ')
			}
		} else {
			b = appendBreaks(b, leading)
		}
		leading = 0
		b = appendBreaks(b, trailing)
		trailing = 0
		leadingBlank = trailingBlank
		e := p.eol(pos)
		b = append(b, src[pos:e]...)
		pos = e
		if pos < len(src) {
			leading = 1
			pos++
			start, line = pos, line+1
		}
		if !breaks() {
			return nil, false
		}
	}
	if chomp != -1 {
		b = appendBreaks(b, leading)
	}
	if chomp == 1 {
		b = appendBreaks(b, trailing)
	}
	n.Value = string(b)
	p.buf = b

	if pos == len(src) {
		p.pos = len(src)
	} else {
		p.pos = start
	}
	p.line = line
	return n, true
}

func appendBreaks(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, '\n')
	}
	return b
}

// flowCollection parses the flow sequence or mapping at offset i, which must
// end on the current line, and returns it with the offset after it.
func (p *fastParser) flowCollection(i int) (*yaml.Node, int, bool) {
	if !p.enter() {
		return nil, 0, false
	}
	eol := p.eol(i)
	seq := p.src[i] == '['
	kind, tag, closer := yaml.MappingNode, tagMap, byte('}')
	if seq {
		kind, tag, closer = yaml.SequenceNode, tagSeq, ']'
	}
	n := p.node(kind, yaml.FlowStyle, tag, "", p.line, p.col(i))
	mark := len(p.stack)
	j := p.skipSpaces(i + 1)
	for j >= eol || p.src[j] != closer {
		if !seq {
			key, end, ok := p.flowKey(j, eol)
			if !ok {
				return nil, 0, false
			}
			p.stack = append(p.stack, key)
			j = p.skipSpaces(end)
		}
		item, end, ok := p.flowItem(j, eol)
		if !ok {
			return nil, 0, false
		}
		p.stack = append(p.stack, item)
		j = p.skipSpaces(end)
		if j >= eol {
			return nil, 0, false
		}
		if p.src[j] == ',' {
			j = p.skipSpaces(j + 1)
		} else if p.src[j] != closer {
			return nil, 0, false
		}
	}
	p.finish(n, mark)
	p.depth--
	return n, j + 1, true
}

// flowKey parses a key of a flow mapping at offset i and returns it with the
// offset after its colon.
func (p *fastParser) flowKey(i, eol int) (*yaml.Node, int, bool) {
	if i >= eol {
		return nil, 0, false
	}
	var key *yaml.Node
	var end int
	switch c := p.src[i]; c {
	case '"', '\'':
		v, e, ok := p.quoted(i, eol)
		if !ok || e >= eol || p.src[e] != ':' {
			return nil, 0, false
		}
		key, end = p.scalar(quoteStyle(c), v, p.line, p.col(i)), e
	default:
		e, colon, ok := p.flowPlain(i, eol)
		if !ok || !colon {
			return nil, 0, false
		}
		v := p.src[i:e]
		if v == "<<" {
			return nil, 0, false
		}
		key, end = p.scalar(0, v, p.line, p.col(i)), e
	}
	if end+1-i > fastMaxKey {
		return nil, 0, false
	}
	return key, end + 1, true
}

// flowItem parses a flow sequence entry or flow mapping value at offset i.
func (p *fastParser) flowItem(i, eol int) (*yaml.Node, int, bool) {
	if i >= eol {
		return nil, 0, false
	}
	switch c := p.src[i]; c {
	case '[', '{':
		return p.flowCollection(i)
	case '"', '\'':
		v, end, ok := p.quoted(i, eol)
		if !ok || (end < eol && p.src[end] == ':') {
			return nil, 0, false
		}
		return p.scalar(quoteStyle(c), v, p.line, p.col(i)), end, true
	}
	end, colon, ok := p.flowPlain(i, eol)
	if !ok || colon {
		return nil, 0, false
	}
	return p.scalar(0, p.src[i:end], p.line, p.col(i)), end, true
}

// flowPlain scans a plain scalar inside a flow collection at offset i. It
// returns the offset after its last character and whether it is followed by
// a ": " that makes it a key.
func (p *fastParser) flowPlain(i, eol int) (end int, colon, ok bool) {
	if !p.plainStart(i, eol, true) {
		return 0, false, false
	}
	end = i
	for j := i; j < eol; {
		switch p.src[j] {
		case ',', '[', ']', '{', '}':
			return end, false, true
		case '?', '\t':
			return 0, false, false
		case ':':
			if j+1 < eol && p.src[j+1] == ' ' {
				return end, true, true
			}
			if j+1 == eol || strings.IndexByte(",[]{}\t", p.src[j+1]) >= 0 {
				return 0, false, false
			}
			j++
			end = j
		case ' ':
			k := p.skipSpaces(j)
			if k == eol || p.src[k] == '#' || p.src[k] == ':' || p.src[k] == '\t' {
				return 0, false, false
			}
			j = k
		default:
			j++
			end = j
		}
	}
	return 0, false, false // the collection goes on on the next line
}

// Node tags as yaml.v3 sets them (tagStr, tagBool, tagInt, tagFloat, tagNull
// and tagTimestamp are declared in parse.go).
const (
	tagMap   = "!!map"
	tagSeq   = "!!seq"
	tagMerge = "!!merge"
)

// plainTag returns the tag yaml.v3 gives a plain scalar (its resolve("", s)).
// Common forms are decided without allocating; the rest goes through the
// same strconv and time calls as yaml.v3.
func plainTag(s string) string {
	if s == "" {
		return tagNull
	}
	switch s[0] {
	case '~':
		if s == "~" {
			return tagNull
		}
	case 't', 'T':
		if s == "true" || s == "True" || s == "TRUE" {
			return tagBool
		}
	case 'f', 'F':
		if s == "false" || s == "False" || s == "FALSE" {
			return tagBool
		}
	case 'n', 'N':
		if s == "null" || s == "Null" || s == "NULL" {
			return tagNull
		}
	case '<':
		if s == "<<" {
			return tagMerge
		}
	case '.':
		switch s {
		case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF":
			return tagFloat
		}
		if len(s) > 1 && isDigit(s[1]) {
			if _, err := strconv.ParseFloat(s, 64); err == nil {
				return tagFloat
			}
		}
	case '+', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return numberTag(s)
	}
	return tagStr
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// numberTag is plainTag for scalars starting with a sign or a digit.
func numberTag(s string) string {
	switch s {
	case "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return tagFloat
	}
	if len(s) >= 5 && s[4] == '-' && isDigit(s[0]) && isDigit(s[1]) && isDigit(s[2]) && isDigit(s[3]) {
		for _, f := range timestampFormats {
			if _, err := time.Parse(f, s); err == nil {
				return tagTimestamp
			}
		}
	}
	// Only these characters can make an int or a float: anything else is a
	// string (100m, 128Mi, 1.2.3-beta).
	digits, other := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			digits++
		case c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E':
		case c == '_' || c == 'x' || c == 'X' || c == 'o' || c == 'O' || c == 'b' || c == 'B' ||
			('a' <= c && c <= 'f') || ('A' <= c && c <= 'F'):
			other = true
		default:
			return tagStr
		}
	}
	if !other {
		// A decimal integer without a leading zero, short enough not to
		// overflow: what strconv.ParseInt accepts.
		d := s
		if d[0] == '+' || d[0] == '-' {
			d = d[1:]
		}
		if digits == len(d) && digits > 0 && digits <= 18 && (d[0] != '0' || len(d) == 1) {
			return tagInt
		}
		// With a '.' or an exponent and no base prefix or underscore,
		// yaml.v3's ParseInt and ParseUint attempts fail: only a float is
		// possible.
		if strings.ContainsAny(s, ".eE") {
			if floatSyntax(s) {
				if _, err := strconv.ParseFloat(s, 64); err == nil {
					return tagFloat
				}
			}
			return tagStr
		}
	}
	return numberTagSlow(s)
}

// floatSyntax reports whether s matches
// ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ (yaml.v3's
// yamlStyleFloat).
func floatSyntax(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	} else {
		if digits() == 0 {
			return false
		}
		if i < len(s) && s[i] == '.' {
			i++
			digits()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// numberTagSlow follows yaml.v3's resolve for integers and floats step by
// step.
func numberTagSlow(s string) string {
	plain := strings.ReplaceAll(s, "_", "")
	if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return tagInt
	}
	if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return tagInt
	}
	if floatSyntax(plain) {
		if _, err := strconv.ParseFloat(plain, 64); err == nil {
			return tagFloat
		}
	}
	switch {
	case strings.HasPrefix(plain, "0b"):
		if _, err := strconv.ParseInt(plain[2:], 2, 64); err == nil {
			return tagInt
		}
		if _, err := strconv.ParseUint(plain[2:], 2, 64); err == nil {
			return tagInt
		}
	case strings.HasPrefix(plain, "-0b"):
		if _, err := strconv.ParseInt("-"+plain[3:], 2, 64); err == nil {
			return tagInt
		}
	case strings.HasPrefix(plain, "0o"):
		if _, err := strconv.ParseInt(plain[2:], 8, 64); err == nil {
			return tagInt
		}
		if _, err := strconv.ParseUint(plain[2:], 8, 64); err == nil {
			return tagInt
		}
	case strings.HasPrefix(plain, "-0o"):
		if _, err := strconv.ParseInt("-"+plain[3:], 8, 64); err == nil {
			return tagInt
		}
	}
	return tagStr
}
