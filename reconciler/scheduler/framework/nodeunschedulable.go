package framework

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// NodeUnschedulableName is the NodeUnschedulable plugin's name.
const NodeUnschedulableName = "NodeUnschedulable"

// ErrReasonUnschedulable is NodeUnschedulable's reason.
const ErrReasonUnschedulable = "node(s) were unschedulable"

var statusUnschedulableNode = rejection(NodeUnschedulableName, UnschedulableAndUnresolvable, ErrReasonUnschedulable)

// unschedulableTaint is the taint a cordoned node behaves as if it had.
var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

// NodeUnschedulable rejects cordoned nodes (spec.unschedulable), unless
// the pod tolerates node.kubernetes.io/unschedulable:NoSchedule.
type NodeUnschedulable struct{}

// Name implements Plugin.
func (*NodeUnschedulable) Name() string { return NodeUnschedulableName }

// Filter implements FilterPlugin.
func (*NodeUnschedulable) Filter(_ context.Context, _ *CycleState, pod *corev1.Pod, node *NodeInfo) *Status {
	if !node.Node.Spec.Unschedulable {
		return nil
	}
	if tolerationsTolerateTaint(pod.Spec.Tolerations, &unschedulableTaint) {
		return nil
	}
	return statusUnschedulableNode
}
