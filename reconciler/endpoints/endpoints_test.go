package endpoints

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

const ns = "ns"

type podOpt func(*corev1.Pod)

func ready(p *corev1.Pod) {
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
}
func notReady(p *corev1.Pod) {
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
}
func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func deleting(p *corev1.Pod) {
	t := metav1.NewTime(time.Unix(1000, 0))
	p.DeletionTimestamp = &t
}
func noIP(p *corev1.Pod)       { p.Status.PodIP, p.Status.PodIPs = "", nil }
func label(k, v string) podOpt { return func(p *corev1.Pod) { p.Labels[k] = v } }
func cport(name string, port int32) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports,
			corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP})
	}
}

func pod(name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "n-0", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

type svcOpt func(*corev1.Service)

func publishNotReady(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }
func noSelector(s *corev1.Service)      { s.Spec.Selector = nil }
func ports(ps ...corev1.ServicePort) svcOpt {
	return func(s *corev1.Service) { s.Spec.Ports = ps }
}
func sport(name string, port int32, target intstr.IntOrString) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, Protocol: corev1.ProtocolTCP, TargetPort: target}
}

func service(opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", UID: "svc-uid", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "web"},
			ClusterIP: "10.96.0.10",
			Ports:     []corev1.ServicePort{sport("http", 80, intstr.FromInt32(8080))},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func addr(name, ip string) corev1.EndpointAddress {
	node := "n-0"
	return corev1.EndpointAddress{IP: ip, NodeName: &node,
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name, UID: types.UID("uid-" + name)}}
}

func eport(name string, port int32) corev1.EndpointPort {
	return corev1.EndpointPort{Name: name, Port: port, Protocol: corev1.ProtocolTCP}
}

// newTest builds a controller on a fake clientset holding objs, with its
// caches synced, and the clientset with its actions cleared.
func newTest(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
		c.queue.ShutDown()
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	client.ClearActions()
	return c, client
}

// writes are the create, update, patch and delete actions on endpoints.
func writes(client *fake.Clientset) []k8stesting.Action {
	var out []k8stesting.Action
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "endpoints" && a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			out = append(out, a)
		}
	}
	return out
}

