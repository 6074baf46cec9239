package framework

import (
	"context"
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// PodTopologySpreadName is the PodTopologySpread plugin's name.
const PodTopologySpreadName = "PodTopologySpread"

// PodTopologySpread's reasons.
const (
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	ErrReasonNodeLabelNotMatch   = ErrReasonConstraintsNotMatch + " (missing required label)"
)

var (
	statusSpreadSkew         = rejection(PodTopologySpreadName, Unschedulable, ErrReasonConstraintsNotMatch)
	statusSpreadMissingLabel = rejection(PodTopologySpreadName, UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
)

const (
	podTopologySpreadPreFilterKey = "PreFilter" + PodTopologySpreadName
	podTopologySpreadPreScoreKey  = "PreScore" + PodTopologySpreadName
)

// PodTopologySpread enforces the pod's DoNotSchedule topology spread
// constraints (maxSkew, minDomains, nodeAffinityPolicy, nodeTaintsPolicy,
// labelSelector, matchLabelKeys) and scores nodes by its ScheduleAnyway
// ones. Kubernetes' system default constraints, applied to pods of
// Services and controllers that set none, are not applied: a pod without
// constraints is not spread.
type PodTopologySpread struct {
	// counts remembers each node's count of matching pods per namespace
	// and selector.
	counts nodeMemo[int]
}

// Name implements Plugin.
func (*PodTopologySpread) Name() string { return PodTopologySpreadName }

// topologySpreadConstraint is a constraint with its selector parsed and
// its defaults applied.
type topologySpreadConstraint struct {
	MaxSkew            int32
	TopologyKey        string
	Selector           labels.Selector
	MinDomains         int32
	NodeAffinityPolicy corev1.NodeInclusionPolicy
	NodeTaintsPolicy   corev1.NodeInclusionPolicy
}

// spreadConstraints parses the pod's constraints with the given
// whenUnsatisfiable. matchLabelKeys adds the pod's values of those labels
// to the selector (the API server may have done so already; adding the
// same requirement twice changes nothing).
func spreadConstraints(pod *corev1.Pod, action corev1.UnsatisfiableConstraintAction) ([]topologySpreadConstraint, error) {
	var out []topologySpreadConstraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != action {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return nil, err
		}
		if len(c.MatchLabelKeys) > 0 {
			match := labels.Set{}
			for _, k := range c.MatchLabelKeys {
				if v, ok := pod.Labels[k]; ok {
					match[k] = v
				}
			}
			if reqs, selectable := sel.Requirements(); selectable && len(match) > 0 {
				merged := labels.SelectorFromSet(match)
				for _, r := range reqs {
					merged = merged.Add(r)
				}
				sel = merged
			}
		}
		tsc := topologySpreadConstraint{
			MaxSkew:            c.MaxSkew,
			TopologyKey:        c.TopologyKey,
			Selector:           sel,
			MinDomains:         1,
			NodeAffinityPolicy: corev1.NodeInclusionPolicyHonor,
			NodeTaintsPolicy:   corev1.NodeInclusionPolicyIgnore,
		}
		if c.MinDomains != nil {
			tsc.MinDomains = *c.MinDomains
		}
		if c.NodeAffinityPolicy != nil {
			tsc.NodeAffinityPolicy = *c.NodeAffinityPolicy
		}
		if c.NodeTaintsPolicy != nil {
			tsc.NodeTaintsPolicy = *c.NodeTaintsPolicy
		}
		out = append(out, tsc)
	}
	return out, nil
}

// matchNodeInclusionPolicies reports whether a node's pods count for a
// constraint: with nodeAffinityPolicy Honor the node must match the pod's
// nodeSelector and required node affinity; with nodeTaintsPolicy Honor
// the pod must tolerate the node's NoSchedule and NoExecute taints.
func (c *topologySpreadConstraint) matchNodeInclusionPolicies(pod *corev1.Pod, node *corev1.Node, required *requiredNodeAffinity) bool {
	if c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor && !required.Match(node) {
		return false
	}
	if c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor {
		if _, untolerated := findMatchingUntoleratedTaint(node.Spec.Taints, pod.Spec.Tolerations, doNotScheduleTaint); untolerated {
			return false
		}
	}
	return true
}

// nodeLabelsMatchSpreadConstraints reports whether a node has every
// constraint's topology key.
func nodeLabelsMatchSpreadConstraints(nodeLabels map[string]string, cs []topologySpreadConstraint) bool {
	for i := range cs {
		if _, ok := nodeLabels[cs[i].TopologyKey]; !ok {
			return false
		}
	}
	return true
}

// countPodsMatchSelector counts the pods of a namespace a selector
// selects, leaving out terminating pods. An empty selector counts none.
func countPodsMatchSelector(pods []*PodInfo, sel labels.Selector, ns string) int {
	if sel.Empty() {
		return 0
	}
	n := 0
	for _, p := range pods {
		if p.Pod.DeletionTimestamp != nil || p.Pod.Namespace != ns {
			continue
		}
		if sel.Matches(labels.Set(p.Pod.Labels)) {
			n++
		}
	}
	return n
}

type topologySpreadPreFilterState struct {
	constraints []topologySpreadConstraint
	// counts[i] maps each eligible domain of constraint i to the number
	// of matching pods in it.
	counts []map[string]int
	// minMatch[i] is the global minimum of counts[i], taking minDomains
	// into account.
	minMatch []int
	// selfMatch[i] is 1 when the pod matches constraint i's selector.
	selfMatch []int
}

// PreFilter counts, for each DoNotSchedule constraint, the matching pods
// in each domain of the nodes that count (those with every constraint's
// key that pass the inclusion policies), or skips the filter when there
// is no such constraint.
func (pl *PodTopologySpread) PreFilter(_ context.Context, state *CycleState, pod *corev1.Pod, snap *Snapshot) *Status {
	cs, err := spreadConstraints(pod, corev1.DoNotSchedule)
	if err != nil {
		return AsStatus(err)
	}
	if len(cs) == 0 {
		return NewStatus(Skip)
	}
	required := state.PodInfo(pod).nodeAffinity()
	s := &topologySpreadPreFilterState{
		constraints: cs,
		counts:      make([]map[string]int, len(cs)),
		minMatch:    make([]int, len(cs)),
		selfMatch:   make([]int, len(cs)),
	}
	for i := range cs {
		s.counts[i] = map[string]int{}
		if cs[i].Selector.Matches(labels.Set(pod.Labels)) {
			s.selfMatch[i] = 1
		}
	}
	txn := pl.counts.lock(snap.NumNodes())
	defer txn.unlock()
	tables, counters := pl.counters(txn, cs, pod.Namespace)
	for _, ni := range snap.List() {
		node := ni.Node
		if !nodeLabelsMatchSpreadConstraints(node.Labels, cs) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			if !c.matchNodeInclusionPolicies(pod, node, required) {
				continue
			}
			s.counts[i][node.Labels[c.TopologyKey]] += tables[i].get(ni, counters[i])
		}
	}
	for i := range cs {
		m := math.MaxInt32
		for _, n := range s.counts[i] {
			m = min(m, n)
		}
		if len(s.counts[i]) < int(cs[i].MinDomains) {
			// Fewer eligible domains than minDomains: the global
			// minimum is taken to be 0.
			m = 0
		}
		s.minMatch[i] = m
	}
	state.Write(podTopologySpreadPreFilterKey, s)
	return nil
}

