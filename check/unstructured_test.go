package check

import (
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/randfill"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
)

// convertBoth converts obj with the plan and with apimachinery's
// converter; a panic counts as an outcome.
func convertBoth(obj runtime.Object) (got, want string) {
	run := func(f func(runtime.Object) (map[string]any, error)) (s string) {
		defer func() {
			if r := recover(); r != nil {
				s = fmt.Sprintf("panic: %v", r)
			}
		}()
		m, err := f(obj)
		return fmt.Sprintf("%#v %v", m, err)
	}
	got = run(toUnstructured)
	want = run(func(o runtime.Object) (map[string]any, error) {
		return runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	})
	return got, want
}

// TestToUnstructuredMatchesConverter fills every kind the checker decodes
// with random values and compares the planned conversion with
// apimachinery's, value for value and type for type.
func TestToUnstructuredMatchesConverter(t *testing.T) {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = gitopsv1.AddToScheme(s)
	n := 20
	if testing.Short() {
		n = 3
	}
	for seed := int64(0); seed < int64(n); seed++ {
		f := randfill.NewWithSeed(seed).NilChance(0.3).NumElements(0, 3).MaxDepth(12).Funcs(
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
		)
		for gvk := range s.AllKnownTypes() {
			obj, err := s.New(gvk)
			if err != nil {
				continue
			}
			if !fill(f, obj) {
				continue
			}
			got, want := convertBoth(obj)
			if got != want {
				t.Fatalf("%v seed %d:\n got %s\nwant %s", gvk, seed, got, want)
			}
			pg, _ := toUnstructured(obj)
			pw, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if !reflect.DeepEqual(pg, pw) {
				t.Fatalf("%v seed %d: not deeply equal", gvk, seed)
			}
		}
	}
}

// fill fills obj; false for kinds with fields it cannot fill.
func fill(f *randfill.Filler, obj runtime.Object) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	f.Fill(obj)
	return true
}

// TestToUnstructuredFallsBack: types the plan does not cover convert as
// apimachinery converts them.
func TestToUnstructuredFallsBack(t *testing.T) {
	type withArray struct {
		metav1.TypeMeta `json:",inline"`
		A               [2]int `json:"a"`
	}
	type withInterface struct {
		metav1.TypeMeta `json:",inline"`
		I               any    `json:"i"`
		U               uint64 `json:"u"`
		B               []byte `json:"b"`
		E               []byte `json:"e,omitempty"`
		S               string `json:"-"`
		Z               *int   `json:"z,omitzero"`
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 50; i++ {
		for _, obj := range []any{
			&withArray{A: [2]int{r.Int(), 2}},
			&withInterface{I: map[string]any{"x": r.Intn(9)}, U: uint64(r.Int63()), B: []byte{byte(r.Intn(256))}},
			&withInterface{U: 1 << 63},
		} {
			got, want := convertAny(obj)
			if got != want {
				t.Fatalf("%T:\n got %s\nwant %s", obj, got, want)
			}
		}
	}
}

func convertAny(obj any) (got, want string) {
	run := func(f func() (map[string]any, error)) (s string) {
		defer func() {
			if r := recover(); r != nil {
				s = fmt.Sprintf("panic: %v", r)
			}
		}()
		m, err := f()
		return fmt.Sprintf("%#v %v", m, err)
	}
	got = run(func() (map[string]any, error) {
		rv := reflect.ValueOf(obj)
		p := planOf(rv.Type().Elem())
		if p == nil {
			return runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		}
		m := map[string]any{}
		return m, p.fill(rv.Elem(), m)
	})
	want = run(func() (map[string]any, error) { return runtime.DefaultUnstructuredConverter.ToUnstructured(obj) })
	return got, want
}

// TestIntOrStringMatchesConverter: the plan's IntOrString shortcut gives
// what apimachinery's converter gives through MarshalJSON, for values and
// pointers, including strings JSON would rewrite and unknown types.
func TestIntOrStringMatchesConverter(t *testing.T) {
	type holder struct {
		V intstr.IntOrString  `json:"v"`
		P *intstr.IntOrString `json:"p,omitempty"`
	}
	values := []intstr.IntOrString{
		intstr.FromInt32(0), intstr.FromInt32(-7), intstr.FromInt32(math.MaxInt32), intstr.FromInt32(math.MinInt32),
		intstr.FromString(""), intstr.FromString("25%"), intstr.FromString("http"), intstr.FromString("<&>\u2028"),
		intstr.FromString("bad\xffutf8"), {Type: 7, StrVal: "x"},
	}
	for _, x := range values {
		for _, h := range []*holder{{V: x}, {V: x, P: &x}} {
			want, werr := runtime.DefaultUnstructuredConverter.ToUnstructured(h)
			p := planOf(reflect.TypeOf(h))
			if p == nil {
				t.Fatal("no plan for the holder")
			}
			got := map[string]any{}
			gerr := p.elem.fill(reflect.ValueOf(h).Elem(), got)
			if (werr == nil) != (gerr == nil) || (werr == nil && !reflect.DeepEqual(got, want)) {
				t.Errorf("%#v: got %#v (%v), want %#v (%v)", x, got, gerr, want, werr)
			}
		}
	}
}
