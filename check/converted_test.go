package check

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"

	"github.com/cairn-dev/cairn/defaults"
	"github.com/cairn-dev/cairn/manifest"
	"github.com/cairn-dev/cairn/schema"
)

// sameSchemaVerdict fails when the schema without what obj's Go type
// guarantees says something else about obj than the whole schema.
func sameSchemaVerdict(t *testing.T, v *schema.Validator, obj runtime.Object, what string) {
	t.Helper()
	gvk := obj.GetObjectKind().GroupVersionKind()
	doc, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return
	}
	want, werr := v.Validate(gvk, doc)
	got, gerr := v.ValidateConverted(gvk, reflect.TypeOf(obj), doc)
	if fmt.Sprint(werr) != fmt.Sprint(gerr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %v:\n got %v %v\nwant %v %v", what, gvk, got, gerr, want, werr)
	}
}

// TestValidateConvertedMatchesSchema checks random objects of every kind
// with a schema, and the objects of the test manifests, against the whole
// schema and the reduced one.
func TestValidateConvertedMatchesSchema(t *testing.T) {
	c, _ := New(nil, nil)
	v := c.schemas
	n := 30
	if testing.Short() {
		n = 4
	}
	for seed := int64(0); seed < int64(n); seed++ {
		f := randfill.NewWithSeed(seed).NilChance(0.4).NumElements(0, 2).MaxDepth(10).Funcs(
			func(q *resource.Quantity, c randfill.Continue) {
				*q = *resource.NewMilliQuantity(c.Int63n(1<<40), resource.DecimalSI)
			},
			func(x *intstr.IntOrString, c randfill.Continue) {
				if c.Bool() {
					*x = intstr.FromInt32(c.Int31())
				} else {
					*x = intstr.FromString(c.String(8))
				}
			},
			func(x *metav1.Time, c randfill.Continue) {
				if c.Bool() {
					*x = metav1.Unix(c.Int63n(1<<32), 0)
				}
			},
			func(x *metav1.MicroTime, c randfill.Continue) {
				if c.Bool() {
					*x = metav1.NewMicroTime(metav1.Unix(c.Int63n(1<<32), c.Int63n(1e9)).Time)
				}
			},
			func(x *runtime.RawExtension, c randfill.Continue) {
				if c.Bool() {
					x.Raw = []byte(fmt.Sprintf(`{"a":%d}`, c.Intn(100)))
				}
			},
			// Strings from a small set, so enums and patterns both hold
			// and fail.
			func(s *string, c randfill.Continue) {
				*s = []string{"", "a", "TCP", "Always", "IfNotPresent", "apps/v1", "v1", "Deployment", "500m", "x y", "2006-01-02T15:04:05Z"}[c.Intn(11)]
			},
		)
		for _, gvk := range v.Kinds() {
			obj, err := c.scheme.New(gvk)
			if err != nil {
				continue
			}
			if !fill(f, obj) {
				continue
			}
			if seed%2 == 0 {
				obj.GetObjectKind().SetGroupVersionKind(gvk)
			}
			defaults.Apply(obj)
			obj.GetObjectKind().SetGroupVersionKind(gvk)
			sameSchemaVerdict(t, v, obj, fmt.Sprintf("seed %d", seed))
		}
	}
	for _, dir := range []string{"../schema/testdata/manifests", "../cli/testdata/validate", "../examples"} {
		objs, _ := manifest.Load([]string{dir}, manifest.Options{})
		for _, o := range objs {
			gvk := k8sschema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
			obj, err := c.scheme.New(gvk)
			if err != nil || !v.Known(gvk) {
				continue
			}
			if err := json.Unmarshal(o.JSON, obj); err != nil {
				continue
			}
			defaults.Apply(obj)
			obj.GetObjectKind().SetGroupVersionKind(gvk)
			sameSchemaVerdict(t, v, obj, filepath.Join(dir, filepath.Base(o.File)))
		}
	}
}
