package daemonset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

type fixture struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	clock   *clocktesting.FakeClock
	rec     *record.FakeRecorder
	named   atomic.Int64
}

// newFixture builds a controller on a fake clientset whose informers are
// never started: the tests put objects into the caches themselves, so
// they decide what the controller has observed.
func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, client: fake.NewClientset(), clock: clocktesting.NewFakeClock(t0), rec: record.NewFakeRecorder(1000)}
	// The fake does not generate names.
	f.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%sgen%d", p.GenerateName, f.named.Add(1))
		}
		return false, nil, nil
	})
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	f.c = New(f.client, f.factory, Options{Clock: f.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.c.recorder = f.rec
	t.Cleanup(func() {
		f.c.queue.ShutDown()
		f.c.events.Shutdown()
	})
	return f
}

// add puts objects into the API (the fake) and the informer caches.
func (f *fixture) add(objs ...runtime.Object) {
	f.t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *appsv1.DaemonSet:
			if _, err = f.client.AppsV1().DaemonSets(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err == nil {
				err = f.factory.Apps().V1().DaemonSets().Informer().GetIndexer().Add(o)
			}
		case *appsv1.ControllerRevision:
			if _, err = f.client.AppsV1().ControllerRevisions(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err == nil {
				err = f.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer().Add(o)
			}
		case *corev1.Pod:
			if _, err = f.client.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err == nil {
				err = f.factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
			}
		case *corev1.Node:
			if _, err = f.client.CoreV1().Nodes().Create(ctx, o, metav1.CreateOptions{}); err == nil {
				err = f.factory.Core().V1().Nodes().Informer().GetIndexer().Add(o)
			}
		}
		if err != nil {
			f.t.Fatal(err)
		}
	}
	f.client.ClearActions()
}

// cacheRevisions copies the revisions in the fake API into the cache, as
// the informer would.
func (f *fixture) cacheRevisions() {
	l, err := f.client.AppsV1().ControllerRevisions("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	idx := f.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer()
	for i := range l.Items {
		if err := idx.Update(&l.Items[i]); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) sync(ds *appsv1.DaemonSet) error {
	f.t.Helper()
	f.client.ClearActions()
	return f.c.sync(context.Background(), dsKey(ds))
}

func (f *fixture) actions(verb, resource string) []k8stesting.Action {
	var out []k8stesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource && a.GetSubresource() == "" {
			out = append(out, a)
		}
	}
	return out
}

// createdPods maps the node each created pod is pinned to to the pod.
func (f *fixture) createdPods() map[string]*corev1.Pod {
	out := map[string]*corev1.Pod{}
	for _, a := range f.actions("create", "pods") {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		n, _ := targetNodeName(p)
		out[n] = p
	}
	return out
}

func (f *fixture) createdNodes() []string {
	var out []string
	for n := range f.createdPods() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (f *fixture) deletedPods() []string {
	var out []string
	for _, a := range f.actions("delete", "pods") {
		out = append(out, a.(k8stesting.DeleteAction).GetName())
	}
	sort.Strings(out)
	return out
}

func (f *fixture) status(ds *appsv1.DaemonSet) appsv1.DaemonSetStatus {
	got, err := f.client.AppsV1().DaemonSets(ds.Namespace).Get(context.Background(), ds.Name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return got.Status
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

func countPrefix(evs []string, prefix string) int {
	n := 0
	for _, e := range evs {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

// current returns a pod constructor for pods of ds's current revision;
// failed and succeeded pods are not ready, as on a node.
func current(ds *appsv1.DaemonSet) func(*appsv1.DaemonSet, string, string, ...podOpt) *corev1.Pod {
	h := computeHash(&ds.Spec.Template, nil)
	return func(ds *appsv1.DaemonSet, name, node string, opts ...podOpt) *corev1.Pod {
		p := pod(ds, name, node, append([]podOpt{hash(h)}, opts...)...)
		if isTerminal(p) {
			notReady()(p)
		}
		return p
	}
}

// fourNodes: n-1 and n-2 labelled edge, n-3 not, n-4 labelled but
// tainted NoSchedule.
func fourNodes() []runtime.Object {
	edge := nodeLabels(map[string]string{"role": "edge"})
	return []runtime.Object{newNode("n-1", edge), newNode("n-2", edge), newNode("n-3"),
		newNode("n-4", edge, taint("dedicated", corev1.TaintEffectNoSchedule))}
}

func TestSyncPlacesPodsOnEligibleNodes(t *testing.T) {
	f := newFixture(t)
	ds := newDS(nodeSelector(map[string]string{"role": "edge"}))
	f.add(fourNodes()...)
	f.add(ds)
	if err := f.sync(ds); err != nil {
		t.Fatal(err)
	}
	if got := f.createdNodes(); !reflect.DeepEqual(got, []string{"n-1", "n-2"}) {
		t.Fatalf("created pods on %v, want n-1 and n-2", got)
	}
	revs := f.actions("create", "controllerrevisions")
	if len(revs) != 1 {
		t.Fatalf("%d revisions created, want 1", len(revs))
	}
	rev := revs[0].(k8stesting.CreateAction).GetObject().(*appsv1.ControllerRevision)
	h := computeHash(&ds.Spec.Template, nil)
	if rev.Name != "ds-"+h || rev.Revision != 1 || rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != h ||
		metav1.GetControllerOf(rev) == nil || !revisionMatches(ds, rev) {
		t.Errorf("revision %+v", rev.ObjectMeta)
	}
	for node, p := range f.createdPods() {
		if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != h || p.Labels[LabelTemplateGeneration] != "1" || p.Spec.NodeName != "" {
			t.Errorf("pod for %s: labels %v nodeName %q", node, p.Labels, p.Spec.NodeName)
		}
	}
	evs := f.events()
	if countPrefix(evs, "Normal SuccessfulCreate Created pod: ds-") != 2 {
		t.Errorf("events %q", evs)
	}
	st := f.status(ds)
	if st.DesiredNumberScheduled != 2 || st.CurrentNumberScheduled != 0 || st.NumberUnavailable != 2 || st.ObservedGeneration != 1 {
		t.Errorf("status %+v: want 2 desired (the tainted node is not), nothing scheduled yet", st)
	}
}

func TestSyncWaitsForExpectations(t *testing.T) {
	f := newFixture(t)
	ds := newDS()
	f.add(newNode("n-1"), newNode("n-2"), ds)
	if err := f.sync(ds); err != nil {
		t.Fatal(err)
	}
	if n := len(f.createdNodes()); n != 2 {
		t.Fatalf("created %d", n)
	}
	f.cacheRevisions()
	// The creates are not in the cache yet: nothing more is done.
	if err := f.sync(ds); err != nil {
		t.Fatal(err)
	}
	if n := len(f.createdNodes()); n != 0 {
		t.Fatalf("created %d pods again before the first ones were observed", n)
	}
	// One observed, one not: still waiting.
	f.c.exp.creationObserved(dsKey(ds))
	if err := f.sync(ds); err != nil {
		t.Fatal(err)
	}
	if n := len(f.createdNodes()); n != 0 {
		t.Fatalf("created %d pods with a creation outstanding", n)
	}
	// Expectations expire.
	f.clock.Step(ExpectationsTimeout + time.Second)
	if err := f.sync(ds); err != nil {
		t.Fatal(err)
	}
	if n := len(f.createdNodes()); n != 2 {
		t.Fatalf("created %d pods after the expectations expired, want 2", n)
	}
}

func TestSyncDeletes(t *testing.T) {
	ds := newDS(nodeSelector(map[string]string{"role": "edge"}))
	pod := current(ds)
	tests := []struct {
		name    string
		pods    []*corev1.Pod
		deleted []string
		event   string
	}{
		{"duplicates on a node: the oldest stays", []*corev1.Pod{
			pod(ds, "a-old", "n-1", created(t0.Add(-2*time.Hour))), pod(ds, "a-new", "n-1"), pod(ds, "b", "n-2")},
			[]string{"a-new"}, "Normal SuccessfulDelete Deleted pod: a-new"},
		{"misscheduled on a node off the selector", []*corev1.Pod{pod(ds, "a", "n-1"), pod(ds, "b", "n-2"), pod(ds, "c", "n-3")},
			[]string{"c"}, "Normal SuccessfulDelete Deleted pod: c"},
		{"a pod on a node tainted NoSchedule later stays", []*corev1.Pod{pod(ds, "a", "n-1"), pod(ds, "b", "n-2"), pod(ds, "d", "n-4")},
			nil, ""},
		{"succeeded pods go", []*corev1.Pod{pod(ds, "a", "n-1", phase(corev1.PodSucceeded)), pod(ds, "b", "n-2")},
			[]string{"a"}, "Normal SucceededDaemonPod Found succeeded daemon pod default/a on node n-1, will try to delete it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.add(fourNodes()...)
			f.add(ds.DeepCopy())
			for _, p := range tt.pods {
				f.add(p)
			}
			if err := f.sync(ds); err != nil {
				t.Fatal(err)
			}
			if got := f.deletedPods(); !reflect.DeepEqual(got, tt.deleted) {
				t.Errorf("deleted %v, want %v", got, tt.deleted)
			}
			if n := len(f.createdNodes()); n != 0 {
				t.Errorf("created %d pods", n)
			}
			if evs := f.events(); tt.event != "" && countPrefix(evs, tt.event) != 1 {
				t.Errorf("events %q, want %q", evs, tt.event)
			}
		})
	}
}

func TestSyncFailedPodBackoff(t *testing.T) {
	f := newFixture(t)
	ds := newDS()
	pod := current(ds)
	f.add(newNode("n-1"), ds, pod(ds, "f1", "n-1", phase(corev1.PodFailed)))
	if err := f.sync(ds); err != nil {
		t.Fatal(err)
	}
	if got := f.deletedPods(); !reflect.DeepEqual(got, []string{"f1"}) {
		t.Fatalf("deleted %v", got)
	}
	if evs := f.events(); countPrefix(evs, "Warning FailedDaemonPod Found failed daemon pod default/f1 on node n-1, will try to kill it") != 1 {
		t.Fatalf("events %q", evs)
	}
	f.cacheRevisions()
	idx := f.factory.Core().V1().Pods().Informer().GetIndexer()
	_ = idx.Delete(pod(ds, "f1", "n-1"))
	f.c.exp.deletionObserved(dsKey(ds))

	// The replacement fails at once too: it is only deleted after the
	// backoff, which doubles.
	f.add(pod(ds, "f2", "n-1", phase(corev1.PodFailed)))
	for i, step := range []time.Duration{0, 500 * time.Millisecond, 600 * time.Millisecond} {
		f.clock.Step(step)
		if err := f.sync(ds); err != nil {
			t.Fatal(err)
		}
		want := []string(nil)
		if i == 2 {
			want = []string{"f2"}
		}
		if got := f.deletedPods(); !reflect.DeepEqual(got, want) {
			t.Fatalf("after %v more: deleted %v, want %v", step, got, want)
		}
	}
	_ = idx.Delete(pod(ds, "f2", "n-1"))
	f.c.exp.deletionObserved(dsKey(ds))
	f.add(pod(ds, "f3", "n-1", phase(corev1.PodFailed)))
	f.clock.Step(1500 * time.Millisecond)
	if err := f.sync(ds); err != nil {
		t.Fatal(err)
	}
	if got := f.deletedPods(); len(got) != 0 {
		t.Fatalf("deleted %v within the doubled backoff", got)
	}
	f.clock.Step(time.Second)
	if err := f.sync(ds); err != nil {
		t.Fatal(err)
	}
	if got := f.deletedPods(); !reflect.DeepEqual(got, []string{"f3"}) {
		t.Fatalf("deleted %v after the doubled backoff", got)
	}
}

// oldRevision is the revision of ds with image img:0, number 1, and the
// hash its pods carry.
func oldRevision(t *testing.T, ds *appsv1.DaemonSet) (*appsv1.ControllerRevision, string) {
	old := ds.DeepCopy()
	old.Spec.Template.Spec.Containers[0].Image = "img:0"
	data, err := revisionData(old)
	if err != nil {
		t.Fatal(err)
	}
	h := computeHash(&old.Spec.Template, nil)
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Namespace: ds.Namespace, Name: ds.Name + "-" + h,
			Labels:          map[string]string{"app": "ds", appsv1.DefaultDaemonSetUniqueLabelKey: h},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, dsKind)}},
		Data: runtime.RawExtension{Raw: data}, Revision: 1,
	}, h
}

func TestSyncUpdateStrategies(t *testing.T) {
	tests := []struct {
		name    string
		ds      *appsv1.DaemonSet
		deleted int
		created []string
	}{
		{"RollingUpdate maxUnavailable 1", newDS(), 1, nil},
		{"RollingUpdate maxUnavailable 2", newDS(rolling(intstr.FromInt32(2), intstr.FromInt32(0))), 2, nil},
		{"RollingUpdate maxSurge 1 creates first", newDS(rolling(intstr.FromInt32(0), intstr.FromInt32(1))), 0, []string{"n-1"}},
		{"OnDelete leaves old pods", newDS(onDelete()), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rev, oldHash := oldRevision(t, tt.ds)
			f.add(newNode("n-1"), newNode("n-2"), newNode("n-3"), tt.ds, rev)
			for _, n := range []string{"n-1", "n-2", "n-3"} {
				f.add(pod(tt.ds, "old-"+n, n, hash(oldHash)))
			}
			if err := f.sync(tt.ds); err != nil {
				t.Fatal(err)
			}
			if got := len(f.deletedPods()); got != tt.deleted {
				t.Errorf("deleted %v, want %d", f.deletedPods(), tt.deleted)
			}
			if got := f.createdNodes(); !reflect.DeepEqual(got, tt.created) {
				t.Errorf("created on %v, want %v", got, tt.created)
			}
			creates := f.actions("create", "controllerrevisions")
			if len(creates) != 1 || creates[0].(k8stesting.CreateAction).GetObject().(*appsv1.ControllerRevision).Revision != 2 {
				t.Errorf("revision creates %v, want revision 2", creates)
			}
			st := f.status(tt.ds)
			if st.UpdatedNumberScheduled != 0 || st.DesiredNumberScheduled != 3 || st.NumberAvailable != 3 {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func TestSyncRevisionHistory(t *testing.T) {
	f := newFixture(t)
	ds := newDS()
	ds.Spec.RevisionHistoryLimit = ptr.To(int32(1))
	f.add(newNode("n-1"), ds)
	var hashes []string
	for i := 1; i <= 3; i++ {
		old := ds.DeepCopy()
		old.Spec.Template.Spec.Containers[0].Image = fmt.Sprint("img:old", i)
		data, _ := revisionData(old)
		h := computeHash(&old.Spec.Template, nil)
		hashes = append(hashes, h)
		f.add(&appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ds-" + h,
			Labels: map[string]string{"app": "ds", appsv1.DefaultDaemonSetUniqueLabelKey: h}, OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, dsKind)}},
			Data: runtime.RawExtension{Raw: data}, Revision: int64(i)})
	}
	// The current template's revision exists with an old number.
	data, _ := revisionData(ds)
	cur := computeHash(&ds.Spec.Template, nil)
	f.add(&appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ds-" + cur,
		Labels: map[string]string{"app": "ds", appsv1.DefaultDaemonSetUniqueLabelKey: cur}, OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, dsKind)}},
		Data: runtime.RawExtension{Raw: data}, Revision: 2})
	// A pod still runs revision 1.
	f.add(pod(ds, "p", "n-1", hash(hashes[0])))
	if err := f.sync(ds); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range f.actions("delete", "controllerrevisions") {
		deleted = append(deleted, a.(k8stesting.DeleteAction).GetName())
	}
	if want := []string{"ds-" + hashes[1], "ds-" + hashes[2]}; !reflect.DeepEqual(deleted, want) {
		t.Errorf("deleted revisions %v, want %v (3 old, limit 1, revision 1 live)", deleted, want)
	}
	got, err := f.client.AppsV1().ControllerRevisions("default").Get(context.Background(), "ds-"+cur, metav1.GetOptions{})
	if err != nil || got.Revision != 4 {
		t.Errorf("current revision renumbered to %v (%v), want 4", got.Revision, err)
	}
}

