package deployment

import (
	"context"
	"math"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// isScalingEvent: an active ReplicaSet was sized for a different
// replicas count than the Deployment now asks for, so this sync only
// scales, without rolling forward.
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, old, err := c.replicaSets(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range activeReplicaSets(withNew(old, newRS)) {
		desired, ok := intAnnotation(rs, DesiredReplicasAnnotation)
		if ok && desired != replicasOf(d) {
			return true, nil
		}
	}
	return false, nil
}

// scaleOnly is Kubernetes' sync: scale for a paused Deployment or a
// scaling event, clean up history while paused, write the status.
func (c *Controller) scaleOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.replicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, old); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncDeploymentStatus(ctx, d, withNew(old, newRS), newRS)
}

// scaleTarget is one ReplicaSet's new size; proportional scaling also
// rewrites the replicas annotations of ReplicaSets whose size stays.
type scaleTarget struct {
	rs           *appsv1.ReplicaSet
	size         int32
	proportional bool
}

// scalePlan is Kubernetes' scale decision, without the writes: one
// active (or else the newest) ReplicaSet takes all the replicas; with a
// saturated new ReplicaSet the old ones go to zero; otherwise a rolling
// Deployment spreads the change over the active ReplicaSets in
// proportion to their sizes, the leftover to the largest.
func scalePlan(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []scaleTarget {
	if rs := findActiveOrLatest(newRS, old); rs != nil {
		if rsReplicas(rs) == replicasOf(d) {
			return nil
		}
		return []scaleTarget{{rs: rs, size: replicasOf(d)}}
	}
	if isSaturated(d, newRS) {
		var out []scaleTarget
		for _, rs := range activeReplicaSets(old) {
			out = append(out, scaleTarget{rs: rs})
		}
		return out
	}
	if !isRollingUpdate(d) {
		return nil
	}
	all := activeReplicaSets(withNew(old, newRS))
	allowed := int32(0)
	if replicasOf(d) > 0 {
		allowed = replicasOf(d) + MaxSurge(d)
	}
	toAdd := allowed - specReplicas(all)
	switch {
	case toAdd > 0:
		sort.Sort(bySizeNewer(all))
	case toAdd < 0:
		sort.Sort(bySizeOlder(all))
	}
	added := int32(0)
	sizes := make([]int32, len(all))
	for i, rs := range all {
		sizes[i] = rsReplicas(rs)
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	out := make([]scaleTarget, len(all))
	for i, rs := range all {
		if i == 0 && toAdd != 0 {
			sizes[i] = max(sizes[i]+toAdd-added, 0)
		}
		out[i] = scaleTarget{rs: rs, size: sizes[i], proportional: true}
	}
	return out
}

// proportion is Kubernetes' GetProportion: the replicas rs gains (or,
// negative, loses) of toAdd, capped by what is left of it.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || rsReplicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := rsFraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

// rsFraction is how much rs would grow or shrink were it scaled from the
// Deployment's size when last annotated (max-replicas) to its size now,
// rounded half away from zero.
func rsFraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	if replicasOf(d) == 0 {
		return -rsReplicas(rs)
	}
	maxNow := replicasOf(d) + MaxSurge(d)
	maxBefore, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok || maxBefore == 0 {
		// Someone removed the annotation: fall back to the current size.
		maxBefore = d.Status.Replicas
		if maxBefore == 0 {
			return 0
		}
	}
	size := float64(rsReplicas(rs)*maxNow) / float64(maxBefore)
	return int32(math.Round(size)) - rsReplicas(rs)
}

// scale applies scalePlan.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	for _, t := range scalePlan(d, newRS, old) {
		scale := c.scaleAndRecord
		if t.proportional {
			scale = c.scaleReplicaSet
		}
		if _, _, err := scale(ctx, t.rs, t.size, d); err != nil {
			return err
		}
	}
	return nil
}

// scaleAndRecord scales rs unless it already has size replicas.
func (c *Controller) scaleAndRecord(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	if rsReplicas(rs) == size {
		return false, rs, nil
	}
	return c.scaleReplicaSet(ctx, rs, size, d)
}

// scaleReplicaSet sets rs's replicas and replicas annotations, recording
// a ScalingReplicaSet event when the size changed. It returns whether it
// did, and the ReplicaSet as it now is.
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	oldSize := rsReplicas(rs)
	sizeChanged := oldSize != size
	maxReplicas := replicasOf(d) + MaxSurge(d)
	if !sizeChanged && !replicasAnnotationsNeedUpdate(rs, replicasOf(d), maxReplicas) {
		return false, rs, nil
	}
	cp := rs.DeepCopy()
	cp.Spec.Replicas = &size
	setReplicasAnnotations(cp, replicasOf(d), maxReplicas)
	out, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, err
	}
	if !sizeChanged {
		return false, out, nil
	}
	op := "up"
	if size < oldSize {
		op = "down"
	}
	c.recorder.Eventf(d, corev1.EventTypeNormal, ScalingReplicaSet, "Scaled %s replica set %s from %d to %d", op, out.Name, oldSize, size)
	return true, out, nil
}
