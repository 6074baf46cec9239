package podgc

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type podOpt func(*corev1.Pod)

func pod(name, nodeName string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec:       corev1.PodSpec{NodeName: nodeName},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func evicted(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted" }

func age(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0.Add(-d)) }
}

func terminating(p *corev1.Pod) {
	ts := metav1.NewTime(t0.Add(-time.Minute))
	p.DeletionTimestamp = &ts
}

func node(name string, ready bool, taints ...corev1.Taint) *corev1.Node {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionUnknown
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}},
	}
}

var outOfServiceTaint = corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}

// setup builds a collector on a fake clientset holding objs, with its
// informers synced and a fake clock at t0.
func setup(t *testing.T, opts Options, objs ...runtime.Object) (*Controller, *fake.Clientset, *clocktesting.FakeClock) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	fc := clocktesting.NewFakeClock(t0)
	opts.Clock, opts.Logger = fc, discard()
	factory := informers.NewSharedInformerFactory(cs, 0)
	c := New(cs, factory, opts)
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("%v did not sync", typ)
		}
	}
	return c, cs, fc
}

func podNames(t *testing.T, cs *fake.Clientset) []string {
	t.Helper()
	l, err := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// statusPatch is a pods/status patch the collector sent.
type statusPatch struct {
	Status struct {
		Phase      corev1.PodPhase       `json:"phase"`
		Conditions []corev1.PodCondition `json:"conditions"`
	} `json:"status"`
}

// checkWrites asserts how pods were deleted: every delete without grace
// period, each pod not yet terminated first patched Failed through
// pods/status, with the DisruptionTarget condition exactly for
// withCondition.
func checkWrites(t *testing.T, cs *fake.Clientset, pods map[string]*corev1.Pod, withCondition []string) {
	t.Helper()
	patched := map[string]statusPatch{}
	for _, a := range cs.Actions() {
		switch a := a.(type) {
		case k8stesting.PatchAction:
			if a.GetResource().Resource != "pods" {
				continue
			}
			if a.GetSubresource() != "status" {
				t.Errorf("pod %s patched outside pods/status", a.GetName())
			}
			var sp statusPatch
			if err := json.Unmarshal(a.GetPatch(), &sp); err != nil {
				t.Fatal(err)
			}
			patched[a.GetName()] = sp
		case k8stesting.DeleteAction:
			if a.GetResource().Resource != "pods" {
				continue
			}
			name := a.GetName()
			if g := a.GetDeleteOptions().GracePeriodSeconds; g == nil || *g != 0 {
				t.Errorf("pod %s deleted with grace period %v, want 0", name, g)
			}
			p := pods[name]
			sp, ok := patched[name]
			if isTerminated(p) {
				if ok {
					t.Errorf("terminated pod %s patched", name)
				}
				continue
			}
			if !ok || sp.Status.Phase != corev1.PodFailed {
				t.Errorf("pod %s deleted without being marked Failed first (patch %+v)", name, sp)
				continue
			}
			wantCond := slices.Contains(withCondition, name)
			if gotCond := len(sp.Status.Conditions) > 0; gotCond != wantCond {
				t.Errorf("pod %s: DisruptionTarget sent %v, want %v", name, gotCond, wantCond)
				continue
			}
			if wantCond {
				c := sp.Status.Conditions[0]
				if c.Type != corev1.DisruptionTarget || c.Status != corev1.ConditionTrue ||
					c.Reason != "DeletionByPodGC" || c.Message != "PodGC: node no longer exists" || c.LastTransitionTime.IsZero() {
					t.Errorf("pod %s: condition %+v", name, c)
				}
			}
		}
	}
}

func TestGC(t *testing.T) {
	type step struct {
		advance time.Duration
		// remaining pods after the collection at this step.
		remaining []string
	}
	nodesGR := schema.GroupResource{Resource: "nodes"}
	tests := []struct {
		name  string
		opts  Options
		nodes []*corev1.Node
		pods  []*corev1.Pod
		// getNode, when set, answers live GETs of nodes.
		getNode       func(name string) (*corev1.Node, error)
		steps         []step
		withCondition []string
	}{
		{
			name:  "terminated pods beyond the threshold, evicted then oldest first",
			opts:  Options{TerminatedPodGCThreshold: 2},
			nodes: []*corev1.Node{node("n", true)},
			pods: []*corev1.Pod{
				pod("s-3h", "n", phase(corev1.PodSucceeded), age(3*time.Hour)),
				pod("s-2h", "n", phase(corev1.PodSucceeded), age(2*time.Hour)),
				pod("f-4h", "n", phase(corev1.PodFailed), age(4*time.Hour)),
				pod("evicted-1m", "n", evicted, age(time.Minute)),
				pod("running-9h", "n", age(9*time.Hour)),
				pod("pending-9h", "", phase(corev1.PodPending), age(9*time.Hour)),
			},
			steps: []step{{remaining: []string{"pending-9h", "running-9h", "s-2h", "s-3h"}}},
		},
		{
			name:  "creation time ties broken by name",
			opts:  Options{TerminatedPodGCThreshold: 1},
			nodes: []*corev1.Node{node("n", true)},
			pods: []*corev1.Pod{
				pod("b", "n", phase(corev1.PodSucceeded)),
				pod("a", "n", phase(corev1.PodSucceeded)),
				pod("c", "n", phase(corev1.PodSucceeded)),
			},
			steps: []step{{remaining: []string{"c"}}},
		},
		{
			name:  "a negative threshold keeps terminated pods",
			opts:  Options{TerminatedPodGCThreshold: -1},
			nodes: []*corev1.Node{node("n", true)},
			pods:  []*corev1.Pod{pod("a", "n", phase(corev1.PodSucceeded)), pod("b", "n", phase(corev1.PodFailed))},
			steps: []step{{remaining: []string{"a", "b"}}},
		},
		{
			name:  "pods of a deleted node go after the quarantine, marked DisruptionTarget",
			nodes: []*corev1.Node{node("n", true)},
			pods: []*corev1.Pod{
				pod("orphan", "gone"), pod("orphan-done", "gone", phase(corev1.PodSucceeded)),
				pod("kept", "n"),
			},
			steps: []step{
				{remaining: []string{"kept", "orphan", "orphan-done"}},
				{advance: 39 * time.Second, remaining: []string{"kept", "orphan", "orphan-done"}},
				{advance: time.Second, remaining: []string{"kept"}},
			},
			withCondition: []string{"orphan"},
		},
		{
			name:  "a short quarantine",
			opts:  Options{Quarantine: time.Second},
			pods:  []*corev1.Pod{pod("orphan", "gone")},
			steps: []step{{remaining: []string{"orphan"}}, {advance: time.Second, remaining: nil}},

			withCondition: []string{"orphan"},
		},
		{
			name: "a node the informer has not seen yet is no orphan's",
			pods: []*corev1.Pod{pod("p", "late")},
			getNode: func(name string) (*corev1.Node, error) {
				return node(name, true), nil
			},
			steps: []step{
				{remaining: []string{"p"}},
				{advance: 40 * time.Second, remaining: []string{"p"}},
				{advance: 40 * time.Second, remaining: []string{"p"}},
			},
		},
		{
			name: "a failed lookup deletes nothing and quarantines again",
			pods: []*corev1.Pod{pod("p", "unknown")},
			getNode: func(name string) (*corev1.Node, error) {
				return nil, apierrors.NewServiceUnavailable("etcd is down")
			},
			steps: []step{
				{remaining: []string{"p"}},
				{advance: 40 * time.Second, remaining: []string{"p"}},
				{advance: 40 * time.Second, remaining: []string{"p"}},
			},
		},
		{
			name: "a lookup that finds the node gone deletes",
			pods: []*corev1.Pod{pod("p", "gone")},
			getNode: func(name string) (*corev1.Node, error) {
				return nil, apierrors.NewNotFound(nodesGR, name)
			},
			steps:         []step{{remaining: []string{"p"}}, {advance: 40 * time.Second}},
			withCondition: []string{"p"},
		},
		{
			name: "unscheduled terminating pods go at once",
			pods: []*corev1.Pod{
				pod("unscheduled-terminating", "", phase(corev1.PodPending), terminating),
				pod("unscheduled", "", phase(corev1.PodPending)),
			},
			steps: []step{{remaining: []string{"unscheduled"}}},
		},
		{
			name: "terminating pods on a NotReady out-of-service node go at once",
			nodes: []*corev1.Node{
				node("oos", false, outOfServiceTaint),
				node("ready-oos", true, outOfServiceTaint),
				node("notready", false),
			},
			pods: []*corev1.Pod{
				pod("oos-terminating", "oos", terminating),
				pod("oos-running", "oos"),
				pod("ready-oos-terminating", "ready-oos", terminating),
				pod("notready-terminating", "notready", terminating),
			},
			steps: []step{{remaining: []string{"notready-terminating", "oos-running", "ready-oos-terminating"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			byName := map[string]*corev1.Pod{}
			for _, n := range tt.nodes {
				objs = append(objs, n)
			}
			for _, p := range tt.pods {
				objs = append(objs, p)
				byName[p.Name] = p
			}
			c, cs, fc := setup(t, tt.opts, objs...)
			if tt.getNode != nil {
				cs.PrependReactor("get", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
					n, err := tt.getNode(a.(k8stesting.GetAction).GetName())
					return true, n, err
				})
			}
			for i, s := range tt.steps {
				fc.Step(s.advance)
				c.gc(context.Background())
				if got := podNames(t, cs); !slices.Equal(got, s.remaining) {
					t.Fatalf("step %d (+%v): pods %v, want %v", i, s.advance, got, s.remaining)
				}
			}
			checkWrites(t, cs, byName, tt.withCondition)
		})
	}
}

func TestNodeBackEndsQuarantine(t *testing.T) {
	c, cs, fc := setup(t, Options{}, pod("p", "back"))
	ctx := context.Background()
	c.gc(ctx)
	fc.Step(20 * time.Second)
	if _, err := cs.CoreV1().Nodes().Create(ctx, node("back", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, err := c.nodes.Get("back"); err != nil; _, err = c.nodes.Get("back") {
		if time.Now().After(deadline) {
			t.Fatal("the informer never saw the node")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.gc(ctx)
	if len(c.missing) != 0 {
		t.Fatalf("node still quarantined: %v", c.missing)
	}
	// Deleted again: a fresh quarantine starts, the old one does not count.
	if err := cs.CoreV1().Nodes().Delete(ctx, "back", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, err := c.nodes.Get("back"); err == nil; _, err = c.nodes.Get("back") {
		if time.Now().After(deadline) {
			t.Fatal("the informer never saw the deletion")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.gc(ctx)
	fc.Step(39 * time.Second)
	c.gc(ctx)
	if got := podNames(t, cs); !slices.Equal(got, []string{"p"}) {
		t.Fatalf("pods %v before the new quarantine ended", got)
	}
	fc.Step(time.Second)
	c.gc(ctx)
	if got := podNames(t, cs); len(got) != 0 {
		t.Fatalf("pods %v after the new quarantine", got)
	}
}

func TestRunCollectsEveryPeriod(t *testing.T) {
	c, cs, fc := setup(t, Options{TerminatedPodGCThreshold: 1, GCPeriod: 5 * time.Second},
		pod("old", "", phase(corev1.PodSucceeded), age(2*time.Hour)),
		pod("mid", "", phase(corev1.PodSucceeded), age(time.Hour)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, 2) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The first collection runs at once, then Run waits for the period.
	waitFor("the first collection", func() bool { return slices.Equal(podNames(t, cs), []string{"mid"}) && fc.HasWaiters() })
	newPod := pod("new", "", phase(corev1.PodSucceeded), age(time.Minute))
	if _, err := cs.CoreV1().Pods("ns").Create(ctx, newPod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the informer to see the new pod", func() bool { _, err := c.pods.Pods("ns").Get("new"); return err == nil })
	if got := podNames(t, cs); !slices.Equal(got, []string{"mid", "new"}) {
		t.Fatalf("collected before the period passed: %v", got)
	}
	fc.Step(5 * time.Second)
	waitFor("the second collection", func() bool { return slices.Equal(podNames(t, cs), []string{"new"}) })
}

func TestSelection(t *testing.T) {
	// The quarantine's bookkeeping on its own.
	q := quarantine{}
	pods := []*corev1.Pod{pod("a", "x"), pod("b", "x"), pod("c", "y"), pod("d", "")}
	nodes := map[string]*corev1.Node{"y": node("y", true)}
	if due := q.due(pods, nodes, t0, time.Minute); len(due) != 0 || len(q) != 1 {
		t.Fatalf("due %v, quarantine %v", due, q)
	}
	if due := q.due(pods, nodes, t0.Add(59*time.Second), time.Minute); len(due) != 0 {
		t.Fatalf("due early: %v", due)
	}
	if due := q.due(pods, nodes, t0.Add(time.Minute), time.Minute); !slices.Equal(due, []string{"x"}) || len(q) != 0 {
		t.Fatalf("due %v, quarantine %v", due, q)
	}
	// A missing node no pod needs is forgotten.
	q.due(pods, nodes, t0, time.Minute)
	q.due(pods[2:], nodes, t0, time.Minute)
	if len(q) != 0 {
		t.Fatalf("quarantine %v holds a node no pod is bound to", q)
	}
}
