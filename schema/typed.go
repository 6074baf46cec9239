package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// A document made by converting a Go object to unstructured (as the
// API server does before it validates) cannot break the parts of the
// schema its Go type already guarantees: the JSON type of a string or
// struct field, an unknown member of a struct that names every field,
// the range of an int32. ValidateConverted checks such documents against
// a schema without those parts, so the validator does not walk subtrees
// in which nothing can fail; everything that can fail is kept as it is,
// and reports the same errors at the same places.

type typedKey struct {
	gvk k8sschema.GroupVersionKind
	t   reflect.Type
}

type typedEntry struct {
	once sync.Once
	sch  *jsonschema.Schema // nil: use the whole schema
}

var typedSchemas sync.Map // typedKey → *typedEntry

// ValidateConverted is Validate for doc, the unstructured form (as
// apimachinery's ToUnstructured makes it) of a value of Go type t, a
// struct or a pointer to one, of kind gvk.
func (v *Validator) ValidateConverted(gvk k8sschema.GroupVersionKind, t reflect.Type, doc any) ([]FieldError, error) {
	e, ok := v.entries[gvk]
	if !ok {
		return nil, &UnknownKindError{gvk}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	te, _ := typedSchemas.LoadOrStore(typedKey{gvk, t}, &typedEntry{})
	entry := te.(*typedEntry)
	entry.once.Do(func() { entry.sch = compileTyped(e.file, t) })
	if entry.sch == nil {
		return v.Validate(gvk, doc)
	}
	return validateWith(entry.sch, doc)
}

// compileTyped compiles the schema in file without the parts t
// guarantees; nil when it cannot tell.
func compileTyped(file string, t reflect.Type) *jsonschema.Schema {
	b, err := files.ReadFile(file)
	if err != nil {
		return nil
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	root, ok := raw.(map[string]any)
	if !ok {
		return nil
	}
	defs, _ := root["$defs"].(map[string]any)
	r := &reducer{defs: defs, out: map[string]any{}, names: map[defKey]string{}, trivial: map[defKey]bool{}, busy: map[defKey]bool{}}
	for k, d := range defs {
		r.out[k] = d
	}
	body := map[string]any{}
	for k, x := range root {
		switch k {
		case "$defs", "$id", "$schema":
		default:
			body[k] = x
		}
	}
	reduced, _ := r.node(body, t, false)
	if r.failed {
		return nil
	}
	doc, ok := reduced.(map[string]any)
	if !ok {
		doc = map[string]any{}
	}
	doc["$defs"] = r.out
	for _, k := range []string{"$id", "$schema"} {
		if x, ok := root[k]; ok {
			doc[k] = x
		}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	url := "embed:///converted/" + file
	if err := c.AddResource(url, doc); err != nil {
		return nil
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil
	}
	return sch
}

type reducer struct {
	defs    map[string]any // the schema's own
	out     map[string]any // its own and the reduced ones ("name.convertedN")
	names   map[defKey]string
	trivial map[defKey]bool // reduced to nothing
	busy    map[defKey]bool
	failed  bool
}

type defKey struct {
	name     string
	t        reflect.Type
	nullable bool
}

const defPrefix = "#/$defs/"

// keywords that check one value without reference to others: kept as
// they are.
var leafKeywords = map[string]bool{
	"required": true, "enum": true, "const": true, "pattern": true, "format": true,
	"minLength": true, "maxLength": true, "minItems": true, "maxItems": true,
	"minProperties": true, "maxProperties": true, "multipleOf": true, "uniqueItems": true,
	"exclusiveMinimum": true, "exclusiveMaximum": true, "minimum": true, "maximum": true,
}

// annotations never fail.
func annotation(k string) bool {
	switch k {
	case "description", "title", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment":
		return true
	}
	return strings.HasPrefix(k, "x-")
}

// node reduces schema s for values of Go type t; nullable says the value
// may be null where it stands (an array item of a pointer type). It
// returns the reduced schema and whether nothing is left to check.
func (r *reducer) node(s any, t reflect.Type, nullable bool) (any, bool) {
	if b, ok := s.(bool); ok {
		return s, b
	}
	m, ok := s.(map[string]any)
	if !ok {
		return s, false
	}
	for t.Kind() == reflect.Pointer {
		if custom(t) {
			return s, false
		}
		t = t.Elem()
	}
	if custom(t) {
		return s, false
	}
	for k := range m {
		if !leafKeywords[k] && !annotation(k) {
			switch k {
			case "type", "properties", "additionalProperties", "items", "$ref":
			default:
				return s, false // a keyword whose meaning depends on others
			}
		}
	}
	out := map[string]any{}
	for k, x := range m {
		if leafKeywords[k] {
			if (k == "minimum" || k == "maximum") && intBound(t, k, x) {
				continue
			}
			out[k] = x
		}
	}
	if x, ok := m["type"]; ok && !(jsonTypeIn(t, x) && !nullable) {
		out["type"] = x
	}
	if x, ok := m["$ref"]; ok {
		ref, _ := x.(string)
		name, isDef := strings.CutPrefix(ref, defPrefix)
		if !isDef {
			return s, false
		}
		if rn, trivial := r.def(name, t, nullable); !trivial {
			out["$ref"] = defPrefix + rn
		}
	}
	_, hasProps := m["properties"]
	ap, hasAP := m["additionalProperties"]
	switch t.Kind() {
	case reflect.Struct:
		fields, always, ok := jsonFields(t)
		if !ok {
			r.failed = true
			return s, false
		}
		if req, ok := out["required"].([]any); ok {
			// Members every value of the type has are there.
			var keep []any
			for _, n := range req {
				if name, ok := n.(string); !ok || !always[name] {
					keep = append(keep, n)
				}
			}
			if len(keep) == 0 {
				delete(out, "required")
			} else {
				out["required"] = keep
			}
		}
		props, _ := m["properties"].(map[string]any)
		if hasProps && props == nil {
			return s, false
		}
		keepAP := false
		if hasAP {
			b, ok := ap.(bool)
			if !ok {
				return s, false
			}
			// true never fails; false is droppable when every field
			// the type can emit is a property.
			for name := range fields {
				if _, ok := props[name]; !ok && !b {
					keepAP = true
				}
			}
		}
		if keepAP {
			out["additionalProperties"] = false
		}
		newProps := map[string]any{}
		for name, ps := range props {
			ft, ok := fields[name]
			if !ok {
				// No field of the type has this name: it never occurs.
				if keepAP {
					newProps[name] = ps
				}
				continue
			}
			rs, trivial := r.node(ps, ft, false)
			switch {
			case !trivial:
				newProps[name] = rs
			case keepAP:
				newProps[name] = true
			}
		}
		if len(newProps) > 0 {
			out["properties"] = newProps
		}
	case reflect.Map:
		if hasProps {
			return s, false
		}
		if hasAP {
			if t.Key().Kind() != reflect.String {
				return s, false
			}
			if rs, trivial := r.node(ap, t.Elem(), false); !trivial {
				out["additionalProperties"] = rs
			}
		}
	default:
		if hasProps || hasAP {
			return s, false
		}
	}
	if items, ok := m["items"]; ok {
		if t.Kind() != reflect.Slice || t.Elem().Kind() == reflect.Uint8 {
			return s, false
		}
		if rs, trivial := r.node(items, t.Elem(), nilable(t.Elem())); !trivial {
			out["items"] = rs
		}
	}
	return out, len(out) == 0
}

// def reduces the named definition for t (and nullable), once per
// combination; each gets its own name.
func (r *reducer) def(name string, t reflect.Type, nullable bool) (string, bool) {
	key := defKey{name, t, nullable}
	if rn, ok := r.names[key]; ok {
		if r.busy[key] {
			return rn, false
		}
		return rn, r.trivial[key]
	}
	d, ok := r.defs[name]
	if !ok {
		r.failed = true
		return name, false
	}
	rn := fmt.Sprintf("%s.converted%d", name, len(r.names))
	r.names[key] = rn
	r.busy[key] = true
	rd, trivial := r.node(d, t, nullable)
	r.busy[key] = false
	r.trivial[key] = trivial
	r.out[rn] = rd
	return rn, trivial
}

func custom(t reflect.Type) bool {
	return value.TypeReflectEntryOf(t).CanConvertToUnstructured()
}

func nilable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Map, reflect.Slice, reflect.Interface:
		return true
	}
	return false
}

// jsonTypeIn reports whether every value of t converts to one of the
// JSON types x names.
func jsonTypeIn(t reflect.Type, x any) bool {
	var want []string
	switch t.Kind() {
	case reflect.String:
		want = []string{"string"}
	case reflect.Bool:
		want = []string{"boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		want = []string{"integer", "number"}
	case reflect.Float32, reflect.Float64:
		want = []string{"number"}
	case reflect.Struct, reflect.Map:
		want = []string{"object"}
	case reflect.Slice:
		want = []string{"array"}
		if t.Elem().Kind() == reflect.Uint8 {
			want = []string{"string"}
		}
	default:
		return false
	}
	var types []string
	switch v := x.(type) {
	case string:
		types = []string{v}
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return false
			}
			types = append(types, s)
		}
	default:
		return false
	}
	for _, ty := range types {
		for _, w := range want {
			if ty == w {
				return true
			}
		}
	}
	return false
}

