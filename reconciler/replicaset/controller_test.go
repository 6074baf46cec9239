package replicaset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

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
func newFixture(t *testing.T, burst int) *fixture {
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
	f.c = New(f.client, f.factory, Options{
		Clock: f.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BurstReplicas: burst,
	})
	f.c.recorder = f.rec
	return f
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name + "-uid"), Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, "tier": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
	}
}

type podOpt func(*corev1.Pod)

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readySince(t time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t)}}
	}
}
func restarted(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: n}}
	}
}
func created(t time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}
func labelled(l map[string]string) podOpt { return func(p *corev1.Pod) { p.Labels = l } }
func ownedBy(rs *appsv1.ReplicaSet) podOpt {
	return func(p *corev1.Pod) { p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(rs, rsKind)} }
}
func orphan() podOpt { return func(p *corev1.Pod) { p.OwnerReferences = nil } }

// newPod is a running, ready pod of rs on node n-1, unless opts say
// otherwise.
func newPod(rs *appsv1.ReplicaSet, name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: rs.Namespace, Name: name, UID: types.UID(name + "-uid"),
			Labels: map[string]string{"app": rs.Name, "tier": "web"}, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec:   corev1.PodSpec{NodeName: "n-1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	ownedBy(rs)(p)
	readySince(t0.Add(-time.Hour))(p)
	for _, o := range opts {
		o(p)
	}
	return p
}

// add puts objects into the API (the fake) and the informer caches.
func (f *fixture) add(objs ...runtime.Object) {
	f.t.Helper()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *appsv1.ReplicaSet:
			_, err = f.client.AppsV1().ReplicaSets(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
			if err == nil {
				err = f.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
			}
		case *corev1.Pod:
			_, err = f.client.CoreV1().Pods(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
			if err == nil {
				err = f.factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
			}
		}
		if err != nil {
			f.t.Fatal(err)
		}
	}
	f.client.ClearActions()
}

func (f *fixture) sync(rs *appsv1.ReplicaSet) error {
	return f.c.sync(context.Background(), rsKey(rs))
}

func (f *fixture) actions(verb, resource string) []k8stesting.Action {
	var out []k8stesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			out = append(out, a)
		}
	}
	return out
}

func (f *fixture) createdPods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range f.actions("create", "pods") {
		out = append(out, a.(k8stesting.CreateAction).GetObject().(*corev1.Pod))
	}
	return out
}

// apiPods lists the pods in the fake API (the recorded create actions
// hold copies taken before the name was generated).
func (f *fixture) apiPods() []*corev1.Pod {
	l, err := f.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*corev1.Pod
	for i := range l.Items {
		out = append(out, &l.Items[i])
	}
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

func TestScaleUp(t *testing.T) {
	for _, tc := range []struct {
		name              string
		replicas, burst   int32
		existing, creates int
	}{
		{"from zero", 5, 500, 0, 5},
		{"missing only", 5, 500, 2, 3},
		{"capped at the burst", 30, 10, 0, 10},
		{"nothing missing", 3, 500, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, int(tc.burst))
			rs := newRS("web", tc.replicas)
			f.add(rs)
			for i := range tc.existing {
				f.add(newPod(rs, fmt.Sprintf("old-%d", i)))
			}
			if err := f.sync(rs); err != nil {
				t.Fatal(err)
			}
			pods := f.createdPods()
			if len(pods) != tc.creates {
				t.Fatalf("created %d pods, want %d", len(pods), tc.creates)
			}
			for _, p := range pods {
				ref := metav1.GetControllerOf(p)
				if p.GenerateName != "web-" || ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" ||
					!ptr.Deref(ref.BlockOwnerDeletion, false) || p.Labels["app"] != "web" || p.Labels["tier"] != "web" ||
					p.Spec.Containers[0].Image != "img" {
					t.Fatalf("bad pod %+v", p.ObjectMeta)
				}
			}
			evs := f.events()
			if len(evs) != tc.creates {
				t.Fatalf("events %q", evs)
			}
			for _, e := range evs {
				if !strings.HasPrefix(e, "Normal SuccessfulCreate Created pod: web-") {
					t.Fatalf("event %q", e)
				}
			}
		})
	}
}

