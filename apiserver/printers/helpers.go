package printers

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// objectMetaDoc holds the API documentation of the metadata fields, which
// Kubernetes uses as the description of the NAME and AGE columns.
var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

func nameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}
}

func ageColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: objectMetaDoc["creationTimestamp"]}
}

// column is a priority-0 column.
func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wideColumn is a priority-1 column, shown by kubectl only with -o wide.
func wideColumn(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description, Priority: 1}
}

var (
	containerNamesColumn  = wideColumn("Containers", "string", "Names of each container in the template.")
	containerImagesColumn = wideColumn("Images", "string", "Images referenced by each container in the template.")
)

// typed builds a Printer whose Cells accepts *T (or an Unstructured holding
// a T) and rejects anything else with an error.
func typed[T any](columns []metav1.TableColumnDefinition, cells func(obj *T, now time.Time) []any) Printer {
	return Printer{
		Columns: columns,
		Cells: func(obj runtime.Object, now time.Time) ([]any, error) {
			t, err := as[T](obj)
			if err != nil {
				return nil, err
			}
			return cells(t, now), nil
		},
	}
}

// as returns obj as a *T. An *unstructured.Unstructured is converted, provided
// its kind, when set, is T's.
func as[T any](obj runtime.Object) (*T, error) {
	want := reflect.TypeFor[T]().Name()
	if t, ok := any(obj).(*T); ok {
		if t == nil {
			return nil, fmt.Errorf("printers: nil *%s", want)
		}
		return t, nil
	}
	if u, ok := obj.(*unstructured.Unstructured); ok && u != nil {
		if kind := u.GetKind(); kind != "" && kind != want {
			return nil, fmt.Errorf("printers: cannot print a %s as a %s", kind, want)
		}
		t := new(T)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), t); err != nil {
			return nil, fmt.Errorf("printers: converting %s: %w", want, err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("printers: cannot print %T as a %s", obj, want)
}

// isNil reports whether obj is nil or a typed nil pointer.
func isNil(obj runtime.Object) bool {
	if obj == nil {
		return true
	}
	v := reflect.ValueOf(obj)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// age is the time elapsed from t to now, as kubectl shows it; "<unknown>" for
// a zero time.
func age(now time.Time, t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// microAge is age for a MicroTime.
func microAge(now time.Time, t metav1.MicroTime) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// createdAt formats t as Kubernetes' default table convertor does.
func createdAt(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return t.UTC().Format(time.RFC3339)
}

// containerCells lays out the names and the images of containers, each on
// one line, comma-separated.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	i := make([]string, len(containers))
	for k, c := range containers {
		n[k], i[k] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(i, ",")
}

// orNone returns s, or "<none>" when s is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// listWithMore joins the first max items with commas and summarises the
// rest as " + N more...", as Kubernetes does for long lists.
func listWithMore(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, ",")
	}
	return fmt.Sprintf("%s + %d more...", strings.Join(items[:max], ","), len(items)-max)
}
