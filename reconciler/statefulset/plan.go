package statefulset

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// actionKind is what one step of a sync does to one pod.
type actionKind int

const (
	// actCreate creates the pod's missing claims, then the pod.
	actCreate actionKind = iota
	// actDelete deletes the pod.
	actDelete
	// actUpdate restores the pod's identity and storage.
	actUpdate
	// actClaims creates the missing claims of a pending pod.
	actClaims
	// actClaimOwners sets the owners of the pod's claims as the retention
	// policy wants.
	actClaimOwners
)

func (k actionKind) String() string {
	return [...]string{"create", "delete", "update", "claims", "claim-owners"}[k]
}

// action is one change to one pod.
type action struct {
	kind actionKind
	pod  *corev1.Pod
	// why a pod is deleted: "failed", "scale down" or "update"; for logs.
	why string
}

func (a action) String() string { return a.kind.String() + " " + a.pod.Name }

// plan is what one sync does: steps run in order, the actions of one
// step in parallel; a step that fails ends the sync, so that a later step
// never runs on a broken assumption (the set's invariant, one pod at a
// time, holds even when the API refuses). status is the status to write.
type plan struct {
	steps  [][]action
	status appsv1.StatefulSetStatus
}

// revisionState is the set at its current and update revisions.
type revisionState struct {
	current, update       *appsv1.ControllerRevision
	currentSet, updateSet *appsv1.StatefulSet
	collisionCount        int32
}

// decide is Kubernetes' updateStatefulSet without its side effects: given
// the set, its revisions and its claimed pods, which pods to create,
// delete or repair next, and the resulting status.
//
// Pods in [start, start+replicas) are replicas, those beyond condemned.
// Under OrderedReady ("monotonic") the replicas are visited in ordinal
// order and the first one missing, failed, terminating or not yet
// running, ready and available ends the sync after its own action; the
// condemned are deleted from the highest ordinal down, one per sync, and
// only when all replicas are healthy (or the condemned pod is the first
// unhealthy one). Under Parallel every replica and every condemned pod
// is acted on at once. A rolling update then deletes pods at an old
// revision from the highest ordinal down to the partition, as many as
// maxUnavailable allows minus the pods already unhealthy; their
// replacements are created at the update revision by a later sync.
//
// claims are the namespace's PersistentVolumeClaims by name, for the
// retention policy's owner references.
func decide(set *appsv1.StatefulSet, rev revisionState, pods []*corev1.Pod, claims map[string]*corev1.PersistentVolumeClaim, now time.Time) (pl plan) {
	start, n := startOrdinal(set), max(replicasOf(set), 0)
	replicas := make([]*corev1.Pod, n)
	var condemned []*corev1.Pod
	for _, p := range pods {
		switch o := ordinalOf(p); {
		case inOrdinalRange(set, p):
			replicas[o-start] = p
		case o >= 0:
			condemned = append(condemned, p)
		}
	}
	for i := range replicas {
		if replicas[i] == nil {
			replicas[i] = newVersionedPod(rev.currentSet, rev.updateSet, rev.current.Name, rev.update.Name, start+i)
		}
	}
	sort.SliceStable(condemned, func(i, j int) bool { return ordinalOf(condemned[i]) > ordinalOf(condemned[j]) })

	var firstUnhealthy *corev1.Pod
	for _, p := range replicas {
		if !isHealthy(p) {
			firstUnhealthy = p
			break
		}
	}
	if firstUnhealthy == nil {
		for i := len(condemned) - 1; i >= 0; i-- {
			if !isHealthy(condemned[i]) {
				firstUnhealthy = condemned[i]
				break
			}
		}
	}

	pl.status = computeStatus(set, rev, now, replicas, condemned)
	// Whatever the sync does, the status it writes is final only then.
	defer func() { finishRollingUpdate(set, &pl.status) }()
	if set.DeletionTimestamp != nil {
		return pl
	}
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	minReady := set.Spec.MinReadySeconds

	// runAll is Kubernetes' runForAll: in order until the first item that
	// blocks, or all items as one parallel step.
	runAll := func(items []*corev1.Pod, fn func(*corev1.Pod) ([]action, bool)) bool {
		var step []action
		for _, p := range items {
			acts, stop := fn(p)
			for _, a := range acts {
				step = append(step, a)
				if monotonic {
					pl.steps = append(pl.steps, step)
					step = nil
				}
			}
			if stop && monotonic {
				return true
			}
		}
		if len(step) > 0 {
			pl.steps = append(pl.steps, step)
		}
		return false
	}

	replica := func(p *corev1.Pod) ([]action, bool) {
		if isFailed(p) || isSucceeded(p) {
			// Whatever the exit code, the pod is replaced once it is gone.
			if !isTerminating(p) {
				return []action{{kind: actDelete, pod: p, why: "failed"}}, true
			}
			return nil, true
		}
		if !isCreated(p) {
			if claimIsStale(set, p, claims) {
				return nil, true
			}
			return []action{{kind: actCreate, pod: p}}, true
		}
		var acts []action
		if isPending(p) && len(set.Spec.VolumeClaimTemplates) > 0 {
			acts = append(acts, action{kind: actClaims, pod: p})
		}
		if monotonic && (isTerminating(p) || !isRunningAndReady(p) || !isRunningAndAvailable(p, minReady, now)) {
			return acts, true
		}
		if !identityMatches(set, p) || !storageMatches(set, p) {
			acts = append(acts, action{kind: actUpdate, pod: p})
		}
		if !claimsMatchPolicy(set, p, claims) {
			acts = append(acts, action{kind: actClaimOwners, pod: p})
		}
		return acts, false
	}
	if runAll(replicas, replica) {
		return pl
	}

	// A condemned pod's claims get their owners before the pod goes, so
	// that whenScaled=Delete collects them with it.
	fixClaims := func(p *corev1.Pod) ([]action, bool) {
		if claimsMatchPolicy(set, p, claims) {
			return nil, false
		}
		return []action{{kind: actClaimOwners, pod: p}}, false
	}
	if runAll(condemned, fixClaims) {
		return pl
	}

	condemn := func(p *corev1.Pod) ([]action, bool) {
		if isTerminating(p) {
			return nil, true
		}
		if p != firstUnhealthy && (!isRunningAndReady(p) || !isRunningAndAvailable(p, minReady, now)) && monotonic {
			return nil, true
		}
		return []action{{kind: actDelete, pod: p, why: "scale down"}}, true
	}
	if runAll(condemned, condemn) {
		return pl
	}

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return pl
	}
	budget := maxUnavailable(set, n)
	for _, p := range replicas {
		if !isHealthy(p) {
			budget--
		}
	}
	for target := len(replicas) - 1; target >= partition(set) && budget > 0; target-- {
		p := replicas[target]
		if isCreated(p) && podRevision(p) != rev.update.Name && !isTerminating(p) {
			pl.steps = append(pl.steps, []action{{kind: actDelete, pod: p, why: "update"}})
			pl.status.CurrentReplicas--
			budget--
		}
	}
	return pl
}

