package manifest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	yaml2 "go.yaml.in/yaml/v2"
	yaml "go.yaml.in/yaml/v3"
)

// Parse reads the manifests in data (multi-document YAML, or JSON, which is
// parsed as YAML flow syntax). Empty documents are skipped; a v1 List is
// expanded into its items, each keeping its own lines. Every problem is an
// *Error; the objects of the documents without problems are still returned.
func Parse(file string, data []byte, opts Options) ([]*Object, []error) {
	opts = opts.withDefaults()
	if int64(len(data)) > opts.MaxFileBytes {
		return nil, []error{&Error{File: file, Msg: fmt.Sprintf("file is %d bytes, larger than the limit of %d bytes", len(data), opts.MaxFileBytes)}}
	}
	p := &parser{file: file, opts: opts}
	for _, c := range splitDocs(data) {
		p.chunk(c)
	}
	return p.objs, p.errs
}

type parser struct {
	file string
	opts Options
	doc  int
	objs []*Object
	errs []error
	// arena holds the fast parser's nodes, reused document after document
	// (no tree outlives its document's conversion).
	arena fastArena
}

func (p *parser) errorf(line, col int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)})
}

// chunk is a piece of the file between two "---" separator lines (the
// separator line itself, if any, is included so that "--- {a: 1}" works).
type chunk struct {
	data []byte
	line int // 1-based line of data[0] in the file
}

// splitDocs splits data at lines starting with "---" followed by white space
// or the end of the line. YAML forbids such lines inside any scalar, so this
// is exactly where documents may start; splitting first lets each document be
// size-checked before parsing and lets parsing continue after a syntax error.
func splitDocs(data []byte) []chunk {
	var out []chunk
	start, startLine := 0, 1
	line := 1
	for i := 0; i < len(data); {
		if i > start && isSeparator(data[i:]) {
			out = append(out, chunk{data: data[start:i], line: startLine})
			start, startLine = i, line
		}
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		line++
	}
	if start < len(data) {
		out = append(out, chunk{data: data[start:], line: startLine})
	}
	return out
}

func isSeparator(b []byte) bool {
	if len(b) < 3 || b[0] != '-' || b[1] != '-' || b[2] != '-' {
		return false
	}
	if len(b) == 3 {
		return true
	}
	switch b[3] {
	case ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// contentLine returns the first line of c that is not blank, a comment or
// the separator.
func (c chunk) contentLine() int {
	line := c.line
	data := c.data
	for len(data) > 0 {
		j := bytes.IndexByte(data, '\n')
		var l []byte
		if j < 0 {
			l, data = data, nil
		} else {
			l, data = data[:j], data[j+1:]
		}
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' && !(isSeparator(l) && len(bytes.TrimSpace(l[3:])) == 0) {
			return line
		}
		line++
	}
	return c.line
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) chunk(c chunk) {
	if int64(len(c.data)) > p.opts.MaxDocBytes {
		p.errorf(c.contentLine(), 0, "document is %d bytes, larger than the limit of %d bytes", len(c.data), p.opts.MaxDocBytes)
		p.doc++
		return
	}
	off := c.line - 1
	// Most chunks hold one document: parse them from memory. A chunk with a
	// "..." end marker may hold more and goes through a Decoder.
	var dec *yaml.Decoder
	single := !bytes.Contains(c.data, []byte("\n..."))
	if !single {
		dec = yaml.NewDecoder(bytes.NewReader(c.data))
	}
	for i := 0; ; i++ {
		var doc yaml.Node
		var err error
		if single {
			if i > 0 {
				return
			}
			// parseFast builds the same tree for the YAML most manifests
			// use; anything else, and every syntax error, goes to yaml.v3.
			p.arena.reset()
			if n, ok := parseFastIn(c.data, &p.arena); ok {
				doc = *n
			} else {
				err = unmarshalSafe(c.data, &doc)
			}
		} else {
			err = decodeSafe(dec, &doc)
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			line, msg := syntaxErrorPos(c, err)
			p.errorf(line, 0, "%s", msg)
			p.doc++
			return
		}
		if doc.Kind == 0 {
			continue // empty input (yaml.Unmarshal leaves the node zero)
		}
		root := &doc
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		if root.Kind == yaml.ScalarNode && root.Style&yaml.TaggedStyle == 0 && root.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			if v, ok := resolveMap[root.Value]; ok && v == nil {
				continue // empty or explicit null document
			}
		}
		p.document(root, off)
		p.doc++
	}
}

