package validation

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-dev/cairn/defaults"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// want is one expected error: its type and field path.
type want struct {
	typ   field.ErrorType
	field string
}

func req(f string) want       { return want{field.ErrorTypeRequired, f} }
func inv(f string) want       { return want{field.ErrorTypeInvalid, f} }
func notSup(f string) want    { return want{field.ErrorTypeNotSupported, f} }
func dup(f string) want       { return want{field.ErrorTypeDuplicate, f} }
func forbidden(f string) want { return want{field.ErrorTypeForbidden, f} }
func notFound(f string) want  { return want{field.ErrorTypeNotFound, f} }
func tooLong(f string) want   { return want{field.ErrorTypeTooLong, f} }

// testCase validates obj (an update of old when old is set) and expects
// exactly the listed errors, in any order.
type testCase struct {
	name string
	obj  runtime.Object
	old  runtime.Object
	want []want
}

func runCases(t *testing.T, cases []testCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := Validate(c.obj, c.old)
			checkErrors(t, errs, c.want)
		})
	}
}

func checkErrors(t *testing.T, errs field.ErrorList, wants []want) {
	t.Helper()
	got := make([]string, 0, len(errs))
	for _, e := range errs {
		got = append(got, fmt.Sprintf("%s %s", e.Type, e.Field))
	}
	exp := make([]string, 0, len(wants))
	for _, w := range wants {
		exp = append(exp, fmt.Sprintf("%s %s", w.typ, w.field))
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		t.Errorf("errors:\n got %q\nwant %q\nfull: %v", got, exp, errs.ToAggregate())
	}
}

// defaulted applies kube-apiserver's defaults, as the server does before
// validating.
func defaulted[T runtime.Object](obj T) T {
	defaults.Apply(obj)
	return obj
}

func objectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-1"), ResourceVersion: "1",
		CreationTimestamp: metav1.Unix(1700000000, 0)}
}

func TestMetadata(t *testing.T) {
	cm := func(mut func(*corev1.ConfigMap)) *corev1.ConfigMap {
		c := &corev1.ConfigMap{ObjectMeta: objectMeta("cfg")}
		mut(c)
		return defaulted(c)
	}
	bigAnnotations := map[string]string{"a": strings.Repeat("x", 256*1024)}
	runCases(t, []testCase{
		{"valid", cm(func(*corev1.ConfigMap) {}), nil, nil},
		{"name required", cm(func(c *corev1.ConfigMap) { c.Name = "" }), nil, []want{req("metadata.name")}},
		{"generateName instead of name", cm(func(c *corev1.ConfigMap) { c.Name, c.GenerateName = "", "cfg-" }), nil, nil},
		{"invalid generateName", cm(func(c *corev1.ConfigMap) { c.Name, c.GenerateName = "", "Cfg-" }), nil, []want{inv("metadata.generateName")}},
		{"name not a subdomain", cm(func(c *corev1.ConfigMap) { c.Name = "My_Config" }), nil, []want{inv("metadata.name")}},
		{"dots are fine in a subdomain", cm(func(c *corev1.ConfigMap) { c.Name = "my.config" }), nil, nil},
		{"name too long", cm(func(c *corev1.ConfigMap) { c.Name = strings.Repeat("a", 254) }), nil, []want{inv("metadata.name")}},
		{"label key", cm(func(c *corev1.ConfigMap) { c.Labels = map[string]string{"bad key": "v"} }), nil, []want{inv("metadata.labels")}},
		{"label value", cm(func(c *corev1.ConfigMap) { c.Labels = map[string]string{"k": "-bad-"} }), nil, []want{inv("metadata.labels")}},
		{"annotation key", cm(func(c *corev1.ConfigMap) { c.Annotations = map[string]string{"a/b/c": "v"} }), nil, []want{inv("metadata.annotations")}},
		{"annotations too large", cm(func(c *corev1.ConfigMap) { c.Annotations = bigAnnotations }), nil, []want{tooLong("metadata.annotations")}},
		{"finalizer not qualified", cm(func(c *corev1.ConfigMap) { c.Finalizers = []string{"cleanup"} }), nil, []want{inv("metadata.finalizers[0]")}},
		{"standard finalizer", cm(func(c *corev1.ConfigMap) { c.Finalizers = []string{"foregroundDeletion", "example.com/x"} }), nil, nil},
		{"owner reference", cm(func(c *corev1.ConfigMap) {
			c.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "p"}}
		}), nil, []want{req("metadata.ownerReferences[0].uid")}},
	})
}

