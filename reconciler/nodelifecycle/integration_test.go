package nodelifecycle_test

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
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
	"github.com/cairn-dev/cairn/reconciler/nodelifecycle"
	"github.com/cairn-dev/cairn/reconciler/replicaset"
	"github.com/cairn-dev/cairn/reconciler/scheduler"
	"github.com/cairn-dev/cairn/reconciler/tainteviction"
)

const testNS = "nl-test"

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestLeaseLossEvictsAndReplaces runs the chain end to end against a
// real API server: a simulated node stops heartbeating; the node
// lifecycle controller turns it Unknown and taints it; the taint
// eviction controller deletes its pod once its toleration runs out; the
// ReplicaSet controller makes a replacement which the scheduler puts on
// another node. When the node is back, its NoExecute taint goes.
func TestLeaseLossEvictsAndReplaces(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	admin := s.Client("admin")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var factory informers.SharedInformerFactory
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if factory != nil {
			factory.Shutdown()
		}
	})

	specs := []sim.NodeSpec{{Name: "n-0", Zone: "z"}, {Name: "n-1", Zone: "z"}, {Name: "n-2", Zone: "z"}}
	nodes, err := sim.New(sim.Config{
		Client: admin, Nodes: specs, Logger: discard(),
		RenewInterval: 200 * time.Millisecond, LeaseDuration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = nodes.Run(ctx) })
	select {
	case <-nodes.Registered():
	case <-time.After(30 * time.Second):
		t.Fatal("simulated nodes did not register in 30s")
	}

	cm := s.Client("controller-manager")
	factory = informers.NewSharedInformerFactory(cm, 0)
	nl := nodelifecycle.New(cm, factory, nodelifecycle.Options{
		Logger:                 discard(),
		NodeMonitorPeriod:      200 * time.Millisecond,
		NodeMonitorGracePeriod: 2 * time.Second,
		NodeStartupGracePeriod: 5 * time.Second,
	})
	te := tainteviction.New(cm, factory, tainteviction.Options{Logger: discard()})
	rs := replicaset.New(cm, factory, replicaset.Options{Logger: discard()})
	factory.Start(ctx.Done())
	for name, run := range map[string]func(context.Context, int) error{"nodelifecycle": nl.Run, "tainteviction": te.Run, "replicaset": rs.Run} {
		wg.Go(func() {
			if err := run(ctx, 2); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
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

	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	set := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "web"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}},
					Tolerations: []corev1.Toleration{{
						Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
						Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2),
					}},
				},
			},
		},
	}
	if _, err := admin.AppsV1().ReplicaSets(testNS).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := waitRunning(t, ctx, admin, "")

	lost := first.Spec.NodeName
	if err := nodes.StopHeartbeats(lost); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 30*time.Second, lost+" Ready Unknown", func() bool {
		c := readyOf(t, ctx, admin, lost)
		return c != nil && c.Status == corev1.ConditionUnknown && c.Reason == nodelifecycle.ReasonNodeStatusUnknown
	})
	var taintedAt time.Time
	apiservertest.Eventually(t, 30*time.Second, lost+" tainted unreachable:NoExecute", func() bool {
		n, err := admin.CoreV1().Nodes().Get(ctx, lost, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, tn := range n.Spec.Taints {
			if tn.Key == corev1.TaintNodeUnreachable && tn.Effect == corev1.TaintEffectNoExecute && tn.TimeAdded != nil {
				taintedAt = tn.TimeAdded.Time
				return true
			}
		}
		return false
	})
	var deletedAt time.Time
	apiservertest.Eventually(t, 30*time.Second, "the pod on "+lost+" evicted", func() bool {
		p, err := admin.CoreV1().Pods(testNS).Get(ctx, first.Name, metav1.GetOptions{})
		if err != nil {
			deletedAt = time.Now()
			return true
		}
		if p.DeletionTimestamp != nil {
			// The deletion timestamp is the request's time plus the grace period.
			deletedAt = p.DeletionTimestamp.Add(-time.Duration(ptr.Deref(p.DeletionGracePeriodSeconds, 0)) * time.Second)
			return true
		}
		return false
	})
	// timeAdded is kept to the second: allow for it.
	if d := deletedAt.Sub(taintedAt); d < time.Second {
		t.Errorf("pod deleted %v after the taint, before its 2 s toleration", d)
	}
	marked := fmt.Sprintf("Marking for deletion Pod %s/%s", testNS, first.Name)
	apiservertest.Eventually(t, 30*time.Second, "the eviction event", func() bool {
		evs, err := admin.CoreV1().Events(testNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.Reason == tainteviction.EventTaintManagerEviction && e.Message == marked {
				return true
			}
		}
		return false
	})

	second := waitRunning(t, ctx, admin, first.Name)
	if second.Spec.NodeName == lost {
		t.Errorf("replacement %s landed on the lost node %s", second.Name, lost)
	}

	if err := nodes.ResumeHeartbeats(lost); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 30*time.Second, lost+" ready and untainted again", func() bool {
		n, err := admin.CoreV1().Nodes().Get(ctx, lost, metav1.GetOptions{})
		if err != nil {
			return false
		}
		c := readyOf(t, ctx, admin, lost)
		return c != nil && c.Status == corev1.ConditionTrue && len(n.Spec.Taints) == 0
	})
}

func readyOf(t *testing.T, ctx context.Context, cs kubernetes.Interface, node string) *corev1.NodeCondition {
	t.Helper()
	n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// waitRunning waits for a running, undeleted pod of the ReplicaSet other
// than the one named not.
func waitRunning(t *testing.T, ctx context.Context, cs kubernetes.Interface, not string) *corev1.Pod {
	t.Helper()
	var found *corev1.Pod
	apiservertest.Eventually(t, 30*time.Second, "a running pod", func() bool {
		pods, err := cs.CoreV1().Pods(testNS).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Name != not && p.DeletionTimestamp == nil && p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning {
				found = p
				return true
			}
		}
		return false
	})
	return found
}
