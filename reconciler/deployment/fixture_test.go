package deployment

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
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
}

// newFixture builds a controller on a fake clientset whose informers are
// never started: the tests put objects into the caches themselves, so
// they decide what the controller has observed.
func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, client: fake.NewClientset(), clock: clocktesting.NewFakeClock(t0), rec: record.NewFakeRecorder(1000)}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	f.c = New(f.client, f.factory, Options{Clock: f.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.c.recorder = f.rec
	t.Cleanup(f.c.queue.ShutDown)
	return f
}

// newDeployment is a rolling Deployment of app=web with the given
// replicas, surge and unavailability, image img.
func newDeployment(replicas int32, surge, unavailable intstr.IntOrString, img string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "web-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: img}}},
			},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
			RevisionHistoryLimit:    ptr.To(int32(10)),
			ProgressDeadlineSeconds: ptr.To(int32(600)),
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1},
	}
}

// rsOf is the ReplicaSet d would own for image img: spec replicas,
// available (and ready, and status) replicas, a revision, and a creation
// time age minutes before t0 (older ReplicaSets sort first).
func rsOf(d *appsv1.Deployment, img string, replicas, available int32, rev int, age int) *appsv1.ReplicaSet {
	dd := d.DeepCopy()
	dd.Spec.Template.Spec.Containers[0].Image = img
	rs := newReplicaSetTemplate(dd)
	rs.UID = types.UID(rs.Name + "-uid")
	rs.Generation = 1
	rs.CreationTimestamp = metav1.NewTime(t0.Add(-time.Duration(age) * time.Minute))
	*rs.Spec.Replicas = replicas
	rs.Annotations = map[string]string{
		RevisionAnnotation:        strconv.Itoa(rev),
		DesiredReplicasAnnotation: strconv.Itoa(int(replicasOf(d))),
		MaxReplicasAnnotation:     strconv.Itoa(int(replicasOf(d) + MaxSurge(d))),
	}
	rs.Status = appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: available, AvailableReplicas: available, ObservedGeneration: 1}
	return rs
}

// add puts objects into the API (the fake) and the informer caches.
func (f *fixture) add(objs ...runtime.Object) {
	f.t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *appsv1.Deployment:
			if _, err = f.client.AppsV1().Deployments(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err == nil {
				err = f.factory.Apps().V1().Deployments().Informer().GetIndexer().Add(o)
			}
		case *appsv1.ReplicaSet:
			if _, err = f.client.AppsV1().ReplicaSets(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err == nil {
				err = f.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
			}
		case *corev1.Pod:
			if _, err = f.client.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err == nil {
				err = f.factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
			}
		}
		if err != nil {
			f.t.Fatal(err)
		}
	}
	f.client.ClearActions()
}

func (f *fixture) sync(d *appsv1.Deployment) {
	f.t.Helper()
	if err := f.c.sync(context.Background(), dKey(d)); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
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

// sizes lists the ReplicaSets in the API as "name=replicas", sorted.
func (f *fixture) sizes() []string {
	f.t.Helper()
	l, err := f.client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, rs := range l.Items {
		out = append(out, fmt.Sprintf("%s=%d", rs.Name, *rs.Spec.Replicas))
	}
	sort.Strings(out)
	return out
}

func (f *fixture) rs(name string) *appsv1.ReplicaSet {
	f.t.Helper()
	rs, err := f.client.AppsV1().ReplicaSets("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return rs
}

func (f *fixture) deployment() *appsv1.Deployment {
	f.t.Helper()
	d, err := f.client.AppsV1().Deployments("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
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

func sizeOf(rs *appsv1.ReplicaSet, n int32) string { return fmt.Sprintf("%s=%d", rs.Name, n) }

func sorted(s ...string) []string {
	sort.Strings(s)
	return s
}
