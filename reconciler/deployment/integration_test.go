package deployment_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
	"github.com/cairn-dev/cairn/reconciler/deployment"
	"github.com/cairn-dev/cairn/reconciler/replicaset"
	"github.com/cairn-dev/cairn/reconciler/scheduler"
)

const testNS = "deploy-test"

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs an API server, three simulated nodes whose pods take a
// while to start, the scheduler, and the ReplicaSet and Deployment
// controllers as the controller-manager identity.
func start(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	s := apiservertest.Start(t, "", nil)
	admin := s.Client("admin")
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after cancel: cleanups run last-in first-out
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	nodes, err := sim.New(sim.Config{Client: admin, Logger: discard(), StartDelay: 300 * time.Millisecond,
		Nodes: []sim.NodeSpec{{Name: "n-0"}, {Name: "n-1"}, {Name: "n-2"}}})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = nodes.Run(ctx) })
	select {
	case <-nodes.Registered():
	case <-time.After(30 * time.Second):
		t.Fatal("simulated nodes did not register")
	}
	sched, err := scheduler.New(scheduler.Config{Client: s.Client("scheduler"), Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		if err := sched.Run(ctx); err != nil {
			t.Errorf("scheduler: %v", err)
		}
	})
	<-sched.Synced()

	cm := s.Client("controller-manager")
	factory := informers.NewSharedInformerFactory(cm, 0)
	rsc := replicaset.New(cm, factory, replicaset.Options{Logger: discard()})
	dc := deployment.New(cm, factory, deployment.Options{Logger: discard()})
	wg.Go(func() {
		if err := rsc.Run(ctx, 4); err != nil {
			t.Errorf("replicaset controller: %v", err)
		}
	})
	wg.Go(func() {
		if err := dc.Run(ctx, 2); err != nil {
			t.Errorf("deployment controller: %v", err)
		}
	})
	factory.Start(ctx.Done())
	wg.Go(func() {
		<-ctx.Done()
		factory.Shutdown()
	})
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ctx, admin
}

func newDeployment(replicas int32, strategy appsv1.DeploymentStrategy, image string) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas:             ptr.To(replicas),
			Selector:             &metav1.LabelSelector{MatchLabels: labels},
			Strategy:             strategy,
			RevisionHistoryLimit: ptr.To(int32(1)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To(int64(0)),
					Containers:                    []corev1.Container{{Name: "app", Image: image}},
				},
			},
		},
	}
}

// watcher sees every pod and ReplicaSet event of the test namespace and
// runs check on the stores after each, so that every intermediate state
// is looked at, not only the ones a poll happens to catch.
type watcher struct {
	mu         sync.Mutex
	pods, rss  cache.Store
	check      func(pods, rss []any) string
	violations []string
}

func watch(t *testing.T, ctx context.Context, cs kubernetes.Interface, check func(pods, rss []any) string) *watcher {
	t.Helper()
	w := &watcher{check: check}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(testNS))
	podInf := factory.Core().V1().Pods().Informer()
	rsInf := factory.Apps().V1().ReplicaSets().Informer()
	w.pods, w.rss = podInf.GetStore(), rsInf.GetStore()
	on := func(any) { w.look() }
	h := cache.ResourceEventHandlerFuncs{AddFunc: on, UpdateFunc: func(_, cur any) { w.look() }, DeleteFunc: on}
	_, _ = podInf.AddEventHandler(h)
	_, _ = rsInf.AddEventHandler(h)
	wctx, cancel := context.WithCancel(ctx)
	factory.Start(wctx.Done())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})
	factory.WaitForCacheSync(wctx.Done())
	return w
}

func (w *watcher) look() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if v := w.check(w.pods.List(), w.rss.List()); v != "" && len(w.violations) < 10 {
		w.violations = append(w.violations, v)
	}
}

