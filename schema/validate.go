package schema

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"math/big"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
)

//go:embed generated/*.json cairn/*.json
var files embed.FS

// cairnFiles maps the hand-written schemas under cairn/ to their kinds.
var cairnFiles = map[string]k8sschema.GroupVersionKind{
	"cairn/gitrepository.json": {Group: "gitops.cairn.dev", Version: "v1", Kind: "GitRepository"},
}

// FieldError is one problem with one field of a manifest.
type FieldError struct {
	// Path is the Kubernetes-style path of the field, e.g.
	// spec.template.spec.containers[0].image; "" for the object itself.
	Path string
	// Type is "Required", "Invalid", "Unsupported" or "Forbidden" (an
	// unknown field).
	Type string
	// Message says what is wrong, e.g. `Invalid value: "three": must be an
	// integer`, `Required value`, `unknown field`.
	Message string
}

// Error renders the error as "path: message".
func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// FieldError types.
const (
	TypeRequired    = "Required"
	TypeInvalid     = "Invalid"
	TypeUnsupported = "Unsupported"
	TypeForbidden   = "Forbidden"
)

// UnknownKindError is returned by Validate for a kind without a schema.
type UnknownKindError struct{ GVK k8sschema.GroupVersionKind }

func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("no schema for %s", gvkString(e.GVK))
}

func gvkString(g k8sschema.GroupVersionKind) string {
	return g.GroupVersion().String() + ", Kind=" + g.Kind
}

type entry struct {
	file string
	once sync.Once
	sch  *jsonschema.Schema
	err  error
}

// Validator validates manifests against the embedded schemas. Each kind's
// schema is compiled once, on first use; a Validator is safe for concurrent
// use.
type Validator struct {
	entries map[k8sschema.GroupVersionKind]*entry
}

// New returns a Validator over every embedded schema.
func New() *Validator {
	v := &Validator{entries: map[k8sschema.GroupVersionKind]*entry{}}
	names, _ := fs.Glob(files, "generated/*.json")
	for _, n := range names {
		parts := strings.Split(strings.TrimSuffix(path.Base(n), ".json"), "_")
		if len(parts) != 3 {
			continue
		}
		g := parts[0]
		if g == "core" {
			g = ""
		}
		v.entries[k8sschema.GroupVersionKind{Group: g, Version: parts[1], Kind: parts[2]}] = &entry{file: n}
	}
	for f, gvk := range cairnFiles {
		v.entries[gvk] = &entry{file: f}
	}
	return v
}

// Known reports whether there is a schema for gvk.
func (v *Validator) Known(gvk k8sschema.GroupVersionKind) bool {
	_, ok := v.entries[gvk]
	return ok
}

// Kinds lists the kinds with a schema, sorted.
func (v *Validator) Kinds() []k8sschema.GroupVersionKind {
	out := make([]k8sschema.GroupVersionKind, 0, len(v.entries))
	for g := range v.entries {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return gvkString(out[i]) < gvkString(out[j]) })
	return out
}

// Schema returns the raw JSON Schema for gvk.
func (v *Validator) Schema(gvk k8sschema.GroupVersionKind) ([]byte, error) {
	e, ok := v.entries[gvk]
	if !ok {
		return nil, &UnknownKindError{gvk}
	}
	return files.ReadFile(e.file)
}

