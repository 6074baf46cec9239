package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sigsyaml "sigs.k8s.io/yaml"
)

type objSummary struct {
	File string
	Doc  int
	Line int
	Ref  string
	API  string
}

func summarize(objs []*Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, fmt.Sprintf("%s doc=%d line=%d %s %s", o.File, o.Doc, o.Line, o.APIVersion, o.Ref()))
	}
	return out
}

func errStrings(errs []error) []string {
	var out []string
	for _, e := range errs {
		var pe *Error
		if !errors.As(e, &pe) {
			out = append(out, "NOT *Error: "+e.Error())
			continue
		}
		out = append(out, e.Error())
	}
	return out
}

func diffLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestLoadCorpus(t *testing.T) {
	tests := []struct {
		name     string
		paths    []string
		wantObjs []string
		wantErrs []string
	}{
		{
			name:  "good directory, recursive, sorted, hidden and non-manifest files skipped",
			paths: []string{"testdata/good"},
			wantObjs: []string{
				"testdata/good/app.yaml doc=0 line=3 apps/v1 Deployment/shop/web",
				"testdata/good/app.yaml doc=1 line=42 v1 Service/shop/web",
				"testdata/good/app.yaml doc=2 line=52 v1 ConfigMap/shop/web-config",
				"testdata/good/namespace.json doc=0 line=2 v1 Namespace/shop",
				"testdata/good/nested/anchors.yml doc=0 line=1 v1 ConfigMap/anchors",
				"testdata/good/nested/list.json doc=0 line=2 v1 Secret/ci/token",
				"testdata/good/nested/list.json doc=0 line=5 v1 ConfigMap/empty",
				"testdata/good/nested/list.yaml doc=0 line=4 v1 ServiceAccount/builder",
				"testdata/good/nested/list.yaml doc=0 line=8 rbac.authorization.k8s.io/v1 ClusterRole/reader",
			},
		},
		{
			name:     "explicit file of any extension is read",
			paths:    []string{"testdata/good/README.md"},
			wantErrs: []string{"testdata/good/README.md:1: missing apiVersion and kind"},
		},
		{
			name:  "same file twice is read once",
			paths: []string{"testdata/good/namespace.json", "./testdata/good/namespace.json"},
			wantObjs: []string{
				"testdata/good/namespace.json doc=0 line=2 v1 Namespace/shop",
			},
		},
		{
			name:     "missing path",
			paths:    []string{"testdata/nope"},
			wantErrs: []string{"testdata/nope: stat: no such file or directory"},
		},
		{
			name:  "bad directory",
			paths: []string{"testdata/bad"},
			wantObjs: []string{
				"testdata/bad/malformed.yaml doc=0 line=1 v1 ConfigMap/ok-before",
				"testdata/bad/malformed.yaml doc=2 line=12 v1 ConfigMap/ok-after",
			},
			wantErrs: []string{
				"testdata/bad/bomb.yaml:11:10: document expands to more than 100000 nodes through aliases (excessive aliasing)",
				`testdata/bad/duplicate.yaml:7:3: mapping key "replicas" already defined at line 6`,
				"testdata/bad/malformed.yaml:10: did not find expected key",
				"testdata/bad/missing.yaml:1: missing kind",
				"testdata/bad/missing.yaml:5: missing apiVersion",
				"testdata/bad/missing.yaml:9:1: document is a sequence, expected a mapping (a Kubernetes object)",
				"testdata/bad/missing.yaml:12:1: document is a scalar, expected a mapping (a Kubernetes object)",
				"testdata/bad/values.yaml:6:6: .inf cannot be represented in JSON (quote it to make it a string)",
				"testdata/bad/values.yaml:13:6: cannot decode !!str `abc` as a !!int",
				"testdata/bad/values.yaml:16:1: kind: must be a string",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := Load(tt.paths, Options{})
			diffLines(t, "objects", summarize(objs), tt.wantObjs)
			diffLines(t, "errors", errStrings(errs), tt.wantErrs)
			for _, o := range objs {
				checkObject(t, o)
			}
		})
	}
}

