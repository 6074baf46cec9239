package main

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// RootTypes maps each kind's root definition to the Go type the API server
// decodes it into (client-go's scheme, the k8s.io/api version cairn is
// built with).
func RootTypes(kinds []Kind) map[string]reflect.Type {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	out := map[string]reflect.Type{}
	for _, k := range kinds {
		obj, err := s.New(k8sschema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind})
		if err != nil {
			continue // not a k8s.io/api kind
		}
		out[k.Def] = reflect.TypeOf(obj).Elem()
	}
	return out
}

// specialTypes have a custom JSON form and a definition in special.
var specialTypes = map[reflect.Type]string{
	reflect.TypeOf(resource.Quantity{}):    "io.k8s.apimachinery.pkg.api.resource.Quantity",
	reflect.TypeOf(intstr.IntOrString{}):   "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
	reflect.TypeOf(metav1.Time{}):          "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
	reflect.TypeOf(metav1.MicroTime{}):     "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
	reflect.TypeOf(metav1.FieldsV1{}):      "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
	reflect.TypeOf(runtime.RawExtension{}): "io.k8s.apimachinery.pkg.runtime.RawExtension",
}

// addGoFields adds to the pool's definitions the fields the Go types have
// and the OpenAPI documents lack. The documents cairn carries are older
// than the k8s.io/api it is built with, and a strict schema would refuse
// what current clients send (a kubelet's status.hostIPs). Added fields are
// optional and typed from Go; types no document defines get a definition
// built the same way. It returns the added definition.field names.
func addGoFields(pool map[string]any, roots map[string]reflect.Type) []string {
	g := &goFields{pool: pool, seen: map[reflect.Type]bool{}}
	defs := make([]string, 0, len(roots))
	for d := range roots {
		defs = append(defs, d)
	}
	sort.Strings(defs)
	for _, d := range defs {
		g.visit(roots[d])
	}
	sort.Strings(g.added)
	return g.added
}

type goFields struct {
	pool  map[string]any
	seen  map[reflect.Type]bool
	added []string
}

// defName is the OpenAPI definition name of a Go type:
// k8s.io/api/core/v1.PodStatus → io.k8s.api.core.v1.PodStatus.
func defName(t reflect.Type) string {
	host, rest, _ := strings.Cut(t.PkgPath(), "/")
	parts := strings.Split(host, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".") + "." + strings.ReplaceAll(rest, "/", ".") + "." + t.Name()
}

func (g *goFields) visit(t reflect.Type) {
	if g.seen[t] {
		return
	}
	g.seen[t] = true
	name := defName(t)
	def, ok := g.pool[name].(map[string]any)
	if !ok {
		def = map[string]any{"type": "object", "properties": map[string]any{}, "additionalProperties": false}
		g.pool[name] = def
		g.added = append(g.added, name)
	}
	props, ok := def["properties"].(map[string]any)
	if !ok {
		return // a definition of another shape: leave it
	}
	for _, f := range jsonFields(t) {
		s := g.schemaFor(f.Type)
		if _, ok := props[f.Name]; !ok && s != nil {
			props[f.Name] = s
			g.added = append(g.added, name+"."+f.Name)
		}
	}
}

// schemaFor is the schema of a field of Go type t, visiting the structs
// it reaches; nil for types it cannot express.
func (g *goFields) schemaFor(t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if def, ok := specialTypes[t]; ok {
		return map[string]any{"$ref": "#/$defs/" + def}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int32:
		return map[string]any{"type": "integer", "minimum": json.Number("-2147483648"), "maximum": json.Number("2147483647")}
	case reflect.Int, reflect.Int64, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "pattern": Base64Pattern}
		}
		if it := g.schemaFor(t.Elem()); it != nil {
			return map[string]any{"type": "array", "items": it}
		}
	case reflect.Map:
		if vt := g.schemaFor(t.Elem()); vt != nil {
			return map[string]any{"type": "object", "additionalProperties": vt}
		}
	case reflect.Struct:
		if t.PkgPath() == "" || t.Name() == "" {
			return nil
		}
		g.visit(t)
		return map[string]any{"$ref": "#/$defs/" + defName(t)}
	}
	return nil
}

// jsonFields lists a struct's fields by JSON name, inlined ones flattened.
func jsonFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft == reflect.TypeOf(metav1.TypeMeta{}) {
				continue // apiVersion and kind are set per kind
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		f.Name = name
		out = append(out, f)
	}
	return out
}