func TestMetadataUpdate(t *testing.T) {
	old := defaulted(&corev1.ConfigMap{ObjectMeta: objectMeta("cfg")})
	upd := func(mut func(*corev1.ConfigMap)) *corev1.ConfigMap {
		c := old.DeepCopy()
		mut(c)
		return c
	}
	now := metav1.Now()
	deleting := old.DeepCopy()
	deleting.DeletionTimestamp = &now
	runCases(t, []testCase{
		{"unchanged", upd(func(*corev1.ConfigMap) {}), old, nil},
		{"data and labels may change", upd(func(c *corev1.ConfigMap) {
			c.Data = map[string]string{"k": "v"}
			c.Labels = map[string]string{"a": "b"}
		}), old, nil},
		{"name", upd(func(c *corev1.ConfigMap) { c.Name = "other" }), old, []want{inv("metadata.name")}},
		{"namespace", upd(func(c *corev1.ConfigMap) { c.Namespace = "other" }), old, []want{inv("metadata.namespace")}},
		{"uid", upd(func(c *corev1.ConfigMap) { c.UID = "uid-2" }), old, []want{inv("metadata.uid")}},
		{"creationTimestamp", upd(func(c *corev1.ConfigMap) { c.CreationTimestamp = metav1.Unix(1, 0) }), old, []want{inv("metadata.creationTimestamp")}},
		{"omitted uid and creationTimestamp are kept", upd(func(c *corev1.ConfigMap) {
			c.UID, c.CreationTimestamp = "", metav1.Time{}
		}), old, nil},
		{"new finalizer while deleting", func() runtime.Object {
			c := deleting.DeepCopy()
			c.Finalizers = []string{"example.com/late"}
			return c
		}(), deleting, []want{forbidden("metadata.finalizers")}},
	})
}

func TestNameRulesPerKind(t *testing.T) {
	runCases(t, []testCase{
		{"namespace is a DNS label", defaulted(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team.a"}}), nil, []want{inv("metadata.name")}},
		{"namespace", defaulted(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}), nil, nil},
		{"service is a DNS label", validService(func(s *corev1.Service) { s.Name = "web.v1" }), nil, []want{inv("metadata.name")}},
		{"service may start with a digit", validService(func(s *corev1.Service) { s.Name = "1web" }), nil, nil},
		{"cluster role names are path segments", validClusterRole("system:aggregate-to-view"), nil, nil},
		{"path segment rejects slashes", validClusterRole("a/b"), nil, []want{inv("metadata.name")}},
	})
}

func TestGenericKinds(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("example.com/v1")
	u.SetKind("Widget")
	u.SetName("Bad_Name")
	sa := &corev1.ServiceAccount{ObjectMeta: objectMeta("builder")}
	runCases(t, []testCase{
		{"custom resource", u, nil, []want{inv("metadata.name")}},
		{"service account", sa, nil, nil},
		{"service account update", sa, sa.DeepCopy(), nil},
	})
}

func TestNilAndMismatchedTypes(t *testing.T) {
	if errs := Validate(nil, nil); len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
		t.Errorf("nil object: %v", errs)
	}
	if errs := Validate((*corev1.Pod)(nil), nil); len(errs) != 1 {
		t.Errorf("typed nil object: %v", errs)
	}
	cm := defaulted(&corev1.ConfigMap{ObjectMeta: objectMeta("cfg")})
	if errs := Validate(cm, (*corev1.ConfigMap)(nil)); len(errs) != 0 {
		t.Errorf("typed nil old should mean create: %v", errs)
	}
	if errs := Validate(cm, &corev1.Secret{}); len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
		t.Errorf("mismatched types: %v", errs)
	}
}