func TestSyncAdoptsOrphans(t *testing.T) {
	f := newFixture(t)
	ds := newDS()
	pod := current(ds)
	orphan := pod(ds, "o", "n-1")
	orphan.OwnerReferences = nil
	f.add(newNode("n-1"), ds, orphan)
	if err := f.sync(ds); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("patch", "pods")); n != 1 {
		t.Fatalf("%d pod patches, want the adoption", n)
	}
	if n := len(f.createdNodes()); n != 0 {
		t.Errorf("created %d pods next to the adopted one", n)
	}
}

func TestSyncSelectingAll(t *testing.T) {
	f := newFixture(t)
	ds := newDS()
	ds.Spec.Selector = &metav1.LabelSelector{}
	f.add(newNode("n-1"), ds)
	if err := f.sync(ds); err != nil {
		t.Fatal(err)
	}
	if n := len(f.client.Actions()); n != 0 {
		t.Errorf("%d API calls, want none", n)
	}
	if evs := f.events(); countPrefix(evs, "Warning SelectingAll This daemon set is selecting all pods. A non-empty selector is required.") != 1 {
		t.Errorf("events %q", evs)
	}
}

func TestSyncCreateFailure(t *testing.T) {
	f := newFixture(t)
	ds := newDS()
	f.add(newNode("n-1"), newNode("n-2"), newNode("n-3"), newNode("n-4"), ds)
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("quota exceeded")
	})
	if err := f.sync(ds); err == nil {
		t.Fatal("no error")
	}
	// Slow start: the first batch of one failed, nothing more tried.
	if n := len(f.actions("create", "pods")); n != 1 {
		t.Errorf("%d create calls, want 1", n)
	}
	if !f.c.exp.satisfied(dsKey(ds)) {
		t.Error("creates never issued are still expected")
	}
	if evs := f.events(); countPrefix(evs, "Warning FailedCreate Error creating: quota exceeded") != 1 {
		t.Errorf("events %q", evs)
	}
}

