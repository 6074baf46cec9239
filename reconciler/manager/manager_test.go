package manager

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
)

func testLogger() *slog.Logger {
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// env is an API server with simulated nodes n-0 and n-1.
type env struct {
	t     *testing.T
	s     *apiservertest.Server
	admin kubernetes.Interface
	ctx   context.Context
	seen  *podTracker
}

func newEnv(t *testing.T) *env {
	s := apiservertest.Start(t, "", nil)
	admin := s.Client("admin")
	ctx, cancel := context.WithCancel(context.Background())
	c, err := sim.New(sim.Config{Client: admin, Logger: testLogger(),
		Nodes: []sim.NodeSpec{{Name: "n-0", Pods: 1000}, {Name: "n-1", Pods: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-c.Registered():
	case <-time.After(30 * time.Second):
		t.Fatal("nodes did not register")
	}
	return &env{t: t, s: s, admin: admin, ctx: ctx, seen: trackPods(t, ctx, admin)}
}

// podTracker records the name of every pod ever seen, to tell
// duplicates that were created and deleted again.
type podTracker struct {
	mu    sync.Mutex
	names map[string]bool
}

func trackPods(t *testing.T, ctx context.Context, client kubernetes.Interface) *podTracker {
	pt := &podTracker{names: map[string]bool{}}
	ctx, cancel := context.WithCancel(ctx)
	f := informers.NewSharedInformerFactory(client, 0)
	_, _ = f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		pt.mu.Lock()
		defer pt.mu.Unlock()
		pt.names[obj.(*corev1.Pod).Name] = true
	}})
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	t.Cleanup(func() { cancel(); f.Shutdown() })
	return pt
}

func (pt *podTracker) count() int {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return len(pt.names)
}

// running is a Manager running until stop is called.
type running struct {
	m      *Manager
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned err
	err    error
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("manager %s: %v", r.m.Identity(), r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("manager %s did not stop", r.m.Identity())
	}
}

func (e *env) startManager(cfg Config) *running {
	e.t.Helper()
	cfg.Client = e.s.Client("controller-manager")
	dyn, err := dynamic.NewForConfig(e.s.RestConfig("controller-manager"))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.Dynamic = dyn
	cfg.Metadata = metadata.NewForConfigOrDie(e.s.RestConfig("controller-manager"))
	cfg.Logger = testLogger()
	m, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	r := &running{m: m, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); r.err = m.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
		}
	})
	return r
}

