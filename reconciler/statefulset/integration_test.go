package statefulset_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
	"github.com/cairn-dev/cairn/reconciler/scheduler"
	"github.com/cairn-dev/cairn/reconciler/statefulset"
)

const testNS = "sts-test"

// storageClass binds on first consumer: nothing here provisions volumes,
// and the scheduler's VolumeBinding plugin rejects pods whose claims are
// unbound with Immediate binding (or no class at all), but accepts
// unbound WaitForFirstConsumer claims on any node.
const storageClass = "wait"

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs an API server, two simulated nodes whose pods take 300ms to
// start, the scheduler and the StatefulSet controller, and creates the
// namespace and the storage class.
func start(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	s := apiservertest.Start(t, "", nil)
	admin := s.Client("admin")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	simClient, err := sim.NewClient(s.RestConfig("admin"))
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := sim.New(sim.Config{Client: simClient, Nodes: []sim.NodeSpec{{Name: "n-0"}, {Name: "n-1"}},
		StartDelay: 300 * time.Millisecond, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = nodes.Run(ctx) })
	<-nodes.Registered()

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
	c := statefulset.New(cm, factory, statefulset.Options{Logger: discard()})
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
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	if _, err := admin.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: storageClass}, Provisioner: "example.com/none", VolumeBindingMode: &wffc,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	<-sched.Synced()
	return ctx, admin
}

func newSet(name string, replicas int32, claims bool) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			ServiceName: name,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}}},
			},
		},
	}
	if claims {
		set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: ptr.To(storageClass),
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}}
	}
	return set
}

// podLog records, in the API's order, what happened to each pod: one
// entry per change of interest ("created web-0", "ready web-0",
// "terminating web-0", "gone web-0"), with the pod's image.
type podLog struct {
	mu      sync.Mutex
	entries []string
	state   map[types.UID]string // last recorded state of each pod object
}

