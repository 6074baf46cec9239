package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// GoSource is a k8s.io/api types.go file whose kinds no OpenAPI document
// carries. Its structs are converted the way openapi-gen does: a field is
// required when it is marked +required, or has neither omitempty nor
// +optional; string types marked +enum get their constants as enum.
type GoSource struct {
	Name   string
	Path   string
	Prefix string   // definition name prefix, e.g. io.k8s.api.admissionregistration.v1.
	Roots  []string // type names to convert (with everything they reach)
}

type goPkg struct {
	src     GoSource
	types   map[string]*ast.TypeSpec
	docs    map[string]string // type name -> doc comment (markers)
	consts  map[string][]string
	pool    map[string]any
	defs    map[string]any
	pending map[string]bool
}

// metaRefs maps k8s.io/apimachinery selector types to definitions.
var metaRefs = map[string]string{
	"metav1.ObjectMeta":    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
	"metav1.ListMeta":      "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
	"metav1.LabelSelector": "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
	"metav1.Condition":     "io.k8s.apimachinery.pkg.apis.meta.v1.Condition",
	"metav1.Time":          "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
	"runtime.RawExtension": "io.k8s.apimachinery.pkg.runtime.RawExtension",
}

func goDefinitions(src GoSource, text []byte, pool map[string]any) (map[string]any, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, src.Path, text, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	p := &goPkg{src: src, types: map[string]*ast.TypeSpec{}, docs: map[string]string{},
		consts: map[string][]string{}, pool: pool, defs: map[string]any{}, pending: map[string]bool{}}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range gd.Specs {
			switch s := spec.(type) {
			case *ast.TypeSpec:
				p.types[s.Name.Name] = s
				doc := gd.Doc.Text()
				if s.Doc != nil {
					doc += s.Doc.Text()
				}
				p.docs[s.Name.Name] = doc
			case *ast.ValueSpec:
				if gd.Tok != token.CONST {
					continue
				}
				id, ok := s.Type.(*ast.Ident)
				if !ok {
					continue
				}
				for _, v := range s.Values {
					if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if str, err := strconv.Unquote(lit.Value); err == nil {
							p.consts[id.Name] = append(p.consts[id.Name], str)
						}
					}
				}
			}
		}
	}
	for _, r := range src.Roots {
		if _, err := p.ref(r); err != nil {
			return nil, err
		}
	}
	return p.defs, nil
}

func hasMarker(doc, marker string) bool {
	for _, l := range strings.Split(doc, "\n") {
		l = strings.TrimSpace(l)
		if l == marker || strings.HasPrefix(l, marker+"=") {
			return true
		}
	}
	return false
}

// ref returns a $ref to the definition of local struct type name, converting
// it on first use.
func (p *goPkg) ref(name string) (any, error) {
	def := p.src.Prefix + name
	if _, ok := p.defs[def]; !ok && !p.pending[def] {
		p.pending[def] = true
		ts := p.types[name]
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return nil, fmt.Errorf("%s is not a struct", name)
		}
		props := map[string]any{}
		var req []string
		if err := p.fields(st, props, &req); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(req) > 0 {
			sort.Strings(req)
			r := make([]any, len(req))
			for i, x := range req {
				r[i] = x
			}
			s["required"] = r
		}
		p.defs[def] = s
		delete(p.pending, def)
	}
	return map[string]any{"$ref": "#/$defs/" + def}, nil
}