func (e *entry) compile() (*jsonschema.Schema, error) {
	e.once.Do(func() {
		b, err := files.ReadFile(e.file)
		if err != nil {
			e.err = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			e.err = fmt.Errorf("%s: %w", e.file, err)
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		c.AssertFormat()
		url := "embed:///" + e.file
		if err := c.AddResource(url, doc); err != nil {
			e.err = fmt.Errorf("%s: %w", e.file, err)
			return
		}
		e.sch, e.err = c.Compile(url)
	})
	return e.sch, e.err
}

// Validate validates doc, a decoded JSON value (map[string]any from
// encoding/json, ideally with UseNumber, or YAML converted to JSON-compatible
// types), as an object of kind gvk. It returns one FieldError per problem,
// sorted by path; the error is non-nil only for an unknown kind (or a broken
// embedded schema).
//
// As in the Kubernetes API, a null field value is the same as an absent one.
func (v *Validator) Validate(gvk k8sschema.GroupVersionKind, doc any) ([]FieldError, error) {
	e, ok := v.entries[gvk]
	if !ok {
		return nil, &UnknownKindError{gvk}
	}
	sch, err := e.compile()
	if err != nil {
		return nil, err
	}
	return validateWith(sch, doc)
}

// validateWith validates doc against a compiled schema and turns the
// errors into FieldErrors.
func validateWith(sch *jsonschema.Schema, doc any) ([]FieldError, error) {
	doc, _ = pruneNulls(doc)
	err := sch.Validate(doc)
	if err == nil {
		return nil, nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []FieldError{{Type: TypeInvalid, Message: err.Error()}}, nil
	}
	var out []FieldError
	collect(ve, doc, &out)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Message < b.Message
	})
	dedup := out[:0]
	for i, fe := range out {
		if i > 0 && fe == out[i-1] {
			continue
		}
		dedup = append(dedup, fe)
	}
	return dedup, nil
}

// pruneNulls drops null object members, copying only the maps and slices
// on the way to one; it reports whether anything changed.
func pruneNulls(v any) (any, bool) {
	switch t := v.(type) {
	case map[string]any:
		var cp map[string]any
		for k, x := range t {
			if x == nil {
				if cp == nil {
					cp = copyMap(t)
				}
				delete(cp, k)
				continue
			}
			if nx, changed := pruneNulls(x); changed {
				if cp == nil {
					cp = copyMap(t)
				}
				cp[k] = nx
			}
		}
		if cp != nil {
			return cp, true
		}
	case []any:
		var cp []any
		for i, x := range t {
			if nx, changed := pruneNulls(x); changed {
				if cp == nil {
					cp = append([]any(nil), t...)
				}
				cp[i] = nx
			}
		}
		if cp != nil {
			return cp, true
		}
	}
	return v, false
}

func copyMap(m map[string]any) map[string]any {
	cp := make(map[string]any, len(m))
	for k, v := range m {
		cp[k] = v
	}
	return cp
}

var printer = message.NewPrinter(language.English)

const (
	quantityDef = "io.k8s.apimachinery.pkg.api.resource.Quantity"
	intOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	base64Pat   = `^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$`
	durationPat = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
)

func collect(e *jsonschema.ValidationError, doc any, out *[]FieldError) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, doc, out)
		}
		return
	}
	p, val := locate(doc, e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, FieldError{Path: join(p, m), Type: TypeRequired, Message: "Required value"})
		}
	case *kind.AdditionalProperties:
		for _, f := range k.Properties {
			*out = append(*out, FieldError{Path: join(p, f), Type: TypeForbidden, Message: "unknown field"})
		}
	case *kind.Type:
		var msg string
		switch {
		case strings.HasSuffix(e.SchemaURL, quantityDef):
			msg = `must be a quantity, e.g. "500m", "128Mi" or 2`
		case strings.HasSuffix(e.SchemaURL, intOrString):
			msg = "must be an integer or a string"
		default:
			ws := make([]string, len(k.Want))
			for i, w := range k.Want {
				ws[i] = article(w)
			}
			msg = "must be " + strings.Join(ws, " or ")
		}
		*out = append(*out, invalid(p, val, msg))
	case *kind.Enum:
		*out = append(*out, FieldError{Path: p, Type: TypeUnsupported,
			Message: "Unsupported value: " + render(val) + ": supported values: " + renderList(k.Want)})
	case *kind.Const:
		*out = append(*out, FieldError{Path: p, Type: TypeUnsupported,
			Message: "Unsupported value: " + render(val) + ": supported values: " + render(k.Want)})
	case *kind.Pattern:
		var msg string
		switch {
		case strings.HasSuffix(e.SchemaURL, quantityDef):
			msg = `must be a quantity, e.g. "500m", "128Mi" or 2`
		case k.Want == base64Pat:
			msg = "must be base64-encoded"
		case k.Want == durationPat:
			msg = `must be a duration, e.g. "30s", "5m" or "1h30m"`
		default:
			msg = "must match the regular expression " + strconv.Quote(k.Want)
		}
		*out = append(*out, invalid(p, val, msg))
	case *kind.Format:
		msg := "must be in format " + k.Want
		if k.Want == "date-time" {
			msg = `must be an RFC 3339 date-time, e.g. "2006-01-02T15:04:05Z"`
		}
		*out = append(*out, invalid(p, val, msg))
	case *kind.Minimum:
		*out = append(*out, invalid(p, val, "must be greater than or equal to "+ratString(k.Want)))
	case *kind.Maximum:
		*out = append(*out, invalid(p, val, "must be less than or equal to "+ratString(k.Want)))
	case *kind.FalseSchema:
		*out = append(*out, FieldError{Path: p, Type: TypeForbidden, Message: "unknown field"})
	case *kind.InvalidJsonValue:
		*out = append(*out, FieldError{Path: p, Type: TypeInvalid, Message: fmt.Sprintf("Invalid value: %T: not a JSON value", k.Value)})
	default:
		*out = append(*out, invalid(p, val, e.ErrorKind.LocalizedString(printer)))
	}
}

