package scheduler

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

func qpod(name string, prio int32) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)}}
	p.Spec.Priority = &prio
	return p
}

func popName(t *testing.T, q *Queue) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	qp := q.Pop(ctx)
	if qp == nil {
		return ""
	}
	return qp.Pod.Name
}

func TestQueueOrdersByPriorityThenAge(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := NewQueue(clk, 0, 0, 0)
	for _, p := range []struct {
		name string
		prio int32
	}{{"low-old", 0}, {"high", 100}, {"low-new", 0}, {"mid", 10}} {
		q.Add(qpod(p.name, p.prio))
		clk.Step(time.Millisecond)
	}
	var got []string
	for range 4 {
		got = append(got, popName(t, q))
	}
	want := []string{"high", "mid", "low-old", "low-new"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pop order %v, want %v", got, want)
		}
	}
}

func TestQueueBackoffDoublesToTheCap(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := NewQueue(clk, 0, 0, 0)
	q.Add(qpod("p", 0))
	for attempt, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		want *= time.Second
		qp := q.Pop(context.Background())
		if qp.Attempts != attempt+1 {
			t.Fatalf("attempts = %d, want %d", qp.Attempts, attempt+1)
		}
		q.Unschedulable(qp, nil, true) // an error: straight to backoff
		if a, b, _ := q.Lens(); a != 0 || b != 1 {
			t.Fatalf("after attempt %d: active %d backoff %d, want 0 and 1", attempt+1, a, b)
		}
		clk.Step(want - time.Millisecond)
		q.Flush()
		if a, _, _ := q.Lens(); a != 0 {
			t.Fatalf("attempt %d: left backoff before %s", attempt+1, want)
		}
		clk.Step(time.Millisecond)
		q.Flush()
		if a, _, _ := q.Lens(); a != 1 {
			t.Fatalf("attempt %d: still backing off after %s", attempt+1, want)
		}
	}
}

func TestQueueUnschedulableWaitsForARelevantEvent(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := NewQueue(clk, 0, 0, 0)
	q.Add(qpod("needs-memory", 0))
	q.Add(qpod("needs-port", 0))
	for range 2 {
		qp := q.Pop(context.Background())
		plugin := map[string]bool{"NodeResourcesFit": true}
		if qp.Pod.Name == "needs-port" {
			plugin = map[string]bool{"NodePorts": true}
		}
		q.Unschedulable(qp, plugin, false)
	}
	if _, _, u := q.Lens(); u != 2 {
		t.Fatalf("unschedulable = %d, want 2", u)
	}
	clk.Step(2 * time.Second) // past the first backoff
	q.Flush()
	if a, _, u := q.Lens(); a != 0 || u != 2 {
		t.Fatalf("pods left the unschedulable set with no event: active %d unschedulable %d", a, u)
	}
	q.Move([]string{"NodeResourcesFit"})
	if got := popName(t, q); got != "needs-memory" {
		t.Fatalf("popped %q after a resource event, want needs-memory", got)
	}
	if _, _, u := q.Lens(); u != 1 {
		t.Fatalf("unschedulable = %d, want needs-port still waiting", u)
	}
	// Nothing helps it: after five minutes it is retried anyway.
	clk.Step(DefaultMaxUnschedulable)
	q.Flush()
	if got := popName(t, q); got != "needs-port" {
		t.Fatalf("popped %q after the maximum wait, want needs-port", got)
	}
}

func TestQueueMovedDuringBackoffWaitsItOut(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := NewQueue(clk, 0, 0, 0)
	q.Add(qpod("p", 0))
	q.Unschedulable(q.Pop(context.Background()), map[string]bool{"NodeResourcesFit": true}, false)
	clk.Step(500 * time.Millisecond)
	q.Move(nil)
	if a, b, _ := q.Lens(); a != 0 || b != 1 {
		t.Fatalf("active %d backoff %d; a pod moved within its 1s backoff must wait it out", a, b)
	}
	clk.Step(500 * time.Millisecond)
	q.Flush()
	if got := popName(t, q); got != "p" {
		t.Fatalf("popped %q, want p after its backoff", got)
	}
}

func TestQueueEventDuringAttemptSkipsTheWait(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := NewQueue(clk, 0, 0, 0)
	q.Add(qpod("p", 0))
	qp := q.Pop(context.Background())
	q.Move(nil) // e.g. a node was added while p was being scheduled
	q.Unschedulable(qp, map[string]bool{"NodeResourcesFit": true}, false)
	if _, b, u := q.Lens(); b != 1 || u != 0 {
		t.Fatalf("backoff %d unschedulable %d: a pod that missed an event must go to backoff", b, u)
	}
}

func TestQueueUpdateAndDelete(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := NewQueue(clk, 0, 0, 0)
	p := qpod("p", 0)
	q.Add(p)
	q.Unschedulable(q.Pop(context.Background()), map[string]bool{"NodeAffinity": true}, false)
	clk.Step(2 * time.Second)

	// A status-only change does not help.
	p2 := p.DeepCopy()
	p2.Status.Message = "x"
	q.Update(p, p2)
	if _, _, u := q.Lens(); u != 1 {
		t.Fatal("a status-only update moved the pod")
	}
	// A new nodeSelector may.
	p3 := p2.DeepCopy()
	p3.Spec.NodeSelector = map[string]string{"zone": "b"}
	q.Update(p2, p3)
	qp := q.Pop(context.Background())
	if qp.Pod.Spec.NodeSelector["zone"] != "b" {
		t.Fatal("popped the old version of the pod")
	}
	q.Done(qp.Pod.UID)

	q.Add(qpod("gone", 0))
	q.Delete(qpod("gone", 0))
	if a, b, u := q.Lens(); a+b+u != 0 {
		t.Fatalf("deleted pod still queued: %d %d %d", a, b, u)
	}
	// Deleted while in flight: its failed attempt does not bring it back.
	q.Add(qpod("racing", 0))
	qp = q.Pop(context.Background())
	q.Delete(qp.Pod)
	q.Unschedulable(qp, nil, true)
	if a, b, u := q.Lens(); a+b+u != 0 {
		t.Fatalf("pod deleted in flight was requeued: %d %d %d", a, b, u)
	}
}

func TestQueuePopEndsWithContext(t *testing.T) {
	q := NewQueue(nil, 0, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *QueuedPod)
	go func() { done <- q.Pop(ctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case qp := <-done:
		if qp != nil {
			t.Fatal("Pop returned a pod from an empty queue")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Pop did not return when its context ended")
	}
}

// TestQueueWaitingCounts: the per-plugin counts that let Move skip events
// no waiting pod cares about follow every way a pod leaves the set.
func TestQueueWaitingCounts(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := NewQueue(clk, 0, 0, 0)
	for _, name := range []string{"a", "b", "c"} {
		q.Add(qpod(name, 0))
		q.Unschedulable(q.Pop(context.Background()), map[string]bool{"InterPodAffinity": true}, false)
	}
	if got := q.waiting["InterPodAffinity"]; got != 3 {
		t.Fatalf("waiting on InterPodAffinity = %d, want 3", got)
	}
	q.Move([]string{"NodePorts"}) // nobody waits on ports
	if _, _, u := q.Lens(); u != 3 {
		t.Fatalf("an event no pod waits on moved pods: %d left", u)
	}
	q.Delete(qpod("a", 0))
	clk.Step(2 * time.Second)
	q.Move([]string{"InterPodAffinity"})
	if _, _, u := q.Lens(); u != 0 || q.waiting["InterPodAffinity"] != 0 {
		t.Fatalf("unschedulable %d, waiting %v after moving everyone", u, q.waiting)
	}
}