func (e *env) createRS(name string, replicas int32) {
	e.t.Helper()
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					NodeName:   "n-0",
					Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}},
				},
			},
		},
	}
	if _, err := e.admin.AppsV1().ReplicaSets("default").Create(context.Background(), rs, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) scale(name string, replicas int32) {
	e.t.Helper()
	for {
		rs, err := e.admin.AppsV1().ReplicaSets("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		rs.Spec.Replicas = ptr.To(replicas)
		_, err = e.admin.AppsV1().ReplicaSets("default").Update(context.Background(), rs, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		e.t.Logf("scale %s: %v; retrying", name, err)
	}
}

func (e *env) rs(name string) *appsv1.ReplicaSet {
	e.t.Helper()
	rs, err := e.admin.AppsV1().ReplicaSets("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// pods lists the active pods of the ReplicaSet name.
func (e *env) pods(name string) []corev1.Pod {
	e.t.Helper()
	l, err := e.admin.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			if ref := metav1.GetControllerOf(&p); ref == nil || ref.Name != name {
				e.t.Fatalf("pod %s is not controlled by %s: %+v", p.Name, name, p.OwnerReferences)
			}
			out = append(out, p)
		}
	}
	return out
}

func TestReplicaSet(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startManager(Config{Registerer: reg, Workers: map[string]int{"replicaset": 2}})

	e.createRS("web", 20)
	apiservertest.Eventually(t, 60*time.Second, "20 ready pods", func() bool {
		rs := e.rs("web")
		return len(e.pods("web")) == 20 && rs.Status.ReadyReplicas == 20 && rs.Status.Replicas == 20 &&
			rs.Status.AvailableReplicas == 20 && rs.Status.ObservedGeneration == rs.Generation
	})
	if n := e.seen.count(); n != 20 {
		t.Fatalf("%d pods were created for 20 replicas", n)
	}

	e.scale("web", 5)
	apiservertest.Eventually(t, 60*time.Second, "5 pods", func() bool {
		rs := e.rs("web")
		return len(e.pods("web")) == 5 && rs.Status.Replicas == 5 && rs.Status.ReadyReplicas == 5 &&
			rs.Status.ObservedGeneration == rs.Generation
	})
	if n := e.seen.count(); n != 20 {
		t.Fatalf("%d pods were created; scaling down created some", n)
	}

	victim := e.pods("web")[0].Name
	if err := e.admin.CoreV1().Pods("default").Delete(context.Background(), victim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 60*time.Second, "the deleted pod replaced", func() bool {
		pods := e.pods("web")
		for _, p := range pods {
			if p.Name == victim {
				return false
			}
		}
		return len(pods) == 5 && e.rs("web").Status.ReadyReplicas == 5
	})
	if n := e.seen.count(); n != 21 {
		t.Fatalf("%d pods were created, want 21", n)
	}

	// Events in Kubernetes' wording.
	apiservertest.Eventually(t, 30*time.Second, "SuccessfulCreate and SuccessfulDelete events", func() bool {
		evs, err := e.admin.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var created, deleted bool
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Kind != "ReplicaSet" || ev.InvolvedObject.Name != "web" {
				continue
			}
			created = created || ev.Reason == "SuccessfulCreate" && len(ev.Message) > len("Created pod: web-") && ev.Message[:len("Created pod: web-")] == "Created pod: web-"
			deleted = deleted || ev.Reason == "SuccessfulDelete" && len(ev.Message) > len("Deleted pod: web-") && ev.Message[:len("Deleted pod: web-")] == "Deleted pod: web-"
		}
		return created && deleted
	})

	// Metrics per controller.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			ours := false
			for _, l := range m.GetLabel() {
				if (l.GetName() == "name" || l.GetName() == "controller") && l.GetValue() == "replicaset" {
					found[mf.GetName()] = true
					ours = true
				}
			}
			if ours && mf.GetName() == "controller_sync_duration_seconds" && m.GetHistogram().GetSampleCount() == 0 {
				t.Error("no syncs observed")
			}
		}
	}
	for _, n := range []string{"workqueue_depth", "workqueue_adds_total", "controller_sync_duration_seconds"} {
		if !found[n] {
			t.Errorf("metric %s{replicaset} missing; have %v", n, found)
		}
	}
}

func TestRestartWhileScaling(t *testing.T) {
	e := newEnv(t)
	e.createRS("big", 0)
	first := e.startManager(Config{})
	apiservertest.Eventually(t, 30*time.Second, "status observed", func() bool { return e.rs("big").Status.ObservedGeneration == 1 })
	e.scale("big", 500)
	apiservertest.Eventually(t, 60*time.Second, "some pods", func() bool { return e.seen.count() >= 50 })
	first.stop(t)
	at := e.seen.count()
	t.Logf("first manager stopped after %d creates", at)

	e.startManager(Config{})
	apiservertest.Eventually(t, 120*time.Second, "500 pods", func() bool { return len(e.pods("big")) == 500 })
	time.Sleep(2 * time.Second)
	if n := len(e.pods("big")); n != 500 {
		t.Fatalf("%d pods, want 500", n)
	}
	if n := e.seen.count(); n != 500 {
		t.Fatalf("%d pods were created in all for 500 replicas", n)
	}
	if at >= 500 {
		t.Logf("the first manager finished before it was stopped: the restart was not mid-way")
	}
}

