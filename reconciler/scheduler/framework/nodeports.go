package framework

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// NodePortsName is the NodePorts plugin's name.
const NodePortsName = "NodePorts"

// ErrReasonNodePorts is NodePorts' reason.
const ErrReasonNodePorts = "node(s) didn't have free ports for the requested pod ports"

var statusNodePorts = rejection(NodePortsName, Unschedulable, ErrReasonNodePorts)

const nodePortsPreFilterKey = "PreFilter" + NodePortsName

// NodePorts rejects nodes where a host port the pod wants is taken: the
// same port and protocol on the same host IP, or on any IP when either
// side binds 0.0.0.0 (or no IP).
type NodePorts struct{}

// Name implements Plugin.
func (*NodePorts) Name() string { return NodePortsName }

// PreFilter collects the pod's host ports, or skips the filter when it
// has none.
func (*NodePorts) PreFilter(_ context.Context, state *CycleState, pod *corev1.Pod, _ *Snapshot) *Status {
	ports := state.PodInfo(pod).HostPorts
	if len(ports) == 0 {
		return NewStatus(Skip)
	}
	state.Write(nodePortsPreFilterKey, ports)
	return nil
}

// Filter implements FilterPlugin.
func (*NodePorts) Filter(_ context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) *Status {
	var ports []corev1.ContainerPort
	if v, ok := state.Read(nodePortsPreFilterKey); ok {
		ports = v.([]corev1.ContainerPort)
	} else {
		ports = hostPorts(pod)
	}
	for i := range ports {
		if node.UsedPorts.CheckConflict(ports[i].HostIP, string(ports[i].Protocol), ports[i].HostPort) {
			return statusNodePorts
		}
	}
	return nil
}
