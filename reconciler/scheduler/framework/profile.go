package framework

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
)

// Profile is one scheduler profile: a schedulerName and its plugins, in
// the order they run.
type Profile struct {
	SchedulerName string

	PreFilters []PreFilterPlugin
	Filters    []FilterPlugin
	PreScores  []PreScorePlugin
	Scores     []WeightedScore

	// PercentageOfNodesToScore bounds how many feasible nodes a cycle
	// looks for in a large cluster; 0 is kube-scheduler's adaptive default.
	PercentageOfNodesToScore int32
	// Parallelism is the number of goroutines that run the filters;
	// 0 means DefaultParallelism (16).
	Parallelism int

	mu                 sync.Mutex
	nextStartNodeIndex int
	// intn picks ties; nil is math/rand/v2.IntN.
	intn func(n int) int
}

// DefaultProfile is kube-scheduler's default profile: its default plugins,
// in its order, with its score weights (TaintToleration 3, NodeAffinity 2,
// PodTopologySpread 2, InterPodAffinity 2, NodeResourcesFit 1,
// NodeResourcesBalancedAllocation 1, ImageLocality 1).
func DefaultProfile(schedulerName string) *Profile {
	var (
		unschedulable = &NodeUnschedulable{}
		nodeName      = &NodeName{}
		taints        = &TaintToleration{}
		nodeAffinity  = &NodeAffinity{}
		ports         = &NodePorts{}
		fit           = &NodeResourcesFit{}
		restrictions  = &VolumeRestrictions{}
		binding       = &VolumeBinding{}
		spread        = &PodTopologySpread{}
		interPod      = &InterPodAffinity{}
		balanced      = &BalancedAllocation{}
		images        = &ImageLocality{}
	)
	return &Profile{
		SchedulerName: schedulerName,
		PreFilters:    []PreFilterPlugin{nodeAffinity, ports, fit, restrictions, binding, spread, interPod},
		Filters: []FilterPlugin{unschedulable, nodeName, taints, nodeAffinity, ports, fit,
			restrictions, binding, spread, interPod},
		PreScores: []PreScorePlugin{taints, nodeAffinity, fit, spread, interPod, balanced, images},
		Scores: []WeightedScore{
			{Plugin: taints, Weight: 3},
			{Plugin: nodeAffinity, Weight: 2},
			{Plugin: fit, Weight: 1},
			{Plugin: spread, Weight: 2},
			{Plugin: interPod, Weight: 2},
			{Plugin: balanced, Weight: 1},
			{Plugin: images, Weight: 1},
		},
	}
}

// ScheduleResult is the outcome of a cycle that found a node.
type ScheduleResult struct {
	// SuggestedHost is the chosen node.
	SuggestedHost string
	// EvaluatedNodes is the number of nodes filtered; FeasibleNodes the
	// number of those that fit.
	EvaluatedNodes, FeasibleNodes int
}

// The bounds of kube-scheduler's adaptive percentageOfNodesToScore.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// NumFeasibleNodesToFind is how many feasible nodes a cycle looks for
// before it stops filtering, as kube-scheduler computes it: every node in
// a cluster of fewer than 100; otherwise the percentage (by default
// 50 - nodes/125, at least 5) of the nodes, but at least 100.
func NumFeasibleNodesToFind(percentageOfNodesToScore, numAllNodes int32) int32 {
	if numAllNodes < minFeasibleNodesToFind {
		return numAllNodes
	}
	percentage := min(percentageOfNodesToScore, 100)
	if percentage <= 0 {
		percentage = max(50-numAllNodes/125, minFeasibleNodesPercentageToFind)
	}
	return max(numAllNodes*percentage/100, minFeasibleNodesToFind)
}

