package framework

import (
	"context"
	"math"

	corev1 "k8s.io/api/core/v1"
)

// BalancedAllocationName is the NodeResourcesBalancedAllocation plugin's
// name.
const BalancedAllocationName = "NodeResourcesBalancedAllocation"

const balancedAllocationPreScoreKey = "PreScore" + BalancedAllocationName

// BalancedAllocation favours nodes whose cpu and memory would be used in
// equal shares after placing the pod: 100 times (1 - the standard
// deviation of the requested/allocatable fractions). It counts the actual
// requests (no non-zero defaults) and skips pods that request nothing.
type BalancedAllocation struct{}

// Name implements Plugin.
func (*BalancedAllocation) Name() string { return BalancedAllocationName }

// PreScore records the pod's cpu and memory requests, or skips scoring
// for a pod that requests neither (a best-effort pod would otherwise pile
// onto one node).
func (*BalancedAllocation) PreScore(_ context.Context, state *CycleState, pod *corev1.Pod, _ []*NodeInfo, _ *Snapshot) *Status {
	r := &state.PodInfo(pod).Requests
	if r.MilliCPU == 0 && r.Memory == 0 {
		return NewStatus(Skip)
	}
	state.Write(balancedAllocationPreScoreKey, [2]int64{r.MilliCPU, r.Memory})
	return nil
}

// Score implements ScorePlugin.
func (*BalancedAllocation) Score(_ context.Context, state *CycleState, _ *corev1.Pod, node *NodeInfo) (int64, *Status) {
	v, ok := state.Read(balancedAllocationPreScoreKey)
	if !ok {
		return 0, NewStatus(Error, "NodeResourcesBalancedAllocation: PreScore did not run")
	}
	req := v.([2]int64)
	requested := [2]int64{node.Requested.MilliCPU + req[0], node.Requested.Memory + req[1]}
	allocatable := [2]int64{node.Allocatable.MilliCPU, node.Allocatable.Memory}
	var fractions [2]float64
	n := 0
	for i := range requested {
		if allocatable[i] == 0 {
			continue
		}
		fractions[n] = min(float64(requested[i])/float64(allocatable[i]), 1)
		n++
	}
	std := 0.0
	if n == 2 {
		std = math.Abs((fractions[0] - fractions[1]) / 2)
	}
	return int64((1 - std) * float64(MaxNodeScore)), nil
}

// NormalizeScore is a no-op: Score is already in [0, 100].
func (*BalancedAllocation) NormalizeScore(context.Context, *CycleState, *corev1.Pod, []NodeScore) *Status {
	return nil
}
