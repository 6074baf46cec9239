package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// kinds is every kind cairn serves; each must have a schema and test cases.
var kinds = []k8sschema.GroupVersionKind{
	{Version: "v1", Kind: "Namespace"}, {Version: "v1", Kind: "Pod"}, {Version: "v1", Kind: "Node"},
	{Version: "v1", Kind: "Service"}, {Version: "v1", Kind: "Endpoints"}, {Version: "v1", Kind: "ConfigMap"},
	{Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "Event"}, {Version: "v1", Kind: "LimitRange"},
	{Version: "v1", Kind: "PersistentVolumeClaim"}, {Version: "v1", Kind: "PersistentVolume"},
	{Version: "v1", Kind: "ServiceAccount"}, {Version: "v1", Kind: "ReplicationController"},
	{Version: "v1", Kind: "ComponentStatus"},
	{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "apps", Version: "v1", Kind: "ReplicaSet"},
	{Group: "apps", Version: "v1", Kind: "StatefulSet"}, {Group: "apps", Version: "v1", Kind: "DaemonSet"},
	{Group: "apps", Version: "v1", Kind: "ControllerRevision"},
	{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease"},
	{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicy"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicyBinding"},
	{Group: "gitops.cairn.dev", Version: "v1", Kind: "GitRepository"},
}

func fileName(g k8sschema.GroupVersionKind) string {
	grp := g.Group
	if grp == "" {
		grp = "core"
	}
	return grp + "_" + g.Version + "_" + g.Kind
}

// decode turns YAML into the JSON-compatible value Validate takes.
func decode(t testing.TB, y []byte) any {
	t.Helper()
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("yaml: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("json: %v", err)
	}
	return v
}

func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range strings.Split("\n"+string(b), "\n---\n") {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// TestManifests validates testdata/manifests/<group>_<version>_<kind>.yaml:
// each file holds documents whose first comment line starts with "# valid" or
// "# invalid"; the FieldErrors of every document are compared with the
// golden file <same name>.golden.
func TestManifests(t *testing.T) {
	v := New()
	for _, gvk := range kinds {
		name := fileName(gvk)
		t.Run(name, func(t *testing.T) {
			src := filepath.Join("testdata", "manifests", name+".yaml")
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatalf("every kind needs test manifests: %v", err)
			}
			var got strings.Builder
			var nValid, nInvalid int
			for i, doc := range splitDocs(b) {
				label := strings.SplitN(strings.TrimSpace(string(doc)), "\n", 2)[0]
				errs, err := v.Validate(gvk, decode(t, doc))
				if err != nil {
					t.Fatalf("doc %d: %v", i, err)
				}
				fmt.Fprintf(&got, "## doc %d %s\n", i, label)
				for _, fe := range errs {
					fmt.Fprintf(&got, "%s\t%s\n", fe.Type, fe.Error())
				}
				switch {
				case strings.HasPrefix(label, "# valid"):
					nValid++
					if len(errs) != 0 {
						t.Errorf("doc %d (%s) should be valid, got:\n%v", i, label, errs)
					}
				case strings.HasPrefix(label, "# invalid"):
					nInvalid++
					if len(errs) == 0 {
						t.Errorf("doc %d (%s) should be invalid", i, label)
					}
				default:
					t.Fatalf("doc %d: first line must be '# valid ...' or '# invalid ...', got %q", i, label)
				}
			}
			if nValid == 0 || nInvalid == 0 {
				t.Errorf("need at least one valid and one invalid manifest, have %d and %d", nValid, nInvalid)
			}
			golden(t, filepath.Join("testdata", "manifests", name+".golden"), got.String())
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./schema -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run go test ./schema -update to accept):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// TestMessages pins the exact wording of the common errors.
func TestMessages(t *testing.T) {
	v := New()
	dep := k8sschema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"wrong type", `{apiVersion: apps/v1, kind: Deployment, spec: {replicas: three, selector: {}, template: {}}}`,
			[]string{`spec.replicas: Invalid value: "three": must be an integer`}},
		{"unknown field", `{apiVersion: apps/v1, kind: Deployment, spec: {selectr: {}, selector: {}, template: {}}}`,
			[]string{`spec.selectr: unknown field`}},
		{"missing required", `{apiVersion: apps/v1, kind: Deployment, spec: {selector: {}, template: {spec: {containers: [{image: x}]}}}}`,
			[]string{`spec.template.spec.containers[0].name: Required value`}},
		{"bad enum", `{apiVersion: apps/v1, kind: Deployment, spec: {selector: {}, template: {spec: {containers: [{name: a, imagePullPolicy: Sometimes}]}}}}`,
			[]string{`spec.template.spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`}},
		{"bad quantity", `{apiVersion: apps/v1, kind: Deployment, spec: {selector: {}, template: {spec: {containers: [{name: a, resources: {limits: {cpu: 2x}}}]}}}}`,
			[]string{`spec.template.spec.containers[0].resources.limits.cpu: Invalid value: "2x": must be a quantity, e.g. "500m", "128Mi" or 2`}},
		{"bad int-or-string", `{apiVersion: apps/v1, kind: Deployment, spec: {selector: {}, template: {}, strategy: {rollingUpdate: {maxSurge: 1.5}}}}`,
			[]string{`spec.strategy.rollingUpdate.maxSurge: Invalid value: 1.5: must be an integer or a string`}},
		{"wrong apiVersion", `{apiVersion: apps/v1beta1, kind: Deployment, spec: {selector: {}, template: {}}}`,
			[]string{`apiVersion: Unsupported value: "apps/v1beta1": supported values: "apps/v1"`}},
		{"map key path", `{apiVersion: apps/v1, kind: Deployment, metadata: {labels: {app.kubernetes.io/name: 1}}, spec: {selector: {}, template: {}}}`,
			[]string{`metadata.labels[app.kubernetes.io/name]: Invalid value: 1: must be a string`}},
		{"null is absent", `{apiVersion: apps/v1, kind: Deployment, metadata: {creationTimestamp: null}, spec: {replicas: null, selector: {}, template: {}}}`,
			nil},
		{"null required is missing", `{apiVersion: apps/v1, kind: Deployment, spec: {selector: null, template: {}}}`,
			[]string{`spec.selector: Required value`}},
		{"not an object", `[1, 2]`,
			[]string{`Invalid value: [...]: must be an object`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, err := v.Validate(dep, decode(t, []byte(tt.yaml)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestFieldErrorTypes(t *testing.T) {
	v := New()
	errs, err := v.Validate(k8sschema.GroupVersionKind{Version: "v1", Kind: "Pod"}, decode(t, []byte(
		`{apiVersion: v1, kind: Pod, spec: {bogus: 1, containers: [{image: x, imagePullPolicy: Maybe, tty: 1}]}}`)))
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, e := range errs {
		types[e.Path] = e.Type
	}
	want := map[string]string{
		"spec.bogus":                         TypeForbidden,
		"spec.containers[0].name":            TypeRequired,
		"spec.containers[0].imagePullPolicy": TypeUnsupported,
		"spec.containers[0].tty":             TypeInvalid,
	}
	for p, ty := range want {
		if types[p] != ty {
			t.Errorf("%s: type %q, want %q (all: %v)", p, types[p], ty, errs)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d: %v", len(errs), len(want), errs)
	}
}

func TestKnownAndUnknown(t *testing.T) {
	v := New()
	for _, gvk := range kinds {
		if !v.Known(gvk) {
			t.Errorf("%v: not known", gvk)
		}
	}
	if got := len(v.Kinds()); got != len(kinds) {
		t.Errorf("Kinds() has %d, want %d", got, len(kinds))
	}
	unknown := k8sschema.GroupVersionKind{Group: "apps", Version: "v1beta1", Kind: "Deployment"}
	if v.Known(unknown) {
		t.Errorf("%v: known", unknown)
	}
	_, err := v.Validate(unknown, map[string]any{})
	var uk *UnknownKindError
	if !errors.As(err, &uk) {
		t.Errorf("Validate(unknown): err = %v, want *UnknownKindError", err)
	}
}

// TestSchemasCompile compiles every embedded schema and checks the
// strictness invariants: every object with properties is closed unless it is
// a map, and apiVersion/kind are pinned.
func TestSchemasCompile(t *testing.T) {
	v := New()
	for _, gvk := range v.Kinds() {
		if _, err := v.entries[gvk].compile(); err != nil {
			t.Errorf("%v: %v", gvk, err)
		}
		b, _ := v.Schema(gvk)
		var s map[string]any
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%v: %v", gvk, err)
		}
		props := s["properties"].(map[string]any)
		if props["kind"].(map[string]any)["const"] != gvk.Kind {
			t.Errorf("%v: kind not pinned", gvk)
		}
		if props["apiVersion"].(map[string]any)["const"] != gvk.GroupVersion().String() {
			t.Errorf("%v: apiVersion not pinned", gvk)
		}
		var walk func(p string, x any)
		walk = func(p string, x any) {
			switch x := x.(type) {
			case map[string]any:
				if _, ok := x["properties"]; ok {
					if ap, ok := x["additionalProperties"]; !ok || ap != false {
						t.Errorf("%v: %s has properties but is not closed", gvk, p)
					}
				}
				for k, y := range x {
					walk(p+"/"+k, y)
				}
			case []any:
				for i, y := range x {
					walk(fmt.Sprintf("%s/%d", p, i), y)
				}
			}
		}
		walk("#", s)
	}
}

func TestConcurrent(t *testing.T) {
	v := New()
	pod := decode(t, mustRead(t, "testdata/bench/pod.yaml"))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				errs, err := v.Validate(k8sschema.GroupVersionKind{Version: "v1", Kind: "Pod"}, pod)
				if err != nil || len(errs) != 0 {
					t.Errorf("%v %v", errs, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func benchmark(b *testing.B, gvk k8sschema.GroupVersionKind, file string) {
	v := New()
	doc := decode(b, mustRead(b, file))
	if errs, err := v.Validate(gvk, doc); err != nil || len(errs) != 0 {
		b.Fatalf("%v %v", errs, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if errs, _ := v.Validate(gvk, doc); len(errs) != 0 {
			b.Fatal(errs)
		}
	}
}

func BenchmarkValidateDeployment(b *testing.B) {
	benchmark(b, k8sschema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "testdata/bench/deployment.yaml")
}

func BenchmarkValidatePod(b *testing.B) {
	benchmark(b, k8sschema.GroupVersionKind{Version: "v1", Kind: "Pod"}, "testdata/bench/pod.yaml")
}

// BenchmarkValidateDeploymentParallel measures throughput on all cores.
func BenchmarkValidateDeploymentParallel(b *testing.B) {
	v := New()
	gvk := k8sschema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	doc := decode(b, mustRead(b, "testdata/bench/deployment.yaml"))
	_, _ = v.Validate(gvk, doc)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = v.Validate(gvk, doc)
		}
	})
}

func FuzzValidate(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"a","image":"b"}]}}`))
	f.Add([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":"x","selector":null,"template":{"spec":{"containers":[{}]}}}}`))
	f.Add([]byte(`[null, 1.5, {"a": {"b": [true]}}]`))
	f.Add([]byte(`"x"`))
	f.Add([]byte(`{"metadata":{"labels":{"a.b/c":{}}},"spec":{"template":{"spec":{"containers":[{"resources":{"limits":{"cpu":[]}}}]}}}}`))
	v := New()
	pod := k8sschema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	dep := k8sschema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			return
		}
		for _, gvk := range []k8sschema.GroupVersionKind{pod, dep} {
			errs, err := v.Validate(gvk, doc)
			if err != nil {
				t.Fatalf("%v: %v", gvk, err)
			}
			for i := 1; i < len(errs); i++ {
				if errs[i-1].Path > errs[i].Path {
					t.Fatalf("not sorted: %v", errs)
				}
			}
		}
	})
}

// TestNewerFieldsFromGoTypes: fields the k8s.io/api types have and the
// OpenAPI documents predate (a kubelet's status.hostIPs, sidecar
// containers' restartPolicy, resize status) are accepted; unknown fields
// still are not.
func TestNewerFieldsFromGoTypes(t *testing.T) {
	v := New()
	pod := k8sschema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	doc := map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p"},
		"spec": map[string]any{
			"initContainers": []any{map[string]any{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}},
			"containers":     []any{map[string]any{"name": "app", "image": "app", "resizePolicy": []any{map[string]any{"resourceName": "cpu", "restartPolicy": "NotRequired"}}}},
		},
		"status": map[string]any{
			"hostIPs":            []any{map[string]any{"ip": "10.0.0.1"}},
			"observedGeneration": int64(1),
		},
	}
	errs, err := v.Validate(pod, doc)
	if err != nil || len(errs) != 0 {
		t.Fatalf("newer fields refused: %v %v", errs, err)
	}
	doc["status"].(map[string]any)["hostIPz"] = []any{}
	if errs, _ := v.Validate(pod, doc); len(errs) == 0 {
		t.Fatal("an unknown status field was accepted")
	}
}
