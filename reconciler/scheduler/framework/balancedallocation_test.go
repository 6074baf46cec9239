package framework

import "testing"

func TestBalancedAllocationScore(t *testing.T) {
	snap := NewSnapshot(nodes(newNode("empty"), newNode("cpu"), newNode("mem"), newNode("over")), pods(
		newPod("a").on("cpu").req("cpu", "2", "memory", "2Gi"),
		newPod("b").on("mem").req("memory", "6Gi"),
		newPod("c").on("over").req("memory", "7Gi"),
		newPod("d").on("empty").req(), // requests nothing: does not count here
	))
	// Pod 1 cpu, 2Gi on 4 cpu, 8Gi nodes; fractions after placing it:
	//   empty: 0.25, 0.25 -> std 0 -> 100
	//   cpu:   0.75, 0.5  -> std 0.125 -> 87
	//   mem:   0.25, 1    -> std 0.375 -> 62
	//   over:  0.25, 9/8 capped at 1 -> 62
	got := scoreNodes(t, &BalancedAllocation{}, newPod("p").req("cpu", "1", "memory", "2Gi").obj(), snap)
	if want := map[string]int64{"empty": 100, "cpu": 87, "mem": 62, "over": 62}; !equalMaps(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := scoreNodes(t, &BalancedAllocation{}, newPod("p").req().obj(), snap); got != nil {
		t.Errorf("best-effort pod is scored: %v", got)
	}
}
