package framework

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// TaintTolerationName is the TaintToleration plugin's name.
const TaintTolerationName = "TaintToleration"

// ErrReasonUntoleratedTaint is TaintToleration's reason. Kubernetes
// stopped naming the taint ("{key: value}") in 1.35 (backported to 1.34),
// because taint keys and values may be sensitive; this is the current
// text.
const ErrReasonUntoleratedTaint = "node(s) had untolerated taint(s)"

var statusUntoleratedTaint = rejection(TaintTolerationName, UnschedulableAndUnresolvable, ErrReasonUntoleratedTaint)

const taintTolerationPreScoreKey = "PreScore" + TaintTolerationName

// TaintToleration rejects nodes with a NoSchedule or NoExecute taint the
// pod does not tolerate, and scores nodes lower for each PreferNoSchedule
// taint it does not tolerate.
type TaintToleration struct{}

// Name implements Plugin.
func (*TaintToleration) Name() string { return TaintTolerationName }

// Filter implements FilterPlugin.
func (*TaintToleration) Filter(_ context.Context, _ *CycleState, pod *corev1.Pod, node *NodeInfo) *Status {
	if _, untolerated := findMatchingUntoleratedTaint(node.Node.Spec.Taints, pod.Spec.Tolerations, doNotScheduleTaint); untolerated {
		return statusUntoleratedTaint
	}
	return nil
}

// PreScore keeps the tolerations that can tolerate a PreferNoSchedule
// taint (those with that effect or none).
func (*TaintToleration) PreScore(_ context.Context, state *CycleState, pod *corev1.Pod, _ []*NodeInfo, _ *Snapshot) *Status {
	var tols []corev1.Toleration
	for _, t := range pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == corev1.TaintEffectPreferNoSchedule {
			tols = append(tols, t)
		}
	}
	state.Write(taintTolerationPreScoreKey, tols)
	return nil
}

// Score is the number of PreferNoSchedule taints the pod does not
// tolerate.
func (*TaintToleration) Score(_ context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) (int64, *Status) {
	v, ok := state.Read(taintTolerationPreScoreKey)
	if !ok {
		return 0, NewStatus(Error, "TaintToleration: PreScore did not run")
	}
	tols := v.([]corev1.Toleration)
	var n int64
	for i := range node.Node.Spec.Taints {
		t := &node.Node.Spec.Taints[i]
		if t.Effect == corev1.TaintEffectPreferNoSchedule && !tolerationsTolerateTaint(tols, t) {
			n++
		}
	}
	return n, nil
}

// NormalizeScore scales reversed: the node with the most untolerated
// taints gets 0, nodes with none get 100.
func (*TaintToleration) NormalizeScore(_ context.Context, _ *CycleState, _ *corev1.Pod, scores []NodeScore) *Status {
	defaultNormalizeScore(MaxNodeScore, true, scores)
	return nil
}