func TestSubsets(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []corev1.EndpointSubset
	}{{
		name: "ready and not ready",
		svc:  service(),
		pods: []*corev1.Pod{pod("b", "10.0.0.2", ready), pod("a", "10.0.0.1", ready), pod("c", "10.0.0.3", notReady)},
		want: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{addr("a", "10.0.0.1"), addr("b", "10.0.0.2")},
			NotReadyAddresses: []corev1.EndpointAddress{addr("c", "10.0.0.3")},
			Ports:             []corev1.EndpointPort{eport("http", 8080)},
		}},
	}, {
		name: "no ready condition is not ready",
		svc:  service(),
		pods: []*corev1.Pod{pod("a", "10.0.0.1")},
		want: []corev1.EndpointSubset{{
			NotReadyAddresses: []corev1.EndpointAddress{addr("a", "10.0.0.1")},
			Ports:             []corev1.EndpointPort{eport("http", 8080)},
		}},
	}, {
		name: "terminal, deleting and IP-less pods left out",
		svc:  service(),
		pods: []*corev1.Pod{
			pod("a", "10.0.0.1", ready),
			pod("done", "10.0.0.4", ready, phase(corev1.PodSucceeded)),
			pod("failed", "10.0.0.5", notReady, phase(corev1.PodFailed)),
			pod("deleting", "10.0.0.6", ready, deleting),
			pod("pending", "", noIP, phase(corev1.PodPending)),
		},
		want: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1")},
			Ports:     []corev1.EndpointPort{eport("http", 8080)},
		}},
	}, {
		name: "publishNotReadyAddresses lists not-ready and deleting pods as ready",
		svc:  service(publishNotReady),
		pods: []*corev1.Pod{
			pod("a", "10.0.0.1", notReady),
			pod("deleting", "10.0.0.6", ready, deleting),
			pod("done", "10.0.0.4", ready, phase(corev1.PodSucceeded)),
		},
		want: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1"), addr("deleting", "10.0.0.6")},
			Ports:     []corev1.EndpointPort{eport("http", 8080)},
		}},
	}, {
		name: "named target port resolved per pod; pods without it left out for that port",
		svc: service(ports(
			sport("http", 80, intstr.FromString("web")),
			sport("metrics", 9090, intstr.FromInt32(9090)))),
		pods: []*corev1.Pod{
			pod("a", "10.0.0.1", ready, cport("web", 8080)),
			pod("b", "10.0.0.2", ready, cport("web", 8081)),
			pod("c", "10.0.0.3", ready),
		},
		// As Kubernetes' RepackSubsets: each port goes with the set of
		// addresses that serve it.
		want: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1")},
			Ports:     []corev1.EndpointPort{eport("http", 8080)},
		}, {
			Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1"), addr("b", "10.0.0.2"), addr("c", "10.0.0.3")},
			Ports:     []corev1.EndpointPort{eport("metrics", 9090)},
		}, {
			Addresses: []corev1.EndpointAddress{addr("b", "10.0.0.2")},
			Ports:     []corev1.EndpointPort{eport("http", 8081)},
		}},
	}, {
		name: "numeric target port used as is, unset target port is the port",
		svc: service(ports(
			sport("a", 80, intstr.FromInt32(8080)),
			sport("b", 443, intstr.IntOrString{}))),
		pods: []*corev1.Pod{pod("a", "10.0.0.1", ready), pod("b", "10.0.0.2", notReady)},
		want: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{addr("a", "10.0.0.1")},
			NotReadyAddresses: []corev1.EndpointAddress{addr("b", "10.0.0.2")},
			Ports:             []corev1.EndpointPort{eport("a", 8080), eport("b", 443)},
		}},
	}, {
		name: "no pods",
		svc:  service(),
		want: nil,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Subsets(tt.svc, tt.pods)
			if !apiequality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("subsets:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRepackSubsets(t *testing.T) {
	in := []corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("b", "10.0.0.2")}, Ports: []corev1.EndpointPort{eport("x", 2)}},
		{NotReadyAddresses: []corev1.EndpointAddress{addr("a", "10.0.0.1")}, Ports: []corev1.EndpointPort{eport("x", 2)}},
		{Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1")}, Ports: []corev1.EndpointPort{eport("x", 2), eport("w", 1)}},
		{Addresses: []corev1.EndpointAddress{addr("b", "10.0.0.2")}, Ports: []corev1.EndpointPort{eport("w", 1)}},
	}
	want := []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1"), addr("b", "10.0.0.2")},
		Ports:     []corev1.EndpointPort{eport("w", 1), eport("x", 2)},
	}}
	got := RepackSubsets(in)
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if len(in[0].Addresses) != 1 || len(in[1].NotReadyAddresses) != 1 {
		t.Error("RepackSubsets changed its argument")
	}
}