func TestSlowStartBatch(t *testing.T) {
	// fn fails on its failAt-th call; the calls made show the batches:
	// 1, 2, 4, 8, then the 5 left of 20.
	for _, tc := range []struct{ failAt, calls, ok int }{
		{0, 20, 20}, {1, 1, 0}, {2, 3, 2}, {3, 3, 2}, {4, 7, 6}, {8, 15, 14}, {16, 20, 19},
	} {
		var n atomic.Int64
		ok, err := slowStartBatch(20, 1, func() error {
			if int(n.Add(1)) == tc.failAt {
				return errors.New("boom")
			}
			return nil
		})
		if int(n.Load()) != tc.calls || ok != tc.ok || (err != nil) != (tc.failAt != 0) {
			t.Errorf("failAt %d: %d calls, %d ok, err %v; want %d calls, %d ok", tc.failAt, n.Load(), ok, err, tc.calls, tc.ok)
		}
	}
}

func TestCreateFailure(t *testing.T) {
	f := newFixture(t, 500)
	rs := newRS("web", 20)
	f.add(rs)
	var calls atomic.Int64
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) > 3 {
			return true, nil, errors.New("quota exceeded")
		}
		return false, nil, nil
	})
	err := f.sync(rs)
	if err == nil {
		t.Fatal("sync succeeded")
	}
	// Batches 1 and 2 succeed, the batch of 4 fails: no more batches.
	if calls.Load() != 7 {
		t.Fatalf("%d create calls, want 7 (batches 1, 2, 4)", calls.Load())
	}
	got, _ := f.client.AppsV1().ReplicaSets("default").Get(context.Background(), "web", metav1.GetOptions{})
	if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure ||
		got.Status.Conditions[0].Reason != "FailedCreate" || !strings.Contains(got.Status.Conditions[0].Message, "quota exceeded") {
		t.Fatalf("conditions %+v", got.Status.Conditions)
	}
	var failed int
	for _, e := range f.events() {
		if strings.HasPrefix(e, "Warning FailedCreate Error creating: ") {
			failed++
		}
	}
	if failed != 4 {
		t.Fatalf("%d FailedCreate events, want 4", failed)
	}
	// Three creations are expected; the skipped and failed ones are not.
	if f.c.exp.satisfied("default/web") {
		t.Fatal("expectations satisfied before the created pods were observed")
	}
	for range 3 {
		f.c.exp.creationObserved("default/web")
	}
	if !f.c.exp.satisfied("default/web") {
		t.Fatal("expectations not satisfied after the 3 creations were observed")
	}

	// The condition goes once creates succeed again.
	calls.Store(-1000)
	f.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Update(got)
	if err := f.sync(got); err != nil {
		t.Fatal(err)
	}
	got, _ = f.client.AppsV1().ReplicaSets("default").Get(context.Background(), "web", metav1.GetOptions{})
	if len(got.Status.Conditions) != 0 {
		t.Fatalf("conditions %+v after a good sync", got.Status.Conditions)
	}
}

func TestExpectations(t *testing.T) {
	f := newFixture(t, 500)
	rs := newRS("web", 3)
	f.add(rs)
	if err := f.sync(rs); err != nil {
		t.Fatal(err)
	}
	first := f.apiPods()
	if len(first) != 3 {
		t.Fatalf("created %d, want 3", len(first))
	}
	// The informer has not seen the pods: a second sync creates nothing.
	f.client.ClearActions()
	if err := f.sync(rs); err != nil {
		t.Fatal(err)
	}
	if n := len(f.createdPods()); n != 0 {
		t.Fatalf("second sync created %d pods before the first ones were observed", n)
	}
	// Observe two: still waiting for the third.
	idx := f.factory.Core().V1().Pods().Informer().GetIndexer()
	for _, p := range first[:2] {
		_ = idx.Add(p)
		f.c.addPod(p)
	}
	if f.c.exp.satisfied(rsKey(rs)) {
		t.Fatal("satisfied with one creation unobserved")
	}
	_ = idx.Add(first[2])
	f.c.addPod(first[2])
	if !f.c.exp.satisfied(rsKey(rs)) {
		t.Fatal("not satisfied after all creations were observed")
	}
	if err := f.sync(rs); err != nil {
		t.Fatal(err)
	}
	if n := len(f.createdPods()); n != 0 {
		t.Fatalf("created %d pods with all 3 observed", n)
	}

	// Deletions: scale to 1; a pod deleted but not yet observed gone is
	// not deleted again, nor replaced.
	rs2 := rs.DeepCopy()
	rs2.Spec.Replicas = ptr.To[int32](1)
	_ = f.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Update(rs2)
	f.client.ClearActions()
	if err := f.sync(rs2); err != nil {
		t.Fatal(err)
	}
	deleted := f.deletedPods()
	if len(deleted) != 2 {
		t.Fatalf("deleted %v, want 2", deleted)
	}
	f.client.ClearActions()
	if err := f.sync(rs2); err != nil {
		t.Fatal(err)
	}
	if len(f.deletedPods()) != 0 || len(f.createdPods()) != 0 {
		t.Fatal("acted again before the deletions were observed")
	}
	// Without observations, the expectations expire after 5 minutes.
	f.clock.Step(ExpectationsTimeout + time.Second)
	if !f.c.exp.satisfied(rsKey(rs)) {
		t.Fatal("expectations did not expire")
	}
}

