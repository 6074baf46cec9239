// Command gen converts the Kubernetes OpenAPI documents carried by the
// dependency modules into one strict, self-contained JSON Schema (draft
// 2020-12) per kind cairn serves, written to schema/generated.
//
// Sources, in order of preference for every definition:
//
//  1. OpenAPI v3 documents: k8s.io/kubectl testdata/openapi/v3 (core/v1 carries
//     enums there) and k8s.io/client-go openapi/openapitest/testdata.
//  2. OpenAPI v2: k8s.io/kubectl testdata/openapi/swagger.json (all groups).
//  3. Go source of k8s.io/api for kinds neither document has
//     (admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy[Binding]).
//
// Usage: go run ./schema/gen [-out dir]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
)

// Kind is one kind to generate.
type Kind struct {
	Group, Version, Kind string
	Def                  string // OpenAPI definition name
}

// File is the output file name: <group>_<version>_<kind>.json, core for "".
func (k Kind) File() string {
	g := k.Group
	if g == "" {
		g = "core"
	}
	return g + "_" + k.Version + "_" + k.Kind + ".json"
}

// APIVersion is group/version, or version for the core group.
func (k Kind) APIVersion() string {
	if k.Group == "" {
		return k.Version
	}
	return k.Group + "/" + k.Version
}

