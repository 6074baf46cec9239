package daemonset

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// computeStatus is the counting of updateDaemonSetStatus: per node that
// should run the pod, whether it has one and whether its oldest is ready,
// available and of the current revision; pods on other nodes are
// misscheduled. observedGeneration and collisionCount are kept as they
// are.
func computeStatus(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string, now time.Time) appsv1.DaemonSetStatus {
	st := *ds.Status.DeepCopy()
	var desired, current, misscheduled, ready, updated, available int32
	gen := templateGeneration(ds)
	for _, n := range nodes {
		run, _ := NodeShouldRunDaemonPod(n, ds)
		pods := byNode[n.Name]
		scheduled := len(pods) > 0
		if !run {
			if scheduled {
				misscheduled++
			}
			continue
		}
		desired++
		if !scheduled {
			continue
		}
		current++
		sorted := append([]*corev1.Pod(nil), pods...)
		sortByCreation(sorted)
		p := sorted[0]
		if isReady(p) {
			ready++
			if isAvailable(p, ds.Spec.MinReadySeconds, now) {
				available++
			}
		}
		if isPodUpdated(p, hash, gen) {
			updated++
		}
	}
	st.DesiredNumberScheduled = desired
	st.CurrentNumberScheduled = current
	st.NumberMisscheduled = misscheduled
	st.NumberReady = ready
	st.UpdatedNumberScheduled = updated
	st.NumberAvailable = available
	st.NumberUnavailable = desired - available
	return st
}

// sameCounts: nothing storeDaemonSetStatus would write differs.
func sameCounts(a, b appsv1.DaemonSetStatus) bool {
	return a.DesiredNumberScheduled == b.DesiredNumberScheduled &&
		a.CurrentNumberScheduled == b.CurrentNumberScheduled &&
		a.NumberMisscheduled == b.NumberMisscheduled &&
		a.NumberReady == b.NumberReady &&
		a.UpdatedNumberScheduled == b.UpdatedNumberScheduled &&
		a.NumberAvailable == b.NumberAvailable &&
		a.NumberUnavailable == b.NumberUnavailable
}

// storeStatus is storeDaemonSetStatus: write the counts (and, when this
// sync acted on the spec, observedGeneration) through the status
// subresource, retrying once on a fresh copy after a conflict or any
// other error.
func storeStatus(ctx context.Context, client kubernetes.Interface, ds *appsv1.DaemonSet, next appsv1.DaemonSetStatus, observe bool) error {
	if sameCounts(ds.Status, next) && ds.Status.ObservedGeneration >= ds.Generation {
		return nil
	}
	api := client.AppsV1().DaemonSets(ds.Namespace)
	toUpdate := ds.DeepCopy()
	var err error
	for attempt := 0; ; attempt++ {
		if observe {
			toUpdate.Status.ObservedGeneration = toUpdate.Generation
		}
		copyCounts(&toUpdate.Status, next)
		if _, err = api.UpdateStatus(ctx, toUpdate, metav1.UpdateOptions{}); err == nil || attempt >= statusUpdateRetries {
			return err
		}
		fresh, getErr := api.Get(ctx, ds.Name, metav1.GetOptions{})
		if getErr != nil {
			// The error that matters is the update's.
			return err
		}
		toUpdate = fresh
	}
}

// statusUpdateRetries is Kubernetes' StatusUpdateRetries.
const statusUpdateRetries = 1

func copyCounts(dst *appsv1.DaemonSetStatus, src appsv1.DaemonSetStatus) {
	dst.DesiredNumberScheduled = src.DesiredNumberScheduled
	dst.CurrentNumberScheduled = src.CurrentNumberScheduled
	dst.NumberMisscheduled = src.NumberMisscheduled
	dst.NumberReady = src.NumberReady
	dst.UpdatedNumberScheduled = src.UpdatedNumberScheduled
	dst.NumberAvailable = src.NumberAvailable
	dst.NumberUnavailable = src.NumberUnavailable
}