func TestLeaderElection(t *testing.T) {
	e := newEnv(t)
	cfg := func(id string) Config {
		return Config{LeaderElect: true, Identity: id, LeaseDuration: 4 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond}
	}
	a, b := e.startManager(cfg("cm-a")), e.startManager(cfg("cm-b"))
	var leader, standby *running
	apiservertest.Eventually(t, 30*time.Second, "a leader", func() bool {
		switch {
		case a.m.Leading() && !b.m.Leading():
			leader, standby = a, b
		case b.m.Leading() && !a.m.Leading():
			leader, standby = b, a
		}
		return leader != nil
	})
	lease, err := e.admin.CoordinationV1().Leases(LeaseNamespace).Get(context.Background(), LeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(lease.Spec.HolderIdentity, ""); got != leader.m.Identity() {
		t.Fatalf("lease held by %q, leader is %q", got, leader.m.Identity())
	}

	// The API server reports the controller manager healthy from the lease.
	cs, err := e.admin.CoreV1().ComponentStatuses().Get(context.Background(), "controller-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Conditions) != 1 || cs.Conditions[0].Status != corev1.ConditionTrue {
		t.Fatalf("componentstatus controller-manager: %+v", cs.Conditions)
	}

	e.createRS("web", 3)
	apiservertest.Eventually(t, 30*time.Second, "3 pods", func() bool { return len(e.pods("web")) == 3 })
	time.Sleep(time.Second)
	if standby.m.Leading() {
		t.Fatal("both managers lead")
	}
	if n := e.seen.count(); n != 3 {
		t.Fatalf("%d pods created for 3 replicas with two managers", n)
	}

	stopped := time.Now()
	leader.stop(t)
	apiservertest.Eventually(t, 4*time.Second, fmt.Sprintf("%s to take over within the lease duration", standby.m.Identity()), standby.m.Leading)
	t.Logf("took over after %s", time.Since(stopped))
	e.scale("web", 6)
	apiservertest.Eventually(t, 30*time.Second, "6 pods", func() bool { return len(e.pods("web")) == 6 })
	time.Sleep(500 * time.Millisecond)
	if n := e.seen.count(); n != 6 {
		t.Fatalf("%d pods created for 6 replicas", n)
	}
}

// TestReplicationController: a ReplicationController gets its pods,
// owned by it, Running on the simulated nodes, and its status.
func TestReplicationController(t *testing.T) {
	e := newEnv(t)
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "legacy"},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To(int32(3)),
			Selector: map[string]string{"app": "legacy"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}},
				Spec:       corev1.PodSpec{NodeName: "n-0", Containers: []corev1.Container{{Name: "c", Image: "registry.example/legacy:1"}}},
			},
		},
	}
	rc, err := e.admin.CoreV1().ReplicationControllers("default").Create(e.ctx, rc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := e.startManager(Config{Controllers: []string{"replicationcontroller"}})
	defer m.stop(t)
	apiservertest.Eventually(t, 30*time.Second, "3 ready replicas in the ReplicationController's status", func() bool {
		got, err := e.admin.CoreV1().ReplicationControllers("default").Get(e.ctx, "legacy", metav1.GetOptions{})
		return err == nil && got.Status.Replicas == 3 && got.Status.ReadyReplicas == 3 && got.Status.ObservedGeneration == got.Generation
	})
	pods, err := e.admin.CoreV1().Pods("default").List(e.ctx, metav1.ListOptions{LabelSelector: "app=legacy"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 3 {
		t.Fatalf("%d pods, want 3", len(pods.Items))
	}
	for _, p := range pods.Items {
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.Kind != "ReplicationController" || ref.UID != rc.UID {
			t.Errorf("pod %s controlled by %+v", p.Name, ref)
		}
	}
	// Scale down through the scale subresource, as kubectl scale does.
	scale, err := e.admin.CoreV1().ReplicationControllers("default").GetScale(e.ctx, "legacy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 1
	if _, err := e.admin.CoreV1().ReplicationControllers("default").UpdateScale(e.ctx, "legacy", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 30*time.Second, "1 replica left", func() bool {
		l, err := e.admin.CoreV1().Pods("default").List(e.ctx, metav1.ListOptions{LabelSelector: "app=legacy"})
		got, gerr := e.admin.CoreV1().ReplicationControllers("default").Get(e.ctx, "legacy", metav1.GetOptions{})
		return err == nil && gerr == nil && len(l.Items) == 1 && got.Status.Replicas == 1
	})
}