// intBound reports whether a minimum or maximum is the whole range of t.
func intBound(t reflect.Type, k string, x any) bool {
	var s string
	switch v := x.(type) {
	case json.Number:
		s = string(v)
	case fmt.Stringer:
		s = v.String()
	default:
		return false
	}
	var lo, hi string
	switch t.Kind() {
	case reflect.Int32:
		lo, hi = "-2147483648", "2147483647"
	case reflect.Int64, reflect.Int:
		lo, hi = "-9223372036854775808", "9223372036854775807"
	default:
		return false
	}
	if k == "minimum" {
		return s == lo
	}
	return s == hi
}

// jsonFields are the members apimachinery's ToUnstructured can give a
// struct: JSON name → Go type, embedded structs merged in.
// always holds the members every value has: fields of a basic kind or a
// plain struct, without omitempty or omitzero, outside embedded pointers.
func jsonFields(t reflect.Type) (map[string]reflect.Type, map[string]bool, bool) {
	out := map[string]reflect.Type{}
	always := map[string]bool{}
	var walk func(t reflect.Type, present bool) bool
	walk = func(t reflect.Type, present bool) bool {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := ""
			omit := false
			tag, has := f.Tag.Lookup("json")
			if !has || tag == "" {
				if !f.Anonymous {
					name = f.Name
				}
			} else {
				items := strings.Split(tag, ",")
				name = items[0]
				for _, it := range items[1:] {
					switch it {
					case "embed":
						return false
					case "omitempty", "omitzero":
						omit = true
					}
				}
				if name == "" && !f.Anonymous {
					name = f.Name
				}
			}
			switch name {
			case "-":
				continue
			case "":
				st, p := f.Type, present && !omit
				if st.Kind() == reflect.Pointer {
					if custom(st) {
						return false
					}
					st, p = st.Elem(), false
				}
				if st.Kind() != reflect.Struct || custom(st) || !walk(st, p) {
					return false
				}
				continue
			}
			if _, dup := out[name]; dup {
				return false
			}
			out[name] = f.Type
			if present && !omit && !custom(f.Type) {
				switch f.Type.Kind() {
				case reflect.String, reflect.Bool, reflect.Struct, reflect.Float32, reflect.Float64,
					reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
					reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
					always[name] = true
				}
			}
		}
		return true
	}
	ok := walk(t, true)
	return out, always, ok
}
