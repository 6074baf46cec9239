// Package manifest loads Kubernetes manifests (multi-document YAML or JSON)
// for `cairn validate`, `cairn review` and gitsync, remembering where every
// object and every field came from so that later errors can be reported as
//
//	file:line: Kind/name: path: message
//
// # Conversion rules
//
// The loader reproduces what `kubectl apply` sends to the API server, i.e.
// the semantics of sigs.k8s.io/yaml (YAMLToJSON), which decodes with the YAML
// 1.1 resolver of go-yaml v2 and then converts the result to JSON. yaml.v3 is
// only used to build the node tree (positions, anchors, syntax errors); the
// scalar resolution below is done by this package so that the result matches
// kubectl byte for byte rather than yaml.v3's YAML 1.2 rules:
//
//   - Quoted, literal (|) and folded (>) scalars are always strings.
//   - Plain scalars: "", ~, null, Null, NULL are null; true/false and the
//     YAML 1.1 words y, yes, on, n, no, off (in lower, Title and UPPER case)
//     are booleans — exactly like kubectl, so `enabled: yes` is true and an
//     unquoted key `on:` becomes the JSON key "true".
//   - Integers follow go-yaml v2: underscores are ignored, 0x (hex), 0o and
//     leading-0 (octal: `defaultMode: 0644` is 420), 0b (binary) and a sign are
//     accepted; values beyond int64 are uint64, beyond that they are floats.
//     Integers are stored as json.Number in decimal, never float64.
//   - Floats (1.5, 1e3, .5) are stored as json.Number formatted exactly as
//     encoding/json formats the float64 kubectl would send (so `1.0` becomes
//     1 and `1e3` becomes 1000). .inf and .nan cannot be represented in JSON
//     and are an error (kubectl fails on them too).
//   - Timestamps (2024-01-02, 2024-01-02T03:04:05Z) stay strings, as in kubectl.
//   - Explicit tags !!str, !!int, !!float, !!bool, !!null, !!timestamp are
//     honoured (a mismatch such as `!!int abc` is an error); !!binary is base64
//     decoded; any other (custom) tag is ignored and a scalar becomes a string.
//   - Non-string mapping keys are converted as sigs.k8s.io/yaml does: ints in
//     decimal, floats with strconv 'g' at 32-bit precision, booleans as
//     "true"/"false"; null, uint64 and collection keys are errors.
//   - Merge keys (<<) are supported; explicit keys win over merged ones, and
//     earlier merged maps win over later ones.
//   - Duplicate keys (after key conversion, so `1:` and `"1":` collide) are an
//     error at the duplicate, naming the line of the first definition.
//
// Anchors and aliases are expanded; to defeat "billion laughs" documents the
// expansion is limited to MaxAliasNodes nodes per document and the estimated
// JSON size of a document to MaxDocBytes (see Options). yaml.v3's own
// alias-ratio check only runs when decoding into Go values, not when parsing
// into a yaml.Node tree, so it does not protect this loader.
//
// # Paths
//
// Field paths use Kubernetes' field.Path notation: `metadata.name`,
// `spec.containers[0].image`. Keys that are not plain identifiers
// ([A-Za-z_][A-Za-z0-9_]*) are written in brackets:
// `metadata.labels[app.kubernetes.io/name]`, `data[config.yaml]`. LineOf
// accepts either notation for a key.
package manifest

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// DefaultMaxFileBytes is the default Options.MaxFileBytes (10 MiB).
	DefaultMaxFileBytes = 10 << 20
	// DefaultMaxDocBytes is the default Options.MaxDocBytes (3 MiB, the API
	// server's request body limit).
	DefaultMaxDocBytes = 3 << 20
	// MaxAliasNodes is the maximum number of nodes a document may produce
	// through alias expansion.
	MaxAliasNodes = 100_000
)

// Options limits what Parse and Load accept. Zero values mean the defaults.
type Options struct {
	// MaxFileBytes: larger files are an error naming the file.
	MaxFileBytes int64
	// MaxDocBytes: a document whose source text, or whose JSON encoding, is
	// larger is an error naming file:line.
	MaxDocBytes int64
}

func (o Options) withDefaults() Options {
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxDocBytes <= 0 {
		o.MaxDocBytes = DefaultMaxDocBytes
	}
	return o
}

// Object is one Kubernetes object read from a manifest file.
type Object struct {
	File string // as given (a path given to Load, joined with the path below a directory), "-" for stdin
	// Doc is the 0-based index of the document in the file, counting only
	// non-empty documents (an empty or comment-only document, or a leading
	// `---`, does not count). Items of a List share the List's Doc.
	Doc  int
	Line int // line of the object's first key

	APIVersion, Kind, Namespace, Name string

	// GenerateName is metadata.generateName (used by Ref when Name is empty).
	GenerateName string

	// Value is the object as JSON-compatible Go values: map[string]any,
	// []any, string, bool, nil and json.Number (integers and floats).
	Value map[string]any
	// JSON is Value encoded as encoding/json would (sorted keys), i.e. the
	// body kubectl would send to the API server.
	JSON []byte

	lines map[string]pos
}

