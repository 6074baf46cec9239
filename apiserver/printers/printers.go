// Package printers supplies the columns and cells of the server-side Table
// output (Accept: application/json;as=Table;g=meta.k8s.io;v=v1) for the kinds
// cairn serves, so that kubectl prints them exactly as it does against
// Kubernetes. The columns, their priorities and the cell formatting follow
// kube-apiserver's pkg/printers/internalversion.
//
// As in kube-apiserver, a row always carries every cell, priority-1 ("wide")
// cells included: kubectl hides the priority-1 columns unless -o wide.
package printers

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Printer prints one kind. Columns with Priority 0 show by default, Priority
// 1 only with -o wide, as Kubernetes marks them.
type Printer struct {
	Columns []metav1.TableColumnDefinition
	// Cells returns one row's cells, as many as Columns, for an object of the
	// printer's kind (typed pointer, or *unstructured.Unstructured). now is
	// the reference time for ages. An object of another type is an error.
	Cells func(obj runtime.Object, now time.Time) ([]any, error)
}

// registry holds the kind-specific printers, keyed by group and kind.
var registry = map[schema.GroupKind]Printer{}

func register(group, kind string, p Printer) {
	gk := schema.GroupKind{Group: group, Kind: kind}
	if _, dup := registry[gk]; dup {
		panic("printers: duplicate printer for " + gk.String())
	}
	registry[gk] = p
}

// Lookup returns the kind-specific printer for group and kind (group "" for
// the core group) and whether there is one. The caller owns the returned
// Columns.
func Lookup(group, kind string) (Printer, bool) {
	p, ok := registry[schema.GroupKind{Group: group, Kind: kind}]
	p.Columns = slices.Clone(p.Columns)
	return p, ok
}

// ForKind returns the printer for group and kind (group "" for the core
// group). A kind without a printer of its own gets Default().
func ForKind(group, kind string) Printer {
	if p, ok := Lookup(group, kind); ok {
		return p
	}
	return Default()
}

// Default returns the printer for kinds without one of their own: NAME and
// AGE, the columns kubectl itself falls back to.
func Default() Printer {
	return Printer{
		Columns: []metav1.TableColumnDefinition{nameColumn(), ageColumn()},
		Cells: func(obj runtime.Object, now time.Time) ([]any, error) {
			m, err := objectMeta(obj)
			if err != nil {
				return nil, err
			}
			return []any{m.GetName(), age(now, m.GetCreationTimestamp())}, nil
		},
	}
}

// createdAtPrinter mirrors kube-apiserver's default table convertor (NAME,
// CREATED AT), which Kubernetes uses for kinds such as Role and LimitRange.
func createdAtPrinter[T any]() Printer {
	return typed(
		[]metav1.TableColumnDefinition{
			nameColumn(),
			{Name: "Created At", Type: "date", Description: objectMetaDoc["creationTimestamp"]},
		},
		func(obj *T, _ time.Time) []any {
			m, _ := meta.Accessor(obj)
			return []any{m.GetName(), createdAt(m.GetCreationTimestamp())}
		},
	)
}

// objectMeta returns the object metadata of obj, or an error when obj has
// none (including a nil object).
func objectMeta(obj runtime.Object) (metav1.Object, error) {
	if isNil(obj) {
		return nil, fmt.Errorf("printers: nil object")
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("printers: cannot print %T: %w", obj, err)
	}
	return m, nil
}