// Schedule runs one scheduling cycle for a pod on a snapshot: PreFilter;
// Filter over the nodes in parallel, starting where the previous cycle
// stopped and stopping once NumFeasibleNodesToFind nodes fit; PreScore;
// Score, NormalizeScore and weights; and the node with the highest total,
// ties broken at random. When no node fits it returns a *FitError.
func (p *Profile) Schedule(ctx context.Context, pod *corev1.Pod, snap *Snapshot) (ScheduleResult, error) {
	allNodes := snap.List()
	if len(allNodes) == 0 {
		return ScheduleResult{}, ErrNoNodesAvailable
	}
	state := NewCycleState()
	state.podInfo = NewPodInfo(pod)
	fitError := func(d Diagnosis) error {
		return &FitError{Pod: pod, NumAllNodes: len(allNodes), Diagnosis: d}
	}

	// PreFilter.
	var rejected *Status
	for _, pl := range p.PreFilters {
		s := pl.PreFilter(ctx, state, pod, snap)
		switch {
		case s.IsSuccess():
		case s.IsSkip():
			state.setSkipFilter(pl.Name())
		case s.Code() == UnschedulableAndUnresolvable:
			return ScheduleResult{}, fitError(preFilterDiagnosis(s.WithPlugin(pl.Name())))
		case s.Code() == Unschedulable:
			// Later PreFilter plugins still run, as in kube-scheduler.
			rejected = s.WithPlugin(pl.Name())
		default:
			return ScheduleResult{}, fmt.Errorf("running PreFilter plugin %q: %w", pl.Name(), s.AsError())
		}
		if state.nodeNamesEmpty {
			_, plugins, _ := state.narrowed()
			msg := fmt.Sprintf("node(s) didn't satisfy plugin(s) %v simultaneously", plugins)
			if len(plugins) == 1 {
				msg = fmt.Sprintf("node(s) didn't satisfy plugin %v", plugins[0])
			}
			d := preFilterDiagnosis(NewStatus(UnschedulableAndUnresolvable, msg))
			d.UnschedulablePlugins = setOf(plugins)
			return ScheduleResult{}, fitError(d)
		}
	}
	if rejected != nil {
		return ScheduleResult{}, fitError(preFilterDiagnosis(rejected))
	}

	var diag Diagnosis
	nodes := allNodes
	names, narrowedBy, narrowed := state.narrowed()
	if narrowed {
		nodes = make([]*NodeInfo, 0, len(names))
		for _, n := range names {
			if ni := snap.Get(n); ni != nil {
				nodes = append(nodes, ni)
			}
		}
		diag.AbsentNodesStatus = NewStatus(UnschedulableAndUnresolvable, fmt.Sprintf("node(s) didn't satisfy plugin(s) %v", narrowedBy))
	}

	// Filter.
	feasible, statuses, err := p.findNodesThatPassFilters(ctx, state, pod, nodes, len(allNodes))
	if err != nil {
		return ScheduleResult{}, err
	}
	failed := 0
	for _, s := range statuses {
		if s != nil {
			failed++
		}
	}
	if len(feasible) == 0 {
		diag.NodeToStatus = make(map[string]*Status, failed)
		for i, s := range statuses {
			if s != nil {
				diag.NodeToStatus[nodes[i].Node.Name] = s
				diag.addPluginStatus(s)
			}
		}
		putStatuses(statuses)
		for _, pl := range narrowedBy {
			if diag.UnschedulablePlugins == nil {
				diag.UnschedulablePlugins = map[string]bool{}
			}
			diag.UnschedulablePlugins[pl] = true
		}
		return ScheduleResult{}, fitError(diag)
	}
	putStatuses(statuses)
	if len(feasible) == 1 {
		return ScheduleResult{SuggestedHost: feasible[0].Node.Name, EvaluatedNodes: 1 + failed, FeasibleNodes: 1}, nil
	}

	totals, err := p.prioritizeNodes(ctx, state, pod, feasible, snap)
	if err != nil {
		return ScheduleResult{}, err
	}
	return ScheduleResult{
		SuggestedHost:  feasible[p.selectHost(totals)].Node.Name,
		EvaluatedNodes: len(feasible) + failed,
		FeasibleNodes:  len(feasible),
	}, nil
}

func preFilterDiagnosis(s *Status) Diagnosis {
	d := Diagnosis{PreFilterMsg: s.Message(), AbsentNodesStatus: s}
	d.addPluginStatus(s)
	return d
}

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// findNodesThatPassFilters runs the filters on the nodes in parallel,
// starting at the node after the last one the previous cycle examined,
// until enough nodes fit. It returns the nodes that fit and, indexed like
// nodes, the status of each node that did not (nil for nodes that fit or
// were not examined).
func (p *Profile) findNodesThatPassFilters(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo, numAllNodes int) ([]*NodeInfo, []*Status, error) {
	n := len(nodes)
	if n == 0 {
		return nil, nil, nil
	}
	numToFind := int(NumFeasibleNodesToFind(p.PercentageOfNodesToScore, int32(n)))
	if len(p.Scores) == 0 {
		// Without scoring any feasible node will do.
		numToFind = 1
	}
	p.mu.Lock()
	start := p.nextStartNodeIndex
	p.mu.Unlock()
	advance := func(processed int) {
		p.mu.Lock()
		p.nextStartNodeIndex = (start + processed) % numAllNodes
		p.mu.Unlock()
	}

	filters := make([]FilterPlugin, 0, len(p.Filters))
	for _, pl := range p.Filters {
		if !state.skipFilter[pl.Name()] {
			filters = append(filters, pl)
		}
	}
	feasible := make([]*NodeInfo, numToFind)
	if len(filters) == 0 {
		for i := range feasible {
			feasible[i] = nodes[(start+i)%n]
		}
		advance(numToFind)
		return feasible, nil, nil
	}

	statuses := getStatuses(n)
	var (
		feasibleLen atomic.Int64
		stop        atomic.Bool
		errMu       sync.Mutex
		firstErr    error
	)
	check := func(i int) {
		idx := (start + i) % n
		ni := nodes[idx]
		s := runFilters(ctx, filters, state, pod, ni)
		switch {
		case s.IsSuccess():
			l := feasibleLen.Add(1)
			if l > int64(numToFind) {
				stop.Store(true)
				feasibleLen.Add(-1)
				return
			}
			feasible[l-1] = ni
		case s.Code() == Error:
			errMu.Lock()
			if firstErr == nil {
				firstErr = fmt.Errorf("running Filter plugin %q on node %q: %w", s.Plugin(), ni.Node.Name, s.AsError())
			}
			errMu.Unlock()
			stop.Store(true)
		default:
			statuses[idx] = s
		}
	}
	workers := p.Parallelism
	if workers <= 0 {
		workers = DefaultParallelism
	}
	parallelize(ctx, workers, n, &stop, check)
	feasible = feasible[:feasibleLen.Load()]
	processed := len(feasible)
	for _, s := range statuses {
		if s != nil {
			processed++
		}
	}
	advance(processed)
	if firstErr != nil {
		putStatuses(statuses)
		return nil, nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		putStatuses(statuses)
		return nil, nil, err
	}
	return feasible, statuses, nil
}