// Filter rejects a node without a constraint's topology key, and a node
// where placing the pod would make its domain exceed maxSkew over the
// global minimum.
func (*PodTopologySpread) Filter(_ context.Context, state *CycleState, _ *corev1.Pod, node *NodeInfo) *Status {
	v, ok := state.Read(podTopologySpreadPreFilterKey)
	if !ok {
		return NewStatus(Error, "PodTopologySpread: PreFilter did not run")
	}
	s := v.(*topologySpreadPreFilterState)
	for i := range s.constraints {
		c := &s.constraints[i]
		tpVal, ok := node.Node.Labels[c.TopologyKey]
		if !ok {
			return statusSpreadMissingLabel
		}
		skew := s.counts[i][tpVal] + s.selfMatch[i] - s.minMatch[i]
		if skew > int(c.MaxSkew) {
			return statusSpreadSkew
		}
	}
	return nil
}

type topologySpreadPreScoreState struct {
	constraints []topologySpreadConstraint
	// ignored are the feasible nodes missing a topology key; they score 0.
	ignored map[string]struct{}
	// counts[i] maps each domain of constraint i that holds a feasible
	// node to its matching pods; hostname constraints count per node in
	// Score instead.
	counts  []map[string]int64
	weights []float64
	// keys and counters give each constraint's per-node counts for
	// hostname constraints, which Score looks up.
	keys     []string
	counters []func(*NodeInfo) int
	numNodes int
}

// counters returns, for each constraint, its memo table and the function
// that counts a node's matching pods.
func (pl *PodTopologySpread) counters(txn memoTxn[int], cs []topologySpreadConstraint, ns string) ([]memoTable[int], []func(*NodeInfo) int) {
	tables := make([]memoTable[int], len(cs))
	counters := make([]func(*NodeInfo) int, len(cs))
	for i := range cs {
		sel := cs[i].Selector
		tables[i] = txn.table(selectorKey(ns, sel))
		counters[i] = func(ni *NodeInfo) int { return countPodsMatchSelector(ni.Pods, sel, ns) }
	}
	return tables, counters
}