func invalid(p string, val any, msg string) FieldError {
	return FieldError{Path: p, Type: TypeInvalid, Message: "Invalid value: " + render(val) + ": " + msg}
}

func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(6)
}

func article(t string) string {
	switch t {
	case "integer", "object", "array":
		return "an " + t
	case "null":
		return "null"
	}
	return "a " + t
}

// locate turns a JSON-pointer-like location into a Kubernetes field path
// and returns the value found there.
func locate(doc any, loc []string) (string, any) {
	var sb strings.Builder
	cur := doc
	for _, seg := range loc {
		switch t := cur.(type) {
		case []any:
			sb.WriteString("[" + seg + "]")
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(t) {
				cur = t[i]
			} else {
				cur = nil
			}
		case map[string]any:
			writeKey(&sb, seg)
			cur = t[seg]
		default:
			writeKey(&sb, seg)
			cur = nil
		}
	}
	return sb.String(), cur
}

func join(p, key string) string {
	var sb strings.Builder
	sb.WriteString(p)
	writeKey(&sb, key)
	return sb.String()
}

func writeKey(sb *strings.Builder, key string) {
	if isIdent(key) {
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(key)
		return
	}
	sb.WriteString("[" + key + "]")
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-'):
		default:
			return false
		}
	}
	return true
}

func render(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(t)
	case map[string]any:
		return "{...}"
	case []any:
		return "[...]"
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(t), 'g', -1, 32)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func renderList(xs []any) string {
	parts := make([]string, 0, len(xs))
	for _, x := range xs {
		parts = append(parts, render(x))
	}
	sort.Strings(parts)
	uniq := parts[:0]
	for i, p := range parts {
		if i == 0 || p != parts[i-1] {
			uniq = append(uniq, p)
		}
	}
	parts = uniq
	return strings.Join(parts, ", ")
}

// Field returns the problem as a Kubernetes field error whose ErrorBody()
// reads exactly like Message, so the API server's 422 and `cairn validate`
// say the same thing.
func (e FieldError) Field() *field.Error {
	path := e.Path
	if path == "" {
		path = "<root>"
	}
	fe := &field.Error{Field: path, BadValue: field.OmitValueType{}}
	switch e.Type {
	case TypeRequired:
		fe.Type, fe.Detail = field.ErrorTypeRequired, strings.TrimPrefix(strings.TrimPrefix(e.Message, "Required value"), ": ")
	case TypeUnsupported:
		fe.Type, fe.Detail = field.ErrorTypeNotSupported, strings.TrimPrefix(e.Message, "Unsupported value: ")
	case TypeForbidden:
		fe.Type, fe.Detail = field.ErrorTypeForbidden, e.Message
	default:
		fe.Type, fe.Detail = field.ErrorTypeInvalid, strings.TrimPrefix(e.Message, "Invalid value: ")
	}
	return fe
}