// checkObject verifies the invariants every returned object must hold.
func checkObject(t testing.TB, o *Object) {
	t.Helper()
	if o.Kind == "" || o.APIVersion == "" {
		t.Fatalf("%s: object without kind/apiVersion", o.Ref())
	}
	if !json.Valid(o.JSON) {
		t.Fatalf("%s: invalid JSON %q", o.Ref(), o.JSON)
	}
	std, err := json.Marshal(o.Value)
	if err != nil {
		t.Fatalf("%s: json.Marshal(Value): %v", o.Ref(), err)
	}
	if !bytes.Equal(std, o.JSON) {
		t.Fatalf("%s: JSON differs from encoding/json:\n%s\n%s", o.Ref(), o.JSON, std)
	}
	checkTypes(t, o.Value)
}

func checkTypes(t testing.TB, v any) {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			checkTypes(t, e)
		}
	case []any:
		for _, e := range v {
			checkTypes(t, e)
		}
	case string, bool, nil, json.Number:
	default:
		t.Fatalf("unexpected type %T in Value", v)
	}
}

// TestConversionMatchesKubectl compares the JSON of single documents with
// sigs.k8s.io/yaml.YAMLToJSON, the conversion kubectl uses.
func TestConversionMatchesKubectl(t *testing.T) {
	values := []string{
		`yes`, `Yes`, `YES`, `no`, `on`, `off`, `y`, `n`, `true`, `False`, `~`, `null`, `""`, `'yes'`,
		`0644`, `0x1F`, `0o17`, `1_000`, `+12`, `-7`, `0b101`, `-0b11`, `9223372036854775807`, `18446744073709551615`,
		`99999999999999999999`, `1.0`, `1.5`, `.5`, `-2.5e-3`, `1e3`, `1e21`, `0.0000001`, `1.`,
		`2024-01-02`, `2024-01-02T03:04:05Z`, `2024-01-02 03:04:05`, `12:30`, `1.2.3`, `v1`, `0.5Gi`,
		`!!str 123`, `!!float 1`, `!!int "12"`, `!!binary aGVsbG8=`, `!custom text`,
		`"a <b> & \u2028"`, `|` + "\n    line1\n    line2", `>-` + "\n    folded\n    text",
		`[1, "2", three, {a: b}]`, `{}`, `[]`, `{1: a, 2.5: b, true: c, off: d, null_: e, 0x10: f}`,
	}
	for _, v := range values {
		t.Run(v, func(t *testing.T) {
			doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: " + v + "\n"
			want, err := sigsyaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("sigs.k8s.io/yaml: %v", err)
			}
			objs, errs := Parse("t.yaml", []byte(doc), Options{})
			if len(errs) > 0 || len(objs) != 1 {
				t.Fatalf("errs=%v objs=%d", errs, len(objs))
			}
			if !bytes.Equal(objs[0].JSON, want) {
				t.Errorf("got  %s\nwant %s", objs[0].JSON, want)
			}
			checkObject(t, objs[0])
		})
	}
}

