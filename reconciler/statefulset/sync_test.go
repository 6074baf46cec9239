package statefulset

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

type fixture struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
	rec     *record.FakeRecorder
}

// newFixture builds a controller on a fake clientset whose informers are
// never started: observe copies the API's objects into the caches, so a
// test decides when the controller sees what.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	f := &fixture{t: t, client: fake.NewClientset(objs...), rec: record.NewFakeRecorder(1000)}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	f.c = New(f.client, f.factory, Options{Clock: clocktesting.NewFakeClock(t0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.c.recorder = f.rec
	f.observe()
	return f
}

// observe makes the caches show what the API holds.
func (f *fixture) observe() {
	f.t.Helper()
	ctx := context.Background()
	replace := func(inf cache.SharedIndexInformer, items []runtime.Object) {
		if err := inf.GetIndexer().Replace(nil, ""); err != nil {
			f.t.Fatal(err)
		}
		for _, o := range items {
			if err := inf.GetIndexer().Add(o); err != nil {
				f.t.Fatal(err)
			}
		}
	}
	sets, err := f.client.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var objs []runtime.Object
	for i := range sets.Items {
		objs = append(objs, &sets.Items[i])
	}
	replace(f.factory.Apps().V1().StatefulSets().Informer(), objs)
	revs, _ := f.client.AppsV1().ControllerRevisions("").List(ctx, metav1.ListOptions{})
	objs = nil
	for i := range revs.Items {
		objs = append(objs, &revs.Items[i])
	}
	replace(f.factory.Apps().V1().ControllerRevisions().Informer(), objs)
	pods, _ := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	objs = nil
	for i := range pods.Items {
		objs = append(objs, &pods.Items[i])
	}
	replace(f.factory.Core().V1().Pods().Informer(), objs)
	pvcs, _ := f.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	objs = nil
	for i := range pvcs.Items {
		objs = append(objs, &pvcs.Items[i])
	}
	replace(f.factory.Core().V1().PersistentVolumeClaims().Informer(), objs)
}

// sync observes the API, clears the recorded actions and syncs "web".
func (f *fixture) sync() error {
	f.observe()
	f.client.ClearActions()
	return f.c.sync(context.Background(), "default/web")
}

func (f *fixture) mustSync() {
	f.t.Helper()
	if err := f.sync(); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

// writes lists the sync's writes as "verb resource name", in order.
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		name := ""
		switch a := a.(type) {
		case k8stesting.CreateAction:
			name = a.GetObject().(metav1.Object).GetName()
		case k8stesting.UpdateAction:
			name = a.GetObject().(metav1.Object).GetName()
		case k8stesting.DeleteAction:
			name = a.GetName()
		case k8stesting.PatchAction:
			name = a.GetName()
		}
		res := a.GetResource().Resource
		if a.GetSubresource() != "" {
			res += "/" + a.GetSubresource()
		}
		out = append(out, a.GetVerb()+" "+res+" "+name)
	}
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

func (f *fixture) set() *appsv1.StatefulSet {
	s, err := f.client.AppsV1().StatefulSets("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) pod(name string) *corev1.Pod {
	p, err := f.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// setState makes a pod in the API pending or running and ready, as a
// node would.
func (f *fixture) setState(name string, st podState) {
	f.t.Helper()
	p := f.pod(name)
	p.Status.Phase = corev1.PodPending
	p.Status.Conditions = nil
	if st == ready {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}}
	}
	if _, err := f.client.CoreV1().Pods("default").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) updateSet(mut func(*appsv1.StatefulSet)) {
	f.t.Helper()
	s := f.set()
	mut(s)
	s.Generation++
	if _, err := f.client.AppsV1().StatefulSets("default").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) revisions() map[string]int64 {
	l, err := f.client.AppsV1().ControllerRevisions("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range l.Items {
		out[r.Name] = r.Revision
	}
	return out
}

