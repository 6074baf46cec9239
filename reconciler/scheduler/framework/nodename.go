package framework

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// NodeNameName is the NodeName plugin's name.
const NodeNameName = "NodeName"

// ErrReasonNodeName is NodeName's reason.
const ErrReasonNodeName = "node(s) didn't match the requested node name"

var statusNodeName = rejection(NodeNameName, UnschedulableAndUnresolvable, ErrReasonNodeName)

// NodeName rejects every node but the one a pod names in spec.nodeName,
// if it names one.
type NodeName struct{}

// Name implements Plugin.
func (*NodeName) Name() string { return NodeNameName }

// Filter implements FilterPlugin.
func (*NodeName) Filter(_ context.Context, _ *CycleState, pod *corev1.Pod, node *NodeInfo) *Status {
	if pod.Spec.NodeName == "" || pod.Spec.NodeName == node.Node.Name {
		return nil
	}
	return statusNodeName
}