// statusPool recycles the per-node status slices of the filter phase.
var statusPool sync.Pool

func getStatuses(n int) []*Status {
	if p, ok := statusPool.Get().(*[]*Status); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]*Status, n)
}

func putStatuses(s []*Status) {
	if s == nil {
		return
	}
	clear(s)
	statusPool.Put(&s)
}

// runFilters runs the filters on one node and returns the first
// rejection, marked with its plugin.
func runFilters(ctx context.Context, filters []FilterPlugin, state *CycleState, pod *corev1.Pod, ni *NodeInfo) *Status {
	for _, pl := range filters {
		s := pl.Filter(ctx, state, pod, ni)
		if s.IsSuccess() {
			continue
		}
		if !s.IsRejected() {
			s = AsStatus(s.AsError())
		}
		return s.WithPlugin(pl.Name())
	}
	return nil
}

// prioritizeNodes runs PreScore, Score and NormalizeScore and returns
// each feasible node's weighted total.
func (p *Profile) prioritizeNodes(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo, snap *Snapshot) ([]int64, error) {
	totals := make([]int64, len(nodes))
	if len(p.Scores) == 0 {
		for i := range totals {
			totals[i] = 1
		}
		return totals, nil
	}
	for _, pl := range p.PreScores {
		s := pl.PreScore(ctx, state, pod, nodes, snap)
		if s.IsSkip() {
			state.setSkipScore(pl.Name())
			continue
		}
		if !s.IsSuccess() {
			return nil, fmt.Errorf("running PreScore plugin %q: %w", pl.Name(), s.AsError())
		}
	}
	scores := make([]NodeScore, len(nodes))
	for _, ws := range p.Scores {
		pl := ws.Plugin
		if state.skipScore[pl.Name()] {
			continue
		}
		for i, ni := range nodes {
			v, s := pl.Score(ctx, state, pod, ni)
			if !s.IsSuccess() {
				return nil, fmt.Errorf("running Score plugin %q: %w", pl.Name(), s.AsError())
			}
			scores[i] = NodeScore{Name: ni.Node.Name, Score: v}
		}
		if s := pl.NormalizeScore(ctx, state, pod, scores); !s.IsSuccess() {
			return nil, fmt.Errorf("running NormalizeScore plugin %q: %w", pl.Name(), s.AsError())
		}
		for i := range scores {
			if scores[i].Score < MinNodeScore || scores[i].Score > MaxNodeScore {
				return nil, fmt.Errorf("plugin %q returns an invalid score %v, it should in the range of [%v, %v] after normalizing",
					pl.Name(), scores[i].Score, MinNodeScore, MaxNodeScore)
			}
			totals[i] += scores[i].Score * ws.Weight
		}
	}
	return totals, nil
}

// selectHost returns the index of the highest total; among equal totals
// each is chosen with the same probability (reservoir sampling, as
// kube-scheduler does).
func (p *Profile) selectHost(totals []int64) int {
	intn := p.intn
	if intn == nil {
		intn = rand.IntN
	}
	best, count := 0, 1
	for i := 1; i < len(totals); i++ {
		switch {
		case totals[i] > totals[best]:
			best, count = i, 1
		case totals[i] == totals[best]:
			count++
			if intn(count) == 0 {
				best = i
			}
		}
	}
	return best
}
