package statefulset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// sync brings one StatefulSet toward its spec. It is level-triggered and
// safe to re-run.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	set, err := c.setLister.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || sel.Empty() {
		// Validation forbids it; nothing to do until the spec changes.
		c.log.Info("invalid selector", "statefulset", key, "err", err)
		return nil
	}
	canAdopt := &adoptCheck{c: c, set: set}
	revisions, err := c.claimRevisions(ctx, set, sel, canAdopt)
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, set, sel, canAdopt)
	if err != nil {
		return err
	}

	sortRevisions(revisions)
	rev, err := c.resolveRevisions(ctx, set, revisions)
	if err != nil {
		return err
	}
	claims, err := c.claims(set.Namespace)
	if err != nil {
		return err
	}
	pl := decide(set, rev, pods, claims, c.clock.Now())
	if len(pl.steps) > 0 {
		c.log.Debug("sync", "statefulset", key, "plan", pl.describe())
	}
	actErr := c.execute(ctx, set, rev.updateSet, pl)
	statusErr := c.writeStatus(ctx, set, pl.status)
	if err := errors.Join(actErr, statusErr); err != nil {
		return err
	}
	if set.Spec.MinReadySeconds > 0 && pl.status.AvailableReplicas != int32(replicasOf(set)) {
		c.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	return c.pruneHistory(ctx, set, pods, revisions, rev)
}

// adoptCheck is Kubernetes' canAdopt: before the first adoption of a
// sync, read the set past the cache and adopt only if it is the same
// object and not being deleted.
type adoptCheck struct {
	c       *Controller
	set     *appsv1.StatefulSet
	checked bool
	err     error
}

func (a *adoptCheck) ok(ctx context.Context) error {
	if a.checked {
		return a.err
	}
	a.checked = true
	if a.set.DeletionTimestamp != nil {
		a.err = fmt.Errorf("statefulset %s/%s is being deleted", a.set.Namespace, a.set.Name)
		return a.err
	}
	fresh, err := a.c.client.AppsV1().StatefulSets(a.set.Namespace).Get(ctx, a.set.Name, metav1.GetOptions{})
	switch {
	case err != nil:
		a.err = err
	case fresh.UID != a.set.UID:
		a.err = fmt.Errorf("statefulset %s/%s was recreated (uid %s, not %s)", a.set.Namespace, a.set.Name, fresh.UID, a.set.UID)
	case fresh.DeletionTimestamp != nil:
		a.err = fmt.Errorf("statefulset %s/%s is being deleted", a.set.Namespace, a.set.Name)
	}
	return a.err
}

// claimPods is Kubernetes' ClaimPods with the name filter: keep the pods
// the set controls that still match the selector and carry its name,
// release those that no longer do, adopt matching orphans.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector, canAdopt *adoptCheck) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	var errs []error
	for _, p := range all {
		match := sel.Matches(labels.Set(p.Labels)) && isMemberOf(set, p)
		ref := metav1.GetControllerOf(p)
		switch {
		case ref != nil && ref.UID == set.UID:
			if match {
				out = append(out, p)
				continue
			}
			if set.DeletionTimestamp != nil {
				continue
			}
			if err := c.patchOwners(ctx, "pods", p.Namespace, p.Name, p.UID, p.ResourceVersion, without(p.OwnerReferences, set.UID)); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("releasing pod %s: %w", p.Name, err))
			}
		case ref != nil, !match, p.DeletionTimestamp != nil:
		default:
			if err := canAdopt.ok(ctx); err != nil {
				continue
			}
			refs := append(append([]metav1.OwnerReference(nil), p.OwnerReferences...), *metav1.NewControllerRef(set, setKind))
			if err := c.patchOwners(ctx, "pods", p.Namespace, p.Name, p.UID, p.ResourceVersion, refs); err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("adopting pod %s: %w", p.Name, err))
				}
				continue
			}
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

