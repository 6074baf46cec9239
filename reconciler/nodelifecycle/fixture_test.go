package nodelifecycle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/cairn-dev/cairn/reconciler/tainteviction"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fixture is a node lifecycle controller on a fake clientset and a fake
// clock, with running informers. The test drives it pass by pass: it
// steps the clock, plays the nodes' part (renewing leases) and calls
// pass, which runs the controller's passes synchronously with the
// informer caches caught up in between.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	client  *fake.Clientset
	clock   *clocktesting.FakeClock
	factory informers.SharedInformerFactory
	c       *Controller
	rec     *record.FakeRecorder
	evictor *tainteviction.Controller
}

func newFixture(t *testing.T, opts Options, objs ...*corev1.Node) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewClientset(), clock: clocktesting.NewFakeClock(t0), rec: record.NewFakeRecorder(10000)}
	ctx, cancel := context.WithCancel(context.Background())
	f.ctx = ctx
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	opts.Clock, opts.Logger = f.clock, discard()
	f.c = New(f.client, f.factory, opts)
	f.c.recorder = f.rec
	t.Cleanup(func() {
		cancel()
		f.factory.Shutdown()
		f.c.events.Shutdown()
		f.c.queue.ShutDown()
	})
	for _, n := range objs {
		f.addNode(n)
	}
	return f
}

// withEvictor runs a taint eviction controller on the same clientset,
// informers and clock.
func (f *fixture) withEvictor() {
	f.evictor = tainteviction.New(f.client, f.factory, tainteviction.Options{Clock: f.clock, Logger: discard()})
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.evictor.Run(ctx, 2); err != nil {
			f.t.Errorf("taint eviction: %v", err)
		}
	}()
	f.t.Cleanup(func() {
		cancel()
		<-done
	})
}

// start starts the informers and waits for them.
func (f *fixture) start() {
	f.factory.Start(f.ctx.Done())
	f.factory.WaitForCacheSync(f.ctx.Done())
	f.settle()
}

// newNode is a ready node in zone, its status and lease posted at t0.
func newNode(name, zone string) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name + "-uid"), CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionTrue, t0),
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, t0),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, t0),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, t0),
			cond(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, t0),
		}},
	}
	if zone != "" {
		n.Labels = map[string]string{corev1.LabelTopologyZone: zone, corev1.LabelTopologyRegion: "r"}
	}
	return n
}

func cond(t corev1.NodeConditionType, s corev1.ConditionStatus, at time.Time) corev1.NodeCondition {
	return corev1.NodeCondition{Type: t, Status: s, Reason: "Kubelet", LastHeartbeatTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at.Add(-time.Hour))}
}

func lease(name string, renew time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: name},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: ptr.To(metav1.NewMicroTime(renew)),
		},
	}
}

func (f *fixture) addNode(n *corev1.Node) {
	f.t.Helper()
	if _, err := f.client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(context.Background(), lease(n.Name, f.clock.Now()), metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// podOn is a running, ready pod on node.
func podOn(name, node string, tolerations ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name + "-uid")},
		Spec:       corev1.PodSpec{NodeName: node, Tolerations: tolerations, Containers: []corev1.Container{{Name: "c", Image: "img"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))},
		}},
	}
}