// PreScore counts, for each ScheduleAnyway constraint, the matching pods
// in the domains of the feasible nodes, or skips scoring when there is no
// such constraint.
func (pl *PodTopologySpread) PreScore(_ context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo, snap *Snapshot) *Status {
	if snap.NumNodes() == 0 {
		return NewStatus(Skip)
	}
	cs, err := spreadConstraints(pod, corev1.ScheduleAnyway)
	if err != nil {
		return AsStatus(err)
	}
	if len(cs) == 0 {
		return NewStatus(Skip)
	}
	s := &topologySpreadPreScoreState{
		constraints: cs,
		ignored:     map[string]struct{}{},
		counts:      make([]map[string]int64, len(cs)),
		weights:     make([]float64, len(cs)),
	}
	sizes := make([]int, len(cs))
	for i := range cs {
		s.counts[i] = map[string]int64{}
	}
	for _, ni := range nodes {
		if !nodeLabelsMatchSpreadConstraints(ni.Node.Labels, cs) {
			s.ignored[ni.Node.Name] = struct{}{}
			continue
		}
		for i := range cs {
			if cs[i].TopologyKey == corev1.LabelHostname {
				continue
			}
			v := ni.Node.Labels[cs[i].TopologyKey]
			if _, ok := s.counts[i][v]; !ok {
				s.counts[i][v] = 0
				sizes[i]++
			}
		}
	}
	for i := range cs {
		size := sizes[i]
		if cs[i].TopologyKey == corev1.LabelHostname {
			size = len(nodes) - len(s.ignored)
		}
		// The log gives domains of small topologies more say than a
		// count over many domains would.
		s.weights[i] = math.Log(float64(size + 2))
	}
	required := state.PodInfo(pod).nodeAffinity()
	txn := pl.counts.lock(snap.NumNodes())
	defer txn.unlock()
	tables, counters := pl.counters(txn, cs, pod.Namespace)
	for _, ni := range snap.List() {
		node := ni.Node
		if !nodeLabelsMatchSpreadConstraints(node.Labels, cs) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			if !c.matchNodeInclusionPolicies(pod, node, required) {
				continue
			}
			v := node.Labels[c.TopologyKey]
			if _, ok := s.counts[i][v]; !ok {
				continue
			}
			s.counts[i][v] += int64(tables[i].get(ni, counters[i]))
		}
	}
	s.numNodes = snap.NumNodes()
	for i := range cs {
		s.keys = append(s.keys, selectorKey(pod.Namespace, cs[i].Selector))
		s.counters = append(s.counters, counters[i])
	}
	state.Write(podTopologySpreadPreScoreKey, s)
	return nil
}

// Score sums, over the constraints, the matching pods in the node's
// domain times the topology's weight, plus maxSkew-1; fewer is better,
// which NormalizeScore reverses.
func (pl *PodTopologySpread) Score(_ context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) (int64, *Status) {
	v, ok := state.Read(podTopologySpreadPreScoreKey)
	if !ok {
		return 0, NewStatus(Error, "PodTopologySpread: PreScore did not run")
	}
	s := v.(*topologySpreadPreScoreState)
	if _, ignored := s.ignored[node.Node.Name]; ignored {
		return 0, nil
	}
	var score float64
	for i := range s.constraints {
		c := &s.constraints[i]
		tpVal, ok := node.Node.Labels[c.TopologyKey]
		if !ok {
			continue
		}
		var cnt int64
		if c.TopologyKey == corev1.LabelHostname {
			txn := pl.counts.lock(s.numNodes)
			cnt = int64(txn.table(s.keys[i]).get(node, s.counters[i]))
			txn.unlock()
		} else {
			cnt = s.counts[i][tpVal]
		}
		score += float64(cnt)*s.weights[i] + float64(c.MaxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// NormalizeScore maps the raw scores to [0, 100], reversed: the node with
// the fewest matching pods gets 100; ignored nodes get 0.
func (*PodTopologySpread) NormalizeScore(_ context.Context, state *CycleState, _ *corev1.Pod, scores []NodeScore) *Status {
	v, ok := state.Read(podTopologySpreadPreScoreKey)
	if !ok {
		return nil
	}
	s := v.(*topologySpreadPreScoreState)
	const invalid = -1
	minScore, maxScore := int64(math.MaxInt64), int64(0)
	for i := range scores {
		if _, ignored := s.ignored[scores[i].Name]; ignored {
			scores[i].Score = invalid
			continue
		}
		minScore = min(minScore, scores[i].Score)
		maxScore = max(maxScore, scores[i].Score)
	}
	for i := range scores {
		switch {
		case scores[i].Score == invalid:
			scores[i].Score = 0
		case maxScore == 0:
			scores[i].Score = MaxNodeScore
		default:
			scores[i].Score = MaxNodeScore * (maxScore + minScore - scores[i].Score) / maxScore
		}
	}
	return nil
}
