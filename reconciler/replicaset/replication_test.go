package replicaset

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func newRC(name string, replicas int32) *corev1.ReplicationController {
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name + "-uid"), Generation: 2, ResourceVersion: "7"},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To(replicas), MinReadySeconds: 3,
			Selector: map[string]string{"app": name},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
		Status: corev1.ReplicationControllerStatus{Replicas: 1, ReadyReplicas: 1, Conditions: []corev1.ReplicationControllerCondition{{
			Type: corev1.ReplicationControllerReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "quota",
		}}},
	}
}

// TestRCConversionRoundTrip: what the controller reads from a
// ReplicationController and writes back loses nothing.
func TestRCConversionRoundTrip(t *testing.T) {
	rc := newRC("web", 3)
	rs := rcToRS(rc)
	if got := rs.Spec.Selector.MatchLabels["app"]; got != "web" {
		t.Fatalf("selector: %v", rs.Spec.Selector)
	}
	if rs.Status.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure {
		t.Fatalf("condition type %q", rs.Status.Conditions[0].Type)
	}
	back := rsToRC(rs)
	if !apiequality.Semantic.DeepEqual(back, rc) {
		t.Fatalf("round trip changed the ReplicationController:\n got %+v\nwant %+v", back, rc)
	}
	// The conversion shares nothing with the cache.
	rs.Spec.Template.Labels["app"] = "changed"
	if rc.Spec.Template.Labels["app"] != "web" {
		t.Fatal("rcToRS aliased the cached template")
	}
}

// TestReplicationManager: a ReplicationController gets its pods, owned by
// it as a ReplicationController, its status on the ReplicationController,
// and events naming it.
func TestReplicationManager(t *testing.T) {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := NewReplicationManager(client, factory, Options{
		Clock: clocktesting.NewFakeClock(t0), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	rec := record.NewFakeRecorder(100)
	c.recorder = rec
	rc := newRC("web", 2)
	rc.Status = corev1.ReplicationControllerStatus{}
	ctx := context.Background()
	if _, err := client.CoreV1().ReplicationControllers("default").Create(ctx, rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := factory.Core().V1().ReplicationControllers().Informer().GetIndexer().Add(rc); err != nil {
		t.Fatal(err)
	}
	// An orphan that matches is adopted, as a ReplicaSet's would be.
	orphanPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "old", UID: "old-uid", Labels: map[string]string{"app": "web"}}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, orphanPod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = factory.Core().V1().Pods().Informer().GetIndexer().Add(orphanPod)

	if err := c.sync(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 2 {
		t.Fatalf("%d pods, want 2 (the adopted orphan and one created)", len(pods.Items))
	}
	for _, p := range pods.Items {
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.Kind != "ReplicationController" || ref.APIVersion != "v1" || ref.UID != rc.UID {
			t.Errorf("pod %s controller %+v, want the ReplicationController", p.Name, ref)
		}
	}
	got, err := client.CoreV1().ReplicationControllers("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Replicas != 1 || got.Status.ObservedGeneration != 2 {
		t.Errorf("status %+v, want replicas 1 (the adopted pod; the created one is not observed yet) and observedGeneration 2", got.Status)
	}
	select {
	case e := <-rec.Events:
		if !strings.HasPrefix(e, "Normal SuccessfulCreate Created pod: ") {
			t.Errorf("event %q", e)
		}
	default:
		t.Error("no SuccessfulCreate event")
	}
	if got := c.ref(rcToRS(rc)); got.Kind != "ReplicationController" || got.APIVersion != "v1" {
		t.Errorf("events name %s %s, want v1 ReplicationController", got.APIVersion, got.Kind)
	}
}
