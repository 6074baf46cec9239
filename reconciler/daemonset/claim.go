package daemonset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// claimer is Kubernetes' BaseControllerRefManager for one DaemonSet: it
// keeps the objects the DaemonSet controls and that still match its
// selector, releases those that no longer match and adopts matching
// orphans, after checking once, past the cache, that the DaemonSet is
// still there and not being deleted.
type claimer struct {
	c        *Controller
	ds       *appsv1.DaemonSet
	sel      labels.Selector
	checked  bool
	canAdopt bool
}

func newClaimer(c *Controller, ds *appsv1.DaemonSet, sel labels.Selector) *claimer {
	return &claimer{c: c, ds: ds, sel: sel, canAdopt: ds.DeletionTimestamp == nil}
}

// patchFunc merge-patches one object of the namespace.
type patchFunc func(ctx context.Context, name string, patch []byte) error

// claim sorts objs into the DaemonSet's and the rest, adopting and
// releasing through patch; it returns what it claimed and every error.
func claim[T metav1.Object](ctx context.Context, cl *claimer, objs []T, patch patchFunc) ([]T, error) {
	var out []T
	var errs []error
	for _, o := range objs {
		match := cl.sel.Matches(labels.Set(o.GetLabels()))
		ref := metav1.GetControllerOfNoCopy(o)
		switch {
		case ref != nil && ref.UID == cl.ds.UID:
			if match {
				out = append(out, o)
				continue
			}
			if cl.ds.DeletionTimestamp != nil {
				continue
			}
			if err := cl.release(ctx, o, patch); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		case ref != nil, !match, o.GetDeletionTimestamp() != nil:
		default:
			if !cl.mayAdopt(ctx) {
				continue
			}
			if err := cl.adopt(ctx, o, patch); err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
				continue
			}
			out = append(out, o)
		}
	}
	return out, errors.Join(errs...)
}

func (cl *claimer) mayAdopt(ctx context.Context) bool {
	if !cl.canAdopt || cl.checked {
		return cl.canAdopt
	}
	cl.checked = true
	fresh, err := cl.c.client.AppsV1().DaemonSets(cl.ds.Namespace).Get(ctx, cl.ds.Name, metav1.GetOptions{})
	if err != nil || fresh.UID != cl.ds.UID || fresh.DeletionTimestamp != nil {
		cl.canAdopt = false
	}
	return cl.canAdopt
}

func (cl *claimer) adopt(ctx context.Context, o metav1.Object, patch patchFunc) error {
	refs := append(append([]metav1.OwnerReference(nil), o.GetOwnerReferences()...), *metav1.NewControllerRef(cl.ds, dsKind))
	if err := patchOwners(ctx, o, refs, patch); err != nil {
		return fmt.Errorf("adopting %s: %w", o.GetName(), err)
	}
	return nil
}

func (cl *claimer) release(ctx context.Context, o metav1.Object, patch patchFunc) error {
	var refs []metav1.OwnerReference
	for _, r := range o.GetOwnerReferences() {
		if r.UID != cl.ds.UID {
			refs = append(refs, r)
		}
	}
	if err := patchOwners(ctx, o, refs, patch); err != nil {
		return fmt.Errorf("releasing %s: %w", o.GetName(), err)
	}
	return nil
}

// patchOwners replaces ownerReferences, conditional on the object's uid
// and resourceVersion the decision was made on.
func patchOwners(ctx context.Context, o metav1.Object, refs []metav1.OwnerReference, patch patchFunc) error {
	if refs == nil {
		refs = []metav1.OwnerReference{}
	}
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": refs, "uid": o.GetUID(), "resourceVersion": o.GetResourceVersion(),
	}})
	if err != nil {
		return err
	}
	return patch(ctx, o.GetName(), data)
}

func (c *Controller) patchPod(ns string) patchFunc {
	return func(ctx context.Context, name string, data []byte) error {
		_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, data, metav1.PatchOptions{})
		return err
	}
}

func (c *Controller) patchRevision(ns string) patchFunc {
	return func(ctx context.Context, name string, data []byte) error {
		_, err := c.client.AppsV1().ControllerRevisions(ns).Patch(ctx, name, types.MergePatchType, data, metav1.PatchOptions{})
		return err
	}
}
