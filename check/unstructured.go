package check

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

func nameOf(o runtime.Object) string {
	m, err := meta.Accessor(o)
	if err != nil {
		return ""
	}
	return m.GetNamespace() + "/" + m.GetName()
}

// toUnstructured gives what runtime.DefaultUnstructuredConverter's
// ToUnstructured gives for obj, from a conversion plan made once per Go
// type instead of looking every field's JSON name and converter up again
// for every value. Types the plan does not cover take the converter's own
// path.
func toUnstructured(obj runtime.Object) (map[string]any, error) {
	rv := reflect.ValueOf(obj)
	if _, ok := obj.(runtime.Unstructured); ok || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	}
	p := planOf(rv.Type().Elem())
	if p == nil || p.kind != reflect.Struct || p.custom != nil {
		return runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	}
	m := make(map[string]any, p.size(rv.Elem()))
	if err := p.fill(rv.Elem(), m); err != nil {
		return nil, err
	}
	return m, nil
}

// plan converts values of one Go type as the converter does.
type plan struct {
	kind   reflect.Kind
	custom *value.TypeReflectCacheEntry // a JSON marshaler or unstructured converter
	intstr bool                         // custom is IntOrString's (or its pointer's)
	elem   *plan                        // of a map's values, a slice's items, a pointer's target
	bytes  bool                         // a byte slice: base64, as encoding/json
	fields []fieldPlan
	n      int // a struct's field count, the size its map starts with
}

type fieldPlan struct {
	index     int
	name      string
	omitempty bool
	omitzero  func(reflect.Value) bool
	inline    bool
	kind      reflect.Kind // of the field's type
	p         *plan
}

var plans struct {
	sync.Mutex
	m sync.Map // reflect.Type → *plan; a nil *plan: not covered
}

func planOf(t reflect.Type) *plan {
	if p, ok := plans.m.Load(t); ok {
		return p.(*plan)
	}
	plans.Lock()
	defer plans.Unlock()
	building := map[reflect.Type]*plan{}
	p, ok := makePlan(t, building)
	if !ok {
		// Types seen while building are cached only when the whole
		// type is covered: a failure deep down makes every type on the
		// way to it fall back.
		plans.m.Store(t, (*plan)(nil))
		return nil
	}
	for bt, bp := range building {
		plans.m.LoadOrStore(bt, bp)
	}
	return p
}

func makePlan(t reflect.Type, building map[reflect.Type]*plan) (*plan, bool) {
	if p, ok := plans.m.Load(t); ok {
		p := p.(*plan)
		return p, p != nil
	}
	if p, ok := building[t]; ok {
		return p, true
	}
	p := &plan{kind: t.Kind()}
	building[t] = p
	if e := value.TypeReflectEntryOf(t); e.CanConvertToUnstructured() {
		p.custom = e
		p.intstr = t == intOrStringType || t == reflect.PointerTo(intOrStringType)
		return p, true
	}
	var ok bool
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return p, true
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, false
		}
		p.elem, ok = makePlan(t.Elem(), building)
		return p, ok
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			p.bytes = true
			return p, true
		}
		p.elem, ok = makePlan(t.Elem(), building)
		return p, ok
	case reflect.Pointer:
		p.elem, ok = makePlan(t.Elem(), building)
		return p, ok
	case reflect.Struct:
		p.n = t.NumField()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			fp := fieldPlan{index: i, kind: f.Type.Kind()}
			tag, has := f.Tag.Lookup("json")
			if !has || tag == "" {
				if !f.Anonymous {
					fp.name = f.Name
				}
			} else {
				items := strings.Split(tag, ",")
				fp.name = items[0]
				for j, it := range items {
					switch {
					case j == 0:
					case it == "omitempty":
						fp.omitempty = true
					case it == "omitzero":
						fp.omitzero = value.OmitZeroFunc(f.Type)
					case it == "embed":
						// Newer Go versions inline these; leave them to
						// the converter.
						return nil, false
					}
				}
				if fp.name == "" && !f.Anonymous {
					fp.name = f.Name
				}
			}
			if fp.name == "-" {
				continue
			}
			if fp.name == "" {
				// Inlined: only a struct, or a pointer to one, without a
				// converter of its own merges into the same map.
				fp.inline = true
				st := f.Type
				if st.Kind() == reflect.Pointer {
					if value.TypeReflectEntryOf(st).CanConvertToUnstructured() {
						return nil, false
					}
					st = st.Elem()
				}
				if st.Kind() != reflect.Struct || value.TypeReflectEntryOf(st).CanConvertToUnstructured() {
					return nil, false
				}
			}
			fp.p, ok = makePlan(f.Type, building)
			if !ok {
				return nil, false
			}
			p.fields = append(p.fields, fp)
		}
		return p, true
	}
	return nil, false
}

