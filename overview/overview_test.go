package overview

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// now is the fixed instant every fixture is seen from.
var now = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func node(name string, ready bool, mutate ...func(*corev1.Node)) corev1.Node {
	st := corev1.ConditionTrue
	reason := "KubeletReady"
	if !ready {
		st, reason = corev1.ConditionUnknown, "NodeStatusUnknown"
	}
	n := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: st, Reason: reason},
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			},
		},
	}
	for _, m := range mutate {
		m(&n)
	}
	return n
}

func pod(ns, name, nodeName, cpu, mem string, phase corev1.PodPhase, ready bool) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: ago(time.Hour)},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}},
		Status: corev1.PodStatus{Phase: phase},
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func warning(ns, kind, name, reason, msg string, last time.Duration, n int32) corev1.Event {
	return corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s.%d", name, last)},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: name},
		Type:           corev1.EventTypeWarning, Reason: reason, Message: msg, Count: n, LastTimestamp: ago(last),
	}
}

// fixture is a small cluster with one of every kind of trouble.
func fixture() Objects {
	healthy := func(l, m string) corev1.ComponentStatus {
		return corev1.ComponentStatus{ObjectMeta: metav1.ObjectMeta{Name: l},
			Conditions: []corev1.ComponentCondition{{Type: corev1.ComponentHealthy, Status: corev1.ConditionTrue, Message: m}}}
	}
	errs := []gitopsv1.SyncError{
		{File: "apps/web.yaml", Line: 7, Object: "Deployment/shop/web", Field: "spec.replicas", Message: `Invalid value: "three": must be an integer`},
		{File: "apps/web.yaml", Line: 25, Object: "Service/shop/web", Message: "spec.selectr: unknown field"},
		{File: "policies/latest.yaml", Line: 3, Message: "ValidatingAdmissionPolicy 'disallow-latest-tag' denied the request"},
		{File: "apps/db.yaml", Line: 12, Message: "metadata.name: Required value"},
		{File: "apps/db.yaml", Line: 40, Message: "spec.ports[0].port: Invalid value: 0"},
	}
	return Objects{
		Server: "https://10.0.0.1:6443",
		Readyz: "ok",
		ComponentStatuses: []corev1.ComponentStatus{
			healthy("scheduler", "ok (leader node-a_1234)"),
			{ObjectMeta: metav1.ObjectMeta{Name: "controller-manager"}, Conditions: []corev1.ComponentCondition{{Type: corev1.ComponentHealthy,
				Status: corev1.ConditionFalse, Error: "no leader lease kube-system/kube-controller-manager: the component is not running"}}},
			healthy("etcd-0", `{"health":"true"}`),
		},
		GitRepositories: []gitopsv1.GitRepository{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "cairn-system", Name: "cluster"}, Status: gitopsv1.GitRepositoryStatus{
				LastAppliedRevision: "main@sha1:3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345",
				LastAppliedTime:     ptr.To(ago(42 * time.Minute)),
				Commit:              &gitopsv1.CommitInfo{Author: "Ada Lovelace", Message: "Scale the web tier\n\nBecause of the launch."},
				Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "ValidationFailed",
					Message: "revision 9e1d0c2b4a3f has 5 errors; still applying 3f2a9c1b7d4e"}},
				Errors: errs,
			}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "apps"}, Status: gitopsv1.GitRepositoryStatus{
				LastAppliedRevision: "0123456789abcdef0123456789abcdef01234567",
				LastAppliedTime:     ptr.To(ago(3 * time.Hour)),
				Commit:              &gitopsv1.CommitInfo{Author: "Grace Hopper", Message: "Add the queue worker"},
				Conditions:          []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Applied", Message: "applied 12 objects"}},
			}},
		},
		Nodes: []corev1.Node{
			node("node-a", true),
			node("node-b", false),
			node("node-c", true, func(n *corev1.Node) { n.Spec.Unschedulable = true }),
			node("node-d", true, func(n *corev1.Node) { n.Status.Conditions[1].Status = corev1.ConditionTrue }),
		},
		Pods: []corev1.Pod{
			pod("shop", "web-1", "node-a", "1500m", "4Gi", corev1.PodRunning, true),
			pod("shop", "web-2", "node-a", "1500m", "4Gi", corev1.PodRunning, true),
			pod("shop", "web-3", "node-d", "500m", "14Gi", corev1.PodRunning, false),
			pod("shop", "web-4", "", "500m", "1Gi", corev1.PodPending, false),
			pod("batch", "done", "node-a", "2", "1Gi", corev1.PodSucceeded, false),
		},
		Deployments: []appsv1.Deployment{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Generation: 4}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](4)},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 5, UpdatedReplicas: 2, ReadyReplicas: 3, AvailableReplicas: 3}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart", Generation: 1}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}},
		},
		StatefulSets: []appsv1.StatefulSet{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db", Generation: 1}, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3)},
				Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}},
		},
		DaemonSets: []appsv1.DaemonSet{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "proxy", Generation: 2},
				Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberReady: 3, NumberAvailable: 3}},
		},
		Events: []corev1.Event{
			warning("shop", "Pod", "web-4", "FailedScheduling", "0/4 nodes are available: 1 node(s) were unschedulable, 3 Insufficient memory.", 30*time.Second, 4),
			warning("shop", "Pod", "web-4", "FailedScheduling", "0/4 nodes are available: 1 node(s) were unschedulable, 3 Insufficient memory.", 2*time.Minute, 2),
			warning("cairn-system", "GitRepository", "cluster", "ValidationFailed", "revision 9e1d0c2b4a3f has 5 errors", 5*time.Minute, 1),
			warning("", "Node", "node-b", "NodeNotReady", "Node node-b status is now: NodeNotReady", 8*time.Minute, 1),
			warning("shop", "Pod", "web-old", "BackOff", "an hour ago, outside the window", time.Hour, 1),
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "normal"}, Type: corev1.EventTypeNormal, Reason: "Scheduled", LastTimestamp: ago(time.Minute)},
		},
	}
}