// claimRevisions lists the set's ControllerRevisions: those it controls
// and matching orphans, which it adopts (Kubernetes'
// adoptOrphanRevisions and ListControllerRevisions).
func (c *Controller) claimRevisions(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector, canAdopt *adoptCheck) ([]*appsv1.ControllerRevision, error) {
	all, err := c.revLister.ControllerRevisions(set.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ControllerRevision
	for _, r := range all {
		ref := metav1.GetControllerOf(r)
		switch {
		case ref != nil && ref.UID == set.UID:
			out = append(out, r)
		case ref == nil:
			if err := canAdopt.ok(ctx); err != nil {
				continue
			}
			refs := append(append([]metav1.OwnerReference(nil), r.OwnerReferences...), *metav1.NewControllerRef(set, setKind))
			if err := c.patchOwners(ctx, "controllerrevisions", r.Namespace, r.Name, r.UID, r.ResourceVersion, refs); err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("adopting revision %s: %w", r.Name, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func without(refs []metav1.OwnerReference, uid types.UID) []metav1.OwnerReference {
	out := []metav1.OwnerReference{}
	for _, r := range refs {
		if r.UID != uid {
			out = append(out, r)
		}
	}
	return out
}

// patchOwners replaces an object's ownerReferences, conditional on the
// UID and resourceVersion the decision was made on.
func (c *Controller) patchOwners(ctx context.Context, resource, ns, name string, uid types.UID, rv string, refs []metav1.OwnerReference) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": refs, "uid": uid, "resourceVersion": rv,
	}})
	if err != nil {
		return err
	}
	switch resource {
	case "pods":
		_, err = c.client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	default:
		_, err = c.client.AppsV1().ControllerRevisions(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	return err
}

// resolveRevisions is Kubernetes' getStatefulSetRevisions: the update
// revision is the set's template, reusing the latest revision when it
// is equal, renumbering an older equal one (a rollback), or creating a
// new one; the current revision is status.currentRevision, or the
// update revision for a new set.
func (c *Controller) resolveRevisions(ctx context.Context, set *appsv1.StatefulSet, sorted []*appsv1.ControllerRevision) (revisionState, error) {
	var rs revisionState
	if set.Status.CollisionCount != nil {
		rs.collisionCount = *set.Status.CollisionCount
	}
	update, err := newRevision(set, nextRevision(sorted), &rs.collisionCount)
	if err != nil {
		return rs, err
	}
	var equal []*appsv1.ControllerRevision
	for _, r := range sorted {
		if equalRevision(r, update) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equalRevision(sorted[len(sorted)-1], equal[len(equal)-1]):
		update = sorted[len(sorted)-1]
	case len(equal) > 0:
		update, err = c.renumberRevision(ctx, equal[len(equal)-1], update.Revision)
	default:
		update, err = c.createRevision(ctx, set, update, &rs.collisionCount)
	}
	if err != nil {
		return rs, err
	}
	rs.update = update
	for _, r := range sorted {
		if r.Name == set.Status.CurrentRevision {
			rs.current = r
			break
		}
	}
	if rs.current == nil {
		rs.current = update
	}
	if rs.currentSet, err = applyRevision(set, rs.current); err != nil {
		return rs, err
	}
	if rs.updateSet, err = applyRevision(set, rs.update); err != nil {
		return rs, err
	}
	return rs, nil
}

// createRevision creates the revision; when a different revision holds
// its name it counts the collision up and tries the next hash, as
// Kubernetes' CreateControllerRevision.
func (c *Controller) createRevision(ctx context.Context, set *appsv1.StatefulSet, cr *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	clone := cr.DeepCopy()
	for {
		hash := hashRevision(cr, collisionCount)
		clone.Name = revisionName(set.Name, hash)
		clone.Labels[RevisionHashLabel] = hash
		created, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Create(ctx, clone, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return created, err
		}
		exists, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Get(ctx, clone.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if string(exists.Data.Raw) == string(clone.Data.Raw) {
			return exists, nil
		}
		*collisionCount++
	}
}

// renumberRevision makes an older revision the newest (a rollback).
func (c *Controller) renumberRevision(ctx context.Context, cr *appsv1.ControllerRevision, revision int64) (*appsv1.ControllerRevision, error) {
	clone := cr.DeepCopy()
	var out *appsv1.ControllerRevision
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if clone.Revision == revision {
			out = clone
			return nil
		}
		clone.Revision = revision
		updated, err := c.client.AppsV1().ControllerRevisions(clone.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
		if err == nil {
			out = updated
			return nil
		}
		if fresh, gerr := c.client.AppsV1().ControllerRevisions(clone.Namespace).Get(ctx, clone.Name, metav1.GetOptions{}); gerr == nil {
			clone = fresh
		}
		return err
	})
	return out, err
}

// pruneHistory deletes the revisions beyond revisionHistoryLimit.
func (c *Controller) pruneHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, sorted []*appsv1.ControllerRevision, rev revisionState) error {
	for _, r := range revisionsToPrune(set, pods, sorted, rev.current.Name, rev.update.Name) {
		err := c.client.AppsV1().ControllerRevisions(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// writeStatus writes the status through the status subresource when it
// changed, retrying conflicts on the latest set.
func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, next appsv1.StatefulSetStatus) error {
	if apiequality.Semantic.DeepEqual(set.Status, next) {
		return nil
	}
	set = set.DeepCopy()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		set.Status = next
		_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, set, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if fresh, gerr := c.setLister.StatefulSets(set.Namespace).Get(set.Name); gerr == nil {
			set = fresh.DeepCopy()
		}
		return err
	})
}

// claims are the namespace's claims by name, as the cache shows them.
func (c *Controller) claims(ns string) (map[string]*corev1.PersistentVolumeClaim, error) {
	all, err := c.pvcLister.PersistentVolumeClaims(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make(map[string]*corev1.PersistentVolumeClaim, len(all))
	for _, pvc := range all {
		out[pvc.Name] = pvc
	}
	return out, nil
}