func TestSyncCreatesClaimBeforePod(t *testing.T) {
	f := newFixture(t, newSet(2))
	f.mustSync()
	set := f.set()
	rev := set.Status.UpdateRevision
	want := []string{"create controllerrevisions " + rev, "create persistentvolumeclaims data-web-0", "create pods web-0", "update statefulsets/status web"}
	if got := f.writes(); !slices.Equal(got, want) {
		t.Errorf("writes\n got %v\nwant %v", got, want)
	}
	wantEvents := []string{
		"Normal SuccessfulCreate create Claim data-web-0 Pod web-0 in StatefulSet web success",
		"Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful",
	}
	if got := f.events(); !slices.Equal(got, wantEvents) {
		t.Errorf("events\n got %v\nwant %v", got, wantEvents)
	}
	if !strings.HasPrefix(rev, "web-") || set.Status.CurrentRevision != rev || set.Status.ObservedGeneration != 1 || *set.Status.CollisionCount != 0 {
		t.Errorf("status %+v", set.Status)
	}
	p := f.pod("web-0")
	if podRevision(p) != rev || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-0" {
		t.Errorf("pod %+v", p)
	}
	pvc, err := f.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "data-web-0", metav1.GetOptions{})
	if err != nil || pvc.Labels["app"] != "web" {
		t.Errorf("claim %v, %v", pvc, err)
	}

	// Pending: nothing new; ready: the next ordinal.
	f.setState("web-0", pending)
	f.mustSync()
	if got := f.writes(); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "create") }) {
		t.Errorf("created while web-0 is pending: %v", got)
	}
	f.setState("web-0", ready)
	f.mustSync()
	want = []string{"create persistentvolumeclaims data-web-1", "create pods web-1", "update statefulsets/status web"}
	if got := f.writes(); !slices.Equal(got, want) {
		t.Errorf("writes\n got %v\nwant %v", got, want)
	}
	if st := f.set().Status; st.Replicas != 1 || st.ReadyReplicas != 1 || st.AvailableReplicas != 1 || st.CurrentReplicas != 1 || st.UpdatedReplicas != 1 {
		t.Errorf("status %+v", st)
	}

	// A stale cache repeats the create; the API refuses and the sync
	// retries without a second event.
	f.setState("web-1", ready)
	f.events()
	if err := f.client.CoreV1().Pods("default").Delete(context.Background(), "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.mustSync()
	if _, err := f.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "data-web-1", metav1.GetOptions{}); err != nil {
		t.Errorf("claim of a deleted pod is gone: %v", err)
	}
	if got := f.writes(); !slices.Contains(got, "create pods web-1") || slices.Contains(got, "create persistentvolumeclaims data-web-1") {
		t.Errorf("recreating web-1: %v", got)
	}
}

func TestSyncRevisionHistory(t *testing.T) {
	set := newSet(0)
	set.Spec.RevisionHistoryLimit = ptr.To(int32(1))
	f := newFixture(t, set)
	f.mustSync()
	r1 := f.set().Status.UpdateRevision

	f.updateSet(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "img:2" })
	f.mustSync()
	r2 := f.set().Status.UpdateRevision
	if r2 == r1 || f.revisions()[r2] != 2 {
		t.Fatalf("second revision %s (of %v)", r2, f.revisions())
	}
	if f.set().Status.CurrentRevision != r2 {
		t.Errorf("no pods: the update is complete at once, current %s", f.set().Status.CurrentRevision)
	}

	// Rolling back renumbers the old revision instead of copying it.
	f.updateSet(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "img:1" })
	f.mustSync()
	if got := f.writes(); !slices.Contains(got, "update controllerrevisions "+r1) {
		t.Errorf("rollback writes %v", got)
	}
	if got := f.set().Status.UpdateRevision; got != r1 || f.revisions()[r1] != 3 {
		t.Errorf("rolled back to %s, revisions %v", got, f.revisions())
	}

	// A third template: with limit 1, the history beyond one goes.
	f.updateSet(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "img:3" })
	f.mustSync()
	f.updateSet(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "img:4" })
	f.mustSync()
	// As in Kubernetes, a sync prunes the history it listed, before its
	// own new revision: the next sync catches up.
	f.mustSync()
	revs := f.revisions()
	if len(revs) != 2 {
		t.Errorf("revisions %v, want the live one and one of history", revs)
	}
	for _, old := range []string{r1, r2} {
		if _, ok := revs[old]; ok {
			t.Errorf("old revision %s kept: %v", old, revs)
		}
	}
}

func TestSyncCollision(t *testing.T) {
	set := newSet(0)
	cr, err := newRevision(set, 1, ptr.To(int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	// Someone else's object holds the name, with other data.
	squatter := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: cr.Name}, Data: runtime.RawExtension{Raw: []byte(`{}`)}}
	f := newFixture(t, set, squatter)
	f.mustSync()
	st := f.set().Status
	if *st.CollisionCount != 1 || st.UpdateRevision == cr.Name || !strings.HasPrefix(st.UpdateRevision, "web-") {
		t.Errorf("status %+v", st)
	}
}

func TestSyncAdoptsAndReleases(t *testing.T) {
	set := newSet(1)
	rev, err := newRevision(set, 1, ptr.To(int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	orphanRev := rev.DeepCopy()
	orphanRev.OwnerReferences = nil
	orphan := statePod(set, 0, rev.Name, ready)
	orphan.OwnerReferences = nil
	relabelled := statePod(set, 1, rev.Name, ready)
	relabelled.Labels["app"] = "other"
	stranger := statePod(set, 0, rev.Name, ready)
	stranger.Name, stranger.OwnerReferences = "db-0", nil
	f := newFixture(t, set, orphanRev, orphan, relabelled, stranger)
	f.mustSync()
	got := f.writes()
	for _, w := range []string{"patch controllerrevisions " + rev.Name, "patch pods web-0", "patch pods web-1"} {
		if !slices.Contains(got, w) {
			t.Errorf("no %q in %v", w, got)
		}
	}
	if slices.Contains(got, "patch pods db-0") {
		t.Errorf("adopted a pod of another name: %v", got)
	}
	if ref := metav1.GetControllerOf(f.pod("web-0")); ref == nil || ref.UID != set.UID || !*ref.BlockOwnerDeletion {
		t.Errorf("web-0 owner %+v", ref)
	}
	if ref := metav1.GetControllerOf(f.pod("web-1")); ref != nil {
		t.Errorf("web-1 still owned: %+v", ref)
	}
}