// syntaxErrorPos turns a yaml.v3 syntax error into a file line and message.
// yaml.v3 reports scanner errors with 1-based lines, parser errors with
// 0-based lines at the start of the enclosing construct, and omits the line
// when it is 0. For parser errors the chunk is re-read with go-yaml v2 (the
// parser kubectl uses), which reports the problem's own (0-based) line; this
// second parse only ever happens for a document that failed.
func syntaxErrorPos(c chunk, err error) (int, string) {
	off := c.line - 1
	text := err.Error()
	msg := strings.TrimPrefix(text, "yaml: ")
	line := 1
	m := yamlLineErr.FindStringSubmatch(text)
	if m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	parserErr := strings.HasPrefix(msg, "did not find expected") || strings.HasPrefix(msg, "found duplicate") ||
		strings.HasPrefix(msg, "found incompatible") || strings.HasPrefix(msg, "found undefined tag")
	switch {
	case parserErr:
		if m == nil {
			line = 0
		}
		line++ // 0-based
		if strings.HasPrefix(msg, "did not find expected") {
			if l, ok := yaml2Line(c.data, msg); ok {
				line = l
			}
		}
	case strings.HasPrefix(msg, "unknown anchor '"):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		if i := bytes.Index(c.data, []byte("*"+name)); i >= 0 {
			line = 1 + bytes.Count(c.data[:i], []byte("\n"))
		}
	}
	return line + off, msg
}

func yaml2Line(data []byte, msg string) (line int, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var v any
	err := yaml2.Unmarshal(data, &v)
	if err == nil {
		return 0, false
	}
	m := yamlLineErr.FindStringSubmatch(err.Error())
	if m == nil || m[2] != msg {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	return n + 1, true
}

func unmarshalSafe(data []byte, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: internal YAML parser error: %v", r)
		}
	}()
	return yaml.Unmarshal(data, n)
}

func decodeSafe(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: internal YAML parser error: %v", r)
		}
	}()
	return dec.Decode(n)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "a document"
}

func (p *parser) document(root *yaml.Node, off int) {
	line := root.Line + off
	if root.Kind != yaml.MappingNode {
		p.errorf(line, root.Column, "document is %s, expected a mapping (a Kubernetes object)", kindName(root))
		return
	}
	if len(root.Content) > 0 {
		line = root.Content[0].Line + off
	}
	b := &builder{off: off, lines: make(map[string]pos, 32), maxBytes: p.opts.MaxDocBytes}
	v, err := b.value(root, "")
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			pe.File = p.file
			p.errs = append(p.errs, pe)
		} else {
			p.errorf(line, 0, "%v", err)
		}
		return
	}
	m := v.(map[string]any)
	if isList(m) {
		items, ok := m["items"].([]any)
		if !ok {
			if _, present := m["items"]; present && m["items"] != nil {
				l, c := b.at("items", line)
				p.errorf(l, c, "List: items must be a list")
				return
			}
		}
		for i, it := range items {
			prefix := childIndex("items", i)
			l, c := b.at(prefix, line)
			im, ok := it.(map[string]any)
			if !ok {
				p.errorf(l, c, "List: %s is not a mapping (a Kubernetes object)", prefix)
				continue
			}
			lines := make(map[string]pos)
			for k, v := range b.lines {
				if strings.HasPrefix(k, prefix) && len(k) > len(prefix) {
					rest := k[len(prefix):]
					switch rest[0] {
					case '.':
						lines[rest[1:]] = v
					case '[':
						lines[rest] = v
					}
				}
			}
			// The item's line is its first key's (the smallest line below it).
			first := 0
			for _, v := range lines {
				if first == 0 || int(v.line) < first {
					first = int(v.line)
				}
			}
			if first == 0 {
				first = l
			}
			p.object(im, lines, first)
		}
		return
	}
	p.object(m, b.lines, line)
}

func isList(m map[string]any) bool {
	return m["kind"] == "List" && m["apiVersion"] == "v1"
}