// convert is the converter's toUnstructured into a fresh interface value.
func (p *plan) convert(v reflect.Value) (any, error) {
	if p.intstr {
		if u, ok := intOrString(v); ok {
			return u, nil
		}
	}
	if p.custom != nil {
		return p.custom.ToUnstructured(v)
	}
	switch p.kind {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return uintValue(v.Uint())
	case reflect.Float32, reflect.Float64:
		return v.Float(), nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		m := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			x, err := p.elem.convert(it.Value())
			if err != nil {
				return nil, err
			}
			m[it.Key().String()] = x
		}
		return m, nil
	case reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		if p.bytes {
			data, err := json.Marshal(v.Bytes())
			if err != nil {
				return nil, err
			}
			var s string
			if err := json.Unmarshal(data, &s); err != nil {
				return nil, err
			}
			return s, nil
		}
		out := make([]any, v.Len())
		for i := range out {
			x, err := p.elem.convert(v.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case reflect.Pointer:
		if v.IsNil() {
			return nil, nil
		}
		return p.elem.convert(v.Elem())
	case reflect.Struct:
		m := make(map[string]any, p.size(v))
		if err := p.fill(v, m); err != nil {
			return nil, err
		}
		return m, nil
	}
	return nil, fmt.Errorf("unrecognized type: %v", p.kind)
}

// size is how many members fill gives v, at most: a map made that size
// grows no more and allocates no room it does not use.
func (p *plan) size(v reflect.Value) int {
	n := 0
	for i := range p.fields {
		f := &p.fields[i]
		fv := v.Field(f.index)
		if f.omitempty && isEmpty(fv) {
			continue
		}
		if f.inline {
			sp := f.p
			if sp.kind == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv, sp = fv.Elem(), sp.elem
			}
			n += sp.size(fv)
			continue
		}
		n++
	}
	return n
}

// fill is the converter's structToUnstructured into m.
func (p *plan) fill(v reflect.Value, m map[string]any) error {
	for i := range p.fields {
		f := &p.fields[i]
		fv := v.Field(f.index)
		if f.omitempty && isEmpty(fv) {
			continue
		}
		if f.omitzero != nil && f.omitzero(fv) {
			continue
		}
		if f.inline {
			sv, sp := fv, f.p
			if sp.kind == reflect.Pointer {
				if sv.IsNil() {
					continue
				}
				sv, sp = sv.Elem(), sp.elem
			}
			if err := sp.fill(sv, m); err != nil {
				return err
			}
			continue
		}
		// Fields of a basic kind are stored as such, whatever converter
		// their type has.
		switch f.kind {
		case reflect.String:
			m[f.name] = fv.String()
		case reflect.Bool:
			m[f.name] = fv.Bool()
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			m[f.name] = fv.Int()
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			x, err := uintValue(fv.Uint())
			if err != nil {
				return err
			}
			m[f.name] = x
		case reflect.Float32, reflect.Float64:
			m[f.name] = fv.Float()
		default:
			x, err := f.p.convert(fv)
			if err != nil {
				return err
			}
			m[f.name] = x
		}
	}
	return nil
}

func uintValue(u uint64) (int64, error) {
	if u > math.MaxInt64 {
		return 0, fmt.Errorf("unsigned value %d does not fit into int64 (overflow)", u)
	}
	return int64(u), nil
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Map, reflect.Slice:
		return v.IsNil() || v.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}

var intOrStringType = reflect.TypeFor[intstr.IntOrString]()

// intOrString is what the converter makes of an IntOrString (or a pointer
// to one) through its MarshalJSON and a JSON decoder, without them: an
// int64 or the string. ok is false where the round trip could differ (a
// string that is not valid UTF-8, an unknown Type), left to the converter.
func intOrString(v reflect.Value) (any, bool) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, true
		}
		v = v.Elem()
	}
	var x *intstr.IntOrString
	if v.CanAddr() {
		x = v.Addr().Interface().(*intstr.IntOrString)
	} else {
		c := v.Interface().(intstr.IntOrString)
		x = &c
	}
	switch x.Type {
	case intstr.Int:
		return int64(x.IntVal), true
	case intstr.String:
		if utf8.ValidString(x.StrVal) {
			return x.StrVal, true
		}
	}
	return nil, false
}
