package framework

import (
	"context"
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func schedule(t *testing.T, p *Profile, pod *corev1.Pod, snap *Snapshot) (ScheduleResult, *FitError) {
	t.Helper()
	res, err := p.Schedule(context.Background(), pod, snap)
	if err == nil {
		return res, nil
	}
	var fit *FitError
	if !errors.As(err, &fit) {
		t.Fatalf("Schedule: %v", err)
	}
	return res, fit
}

func TestScheduleFitError(t *testing.T) {
	snap := NewSnapshot(nodes(
		newNode("small-1").alloc("memory", "1Gi"), newNode("small-2").alloc("memory", "1Gi"), newNode("small-3").alloc("memory", "1Gi"),
		newNode("db-1").taint("dedicated", "db", corev1.TaintEffectNoSchedule), newNode("db-2").taint("dedicated", "db", corev1.TaintEffectNoSchedule),
	), nil)
	_, fit := schedule(t, DefaultProfile("default-scheduler"), newPod("p").req("cpu", "100m", "memory", "2Gi").obj(), snap)
	if fit == nil {
		t.Fatal("scheduled, want a FitError")
	}
	// Kubernetes 1.34+ no longer names the taint; before it read
	// "2 node(s) had untolerated taint {dedicated: db}".
	const want = "0/5 nodes are available: 2 node(s) had untolerated taint(s), 3 Insufficient memory."
	if fit.Error() != want {
		t.Errorf("got  %q\nwant %q", fit.Error(), want)
	}
	if want := map[string]bool{"NodeResourcesFit": true, "TaintToleration": true}; !equalMaps(fit.Diagnosis.UnschedulablePlugins, want) {
		t.Errorf("unschedulable plugins %v", fit.Diagnosis.UnschedulablePlugins)
	}
	if len(fit.Diagnosis.NodeToStatus) != 5 || fit.Diagnosis.NodeToStatus["db-1"].Plugin() != TaintTolerationName {
		t.Errorf("node statuses %v", fit.Diagnosis.NodeToStatus)
	}
	if fit.NumAllNodes != 5 {
		t.Errorf("NumAllNodes %d", fit.NumAllNodes)
	}
}

func TestScheduleFitErrorManyReasons(t *testing.T) {
	snap := NewSnapshot(nodes(
		newNode("cordoned").cordon(), newNode("wrong-zone").zone("b"), newNode("busy").zone("a"), newNode("tight").zone("a"),
	), pods(newPod("hog").on("busy").req("cpu", "4"), newPod("x").on("tight").req("cpu", "3500m", "memory", "7Gi")))
	pod := newPod("p").req("cpu", "1", "memory", "2Gi").requiredNodeTerms(nodeReq(zoneKey, corev1.NodeSelectorOpIn, "a")).obj()
	_, fit := schedule(t, DefaultProfile("default-scheduler"), pod, snap)
	if fit == nil {
		t.Fatal("scheduled, want a FitError")
	}
	// "tight" lacks cpu and memory, "busy" cpu: each reason counts the
	// nodes that gave it.
	const want = "0/4 nodes are available: 1 Insufficient memory, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were unschedulable, 2 Insufficient cpu."
	if fit.Error() != want {
		t.Errorf("got  %q\nwant %q", fit.Error(), want)
	}
}

func TestSchedulePreFilterRejection(t *testing.T) {
	snap := volumeSnapshot()
	tests := []struct {
		pod    *corev1.Pod
		want   string
		plugin string
	}{
		{newPod("p").claim("missing").obj(), `0/3 nodes are available: persistentvolumeclaim "missing" not found.`, VolumeRestrictionsName},
		{newPod("p").claim("immediate").obj(), "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.", VolumeBindingName},
	}
	for _, tc := range tests {
		_, fit := schedule(t, DefaultProfile("default-scheduler"), tc.pod, snap)
		if fit == nil {
			t.Fatalf("%s: scheduled", tc.want)
		}
		if fit.Error() != tc.want || !fit.Diagnosis.UnschedulablePlugins[tc.plugin] || len(fit.Diagnosis.UnschedulablePlugins) != 1 {
			t.Errorf("got %q by %v, want %q by %s", fit.Error(), fit.Diagnosis.UnschedulablePlugins, tc.want, tc.plugin)
		}
	}
	// A local volume takes the pod to its node.
	res, fit := schedule(t, DefaultProfile("default-scheduler"), newPod("p").claim("local").obj(), snap)
	if fit != nil || res.SuggestedHost != "n1" {
		t.Errorf("local volume: %+v %v", res, fit)
	}
}

func TestScheduleNarrowedToNamedNodes(t *testing.T) {
	snap := NewSnapshot(nodes(newNode("n1").alloc("memory", "1Gi"), newNode("n2"), newNode("n3")), nil)
	byName := corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}}
	_, fit := schedule(t, DefaultProfile("x"), newPod("p").req("memory", "2Gi").requiredNodeTerms(byName).obj(), snap)
	const want = "0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]."
	if fit == nil || fit.Error() != want {
		t.Fatalf("got %v, want %q", fit, want)
	}
	res, fit := schedule(t, DefaultProfile("x"), newPod("p").req("memory", "512Mi").requiredNodeTerms(byName).obj(), snap)
	if fit != nil || res.SuggestedHost != "n1" || res.EvaluatedNodes != 1 {
		t.Errorf("got %+v, %v; want n1 after evaluating 1 node", res, fit)
	}
	// Naming only nodes that do not exist.
	gone := corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{"n9"}}}}
	for _, p := range []*Profile{DefaultProfile("x"), {Filters: []FilterPlugin{&NodeAffinity{}}, PreFilters: []PreFilterPlugin{&NodeAffinity{}}}} {
		_, fit = schedule(t, p, newPod("p").requiredNodeTerms(gone).obj(), snap)
		if want := "0/3 nodes are available: 3 node(s) didn't satisfy plugin(s) [NodeAffinity]."; fit == nil || fit.Error() != want {
			t.Errorf("got %v, want %q", fit, want)
		}
	}
}

