package podgc

import (
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The collector's pure half: which pods to delete, given the listers'
// view and the clock. Nothing here calls the API.

// isTerminated: the pod ended, Succeeded or Failed.
func isTerminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// isEvicted is Kubernetes' eviction.PodIsEvicted.
func isEvicted(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed && p.Status.Reason == "Evicted"
}

// terminatedToDelete is gcTerminated's choice: the terminated pods beyond
// threshold, evicted ones first (they are not a controller's record of a
// finished run), then oldest first, names breaking ties.
func terminatedToDelete(pods []*corev1.Pod, threshold int) []*corev1.Pod {
	var done []*corev1.Pod
	for _, p := range pods {
		if isTerminated(p) {
			done = append(done, p)
		}
	}
	n := len(done) - threshold
	if n <= 0 {
		return nil
	}
	sort.Slice(done, func(i, j int) bool {
		a, b := done[i], done[j]
		if ea, eb := isEvicted(a), isEvicted(b); ea != eb {
			return ea
		}
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
	return done[:n]
}

// isNodeReady: the Ready condition is True.
func isNodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func outOfService(n *corev1.Node) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeOutOfService })
}

// terminatingOutOfService is gcTerminating's choice: terminating pods on
// a node that is not ready and that an operator marked out of service
// (its kubelet will never finish them).
func terminatingOutOfService(pods []*corev1.Pod, nodes map[string]*corev1.Node) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			continue
		}
		n := nodes[p.Spec.NodeName]
		if n != nil && !isNodeReady(n) && outOfService(n) {
			out = append(out, p)
		}
	}
	return out
}

// unscheduledTerminating is gcUnscheduledTerminating's choice: pods being
// deleted that no kubelet will ever see.
func unscheduledTerminating(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Spec.NodeName == "" {
			out = append(out, p)
		}
	}
	return out
}

// quarantine holds the names of nodes pods are bound to but the node
// informer does not show, since when: a node just created may not have
// reached the informer yet, so it is only looked up (live) once it has
// been missing for the whole quarantine, as Kubernetes' delaying queue
// does.
type quarantine map[string]time.Time

// due records the nodes newly seen missing, forgets those that showed up
// or no pod needs any more, and returns (and forgets) the nodes missing
// for at least d, sorted.
func (q quarantine) due(pods []*corev1.Pod, nodes map[string]*corev1.Node, now time.Time, d time.Duration) []string {
	wanted := map[string]bool{}
	for _, p := range pods {
		name := p.Spec.NodeName
		if name == "" || nodes[name] != nil {
			continue
		}
		wanted[name] = true
		if _, ok := q[name]; !ok {
			q[name] = now
		}
	}
	var out []string
	for name, since := range q {
		switch {
		case !wanted[name]:
			delete(q, name)
		case now.Sub(since) >= d:
			out = append(out, name)
			delete(q, name)
		}
	}
	slices.Sort(out)
	return out
}

// boundTo are the pods bound to the given nodes.
func boundTo(pods []*corev1.Pod, nodes map[string]bool) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if nodes[p.Spec.NodeName] {
			out = append(out, p)
		}
	}
	return out
}