func TestScaleDownRanking(t *testing.T) {
	rs := newRS("web", 1)
	old, recent := t0.Add(-time.Hour), t0.Add(-time.Minute)
	for _, tc := range []struct {
		name     string
		pods     []*corev1.Pod
		replicas int32
		want     []string
	}{
		{"unassigned first", []*corev1.Pod{newPod(rs, "a"), newPod(rs, "b", onNode(""), phase(corev1.PodPending))}, 1, []string{"b"}},
		{"pending before running", []*corev1.Pod{newPod(rs, "a"), newPod(rs, "b", phase(corev1.PodPending))}, 1, []string{"b"}},
		{"pending before unknown", []*corev1.Pod{newPod(rs, "a", phase(corev1.PodUnknown)), newPod(rs, "b", phase(corev1.PodPending))}, 1, []string{"b"}},
		{"unknown before running", []*corev1.Pod{newPod(rs, "a", phase(corev1.PodUnknown)), newPod(rs, "b")}, 1, []string{"a"}},
		{"not ready before ready", []*corev1.Pod{newPod(rs, "a"), newPod(rs, "b", func(p *corev1.Pod) { p.Status.Conditions = nil })}, 1, []string{"b"}},
		{"doubled up first", []*corev1.Pod{newPod(rs, "a", onNode("n-2")), newPod(rs, "b", onNode("n-1")), newPod(rs, "c", onNode("n-1"), created(old.Add(-time.Hour)))}, 2, []string{"b"}},
		{"ready more recently first", []*corev1.Pod{newPod(rs, "a", readySince(old)), newPod(rs, "b", readySince(recent))}, 1, []string{"b"}},
		{"more restarts first", []*corev1.Pod{newPod(rs, "a", restarted(5)), newPod(rs, "b", restarted(1))}, 1, []string{"a"}},
		{"newer first", []*corev1.Pod{newPod(rs, "a", created(recent)), newPod(rs, "b", created(old))}, 1, []string{"a"}},
		{"readiness beats restarts and age", []*corev1.Pod{newPod(rs, "a", restarted(9), created(recent)), newPod(rs, "b", func(p *corev1.Pod) { p.Status.Conditions = nil })}, 1, []string{"b"}},
		{"several", []*corev1.Pod{newPod(rs, "a"), newPod(rs, "b", phase(corev1.PodPending)), newPod(rs, "c", onNode(""), phase(corev1.PodPending)), newPod(rs, "d", onNode("n-9"))}, 2, []string{"b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 500)
			r := rs.DeepCopy()
			r.Spec.Replicas = ptr.To(tc.replicas)
			f.add(r)
			for _, p := range tc.pods {
				f.add(p)
			}
			if err := f.sync(r); err != nil {
				t.Fatal(err)
			}
			if got := f.deletedPods(); !slices.Equal(got, tc.want) {
				t.Fatalf("deleted %v, want %v", got, tc.want)
			}
			for _, e := range f.events() {
				if !strings.HasPrefix(e, "Normal SuccessfulDelete Deleted pod: ") {
					t.Fatalf("event %q", e)
				}
			}
		})
	}
}

func TestDeleteBurst(t *testing.T) {
	f := newFixture(t, 4)
	rs := newRS("web", 0)
	f.add(rs)
	for i := range 10 {
		f.add(newPod(rs, fmt.Sprintf("p-%d", i)))
	}
	if err := f.sync(rs); err != nil {
		t.Fatal(err)
	}
	if n := len(f.deletedPods()); n != 4 {
		t.Fatalf("deleted %d, want the burst of 4", n)
	}
}

