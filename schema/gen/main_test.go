package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// fixture is a small OpenAPI v3 document plus a v2 one exercising every
// conversion rule: allOf-wrapped refs, int-or-string, quantities, maps,
// preserve-unknown-fields, int32 bounds, byte, enums with aliases.
const fixtureV3 = `{"openapi":"3.0.0","components":{"schemas":{
 "io.k8s.api.test.v1.Widget":{"type":"object","description":"d","required":["spec"],"properties":{
   "apiVersion":{"type":"string"},"kind":{"type":"string"},
   "metadata":{"allOf":[{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}],"default":{}},
   "spec":{"allOf":[{"$ref":"#/components/schemas/io.k8s.api.test.v1.WidgetSpec"}],"default":{}}}},
 "io.k8s.api.test.v1.WidgetSpec":{"type":"object","required":["size","mode"],"properties":{
   "size":{"allOf":[{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"}]},
   "port":{"allOf":[{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]},
   "mode":{"type":"string","enum":["B","A","B"]},
   "count":{"type":"integer","format":"int32"},
   "blob":{"type":"string","format":"byte"},
   "labels":{"type":"object","additionalProperties":{"type":"string","default":""}},
   "raw":{"type":"object","x-kubernetes-preserve-unknown-fields":true,"properties":{"a":{"type":"string"}}},
   "legacy":{"x-kubernetes-int-or-string":true},
   "when":{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Time"}}},
 "io.k8s.apimachinery.pkg.api.resource.Quantity":{"oneOf":[{"type":"string"},{"type":"number"}]},
 "io.k8s.apimachinery.pkg.util.intstr.IntOrString":{"oneOf":[{"type":"integer"},{"type":"string"}]},
 "io.k8s.apimachinery.pkg.apis.meta.v1.Time":{"type":"string","format":"date-time"}}}}`

const fixtureV2 = `{"swagger":"2.0","definitions":{
 "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta":{"type":"object","properties":{"name":{"type":"string"},
   "labels":{"type":"object","additionalProperties":{"type":"string"}}}},
 "io.k8s.api.test.v1.WidgetSpec":{"type":"object","properties":{"old":{"type":"string"}}}}}`

func convertFixture(t *testing.T) map[string][]byte {
	t.Helper()
	files, origin, err := Convert(
		[]Source{{Name: "v3"}, {Name: "v2"}},
		[][]byte{[]byte(fixtureV3), []byte(fixtureV2)},
		GoSource{}, nil,
		[]Kind{{Group: "test.cairn.dev", Version: "v1", Kind: "Widget", Def: "io.k8s.api.test.v1.Widget"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if origin["test.cairn.dev_v1_Widget.json"] != "v3" {
		t.Errorf("origin = %v", origin)
	}
	return files
}

func TestConvertDeterministic(t *testing.T) {
	a := convertFixture(t)
	for i := 0; i < 5; i++ {
		if b := convertFixture(t); !reflect.DeepEqual(a, b) {
			t.Fatalf("run %d differs", i)
		}
	}
}

func TestConvertRules(t *testing.T) {
	b := convertFixture(t)["test.cairn.dev_v1_Widget.json"]
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		var cur any = s
		for _, p := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object at %s", path, p)
			}
			cur = m[p]
		}
		return cur
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	spec := []string{"$defs", "io.k8s.api.test.v1.WidgetSpec"}
	at := func(p ...string) []string { return append(append([]string{}, spec...), p...) }
	checks := []struct {
		path []string
		want string
	}{
		{[]string{"properties", "apiVersion"}, `{"const":"test.cairn.dev/v1","type":"string"}`},
		{[]string{"properties", "kind"}, `{"const":"Widget","type":"string"}`},
		{[]string{"required"}, `["apiVersion","kind","spec"]`},
		{[]string{"additionalProperties"}, `false`},
		{[]string{"properties", "metadata"}, `{"$ref":"#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}`},
		{at("additionalProperties"), `false`},
		{at("required"), `["mode","size"]`},
		{at("properties", "old"), `null`}, // v3 wins over v2
		{at("properties", "mode"), `{"enum":["B","A"],"type":"string"}`},
		{at("properties", "count"), `{"maximum":2147483647,"minimum":-2147483648,"type":"integer"}`},
		{at("properties", "blob", "pattern"), js(Base64Pattern)},
		{at("properties", "labels"), `{"additionalProperties":{"type":"string"},"type":"object"}`},
		{at("properties", "raw", "additionalProperties"), `null`},
		{at("properties", "legacy"), `{"type":["integer","string"]}`},
		{[]string{"$defs", "io.k8s.apimachinery.pkg.api.resource.Quantity"}, js(map[string]any{"pattern": QuantityPattern, "type": []string{"string", "number"}})},
		{[]string{"$defs", "io.k8s.apimachinery.pkg.util.intstr.IntOrString"}, `{"type":["integer","string"]}`},
		{[]string{"$defs", "io.k8s.apimachinery.pkg.apis.meta.v1.Time"}, `{"format":"date-time","type":"string"}`},
		{[]string{"$defs", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "additionalProperties"}, `false`},
	}
	for _, c := range checks {
		if got := js(get(c.path...)); got != c.want {
			t.Errorf("%v = %s, want %s", c.path, got, c.want)
		}
	}
	if bytes.Contains(b, []byte(`"description"`)) || bytes.Contains(b, []byte(`"default"`)) || bytes.Contains(b, []byte(`oneOf`)) {
		t.Errorf("description/default/oneOf left in output:\n%s", b)
	}
}

// TestCheckedInUpToDate regenerates every schema from the real module
// documents and compares with schema/generated (about a second).
func TestCheckedInUpToDate(t *testing.T) {
	srcs, goSrc, err := FindSources()
	if err != nil {
		t.Fatalf("locating sources (needs the module cache): %v", err)
	}
	files, _, err := Generate(srcs, goSrc, Kinds)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := Generate(srcs, goSrc, Kinds)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(files, again) {
		t.Fatal("two generations differ")
	}
	onDisk, _ := filepath.Glob(filepath.Join("..", "generated", "*.json"))
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(onDisk) != len(names) {
		t.Errorf("schema/generated has %d files, generator makes %d", len(onDisk), len(names))
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("..", "generated", n))
		if err != nil {
			t.Errorf("%s: %v (run go generate ./schema)", n, err)
			continue
		}
		if !bytes.Equal(b, files[n]) {
			t.Errorf("%s is stale: run go generate ./schema", n)
		}
	}
}