func (p *goPkg) fields(st *ast.StructType, props map[string]any, req *[]string) error {
	for _, f := range st.Fields.List {
		tag := ""
		if f.Tag != nil {
			t, _ := strconv.Unquote(f.Tag.Value)
			tag = reflect.StructTag(t).Get("json")
		}
		parts := strings.Split(tag, ",")
		name := parts[0]
		if name == "-" {
			continue
		}
		omitempty := false
		for _, o := range parts[1:] {
			omitempty = omitempty || o == "omitempty"
		}
		if len(f.Names) == 0 && name == "" { // embedded and inlined
			switch t := f.Type.(type) {
			case *ast.SelectorExpr:
				if selName(t) == "metav1.TypeMeta" {
					props["apiVersion"] = map[string]any{"type": "string"}
					props["kind"] = map[string]any{"type": "string"}
					continue
				}
				return fmt.Errorf("cannot inline %s", selName(t))
			case *ast.Ident:
				its, ok := p.types[t.Name].Type.(*ast.StructType)
				if !ok {
					return fmt.Errorf("cannot inline %s", t.Name)
				}
				if err := p.fields(its, props, req); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("cannot inline field of type %T", f.Type)
		}
		if name == "" {
			if len(f.Names) == 0 {
				return fmt.Errorf("embedded field without json name")
			}
			name = f.Names[0].Name
		}
		if len(f.Names) > 0 && !f.Names[0].IsExported() {
			continue
		}
		s, err := p.typ(f.Type)
		if err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
		props[name] = s
		doc := f.Doc.Text()
		if hasMarker(doc, "+required") || (!omitempty && !hasMarker(doc, "+optional")) {
			*req = append(*req, name)
		}
	}
	return nil
}

func selName(s *ast.SelectorExpr) string {
	if x, ok := s.X.(*ast.Ident); ok {
		return x.Name + "." + s.Sel.Name
	}
	return s.Sel.Name
}

func (p *goPkg) typ(e ast.Expr) (any, error) {
	switch t := e.(type) {
	case *ast.StarExpr:
		return p.typ(t.X)
	case *ast.ArrayType:
		if id, ok := t.Elt.(*ast.Ident); ok && id.Name == "byte" {
			return map[string]any{"type": "string", "pattern": Base64Pattern}, nil
		}
		it, err := p.typ(t.Elt)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": it}, nil
	case *ast.MapType:
		vt, err := p.typ(t.Value)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "object", "additionalProperties": vt}, nil
	case *ast.SelectorExpr:
		n := selName(t)
		switch n {
		case "metav1.StatusReason", "metav1.Duration", "types.UID":
			return map[string]any{"type": "string"}, nil
		}
		if def, ok := metaRefs[n]; ok {
			if _, ok := p.pool[def]; !ok {
				if _, ok := special[def]; !ok {
					return nil, fmt.Errorf("%s: definition %s not in any OpenAPI source", n, def)
				}
			}
			return map[string]any{"$ref": "#/$defs/" + def}, nil
		}
		return nil, fmt.Errorf("unsupported type %s", n)
	case *ast.Ident:
		switch t.Name {
		case "string":
			return map[string]any{"type": "string"}, nil
		case "bool":
			return map[string]any{"type": "boolean"}, nil
		case "int32":
			return map[string]any{"type": "integer", "minimum": json.Number("-2147483648"), "maximum": json.Number("2147483647")}, nil
		case "int", "int64":
			return map[string]any{"type": "integer"}, nil
		case "float32", "float64":
			return map[string]any{"type": "number"}, nil
		}
		ts, ok := p.types[t.Name]
		if !ok {
			return nil, fmt.Errorf("unknown type %s", t.Name)
		}
		switch u := ts.Type.(type) {
		case *ast.StructType:
			return p.ref(t.Name)
		case *ast.Ident, *ast.SelectorExpr, *ast.ArrayType, *ast.MapType, *ast.StarExpr:
			s, err := p.typ(u)
			if err != nil {
				return nil, err
			}
			if hasMarker(p.docs[t.Name], "+enum") && len(p.consts[t.Name]) > 0 {
				vals := append([]string(nil), p.consts[t.Name]...)
				sort.Strings(vals)
				enum := make([]any, 0, len(vals))
				for i, v := range vals {
					if i > 0 && vals[i-1] == v {
						continue
					}
					enum = append(enum, v)
				}
				m := deepCopy(s).(map[string]any)
				m["enum"] = enum
				return m, nil
			}
			return s, nil
		}
		return nil, fmt.Errorf("unsupported type %s", t.Name)
	}
	return nil, fmt.Errorf("unsupported type expression %T", e)
}
