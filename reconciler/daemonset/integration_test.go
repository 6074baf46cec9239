package daemonset_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
	"github.com/cairn-dev/cairn/reconciler/daemonset"
	"github.com/cairn-dev/cairn/reconciler/scheduler"
)

const testNS = "ds-test"

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var edge = map[string]string{"role": "edge"}

// cluster is an API server with six simulated nodes: n-1 to n-4 labelled
// role=edge, n-4 also tainted NoSchedule, n-5 and n-6 unlabelled; the
// scheduler and the DaemonSet controller run against it.
type cluster struct {
	ctx   context.Context
	admin kubernetes.Interface
	nodes *sim.Cluster
}

func start(t *testing.T) *cluster {
	t.Helper()
	s := apiservertest.Start(t, "", nil)
	admin := s.Client("admin")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	var specs []sim.NodeSpec
	for i := 1; i <= 6; i++ {
		spec := sim.NodeSpec{Name: fmt.Sprintf("n-%d", i)}
		if i <= 4 {
			spec.Labels = edge
		}
		if i == 4 {
			spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
		}
		specs = append(specs, spec)
	}
	nodes, err := sim.New(sim.Config{Client: admin, Nodes: specs, Logger: discard()})
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

	cm := s.Client("controller-manager")
	factory := informers.NewSharedInformerFactory(cm, 0)
	c := daemonset.New(cm, factory, daemonset.Options{Logger: discard()})
	factory.Start(ctx.Done())
	wg.Go(func() {
		if err := c.Run(ctx, 2); err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &cluster{ctx: ctx, admin: admin, nodes: nodes}
}

func newDaemonSet(name string, strategy appsv1.DaemonSetUpdateStrategy) *appsv1.DaemonSet {
	lbls := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{
					NodeSelector: edge,
					Containers:   []corev1.Container{{Name: "agent", Image: "registry.example/agent:1"}},
				},
			},
			UpdateStrategy: strategy,
		},
	}
}

// running maps each node to its daemon pods of ds that run and are not
// being deleted, and lists the others.
func running(t *testing.T, c *cluster, ds string) (map[string][]string, []string) {
	t.Helper()
	pods, err := c.admin.CoreV1().Pods(testNS).List(c.ctx, metav1.ListOptions{LabelSelector: "app=" + ds})
	if err != nil {
		t.Fatal(err)
	}
	byNode := map[string][]string{}
	var other []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p.Name)
		} else {
			other = append(other, p.Name+"("+string(p.Status.Phase)+")")
		}
	}
	return byNode, other
}

