package daemonset

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPlanRollingUpdate(t *testing.T) {
	nodes := func(n ...string) []*corev1.Node {
		var out []*corev1.Node
		for _, name := range n {
			out = append(out, newNode(name))
		}
		return out
	}
	three := nodes("n-1", "n-2", "n-3")
	four := nodes("n-1", "n-2", "n-3", "n-4")
	mu := func(v intstr.IntOrString) *appsv1.DaemonSet { return newDS(rolling(v, intstr.FromInt32(0))) }
	ms := func(v intstr.IntOrString) *appsv1.DaemonSet { return newDS(rolling(intstr.FromInt32(0), v)) }
	old := func(ds *appsv1.DaemonSet, name, node string, opts ...podOpt) *corev1.Pod {
		return pod(ds, name, node, append([]podOpt{hash("old")}, opts...)...)
	}
	allOld := func(ds *appsv1.DaemonSet, ns []*corev1.Node) []*corev1.Pod {
		var out []*corev1.Pod
		for _, n := range ns {
			out = append(out, old(ds, "old-"+n.Name, n.Name))
		}
		return out
	}
	d1 := mu(intstr.FromInt32(1))
	d2 := mu(intstr.FromInt32(2))
	dPct := mu(intstr.FromString("50%"))
	dZero := newDS(rolling(intstr.FromInt32(0), intstr.FromInt32(0)))
	dMinReady := newDS(rolling(intstr.FromInt32(1), intstr.FromInt32(0)), minReady(60))
	s1 := ms(intstr.FromInt32(1))
	s2 := ms(intstr.FromString("50%"))
	tests := []struct {
		name   string
		ds     *appsv1.DaemonSet
		nodes  []*corev1.Node
		pods   []*corev1.Pod
		del    []string
		create []string
	}{
		{name: "maxUnavailable 1: one old pod at a time", ds: d1, nodes: three, pods: allOld(d1, three), del: []string{"old-n-1"}},
		{name: "maxUnavailable 2", ds: d2, nodes: three, pods: allOld(d2, three), del: []string{"old-n-1", "old-n-2"}},
		{name: "maxUnavailable 50% of 3 rounds up to 2", ds: dPct, nodes: three, pods: allOld(dPct, three), del: []string{"old-n-1", "old-n-2"}},
		{name: "neither surge nor unavailability: 1", ds: dZero, nodes: three, pods: allOld(dZero, three), del: []string{"old-n-1"}},
		{name: "a new pod not ready yet uses the budget", ds: d1, nodes: three,
			pods: []*corev1.Pod{pod(d1, "new-1", "n-1", notReady()), old(d1, "old-2", "n-2"), old(d1, "old-3", "n-3")}},
		{name: "a new pod not available for minReadySeconds uses the budget", ds: dMinReady, nodes: three,
			pods: []*corev1.Pod{pod(dMinReady, "new-1", "n-1", readySince(t0.Add(-10*time.Second))), old(dMinReady, "old-2", "n-2"), old(dMinReady, "old-3", "n-3")}},
		{name: "available new pod frees the budget", ds: d1, nodes: three,
			pods: []*corev1.Pod{pod(d1, "new-1", "n-1"), old(d1, "old-2", "n-2"), old(d1, "old-3", "n-3")}, del: []string{"old-2"}},
		{name: "a node without a pod uses the budget", ds: d1, nodes: three,
			pods: []*corev1.Pod{old(d1, "old-2", "n-2"), old(d1, "old-3", "n-3")}},
		{name: "a pod being deleted uses the budget", ds: d1, nodes: three,
			pods: []*corev1.Pod{old(d1, "old-1", "n-1", deleting()), old(d1, "old-2", "n-2"), old(d1, "old-3", "n-3")}},
		{name: "unavailable old pods are replaced whatever the budget", ds: d1, nodes: three,
			pods: []*corev1.Pod{pod(d1, "new-1", "n-1", notReady()), old(d1, "old-2", "n-2", notReady()), old(d1, "old-3", "n-3")},
			del:  []string{"old-2"}},
		{name: "a node with two pods waits for the core loop", ds: d2, nodes: three,
			pods: []*corev1.Pod{old(d2, "old-1", "n-1"), pod(d2, "new-1", "n-1"), old(d2, "old-2", "n-2"), old(d2, "old-3", "n-3")},
			del:  []string{"old-2"}},
		{name: "all updated: nothing", ds: d1, nodes: three,
			pods: []*corev1.Pod{pod(d1, "new-1", "n-1"), pod(d1, "new-2", "n-2"), pod(d1, "new-3", "n-3")}},
		{name: "surge 1: one new pod next to an old one", ds: s1, nodes: three, pods: allOld(s1, three), create: []string{"n-1"}},
		{name: "surge 50% of 4: two", ds: s2, nodes: four, pods: allOld(s2, four), create: []string{"n-1", "n-2"}},
		{name: "surge: waiting for the new pod", ds: s1, nodes: three,
			pods: []*corev1.Pod{old(s1, "old-1", "n-1"), pod(s1, "new-1", "n-1", notReady()), old(s1, "old-2", "n-2"), old(s1, "old-3", "n-3")}},
		{name: "surge: new pod available, old deleted and the next node surged", ds: s1, nodes: three,
			pods: []*corev1.Pod{old(s1, "old-1", "n-1"), pod(s1, "new-1", "n-1"), old(s1, "old-2", "n-2"), old(s1, "old-3", "n-3")},
			del:  []string{"old-1"}, create: []string{"n-2"}},
		{name: "surge: an unavailable old pod is surged past the budget", ds: s1, nodes: three,
			pods:   []*corev1.Pod{old(s1, "old-1", "n-1"), pod(s1, "new-1", "n-1", notReady()), old(s1, "old-2", "n-2", notReady()), old(s1, "old-3", "n-3")},
			create: []string{"n-2"}},
		{name: "surge: an old pod on a node it may no longer run on waits for availability elsewhere", ds: newDS(nodeSelector(map[string]string{"x": "y"}), rolling(intstr.FromInt32(0), intstr.FromInt32(1))),
			nodes: []*corev1.Node{newNode("n-1", nodeLabels(map[string]string{"x": "y"})), newNode("n-2")},
			pods:  []*corev1.Pod{old(s1, "old-2", "n-2")}},
		{name: "surge: ...and goes once the others are available", ds: newDS(nodeSelector(map[string]string{"x": "y"}), rolling(intstr.FromInt32(0), intstr.FromInt32(1))),
			nodes: []*corev1.Node{newNode("n-1", nodeLabels(map[string]string{"x": "y"})), newNode("n-2")},
			pods:  []*corev1.Pod{pod(s1, "new-1", "n-1"), old(s1, "old-2", "n-2")},
			del:   []string{"old-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := planRollingUpdate(tt.ds, tt.nodes, nodePods(tt.pods, false), "new", t0)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := names(u.delete), orEmpty(tt.del); !reflect.DeepEqual(got, want) {
				t.Errorf("delete %v, want %v", got, want)
			}
			if got, want := orEmpty(u.create), orEmpty(tt.create); !reflect.DeepEqual(got, want) {
				t.Errorf("create %v, want %v", got, want)
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestRollingUpdateConverges plays the controller and the nodes against
// each other: each round the core loop and the rolling update act, then
// every created pod becomes ready. It shows that an update ends with every
// node on the new revision and never has more than maxUnavailable nodes
// without a ready pod.
func TestRollingUpdateConverges(t *testing.T) {
	for _, maxUnavail := range []int32{1, 2} {
		ds := newDS(rolling(intstr.FromInt32(maxUnavail), intstr.FromInt32(0)))
		var nodes []*corev1.Node
		pods := map[string]*corev1.Pod{}
		for _, n := range []string{"n-1", "n-2", "n-3", "n-4", "n-5"} {
			nodes = append(nodes, newNode(n))
			pods[n] = pod(ds, "old-"+n, n, hash("old"))
		}
		list := func() []*corev1.Pod {
			var out []*corev1.Pod
			for _, p := range pods {
				out = append(out, p)
			}
			return out
		}
		for round := 0; round < 20; round++ {
			plan := planPlacement(ds, nodes, nodePods(list(), false), "new", t0)
			for _, n := range plan.create {
				pods[n] = pod(ds, "new-"+n, n, notReady())
			}
			if len(plan.create) == 0 && len(plan.delete) == 0 {
				u, err := planRollingUpdate(ds, nodes, nodePods(list(), false), "new", t0)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range u.delete {
					delete(pods, p.Spec.NodeName)
				}
			}
			unready := len(nodes) - len(pods)
			for _, p := range pods {
				if !isReady(p) {
					unready++
				}
			}
			if unready > int(maxUnavail) {
				t.Fatalf("maxUnavailable %d: round %d: %d nodes without a ready pod", maxUnavail, round, unready)
			}
			for _, p := range pods {
				readySince(t0.Add(-time.Hour))(p)
			}
		}
		st := computeStatus(ds, nodes, nodePods(list(), false), "new", t0)
		if st.UpdatedNumberScheduled != 5 || st.NumberAvailable != 5 {
			t.Errorf("maxUnavailable %d: did not converge: %+v", maxUnavail, st)
		}
	}
}