func TestSchedulePicksHighestTotal(t *testing.T) {
	snap := NewSnapshot(nodes(
		newNode("n1").taint("spot", "true", corev1.TaintEffectPreferNoSchedule), newNode("n2"), newNode("n3"),
	), pods(newPod("hog").on("n3").req("cpu", "2")))
	pod := newPod("p").req("cpu", "1", "memory", "1Gi").obj()
	p := DefaultProfile("x")
	// By hand, with weights:
	//   TaintToleration x3: raw 1, 0, 0 -> 0, 100, 100 -> 0, 300, 300
	//   NodeResourcesFit x1: n1, n2 (75+87)/2 = 81; n3 cpu 3000/4000 used
	//     -> 25, memory 1Gi+200Mi -> 85: 55
	//   BalancedAllocation x1: n1, n2 |0.25-0.125|/2 -> 93; n3
	//     |0.75-0.125|/2 -> 68
	//   ImageLocality: 0; the others skip.
	state := NewCycleState()
	state.podInfo = NewPodInfo(pod)
	totals, err := p.prioritizeNodes(context.Background(), state, pod, snap.List(), snap)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{174, 474, 423}; fmt.Sprint(totals) != fmt.Sprint(want) {
		t.Errorf("totals %v, want %v", totals, want)
	}
	for range 20 {
		res, fit := schedule(t, p, pod, snap)
		if fit != nil || res.SuggestedHost != "n2" || res.FeasibleNodes != 3 || res.EvaluatedNodes != 3 {
			t.Fatalf("got %+v %v, want n2 of 3", res, fit)
		}
	}
}

func TestScheduleNodeNameAndNoNodes(t *testing.T) {
	snap := NewSnapshot(nodes(newNode("a"), newNode("b"), newNode("c")), nil)
	res, fit := schedule(t, DefaultProfile("x"), newPod("p").on("b").obj(), snap)
	if fit != nil || res.SuggestedHost != "b" {
		t.Errorf("got %+v %v, want b", res, fit)
	}
	_, err := DefaultProfile("x").Schedule(context.Background(), newPod("p").obj(), NewSnapshot(nil, nil))
	if !errors.Is(err, ErrNoNodesAvailable) {
		t.Errorf("empty cluster: %v", err)
	}
}

// failingFilter errors on one node.
type failingFilter struct{}

func (failingFilter) Name() string { return "Failing" }
func (failingFilter) Filter(_ context.Context, _ *CycleState, _ *corev1.Pod, n *NodeInfo) *Status {
	if n.Name() == "b" {
		return AsStatus(errors.New("disk on fire"))
	}
	return NewStatus(Unschedulable, "nope")
}

func TestScheduleFilterErrorIsNotAFitError(t *testing.T) {
	snap := NewSnapshot(nodes(newNode("a"), newNode("b"), newNode("c")), nil)
	p := &Profile{Filters: []FilterPlugin{failingFilter{}}}
	_, err := p.Schedule(context.Background(), newPod("p").obj(), snap)
	var fit *FitError
	if err == nil || errors.As(err, &fit) || err.Error() != `running Filter plugin "Failing" on node "b": disk on fire` {
		t.Errorf("got %v", err)
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		pct       int32
		all, want int32
	}{
		{0, 50, 50}, {0, 99, 99}, {0, 100, 100}, {0, 1000, 420}, {0, 5000, 500}, {0, 6000, 300}, {0, 20000, 1000},
		{10, 5000, 500}, {1, 5000, 100}, {100, 5000, 5000}, {30, 150, 100},
	}
	for _, tc := range tests {
		if got := NumFeasibleNodesToFind(tc.pct, tc.all); got != tc.want {
			t.Errorf("NumFeasibleNodesToFind(%d, %d) = %d, want %d", tc.pct, tc.all, got, tc.want)
		}
	}
}

