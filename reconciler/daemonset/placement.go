package daemonset

import (
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// nodePods groups a DaemonSet's pods by the node they run on or are
// pinned to, as getNodesToDaemonPods. Unless includeDeletedTerminal,
// terminal pods already being deleted are left out: there is nothing
// left to do with them.
func nodePods(pods []*corev1.Pod, includeDeletedTerminal bool) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if !includeDeletedTerminal && isTerminal(p) && p.DeletionTimestamp != nil {
			continue
		}
		node, ok := targetNodeName(p)
		if !ok {
			continue
		}
		out[node] = append(out[node], p)
	}
	return out
}

// placement is what the core loop does to the pods of one DaemonSet.
type placement struct {
	// create lists the nodes that need a daemon pod.
	create []string
	// delete lists the pods to delete now: extra ones, succeeded ones,
	// ones on nodes that may no longer run them, unscheduled ones pinned to
	// nodes that are gone.
	delete []*corev1.Pod
	// failed lists the failed pods, deleted subject to a per-node backoff.
	failed []*corev1.Pod
	// succeeded lists the pods that ran to completion, deleted (and
	// replaced) as soon as seen.
	succeeded []*corev1.Pod
}

// planPlacement is manage's decision, node by node as podsShouldBeOnNode,
// for the nodes in name order.
func planPlacement(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string, now time.Time) placement {
	var out placement
	known := map[string]bool{}
	for _, n := range sortedNodes(nodes) {
		known[n.Name] = true
		p := podsShouldBeOnNode(ds, n, byNode[n.Name], hash, now)
		out.create = append(out.create, p.create...)
		out.delete = append(out.delete, p.delete...)
		out.failed = append(out.failed, p.failed...)
		out.succeeded = append(out.succeeded, p.succeeded...)
	}
	out.delete = append(out.delete, unscheduledWithoutNode(known, byNode)...)
	return out
}

// unscheduledWithoutNode is getUnscheduledPodsWithoutNode: pods still
// waiting for the scheduler, pinned to a node that no longer exists, can
// never run. Bound pods of a gone node are the pod garbage collector's.
func unscheduledWithoutNode(known map[string]bool, byNode map[string][]*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, node := range sortedKeys(byNode) {
		if known[node] {
			continue
		}
		for _, p := range byNode[node] {
			if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// podsShouldBeOnNode decides one node, as Kubernetes' function of the
// same name: whether it needs a daemon pod, which of its pods to delete.
func podsShouldBeOnNode(ds *appsv1.DaemonSet, node *corev1.Node, pods []*corev1.Pod, hash string, now time.Time) placement {
	var out placement
	shouldRun, shouldContinueRunning := NodeShouldRunDaemonPod(node, ds)
	exists := len(pods) > 0
	switch {
	case shouldRun && !exists:
		out.create = []string{node.Name}
	case shouldContinueRunning:
		var running []*corev1.Pod
		for _, p := range pods {
			switch {
			case p.DeletionTimestamp != nil:
			case p.Status.Phase == corev1.PodFailed:
				out.failed = append(out.failed, p)
			case p.Status.Phase == corev1.PodSucceeded:
				out.succeeded = append(out.succeeded, p)
			default:
				running = append(running, p)
			}
		}
		if !allowsSurge(ds) {
			// Keep the oldest; a missing pod is created on the next sync,
			// once these deletions are observed.
			if len(running) > 1 {
				sortByCreation(running)
				out.delete = append(out.delete, running[1:]...)
			}
			return out
		}
		if len(running) <= 1 {
			if len(running) == 0 && shouldRun {
				out.create = []string{node.Name}
			}
			return out
		}
		// With surge a node may hold two pods, the oldest of the current
		// revision and the oldest of another, while the new one comes up.
		sortByCreation(running)
		var oldestNew, oldestOld *corev1.Pod
		for _, p := range running {
			if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
				if oldestNew == nil {
					oldestNew = p
					continue
				}
			} else if oldestOld == nil {
				oldestOld = p
				continue
			}
			out.delete = append(out.delete, p)
		}
		if oldestNew != nil && oldestOld != nil &&
			(!isReady(oldestOld) || isAvailable(oldestNew, ds.Spec.MinReadySeconds, now)) {
			out.delete = append(out.delete, oldestOld)
		}
	case exists:
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				out.delete = append(out.delete, p)
			}
		}
	}
	return out
}

func sortedNodes(nodes []*corev1.Node) []*corev1.Node {
	out := append([]*corev1.Node(nil), nodes...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortedKeys(m map[string][]*corev1.Pod) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// maxUnavailable is UnavailableCount: spec maxUnavailable scaled to the
// desired number of pods, rounding up; 0 for OnDelete.
func maxUnavailable(ds *appsv1.DaemonSet, desired int) (int, error) {
	if !isRollingUpdate(ds) {
		return 0, nil
	}
	// The API server defaults maxUnavailable to 1; so does a DaemonSet
	// that reached us without its defaults.
	v := intstr.FromInt32(1)
	mu := &v
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		mu = ru.MaxUnavailable
	}
	return intstr.GetScaledValueFromIntOrPercent(mu, desired, true)
}

// maxSurge is SurgeCount: spec maxSurge scaled to the desired number of
// pods, rounding up; 0 for OnDelete.
func maxSurge(ds *appsv1.DaemonSet, desired int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if !isRollingUpdate(ds) || ru == nil || ru.MaxSurge == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, desired, true)
}

// allowsSurge: a node may hold more than one daemon pod during an update.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	n, err := maxSurge(ds, 1)
	return err == nil && n != 0
}

// isRollingUpdate: RollingUpdate, which is also the default strategy.
func isRollingUpdate(ds *appsv1.DaemonSet) bool {
	t := ds.Spec.UpdateStrategy.Type
	return t == "" || t == appsv1.RollingUpdateDaemonSetStrategyType
}