func (p *parser) object(m map[string]any, lines map[string]pos, line int) {
	o := &Object{File: p.file, Doc: p.doc, Line: line, Value: m, lines: lines}
	var missing []string
	str := func(path string, v any, dst *string, required bool) bool {
		switch s := v.(type) {
		case string:
			*dst = s
			if s == "" && required {
				missing = append(missing, path)
			}
		case nil:
			if required {
				missing = append(missing, path)
			}
		default:
			l, c := o.PosOf(path)
			p.errorf(l, c, "%s: must be a string", path)
			return false
		}
		return true
	}
	ok := str("apiVersion", m["apiVersion"], &o.APIVersion, true)
	ok = str("kind", m["kind"], &o.Kind, true) && ok
	if md, isMap := m["metadata"].(map[string]any); isMap {
		ok = str("metadata.name", md["name"], &o.Name, false) && ok
		ok = str("metadata.namespace", md["namespace"], &o.Namespace, false) && ok
		ok = str("metadata.generateName", md["generateName"], &o.GenerateName, false) && ok
	} else if md, present := m["metadata"]; present && md != nil {
		l, c := o.PosOf("metadata")
		p.errorf(l, c, "metadata: must be a mapping")
		ok = false
	}
	if len(missing) > 0 {
		p.errorf(line, 0, "missing %s", strings.Join(missing, " and "))
		return
	}
	if !ok {
		return
	}
	o.JSON = appendJSON(make([]byte, 0, 256), m)
	if int64(len(o.JSON)) > p.opts.MaxDocBytes {
		p.errorf(line, 0, "%s: object is %d bytes as JSON, larger than the limit of %d bytes", o.Ref(), len(o.JSON), p.opts.MaxDocBytes)
		return
	}
	p.objs = append(p.objs, o)
}

// builder converts a yaml.v3 node tree to JSON-compatible values and records
// the position of every path, in one walk.
type builder struct {
	off        int
	lines      map[string]pos
	aliasDepth int
	aliasNodes int
	bytes      int64 // estimated JSON size so far
	maxBytes   int64
	active     []*yaml.Node // anchors being expanded (cycle detection)
	aliasSite  *yaml.Node   // outermost alias being expanded
}

func (b *builder) errAt(n *yaml.Node, format string, args ...any) error {
	return &Error{Line: n.Line + b.off, Column: n.Column, Msg: fmt.Sprintf(format, args...)}
}

func (b *builder) at(path string, def int) (int, int) {
	if p, ok := b.lines[path]; ok {
		return int(p.line), int(p.col)
	}
	return def, 0
}

func (b *builder) record(path string, n *yaml.Node) {
	if _, ok := b.lines[path]; !ok || b.aliasDepth == 0 {
		b.lines[path] = pos{int32(n.Line + b.off), int32(n.Column)}
	}
}

func (b *builder) count(n *yaml.Node, size int) error {
	b.bytes += int64(size) + 2
	if b.aliasDepth > 0 {
		n = b.aliasSite // report where the expansion was asked for
		b.aliasNodes++
		if b.aliasNodes > MaxAliasNodes {
			return b.errAt(n, "document expands to more than %d nodes through aliases (excessive aliasing)", MaxAliasNodes)
		}
	}
	if b.bytes > b.maxBytes {
		return b.errAt(n, "document expands to more than %d bytes of JSON", b.maxBytes)
	}
	return nil
}

func (b *builder) value(n *yaml.Node, path string) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		t := n.Alias
		for _, a := range b.active {
			if a == t {
				return nil, b.errAt(n, "alias *%s refers to its own anchor", n.Value)
			}
		}
		b.active = append(b.active, t)
		if b.aliasDepth == 0 {
			b.aliasSite = n
		}
		b.aliasDepth++
		v, err := b.value(t, path)
		b.aliasDepth--
		b.active = b.active[:len(b.active)-1]
		return v, err
	case yaml.MappingNode:
		if err := b.count(n, 0); err != nil {
			return nil, err
		}
		m := make(map[string]any, len(n.Content)/2)
		if err := b.fill(m, n, path, false); err != nil {
			return nil, err
		}
		return m, nil
	case yaml.SequenceNode:
		if err := b.count(n, 0); err != nil {
			return nil, err
		}
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			cp := childIndex(path, i)
			b.record(cp, c)
			v, err := b.value(c, cp)
			if err != nil {
				return nil, err
			}
			s[i] = v
		}
		return s, nil
	case yaml.ScalarNode:
		if err := b.count(n, len(n.Value)); err != nil {
			return nil, err
		}
		return b.scalar(n)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return b.value(n.Content[0], path)
	}
	return nil, b.errAt(n, "unsupported YAML node")
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "!!merge" || k.Tag == "tag:yaml.org,2002:merge") &&
		k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// fill adds the entries of mapping n to m. For a merged mapping (merged),
