package framework

import (
	"context"
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// InterPodAffinityName is the InterPodAffinity plugin's name.
const InterPodAffinityName = "InterPodAffinity"

// InterPodAffinity's reasons.
const (
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
	ErrReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
)

var (
	statusAffinity         = rejection(InterPodAffinityName, UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	statusAntiAffinity     = rejection(InterPodAffinityName, Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
	statusExistingAntiAff  = rejection(InterPodAffinityName, Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
	errInterPodNoPreFilter = NewStatus(Error, "InterPodAffinity: PreFilter did not run")
)

const (
	interPodPreFilterKey = "PreFilter" + InterPodAffinityName
	interPodPreScoreKey  = "PreScore" + InterPodAffinityName
	// hardPodAffinityWeight is kube-scheduler's default weight of an
	// existing pod's required affinity term in scoring.
	hardPodAffinityWeight int32 = 1
)

// InterPodAffinity enforces required pod affinity and anti-affinity, the
// pod's and the existing pods' (an existing pod's anti-affinity keeps the
// incoming pod out of its topology domain), and scores nodes by preferred
// terms, the pod's and the existing pods', and by existing pods' required
// affinity terms the incoming pod matches.
type InterPodAffinity struct {
	// matching remembers, per node, how many pods match a term (or all
	// of a pod's affinity terms).
	matching nodeMemo[int64]
	// existing remembers, per node and incoming pod labels, the topology
	// keys of existing pods' anti-affinity terms that match the pod.
	existing nodeMemo[[]keyCount]
}

// keyCount is a topology key and a number of matching terms.
type keyCount struct {
	key   string
	count int64
}

// Name implements Plugin.
func (*InterPodAffinity) Name() string { return InterPodAffinityName }

type topologyPair struct {
	key, value string
}

// topologyCounts counts matches per topology domain.
type topologyCounts map[topologyPair]int64

func (m topologyCounts) update(node *corev1.Node, key string, v int64) {
	if tv, ok := node.Labels[key]; ok {
		p := topologyPair{key: key, value: tv}
		m[p] += v
		if m[p] == 0 {
			delete(m, p)
		}
	}
}

func podMatchesAllAffinityTerms(terms []AffinityTerm, pod *corev1.Pod) bool {
	if len(terms) == 0 {
		return false
	}
	for i := range terms {
		if !terms[i].Matches(pod, nil) {
			return false
		}
	}
	return true
}

// mergeNamespaces returns the terms with the namespaces their
// namespaceSelector selects added to their namespaces, so that matching
// them needs no namespace labels. The input is not modified.
func mergeNamespaces(terms []AffinityTerm, snap *Snapshot) []AffinityTerm {
	out := make([]AffinityTerm, len(terms))
	for i, t := range terms {
		out[i] = mergeTermNamespaces(t, snap)
	}
	return out
}

func mergeTermNamespaces(t AffinityTerm, snap *Snapshot) AffinityTerm {
	// The empty selector (all namespaces) is kept as a selector, and
	// "nothing" needs no merging.
	if _, selectable := t.NamespaceSelector.Requirements(); !selectable || t.NamespaceSelector.Empty() {
		return t
	}
	ns := sets.New(sets.List(t.Namespaces)...)
	for _, n := range snap.namespaces {
		if t.NamespaceSelector.Matches(labels.Set(n.Labels)) {
			ns.Insert(n.Name)
		}
	}
	t.Namespaces = ns
	t.NamespaceSelector = labels.Nothing()
	return t
}

type interPodPreFilterState struct {
	pod *corev1.Pod
	// affinityTerms and antiAffinityTerms are the pod's required terms
	// with namespace selectors resolved.
	affinityTerms, antiAffinityTerms []AffinityTerm
	// existingAntiAffinity counts, per domain, the existing pods whose
	// required anti-affinity terms match the incoming pod.
	existingAntiAffinity topologyCounts
	// affinityCounts and antiAffinityCounts count, per domain, the
	// existing pods matching the pod's required terms.
	affinityCounts, antiAffinityCounts topologyCounts
}

// PreFilter counts, over the whole snapshot, the existing pods that match
// the pod's required terms and those whose required anti-affinity matches
// the pod, per topology domain; it skips the filter when there is nothing
// to check.
func (pl *InterPodAffinity) PreFilter(_ context.Context, state *CycleState, pod *corev1.Pod, snap *Snapshot) *Status {
	pi := state.PodInfo(pod)
	if pi.ParseError != nil {
		return NewStatus(UnschedulableAndUnresolvable, fmt.Sprintf("parsing pod: %+v", pi.ParseError))
	}
	s := &interPodPreFilterState{
		pod:                  pod,
		affinityTerms:        mergeNamespaces(pi.RequiredAffinityTerms, snap),
		antiAffinityTerms:    mergeNamespaces(pi.RequiredAntiAffinityTerms, snap),
		existingAntiAffinity: topologyCounts{},
		affinityCounts:       topologyCounts{},
		antiAffinityCounts:   topologyCounts{},
	}
	nsLabels := snap.NamespaceLabels(pod.Namespace)
	pl.countExistingAntiAffinity(s, pod, nsLabels, snap)
	if len(s.affinityTerms) > 0 || len(s.antiAffinityTerms) > 0 {
		pl.countMatchingPods(s, snap)
	}
	if len(s.existingAntiAffinity) == 0 && len(s.affinityTerms) == 0 && len(s.antiAffinityTerms) == 0 {
		return NewStatus(Skip)
	}
	state.Write(interPodPreFilterKey, s)
	return nil
}

// countExistingAntiAffinity counts, per domain, the existing pods' required
// anti-affinity terms that match the incoming pod.
func (pl *InterPodAffinity) countExistingAntiAffinity(s *interPodPreFilterState, pod *corev1.Pod, nsLabels labels.Set, snap *Snapshot) {
	list := snap.HavePodsWithRequiredAntiAffinityList()
	if len(list) == 0 {
		return
	}
	txn := pl.existing.lock(snap.NumNodes())
	defer txn.unlock()
	table := txn.table(pod.Namespace + "\x00" + labelsKey(pod.Labels) + "\x00" + labelsKey(nsLabels))
	compute := func(ni *NodeInfo) []keyCount {
		var out []keyCount
		for _, existing := range ni.PodsWithRequiredAntiAffinity {
			for i := range existing.RequiredAntiAffinityTerms {
				t := &existing.RequiredAntiAffinityTerms[i]
				if t.Matches(pod, nsLabels) {
					out = addKeyCount(out, t.TopologyKey)
				}
			}
		}
		return out
	}
	for _, ni := range list {
		for _, kc := range table.get(ni, compute) {
			s.existingAntiAffinity.update(ni.Node, kc.key, kc.count)
		}
	}
}

func addKeyCount(kcs []keyCount, key string) []keyCount {
	for i := range kcs {
		if kcs[i].key == key {
			kcs[i].count++
			return kcs
		}
	}
	return append(kcs, keyCount{key: key, count: 1})
}

// countMatchingPods counts, per domain, the existing pods that match all
// the pod's affinity terms (once per term), and those that match each of
// its anti-affinity terms.
func (pl *InterPodAffinity) countMatchingPods(s *interPodPreFilterState, snap *Snapshot) {
	txn := pl.matching.lock(snap.NumNodes())
	defer txn.unlock()
	var (
		allKey  strings.Builder
		affAll  memoTable[int64]
		antiTbl = make([]memoTable[int64], len(s.antiAffinityTerms))
	)
	allKey.WriteString("all")
	for i := range s.affinityTerms {
		allKey.WriteString("\x01" + termKey(&s.affinityTerms[i]))
	}
	if len(s.affinityTerms) > 0 {
		affAll = txn.table(allKey.String())
	}
	countAll := func(ni *NodeInfo) int64 {
		var n int64
		for _, existing := range ni.Pods {
			if podMatchesAllAffinityTerms(s.affinityTerms, existing.Pod) {
				n++
			}
		}
		return n
	}
	countAnti := make([]func(*NodeInfo) int64, len(s.antiAffinityTerms))
	for i := range s.antiAffinityTerms {
		t := &s.antiAffinityTerms[i]
		antiTbl[i] = txn.table(termKey(t))
		countAnti[i] = func(ni *NodeInfo) int64 {
			var n int64
			for _, existing := range ni.Pods {
				if t.Matches(existing.Pod, nil) {
					n++
				}
			}
			return n
		}
	}
	for _, ni := range snap.List() {
		if len(s.affinityTerms) > 0 {
			if n := affAll.get(ni, countAll); n > 0 {
				for i := range s.affinityTerms {
					s.affinityCounts.update(ni.Node, s.affinityTerms[i].TopologyKey, n)
				}
			}
		}
		for i := range s.antiAffinityTerms {
			if n := antiTbl[i].get(ni, countAnti[i]); n > 0 {
				s.antiAffinityCounts.update(ni.Node, s.antiAffinityTerms[i].TopologyKey, n)
			}
		}
	}
}

// Filter implements FilterPlugin.
func (*InterPodAffinity) Filter(_ context.Context, state *CycleState, _ *corev1.Pod, node *NodeInfo) *Status {
	v, ok := state.Read(interPodPreFilterKey)
	if !ok {
		return errInterPodNoPreFilter
	}
	s := v.(*interPodPreFilterState)
	if !s.satisfyPodAffinity(node.Node) {
		return statusAffinity
	}
	if !s.satisfyPodAntiAffinity(node.Node) {
		return statusAntiAffinity
	}
	if !s.satisfyExistingPodsAntiAffinity(node.Node) {
		return statusExistingAntiAff
	}
	return nil
}

// satisfyPodAffinity: the node must have every term's topology key, and
// each term's domain must hold a matching pod. The first pod of a group
// with affinity to itself may go anywhere with the keys, if no pod
// anywhere matches the terms and the pod matches them itself.
func (s *interPodPreFilterState) satisfyPodAffinity(node *corev1.Node) bool {
	podsExist := true
	for i := range s.affinityTerms {
		t := &s.affinityTerms[i]
		tv, ok := node.Labels[t.TopologyKey]
		if !ok {
			return false
		}
		if s.affinityCounts[topologyPair{key: t.TopologyKey, value: tv}] <= 0 {
			podsExist = false
		}
	}
	if !podsExist {
		return len(s.affinityCounts) == 0 && podMatchesAllAffinityTerms(s.affinityTerms, s.pod)
	}
	return true
}

// satisfyPodAntiAffinity: no term's domain on the node may hold a pod the
// term matches.
func (s *interPodPreFilterState) satisfyPodAntiAffinity(node *corev1.Node) bool {
	if len(s.antiAffinityCounts) == 0 {
		return true
	}
	for i := range s.antiAffinityTerms {
		t := &s.antiAffinityTerms[i]
		if tv, ok := node.Labels[t.TopologyKey]; ok {
			if s.antiAffinityCounts[topologyPair{key: t.TopologyKey, value: tv}] > 0 {
				return false
			}
		}
	}
	return true
}

// satisfyExistingPodsAntiAffinity: the node must not be in a domain where
// an existing pod's anti-affinity term matches the pod.
func (s *interPodPreFilterState) satisfyExistingPodsAntiAffinity(node *corev1.Node) bool {
	if len(s.existingAntiAffinity) == 0 {
		return true
	}
	for k, v := range node.Labels {
		if s.existingAntiAffinity[topologyPair{key: k, value: v}] > 0 {
			return false
		}
	}
	return true
}

// topologyScore maps topology key, then value, to a score.
type topologyScore map[string]map[string]int64

func (m topologyScore) processTerm(t *AffinityTerm, weight int32, pod *corev1.Pod, nsLabels labels.Set, node *corev1.Node, multiplier int32) {
	if !t.Matches(pod, nsLabels) {
		return
	}
	tv, ok := node.Labels[t.TopologyKey]
	if !ok {
		return
	}
	if m[t.TopologyKey] == nil {
		m[t.TopologyKey] = map[string]int64{}
	}
	m[t.TopologyKey][tv] += int64(weight * multiplier)
}

func (m topologyScore) processTerms(terms []WeightedAffinityTerm, pod *corev1.Pod, nsLabels labels.Set, node *corev1.Node, multiplier int32) {
	for i := range terms {
		m.processTerm(&terms[i].AffinityTerm, terms[i].Weight, pod, nsLabels, node, multiplier)
	}
}

type interPodPreScoreState struct {
	scores topologyScore
}

// PreScore adds up, per topology domain: the weights of the pod's
// preferred affinity terms matched by existing pods (minus those of its
// anti-affinity terms), the weights of existing pods' preferred terms the
// pod matches (likewise), and 1 for each existing pod's required affinity
// term the pod matches. It skips scoring when nothing counts.
func (*InterPodAffinity) PreScore(_ context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo, snap *Snapshot) *Status {
	if len(nodes) == 0 {
		return NewStatus(Skip)
	}
	pi := state.PodInfo(pod)
	a := pod.Spec.Affinity
	hasConstraints := a != nil && ((a.PodAffinity != nil && len(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0) ||
		(a.PodAntiAffinity != nil && len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0))
	// Unless the pod has preferred terms only the pods with affinity
	// terms can score.
	candidates := snap.HavePodsWithAffinityList()
	if hasConstraints {
		candidates = snap.List()
	}
	prefAff := make([]WeightedAffinityTerm, len(pi.PreferredAffinityTerms))
	for i, t := range pi.PreferredAffinityTerms {
		prefAff[i] = WeightedAffinityTerm{AffinityTerm: mergeTermNamespaces(t.AffinityTerm, snap), Weight: t.Weight}
	}
	prefAnti := make([]WeightedAffinityTerm, len(pi.PreferredAntiAffinityTerms))
	for i, t := range pi.PreferredAntiAffinityTerms {
		prefAnti[i] = WeightedAffinityTerm{AffinityTerm: mergeTermNamespaces(t.AffinityTerm, snap), Weight: t.Weight}
	}
	nsLabels := snap.NamespaceLabels(pod.Namespace)
	scores := topologyScore{}
	for _, ni := range candidates {
		node := ni.Node
		if len(node.Labels) == 0 {
			continue
		}
		existingPods := ni.PodsWithAffinity
		if hasConstraints {
			existingPods = ni.Pods
		}
		for _, existing := range existingPods {
			scores.processTerms(prefAff, existing.Pod, nil, node, 1)
			scores.processTerms(prefAnti, existing.Pod, nil, node, -1)
			for i := range existing.RequiredAffinityTerms {
				scores.processTerm(&existing.RequiredAffinityTerms[i], hardPodAffinityWeight, pod, nsLabels, node, 1)
			}
			scores.processTerms(existing.PreferredAffinityTerms, pod, nsLabels, node, 1)
			scores.processTerms(existing.PreferredAntiAffinityTerms, pod, nsLabels, node, -1)
		}
	}
	if len(scores) == 0 {
		return NewStatus(Skip)
	}
	state.Write(interPodPreScoreKey, &interPodPreScoreState{scores: scores})
	return nil
}

// Score is the sum of the scores of the node's domains.
func (*InterPodAffinity) Score(_ context.Context, state *CycleState, _ *corev1.Pod, node *NodeInfo) (int64, *Status) {
	v, ok := state.Read(interPodPreScoreKey)
	if !ok {
		return 0, NewStatus(Error, "InterPodAffinity: PreScore did not run")
	}
	var score int64
	for key, values := range v.(*interPodPreScoreState).scores {
		if tv, ok := node.Node.Labels[key]; ok {
			score += values[tv]
		}
	}
	return score, nil
}

// NormalizeScore maps the raw scores, which may be negative, linearly
// onto [0, 100] from the lowest to the highest.
func (*InterPodAffinity) NormalizeScore(_ context.Context, state *CycleState, _ *corev1.Pod, scores []NodeScore) *Status {
	v, ok := state.Read(interPodPreScoreKey)
	if !ok || len(v.(*interPodPreScoreState).scores) == 0 {
		return nil
	}
	minCount, maxCount := int64(math.MaxInt64), int64(math.MinInt64)
	for i := range scores {
		minCount = min(minCount, scores[i].Score)
		maxCount = max(maxCount, scores[i].Score)
	}
	diff := maxCount - minCount
	for i := range scores {
		f := 0.0
		if diff > 0 {
			f = float64(MaxNodeScore) * float64(scores[i].Score-minCount) / float64(diff)
		}
		scores[i].Score = int64(f)
	}
	return nil
}