func TestClaim(t *testing.T) {
	rs := newRS("web", 2)
	other := newRS("other", 1)
	foreign := newPod(other, "foreign", labelled(map[string]string{"app": "web", "tier": "web"}))
	orphanPod := newPod(rs, "orphan", orphan())
	mismatched := newPod(rs, "mismatched", labelled(map[string]string{"app": "elsewhere"}))
	unrelated := newPod(rs, "unrelated", orphan(), labelled(map[string]string{"app": "elsewhere"}))
	terminal := newPod(rs, "terminal", orphan(), phase(corev1.PodSucceeded))

	f := newFixture(t, 500)
	f.add(rs, other, foreign, orphanPod, mismatched, unrelated, terminal)
	if err := f.sync(rs); err != nil {
		t.Fatal(err)
	}
	get := func(name string) *corev1.Pod {
		p, err := f.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if ref := metav1.GetControllerOf(get("orphan")); ref == nil || ref.UID != rs.UID || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Fatalf("orphan not adopted: %+v", get("orphan").OwnerReferences)
	}
	if refs := get("mismatched").OwnerReferences; len(refs) != 0 {
		t.Fatalf("mismatched pod not released: %+v", refs)
	}
	if ref := metav1.GetControllerOf(get("foreign")); ref == nil || ref.UID != other.UID {
		t.Fatalf("foreign pod touched: %+v", get("foreign").OwnerReferences)
	}
	if len(get("unrelated").OwnerReferences) != 0 || len(get("terminal").OwnerReferences) != 0 {
		t.Fatal("unrelated or terminal pod adopted")
	}
	var patched []string
	for _, a := range f.actions("patch", "pods") {
		patched = append(patched, a.(k8stesting.PatchAction).GetName())
	}
	sort.Strings(patched)
	if !slices.Equal(patched, []string{"mismatched", "orphan"}) {
		t.Fatalf("patched %v", patched)
	}
	// Owned: the adopted orphan only; one more pod is created, none
	// deleted, and the foreign pod is not counted.
	if n := len(f.createdPods()); n != 1 {
		t.Fatalf("created %d, want 1", n)
	}
	if n := len(f.deletedPods()); n != 0 {
		t.Fatalf("deleted %d", n)
	}
}

func TestStatus(t *testing.T) {
	f := newFixture(t, 500)
	rs := newRS("web", 5)
	rs.Generation = 7
	rs.Spec.MinReadySeconds = 30
	f.add(rs,
		newPod(rs, "available", readySince(t0.Add(-time.Minute))),
		newPod(rs, "just-ready", readySince(t0.Add(-10*time.Second))),
		newPod(rs, "unready", func(p *corev1.Pod) { p.Status.Conditions = nil }),
		newPod(rs, "partly-labelled", labelled(map[string]string{"app": "web"})),
		newPod(rs, "gone", func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) }),
		newPod(rs, "failed", phase(corev1.PodFailed)),
	)
	// Four active pods of five: one create.
	if err := f.sync(rs); err != nil {
		t.Fatal(err)
	}
	ups := f.actions("update", "replicasets")
	if len(ups) != 1 || ups[0].GetSubresource() != "status" {
		t.Fatalf("status updates %v", ups)
	}
	st := ups[0].(k8stesting.UpdateAction).GetObject().(*appsv1.ReplicaSet).Status
	want := appsv1.ReplicaSetStatus{Replicas: 4, FullyLabeledReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 2, ObservedGeneration: 7}
	if st.Replicas != want.Replicas || st.FullyLabeledReplicas != want.FullyLabeledReplicas || st.ReadyReplicas != want.ReadyReplicas ||
		st.AvailableReplicas != want.AvailableReplicas || st.ObservedGeneration != want.ObservedGeneration || len(st.Conditions) != 0 {
		t.Fatalf("status %+v, want %+v", st, want)
	}
	// Unchanged status: not written again.
	got, _ := f.client.AppsV1().ReplicaSets("default").Get(context.Background(), "web", metav1.GetOptions{})
	_ = f.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Update(got)
	f.client.ClearActions()
	if err := f.sync(got); err != nil {
		t.Fatal(err)
	}
	if n := len(f.actions("update", "replicasets")); n != 0 {
		t.Fatalf("%d status writes of an unchanged status", n)
	}
	// 20 seconds on, just-ready is available too.
	f.clock.Step(20 * time.Second)
	if err := f.sync(got); err != nil {
		t.Fatal(err)
	}
	ups = f.actions("update", "replicasets")
	if len(ups) != 1 || ups[0].(k8stesting.UpdateAction).GetObject().(*appsv1.ReplicaSet).Status.AvailableReplicas != 3 {
		t.Fatalf("status after minReadySeconds: %v", ups)
	}
}