// maxUnavailable is rollingUpdate.maxUnavailable scaled to the replicas,
// rounded down, at least 1.
func maxUnavailable(set *appsv1.StatefulSet, replicas int) int {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil {
		return 1
	}
	v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, replicas, false)
	if err != nil || v < 1 {
		return 1
	}
	return v
}

// computeStatus counts the pods as Kubernetes' updateStatus: created,
// running and ready, available, and at the current or update revision
// (not counting terminating pods for the revisions).
func computeStatus(set *appsv1.StatefulSet, rev revisionState, now time.Time, lists ...[]*corev1.Pod) appsv1.StatefulSetStatus {
	cc := rev.collisionCount
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    rev.current.Name,
		UpdateRevision:     rev.update.Name,
		CollisionCount:     &cc,
	}
	// The controller does not own the conditions; keep them.
	for _, c := range set.Status.Conditions {
		st.Conditions = append(st.Conditions, *c.DeepCopy())
	}
	for _, l := range lists {
		for _, p := range l {
			if isCreated(p) {
				st.Replicas++
			}
			if isRunningAndReady(p) {
				st.ReadyReplicas++
				if isRunningAndAvailable(p, set.Spec.MinReadySeconds, now) {
					st.AvailableReplicas++
				}
			}
			if isCreated(p) && !isTerminating(p) {
				if podRevision(p) == rev.current.Name {
					st.CurrentReplicas++
				}
				if podRevision(p) == rev.update.Name {
					st.UpdatedReplicas++
				}
			}
		}
	}
	return st
}

// finishRollingUpdate makes the update revision current once every pod
// runs it and is ready, as Kubernetes' completeRollingUpdate.
func finishRollingUpdate(set *appsv1.StatefulSet, st *appsv1.StatefulSetStatus) {
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
}

// describe lists a plan's steps for logs and tests: "create web-0;
// delete web-2,delete web-1".
func (p plan) describe() string {
	s := ""
	for i, step := range p.steps {
		if i > 0 {
			s += "; "
		}
		for j, a := range step {
			if j > 0 {
				s += ","
			}
			s += fmt.Sprint(a)
		}
	}
	return s
}