func watchPods(t *testing.T, ctx context.Context, cs kubernetes.Interface) *podLog {
	t.Helper()
	w, err := cs.CoreV1().Pods(testNS).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := &podLog{state: map[types.UID]string{}}
	done := make(chan struct{})
	t.Cleanup(func() {
		w.Stop()
		<-done
	})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			st := "created"
			switch {
			case ev.Type == watch.Deleted:
				st = "gone"
			case p.DeletionTimestamp != nil:
				st = "terminating"
			case p.Status.Phase == corev1.PodRunning && ready(p):
				st = "ready"
			}
			l.mu.Lock()
			if l.state[p.UID] != st {
				l.state[p.UID] = st
				l.entries = append(l.entries, fmt.Sprintf("%s %s %s", st, p.Name, p.Spec.Containers[0].Image))
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (l *podLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

// index is the position of the first entry from `from` on that is
// event or starts with it and a space (an event without the image), -1
// if none.
func index(entries []string, from int, event string) int {
	for i := from; i < len(entries); i++ {
		if entries[i] == event || strings.HasPrefix(entries[i], event+" ") {
			return i
		}
	}
	return -1
}

// before waits until the log holds each event at or after position from
// (the watch may trail the reads that told the test to look), then
// asserts that they happened in the given order, and returns the log.
func before(t *testing.T, l *podLog, from int, events ...string) []string {
	t.Helper()
	var entries []string
	apiservertest.Eventually(t, timeout, fmt.Sprintf("pod events %v", events), func() bool {
		entries = l.snapshot()
		for _, e := range events {
			if index(entries, from, e) < 0 {
				return false
			}
		}
		return true
	})
	last := -1
	for i, e := range events {
		at := index(entries, from, e)
		if at < last {
			t.Fatalf("%q before %q in\n%s", e, events[i-1], strings.Join(entries[from:], "\n"))
		}
		last = at
	}
	return entries
}

func getSet(t *testing.T, ctx context.Context, cs kubernetes.Interface, name string) *appsv1.StatefulSet {
	t.Helper()
	set, err := cs.AppsV1().StatefulSets(testNS).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func patchSet(t *testing.T, ctx context.Context, cs kubernetes.Interface, name, patch string) {
	t.Helper()
	if _, err := cs.AppsV1().StatefulSets(testNS).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// podImages maps the namespace's pods' names to their images.
func podImages(t *testing.T, ctx context.Context, cs kubernetes.Interface) map[string]string {
	t.Helper()
	l, err := cs.CoreV1().Pods(testNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range l.Items {
		out[p.Name] = p.Spec.Containers[0].Image
	}
	return out
}

const timeout = 30 * time.Second

func TestOrderedCreation(t *testing.T) {
	ctx, cs := start(t)
	log := watchPods(t, ctx, cs)
	if _, err := cs.AppsV1().StatefulSets(testNS).Create(ctx, newSet("web", 3, true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, timeout, "3 ready replicas", func() bool {
		st := getSet(t, ctx, cs, "web").Status
		return st.ReadyReplicas == 3 && st.Replicas == 3
	})
	const img = "registry.example/app:1"
	before(t, log, 0,
		"created web-0 "+img, "ready web-0 "+img,
		"created web-1 "+img, "ready web-1 "+img,
		"created web-2 "+img, "ready web-2 "+img)

	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		p, err := cs.CoreV1().Pods(testNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.Hostname != name || p.Spec.Subdomain != "web" || p.Labels[appsv1.StatefulSetPodNameLabel] != name ||
			p.Labels[appsv1.PodIndexLabel] != fmt.Sprint(i) || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-"+name {
			t.Errorf("pod %s: hostname %q subdomain %q labels %v volumes %+v", name, p.Spec.Hostname, p.Spec.Subdomain, p.Labels, p.Spec.Volumes)
		}
	}
	claims := func() []string {
		l, err := cs.CoreV1().PersistentVolumeClaims(testNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range l.Items {
			out = append(out, c.Name)
		}
		slices.Sort(out)
		return out
	}
	want := []string{"data-web-0", "data-web-1", "data-web-2"}
	if got := claims(); !slices.Equal(got, want) {
		t.Fatalf("claims %v, want %v", got, want)
	}

	mark := len(log.snapshot())
	patchSet(t, ctx, cs, "web", `{"spec":{"replicas":1}}`)
	apiservertest.Eventually(t, timeout, "one replica", func() bool {
		st := getSet(t, ctx, cs, "web").Status
		return st.Replicas == 1 && st.ReadyReplicas == 1 && len(podImages(t, ctx, cs)) == 1
	})
	entries := before(t, log, mark, "gone web-2", "terminating web-1", "gone web-1")
	if i := index(entries, mark, "terminating web-1"); i >= 0 && i < index(entries, mark, "gone web-2") {
		t.Errorf("web-1 deleted before web-2 was gone:\n%s", strings.Join(entries[mark:], "\n"))
	}
	if i := index(entries, mark, "gone web-0"); i >= 0 {
		t.Errorf("web-0 deleted:\n%s", strings.Join(entries[mark:], "\n"))
	}
	if got := claims(); !slices.Equal(got, want) {
		t.Errorf("claims after scale down %v, want %v", got, want)
	}

	// A pod deleted by someone else comes back with its name and claim.
	old, err := cs.CoreV1().Pods(testNS).Get(ctx, "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods(testNS).Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, timeout, "web-0 back and ready", func() bool {
		p, err := cs.CoreV1().Pods(testNS).Get(ctx, "web-0", metav1.GetOptions{})
		return err == nil && p.UID != old.UID && ready(p) && p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName == "data-web-0"
	})
}

func TestRollingUpdatePartition(t *testing.T) {
	ctx, cs := start(t)
	log := watchPods(t, ctx, cs)
	set := newSet("db", 4, false)
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(int32(2))}}
	if _, err := cs.AppsV1().StatefulSets(testNS).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var oldRev string
	apiservertest.Eventually(t, timeout, "4 ready replicas", func() bool {
		st := getSet(t, ctx, cs, "db").Status
		oldRev = st.CurrentRevision
		return st.ReadyReplicas == 4 && st.UpdatedReplicas == 4 && oldRev != ""
	})

	const v1, v2 = "registry.example/app:1", "registry.example/app:2"
	mark := len(log.snapshot())
	patchSet(t, ctx, cs, "db", `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"`+v2+`"}]}}}}`)
	var st appsv1.StatefulSetStatus
	apiservertest.Eventually(t, timeout, "pods 2 and 3 updated", func() bool {
		st = getSet(t, ctx, cs, "db").Status
		return st.UpdateRevision != oldRev && st.UpdatedReplicas == 2 && st.ReadyReplicas == 4 && st.CurrentReplicas == 2
	})
	if st.CurrentRevision != oldRev {
		t.Errorf("currentRevision %s, want %s while the partition holds", st.CurrentRevision, oldRev)
	}
	before(t, log, mark,
		"terminating db-3 "+v1, "created db-3 "+v2, "ready db-3 "+v2,
		"terminating db-2 "+v1, "created db-2 "+v2, "ready db-2 "+v2)
	if got, want := podImages(t, ctx, cs), map[string]string{"db-0": v1, "db-1": v1, "db-2": v2, "db-3": v2}; !equalMaps(got, want) {
		t.Errorf("images %v, want %v", got, want)
	}
	for _, name := range []string{"db-0", "db-1"} {
		p, err := cs.CoreV1().Pods(testNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Labels[appsv1.StatefulSetRevisionLabel] != oldRev {
			t.Errorf("%s at revision %s, want %s", name, p.Labels[appsv1.StatefulSetRevisionLabel], oldRev)
		}
	}
	// Nothing below the partition was touched.
	if i := index(log.snapshot(), mark, "terminating db-1"); i >= 0 {
		t.Errorf("db-1 deleted below the partition")
	}

	mark = len(log.snapshot())
	newRev := st.UpdateRevision
	patchSet(t, ctx, cs, "db", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`)
	apiservertest.Eventually(t, timeout, "update finished", func() bool {
		st = getSet(t, ctx, cs, "db").Status
		return st.CurrentRevision == newRev && st.UpdatedReplicas == 4 && st.CurrentReplicas == 4 && st.ReadyReplicas == 4
	})
	before(t, log, mark,
		"terminating db-1 "+v1, "ready db-1 "+v2, "terminating db-0 "+v1, "ready db-0 "+v2)
	if got, want := podImages(t, ctx, cs), map[string]string{"db-0": v2, "db-1": v2, "db-2": v2, "db-3": v2}; !equalMaps(got, want) {
		t.Errorf("images %v, want %v", got, want)
	}
	revs, err := cs.AppsV1().ControllerRevisions(testNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range revs.Items {
		names = append(names, r.Name)
	}
	if !slices.Contains(names, oldRev) || !slices.Contains(names, newRev) || len(names) != 2 {
		t.Errorf("revisions %v, want %s and %s", names, oldRev, newRev)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