type pos struct{ line, col int32 }

// Ref returns a short reference for messages: "Kind/name" for objects without
// a namespace (cluster-scoped, or namespaced but relying on the default
// namespace) and "Kind/namespace/name" otherwise. An object without a name is
// "Kind/generateName*" if it has metadata.generateName, else "Kind/<unnamed>".
func (o *Object) Ref() string {
	name := o.Name
	if name == "" {
		if o.GenerateName != "" {
			name = o.GenerateName + "*"
		} else {
			name = "<unnamed>"
		}
	}
	if o.Namespace != "" {
		return o.Kind + "/" + o.Namespace + "/" + name
	}
	return o.Kind + "/" + name
}

// LineOf returns the line of path (e.g. "spec.template.spec.containers[0].image"),
// else the line of its nearest ancestor present in the object, else o.Line.
// For a map entry the line is the key's line; for a list item, the item's.
func (o *Object) LineOf(path string) int {
	l, _ := o.PosOf(path)
	return l
}

// PosOf is LineOf with the column (1-based) of the key or item; the column is
// 0 when only o.Line is known.
func (o *Object) PosOf(path string) (line, col int) {
	segs, ok := splitPath(path)
	if !ok {
		if p, ok := o.lines[path]; ok {
			return int(p.line), int(p.col)
		}
		return o.Line, 0
	}
	for n := len(segs); n > 0; n-- {
		if p, ok := o.lines[joinPath(segs[:n])]; ok {
			return int(p.line), int(p.col)
		}
	}
	return o.Line, 0
}

// Paths returns the number of field paths whose position is known.
func (o *Object) Paths() int { return len(o.lines) }

// Error is a positioned loader error.
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// --- paths ---

type seg struct {
	key   string
	index int // -1 for a key
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// childKey appends a map key to a path in canonical notation.
func childKey(parent, key string) string {
	if isIdent(key) {
		if parent == "" {
			return key
		}
		return parent + "." + key
	}
	return parent + "[" + key + "]"
}

func childIndex(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func joinPath(segs []seg) string {
	var b strings.Builder
	for i, s := range segs {
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		} else if isIdent(s.key) {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		} else {
			b.WriteByte('[')
			b.WriteString(s.key)
			b.WriteByte(']')
		}
	}
	return b.String()
}

// splitPath parses a path in either notation ("a.b[0][x.y]" or "a.b.0"
// is not an index: digits after a dot are a key).
func splitPath(p string) ([]seg, bool) {
	var segs []seg
	i := 0
	for i < len(p) {
		switch p[i] {
		case '.':
			i++
			continue
		case '[':
			// A key in brackets may itself contain ']' only at the end of
			// the key; take the first "]" followed by '.', '[' or the end.
			j := i + 1
			end := -1
			for k := j; k < len(p); k++ {
				if p[k] == ']' && (k+1 == len(p) || p[k+1] == '.' || p[k+1] == '[') {
					end = k
					break
				}
			}
			if end < 0 {
				return nil, false
			}
			inner := p[j:end]
			if n, err := strconv.Atoi(inner); err == nil && n >= 0 && inner == strconv.Itoa(n) {
				segs = append(segs, seg{index: n})
			} else {
				segs = append(segs, seg{key: inner, index: -1})
			}
			i = end + 1
		default:
			j := i
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			segs = append(segs, seg{key: p[i:j], index: -1})
			i = j
		}
	}
	return segs, true
}

// --- JSON encoding ---

// appendJSON appends v encoded exactly as encoding/json.Marshal would.
func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		if v {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case string:
		return appendString(b, v)
	case json.Number:
		return append(b, v...)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sortStrings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendJSON(b, v[k])
		}
		return append(b, '}')
	default:
		// Not produced by this package; fall back to encoding/json.
		out, err := json.Marshal(v)
		if err != nil {
			return append(b, "null"...)
		}
		return append(b, out...)
	}
}

func sortStrings(s []string) {
	// insertion sort for the common tiny maps, else the stdlib.
	if len(s) <= 12 {
		for i := 1; i < len(s); i++ {
			for j := i; j > 0 && s[j] < s[j-1]; j-- {
				s[j], s[j-1] = s[j-1], s[j]
			}
		}
		return
	}
	slices.Sort(s)
}

const hexDigits = "0123456789abcdef"

// appendString mirrors encoding/json's string encoder with HTML escaping.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func formatFloat(f float64) json.Number {
	// encoding/json's float64 format.
	abs := f
	if abs < 0 {
		abs = -abs
	}
	fmtc := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmtc = 'e'
	}
	b := strconv.AppendFloat(nil, f, fmtc, -1, 64)
	if fmtc == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return json.Number(b)
}
