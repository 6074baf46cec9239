package nodelifecycle

import (
	"context"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// The NoExecute taints the controller puts on nodes that are not ready
// (Ready False) or unreachable (Ready Unknown), as Kubernetes'
// NotReadyTaintTemplate and UnreachableTaintTemplate.
var (
	UnreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	NotReadyTaint    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
)

// conditionTaints maps a node condition's status to the NoSchedule taint
// that mirrors it, as Kubernetes' nodeConditionToTaintKeyStatusMap.
var conditionTaints = map[corev1.NodeConditionType]map[corev1.ConditionStatus]string{
	corev1.NodeReady: {
		corev1.ConditionFalse:   corev1.TaintNodeNotReady,
		corev1.ConditionUnknown: corev1.TaintNodeUnreachable,
	},
	corev1.NodeMemoryPressure:     {corev1.ConditionTrue: corev1.TaintNodeMemoryPressure},
	corev1.NodeDiskPressure:       {corev1.ConditionTrue: corev1.TaintNodeDiskPressure},
	corev1.NodeNetworkUnavailable: {corev1.ConditionTrue: corev1.TaintNodeNetworkUnavailable},
	corev1.NodePIDPressure:        {corev1.ConditionTrue: corev1.TaintNodePIDPressure},
}

// conditionTaintKeys are the keys of the NoSchedule taints this
// controller owns.
var conditionTaintKeys = func() map[string]bool {
	m := map[string]bool{corev1.TaintNodeUnschedulable: true}
	for _, byStatus := range conditionTaints {
		for _, k := range byStatus {
			m[k] = true
		}
	}
	return m
}()

// noScheduleTaints is the set of NoSchedule taints a node's conditions
// and spec.unschedulable call for (Kubernetes' doNoScheduleTaintingPass).
func noScheduleTaints(n *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, c := range n.Status.Conditions {
		if key, ok := conditionTaints[c.Type][c.Status]; ok {
			out = append(out, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if n.Spec.Unschedulable {
		out = append(out, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// noScheduleDiff compares what a node's state calls for with the
// NoSchedule taints of ours it has: what to add and what to remove.
func noScheduleDiff(n *corev1.Node) (add, del []corev1.Taint) {
	want := noScheduleTaints(n)
	var have []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule && conditionTaintKeys[t.Key] {
			have = append(have, t)
		}
	}
	for _, t := range want {
		if !hasTaint(have, t) {
			add = append(add, t)
		}
	}
	for _, t := range have {
		if !hasTaint(want, t) {
			del = append(del, t)
		}
	}
	return add, del
}

// hasTaint: some taint has t's key and effect.
func hasTaint(taints []corev1.Taint, t corev1.Taint) bool {
	return slices.ContainsFunc(taints, func(x corev1.Taint) bool { return x.Key == t.Key && x.Effect == t.Effect })
}

// swapTaints is taints with del removed and add added; a taint already
// there keeps its timeAdded, so that pods tolerating it for a while are
// not given more time. changed is false when nothing would change.
func swapTaints(taints, add, del []corev1.Taint, now time.Time) (out []corev1.Taint, changed bool) {
	for _, t := range taints {
		if hasTaint(del, t) && !hasTaint(add, t) {
			changed = true
			continue
		}
		out = append(out, t)
	}
	for _, t := range add {
		if hasTaint(out, t) {
			continue
		}
		t.TimeAdded = &metav1.Time{Time: now}
		out = append(out, t)
		changed = true
	}
	return out, changed
}

// writeTaints adds and removes taints on a node, starting from the
// cached copy and re-reading it on a conflict (Kubernetes'
// SwapNodeControllerTaint).
func writeTaints(ctx context.Context, client kubernetes.Interface, cached *corev1.Node, add, del []corev1.Taint, now time.Time) error {
	n := cached
	first := true
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if !first {
			var err error
			if n, err = client.CoreV1().Nodes().Get(ctx, cached.Name, metav1.GetOptions{}); err != nil {
				return err
			}
		}
		first = false
		taints, changed := swapTaints(n.Spec.Taints, add, del, now)
		if !changed {
			return nil
		}
		n = n.DeepCopy()
		n.Spec.Taints = taints
		_, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}