func (w *watcher) report(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.violations {
		t.Error(v)
	}
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// live: counted as one of the Deployment's pods, not terminating and
// not finished.
func live(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

func setImage(t *testing.T, ctx context.Context, cs kubernetes.Interface, image string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, image)
	if _, err := cs.AppsV1().Deployments(testNS).Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitRolledOut waits until the Deployment reports the rollout of image
// complete and exactly its replicas pods, all of that image, run ready.
func waitRolledOut(t *testing.T, ctx context.Context, cs kubernetes.Interface, image string, replicas int32) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		d, err = cs.AppsV1().Deployments(testNS).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods, err := cs.CoreV1().Pods(testNS).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, p := range pods.Items {
			if p.Spec.Containers[0].Image == image && live(&p) && isReady(&p) {
				ready++
			}
		}
		st := d.Status
		var progressing string
		for _, c := range st.Conditions {
			if c.Type == appsv1.DeploymentProgressing {
				progressing = c.Reason
			}
		}
		last = fmt.Sprintf("pods %d (%d ready with %s), status %+v", len(pods.Items), ready, image, st)
		if len(pods.Items) == int(replicas) && ready == int(replicas) && st.ObservedGeneration == d.Generation &&
			st.UpdatedReplicas == replicas && st.ReadyReplicas == replicas && st.AvailableReplicas == replicas &&
			st.Replicas == replicas && st.UnavailableReplicas == 0 && progressing == deployment.NewRSAvailableReason {
			return d
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("rollout of %s did not complete in 30s: %s", image, last)
	return nil
}

func ownedReplicaSets(t *testing.T, ctx context.Context, cs kubernetes.Interface, d *appsv1.Deployment) []appsv1.ReplicaSet {
	t.Helper()
	l, err := cs.AppsV1().ReplicaSets(testNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range l.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	return out
}

// TestRollingUpdateBounds rolls a 10-replica Deployment (maxSurge 2,
// maxUnavailable 1) through two image changes and checks every state on
// the way: at most 12 pods and 12 replicas asked for, at least 9 ready
// pods once it first had all 10, and history trimmed to one old
// ReplicaSet.
func TestRollingUpdateBounds(t *testing.T) {
	ctx, cs := start(t)
	const replicas, maxTotal, minReady = 10, 12, 9
	var armed bool
	w := watch(t, ctx, cs, func(pods, rss []any) string {
		n, ready := 0, 0
		for _, o := range pods {
			p := o.(*corev1.Pod)
			if p.Labels["app"] != "web" || !live(p) {
				continue
			}
			n++
			if isReady(p) {
				ready++
			}
		}
		var asked int32
		for _, o := range rss {
			asked += *o.(*appsv1.ReplicaSet).Spec.Replicas
		}
		switch {
		case n > maxTotal:
			return fmt.Sprintf("%d pods at once, more than %d", n, maxTotal)
		case asked > maxTotal:
			return fmt.Sprintf("replica sets ask for %d pods, more than %d", asked, maxTotal)
		case armed && ready < minReady:
			return fmt.Sprintf("only %d ready pods, fewer than %d", ready, minReady)
		}
		if ready >= replicas {
			armed = true
		}
		return ""
	})
	defer w.report(t)

	strategy := appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(2)), MaxUnavailable: ptr.To(intstr.FromInt32(1))}}
	if _, err := cs.AppsV1().Deployments(testNS).Create(ctx, newDeployment(replicas, strategy, "registry.example/web:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, ctx, cs, "registry.example/web:1", replicas)
	w.mu.Lock()
	if !armed {
		t.Error("the watcher never saw all 10 pods ready")
	}
	w.mu.Unlock()

	setImage(t, ctx, cs, "registry.example/web:2")
	waitRolledOut(t, ctx, cs, "registry.example/web:2", replicas)
	setImage(t, ctx, cs, "registry.example/web:3")
	d := waitRolledOut(t, ctx, cs, "registry.example/web:3", replicas)
	if rev := d.Annotations[deployment.RevisionAnnotation]; rev != "3" {
		t.Errorf("deployment revision %q, want 3", rev)
	}

	var last []string
	apiservertest.Eventually(t, 20*time.Second, "history trimmed to revisions 2 and 3", func() bool {
		last = nil
		for _, rs := range ownedReplicaSets(t, ctx, cs, d) {
			last = append(last, fmt.Sprintf("rev %s image %s replicas %d", rs.Annotations[deployment.RevisionAnnotation],
				rs.Spec.Template.Spec.Containers[0].Image, *rs.Spec.Replicas))
		}
		return len(last) == 2 && containsAll(last, "rev 2 image registry.example/web:2 replicas 0", "rev 3 image registry.example/web:3 replicas 10")
	})
	for _, rs := range ownedReplicaSets(t, ctx, cs, d) {
		hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if rs.Name != "web-"+hash || rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
			t.Errorf("replica set %s: hash %q, selector %v", rs.Name, hash, rs.Spec.Selector.MatchLabels)
		}
	}
}

func containsAll(have []string, want ...string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

// TestRecreateNeverOverlaps changes the image of a Recreate Deployment:
// no pod of the new template may exist while one of the old still does.
func TestRecreateNeverOverlaps(t *testing.T) {
	ctx, cs := start(t)
	w := watch(t, ctx, cs, func(pods, _ []any) string {
		hashes := map[string]int{}
		for _, o := range pods {
			p := o.(*corev1.Pod)
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			hashes[p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]]++
		}
		if len(hashes) > 1 {
			return fmt.Sprintf("pods of several templates at once: %v", hashes)
		}
		return ""
	})
	defer w.report(t)
	strategy := appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if _, err := cs.AppsV1().Deployments(testNS).Create(ctx, newDeployment(4, strategy, "registry.example/web:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, ctx, cs, "registry.example/web:1", 4)
	setImage(t, ctx, cs, "registry.example/web:2")
	d := waitRolledOut(t, ctx, cs, "registry.example/web:2", 4)
	if rev := d.Annotations[deployment.RevisionAnnotation]; rev != "2" {
		t.Errorf("deployment revision %q, want 2", rev)
	}
}