// bigFixture has more nodes than a screen lists, a few of them in trouble.
func bigFixture() Objects {
	o := Objects{Server: "https://10.0.0.1:6443", Readyz: "ok"}
	for i := range 40 {
		name := fmt.Sprintf("sim-%04d", i)
		switch i {
		case 7, 31:
			o.Nodes = append(o.Nodes, node(name, false))
		case 12:
			o.Nodes = append(o.Nodes, node(name, true, func(n *corev1.Node) { n.Spec.Unschedulable = true }))
		default:
			o.Nodes = append(o.Nodes, node(name, true))
		}
		// Nodes fill unevenly, so the most loaded ones are clear.
		for j := range i % 9 {
			o.Pods = append(o.Pods, pod("load", fmt.Sprintf("p-%d-%d", i, j), name, "400m", "1Gi", corev1.PodRunning, true))
		}
	}
	return o
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestStatusRender draws fixed snapshots as they appear piped (ASCII, no
// colour) and on a terminal (colour, Unicode), and as JSON.
func TestStatusRender(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Objects
	}{{"small", fixture()}, {"large", bigFixture()}} {
		s := Build(tc.o, now)
		for _, out := range []struct {
			suffix string
			opt    Options
		}{{"plain", Options{Width: 100}}, {"color", Options{Width: 100, Color: true, Unicode: true}}} {
			t.Run(tc.name+"-"+out.suffix, func(t *testing.T) {
				var b bytes.Buffer
				if err := Render(&b, s, out.opt); err != nil {
					t.Fatal(err)
				}
				if out.suffix == "plain" {
					for i, c := range b.Bytes() {
						if c > 0x7e || c < 0x20 && c != '\n' {
							t.Fatalf("plain output has byte %#x at %d: not ASCII-safe", c, i)
						}
					}
				}
				golden(t, tc.name+"."+out.suffix+".golden", b.Bytes())
			})
		}
		t.Run(tc.name+"-json", func(t *testing.T) {
			var b bytes.Buffer
			if err := JSON(&b, s); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".json.golden", b.Bytes())
		})
	}
}

// TestStatusVerdict checks the answer itself: the small fixture names
// every problem, and a clean cluster is OK.
func TestStatusVerdict(t *testing.T) {
	s := Build(fixture(), now)
	want := []string{"controller-manager unhealthy", "gitsync unhealthy", "1 node not ready", "1 node under pressure",
		"2 workloads unhealthy", "2 pods not ready"}
	if strings.Join(s.Verdict.Problems, "|") != strings.Join(want, "|") || s.Verdict.OK {
		t.Errorf("verdict = %+v, want problems %q", s.Verdict, want)
	}
	clean := Objects{Readyz: "ok", Nodes: []corev1.Node{node("n", true)},
		Pods: []corev1.Pod{pod("a", "p", "n", "1", "1Gi", corev1.PodRunning, true)}}
	if v := Build(clean, now).Verdict; !v.OK {
		t.Errorf("clean cluster: verdict = %+v, want OK", v)
	}
	if v := Build(Objects{Readyz: "not ready: etcd failed"}, now).Verdict; v.OK {
		t.Errorf("server not ready and no nodes: verdict = %+v, want not OK", v)
	}
}

// TestStatusNodeRequests checks the per-node sums the bars are drawn from,
// including what init containers and sidecars add.
func TestStatusNodeRequests(t *testing.T) {
	p := pod("a", "p", "n", "500m", "1Gi", corev1.PodRunning, true)
	p.Spec.InitContainers = []corev1.Container{
		{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}},
		{Name: "sidecar", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("1Gi")}}},
	}
	q := pod("a", "q", "n", "250m", "512Mi", corev1.PodPending, false)
	nodes, pods := buildNodesAndPods([]corev1.Node{node("n", true)}, []corev1.Pod{p, q})
	got := nodes.Items[0]
	if got.CPU.Requested != 2000+250 || got.Memory.Requested != (2<<30)+(512<<20) || got.Pods != 2 {
		t.Errorf("node n: cpu %dm, memory %d, %d pods; want 2250m, %d, 2", got.CPU.Requested, got.Memory.Requested, got.Pods, (2<<30)+(512<<20))
	}
	if pods.Total != 2 || pods.Running != 1 || pods.Pending != 1 || pods.NotReady != 1 {
		t.Errorf("pods = %+v", pods)
	}
}
