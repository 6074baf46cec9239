package framework

import (
	"context"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// NodeResourcesFitName is the NodeResourcesFit plugin's name.
const NodeResourcesFitName = "NodeResourcesFit"

// NodeResourcesFit's reasons; an extended resource's is "Insufficient "
// and its name.
const (
	ErrReasonTooManyPods             = "Too many pods"
	ErrReasonInsufficientCPU         = "Insufficient cpu"
	ErrReasonInsufficientMemory      = "Insufficient memory"
	ErrReasonInsufficientEphemeral   = "Insufficient ephemeral-storage"
	errReasonInsufficientScalarStart = "Insufficient "
)

const (
	nodeResourcesFitPreFilterKey = "PreFilter" + NodeResourcesFitName
	nodeResourcesFitPreScoreKey  = "PreScore" + NodeResourcesFitName
)

// Shared statuses for the common single-reason rejections, so that a full
// cluster does not allocate one per node.
var fitStatuses = func() map[string][2]*Status {
	m := map[string][2]*Status{}
	for _, r := range []string{ErrReasonTooManyPods, ErrReasonInsufficientCPU, ErrReasonInsufficientMemory, ErrReasonInsufficientEphemeral} {
		m[r] = [2]*Status{
			rejection(NodeResourcesFitName, Unschedulable, r),
			rejection(NodeResourcesFitName, UnschedulableAndUnresolvable, r),
		}
	}
	return m
}()

// NodeResourcesFit rejects nodes without room for the pod's requests
// (cpu, memory, ephemeral storage, extended resources, and the pod count),
// and scores nodes by how much cpu and memory would stay free
// (LeastAllocated, weights 1 and 1, on the non-zero requests).
type NodeResourcesFit struct{}

// Name implements Plugin.
func (*NodeResourcesFit) Name() string { return NodeResourcesFitName }

// PreFilter records the pod's effective requests.
func (*NodeResourcesFit) PreFilter(_ context.Context, state *CycleState, pod *corev1.Pod, _ *Snapshot) *Status {
	state.Write(nodeResourcesFitPreFilterKey, &state.PodInfo(pod).Requests)
	return nil
}

// Filter implements FilterPlugin.
func (*NodeResourcesFit) Filter(_ context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) *Status {
	var req *Resource
	if v, ok := state.Read(nodeResourcesFitPreFilterKey); ok {
		req = v.(*Resource)
	} else {
		req = &NewPodInfo(pod).Requests
	}
	return fitsRequest(req, node)
}

// fitsRequest checks a request against a node's free resources and
// returns the rejection listing every resource that is short. A request
// larger than the node's whole allocatable cannot be resolved by
// preemption.
func fitsRequest(req *Resource, node *NodeInfo) *Status {
	var (
		reasons      [4]string
		n            int
		unresolvable bool
		extra        []string
	)
	if int64(len(node.Pods))+1 > node.Allocatable.AllowedPodNumber {
		reasons[n] = ErrReasonTooManyPods
		n++
	}
	if req.MilliCPU == 0 && req.Memory == 0 && req.EphemeralStorage == 0 && len(req.Scalar) == 0 {
		return fitStatus(reasons[:n], nil, unresolvable)
	}
	alloc, used := &node.Allocatable, &node.Requested
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU {
		reasons[n] = ErrReasonInsufficientCPU
		n++
		unresolvable = unresolvable || req.MilliCPU > alloc.MilliCPU
	}
	if req.Memory > 0 && req.Memory > alloc.Memory-used.Memory {
		reasons[n] = ErrReasonInsufficientMemory
		n++
		unresolvable = unresolvable || req.Memory > alloc.Memory
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage {
		reasons[n] = ErrReasonInsufficientEphemeral
		n++
		unresolvable = unresolvable || req.EphemeralStorage > alloc.EphemeralStorage
	}
	for name, q := range req.Scalar {
		if q == 0 {
			continue
		}
		if q > alloc.Scalar[name]-used.Scalar[name] {
			extra = append(extra, errReasonInsufficientScalarStart+string(name))
			unresolvable = unresolvable || q > alloc.Scalar[name]
		}
	}
	if len(extra) > 1 {
		sort.Strings(extra)
	}
	return fitStatus(reasons[:n], extra, unresolvable)
}

func fitStatus(reasons, extra []string, unresolvable bool) *Status {
	if len(reasons)+len(extra) == 0 {
		return nil
	}
	code := Unschedulable
	idx := 0
	if unresolvable {
		code, idx = UnschedulableAndUnresolvable, 1
	}
	if len(reasons) == 1 && len(extra) == 0 {
		return fitStatuses[reasons[0]][idx]
	}
	all := make([]string, 0, len(reasons)+len(extra))
	all = append(append(all, reasons...), extra...)
	return &Status{code: code, reasons: all, plugin: NodeResourcesFitName}
}

// PreScore records the pod's cpu and memory requests with the non-zero
// defaults.
func (*NodeResourcesFit) PreScore(_ context.Context, state *CycleState, pod *corev1.Pod, _ []*NodeInfo, _ *Snapshot) *Status {
	pi := state.PodInfo(pod)
	state.Write(nodeResourcesFitPreScoreKey, [2]int64{pi.fitScoreCPU, pi.fitScoreMemory})
	return nil
}

// Score is LeastAllocated: for cpu and memory, the share of allocatable
// left free after the pod (on the non-zero requests), times 100, averaged
// with weights 1 and 1.
func (*NodeResourcesFit) Score(_ context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) (int64, *Status) {
	v, ok := state.Read(nodeResourcesFitPreScoreKey)
	if !ok {
		return 0, NewStatus(Error, "NodeResourcesFit: PreScore did not run")
	}
	req := v.([2]int64)
	requested := [2]int64{node.NonZeroRequested.MilliCPU + req[0], node.NonZeroRequested.Memory + req[1]}
	allocatable := [2]int64{node.Allocatable.MilliCPU, node.Allocatable.Memory}
	var score, weights int64
	for i := range requested {
		if allocatable[i] == 0 {
			continue
		}
		score += leastRequestedScore(requested[i], allocatable[i])
		weights++
	}
	if weights == 0 {
		return 0, nil
	}
	return score / weights, nil
}

func leastRequestedScore(requested, capacity int64) int64 {
	if capacity == 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * MaxNodeScore / capacity
}

// NormalizeScore is a no-op: Score is already in [0, 100].
func (*NodeResourcesFit) NormalizeScore(context.Context, *CycleState, *corev1.Pod, []NodeScore) *Status {
	return nil
}