func TestParseErrors(t *testing.T) {
	head := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"tab indentation", head + "data:\n\tb: 2\n", []string{"f.yaml:6: found character that cannot start any token"}},
		{"unclosed flow", head + "data: [1, 2\nx: 3\n", []string{"f.yaml:6: did not find expected ',' or ']'"}},
		{"bad block sequence", head + "data:\n  - b\n  c: d\n", []string{"f.yaml:7: did not find expected '-' indicator"}},
		{"mapping value on first line", "a: b: c\n", []string{"f.yaml:1: mapping values are not allowed in this context"}},
		{"unknown anchor", head + "data:\n  a: *nope\n", []string{"f.yaml:6: unknown anchor 'nope' referenced"}},
		{"duplicate after key conversion", head + "data:\n  1: a\n  \"1\": b\n", []string{`f.yaml:7:3: mapping key "1" already defined at line 6`}},
		{"duplicate top-level", head + "kind: Pod\n", []string{`f.yaml:5:1: mapping key "kind" already defined at line 2`}},
		{"null key", head + "data:\n  ~: a\n", []string{"f.yaml:6:3: unsupported map key: null"}},
		{"collection key", head + "data:\n  ? [a]\n  : b\n", []string{"f.yaml:6:5: unsupported map key: sequence"}},
		{"self alias", head + "data: &a\n  x: *a\n", []string{"f.yaml:6:6: alias *a refers to its own anchor"}},
		{"nan", head + "spec: {x: .nan}\n", []string{"f.yaml:5:11: .nan cannot be represented in JSON (quote it to make it a string)"}},
		{"empty object", "{}\n", []string{"f.yaml:1: missing apiVersion and kind"}},
		{"empty kind", "apiVersion: v1\nkind: \"\"\n", []string{"f.yaml:1: missing kind"}},
		{"metadata not a map", "apiVersion: v1\nkind: Pod\nmetadata: [a]\n", []string{"f.yaml:3:1: metadata: must be a mapping"}},
		{"name not a string", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: 12\n", []string{"f.yaml:4:3: metadata.name: must be a string"}},
		{"list items not a list", "apiVersion: v1\nkind: List\nitems: 3\n", []string{"f.yaml:3:1: List: items must be a list"}},
		{"list item not a map", "apiVersion: v1\nkind: List\nitems:\n- 3\n- kind: Pod\n", []string{
			"f.yaml:4:3: List: items[0] is not a mapping (a Kubernetes object)",
			"f.yaml:5: missing apiVersion",
		}},
		{"errors continue in later documents", "a: [\n---\n" + head + "---\nkind: Pod\n", []string{
			"f.yaml:2: did not find expected node content",
			"f.yaml:8: missing apiVersion",
		}},
		{"bare document after ... needs ---", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n...\napiVersion: v1\nkind: Pod\n", []string{
			"f.yaml:5: did not find expected <document start>",
		}},
		{"json syntax error", "{\"apiVersion\": \"v1\",\n \"kind\" \"Pod\"}\n", []string{"f.yaml:2: did not find expected ',' or '}'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := Parse("f.yaml", []byte(tt.in), Options{})
			diffLines(t, "errors", errStrings(errs), tt.want)
		})
	}
}

func TestParseDocuments(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty file", "", nil},
		{"only separators and comments", "---\n# c\n---\n...\n", nil},
		{"null document", "null\n---\n~\n", nil},
		{"separator with content", "--- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n--- # comment\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n",
			[]string{"f doc=0 line=1 v1 Pod/a", "f doc=1 line=3 v1 Pod/b"}},
		{"document end marker", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n...\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n",
			[]string{"f doc=0 line=1 v1 Pod/a", "f doc=1 line=6 v1 Pod/b"}},
		{"CRLF", "apiVersion: v1\r\nkind: Pod\r\nmetadata: {name: a}\r\n---\r\napiVersion: v1\r\nkind: Pod\r\nmetadata: {name: b}\r\n",
			[]string{"f doc=0 line=1 v1 Pod/a", "f doc=1 line=5 v1 Pod/b"}},
		{"---x is not a separator", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  x: |\n    ---x\n",
			[]string{"f doc=0 line=1 v1 ConfigMap/a"}},
		{"generateName", "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: run-, namespace: ci}\n", []string{"f doc=0 line=1 batch/v1 Job/ci/run-*"}},
		{"unnamed", "apiVersion: v1\nkind: Namespace\n", []string{"f doc=0 line=1 v1 Namespace/<unnamed>"}},
		{"non-v1 List is an ordinary object", "apiVersion: example.com/v1\nkind: List\nitems: []\n", []string{"f doc=0 line=1 example.com/v1 List/<unnamed>"}},
		{"JSON with BOM-less multi-line", "{\n  \"kind\": \"Pod\",\n  \"apiVersion\": \"v1\"\n}\n", []string{"f doc=0 line=2 v1 Pod/<unnamed>"}},
		{"merge key sequence", "base: &b {x: 1}\nother: &o {x: 2, y: 2}\napiVersion: v1\nkind: ConfigMap\ndata:\n  <<: [*b, *o]\n", []string{"f doc=0 line=1 v1 ConfigMap/<unnamed>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := Parse("f", []byte(tt.in), Options{})
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			diffLines(t, "objects", summarize(objs), tt.want)
			for _, o := range objs {
				checkObject(t, o)
			}
		})
	}
}