func bigSnapshot(n int, cordonEvery int) *Snapshot {
	ns := make([]*corev1.Node, n)
	for i := range ns {
		b := newNode(fmt.Sprintf("n%04d", i))
		if cordonEvery > 0 && i%cordonEvery == 0 {
			b = b.cordon()
		}
		ns[i] = b.obj()
	}
	return NewSnapshot(ns, nil)
}

func TestScheduleEvaluatesAdaptivePercentageAndRotates(t *testing.T) {
	snap := bigSnapshot(5000, 0)
	index := func(name string) int {
		var i int
		fmt.Sscanf(name, "n%04d", &i)
		return i
	}
	p := DefaultProfile("x")
	p.Parallelism = 1
	pod := newPod("p").req("cpu", "100m").obj()
	for cycle := range 3 {
		res, fit := schedule(t, p, pod, snap)
		if fit != nil {
			t.Fatal(fit)
		}
		// 5000 * max(5, 50 - 5000/125) / 100 = 500 nodes, from where the
		// previous cycle stopped.
		if res.FeasibleNodes != 500 || res.EvaluatedNodes != 500 {
			t.Fatalf("cycle %d: %+v, want 500 feasible of 500 evaluated", cycle, res)
		}
		if i := index(res.SuggestedHost); i < cycle*500 || i >= (cycle+1)*500 {
			t.Errorf("cycle %d chose %s, outside nodes %d..%d", cycle, res.SuggestedHost, cycle*500, (cycle+1)*500-1)
		}
		if p.nextStartNodeIndex != (cycle+1)*500 {
			t.Errorf("cycle %d: next start %d", cycle, p.nextStartNodeIndex)
		}
	}

	// With every 10th node cordoned, 556 nodes (56 of them cordoned) are
	// examined to find 500 that fit.
	snap = bigSnapshot(5000, 10)
	p = DefaultProfile("x")
	p.Parallelism = 1
	res, fit := schedule(t, p, pod, snap)
	if fit != nil || res.FeasibleNodes != 500 || res.EvaluatedNodes != 556 || p.nextStartNodeIndex != 556 {
		t.Errorf("got %+v, next start %d; want 500 of 556", res, p.nextStartNodeIndex)
	}

	// In parallel the nodes examined vary, but not the count that fit,
	// and the next cycle starts after them.
	p = DefaultProfile("x")
	for range 3 {
		before := p.nextStartNodeIndex
		res, fit := schedule(t, p, pod, snap)
		if fit != nil || res.FeasibleNodes != 500 || res.EvaluatedNodes < 500 {
			t.Fatalf("parallel: %+v", res)
		}
		if p.nextStartNodeIndex != (before+res.EvaluatedNodes)%5000 {
			t.Errorf("parallel: next start %d after %d + %d", p.nextStartNodeIndex, before, res.EvaluatedNodes)
		}
	}
}

func TestScheduleEveryNodeWhenNoneFit(t *testing.T) {
	snap := bigSnapshot(1000, 0)
	p := DefaultProfile("x")
	p.nextStartNodeIndex = 123
	_, fit := schedule(t, p, newPod("p").req("cpu", "5").obj(), snap)
	if fit == nil || len(fit.Diagnosis.NodeToStatus) != 1000 {
		t.Fatalf("got %v", fit)
	}
	if fit.Error() != "0/1000 nodes are available: 1000 Insufficient cpu." {
		t.Errorf("got %q", fit.Error())
	}
	if p.nextStartNodeIndex != 123 {
		t.Errorf("next start %d, want unchanged after a full round", p.nextStartNodeIndex)
	}
}

func TestSelectHostTies(t *testing.T) {
	totals := []int64{5, 9, 3, 9, 9}
	p := &Profile{intn: func(int) int { return 0 }} // always replace: the last tie
	if got := p.selectHost(totals); got != 4 {
		t.Errorf("got %d, want 4", got)
	}
	p.intn = func(int) int { return 1 } // never replace: the first
	if got := p.selectHost(totals); got != 1 {
		t.Errorf("got %d, want 1", got)
	}
	p.intn = nil
	seen := map[int]int{}
	for range 300 {
		seen[p.selectHost(totals)]++
	}
	if len(seen) != 3 || seen[1] == 0 || seen[3] == 0 || seen[4] == 0 {
		t.Errorf("ties chosen %v, want each of 1, 3, 4", seen)
	}
}
