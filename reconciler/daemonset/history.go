package daemonset

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/rand"
)

// computeHash is controller.ComputeHash: the FNV-32a of the template's
// deep dump, salted with the collision count, safe-encoded. Pods carry it
// in controller-revision-hash; the revision is named <ds>-<hash>.
func computeHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*t))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// revisionData is getPatch: the strategic merge patch that restores the
// DaemonSet's template, which is what a revision stores and what a
// revision is compared by.
func revisionData(ds *appsv1.DaemonSet) ([]byte, error) {
	b, err := json.Marshal(ds)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	spec, _ := raw["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	if tmpl == nil {
		tmpl = map[string]any{}
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// revisionMatches is Match: the revision stores the DaemonSet's current
// template.
func revisionMatches(ds *appsv1.DaemonSet, rev *appsv1.ControllerRevision) bool {
	data, err := revisionData(ds)
	return err == nil && bytes.Equal(data, rev.Data.Raw)
}

// splitRevisions separates the revision of the current template (those,
// duplicates included) from the old ones; next is the revision number the
// current one must carry, one above every old one.
func splitRevisions(ds *appsv1.DaemonSet, revs []*appsv1.ControllerRevision) (cur, old []*appsv1.ControllerRevision, next int64) {
	var maxOld int64
	for _, r := range revs {
		if revisionMatches(ds, r) {
			cur = append(cur, r)
			continue
		}
		old = append(old, r)
		maxOld = max(maxOld, r.Revision)
	}
	return cur, old, maxOld + 1
}

// revisionsToDelete is cleanupHistory's choice: the oldest old revisions
// beyond revisionHistoryLimit, skipping those a live pod still carries.
func revisionsToDelete(ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision, pods []*corev1.Pod) []*appsv1.ControllerRevision {
	limit := int32(10)
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = *ds.Spec.RevisionHistoryLimit
	}
	toKill := len(old) - int(limit)
	if toKill <= 0 {
		return nil
	}
	live := map[string]bool{}
	for _, p := range pods {
		if h := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
			live[h] = true
		}
	}
	sorted := append([]*appsv1.ControllerRevision(nil), old...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Revision != sorted[j].Revision {
			return sorted[i].Revision < sorted[j].Revision
		}
		return sorted[i].Name < sorted[j].Name
	})
	var out []*appsv1.ControllerRevision
	for _, r := range sorted {
		if toKill <= 0 {
			break
		}
		if live[r.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			continue
		}
		out = append(out, r)
		toKill--
	}
	return out
}

// constructHistory is Kubernetes' constructHistory: it labels revisions
// that lack the hash label, finds (or snapshots) the revision of the
// current template, dedups it, and bumps its number above the old ones.
func (c *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet, revs []*appsv1.ControllerRevision, pods []*corev1.Pod) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, err error) {
	api := c.client.AppsV1().ControllerRevisions(ds.Namespace)
	labelled := make([]*appsv1.ControllerRevision, 0, len(revs))
	for _, r := range revs {
		if _, ok := r.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; !ok {
			// The name stands in for the hash: no collision to worry about.
			u := r.DeepCopy()
			if u.Labels == nil {
				u.Labels = map[string]string{}
			}
			u.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = u.Name
			if r, err = api.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
				return nil, nil, err
			}
		}
		labelled = append(labelled, r)
	}
	current, old, next := splitRevisions(ds, labelled)
	if len(current) == 0 {
		cur, err = c.snapshot(ctx, ds, next)
		return cur, old, err
	}
	if cur, err = c.dedupRevisions(ctx, ds, current, pods); err != nil {
		return nil, nil, err
	}
	if cur.Revision < next {
		u := cur.DeepCopy()
		u.Revision = next
		if cur, err = api.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
			return nil, nil, err
		}
	}
	return cur, old, nil
}

// snapshot creates the revision of the current template. A name taken by
// another template is a hash collision: collisionCount is bumped so that
// the next sync hashes differently, as Kubernetes does.
func (c *Controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, revision int64) (*appsv1.ControllerRevision, error) {
	data, err := revisionData(ds)
	if err != nil {
		return nil, err
	}
	hash := computeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := map[string]string{}
	for k, v := range ds.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ds.Name + "-" + hash,
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     ds.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, dsKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
	api := c.client.AppsV1().ControllerRevisions(ds.Namespace)
	created, createErr := api.Create(ctx, rev, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(createErr) {
		return created, createErr
	}
	existing, err := api.Get(ctx, rev.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if revisionMatches(ds, existing) {
		return existing, nil
	}
	dsAPI := c.client.AppsV1().DaemonSets(ds.Namespace)
	fresh, err := dsAPI.Get(ctx, ds.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if !equalCount(fresh.Status.CollisionCount, ds.Status.CollisionCount) {
		return nil, fmt.Errorf("found a stale collision count (%v, expected %v) of DaemonSet %q while processing; will retry until it is updated",
			countString(ds.Status.CollisionCount), countString(fresh.Status.CollisionCount), ds.Name)
	}
	if fresh.Status.CollisionCount == nil {
		fresh.Status.CollisionCount = new(int32)
	}
	*fresh.Status.CollisionCount++
	if _, err := dsAPI.UpdateStatus(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	c.log.Info("hash collision; collisionCount bumped", "daemonset", dsKey(ds), "collisionCount", *fresh.Status.CollisionCount)
	return nil, createErr
}

func equalCount(a, b *int32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func countString(n *int32) string {
	if n == nil {
		return "nil"
	}
	return fmt.Sprint(*n)
}

// dedupRevisions keeps the highest-numbered of several revisions of the
// current template, relabels the pods to its hash and deletes the rest.
func (c *Controller) dedupRevisions(ctx context.Context, ds *appsv1.DaemonSet, revs []*appsv1.ControllerRevision, pods []*corev1.Pod) (*appsv1.ControllerRevision, error) {
	if len(revs) == 1 {
		return revs[0], nil
	}
	var keep *appsv1.ControllerRevision
	for _, r := range revs {
		if keep == nil || r.Revision >= keep.Revision {
			keep = r
		}
	}
	hash := keep.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	for _, r := range revs {
		if r.Name == keep.Name {
			continue
		}
		for _, p := range pods {
			if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
				continue
			}
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{
				appsv1.DefaultDaemonSetUniqueLabelKey: hash,
			}}})
			if err != nil {
				return nil, err
			}
			if _, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return nil, err
			}
		}
		if err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return keep, nil
}

// cleanupHistory deletes the old revisions beyond the history limit.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision, pods []*corev1.Pod) error {
	for _, r := range revisionsToDelete(ds, old, pods) {
		if err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
