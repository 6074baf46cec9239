// Package builtin holds Kubernetes' built-in admission plugins as
// kube-apiserver runs them: NamespaceLifecycle, LimitRanger,
// DefaultTolerationSeconds and NodeRestriction. The plugins read the
// cluster through the small getter interfaces below, so the API server,
// gitsync and `cairn validate` can each supply their own view.
//
// Objects may arrive typed (*corev1.Pod, ...) or as
// *unstructured.Unstructured; mutations are written back in the form they
// came in.
package builtin

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cairn-dev/cairn/policies"
)

// NamespaceGetter reads one Namespace. It returns a NotFound
// *apierrors.StatusError when the namespace does not exist.
type NamespaceGetter interface {
	GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error)
}

// LimitRangeLister lists the LimitRanges of one namespace.
type LimitRangeLister interface {
	LimitRanges(ctx context.Context, namespace string) ([]*corev1.LimitRange, error)
}

// Mutating returns the mutating plugins in the order kube-apiserver runs
// them: NamespaceLifecycle, LimitRanger, DefaultTolerationSeconds.
func Mutating(ns NamespaceGetter, l LimitRangeLister) []policies.Mutating {
	return []policies.Mutating{
		NamespaceLifecycle(ns),
		LimitRanger(l),
		DefaultTolerationSeconds(),
	}
}

// ValidatingList returns the built-in validating plugins: NodeRestriction.
// The CEL ValidatingAdmissionPolicy engine is added by the caller.
func ValidatingList() []policies.Validating {
	return []policies.Validating{NodeRestriction()}
}

// forbidden is k8s.io/apiserver's admission.NewForbidden: a 403 naming the
// resource and the object (its name, else its generateName, else
// "Unknown"). An error that already is a Forbidden is returned unchanged.
func forbidden(a *policies.Attributes, err error) error {
	if apierrors.IsForbidden(err) {
		return err
	}
	return apierrors.NewForbidden(a.Resource.GroupResource(), objectName(a), err)
}

func objectName(a *policies.Attributes) string {
	if a.Name != "" {
		return a.Name
	}
	if a.Object == nil {
		return "Unknown"
	}
	m, err := meta.Accessor(a.Object)
	if err != nil {
		return "Unknown/errorGettingName"
	}
	if m.GetName() != "" {
		return m.GetName()
	}
	if m.GetGenerateName() != "" {
		return m.GetGenerateName()
	}
	return "Unknown"
}

// typed returns obj as *T: obj itself when it is one, or a converted copy
// when obj is unstructured. ok is false for nil and for other types.
func typed[T any, PT interface {
	*T
	runtime.Object
}](obj runtime.Object) (PT, bool) {
	switch o := obj.(type) {
	case PT:
		return o, o != nil
	case *unstructured.Unstructured:
		if o == nil {
			return nil, false
		}
		out := PT(new(T))
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
			return nil, false
		}
		return out, true
	}
	return nil, false
}

// writeBack stores a changed typed copy into orig when orig is
// unstructured; a typed orig was changed in place already.
func writeBack(orig runtime.Object, changed runtime.Object) error {
	u, ok := orig.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(changed)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("converting %T back: %w", changed, err))
	}
	u.Object = m
	return nil
}

// unexpectedType is the plugins' refusal of an object of the wrong type.
func unexpectedType(a *policies.Attributes, obj runtime.Object) error {
	return forbidden(a, fmt.Errorf("unexpected type %T", obj))
}
