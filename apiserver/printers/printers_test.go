package printers

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fixtureTypes maps each kind with golden fixtures to one fixture, whose Go
// type is the one its printer takes.
func fixtureTypes() map[schema.GroupKind]runtime.Object {
	out := map[schema.GroupKind]runtime.Object{}
	for _, tc := range goldenCases() {
		out[schema.GroupKind{Group: tc.group, Kind: tc.kind}] = tc.objects[0]
	}
	return out
}

// zeroOf returns a new, empty object of obj's type.
func zeroOf(obj runtime.Object) runtime.Object {
	return reflect.New(reflect.TypeOf(obj).Elem()).Interface().(runtime.Object)
}

func TestCellsMatchColumns(t *testing.T) {
	for _, tc := range goldenCases() {
		p := ForKind(tc.group, tc.kind)
		objects := append([]runtime.Object{zeroOf(tc.objects[0])}, tc.objects...)
		for i, obj := range objects {
			cells, err := p.Cells(obj, now)
			if err != nil {
				t.Errorf("%s object %d: %v", tc.file(), i, err)
				continue
			}
			if len(cells) != len(p.Columns) {
				t.Errorf("%s object %d: %d cells for %d columns", tc.file(), i, len(cells), len(p.Columns))
			}
		}
	}
}

func TestColumns(t *testing.T) {
	printers := map[string]Printer{"default": Default()}
	for gk, p := range registry {
		printers[gk.String()] = p
	}
	types := map[string]bool{"string": true, "integer": true, "date": true}
	for name, p := range printers {
		if len(p.Columns) == 0 {
			t.Errorf("%s: no columns", name)
			continue
		}
		seen := map[string]bool{}
		nameColumns := 0
		for i, c := range p.Columns {
			switch {
			case seen[c.Name]:
				t.Errorf("%s: column %q twice", name, c.Name)
			case !types[c.Type]:
				t.Errorf("%s: column %q has type %q", name, c.Name, c.Type)
			case c.Priority != 0 && c.Priority != 1:
				t.Errorf("%s: column %q has priority %d", name, c.Name, c.Priority)
			case c.Description == "":
				t.Errorf("%s: column %q has no description", name, c.Name)
			}
			seen[c.Name] = true
			if c.Format == "name" {
				nameColumns++
				// Events lead with LAST SEEN, as in Kubernetes.
				if c.Name != "Name" || (i != 0 && name != "Event" && name != "Event.events.k8s.io") {
					t.Errorf("%s: name column %q at %d", name, c.Name, i)
				}
			}
		}
		if nameColumns != 1 {
			t.Errorf("%s: %d name columns, want 1", name, nameColumns)
		}
	}
}

func TestWrongTypeIsAnError(t *testing.T) {
	status := &metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}}
	unstructuredStatus := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Status"}}
	fixtures := fixtureTypes()

	for gk, p := range registry {
		typedNil := reflect.Zero(reflect.TypeOf(fixtures[gk])).Interface().(runtime.Object)
		for _, tc := range []struct {
			name string
			obj  runtime.Object
		}{
			{"nil", nil},
			{"typed nil", typedNil},
			{"other type", status},
			{"unstructured of another kind", unstructuredStatus},
		} {
			if cells, err := p.Cells(tc.obj, now); err == nil {
				t.Errorf("%s given %s: no error, cells %v", gk, tc.name, cells)
			}
		}
	}

	for _, obj := range []runtime.Object{nil, (*corev1.Pod)(nil), status} {
		if _, err := Default().Cells(obj, now); err == nil {
			t.Errorf("default printer given %T: no error", obj)
		}
	}
}

// TestUnstructuredInput checks that the typed printers read an Unstructured
// holding their kind exactly as the typed object.
func TestUnstructuredInput(t *testing.T) {
	for _, tc := range goldenCases() {
		p := ForKind(tc.group, tc.kind)
		for i, obj := range tc.objects {
			if _, ok := obj.(*unstructured.Unstructured); ok {
				continue
			}
			content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{Object: content}
			u.SetKind(tc.kind)

			want, err := p.Cells(obj, now)
			if err != nil {
				t.Fatalf("%s object %d: %v", tc.file(), i, err)
			}
			got, err := p.Cells(u, now)
			if err != nil {
				t.Errorf("%s object %d as unstructured: %v", tc.file(), i, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s object %d as unstructured:\n got %#v\nwant %#v", tc.file(), i, got, want)
			}
		}
	}
}

// testGitRepository stands in for the typed GitRepository, which lives in
// another package.
type testGitRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		URL string `json:"url"`
	} `json:"spec"`
	Status struct {
		LastAppliedRevision string             `json:"lastAppliedRevision,omitempty"`
		Conditions          []metav1.Condition `json:"conditions,omitempty"`
	} `json:"status"`
}

func (g *testGitRepository) DeepCopyObject() runtime.Object {
	c := *g
	return &c
}

func TestGitRepositoryTyped(t *testing.T) {
	repo := &testGitRepository{ObjectMeta: metav1.ObjectMeta{Name: "platform", CreationTimestamp: ago(3 * hour)}}
	repo.Spec.URL = "https://git.example.com/infra/platform.git"
	repo.Status.LastAppliedRevision = "4f2b9c1e7a0d3b5c8e6f"
	repo.Status.Conditions = []metav1.Condition{
		{Type: "Reconciling", Status: metav1.ConditionFalse},
		{Type: "Ready", Status: metav1.ConditionFalse, Reason: "CloneFailed", Message: "repository not found"},
	}

	tests := []struct {
		name string
		obj  runtime.Object
		want []any
	}{
		{
			name: "typed",
			obj:  repo,
			want: []any{"platform", "https://git.example.com/infra/platform.git", "4f2b9c1e7a0d", "False", "repository not found", "3h"},
		},
		{
			name: "typed with kind set",
			obj: func() runtime.Object {
				r := repo.DeepCopyObject().(*testGitRepository)
				r.Kind = gitRepositoryKind
				return r
			}(),
			want: []any{"platform", "https://git.example.com/infra/platform.git", "4f2b9c1e7a0d", "False", "repository not found", "3h"},
		},
		{
			name: "empty",
			obj:  &testGitRepository{},
			want: []any{"", "", "", "", "", "<unknown>"},
		},
	}
	p := ForKind(gitopsGroup, gitRepositoryKind)
	for _, tc := range tests {
		got, err := p.Cells(tc.obj, now)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.name, got, tc.want)
		}
	}
}

func TestForKind(t *testing.T) {
	columnNames := func(p Printer) []string {
		var names []string
		for _, c := range p.Columns {
			names = append(names, c.Name)
		}
		return names
	}
	tests := []struct {
		group, kind string
		registered  bool
		columns     []string
	}{
		{"", "Pod", true, []string{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"}},
		{"apps", "Deployment", true, []string{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"}},
		{"rbac.authorization.k8s.io", "Role", true, []string{"Name", "Created At"}},
		{"apps", "Pod", false, []string{"Name", "Age"}},
		{"", "pod", false, []string{"Name", "Age"}},
		{"example.com", "Widget", false, []string{"Name", "Age"}},
	}
	for _, tc := range tests {
		if _, ok := Lookup(tc.group, tc.kind); ok != tc.registered {
			t.Errorf("Lookup(%q, %q) found = %v, want %v", tc.group, tc.kind, ok, tc.registered)
		}
		if got := columnNames(ForKind(tc.group, tc.kind)); !reflect.DeepEqual(got, tc.columns) {
			t.Errorf("ForKind(%q, %q) columns %q, want %q", tc.group, tc.kind, got, tc.columns)
		}
	}
}