func TestNodeEventsEnqueue(t *testing.T) {
	f := newFixture(t)
	ds := newDS(nodeSelector(map[string]string{"role": "edge"}))
	other := newDS(nodeSelector(map[string]string{"role": "db"}))
	other.Name, other.UID = "other", "other-uid"
	f.add(ds, other)
	drain := func() []string {
		var out []string
		for f.c.queue.Len() > 0 {
			k, _ := f.c.queue.Get()
			out = append(out, k)
			f.c.queue.Done(k)
			f.c.queue.Forget(k)
		}
		sort.Strings(out)
		return out
	}
	edge := newNode("n", nodeLabels(map[string]string{"role": "edge"}))
	f.c.addNode(edge)
	if got := drain(); !reflect.DeepEqual(got, []string{"default/ds"}) {
		t.Errorf("add: %v", got)
	}
	status := edge.DeepCopy()
	status.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	f.c.updateNode(edge, status)
	if got := drain(); got != nil {
		t.Errorf("status-only update: %v", got)
	}
	db := newNode("n", nodeLabels(map[string]string{"role": "db"}))
	f.c.updateNode(edge, db)
	if got := drain(); !reflect.DeepEqual(got, []string{"default/ds", "default/other"}) {
		t.Errorf("relabel: %v", got)
	}
}

