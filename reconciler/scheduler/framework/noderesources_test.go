package framework

import (
	"testing"
)

func TestNodeResourcesFitFilter(t *testing.T) {
	snap := NewSnapshot(
		nodes(newNode("busy"), newNode("full").alloc("pods", "2"), newNode("gpu").alloc("nvidia.com/gpu", "1")),
		pods(
			newPod("b").on("busy").req("cpu", "3", "memory", "6Gi"),
			newPod("f1").on("full").req(), newPod("f2").on("full").req(),
		))
	const (
		cpu  = "Unschedulable: Insufficient cpu"
		mem  = "Unschedulable: Insufficient memory"
		many = "Unschedulable: Too many pods"
	)
	tests := []struct {
		name string
		pod  podB
		want map[string]string
	}{
		{"fits everywhere", newPod("p").req("cpu", "500m", "memory", "1Gi"), map[string]string{"busy": "", "full": many, "gpu": ""}},
		{"insufficient cpu", newPod("p").req("cpu", "2"), map[string]string{"busy": cpu, "full": many, "gpu": ""}},
		{"insufficient memory", newPod("p").req("memory", "3Gi"), map[string]string{"busy": mem, "full": many, "gpu": ""}},
		{"both, in kube-scheduler's order", newPod("p").req("cpu", "2", "memory", "3Gi"),
			map[string]string{"busy": "Unschedulable: Insufficient cpu; Insufficient memory", "full": many, "gpu": ""}},
		{"more than the node has at all cannot be resolved by preemption", newPod("p").req("cpu", "5"),
			map[string]string{"busy": "UnschedulableAndUnresolvable: Insufficient cpu", "full": "UnschedulableAndUnresolvable: Too many pods; Insufficient cpu",
				"gpu": "UnschedulableAndUnresolvable: Insufficient cpu"}},
		{"ephemeral storage", newPod("p").req("ephemeral-storage", "200Gi"),
			map[string]string{"busy": "UnschedulableAndUnresolvable: Insufficient ephemeral-storage",
				"full": "UnschedulableAndUnresolvable: Too many pods; Insufficient ephemeral-storage",
				"gpu":  "UnschedulableAndUnresolvable: Insufficient ephemeral-storage"}},
		{"node over capacity in pods, even for a pod requesting nothing", newPod("p").req(), map[string]string{"busy": "", "full": many, "gpu": ""}},
		{"extended resource", newPod("p").req("nvidia.com/gpu", "1"),
			map[string]string{"busy": "UnschedulableAndUnresolvable: Insufficient nvidia.com/gpu",
				"full": "UnschedulableAndUnresolvable: Too many pods; Insufficient nvidia.com/gpu", "gpu": ""}},
		{"init container larger than the containers", newPod("p").initReq(false, "cpu", "2").req("cpu", "100m"),
			map[string]string{"busy": cpu, "full": many, "gpu": ""}},
		{"overhead tips it over", newPod("p").req("cpu", "900m").overhead("cpu", "200m"),
			map[string]string{"busy": cpu, "full": many, "gpu": ""}},
		{"without the overhead it fits", newPod("p").req("cpu", "900m"),
			map[string]string{"busy": "", "full": many, "gpu": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := filterNodes(t, &NodeResourcesFit{}, tc.pod.obj(), snap)
			if !equalMaps(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestLeastAllocatedScore(t *testing.T) {
	snap := NewSnapshot(nodes(newNode("empty"), newNode("used"), newNode("besteffort")), pods(
		newPod("u").on("used").req("cpu", "2", "memory", "2Gi"),
		newPod("be").on("besteffort").req(),
	))
	// Pod 1 cpu, 2Gi on 4 cpu, 8Gi nodes:
	//   empty:      cpu (4000-1000)*100/4000 = 75, memory (8-2)/8 = 75 -> 75
	//   used:       cpu (4000-3000)*100/4000 = 25, memory (8-4)/8 = 50 -> 75/2 = 37
	//   besteffort: the pod there counts 100m and 200Mi: cpu 2900*100/4000 = 72,
	//               memory (8192-2248)*100/8192 = 72 -> 72
	got := scoreNodes(t, &NodeResourcesFit{}, newPod("p").req("cpu", "1", "memory", "2Gi").obj(), snap)
	if want := map[string]int64{"empty": 75, "used": 37, "besteffort": 72}; !equalMaps(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// A pod without requests counts as 100m and 200Mi: on the empty node
	// cpu 3900*100/4000 = 97, memory 7992*100/8192 = 97.
	got = scoreNodes(t, &NodeResourcesFit{}, newPod("p").req().obj(), snap)
	if got["empty"] != 97 {
		t.Errorf("best-effort pod on the empty node: %d, want 97", got["empty"])
	}
}
