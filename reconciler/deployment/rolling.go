package deployment

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
)

// rolloutRolling is Kubernetes' rolloutRolling: scale the new
// ReplicaSet up within maxSurge, else scale old ones down within
// maxUnavailable, else (once complete) clean up history; then write the
// status.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.replicaSets(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := withNew(old, newRS)
	scaledUp, err := c.reconcileNewReplicaSet(ctx, all, newRS, d)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, all, activeReplicaSets(old), newRS, d)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// newReplicaSetSize is where reconcileNewReplicaSet takes the new
// ReplicaSet: down to the desired count if above it, else up as far as
// maxSurge allows.
func newReplicaSetSize(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, error) {
	if rsReplicas(newRS) >= replicasOf(d) {
		return replicasOf(d), nil
	}
	return newRSNewReplicas(d, all, newRS)
}

func (c *Controller) reconcileNewReplicaSet(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	size, err := newReplicaSetSize(d, all, newRS)
	if err != nil {
		return false, err
	}
	scaled, _, err := c.scaleAndRecord(ctx, newRS, size, d)
	return scaled, err
}

// maxScaledDown is how many old replicas may go now without the
// Deployment dropping under replicas - maxUnavailable, counting the new
// ReplicaSet's unavailable replicas as missing ones.
func maxScaledDown(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	minAvailable := replicasOf(d) - MaxUnavailable(d)
	newUnavailable := rsReplicas(newRS) - newRS.Status.AvailableReplicas
	return specReplicas(all) - minAvailable - newUnavailable
}

// reconcileOldReplicaSets scales old ReplicaSets down: first their
// unhealthy replicas, which cost no availability, then available ones
// down to replicas - maxUnavailable.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, all, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if specReplicas(old) == 0 {
		return false, nil
	}
	limit := maxScaledDown(d, all, newRS)
	if limit <= 0 {
		return false, nil
	}
	old, cleaned, err := c.cleanupUnhealthyReplicas(ctx, old, d, limit)
	if err != nil {
		return false, err
	}
	scaled, err := c.scaleDownOldForRollingUpdate(ctx, withNew(old, newRS), old, d)
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

// unhealthyCleanup plans cleanupUnhealthyReplicas: oldest first, each
// old ReplicaSet loses its unavailable replicas, maxCleanup in all.
func unhealthyCleanup(old []*appsv1.ReplicaSet, maxCleanup int32) []scaleTarget {
	sort.Sort(byCreation(old))
	var out []scaleTarget
	total := int32(0)
	for _, rs := range old {
		if total >= maxCleanup {
			break
		}
		if rsReplicas(rs) == 0 || rsReplicas(rs) == rs.Status.AvailableReplicas {
			continue
		}
		n := min(maxCleanup-total, rsReplicas(rs)-rs.Status.AvailableReplicas)
		out = append(out, scaleTarget{rs: rs, size: rsReplicas(rs) - n})
		total += n
	}
	return out
}

func (c *Controller) cleanupUnhealthyReplicas(ctx context.Context, old []*appsv1.ReplicaSet, d *appsv1.Deployment, maxCleanup int32) ([]*appsv1.ReplicaSet, int32, error) {
	old = append([]*appsv1.ReplicaSet(nil), old...)
	plan := unhealthyCleanup(old, maxCleanup)
	total := int32(0)
	for _, t := range plan {
		if t.size > rsReplicas(t.rs) {
			return nil, 0, fmt.Errorf("when cleaning up unhealthy replicas, got invalid request to scale down %s/%s %d -> %d",
				t.rs.Namespace, t.rs.Name, rsReplicas(t.rs), t.size)
		}
		_, updated, err := c.scaleAndRecord(ctx, t.rs, t.size, d)
		if err != nil {
			return nil, total, err
		}
		total += rsReplicas(t.rs) - t.size
		for i := range old {
			if old[i].UID == t.rs.UID {
				old[i] = updated
			}
		}
	}
	return old, total, nil
}

// rollingScaleDown plans scaleDownOldReplicaSetsForRollingUpdate: oldest
// first, old ReplicaSets give up the available replicas above
// replicas - maxUnavailable.
func rollingScaleDown(d *appsv1.Deployment, all, old []*appsv1.ReplicaSet) []scaleTarget {
	minAvailable := replicasOf(d) - MaxUnavailable(d)
	available := availableReplicas(all)
	if available <= minAvailable {
		return nil
	}
	old = append([]*appsv1.ReplicaSet(nil), old...)
	sort.Sort(byCreation(old))
	want := available - minAvailable
	total := int32(0)
	var out []scaleTarget
	for _, rs := range old {
		if total >= want {
			break
		}
		if rsReplicas(rs) == 0 {
			continue
		}
		n := min(rsReplicas(rs), want-total)
		out = append(out, scaleTarget{rs: rs, size: rsReplicas(rs) - n})
		total += n
	}
	return out
}

func (c *Controller) scaleDownOldForRollingUpdate(ctx context.Context, all, old []*appsv1.ReplicaSet, d *appsv1.Deployment) (int32, error) {
	total := int32(0)
	for _, t := range rollingScaleDown(d, all, old) {
		if _, _, err := c.scaleAndRecord(ctx, t.rs, t.size, d); err != nil {
			return total, err
		}
		total += rsReplicas(t.rs) - t.size
	}
	return total, nil
}
