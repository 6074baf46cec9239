// Package framework is the pure core of cairn's scheduler: a
// re-implementation of kube-scheduler's scheduling cycle and of its default
// plugins. It takes the cluster as state (a Snapshot) and returns a
// decision; it has no API client, and runs offline on a list of nodes and
// pods as well as on the scheduler's cache.
package framework

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// MaxNodeScore is the highest score a score plugin gives a node after
// normalising; MinNodeScore the lowest.
const (
	MaxNodeScore int64 = 100
	MinNodeScore int64 = 0
)

// Plugin is anything with a name; the name is what a FitError's diagnosis
// reports.
type Plugin interface {
	Name() string
}

// PreFilterPlugin runs once per cycle before the filters. It may reject
// the pod outright, return Skip to have its Filter skipped, or precompute
// data for Filter in the cycle state.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *corev1.Pod, snap *Snapshot) *Status
}

// FilterPlugin says whether the pod fits a node. It runs on many nodes in
// parallel and must only read the cycle state.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) *Status
}

// PreScorePlugin runs once per cycle before scoring, with the nodes that
// passed the filters. Skip has its Score skipped.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo, snap *Snapshot) *Status
}

// ScorePlugin ranks the feasible nodes. NormalizeScore brings the raw
// scores of all nodes into [MinNodeScore, MaxNodeScore]; it may be a no-op
// when Score already does.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) (int64, *Status)
	NormalizeScore(ctx context.Context, state *CycleState, pod *corev1.Pod, scores []NodeScore) *Status
}

// NodeScore is one node's score from one plugin.
type NodeScore struct {
	Name  string
	Score int64
}

// WeightedScore is a score plugin and its weight in the total.
type WeightedScore struct {
	Plugin ScorePlugin
	Weight int64
}
