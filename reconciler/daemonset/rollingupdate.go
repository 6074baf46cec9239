package daemonset

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// update is one step of a rolling update: old pods to delete and nodes
// to surge a new pod onto.
type update struct {
	delete []*corev1.Pod
	create []string
}

// desiredCounts is updatedDesiredNodeCounts: how many nodes should run
// the daemon pod, and the surge and unavailability allowed for them. A
// DaemonSet that allows neither gets maxUnavailable 1, or it could never
// progress. byNode gains an empty entry for every node that should run a
// pod and has none, so that those count as unavailable.
func desiredCounts(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod) (surge, unavailable, desired int, err error) {
	for _, n := range nodes {
		if run, _ := NodeShouldRunDaemonPod(n, ds); !run {
			continue
		}
		desired++
		if _, ok := byNode[n.Name]; !ok {
			byNode[n.Name] = nil
		}
	}
	if unavailable, err = maxUnavailable(ds, desired); err != nil {
		return 0, 0, 0, err
	}
	if surge, err = maxSurge(ds, desired); err != nil {
		return 0, 0, 0, err
	}
	if desired > 0 && unavailable == 0 && surge == 0 {
		unavailable = 1
	}
	return surge, unavailable, desired, nil
}

// updatedPodsOnNode is findUpdatedPodsOnNode: the node's one current and
// one old pod (either may be nil); ok is false when it has more than one
// of either, which the core loop prunes first.
func updatedPodsOnNode(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (cur, old *corev1.Pod, ok bool) {
	gen := templateGeneration(ds)
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if isPodUpdated(p, hash, gen) {
			if cur != nil {
				return nil, nil, false
			}
			cur = p
		} else {
			if old != nil {
				return nil, nil, false
			}
			old = p
		}
	}
	return cur, old, true
}

// planRollingUpdate is Kubernetes' rollingUpdate, nodes taken in name
// order. Without surge it deletes old pods while fewer than maxUnavailable
// nodes lack an available pod, leaving the creation of their replacements
// to the core loop; unavailable old pods are replaced whatever the budget.
// With surge it creates a new pod next to an old one on up to maxSurge
// nodes and deletes the old pod once the new one is available. Pods being
// deleted count as neither, so an update progresses past nodes that are
// down.
func planRollingUpdate(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string, now time.Time) (update, error) {
	surge, unavailable, desired, err := desiredCounts(ds, nodes, byNode)
	if err != nil {
		return update{}, err
	}
	minReady := ds.Spec.MinReadySeconds
	if surge == 0 {
		return noSurgeUpdate(ds, byNode, hash, unavailable, minReady, now), nil
	}
	nodeByName := map[string]*corev1.Node{}
	for _, n := range nodes {
		nodeByName[n.Name] = n
	}
	shouldRun := func(name string) bool {
		n := nodeByName[name]
		if n == nil {
			return false
		}
		run, _ := NodeShouldRunDaemonPod(n, ds)
		return run
	}
	var out update
	var notRunDeletable []*corev1.Pod
	var candidates, allowed []string
	numSurge, numAvailable := 0, 0
	for _, name := range sortedKeys(byNode) {
		cur, old, ok := updatedPodsOnNode(ds, byNode[name], hash)
		if !ok {
			numSurge++
			continue
		}
		switch {
		case old != nil:
			if isAvailable(old, minReady, now) {
				numAvailable++
			}
		case cur != nil:
			if isAvailable(cur, minReady, now) {
				numAvailable++
			}
		}
		switch {
		case old == nil:
		case cur == nil:
			switch {
			case !isAvailable(old, minReady, now):
				if !shouldRun(name) {
					out.delete = append(out.delete, old)
					continue
				}
				allowed = append(allowed, name)
			default:
				if !shouldRun(name) {
					notRunDeletable = append(notRunDeletable, old)
					continue
				}
				if numSurge >= surge {
					continue
				}
				candidates = append(candidates, name)
			}
		default:
			if !isAvailable(cur, minReady, now) {
				numSurge++
				continue
			}
			out.delete = append(out.delete, old)
		}
	}
	// With surge the owner expects full availability: pods on nodes that
	// no longer should run them go only as others become available.
	if deletable := min(numAvailable-desired, len(notRunDeletable)); deletable > 0 {
		out.delete = append(out.delete, notRunDeletable[:deletable]...)
	}
	remaining := min(max(surge-numSurge, 0), len(candidates))
	out.create = append(allowed, candidates[:remaining]...)
	return out, nil
}

func noSurgeUpdate(ds *appsv1.DaemonSet, byNode map[string][]*corev1.Pod, hash string, maxUnavail int, minReady int32, now time.Time) update {
	numUnavailable := 0
	var replace, candidates []*corev1.Pod
	for _, name := range sortedKeys(byNode) {
		cur, old, ok := updatedPodsOnNode(ds, byNode[name], hash)
		if !ok {
			numUnavailable++
			continue
		}
		switch {
		case (old == nil) == (cur == nil):
			// Nothing here, or both: the core loop creates or prunes.
			numUnavailable++
		case cur != nil:
			if !isAvailable(cur, minReady, now) {
				numUnavailable++
			}
		case !isAvailable(old, minReady, now):
			replace = append(replace, old)
			numUnavailable++
		case numUnavailable >= maxUnavail:
		default:
			candidates = append(candidates, old)
		}
	}
	remaining := min(max(maxUnavail-numUnavailable, 0), len(candidates))
	return update{delete: append(replace, candidates[:remaining]...)}
}