func TestSync(t *testing.T) {
	want := []corev1.EndpointSubset{{
		Addresses:         []corev1.EndpointAddress{addr("a", "10.0.0.1")},
		NotReadyAddresses: []corev1.EndpointAddress{addr("b", "10.0.0.2")},
		Ports:             []corev1.EndpointPort{eport("http", 8080)},
	}}
	ctx := context.Background()

	t.Run("creates the endpoints, then leaves them alone", func(t *testing.T) {
		c, client := newTest(t, service(), pod("a", "10.0.0.1", ready), pod("b", "10.0.0.2", notReady),
			pod("other", "10.0.0.9", ready, label("app", "other")))
		if err := c.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		if w := writes(client); len(w) != 1 || w[0].GetVerb() != "create" {
			t.Fatalf("writes %v, want one create", w)
		}
		ep, err := client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !apiequality.Semantic.DeepEqual(ep.Subsets, want) {
			t.Errorf("subsets %+v, want %+v", ep.Subsets, want)
		}
		if ep.Labels["tier"] != "front" || ep.Labels[LabelManagedBy] != ControllerName {
			t.Errorf("labels %v", ep.Labels)
		}
		if ep.Annotations[AnnotationLastChangeTriggerTime] == "" {
			t.Errorf("no %s annotation", AnnotationLastChangeTriggerTime)
		}
		// Let the informer see the created Endpoints, then sync again: no write.
		waitFor(t, func() bool { _, err := c.endpoints.Endpoints(ns).Get("web"); return err == nil })
		client.ClearActions()
		for range 3 {
			if err := c.sync(ctx, "ns/web"); err != nil {
				t.Fatal(err)
			}
		}
		if w := writes(client); len(w) != 0 {
			t.Errorf("writes %v on unchanged state, want none", w)
		}
	})

	t.Run("updates stale endpoints, keeping foreign annotations", func(t *testing.T) {
		stale := &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Annotations: map[string]string{"keep": "me"}},
			Subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "10.9.9.9"}}, Ports: []corev1.EndpointPort{eport("http", 1)},
			}},
		}
		c, client := newTest(t, service(), stale, pod("a", "10.0.0.1", ready), pod("b", "10.0.0.2", notReady))
		if err := c.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		if w := writes(client); len(w) != 1 || w[0].GetVerb() != "update" {
			t.Fatalf("writes %v, want one update", w)
		}
		ep, _ := client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if !apiequality.Semantic.DeepEqual(ep.Subsets, want) || ep.Annotations["keep"] != "me" {
			t.Errorf("endpoints %+v", ep)
		}
	})

	t.Run("already right endpoints in another order: no write", func(t *testing.T) {
		cur := &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web",
				Labels: map[string]string{"tier": "front", LabelManagedBy: ControllerName}},
			Subsets: []corev1.EndpointSubset{
				{NotReadyAddresses: []corev1.EndpointAddress{addr("b", "10.0.0.2")}, Ports: []corev1.EndpointPort{eport("http", 8080)}},
				{Addresses: []corev1.EndpointAddress{addr("a", "10.0.0.1")}, Ports: []corev1.EndpointPort{eport("http", 8080)}},
			},
		}
		c, client := newTest(t, service(), cur, pod("a", "10.0.0.1", ready), pod("b", "10.0.0.2", notReady))
		if err := c.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		if w := writes(client); len(w) != 0 {
			t.Errorf("writes %v, want none", w)
		}
	})

	t.Run("selector-less service: endpoints untouched", func(t *testing.T) {
		user := &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.168.1.1"}}}},
		}
		c, client := newTest(t, service(noSelector), user, pod("a", "10.0.0.1", ready))
		if err := c.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		if w := writes(client); len(w) != 0 {
			t.Errorf("writes %v, want none", w)
		}
		// Nor are they deleted when that service goes.
		if err := client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { _, err := c.services.Services(ns).Get("web"); return apierrors.IsNotFound(err) })
		client.ClearActions()
		if err := c.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		if w := writes(client); len(w) != 0 {
			t.Errorf("writes %v after deleting a selector-less service, want none", w)
		}
	})

	t.Run("deleted with the service", func(t *testing.T) {
		c, client := newTest(t, service(), pod("a", "10.0.0.1", ready))
		if err := c.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		if err := client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			_, errS := c.services.Services(ns).Get("web")
			_, errE := c.endpoints.Endpoints(ns).Get("web")
			return apierrors.IsNotFound(errS) && errE == nil
		})
		client.ClearActions()
		if err := c.sync(ctx, "ns/web"); err != nil {
			t.Fatal(err)
		}
		if w := writes(client); len(w) != 1 || w[0].GetVerb() != "delete" {
			t.Errorf("writes %v, want one delete", w)
		}
		if _, err := client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("endpoints still there: %v", err)
		}
	})
}

// TestPodEventsEnqueue checks that pod events enqueue the services that
// select the old or the new pod, and only those.
func TestPodEventsEnqueue(t *testing.T) {
	other := service()
	other.Name = "other"
	other.Spec.Selector = map[string]string{"app": "other"}
	c, _ := newTest(t, service(), other)
	for c.queue.Len() > 0 {
		k, _ := c.queue.Get()
		c.queue.Forget(k)
		c.queue.Done(k)
	}
	old := pod("a", "10.0.0.1", ready)
	relabelled := old.DeepCopy()
	relabelled.Labels["app"] = "other"
	relabelled.ResourceVersion = "2"
	c.podChanged(old, relabelled)
	got := map[string]bool{}
	for c.queue.Len() > 0 {
		k, _ := c.queue.Get()
		got[k] = true
		c.queue.Done(k)
	}
	if !got["ns/web"] || !got["ns/other"] || len(got) != 2 {
		t.Errorf("enqueued %v, want ns/web and ns/other", got)
	}
	// An update that changes nothing an Endpoints shows enqueues nothing.
	same := old.DeepCopy()
	same.ResourceVersion = "3"
	same.Annotations = map[string]string{"x": "y"}
	c.podChanged(old, same)
	if n := c.queue.Len(); n != 0 {
		t.Errorf("%d keys enqueued for an irrelevant pod change", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
