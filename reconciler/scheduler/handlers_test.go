package scheduler

import (
	"context"
	"testing"

	"k8s.io/client-go/kubernetes/fake"
)

// TestBindingMovesAffinityWaiters: a pod being bound (an update from
// unassigned to assigned) gives pods waiting on affinity or spreading
// another chance, and only those.
func TestBindingMovesAffinityWaiters(t *testing.T) {
	s, err := New(Config{Client: fake.NewClientset()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, w := range []struct {
		name   string
		plugin string
	}{{"wants-partner", pluginInterPodAffinity}, {"wants-cpu", pluginNodeResourcesFit}} {
		s.queue.Add(qpod(w.name, 0))
		s.queue.Unschedulable(s.queue.Pop(ctx), map[string]bool{w.plugin: true}, false)
	}
	if _, _, u := s.queue.Lens(); u != 2 {
		t.Fatalf("unschedulable = %d, want 2", u)
	}
	partner := qpod("partner", 0)
	partner.Spec.SchedulerName = DefaultSchedulerName
	bound := partner.DeepCopy()
	bound.Spec.NodeName = "n-1"
	s.podUpdated(partner, bound)

	if _, _, u := s.queue.Lens(); u != 1 {
		t.Fatalf("unschedulable = %d after a binding, want 1 (only the affinity waiter moves)", u)
	}
	if ni := s.cache.NodeInfo("n-1"); ni == nil || len(ni.Pods) != 1 {
		t.Fatal("the bound pod is not in the cache")
	}
}