// keys already in m are kept; otherwise a repeated key is an error.
func (b *builder) fill(m map[string]any, n *yaml.Node, path string, merged bool) error {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			merges = append(merges, v)
			continue
		}
		ks, err := b.key(k)
		if err != nil {
			return err
		}
		if _, dup := m[ks]; dup {
			if merged {
				// Count skipped merged keys too, so that repeated merges of
				// the same anchor cannot do unbounded work.
				if err := b.count(k, 0); err != nil {
					return err
				}
				continue
			}
			first := 0
			for j := 0; j < i; j += 2 {
				if isMergeKey(n.Content[j]) {
					continue
				}
				if s, err := b.key(n.Content[j]); err == nil && s == ks {
					first = n.Content[j].Line + b.off
					break
				}
			}
			return b.errAt(k, "mapping key %q already defined at line %d", ks, first)
		}
		b.bytes += int64(len(ks)) + 4
		cp := childKey(path, ks)
		b.record(cp, k)
		val, err := b.value(v, cp)
		if err != nil {
			return err
		}
		m[ks] = val
	}
	for _, mv := range merges {
		if err := b.merge(m, mv, path); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) merge(m map[string]any, v *yaml.Node, path string) error {
	aliased := v.Kind == yaml.AliasNode
	if aliased {
		for _, a := range b.active {
			if a == v.Alias {
				return b.errAt(v, "alias *%s refers to its own anchor", v.Value)
			}
		}
		b.active = append(b.active, v.Alias)
		if b.aliasDepth == 0 {
			b.aliasSite = v
		}
		b.aliasDepth++
		defer func() { b.aliasDepth--; b.active = b.active[:len(b.active)-1] }()
	}
	t := deref(v)
	switch t.Kind {
	case yaml.MappingNode:
		if err := b.count(t, 0); err != nil {
			return err
		}
		return b.fill(m, t, path, true)
	case yaml.SequenceNode:
		for _, e := range t.Content {
			if deref(e).Kind != yaml.MappingNode {
				return b.errAt(e, "merge key (<<) sequence items must be mappings")
			}
			if err := b.merge(m, e, path); err != nil {
				return err
			}
		}
		return nil
	}
	return b.errAt(v, "merge key (<<) value must be a mapping or a sequence of mappings")
}

// key converts a mapping key to a string as sigs.k8s.io/yaml does.
func (b *builder) key(k *yaml.Node) (string, error) {
	k = deref(k)
	if k.Kind != yaml.ScalarNode {
		return "", b.errAt(k, "unsupported map key: %s", strings.TrimPrefix(kindName(k), "a "))
	}
	v, err := b.resolveScalar(k)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		s := strconv.FormatFloat(v, 'g', -1, 32)
		switch s {
		case "+Inf":
			s = ".inf"
		case "-Inf":
			s = "-.inf"
		case "NaN":
			s = ".nan"
		}
		return s, nil
	case nil:
		return "", b.errAt(k, "unsupported map key: null")
	}
	return "", b.errAt(k, "unsupported map key %q of type %T", k.Value, v)
}

// scalar converts a scalar node to its JSON value.
func (b *builder) scalar(n *yaml.Node) (any, error) {
	v, err := b.resolveScalar(n)
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case int64:
		return json.Number(strconv.FormatInt(v, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(v, 10)), nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, b.errAt(n, "%s cannot be represented in JSON (quote it to make it a string)", n.Value)
		}
		return formatFloat(v), nil
	}
	return v, nil
}

const (
	tagStr       = "!!str"
	tagBool      = "!!bool"
	tagInt       = "!!int"
	tagFloat     = "!!float"
	tagNull      = "!!null"
	tagTimestamp = "!!timestamp"
	tagBinary    = "!!binary"
)

