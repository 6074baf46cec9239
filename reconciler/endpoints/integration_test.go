package endpoints_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
	"github.com/cairn-dev/cairn/reconciler/endpoints"
)

const testNS = "ep-test"

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs an API server, one simulated node and the endpoints
// controller as the controller-manager identity.
func start(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	s := apiservertest.Start(t, "", nil)
	admin := s.Client("admin")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	nodes, err := sim.New(sim.Config{Client: admin, Nodes: []sim.NodeSpec{{Name: "n-0"}}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = nodes.Run(ctx); done <- struct{}{} }()
	<-nodes.Registered()

	cm := s.Client("controller-manager")
	factory := informers.NewSharedInformerFactory(cm, 0)
	c := endpoints.New(cm, factory, endpoints.Options{Logger: discard()})
	go func() {
		if err := c.Run(ctx, 2); err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
		done <- struct{}{}
	}()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ctx, admin
}

func newPod(name string, labels, annotations map[string]string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{NodeName: "n-0", Containers: []corev1.Container{{
			Name: "c", Image: "registry.example/app:1", Ports: ports,
		}}},
	}
}

func createPods(t *testing.T, ctx context.Context, cs kubernetes.Interface, pods ...*corev1.Pod) map[string]string {
	t.Helper()
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods(testNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ips := map[string]string{}
	apiservertest.Eventually(t, 30*time.Second, "pods running with IPs", func() bool {
		for _, p := range pods {
			got, err := cs.CoreV1().Pods(testNS).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil || got.Status.Phase != corev1.PodRunning || got.Status.PodIP == "" {
				return false
			}
			ips[p.Name] = got.Status.PodIP
		}
		return true
	})
	return ips
}

// state is an Endpoints flattened: ready and not-ready "ip:port" lists,
// sorted; addresses with port 0 for subsets without ports.
type state struct{ ready, notReady []string }

func flatten(ep *corev1.Endpoints) state {
	var s state
	for _, ss := range ep.Subsets {
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				s.ready = append(s.ready, a.IP+":"+p.Name+":"+itoa(p.Port))
			}
			for _, a := range ss.NotReadyAddresses {
				s.notReady = append(s.notReady, a.IP+":"+p.Name+":"+itoa(p.Port))
			}
		}
	}
	slices.Sort(s.ready)
	slices.Sort(s.notReady)
	return s
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

func waitEndpoints(t *testing.T, ctx context.Context, cs kubernetes.Interface, name string, ready, notReady []string) *corev1.Endpoints {
	t.Helper()
	slices.Sort(ready)
	slices.Sort(notReady)
	var last state
	var ep *corev1.Endpoints
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		ep, err = cs.CoreV1().Endpoints(testNS).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = flatten(ep)
			if slices.Equal(last.ready, ready) && slices.Equal(last.notReady, notReady) {
				return ep
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("endpoints %s: ready %v notReady %v; want ready %v notReady %v", name, last.ready, last.notReady, ready, notReady)
	return nil
}

func TestEndpointsFollowPods(t *testing.T) {
	ctx, cs := start(t)
	web := map[string]string{"app": "web"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "web"},
		Spec: corev1.ServiceSpec{Selector: web, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
		}},
	}
	if _, err := cs.CoreV1().Services(testNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ips := createPods(t, ctx, cs,
		newPod("a", web, nil), newPod("b", web, nil),
		newPod("c", web, map[string]string{sim.AnnotationNotReady: "true"}),
		newPod("unrelated", map[string]string{"app": "other"}, nil))
	at := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, ips[n]+":http:8080")
		}
		return out
	}

	ep := waitEndpoints(t, ctx, cs, "web", at("a", "b"), at("c"))
	for _, ss := range ep.Subsets {
		for _, a := range append(slices.Clone(ss.Addresses), ss.NotReadyAddresses...) {
			if a.NodeName == nil || *a.NodeName != "n-0" || a.TargetRef == nil || a.TargetRef.Kind != "Pod" ||
				a.TargetRef.Namespace != testNS || a.TargetRef.UID == "" {
				t.Errorf("address %+v lacks nodeName or targetRef", a)
			}
		}
	}
	if ep.Labels[endpoints.LabelManagedBy] != endpoints.ControllerName {
		t.Errorf("labels %v", ep.Labels)
	}

	t.Run("a pod becoming not ready moves", func(t *testing.T) {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{sim.AnnotationNotReady: "true"}}})
		if _, err := cs.CoreV1().Pods(testNS).Patch(ctx, "a", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitEndpoints(t, ctx, cs, "web", at("b"), at("a", "c"))
	})
	t.Run("a deleted pod leaves", func(t *testing.T) {
		if err := cs.CoreV1().Pods(testNS).Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitEndpoints(t, ctx, cs, "web", nil, at("a", "c"))
	})
	t.Run("a relabelled pod leaves, a newly labelled one joins", func(t *testing.T) {
		patch := []byte(`{"metadata":{"labels":{"app":"other"}}}`)
		if _, err := cs.CoreV1().Pods(testNS).Patch(ctx, "c", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		patch = []byte(`{"metadata":{"labels":{"app":"web"}}}`)
		if _, err := cs.CoreV1().Pods(testNS).Patch(ctx, "unrelated", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitEndpoints(t, ctx, cs, "web", at("unrelated"), at("a"))
	})
	t.Run("endpoints deleted by hand come back", func(t *testing.T) {
		if err := cs.CoreV1().Endpoints(testNS).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitEndpoints(t, ctx, cs, "web", at("unrelated"), at("a"))
	})
	t.Run("deleted with the service", func(t *testing.T) {
		if err := cs.CoreV1().Services(testNS).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		apiservertest.Eventually(t, 30*time.Second, "endpoints gone", func() bool {
			_, err := cs.CoreV1().Endpoints(testNS).Get(ctx, "web", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	})
	t.Run("the kubernetes service's endpoints are left alone", func(t *testing.T) {
		ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ep.Labels[endpoints.LabelManagedBy] != "" {
			t.Errorf("default/kubernetes endpoints were rewritten: %+v", ep)
		}
	})
}

func TestEndpointsNamedPort(t *testing.T) {
	ctx, cs := start(t)
	sel := map[string]string{"app": "named"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "named"},
		Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{
			{Name: "web", Port: 80, TargetPort: intstr.FromString("http")},
			{Name: "metrics", Port: 9090, TargetPort: intstr.FromInt32(9090)},
		}},
	}
	if _, err := cs.CoreV1().Services(testNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ips := createPods(t, ctx, cs,
		newPod("p8080", sel, nil, corev1.ContainerPort{Name: "http", ContainerPort: 8080}),
		newPod("p8081", sel, nil, corev1.ContainerPort{Name: "http", ContainerPort: 8081}),
		newPod("none", sel, nil, corev1.ContainerPort{Name: "grpc", ContainerPort: 9000}))
	waitEndpoints(t, ctx, cs, "named", []string{
		ips["p8080"] + ":web:8080", ips["p8081"] + ":web:8081",
		ips["p8080"] + ":metrics:9090", ips["p8081"] + ":metrics:9090", ips["none"] + ":metrics:9090",
	}, nil)
}