func TestSlowStartBatch(t *testing.T) {
	// fn fails on item failAt; the calls made show the batches: 1, 2, 4,
	// 8, then the 5 left of 20.
	for _, tc := range []struct{ failAt, calls, ok int }{
		{-1, 20, 20}, {0, 1, 0}, {1, 3, 2}, {2, 3, 2}, {3, 7, 6}, {7, 15, 14}, {15, 20, 19},
	} {
		var calls atomic.Int64
		ok, err := slowStartBatch(20, 1, func(i int) error {
			calls.Add(1)
			if i == tc.failAt {
				return errors.New("boom")
			}
			return nil
		})
		if int(calls.Load()) != tc.calls || ok != tc.ok || (err != nil) != (tc.failAt >= 0) {
			t.Errorf("fail at %d: %d calls, %d ok, err %v; want %d calls, %d ok", tc.failAt, calls.Load(), ok, err, tc.calls, tc.ok)
		}
	}
}

func TestSyncHashCollisionBumpsCollisionCount(t *testing.T) {
	f := newFixture(t)
	ds := newDS()
	// Another template's revision holds the name this template hashes to.
	taken, _ := oldRevision(t, ds)
	taken.Name = "ds-" + computeHash(&ds.Spec.Template, nil)
	f.add(newNode("n-1"), ds, taken)
	if err := f.sync(ds); err == nil {
		t.Fatal("a collision was not reported")
	}
	st := f.status(ds)
	if st.CollisionCount == nil || *st.CollisionCount != 1 {
		t.Fatalf("collisionCount %v, want 1", st.CollisionCount)
	}
	if n := len(f.createdNodes()); n != 0 {
		t.Errorf("created %d pods without a current revision", n)
	}
	// The next sync hashes with the new count and gets its own name.
	bumped := ds.DeepCopy()
	bumped.Status.CollisionCount = ptr.To(int32(1))
	if err := f.factory.Apps().V1().DaemonSets().Informer().GetIndexer().Update(bumped); err != nil {
		t.Fatal(err)
	}
	if err := f.sync(bumped); err != nil {
		t.Fatal(err)
	}
	want := computeHash(&ds.Spec.Template, ptr.To(int32(1)))
	if p := f.createdPods()["n-1"]; p == nil || p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != want {
		t.Errorf("pod %v, want hash %s", p, want)
	}
}