// resolveScalar returns string, bool, nil, int64, uint64 or float64
// following go-yaml v2 (YAML 1.1) resolution as used by kubectl.
func (b *builder) resolveScalar(n *yaml.Node) (any, error) {
	explicit := n.Style&yaml.TaggedStyle != 0
	if !explicit {
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			return n.Value, nil
		}
		tag, v := resolvePlain("", n.Value)
		if tag == tagTimestamp {
			return n.Value, nil
		}
		return v, nil
	}
	tag := n.Tag
	if strings.HasPrefix(tag, "tag:yaml.org,2002:") {
		tag = "!!" + tag[len("tag:yaml.org,2002:"):]
	}
	switch tag {
	case tagStr:
		return n.Value, nil
	case tagBinary:
		d, err := base64.StdEncoding.DecodeString(strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, n.Value))
		if err != nil {
			return nil, b.errAt(n, "!!binary value contains invalid base64 data")
		}
		return string(d), nil
	case tagBool, tagInt, tagFloat, tagNull, tagTimestamp:
		rtag, v := resolvePlain(tag, n.Value)
		if rtag == tag {
			if tag == tagTimestamp {
				return n.Value, nil
			}
			return v, nil
		}
		if tag == tagFloat && rtag == tagInt {
			if i, ok := v.(int64); ok {
				return float64(i), nil
			}
		}
		return nil, b.errAt(n, "cannot decode %s `%s` as a %s", rtag, n.Value, tag)
	}
	// Custom or unknown tag: go-yaml v2 keeps the scalar's text.
	return n.Value, nil
}

var resolveMap = map[string]any{}

func init() {
	for _, s := range []string{"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"} {
		resolveMap[s] = true
	}
	for _, s := range []string{"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"} {
		resolveMap[s] = false
	}
	for _, s := range []string{"", "~", "null", "Null", "NULL"} {
		resolveMap[s] = nil
	}
	for _, s := range []string{".nan", ".NaN", ".NAN"} {
		resolveMap[s] = math.NaN()
	}
	for _, s := range []string{".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"} {
		resolveMap[s] = math.Inf(1)
	}
	for _, s := range []string{"-.inf", "-.Inf", "-.INF"} {
		resolveMap[s] = math.Inf(-1)
	}
}

var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

func tagOf(v any) string {
	switch v.(type) {
	case bool:
		return tagBool
	case nil:
		return tagNull
	case float64:
		return tagFloat
	}
	return tagStr
}

// resolvePlain is go-yaml v2's resolve() for a plain scalar (tag "") or an
// explicit core tag. It returns the resolved tag and value.
func resolvePlain(tag, in string) (string, any) {
	if tag == tagStr {
		return tagStr, in
	}
	var hint byte = 'N'
	if in != "" {
		hint = resolveTable(in[0])
	}
	if hint == 0 {
		return tagStr, in
	}
	if v, ok := resolveMap[in]; ok {
		return tagOf(v), v
	}
	switch hint {
	case '.':
		if f, err := strconv.ParseFloat(in, 64); err == nil {
			return tagFloat, f
		}
	case 'D', 'S':
		if tag == "" || tag == tagTimestamp {
			if isTimestamp(in) {
				return tagTimestamp, in
			}
		}
		plain := strings.ReplaceAll(in, "_", "")
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return tagInt, i
		}
		if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return tagInt, u
		}
		if yamlStyleFloat.MatchString(plain) {
			if f, err := strconv.ParseFloat(plain, 64); err == nil {
				return tagFloat, f
			}
		}
		if strings.HasPrefix(plain, "0b") {
			if i, err := strconv.ParseInt(plain[2:], 2, 64); err == nil {
				return tagInt, i
			}
			if u, err := strconv.ParseUint(plain[2:], 2, 64); err == nil {
				return tagInt, u
			}
		} else if strings.HasPrefix(plain, "-0b") {
			if i, err := strconv.ParseInt("-"+plain[3:], 2, 64); err == nil {
				return tagInt, i
			}
		}
	}
	return tagStr, in
}

func resolveTable(c byte) byte {
	switch {
	case c == '+' || c == '-':
		return 'S'
	case c >= '0' && c <= '9':
		return 'D'
	case c == '.':
		return '.'
	}
	switch c {
	case 'y', 'Y', 'n', 'N', 't', 'T', 'f', 'F', 'o', 'O', '~':
		return 'M'
	}
	return 0
}

var timestampFormats = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

func isTimestamp(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			break
		}
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return false
	}
	for _, f := range timestampFormats {
		if _, err := time.Parse(f, s); err == nil {
			return true
		}
	}
	return false
}
