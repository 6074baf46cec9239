package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/cairn-dev/cairn/apiserver"
)

func ptr[T any](v T) *T { return &v }

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}},
	}
}

func testDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.25"}}},
			},
		},
	}
}

func testNode(name string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

// TestClientGoCRUD drives the typed clientset through every verb and the
// request semantics Kubernetes clients rely on.
func TestClientGoCRUD(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	c := ts.client("admin")
	ctx := ctxT(t)

	// create: server fills uid, creationTimestamp, generation, defaults
	d, err := c.AppsV1().Deployments("default").Create(ctx, testDeployment("web", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.CreationTimestamp.IsZero() || d.ResourceVersion == "" || d.Generation != 1 {
		t.Fatalf("system fields not set: uid=%q ts=%v rv=%q gen=%d", d.UID, d.CreationTimestamp, d.ResourceVersion, d.Generation)
	}
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate.MaxSurge.String() != "25%" ||
		*d.Spec.RevisionHistoryLimit != 10 || *d.Spec.ProgressDeadlineSeconds != 600 {
		t.Fatalf("deployment defaults missing: %+v", d.Spec)
	}
	if p := d.Spec.Template.Spec; p.RestartPolicy != corev1.RestartPolicyAlways || *p.TerminationGracePeriodSeconds != 30 || p.SchedulerName != "default-scheduler" {
		t.Fatalf("pod template defaults missing: %+v", p)
	}
	if _, err := c.AppsV1().Deployments("default").Create(ctx, testDeployment("web", 1), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: want AlreadyExists, got %v", err)
	}

	// update: generation bumps on spec change only; stale RV conflicts
	d.Spec.Replicas = ptr(int32(3))
	d2, err := c.AppsV1().Deployments("default").Update(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d2.Generation != 2 || d2.ResourceVersion == d.ResourceVersion {
		t.Fatalf("update: generation %d rv %s→%s", d2.Generation, d.ResourceVersion, d2.ResourceVersion)
	}
	if _, err := c.AppsV1().Deployments("default").Update(ctx, d, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: want Conflict, got %v", err)
	}
	d2.Labels = map[string]string{"tier": "front"}
	d3, err := c.AppsV1().Deployments("default").Update(ctx, d2, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d3.Generation != 2 {
		t.Fatalf("metadata-only update bumped generation to %d", d3.Generation)
	}

	// status is a separate subresource
	d3.Status.Replicas, d3.Spec.Replicas = 7, ptr(int32(9))
	d4, err := c.AppsV1().Deployments("default").UpdateStatus(ctx, d3, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d4.Status.Replicas != 7 || *d4.Spec.Replicas != 3 {
		t.Fatalf("UpdateStatus: status.replicas=%d spec.replicas=%d, want 7 and 3", d4.Status.Replicas, *d4.Spec.Replicas)
	}
	d4.Status.Replicas = 0
	d4.Spec.Replicas = ptr(int32(4))
	d5, err := c.AppsV1().Deployments("default").Update(ctx, d4, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d5.Status.Replicas != 7 || *d5.Spec.Replicas != 4 {
		t.Fatalf("Update ignored status? status.replicas=%d spec.replicas=%d, want 7 and 4", d5.Status.Replicas, *d5.Spec.Replicas)
	}

	// scale subresource
	sc, err := c.AppsV1().Deployments("default").GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil || sc.Spec.Replicas != 4 || sc.Status.Selector != "app=web" {
		t.Fatalf("GetScale: %+v %v", sc, err)
	}
	sc.Spec.Replicas = 6
	if _, err := c.AppsV1().Deployments("default").UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// patches: merge, JSON, strategic merge
	if _, err := c.AppsV1().Deployments("default").Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"annotations":{"a":"1"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppsV1().Deployments("default").Patch(ctx, "web", types.JSONPatchType, []byte(`[{"op":"add","path":"/metadata/labels/patched","value":"json"}]`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.AppsV1().Deployments("default").Patch(ctx, "web", types.StrategicMergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.Spec.Template.Spec.Containers); n != 2 || got.Annotations["a"] != "1" || got.Labels["patched"] != "json" || *got.Spec.Replicas != 6 {
		t.Fatalf("after patches: containers=%d annotations=%v labels=%v replicas=%d", n, got.Annotations, got.Labels, *got.Spec.Replicas)
	}

	// strict decoding: unknown fields are a 400 naming them
	raw := c.AppsV1().RESTClient().Post().Namespace("default").Resource("deployments").
		Body([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},"spec":{"replicass":1}}`)).Do(ctx)
	if err := raw.Error(); !apierrors.IsBadRequest(err) || !contains(err.Error(), `unknown field "spec.replicass"`) {
		t.Fatalf("unknown field: want 400 naming spec.replicass, got %v", err)
	}

	// dry run stores nothing
	if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dry"}},
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps("default").Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run object stored: %v", err)
	}

	// generateName
	cm, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}, metav1.CreateOptions{})
	if err != nil || len(cm.Name) != len("gen-")+5 {
		t.Fatalf("generateName: %v %v", cm, err)
	}

	// label and field selectors
	for _, p := range []*corev1.Pod{testPod("a"), testPod("b")} {
		if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CoreV1().Nodes().Create(ctx, testNode("n1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Pods("default").Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "a"},
		Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Pods("default").Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "a"},
		Target: corev1.ObjectReference{Kind: "Node", Name: "n2"}}, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("second binding: want Conflict, got %v", err)
	}
	onNode, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
	if err != nil || len(onNode.Items) != 1 || onNode.Items[0].Name != "a" {
		t.Fatalf("field selector spec.nodeName=n1: %v %v", onNode, err)
	}
	byLabel, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app in (web),!missing"})
	if err != nil || len(byLabel.Items) != 2 {
		t.Fatalf("label selector: %v %v", byLabel, err)
	}
	if _, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("unsupported field selector: want 400, got %v", err)
	}

	// graceful deletion of a pod on a node, immediate with grace 0
	if err := c.CoreV1().Pods("default").Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pa, err := c.CoreV1().Pods("default").Get(ctx, "a", metav1.GetOptions{})
	if err != nil || pa.DeletionTimestamp == nil || *pa.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("bound pod not marked for graceful deletion: %+v %v", pa, err)
	}
	if err := c.CoreV1().Pods("default").Delete(ctx, "a", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Pods("default").Get(ctx, "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pod not deleted with grace 0: %v", err)
	}

	// finalizers hold deletion until removed
	fin := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fin", Finalizers: []string{"cairn.dev/test"}}}
	if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, fin, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().ConfigMaps("default").Delete(ctx, "fin", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	held, err := c.CoreV1().ConfigMaps("default").Get(ctx, "fin", metav1.GetOptions{})
	if err != nil || held.DeletionTimestamp == nil {
		t.Fatalf("finalized object: %v %v", held, err)
	}
	held.Finalizers = nil
	if _, err := c.CoreV1().ConfigMaps("default").Update(ctx, held, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps("default").Get(ctx, "fin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("object not deleted after last finalizer: %v", err)
	}

	// services get a ClusterIP and NodePorts from the ranges; a taken IP is refused
	svc, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "np"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.Ports[0].NodePort < 30000 || svc.Spec.Ports[0].TargetPort.IntValue() != 80 {
		t.Fatalf("service allocation/defaults: %+v", svc.Spec)
	}
	_, err = c.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dup"},
		Spec: corev1.ServiceSpec{ClusterIP: svc.Spec.ClusterIP, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("duplicate ClusterIP: want Invalid, got %v", err)
	}

	// errors are metav1.Status with the right reason
	_, err = c.CoreV1().Pods("default").Get(ctx, "nope", metav1.GetOptions{})
	if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Reason != metav1.StatusReasonNotFound || st.Status().Code != 404 {
		t.Fatalf("NotFound status: %#v", err)
	}

	// pods/log of a pod not yet on a node is a 400, as in Kubernetes
	err = c.CoreV1().Pods("default").GetLogs("b", &corev1.PodLogOptions{}).Do(ctx).Error()
	if !apierrors.IsBadRequest(err) || !contains(err.Error(), "does not have a host assigned") {
		t.Fatalf("pods/log of an unbound pod: want 400, got %v", err)
	}
}

func contains(s, sub string) bool { return len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0) }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestInformers: a SharedInformerFactory syncs and sees adds, updates and
// deletes of pods, nodes and deployments.
func TestInformers(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	c := ts.client("admin")
	ctx := ctxT(t)
	if _, err := c.CoreV1().Pods("default").Create(ctx, testPod("before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	type counts struct{ add, update, del map[string]int }
	var mu sync.Mutex
	seen := map[string]*counts{}
	handler := func(kind string) cache.ResourceEventHandlerFuncs {
		seen[kind] = &counts{map[string]int{}, map[string]int{}, map[string]int{}}
		name := func(obj any) string {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			return obj.(metav1.Object).GetName()
		}
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { mu.Lock(); seen[kind].add[name(o)]++; mu.Unlock() },
			UpdateFunc: func(_, o any) { mu.Lock(); seen[kind].update[name(o)]++; mu.Unlock() },
			DeleteFunc: func(o any) { mu.Lock(); seen[kind].del[name(o)]++; mu.Unlock() },
		}
	}
	f := informers.NewSharedInformerFactory(c, 0)
	if _, err := f.Core().V1().Pods().Informer().AddEventHandler(handler("pod")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Core().V1().Nodes().Informer().AddEventHandler(handler("node")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Apps().V1().Deployments().Informer().AddEventHandler(handler("deployment")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	f.Start(stop)
	for typ, ok := range f.WaitForCacheSync(stop) {
		if !ok {
			t.Fatalf("informer %v did not sync", typ)
		}
	}
	get := func(kind, what, name string) int {
		mu.Lock()
		defer mu.Unlock()
		c := seen[kind]
		return map[string]map[string]int{"add": c.add, "update": c.update, "del": c.del}[what][name]
	}
	eventually(t, 10*time.Second, "initial pod add", func() bool { return get("pod", "add", "before") == 1 })

	p, err := c.CoreV1().Pods("default").Create(ctx, testPod("p1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.CoreV1().Nodes().Create(ctx, testNode("n1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.AppsV1().Deployments("default").Create(ctx, testDeployment("d1", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels["v"] = "2"
	if _, err := c.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.Spec.Unschedulable = true
	if _, err := c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	d.Spec.Replicas = ptr(int32(2))
	if _, err := c.AppsV1().Deployments("default").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, del := range []func() error{
		func() error { return c.CoreV1().Pods("default").Delete(ctx, "p1", metav1.DeleteOptions{}) },
		func() error { return c.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{}) },
		func() error { return c.AppsV1().Deployments("default").Delete(ctx, "d1", metav1.DeleteOptions{}) },
	} {
		if err := del(); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range [][2]string{{"pod", "p1"}, {"node", "n1"}, {"deployment", "d1"}} {
		eventually(t, 10*time.Second, fmt.Sprintf("%s %s add/update/delete", want[0], want[1]), func() bool {
			return get(want[0], "add", want[1]) == 1 && get(want[0], "update", want[1]) >= 1 && get(want[0], "del", want[1]) == 1
		})
	}
}

// TestPagination lists 2,000 objects in pages: each seen once, in order,
// at one consistent resourceVersion even while writes go on.
func TestPagination(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	c := ts.client("admin")
	ctx := ctxT(t)
	createConfigMaps(t, c, "default", "cm", 2000)
	seen := map[string]bool{}
	opts := metav1.ListOptions{Limit: 300}
	var listRV string
	pages := 0
	for {
		list, err := c.CoreV1().ConfigMaps("default").List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if listRV == "" {
			listRV = list.ResourceVersion
			// a write between pages must not show up in later pages
			if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "zzz-late"}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		} else if list.ResourceVersion != listRV {
			t.Fatalf("page %d at resourceVersion %s, first page at %s", pages, list.ResourceVersion, listRV)
		}
		if len(list.Items) > 300 {
			t.Fatalf("page of %d items with limit 300", len(list.Items))
		}
		for _, it := range list.Items {
			if seen[it.Name] {
				t.Fatalf("%s listed twice", it.Name)
			}
			seen[it.Name] = true
		}
		if list.Continue == "" {
			break
		}
		if list.RemainingItemCount == nil {
			t.Fatalf("page %d: remainingItemCount missing", pages)
		}
		opts.Continue = list.Continue
	}
	if len(seen) != 2000 || seen["zzz-late"] || pages != 7 {
		t.Fatalf("saw %d objects in %d pages (late object seen: %v); want 2000 in 7", len(seen), pages, seen["zzz-late"])
	}
}

func createConfigMaps(t testing.TB, c kubernetes.Interface, ns, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := c.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%05d", prefix, i)}, Data: map[string]string{"i": fmt.Sprint(i)},
			}, metav1.CreateOptions{})
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestWatchResume: a watch resumed from the last resourceVersion it saw
// loses no event — also from outside the watch cache's window, served from
// etcd's history — and a resourceVersion etcd compacted away gets 410 Gone,
// after which a relist and a new watch work.
func TestWatchResume(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *apiserver.Config) { c.WatchCacheSize = 200 })
	c := ts.client("admin")
	ctx := ctxT(t)
	cms := c.CoreV1().ConfigMaps("default")
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	// read some events, then drop the watch and keep writing
	for i := 0; i < 50; i++ {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("w-%03d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	lastRV := ""
	got := map[string]bool{}
	for len(got) < 20 {
		ev := <-w.ResultChan()
		cm := ev.Object.(*corev1.ConfigMap)
		got[cm.Name] = true
		lastRV = cm.ResourceVersion
	}
	w.Stop()
	for i := 50; i < 100; i++ {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("w-%03d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w2, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: lastRV})
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for len(got) < 100 {
		select {
		case ev := <-w2.ResultChan():
			if ev.Type != watch.Added {
				t.Fatalf("unexpected %s", ev.Type)
			}
			name := ev.Object.(*corev1.ConfigMap).Name
			if got[name] {
				t.Fatalf("%s delivered twice across the resume", name)
			}
			got[name] = true
		case <-timeout:
			t.Fatalf("resumed watch delivered %d of 100 objects", len(got))
		}
	}
	w2.Stop()

	// Push the first resourceVersion out of the 200-event window: still
	// served, from etcd's history, every event in order.
	var lastUpdate *corev1.ConfigMap
	for i := 0; i < 250; i++ {
		if lastUpdate, err = cms.Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w-000"}, Data: map[string]string{"i": fmt.Sprint(i)}}, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	old, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watch from outside the cache window: %v", err)
	}
	for n := 0; n < 100+250; n++ {
		select {
		case ev := <-old.ResultChan():
			if ev.Type == watch.Error {
				t.Fatalf("history watch event %d: %v", n, apierrors.FromObject(ev.Object))
			}
			if n == 349 && ev.Object.(*corev1.ConfigMap).ResourceVersion != lastUpdate.ResourceVersion {
				t.Fatalf("last history event at %s, want %s", ev.Object.(*corev1.ConfigMap).ResourceVersion, lastUpdate.ResourceVersion)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("history watch delivered %d of 350 events", n)
		}
	}
	old.Stop()

	// Once etcd compacted that history, the resourceVersion is Gone: 410.
	rev, err := etcdClient(t, ts).Get(ctx, "/registry/configmaps/default/w-000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcdClient(t, ts).Compact(ctx, rev.Header.Revision); err != nil {
		t.Fatal(err)
	}
	w3, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err == nil {
		ev := <-w3.ResultChan()
		w3.Stop()
		err = apierrors.FromObject(ev.Object)
		if ev.Type != watch.Error {
			t.Fatalf("watch from an expired resourceVersion: got %s event, want 410", ev.Type)
		}
	}
	if !apierrors.IsGone(err) && !apierrors.IsResourceExpired(err) {
		t.Fatalf("watch from an expired resourceVersion: want 410, got %v", err)
	}
	// The client's answer to 410: relist, then watch from the new list.
	relist, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil || len(relist.Items) != 100 {
		t.Fatalf("relist: %d items, %v", len(relist.Items), err)
	}
	w4, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: relist.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w4.Stop()
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-relist"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w4.ResultChan():
		if ev.Object.(*corev1.ConfigMap).Name != "after-relist" {
			t.Fatalf("watch after relist: got %v", ev.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after relist")
	}
}

// TestCompactionGone: after etcd compaction a continue token from before
// it is 410 Gone; a fresh list works.
func TestCompactionGone(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	c := ts.client("admin")
	ctx := ctxT(t)
	createConfigMaps(t, c, "default", "c", 50)
	page, err := c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{Limit: 10})
	if err != nil || page.Continue == "" {
		t.Fatalf("first page: %v", err)
	}
	createConfigMaps(t, c, "default", "d", 5)
	etcd := etcdClient(t, ts)
	rev, err := etcd.Get(ctx, "/registry/configmaps/default/d-00000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Compact(ctx, rev.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	_, err = c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{Limit: 10, Continue: page.Continue})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Fatalf("continue after compaction: want 410, got %v", err)
	}
	full, err := c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(full.Items) != 55 {
		t.Fatalf("relist after 410: %d items, %v", len(full.Items), err)
	}
}

func etcdClient(t testing.TB, ts *testServer) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: ts.srv.EtcdEndpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestEtcdLayout reads etcd directly: the pod's JSON is stored under
// /registry/pods/default/<name>, without its resourceVersion.
func TestEtcdLayout(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	c := ts.client("admin")
	ctx := ctxT(t)
	p, err := c.CoreV1().Pods("default").Create(ctx, testPod("web-1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := etcdClient(t, ts).Get(ctx, "/registry/pods/default/web-1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("etcd get: %v %v", resp, err)
	}
	var stored corev1.Pod
	if err := json.Unmarshal(resp.Kvs[0].Value, &stored); err != nil {
		t.Fatalf("stored value is not a pod's JSON: %v\n%s", err, resp.Kvs[0].Value)
	}
	if stored.Kind != "Pod" || stored.APIVersion != "v1" || stored.UID != p.UID || stored.Spec.Containers[0].Image != "busybox:1.36" {
		t.Fatalf("stored pod: %+v", stored)
	}
	if stored.ResourceVersion != "" {
		t.Fatalf("resourceVersion %q stored in the value", stored.ResourceVersion)
	}
	if fmt.Sprint(resp.Kvs[0].ModRevision) != p.ResourceVersion {
		t.Fatalf("resourceVersion %s != etcd mod revision %d", p.ResourceVersion, resp.Kvs[0].ModRevision)
	}
	for _, key := range []string{"/registry/namespaces/kube-system", "/registry/clusterroles/cluster-admin", "/registry/services/default/kubernetes"} {
		if r, err := etcdClient(t, ts).Get(ctx, key, clientv3.WithCountOnly()); err != nil || r.Count != 1 {
			t.Errorf("bootstrap object %s missing: %v", key, err)
		}
	}
}

// TestServiceReapply: re-applying a Service manifest that names no
// clusterIP or nodePort (as it stands in git) keeps the allocated ones.
func TestServiceReapply(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	c := ts.client("admin")
	ctx := ctxT(t)
	manifest := func() *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443}}}}
	}
	first, err := c.CoreV1().Services("default").Create(ctx, manifest(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again := manifest()
	again.ResourceVersion = first.ResourceVersion
	again.Spec.Selector["tier"] = "front"
	got, err := c.CoreV1().Services("default").Update(ctx, again, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("re-apply without clusterIP/nodePorts: %v", err)
	}
	if got.Spec.ClusterIP != first.Spec.ClusterIP || got.Spec.Ports[0].NodePort != first.Spec.Ports[0].NodePort ||
		got.Spec.Ports[1].NodePort != first.Spec.Ports[1].NodePort {
		t.Fatalf("allocations changed on re-apply: %v/%v → %v/%v", first.Spec.ClusterIP, first.Spec.Ports, got.Spec.ClusterIP, got.Spec.Ports)
	}
	// Switching to ClusterIP releases the node ports for others to take.
	got.Spec.Type = corev1.ServiceTypeClusterIP
	for i := range got.Spec.Ports {
		got.Spec.Ports[i].NodePort = 0
	}
	if _, err := c.CoreV1().Services("default").Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := manifest()
	other.Name = "other"
	other.Spec.Ports[0].NodePort = first.Spec.Ports[0].NodePort
	if _, err := c.CoreV1().Services("default").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node port released by the type change is still taken: %v", err)
	}
}

// TestContentNegotiation: client-go's protobuf is answered in protobuf for
// the built-in kinds, JSON for cairn's own; kubectl's Table form carries
// the columns; an unservable Accept is a 406.
func TestContentNegotiation(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	c := ts.client("admin")
	ctx := ctxT(t)
	get := func(path, accept string) (int, string, []byte) {
		res := c.CoreV1().RESTClient().Get().AbsPath(path).SetHeader("Accept", accept).Do(ctx)
		var code int
		res.StatusCode(&code)
		var ct string
		res.ContentType(&ct)
		body, _ := res.Raw()
		return code, ct, body
	}
	code, ct, body := get("/api/v1/namespaces/default", "application/vnd.kubernetes.protobuf, application/json")
	if code != 200 || ct != "application/vnd.kubernetes.protobuf" || !bytes.HasPrefix(body, []byte("k8s\x00")) {
		t.Fatalf("protobuf get: %d %q %.20q", code, ct, body)
	}
	code, ct, _ = get("/apis/gitops.cairn.dev/v1/gitrepositories", "application/vnd.kubernetes.protobuf, application/json")
	if code != 200 || ct != "application/json" {
		t.Fatalf("cairn kind with protobuf accept: %d %q, want JSON", code, ct)
	}
	code, _, body = get("/api/v1/namespaces", "application/json;as=Table;v=v1;g=meta.k8s.io, application/json")
	var table metav1.Table
	if err := json.Unmarshal(body, &table); code != 200 || err != nil || table.Kind != "Table" || len(table.Rows) != 4 || table.ColumnDefinitions[0].Name != "Name" {
		t.Fatalf("table: %d %v %+v", code, err, table)
	}
	if code, _, _ = get("/api/v1/namespaces", "application/yaml"); code != 406 {
		t.Fatalf("yaml accept: %d, want 406", code)
	}
}

// TestWatchBookmarks: client-go decodes the server's periodic bookmarks
// (each names its kind, as the watch decoder requires) and informers keep
// running through them.
func TestWatchBookmarks(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *apiserver.Config) { c.BookmarkInterval = 200 * time.Millisecond })
	c := ts.client("admin")
	ctx := ctxT(t)
	w, err := c.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed before a bookmark")
			}
			switch ev.Type {
			case watch.Bookmark:
				cm, ok := ev.Object.(*corev1.ConfigMap)
				if !ok || cm.ResourceVersion == "" {
					t.Fatalf("bookmark object %#v", ev.Object)
				}
				return
			case watch.Error:
				t.Fatalf("watch error instead of a bookmark: %v", apierrors.FromObject(ev.Object))
			}
		case <-timeout:
			t.Fatal("no bookmark in 10s")
		}
	}
}