func TestMergeSemantics(t *testing.T) {
	in := "apiVersion: v1\nkind: ConfigMap\nbase: &b {x: 1, z: 1}\nother: &o {x: 2, w: 2, y: 2}\ndata:\n  z: explicit\n  <<: [*b, *o]\n"
	objs, errs := Parse("f", []byte(in), Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := string(objs[0].JSON)
	want := `{"apiVersion":"v1","base":{"x":1,"z":1},"data":{"true":2,"w":2,"x":1,"z":"explicit"},"kind":"ConfigMap","other":{"true":2,"w":2,"x":2}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	o := objs[0]
	for path, line := range map[string]int{"data.z": 6, "data.x": 3, "data.w": 4, "data.true": 4} {
		if l := o.LineOf(path); l != line {
			t.Errorf("LineOf(%s) = %d, want %d", path, l, line)
		}
	}
}

func TestLineOf(t *testing.T) {
	objs, errs := Load([]string{"testdata/good/app.yaml", "testdata/good/nested/list.yaml", "testdata/good/namespace.json"}, Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	dep, cm, role, ns := objs[0], objs[2], objs[4], objs[5]
	tests := []struct {
		o    *Object
		path string
		line int
		col  int
	}{
		{dep, "apiVersion", 3, 1},
		{dep, "metadata.name", 6, 3},
		{dep, "metadata.labels[app.kubernetes.io/name]", 9, 5},
		{dep, "metadata.labels.app.kubernetes.io/name", 8, 3}, // not a path in dotted form: nearest ancestor is metadata.labels
		{dep, "metadata.labels.tier", 10, 5},
		{dep, "metadata.labels[tier]", 10, 5},
		{dep, "spec.template.spec.containers[0]", 22, 11},
		{dep, "spec.template.spec.containers[0].image", 23, 11},
		{dep, "spec.template.spec.containers[0].ports[0].containerPort", 25, 15},
		{dep, "spec.template.spec.containers[0].env[0].value", 28, 15},
		{dep, "spec.template.spec.containers[0].resources.limits.cpu", 31, 15},
		{dep, "spec.template.spec.containers[3].image", 21, 7}, // no such item: containers
		{dep, "spec.template.spec.volumes[0].configMap.defaultMode", 37, 13},
		{dep, "spec.nope.deeper", 11, 1},
		{dep, "nope", 3, 0},
		{dep, "", 3, 0},
		{dep, "spec.template.spec.containers[0", 3, 0}, // malformed
		{cm, "data[config.yaml]", 58, 3},
		{cm, "data.true", 61, 3}, // `on:` is the key "true"
		{role, "rules[0].verbs[1]", 15, 22},
		{role, "metadata.name", 11, 7},
		{ns, "metadata.labels.team", 6, 16},
	}
	for _, tt := range tests {
		t.Run(tt.o.Ref()+":"+tt.path, func(t *testing.T) {
			l, c := tt.o.PosOf(tt.path)
			if l != tt.line || c != tt.col {
				t.Errorf("PosOf(%q) = %d:%d, want %d:%d", tt.path, l, c, tt.line, tt.col)
			}
			if got := tt.o.LineOf(tt.path); got != tt.line {
				t.Errorf("LineOf(%q) = %d, want %d", tt.path, got, tt.line)
			}
		})
	}
}

func TestRefAndError(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{(&Object{Kind: "Deployment", Name: "web"}).Ref(), "Deployment/web"},
		{(&Object{Kind: "Deployment", Namespace: "shop", Name: "web"}).Ref(), "Deployment/shop/web"},
		{(&Error{File: "a.yaml", Line: 3, Column: 7, Msg: "boom"}).Error(), "a.yaml:3:7: boom"},
		{(&Error{File: "a.yaml", Line: 3, Msg: "boom"}).Error(), "a.yaml:3: boom"},
		{(&Error{File: "a.yaml", Msg: "boom"}).Error(), "a.yaml: boom"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestLimits(t *testing.T) {
	small := Options{MaxFileBytes: 1 << 20, MaxDocBytes: 4096}
	big := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  x: " + strings.Repeat("a", 5000) + "\n"
	ok := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n"
	tests := []struct {
		name     string
		in       string
		opts     Options
		wantObjs int
		wantErrs []string
	}{
		{"huge document between good ones", ok + "---\n# big one\n" + big + "---\n" + ok, small, 2,
			[]string{"f.yaml:6: document is 5079 bytes, larger than the limit of 4096 bytes"}},
		{"file too big", strings.Repeat(ok+"---\n", 100), Options{MaxFileBytes: 1000}, 0,
			[]string{"f.yaml: file is 5600 bytes, larger than the limit of 1000 bytes"}},
		{"JSON expansion over MaxDocBytes", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: &a " + strings.Repeat("b", 1000) + "\n  l: [*a, *a, *a, *a, *a]\n", small, 0,
			[]string{"f.yaml:6:19: document expands to more than 4096 bytes of JSON"}},
		{"default document limit", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  x: " + strings.Repeat("a", 3<<20) + "\n", Options{}, 0,
			[]string{"f.yaml:1: document is 3145791 bytes, larger than the limit of 3145728 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := Parse("f.yaml", []byte(tt.in), tt.opts)
			if len(objs) != tt.wantObjs {
				t.Errorf("got %d objects, want %d", len(objs), tt.wantObjs)
			}
			diffLines(t, "errors", errStrings(errs), tt.wantErrs)
		})
	}
}

func TestLoadLimitsAndStdin(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.yaml")
	if err := os.WriteFile(huge, bytes.Repeat([]byte("# padding\n"), 200), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs := Load([]string{huge}, Options{MaxFileBytes: 1000})
	diffLines(t, "errors", errStrings(errs), []string{filepath.ToSlash(huge) + ": file is 2000 bytes, larger than the limit of 1000 bytes"})

	old := stdin
	defer func() { stdin = old }()
	stdin = strings.NewReader("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
	objs, errs := Load([]string{"-", "-"}, Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	diffLines(t, "objects", summarize(objs), []string{"- doc=0 line=1 v1 Pod/p"})

	stdin = bytes.NewReader(bytes.Repeat([]byte("#\n"), 1000))
	_, errs = Load([]string{"-"}, Options{MaxFileBytes: 100})
	diffLines(t, "errors", errStrings(errs), []string{"-: file is 101 bytes, larger than the limit of 100 bytes"})
}

// TestAliasBomb checks that billion-laughs documents are rejected quickly
// and without exhausting memory.
func TestAliasBomb(t *testing.T) {
	bomb, err := os.ReadFile("testdata/bad/bomb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A wider and deeper bomb (10^20 nodes if expanded) and a merge-key bomb.
	var deep strings.Builder
	deep.WriteString("apiVersion: v1\nkind: ConfigMap\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 20; i++ {
		fmt.Fprintf(&deep, "l%d: &l%d [", i, i)
		for j := 0; j < 10; j++ {
			fmt.Fprintf(&deep, "*l%d,", i-1)
		}
		deep.WriteString("]\n")
	}
	var merge strings.Builder
	merge.WriteString("apiVersion: v1\nkind: ConfigMap\nm0: &m0 {a: [1, 2, 3, 4, 5, 6, 7, 8]}\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&merge, "m%d: &m%d {<<: *m%d, k%d: [*m%d, *m%d, *m%d]}\n", i, i, i-1, i, i-1, i-1, i-1)
	}
	var mergeDup strings.Builder
	mergeDup.WriteString("apiVersion: v1\nkind: ConfigMap\nd0: &d0 {a: 1, b: 2, c: 3}\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&mergeDup, "d%d: &d%d {<<: [*d%d, *d%d, *d%d, *d%d]}\n", i, i, i-1, i-1, i-1, i-1)
	}
	for name, in := range map[string][]byte{"file": bomb, "deep": []byte(deep.String()), "merge": []byte(merge.String()), "merge-dup": []byte(mergeDup.String())} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			objs, errs := Parse("bomb.yaml", in, Options{})
			d := time.Since(start)
			if len(objs) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "excessive aliasing") {
				t.Fatalf("objs=%d errs=%v", len(objs), errs)
			}
			if d > time.Second {
				t.Fatalf("took %v", d)
			}
			t.Logf("rejected in %v: %v", d, errs[0])
		})
	}
}

// TestModerateAliasesAllowed: ordinary reuse of anchors is fine.
func TestModerateAliasesAllowed(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\ncommon: &c {a: 1, b: [1, 2, 3], c: {d: e}}\nuses:\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("  - *c\n")
	}
	objs, errs := Parse("f", []byte(b.String()), Options{})
	if len(errs) > 0 || len(objs) != 1 {
		t.Fatalf("objs=%d errs=%v", len(objs), errs)
	}
	if got := objs[0].LineOf("uses[999].b[2]"); got != 4 {
		t.Errorf("LineOf alias content = %d, want 4 (the anchor's line)", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/good/app.yaml", "testdata/good/namespace.json", "testdata/good/nested/list.yaml",
		"testdata/good/nested/anchors.yml", "testdata/bad/malformed.yaml", "testdata/bad/duplicate.yaml", "testdata/bad/values.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("--- |\n  x\n---\n- [\n"))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [{kind: A, apiVersion: v1, x: {1: 2, 1.5: 3, yes: 4}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, errs := Parse("fuzz.yaml", data, Options{MaxDocBytes: 1 << 16})
		for _, o := range objs {
			checkObject(t, o)
			_ = o.LineOf("spec.containers[0].image")
			_ = o.Ref()
		}
		for _, e := range errs {
			var pe *Error
			if !errors.As(e, &pe) || pe.File != "fuzz.yaml" {
				t.Fatalf("bad error %#v", e)
			}
		}
	})
}

// genManifests returns n realistic documents.
func genManifests(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%d
  namespace: team-%d
  labels:
    app.kubernetes.io/name: app-%d
    app.kubernetes.io/part-of: shop
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: app-%d
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-%d
    spec:
      containers:
        - name: app
          image: registry.example.com/app:%d.0.1
          args: ["--port=8080", "--verbose"]
          ports:
            - containerPort: 8080
              protocol: TCP
          env:
            - name: MODE
              value: production
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {cpu: "1", memory: 256Mi}
`, i, i%50, i, i, i, i)
	}
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	const docs = 10000
	data := genManifests(docs)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		objs, errs := Parse("bench.yaml", data, Options{MaxFileBytes: 1 << 30})
		if len(errs) > 0 || len(objs) != docs {
			b.Fatalf("objs=%d errs=%v", len(objs), errs)
		}
	}
	b.ReportMetric(float64(docs)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkKubectlBaseline converts the same documents with
// sigs.k8s.io/yaml.YAMLToJSON (kubectl's conversion, no positions) for
// comparison with BenchmarkParse.
func BenchmarkKubectlBaseline(b *testing.B) {
	const docs = 10000
	data := genManifests(docs)
	parts := bytes.Split(data, []byte("---\n"))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range parts[1:] {
			if _, err := sigsyaml.YAMLToJSON(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(docs)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
