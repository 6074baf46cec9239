package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNodePorts(t *testing.T) {
	snap := NewSnapshot(nodes(newNode("n")), pods(
		newPod("web").on("n").hostPort(8080, corev1.ProtocolTCP, ""),
		newPod("dns").on("n").hostPort(53, corev1.ProtocolUDP, "10.0.0.1"),
	))
	const conflict = "Unschedulable: node(s) didn't have free ports for the requested pod ports"
	sidecar := newPod("p").initReq(true).obj()
	sidecar.Spec.InitContainers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"same port and protocol", newPod("p").hostPort(8080, corev1.ProtocolTCP, "").obj(), conflict},
		{"protocol defaults to TCP", newPod("p").hostPort(8080, "", "").obj(), conflict},
		{"same port, other protocol", newPod("p").hostPort(8080, corev1.ProtocolUDP, "").obj(), ""},
		{"specific IP against 0.0.0.0", newPod("p").hostPort(8080, corev1.ProtocolTCP, "10.0.0.5").obj(), conflict},
		{"same IP, port and protocol", newPod("p").hostPort(53, corev1.ProtocolUDP, "10.0.0.1").obj(), conflict},
		{"other IP", newPod("p").hostPort(53, corev1.ProtocolUDP, "10.0.0.2").obj(), ""},
		{"0.0.0.0 against a specific IP", newPod("p").hostPort(53, corev1.ProtocolUDP, "0.0.0.0").obj(), conflict},
		{"other port", newPod("p").hostPort(9090, corev1.ProtocolTCP, "").obj(), ""},
		{"a sidecar's host port counts", sidecar, conflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pre, got := filterNodes(t, &NodePorts{}, tc.pod, snap)
			if pre != "" {
				t.Fatalf("PreFilter: %s", pre)
			}
			if got["n"] != tc.want {
				t.Errorf("got %q, want %q", got["n"], tc.want)
			}
		})
	}
	if pre, _ := filterNodes(t, &NodePorts{}, newPod("p").req().obj(), snap); pre != "skip" {
		t.Errorf("pod without host ports: PreFilter %q, want skip", pre)
	}
}
