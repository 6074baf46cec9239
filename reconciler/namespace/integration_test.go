package namespace_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
	"github.com/cairn-dev/cairn/reconciler/namespace"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestDeleteNamespace: deleting a namespace holding configmaps, secrets,
// services and running pods empties it, and then the namespace goes.
func TestDeleteNamespace(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	cs := s.Client("admin")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	nodes, err := sim.New(sim.Config{Client: cs, Nodes: []sim.NodeSpec{{Name: "n-0"}}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = nodes.Run(ctx); done <- struct{}{} }()
	<-nodes.Registered()

	cm := s.Client("controller-manager")
	factory := informers.NewSharedInformerFactory(cm, 0)
	c, err := namespace.NewForConfig(s.RestConfig("controller-manager"), factory,
		namespace.Options{Logger: discard(), MaxRecheck: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := c.Run(ctx, 2); err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
		done <- struct{}{}
	}()

	const ns = "doomed"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A bystander namespace whose content must survive.
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bystander"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{ns, "bystander"} {
		for i := range 3 {
			name := "cm-" + string(rune('a'+i))
			if _, err := cs.CoreV1().ConfigMaps(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"p0", "p1"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "x"}},
			Spec: corev1.PodSpec{NodeName: "n-0", Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}}}}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	apiservertest.Eventually(t, 30*time.Second, "pods running", func() bool {
		l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) != 2 {
			return false
		}
		for _, p := range l.Items {
			if p.Status.Phase != corev1.PodRunning {
				return false
			}
		}
		return true
	})

	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// While the content goes, the namespace is there, Terminating; the
	// content is gone by the time the namespace is.
	var sawTerminating bool
	apiservertest.Eventually(t, 60*time.Second, "namespace gone", func() bool {
		got, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true
		}
		if err == nil && got.Status.Phase == corev1.NamespaceTerminating {
			sawTerminating = true
		}
		return false
	})
	if !sawTerminating {
		t.Log("namespace went before it was seen Terminating")
	}
	pods, _ := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	cms, _ := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	secrets, _ := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	svcs, _ := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if n := len(pods.Items) + len(cms.Items) + len(secrets.Items) + len(svcs.Items); n != 0 {
		t.Errorf("namespace gone with %d pods, %d configmaps, %d secrets, %d services left",
			len(pods.Items), len(cms.Items), len(secrets.Items), len(svcs.Items))
	}
	left, err := cs.CoreV1().ConfigMaps("bystander").List(ctx, metav1.ListOptions{})
	if err != nil || len(left.Items) != 3 {
		t.Errorf("bystander configmaps: %v, %v", left, err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "bystander", metav1.GetOptions{}); err != nil {
		t.Errorf("bystander namespace: %v", err)
	}
}

// TestDeleteNamespaceWaitsForFinalizers: content with a finalizer keeps
// the namespace Terminating with the conditions saying why, until the
// finalizer is removed.
func TestDeleteNamespaceWaitsForFinalizers(t *testing.T) { testHeld(t, false) }

// TestDeleteNamespaceConditions is the same with the deletion conditions
// written: status updates of a terminating namespace must not delete it
// while spec.finalizers still holds "kubernetes".
func TestDeleteNamespaceConditions(t *testing.T) { testHeld(t, true) }

func testHeld(t *testing.T, conditions bool) {
	s := apiservertest.Start(t, "", nil)
	cs := s.Client("admin")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	factory := informers.NewSharedInformerFactory(s.Client("controller-manager"), 0)
	c, err := namespace.NewForConfig(s.RestConfig("controller-manager"), factory,
		namespace.Options{Logger: discard(), MaxRecheck: 100 * time.Millisecond, SkipConditions: !conditions})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := c.Run(ctx, 1); err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
		close(done)
	}()
	const ns = "held"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	held := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cond := func(n *corev1.Namespace, typ corev1.NamespaceConditionType) corev1.NamespaceCondition {
		for _, c := range n.Status.Conditions {
			if c.Type == typ {
				return c
			}
		}
		return corev1.NamespaceCondition{}
	}
	if conditions {
		var last *corev1.Namespace
		apiservertest.Eventually(t, 30*time.Second, "conditions saying content with finalizers remains", func() bool {
			n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("namespace: %v (it must wait for the finalizer)", err)
			}
			last = n
			return cond(n, corev1.NamespaceContentRemaining).Reason == namespace.ReasonSomeResourcesRemain &&
				cond(n, corev1.NamespaceFinalizersRemaining).Reason == namespace.ReasonSomeFinalizersRemain
		})
		if c := cond(last, corev1.NamespaceDeletionDiscoveryFailure); c.Status != corev1.ConditionFalse {
			t.Errorf("discovery condition %+v", c)
		}
	}
	// The configmap is marked for deletion, and held.
	apiservertest.Eventually(t, 30*time.Second, "configmap marked for deletion", func() bool {
		got, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "held", metav1.GetOptions{})
		return err == nil && got.DeletionTimestamp != nil
	})
	// Still there a while later.
	time.Sleep(500 * time.Millisecond)
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace went while content remained: %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Patch(ctx, "held", "application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 30*time.Second, "namespace gone", func() bool {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}
