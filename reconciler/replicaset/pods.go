package replicaset

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// isActive: counted toward replicas; not terminal and not being deleted,
// as Kubernetes' controller.IsPodActive.
func isActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func isReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// isAvailable: ready for at least minReadySeconds, as podutil.IsPodAvailable.
func isAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	d := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && !c.LastTransitionTime.Add(d).After(now)
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n = max(n, s.RestartCount)
	}
	return n
}

var phaseRank = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// rankedPods sorts pods so that the ones to delete first come first, in
// the order of Kubernetes' ActivePodsWithRanks:
//  1. unassigned < assigned (spec.nodeName empty first);
//  2. Pending < Unknown < Running;
//  3. not ready < ready;
//  4. more of this ReplicaSet's pods on the same node first (doubled up);
//  5. ready for less time first;
//  6. more container restarts first;
//  7. newer (later creationTimestamp) first.
//
// Kubernetes compares readiness times and ranks on a logarithmic scale
// (LogarithmicScaleDown) and counts related pods of sibling ReplicaSets;
// this compares exact times and counts this ReplicaSet's pods only.
type rankedPods struct {
	pods  []*corev1.Pod
	ranks []int
}

func (r rankedPods) Len() int { return len(r.pods) }
func (r rankedPods) Swap(i, j int) {
	r.pods[i], r.pods[j] = r.pods[j], r.pods[i]
	r.ranks[i], r.ranks[j] = r.ranks[j], r.ranks[i]
}

func (r rankedPods) Less(i, j int) bool {
	a, b := r.pods[i], r.pods[j]
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if phaseRank[a.Status.Phase] != phaseRank[b.Status.Phase] {
		return phaseRank[a.Status.Phase] < phaseRank[b.Status.Phase]
	}
	if isReady(a) != isReady(b) {
		return !isReady(a)
	}
	if r.ranks[i] != r.ranks[j] {
		return r.ranks[i] > r.ranks[j]
	}
	if isReady(a) && isReady(b) {
		ta, tb := readyCondition(a).LastTransitionTime, readyCondition(b).LastTransitionTime
		if !ta.Equal(&tb) {
			return tb.Before(&ta)
		}
	}
	if ra, rb := restarts(a), restarts(b); ra != rb {
		return ra > rb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	}
	return a.Name < b.Name
}

// podsToDelete picks the n pods to delete first.
func podsToDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	perNode := map[string]int{}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			perNode[p.Spec.NodeName]++
		}
	}
	r := rankedPods{pods: append([]*corev1.Pod(nil), pods...), ranks: make([]int, len(pods))}
	for i, p := range r.pods {
		if p.Spec.NodeName != "" {
			r.ranks[i] = perNode[p.Spec.NodeName]
		}
	}
	sort.Sort(r)
	return r.pods[:n]
}

// matchesTemplate: the pod carries every label of the template
// (status.fullyLabeledReplicas).
func matchesTemplate(p *corev1.Pod, tmpl map[string]string) bool {
	// A set selector without building one: this runs for every pod of
	// every sync.
	for k, v := range tmpl {
		if pv, ok := p.Labels[k]; !ok || pv != v {
			return false
		}
	}
	return true
}
