package tainteviction

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

type fixture struct {
	t      *testing.T
	ctx    context.Context
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	c      *Controller
	rec    *record.FakeRecorder
}

// newFixture runs the controller on a fake clientset and a fake clock,
// with node n tainted unreachable:NoExecute at t0 (when taint) and pod p
// on it.
func newFixture(t *testing.T, taint bool, p *corev1.Pod) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewClientset(), clock: clocktesting.NewFakeClock(t0), rec: record.NewFakeRecorder(1000)}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", UID: "n-uid"}}
	if taint {
		n.Spec.Taints = []corev1.Taint{unreachable(&t0)}
	}
	if _, err := f.client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.ctx = ctx
	factory := informers.NewSharedInformerFactory(f.client, 0)
	f.c = New(f.client, factory, Options{Clock: f.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.c.recorder = f.rec
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.c.Run(ctx, 2); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})
	return f
}

func newPod(name string, tolerations ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name + "-uid")},
		Spec:       corev1.PodSpec{NodeName: "n", Tolerations: tolerations},
	}
}

func (f *fixture) exists(name string) bool {
	_, err := f.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		f.t.Fatal(err)
	}
	return err == nil
}

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

func (f *fixture) setTaints(taints ...corev1.Taint) {
	f.t.Helper()
	n, err := f.client.CoreV1().Nodes().Get(context.Background(), "n", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	n.Spec.Taints = taints
	if _, err := f.client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
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

func (f *fixture) deletes() int {
	n := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" && a.(k8stesting.DeleteAction).GetName() != "sentinel" {
			n++
		}
	}
	return n
}

func TestEvictionTimings(t *testing.T) {
	const never = -1
	for _, tc := range []struct {
		name        string
		tolerations []corev1.Toleration
		// removeAt: seconds after the taint at which it is removed; 0:
		// kept.
		removeAt int
		// deletedAt: seconds after the taint at which the pod goes.
		deletedAt int
	}{
		{name: "untolerated: at once", deletedAt: 0},
		{name: "tolerationSeconds 300: at 300 s, not before",
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](300))}, deletedAt: 300},
		{name: "taint removed at 200 s: never",
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](300))}, removeAt: 200, deletedAt: never},
		{name: "tolerated forever: never",
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, nil)}, deletedAt: never},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, true, newPod("p", tc.tolerations...))
			marked := "Normal TaintManagerEviction Marking for deletion Pod default/p"
			if tc.deletedAt == 0 {
				f.eventually("pod deleted", func() bool { return !f.exists("p") })
				if ev := f.events(); !slices.Contains(ev, marked) {
					t.Errorf("events %v lack %q", ev, marked)
				}
				return
			}
			if tc.deletedAt != never || tc.removeAt > 0 {
				f.eventually("deletion scheduled", func() bool { return f.c.Scheduled() == 1 })
			} else {
				// An untolerating pod added after p is deleted once the
				// controller has got that far.
				if _, err := f.client.CoreV1().Pods("default").Create(context.Background(), newPod("sentinel"), metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				f.eventually("sentinel deleted", func() bool { return !f.exists("sentinel") })
			}
			if tc.removeAt > 0 {
				f.clock.Step(time.Duration(tc.removeAt) * time.Second)
				f.setTaints()
				f.eventually("deletion cancelled", func() bool { return f.c.Scheduled() == 0 })
				if ev := f.events(); !slices.Contains(ev, "Normal TaintManagerEviction Cancelling deletion of Pod default/p") {
					t.Errorf("events %v lack the cancellation", ev)
				}
			}
			if tc.deletedAt == never {
				f.clock.Step(time.Hour)
				if !f.exists("p") || f.deletes() != 0 || f.c.Scheduled() != 0 {
					t.Errorf("pod deleted (%d deletes, %d scheduled), want never", f.deletes(), f.c.Scheduled())
				}
				return
			}
			f.clock.Step(time.Duration(tc.deletedAt)*time.Second - time.Second)
			if !f.exists("p") || f.deletes() != 0 {
				t.Fatalf("deleted before %d s", tc.deletedAt)
			}
			f.clock.Step(time.Second)
			f.eventually("pod deleted", func() bool { return !f.exists("p") })
			if ev := f.events(); !slices.Contains(ev, marked) {
				t.Errorf("events %v lack %q", ev, marked)
			}
		})
	}
}

// TestDeletionMarksDisruptionTarget: the pod is given Kubernetes'
// DisruptionTarget condition before it is deleted.
func TestDeletionMarksDisruptionTarget(t *testing.T) {
	f := newFixture(t, true, newPod("p"))
	f.eventually("pod deleted", func() bool { return !f.exists("p") })
	var updated *corev1.Pod
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			updated = a.(k8stesting.UpdateAction).GetObject().(*corev1.Pod)
		}
	}
	if updated == nil {
		t.Fatal("no status update before the delete")
	}
	var got *corev1.PodCondition
	for i := range updated.Status.Conditions {
		if updated.Status.Conditions[i].Type == corev1.DisruptionTarget {
			got = &updated.Status.Conditions[i]
		}
	}
	if got == nil || got.Status != corev1.ConditionTrue || got.Reason != ReasonDeletionByTaintManager || got.Message != MessageDeletionByTaintManager {
		t.Errorf("DisruptionTarget = %+v", got)
	}
}

// TestTaintAddedLater: a pod on an untainted node is left alone; the
// taint arriving later starts its countdown from the taint's timeAdded.
func TestTaintAddedLater(t *testing.T) {
	f := newFixture(t, false, newPod("p", tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](60))))
	f.eventually("pod seen", func() bool { _, err := f.c.podLister.Pods("default").Get("p"); return err == nil })
	f.clock.Step(time.Hour)
	if f.c.Scheduled() != 0 || !f.exists("p") {
		t.Fatal("pod on an untainted node scheduled for deletion")
	}
	added := f.clock.Now().Add(-20 * time.Second)
	f.setTaints(unreachable(&added))
	f.eventually("deletion scheduled", func() bool { return f.c.Scheduled() == 1 })
	f.clock.Step(39 * time.Second)
	if !f.exists("p") {
		t.Fatal("deleted before 60 s from timeAdded")
	}
	f.clock.Step(time.Second)
	f.eventually("pod deleted 60 s after timeAdded", func() bool { return !f.exists("p") })
}
