package podgc_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
	"github.com/cairn-dev/cairn/reconciler/podgc"
)

const testNS = "podgc-test"

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestDeletedNodePods(t *testing.T) {
	const quarantine = time.Second
	s := apiservertest.Start(t, "", nil)
	admin := s.Client("admin")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })

	nodes, err := sim.New(sim.Config{Client: admin, Nodes: []sim.NodeSpec{{Name: "n-0"}, {Name: "n-1"}}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = nodes.Run(ctx) })
	<-nodes.Registered()

	cm := s.Client("controller-manager")
	factory := informers.NewSharedInformerFactory(cm, 0)
	c := podgc.New(cm, factory, podgc.Options{Logger: discard(), GCPeriod: 100 * time.Millisecond, Quarantine: quarantine})
	wg.Go(func() {
		if err := c.Run(ctx, 2); err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	factory.Start(ctx.Done())

	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	placed := map[string]string{"a": "n-1", "b": "n-1", "kept": "n-0"}
	for name, nodeName := range placed {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name},
			Spec:       corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}}},
		}
		if _, err := admin.CoreV1().Pods(testNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	apiservertest.Eventually(t, 30*time.Second, "pods running", func() bool {
		l, err := admin.CoreV1().Pods(testNS).List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) != len(placed) {
			return false
		}
		for _, p := range l.Items {
			if p.Status.Phase != corev1.PodRunning {
				return false
			}
		}
		return true
	})

	// Record what happens to the pods from here on.
	w, err := admin.CoreV1().Pods(testNS).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []watch.Event
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for e := range w.ResultChan() {
			mu.Lock()
			seen = append(seen, e)
			mu.Unlock()
		}
	}()
	defer func() { w.Stop(); <-watched }()

	start := time.Now()
	if err := nodes.Remove(ctx, "n-1", true); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 30*time.Second, "the deleted node's pods deleted", func() bool {
		for _, name := range []string{"a", "b"} {
			if _, err := admin.CoreV1().Pods(testNS).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false
			}
		}
		return true
	})
	if elapsed := time.Since(start); elapsed < quarantine {
		t.Errorf("pods deleted %v after their node, before the %v quarantine", elapsed, quarantine)
	}

	// Each went Failed with the DisruptionTarget condition before it was
	// deleted.
	apiservertest.Eventually(t, 10*time.Second, "the watch to show both deletions", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, e := range seen {
			if e.Type == watch.Deleted {
				n++
			}
		}
		return n == 2
	})
	mu.Lock()
	marked := map[string]bool{}
	for _, e := range seen {
		p, ok := e.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		if placed[p.Name] != "n-1" {
			if e.Type == watch.Deleted {
				t.Errorf("pod %s on a live node deleted", p.Name)
			}
			continue
		}
		switch e.Type {
		case watch.Modified:
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == podgc.ReasonDeletionByPodGC &&
					c.Message == podgc.MessageNodeGone && p.Status.Phase == corev1.PodFailed {
					marked[p.Name] = true
				}
			}
		case watch.Deleted:
			if !marked[p.Name] {
				t.Errorf("pod %s deleted without being marked Failed with DisruptionTarget first", p.Name)
			}
		}
	}
	mu.Unlock()

	kept, err := admin.CoreV1().Pods(testNS).Get(ctx, "kept", metav1.GetOptions{})
	if err != nil || kept.Status.Phase != corev1.PodRunning {
		t.Fatalf("the pod on the live node: %v, %v", kept, err)
	}
}