// waitPlacement waits until ds has exactly one running pod on each of
// nodes, and no pod anywhere else.
func waitPlacement(t *testing.T, c *cluster, ds string, nodes ...string) {
	t.Helper()
	var byNode map[string][]string
	var other []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		byNode, other = running(t, c, ds)
		ok := len(other) == 0 && len(byNode) == len(nodes)
		for _, n := range nodes {
			ok = ok && len(byNode[n]) == 1
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("daemon pods by node %v, others %v; want one running pod on each of %v", byNode, other, nodes)
}

func waitStatus(t *testing.T, c *cluster, name string, ok func(*appsv1.DaemonSet) bool) *appsv1.DaemonSet {
	t.Helper()
	var ds *appsv1.DaemonSet
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		if ds, err = c.admin.AppsV1().DaemonSets(testNS).Get(c.ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		if ok(ds) {
			return ds
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("DaemonSet %s status %+v", name, ds.Status)
	return nil
}

func TestDaemonSetPlacement(t *testing.T) {
	c := start(t)
	ds := newDaemonSet("agent", appsv1.DaemonSetUpdateStrategy{})
	if _, err := c.admin.AppsV1().DaemonSets(testNS).Create(c.ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// n-4 is tainted NoSchedule; n-5 and n-6 are off the selector.
	waitPlacement(t, c, "agent", "n-1", "n-2", "n-3")
	waitStatus(t, c, "agent", func(ds *appsv1.DaemonSet) bool {
		s := ds.Status
		return s.DesiredNumberScheduled == 3 && s.CurrentNumberScheduled == 3 && s.NumberReady == 3 &&
			s.NumberAvailable == 3 && s.UpdatedNumberScheduled == 3 && s.NumberMisscheduled == 0 &&
			s.NumberUnavailable == 0 && s.ObservedGeneration == ds.Generation
	})

	pods, err := c.admin.CoreV1().Pods(testNS).List(c.ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		t.Fatal(err)
	}
	revs, err := c.admin.AppsV1().ControllerRevisions(testNS).List(c.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 1 || revs.Items[0].Revision != 1 {
		t.Fatalf("controller revisions %+v, want one, revision 1", revs.Items)
	}
	h := revs.Items[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if revs.Items[0].Name != "agent-"+h {
		t.Errorf("revision %q, want agent-%s", revs.Items[0].Name, h)
	}
	for _, p := range pods.Items {
		if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != h || p.Labels[daemonset.LabelTemplateGeneration] == "" {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
		terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || terms[0].MatchFields[0].Values[0] != p.Spec.NodeName {
			t.Errorf("pod %s on %s pinned by %+v", p.Name, p.Spec.NodeName, terms)
		}
	}

	t.Run("a new matching node gets a pod", func(t *testing.T) {
		if err := c.nodes.AddNode(c.ctx, sim.NodeSpec{Name: "n-7", Labels: edge}); err != nil {
			t.Fatal(err)
		}
		waitPlacement(t, c, "agent", "n-1", "n-2", "n-3", "n-7")
	})
	t.Run("a node relabelled off the selector loses its pod", func(t *testing.T) {
		patch := []byte(`{"metadata":{"labels":{"role":"core"}}}`)
		if _, err := c.admin.CoreV1().Nodes().Patch(c.ctx, "n-2", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPlacement(t, c, "agent", "n-1", "n-3", "n-7")
		waitStatus(t, c, "agent", func(ds *appsv1.DaemonSet) bool {
			return ds.Status.DesiredNumberScheduled == 3 && ds.Status.NumberAvailable == 3 && ds.Status.NumberMisscheduled == 0
		})
	})
	t.Run("a deleted pod is replaced", func(t *testing.T) {
		byNode, _ := running(t, c, "agent")
		victim := byNode["n-1"][0]
		if err := c.admin.CoreV1().Pods(testNS).Delete(c.ctx, victim, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		apiservertest.Eventually(t, 30*time.Second, "a new pod on n-1", func() bool {
			byNode, _ := running(t, c, "agent")
			return len(byNode["n-1"]) == 1 && byNode["n-1"][0] != victim
		})
		waitPlacement(t, c, "agent", "n-1", "n-3", "n-7")
	})
	t.Run("a new NoSchedule taint keeps the pod, a NoExecute one evicts it", func(t *testing.T) {
		byNode, _ := running(t, c, "agent")
		kept := byNode["n-7"][0]
		setTaints(t, c, "n-7", corev1.Taint{Key: "maintenance", Value: "soon", Effect: corev1.TaintEffectNoSchedule})
		// The status is written after the sync's deletes: once it counts
		// the pod as misscheduled, the sync that saw the taint is over.
		waitStatus(t, c, "agent", func(ds *appsv1.DaemonSet) bool {
			return ds.Status.DesiredNumberScheduled == 2 && ds.Status.NumberMisscheduled == 1
		})
		byNode, _ = running(t, c, "agent")
		if len(byNode["n-7"]) != 1 || byNode["n-7"][0] != kept {
			t.Fatalf("pods on n-7 %v, want %s kept", byNode["n-7"], kept)
		}
		setTaints(t, c, "n-7", corev1.Taint{Key: "maintenance", Value: "now", Effect: corev1.TaintEffectNoExecute})
		waitPlacement(t, c, "agent", "n-1", "n-3")
		waitStatus(t, c, "agent", func(ds *appsv1.DaemonSet) bool {
			return ds.Status.DesiredNumberScheduled == 2 && ds.Status.NumberMisscheduled == 0 && ds.Status.CurrentNumberScheduled == 2
		})
	})
}

func setTaints(t *testing.T, c *cluster, node string, taints ...corev1.Taint) {
	t.Helper()
	n, err := c.admin.CoreV1().Nodes().Get(c.ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Taints = taints
	if _, err := c.admin.CoreV1().Nodes().Update(c.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// podState is what the rolling update test tracks of one daemon pod.
type podState struct {
	node  string
	ready bool
}

func TestDaemonSetRollingUpdate(t *testing.T) {
	one := intstr.FromInt32(1)
	rollOut(t, appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one}, 1)
}

// TestDaemonSetSurgeUpdate: with maxSurge 1 and maxUnavailable 0 the new
// pod of a node is ready before its old one goes, so no node is ever
// without a ready pod.
func TestDaemonSetSurgeUpdate(t *testing.T) {
	zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
	rollOut(t, appsv1.RollingUpdateDaemonSet{MaxUnavailable: &zero, MaxSurge: &one}, 0)
}

// rollOut changes the image of a DaemonSet on three eligible nodes and
// follows the pods on a watch: on no event may more than maxLacking
// eligible nodes lack a ready daemon pod; the update must end with every
// pod on the new template and the status saying so.
func rollOut(t *testing.T, ru appsv1.RollingUpdateDaemonSet, maxLacking int) {
	c := start(t)
	ds := newDaemonSet("roll", appsv1.DaemonSetUpdateStrategy{
		Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &ru,
	})
	if _, err := c.admin.AppsV1().DaemonSets(testNS).Create(c.ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eligible := []string{"n-1", "n-2", "n-3"}
	waitPlacement(t, c, "roll", eligible...)
	waitStatus(t, c, "roll", func(ds *appsv1.DaemonSet) bool { return ds.Status.NumberAvailable == 3 })

	list, err := c.admin.CoreV1().Pods(testNS).List(c.ctx, metav1.ListOptions{LabelSelector: "app=roll"})
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string]podState{}
	for _, p := range list.Items {
		pods[p.Name] = observe(&p)
	}
	w, err := c.admin.CoreV1().Pods(testNS).Watch(c.ctx, metav1.ListOptions{LabelSelector: "app=roll", ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"agent","image":"registry.example/agent:2"}]}}}}`)
	if _, err := c.admin.AppsV1().DaemonSets(testNS).Patch(c.ctx, "roll", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	// lacking lists the eligible nodes without a ready daemon pod.
	lacking := func() []string {
		var out []string
		for _, n := range eligible {
			ok := false
			for _, s := range pods {
				ok = ok || (s.node == n && s.ready)
			}
			if !ok {
				out = append(out, n)
			}
		}
		return out
	}
	events, worst := 0, 0
	done := func() bool {
		got, err := c.admin.AppsV1().DaemonSets(testNS).Get(c.ctx, "roll", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s := got.Status
		if s.ObservedGeneration != got.Generation || s.DesiredNumberScheduled != 3 ||
			s.UpdatedNumberScheduled != 3 || s.NumberAvailable != 3 {
			return false
		}
		list, err := c.admin.CoreV1().Pods(testNS).List(c.ctx, metav1.ListOptions{LabelSelector: "app=roll"})
		if err != nil {
			t.Fatal(err)
		}
		var nodes []string
		for _, p := range list.Items {
			if p.Spec.Containers[0].Image != "registry.example/agent:2" || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				return false
			}
			nodes = append(nodes, p.Spec.NodeName)
		}
		sort.Strings(nodes)
		return fmt.Sprint(nodes) == fmt.Sprint(eligible)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed")
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				t.Fatalf("watch event %v %T", ev.Type, ev.Object)
			}
			events++
			if ev.Type == watch.Deleted {
				delete(pods, p.Name)
			} else {
				pods[p.Name] = observe(p)
			}
			l := lacking()
			worst = max(worst, len(l))
			if len(l) > maxLacking {
				t.Fatalf("after %s of %s: nodes %v lack a ready daemon pod; at most %d may", ev.Type, p.Name, l, maxLacking)
			}
		case <-tick.C:
			if done() {
				if worst != maxLacking {
					t.Errorf("at most %d nodes lacked a ready pod during the update, want %d", worst, maxLacking)
				}
				t.Logf("rolled in %d pod events", events)
				return
			}
		case <-deadline:
			t.Fatalf("the update did not finish; pods %+v", pods)
		}
	}
}

// observe reduces a pod to where it is and whether it serves: ready and
// not on its way out.
func observe(p *corev1.Pod) podState {
	ready := false
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	return podState{node: p.Spec.NodeName, ready: ready && p.DeletionTimestamp == nil}
}