func (f *fixture) addPod(p *corev1.Pod) {
	f.t.Helper()
	if _, err := f.client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// renew renews the named nodes' leases at the clock's time, as their
// kubelets would.
func (f *fixture) renew(names ...string) {
	f.t.Helper()
	for _, name := range names {
		l, err := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			f.t.Fatal(err)
		}
		l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(f.clock.Now()))
		if _, err := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(context.Background(), l, metav1.UpdateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// postReady makes a node post Ready=True with a fresh heartbeat and renew
// its lease, as a kubelet coming back does.
func (f *fixture) postReady(name string) {
	f.t.Helper()
	n := f.node(name)
	now := f.clock.Now()
	for i := range n.Status.Conditions {
		c := &n.Status.Conditions[i]
		c.LastHeartbeatTime = metav1.NewTime(now)
		want := corev1.ConditionFalse
		if c.Type == corev1.NodeReady {
			want = corev1.ConditionTrue
		}
		if c.Status != want {
			c.Status, c.Reason, c.LastTransitionTime = want, "Kubelet", metav1.NewTime(now)
		}
	}
	if _, err := f.client.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.renew(name)
}

// settle waits until the informer caches show what the fake API holds.
func (f *fixture) settle() {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f.caught() {
		if time.Now().After(deadline) {
			f.t.Fatal("informer caches did not catch up in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *fixture) caught() bool {
	ctx := context.Background()
	nodes, _ := f.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	cachedNodes, _ := f.c.nodeLister.List(labels.Everything())
	if !sameObjects(nodes.Items, cachedNodes) {
		return false
	}
	leases, _ := f.client.CoordinationV1().Leases("").List(ctx, metav1.ListOptions{})
	cachedLeases, _ := f.c.leaseLister.List(labels.Everything())
	if !sameObjects(leases.Items, cachedLeases) {
		return false
	}
	pods, _ := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	cachedPods, _ := f.c.podLister.List(labels.Everything())
	return sameObjects(pods.Items, cachedPods)
}

func sameObjects[T any, P interface {
	*T
	metav1.Object
}](api []T, cached []P) bool {
	if len(api) != len(cached) {
		return false
	}
	byName := map[string]P{}
	for _, o := range cached {
		byName[o.GetNamespace()+"/"+o.GetName()] = o
	}
	for i := range api {
		var o P = &api[i]
		c, ok := byName[o.GetNamespace()+"/"+o.GetName()]
		if !ok || !equality.Semantic.DeepEqual(o, c) {
			return false
		}
	}
	return true
}

// pass runs the controller's monitor pass, NoSchedule pass over every
// node and NoExecute tainting pass, letting the caches catch up after
// each.
func (f *fixture) pass() {
	f.t.Helper()
	f.c.monitorNodeHealth(f.ctx)
	f.settle()
	nodes, _ := f.c.nodeLister.List(labels.Everything())
	for _, n := range nodes {
		if err := f.c.doNoScheduleTaintingPass(f.ctx, n.Name); err != nil {
			f.t.Fatal(err)
		}
	}
	f.settle()
	f.c.doNoExecuteTaintingPass(f.ctx)
	f.settle()
}

// step moves the clock by d, renews the leases of alive nodes and runs
// a pass.
func (f *fixture) step(d time.Duration, alive ...string) {
	f.t.Helper()
	f.clock.Step(d)
	f.renew(alive...)
	f.settle()
	f.pass()
}

func (f *fixture) node(name string) *corev1.Node {
	f.t.Helper()
	n, err := f.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) ready(name string) corev1.ConditionStatus {
	c := readyCondition(&f.node(name).Status)
	if c == nil {
		return ""
	}
	return c.Status
}

// taintKeys lists a node's taints as key:effect, sorted.
func (f *fixture) taintKeys(name string) []string {
	var out []string
	for _, t := range f.node(name).Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	sort.Strings(out)
	return out
}

func (f *fixture) hasNoExecute(name string, taint corev1.Taint) (time.Time, bool) {
	for _, t := range f.node(name).Spec.Taints {
		if t.Key == taint.Key && t.Effect == taint.Effect {
			var at time.Time
			if t.TimeAdded != nil {
				at = t.TimeAdded.Time
			}
			return at, true
		}
	}
	return time.Time{}, false
}

func (f *fixture) podExists(name string) bool {
	_, err := f.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	return err == nil
}

func (f *fixture) podReady(name string) corev1.ConditionStatus {
	p, err := f.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return ""
}

// eventually polls cond with a deadline.
func (f *fixture) eventually(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func hasEvent(events []string, want string) bool {
	return slices.Contains(events, want)
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}