// Kinds is every Kubernetes kind cairn serves.
var Kinds = func() []Kind {
	var ks []Kind
	add := func(group, version, pkg string, kinds ...string) {
		for _, k := range kinds {
			ks = append(ks, Kind{group, version, k, "io.k8s.api." + pkg + "." + version + "." + k})
		}
	}
	add("", "v1", "core", "Namespace", "Pod", "Node", "Service", "Endpoints", "ConfigMap", "Secret",
		"Event", "LimitRange", "PersistentVolumeClaim", "PersistentVolume", "ServiceAccount",
		"ReplicationController", "ComponentStatus")
	add("apps", "v1", "apps", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ControllerRevision")
	add("coordination.k8s.io", "v1", "coordination", "Lease")
	add("storage.k8s.io", "v1", "storage", "StorageClass")
	add("rbac.authorization.k8s.io", "v1", "rbac", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
	add("admissionregistration.k8s.io", "v1", "admissionregistration",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
	return ks
}()

// Source is one document contributing definitions.
type Source struct {
	Name string // stable, version-qualified name recorded in the output
	Path string // file on disk
}

func main() {
	out := flag.String("out", "", "output directory (default: schema/generated or ./generated)")
	flag.Parse()
	if *out == "" {
		switch {
		case exists("schema/doc.go"):
			*out = "schema/generated"
		case exists("doc.go") && exists("gen"):
			*out = "generated"
		default:
			fatal(fmt.Errorf("cannot find the schema package; pass -out"))
		}
	}
	srcs, goSrc, err := FindSources()
	if err != nil {
		fatal(err)
	}
	files, origin, err := Generate(srcs, goSrc, Kinds)
	if err != nil {
		fatal(err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(*out, "*.json"))
	for _, f := range old {
		if _, ok := files[filepath.Base(f)]; !ok {
			_ = os.Remove(f)
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(*out, n), files[n], 0o644); err != nil {
			fatal(err)
		}
		fmt.Printf("%-70s %8d bytes  from %s\n", n, len(files[n]), origin[n])
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}

// FindSources locates the OpenAPI documents and the k8s.io/api source
// directory for admissionregistration/v1. k8s.io/kubectl is not a dependency
// of cairn; it is fetched into the module cache with `go mod download`.
func FindSources() (srcs []Source, goSrc GoSource, err error) {
	clientGo, cgVer, err := modDir("list", "k8s.io/client-go")
	if err != nil {
		return nil, goSrc, err
	}
	api, apiVer, err := modDir("list", "k8s.io/api")
	if err != nil {
		return nil, goSrc, err
	}
	kubectl, kVer, err := modDir("download", "k8s.io/kubectl@"+cgVer)
	if err != nil {
		return nil, goSrc, err
	}
	add := func(mod, ver, dir, rel string) {
		srcs = append(srcs, Source{Name: mod + "@" + ver + "/" + rel, Path: filepath.Join(dir, filepath.FromSlash(rel))})
	}
	add("k8s.io/kubectl", kVer, kubectl, "testdata/openapi/v3/api/v1.json")
	add("k8s.io/client-go", cgVer, clientGo, "openapi/openapitest/testdata/api__v1_openapi.json")
	add("k8s.io/client-go", cgVer, clientGo, "openapi/openapitest/testdata/apis__apps__v1_openapi.json")
	add("k8s.io/kubectl", kVer, kubectl, "testdata/openapi/v3/apis/apps/v1.json")
	add("k8s.io/client-go", cgVer, clientGo, "openapi/openapitest/testdata/apis__batch__v1_openapi.json")
	add("k8s.io/client-go", cgVer, clientGo, "openapi/openapitest/testdata/apis__discovery.k8s.io__v1_openapi.json")
	add("k8s.io/kubectl", kVer, kubectl, "testdata/openapi/swagger.json")
	goSrc = GoSource{
		Name:   "k8s.io/api@" + apiVer + "/admissionregistration/v1/types.go",
		Path:   filepath.Join(api, "admissionregistration", "v1", "types.go"),
		Prefix: "io.k8s.api.admissionregistration.v1.",
		Roots:  []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"},
	}
	return srcs, goSrc, nil
}

func modDir(mode, mod string) (dir, version string, err error) {
	var cmd *exec.Cmd
	if mode == "list" {
		cmd = exec.Command("go", "list", "-m", "-json", mod)
	} else {
		cmd = exec.Command("go", "mod", "download", "-json", mod)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go %s %s: %v: %s", mode, mod, err, stderr.String())
	}
	var m struct{ Dir, Version, Error string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", "", fmt.Errorf("go %s %s: %v", mode, mod, err)
	}
	if m.Dir == "" {
		return "", "", fmt.Errorf("go %s %s: no directory (%s)", mode, mod, m.Error)
	}
	return m.Dir, m.Version, nil
}

// Generate converts the sources into one schema file per kind. It returns the
// file contents by name and, by name, the source the kind's root came from.
func Generate(srcs []Source, goSrc GoSource, kinds []Kind) (map[string][]byte, map[string]string, error) {
	docs := make([][]byte, len(srcs))
	for i, s := range srcs {
		b, err := os.ReadFile(s.Path)
		if err != nil {
			return nil, nil, err
		}
		docs[i] = b
	}
	var goText []byte
	if goSrc.Path != "" {
		b, err := os.ReadFile(goSrc.Path)
		if err != nil {
			return nil, nil, err
		}
		goText = b
	}
	return Convert(srcs, docs, goSrc, goText, kinds, RootTypes(kinds))
}

// Convert is Generate over in-memory documents; it is a pure function of its
// inputs so that its output is deterministic.
//
// goTypes, when given, maps kinds' root definitions to their Go types: the
// fields those have and the documents lack are added (see addGoFields).
func Convert(srcs []Source, docs [][]byte, goSrc GoSource, goText []byte, kinds []Kind, goTypes map[string]reflect.Type) (map[string][]byte, map[string]string, error) {
	pool := map[string]any{}       // definition name -> normalized schema
	poolSrc := map[string]string{} // definition name -> source name
	for i, s := range srcs {
		defs, err := definitions(docs[i])
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		for name, d := range defs {
			if _, ok := pool[name]; ok {
				continue
			}
			pool[name] = normalize(d)
			poolSrc[name] = s.Name
		}
	}
	if goText != nil {
		defs, err := goDefinitions(goSrc, goText, pool)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", goSrc.Name, err)
		}
		for name, d := range defs {
			pool[name] = d // Go source is the newest; it wins for what it defines
			poolSrc[name] = goSrc.Name
		}
	}
	for name, d := range special {
		pool[name] = d
	}
	if goTypes != nil {
		addGoFields(pool, goTypes)
	}

	files := map[string][]byte{}
	origin := map[string]string{}
	for _, k := range kinds {
		root, ok := pool[k.Def].(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("%s: definition %s not found in any source", k.File(), k.Def)
		}
		top := deepCopy(root).(map[string]any)
		props, _ := top["properties"].(map[string]any)
		if props == nil {
			return nil, nil, fmt.Errorf("%s: root has no properties", k.Def)
		}
		props["apiVersion"] = map[string]any{"type": "string", "const": k.APIVersion()}
		props["kind"] = map[string]any{"type": "string", "const": k.Kind}
		top["required"] = mergeRequired(top["required"], "apiVersion", "kind")
		top["type"] = "object"
		top["additionalProperties"] = false

		defs := map[string]any{}
		if err := closure(top, pool, defs); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", k.File(), err)
		}
		top["$schema"] = "https://json-schema.org/draft/2020-12/schema"
		top["$id"] = "https://schemas.cairn.dev/" + k.File()
		top["title"] = k.APIVersion() + " " + k.Kind
		top["x-kubernetes-group-version-kind"] = []any{map[string]any{"group": k.Group, "version": k.Version, "kind": k.Kind}}
		top["x-cairn-source"] = poolSrc[k.Def]
		if len(defs) > 0 {
			top["$defs"] = defs
		}
		b, err := marshal(top)
		if err != nil {
			return nil, nil, err
		}
		files[k.File()] = b
		origin[k.File()] = poolSrc[k.Def]
	}
	return files, origin, nil
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil { // maps marshal with sorted keys
		return nil, err
	}
	return buf.Bytes(), nil
}

// definitions returns the schema definitions of an OpenAPI v2 or v3 document.
func definitions(doc []byte) (map[string]any, error) {
	var d struct {
		Definitions map[string]any `json:"definitions"`
		Components  struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	if d.Components.Schemas != nil {
		return d.Components.Schemas, nil
	}
	if d.Definitions != nil {
		return d.Definitions, nil
	}
	return nil, fmt.Errorf("no definitions or components.schemas")
}

const (
	// QuantityPattern is the regular expression Kubernetes CRDs use for
	// resource.Quantity (controller-gen, apiextensions).
	QuantityPattern = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`
	// Base64Pattern matches standard, padded base64 (format: byte).
	Base64Pattern = `^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$`
)

// special replaces definitions whose OpenAPI form is not a usable schema.
var special = map[string]any{
	"io.k8s.apimachinery.pkg.util.intstr.IntOrString": map[string]any{"type": []any{"integer", "string"}},
	"io.k8s.apimachinery.pkg.api.resource.Quantity":   map[string]any{"type": []any{"string", "number"}, "pattern": QuantityPattern},
	"io.k8s.apimachinery.pkg.apis.meta.v1.Time":       map[string]any{"type": "string", "format": "date-time"},
	"io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime":  map[string]any{"type": "string", "format": "date-time"},
	"io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1":   map[string]any{"type": "object"},
	"io.k8s.apimachinery.pkg.runtime.RawExtension":    map[string]any{"type": "object"},
}

// kept lists the schema keywords carried over from OpenAPI; everything else
// (description, default, x-kubernetes-* list/patch annotations ...) is
// dropped.
var kept = map[string]bool{
	"type": true, "properties": true, "additionalProperties": true, "items": true,
	"required": true, "enum": true, "$ref": true, "allOf": true, "anyOf": true, "oneOf": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true,
	"minLength": true, "maxLength": true, "minItems": true, "maxItems": true, "pattern": true,
	"uniqueItems": true, "format": true, "not": true,
}

// normalize converts one OpenAPI schema into strict JSON Schema.
func normalize(v any) any {
	s, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, val := range s {
		if !kept[k] {
			continue
		}
		switch k {
		case "properties":
			ps := map[string]any{}
			for pn, pv := range val.(map[string]any) {
				ps[pn] = normalize(pv)
			}
			out[k] = ps
		case "items", "additionalProperties", "not":
			out[k] = normalize(val)
		case "allOf", "anyOf", "oneOf":
			var xs []any
			for _, x := range val.([]any) {
				xs = append(xs, normalize(x))
			}
			out[k] = xs
		case "$ref":
			r := val.(string)
			r = strings.TrimPrefix(r, "#/components/schemas/")
			r = strings.TrimPrefix(r, "#/definitions/")
			out[k] = "#/$defs/" + r
		default:
			out[k] = val
		}
	}
	// OpenAPI v3 wraps references that carry siblings in a one-element allOf.
	if all, ok := out["allOf"].([]any); ok && len(all) == 1 {
		if m, ok := all[0].(map[string]any); ok && len(m) == 1 && m["$ref"] != nil {
			delete(out, "allOf")
			out["$ref"] = m["$ref"]
		}
	}
	switch out["format"] {
	case "int32":
		out["minimum"] = json.Number("-2147483648")
		out["maximum"] = json.Number("2147483647")
		delete(out, "format")
	case "byte":
		out["pattern"] = Base64Pattern
		delete(out, "format")
	case "date-time":
	default:
		delete(out, "format") // int64, double, int-or-string ...: not assertions
	}
	if b, _ := s["x-kubernetes-int-or-string"].(bool); b {
		out["type"] = []any{"integer", "string"}
	}
	if b, _ := s["nullable"].(bool); b {
		if t, ok := out["type"].(string); ok {
			out["type"] = []any{t, "null"}
		}
	}
	preserve, _ := s["x-kubernetes-preserve-unknown-fields"].(bool)
	if _, hasProps := out["properties"]; hasProps && !preserve {
		if _, ok := out["additionalProperties"]; !ok {
			out["additionalProperties"] = false
		}
	}
	if out["type"] == nil {
		if out["properties"] != nil || out["additionalProperties"] != nil {
			out["type"] = "object"
		} else if out["items"] != nil {
			out["type"] = "array"
		}
	}
	if enum, ok := out["enum"].([]any); ok { // the spec lists aliases twice
		seen := map[string]bool{}
		var uniq []any
		for _, e := range enum {
			key := fmt.Sprintf("%T:%v", e, e)
			if !seen[key] {
				seen[key] = true
				uniq = append(uniq, e)
			}
		}
		out["enum"] = uniq
	}
	if req, ok := out["required"].([]any); ok {
		req = append([]any(nil), req...)
		sort.Slice(req, func(i, j int) bool { return fmt.Sprint(req[i]) < fmt.Sprint(req[j]) })
		out["required"] = req
	}
	return out
}

func mergeRequired(have any, names ...string) []any {
	set := map[string]bool{}
	if xs, ok := have.([]any); ok {
		for _, x := range xs {
			set[fmt.Sprint(x)] = true
		}
	}
	for _, n := range names {
		set[n] = true
	}
	var out []string
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	res := make([]any, len(out))
	for i, n := range out {
		res[i] = n
	}
	return res
}

// closure copies every definition reachable from v into defs.
func closure(v any, pool map[string]any, defs map[string]any) error {
	switch t := v.(type) {
	case map[string]any:
		if r, ok := t["$ref"].(string); ok {
			name := strings.TrimPrefix(r, "#/$defs/")
			if _, done := defs[name]; !done {
				d, ok := pool[name]
				if !ok {
					return fmt.Errorf("unresolved $ref %s", r)
				}
				d = deepCopy(d)
				defs[name] = d
				if err := closure(d, pool, defs); err != nil {
					return err
				}
			}
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "$defs" {
				continue
			}
			if err := closure(t[k], pool, defs); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range t {
			if err := closure(x, pool, defs); err != nil {
				return err
			}
		}
	}
	return nil
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}
