package framework

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeAffinityName is the NodeAffinity plugin's name.
const NodeAffinityName = "NodeAffinity"

// NodeAffinity's reasons.
const (
	ErrReasonNodeAffinity = "node(s) didn't match Pod's node affinity/selector"
	// ErrReasonNodeAffinityConflict is the PreFilter rejection of a pod
	// whose required terms each name nodes by metadata.name, with no
	// name in common.
	ErrReasonNodeAffinityConflict = "pod affinity terms conflict"
)

var statusNodeAffinity = rejection(NodeAffinityName, UnschedulableAndUnresolvable, ErrReasonNodeAffinity)

const (
	nodeAffinityPreFilterKey = "PreFilter" + NodeAffinityName
	nodeAffinityPreScoreKey  = "PreScore" + NodeAffinityName
)

// NodeAffinity rejects nodes that do not match the pod's nodeSelector and
// required node affinity (operators In, NotIn, Exists, DoesNotExist, Gt,
// Lt, and matchFields on metadata.name), and scores nodes by the weights
// of the preferred terms they match.
type NodeAffinity struct{}

// Name implements Plugin.
func (*NodeAffinity) Name() string { return NodeAffinityName }

// PreFilter parses the pod's requirements once. When every required term
// names nodes with matchFields metadata.name In, the cycle is narrowed to
// those nodes, as kube-scheduler's PreFilterResult does.
func (*NodeAffinity) PreFilter(_ context.Context, state *CycleState, pod *corev1.Pod, _ *Snapshot) *Status {
	a := pod.Spec.Affinity
	noRequired := a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil
	if noRequired && pod.Spec.NodeSelector == nil {
		return NewStatus(Skip)
	}
	state.Write(nodeAffinityPreFilterKey, state.PodInfo(pod).nodeAffinity())
	if noRequired || len(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		return nil
	}
	var nodeNames map[string]struct{}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		var termNames map[string]struct{}
		for _, r := range t.MatchFields {
			if r.Key != metav1.ObjectNameField || r.Operator != corev1.NodeSelectorOpIn {
				continue
			}
			s := make(map[string]struct{}, len(r.Values))
			for _, v := range r.Values {
				if _, ok := termNames[v]; termNames == nil || ok {
					s[v] = struct{}{}
				}
			}
			termNames = s
		}
		if termNames == nil {
			// This term can match any node, and terms are ORed.
			return nil
		}
		if nodeNames == nil {
			nodeNames = map[string]struct{}{}
		}
		for n := range termNames {
			nodeNames[n] = struct{}{}
		}
	}
	if len(nodeNames) == 0 {
		return NewStatus(UnschedulableAndUnresolvable, ErrReasonNodeAffinityConflict)
	}
	names := make([]string, 0, len(nodeNames))
	for n := range nodeNames {
		names = append(names, n)
	}
	state.NarrowNodes(NodeAffinityName, names)
	return nil
}

// Filter implements FilterPlugin.
func (*NodeAffinity) Filter(_ context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) *Status {
	var r *requiredNodeAffinity
	if v, ok := state.Read(nodeAffinityPreFilterKey); ok {
		r = v.(*requiredNodeAffinity)
	} else {
		r = newRequiredNodeAffinity(pod)
	}
	if !r.Match(node.Node) {
		return statusNodeAffinity
	}
	return nil
}

// PreScore parses the preferred terms, or skips scoring when there are
// none.
func (*NodeAffinity) PreScore(_ context.Context, state *CycleState, pod *corev1.Pod, _ []*NodeInfo, _ *Snapshot) *Status {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return NewStatus(Skip)
	}
	state.Write(nodeAffinityPreScoreKey, newPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution))
	return nil
}

// Score is the sum of the weights of the preferred terms the node
// matches.
func (*NodeAffinity) Score(_ context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) (int64, *Status) {
	v, ok := state.Read(nodeAffinityPreScoreKey)
	if !ok {
		return 0, nil
	}
	return v.(*preferredSchedulingTerms).Score(node.Node), nil
}

// NormalizeScore scales so the best node gets 100.
func (*NodeAffinity) NormalizeScore(_ context.Context, _ *CycleState, _ *corev1.Pod, scores []NodeScore) *Status {
	defaultNormalizeScore(MaxNodeScore, false, scores)
	return nil
}
