package daemonset

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPlanPlacement(t *testing.T) {
	edge := map[string]string{"role": "edge"}
	base := newDS(nodeSelector(edge))
	surge := newDS(nodeSelector(edge), rolling(intstr.FromInt32(0), intstr.FromInt32(1)))
	surgeMinReady := newDS(nodeSelector(edge), rolling(intstr.FromInt32(0), intstr.FromInt32(1)), minReady(60))
	edgeNode := func(name string, opts ...nodeOpt) *corev1.Node {
		return newNode(name, append([]nodeOpt{nodeLabels(edge)}, opts...)...)
	}
	tests := []struct {
		name              string
		ds                *appsv1.DaemonSet
		nodes             []*corev1.Node
		pods              []*corev1.Pod
		create            []string
		del, failed, succ []string
	}{
		{name: "missing pods are created on matching nodes only", ds: base,
			nodes:  []*corev1.Node{edgeNode("n-2"), newNode("n-3"), edgeNode("n-1")},
			create: []string{"n-1", "n-2"}},
		{name: "one pod per node: nothing to do", ds: base,
			nodes: []*corev1.Node{edgeNode("n-1")}, pods: []*corev1.Pod{pod(base, "a", "n-1")}},
		{name: "a pod pinned but not yet bound counts", ds: base,
			nodes: []*corev1.Node{edgeNode("n-1")}, pods: []*corev1.Pod{pod(base, "a", "", pinnedTo("n-1"))}},
		{name: "duplicates: the oldest is kept", ds: base,
			nodes: []*corev1.Node{edgeNode("n-1")},
			pods: []*corev1.Pod{
				pod(base, "newest", "n-1", created(t0)),
				pod(base, "oldest", "n-1", created(t0.Add(-2*time.Hour))),
				pod(base, "middle", "n-1"),
			},
			del: []string{"middle", "newest"}},
		{name: "duplicates: a bound pod wins over an older unbound one", ds: base,
			nodes: []*corev1.Node{edgeNode("n-1")},
			pods: []*corev1.Pod{
				pod(base, "unbound", "", pinnedTo("n-1"), created(t0.Add(-2*time.Hour))),
				pod(base, "bound", "n-1"),
			},
			del: []string{"unbound"}},
		{name: "misscheduled: node no longer matches", ds: base,
			nodes: []*corev1.Node{newNode("n-1")},
			pods:  []*corev1.Pod{pod(base, "a", "n-1"), pod(base, "going", "n-1", deleting())},
			del:   []string{"a"}},
		{name: "new NoSchedule taint: pod keeps running, none created", ds: base,
			nodes: []*corev1.Node{edgeNode("n-1", taint("x", corev1.TaintEffectNoSchedule)), edgeNode("n-2", taint("x", corev1.TaintEffectNoSchedule))},
			pods:  []*corev1.Pod{pod(base, "a", "n-1")}},
		{name: "NoExecute taint: pod deleted", ds: base,
			nodes: []*corev1.Node{edgeNode("n-1", taint("x", corev1.TaintEffectNoExecute))},
			pods:  []*corev1.Pod{pod(base, "a", "n-1")},
			del:   []string{"a"}},
		{name: "failed and succeeded pods are reported, not recreated in the same pass", ds: base,
			nodes:  []*corev1.Node{edgeNode("n-1"), edgeNode("n-2")},
			pods:   []*corev1.Pod{pod(base, "f", "n-1", phase(corev1.PodFailed)), pod(base, "s", "n-2", phase(corev1.PodSucceeded))},
			failed: []string{"f"}, succ: []string{"s"}},
		{name: "a pod being deleted blocks a create until it is gone", ds: base,
			nodes: []*corev1.Node{edgeNode("n-1")},
			pods:  []*corev1.Pod{pod(base, "a", "n-1", deleting())}},
		{name: "unbound pods pinned to a gone node are deleted, bound ones left to pod GC", ds: base,
			nodes: []*corev1.Node{edgeNode("n-1")},
			pods: []*corev1.Pod{pod(base, "a", "n-1"), pod(base, "orphaned", "", pinnedTo("gone")),
				pod(base, "bound", "gone")},
			del: []string{"orphaned"}},
		{name: "surge: a new pod next to an old one is kept while not available", ds: surge,
			nodes: []*corev1.Node{edgeNode("n-1")},
			pods:  []*corev1.Pod{pod(surge, "old", "n-1", hash("old")), pod(surge, "new", "n-1", notReady(), created(t0))}},
		{name: "surge: the old pod goes once the new one is available", ds: surge,
			nodes: []*corev1.Node{edgeNode("n-1")},
			pods:  []*corev1.Pod{pod(surge, "old", "n-1", hash("old")), pod(surge, "new", "n-1", created(t0))},
			del:   []string{"old"}},
		{name: "surge: ready but not yet available for minReadySeconds keeps the old", ds: surgeMinReady,
			nodes: []*corev1.Node{edgeNode("n-1")},
			pods: []*corev1.Pod{pod(surgeMinReady, "old", "n-1", hash("old")),
				pod(surgeMinReady, "new", "n-1", created(t0), readySince(t0.Add(-30*time.Second)))}},
		{name: "surge: an unready old pod goes at once", ds: surge,
			nodes: []*corev1.Node{edgeNode("n-1")},
			pods:  []*corev1.Pod{pod(surge, "old", "n-1", hash("old"), notReady()), pod(surge, "new", "n-1", notReady(), created(t0))},
			del:   []string{"old"}},
		{name: "surge: extra pods of either revision beyond the oldest go", ds: surge,
			nodes: []*corev1.Node{edgeNode("n-1")},
			pods: []*corev1.Pod{pod(surge, "old", "n-1", hash("old")), pod(surge, "old2", "n-1", hash("old"), created(t0)),
				pod(surge, "new", "n-1", notReady(), created(t0)), pod(surge, "new2", "n-1", created(t0.Add(time.Second)))},
			del: []string{"old2", "new2"}},
		{name: "surge: the only pod failed, a new one is created", ds: surge,
			nodes:  []*corev1.Node{edgeNode("n-1")},
			pods:   []*corev1.Pod{pod(surge, "f", "n-1", phase(corev1.PodFailed))},
			create: []string{"n-1"}, failed: []string{"f"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planPlacement(tt.ds, tt.nodes, nodePods(tt.pods, false), "new", t0)
			check := func(what string, got, want []string) {
				t.Helper()
				if want == nil {
					want = []string{}
				}
				if got == nil {
					got = []string{}
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			check("create", got.create, tt.create)
			check("delete", names(got.delete), tt.del)
			check("failed", names(got.failed), tt.failed)
			check("succeeded", names(got.succeeded), tt.succ)
		})
	}
}

func TestNodePodsDropsDeletedTerminalPods(t *testing.T) {
	ds := newDS()
	pods := []*corev1.Pod{pod(ds, "a", "n-1"), pod(ds, "gone", "n-1", phase(corev1.PodFailed), deleting()), pod(ds, "nowhere", "")}
	if got := names(nodePods(pods, false)["n-1"]); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("without deleted terminal pods: %v", got)
	}
	if got := names(nodePods(pods, true)["n-1"]); !reflect.DeepEqual(got, []string{"a", "gone"}) {
		t.Errorf("with deleted terminal pods: %v", got)
	}
}
