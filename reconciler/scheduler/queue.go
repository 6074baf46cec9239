package scheduler

import (
	"container/heap"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Queue defaults, as kube-scheduler's.
const (
	DefaultInitialBackoff = 1 * time.Second
	DefaultMaxBackoff     = 10 * time.Second
	// DefaultMaxUnschedulable is how long a pod may wait in the
	// unschedulable set with no event that could help it before it is
	// retried anyway.
	DefaultMaxUnschedulable = 5 * time.Minute
)

// QueuedPod is a pending pod and its scheduling history.
type QueuedPod struct {
	Pod *corev1.Pod
	// Timestamp orders pods of equal priority: when it last entered the
	// active queue.
	Timestamp time.Time
	// InitialAttempt is when it was first popped, for the end-to-end
	// latency metric.
	InitialAttempt time.Time
	Attempts       int
	// UnschedulablePlugins are the filters that rejected it in its last
	// attempt: only events that concern them move it back.
	UnschedulablePlugins map[string]bool
	// errored is set when the last attempt failed for a reason other than
	// "does not fit" (a bind error): such pods always back off.
	errored bool

	index         int // in its heap
	backoffExpiry time.Time
	cycle         int64 // scheduling cycle that popped it
}

// Queue is the scheduling queue of kube-scheduler: an active heap ordered
// by priority then age, a backoff heap ordered by expiry, and a set of
// unschedulable pods that wait for an event that could make them fit.
type Queue struct {
	clock                               clock.WithTicker
	initialBackoff, maxBackoff, maxWait time.Duration

	mu            sync.Mutex
	cond          *sync.Cond
	active        podHeap
	backoff       podHeap
	unschedulable map[types.UID]*QueuedPod
	// waiting counts the unschedulable pods by the plugins that rejected
	// them ("" for pods rejected with no diagnosis), so that an event no
	// waiting pod cares about (a binding, with nothing waiting on
	// affinity) costs nothing.
	waiting  map[string]int
	inFlight map[types.UID]*QueuedPod
	// cycle counts Pops; moveCycle is the cycle during which the last
	// move event arrived. A pod found unschedulable in a cycle older than
	// an event goes to backoff rather than waiting for another event.
	cycle, moveCycle int64
	closed           bool
}

// NewQueue returns an empty queue; zero durations take the defaults.
func NewQueue(clk clock.WithTicker, initialBackoff, maxBackoff, maxWait time.Duration) *Queue {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if initialBackoff <= 0 {
		initialBackoff = DefaultInitialBackoff
	}
	if maxBackoff <= 0 {
		maxBackoff = DefaultMaxBackoff
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxUnschedulable
	}
	q := &Queue{
		clock: clk, initialBackoff: initialBackoff, maxBackoff: maxBackoff, maxWait: maxWait,
		unschedulable: map[types.UID]*QueuedPod{}, waiting: map[string]int{}, inFlight: map[types.UID]*QueuedPod{},
	}
	q.active.less = activeLess
	q.backoff.less = func(a, b *QueuedPod) bool { return a.backoffExpiry.Before(b.backoffExpiry) }
	q.cond = sync.NewCond(&q.mu)
	return q
}

func activeLess(a, b *QueuedPod) bool {
	pa, pb := priority(a.Pod), priority(b.Pod)
	if pa != pb {
		return pa > pb
	}
	return a.Timestamp.Before(b.Timestamp)
}

func priority(p *corev1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

// Add queues a new pending pod; a pod already queued is updated instead.
func (q *Queue) Add(p *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.updateLocked(p) {
		return
	}
	if _, ok := q.inFlight[p.UID]; ok {
		q.inFlight[p.UID].Pod = p
		return
	}
	q.active.push(&QueuedPod{Pod: p, Timestamp: q.clock.Now()})
	q.cond.Broadcast()
}

// Update replaces a queued pod. A pod waiting as unschedulable whose spec
// or labels changed gets another chance at once (or after its backoff),
// as in kube-scheduler: the change may be what makes it fit.
func (q *Queue) Update(old, p *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp, ok := q.unschedulable[p.UID]; ok {
		qp.Pod = p
		if specChanged(old, p) {
			q.forgetUnschedulableLocked(p.UID)
			q.requeueLocked(qp)
		}
		return
	}
	if q.updateLocked(p) {
		return
	}
	if qp, ok := q.inFlight[p.UID]; ok {
		qp.Pod = p
		return
	}
	q.active.push(&QueuedPod{Pod: p, Timestamp: q.clock.Now()})
	q.cond.Broadcast()
}

func specChanged(old, p *corev1.Pod) bool {
	if old == nil {
		return true
	}
	return !maps.Equal(old.Labels, p.Labels) || !equality.Semantic.DeepEqual(old.Spec, p.Spec)
}

// updateLocked replaces a pod in the active or backoff heap.
func (q *Queue) updateLocked(p *corev1.Pod) bool {
	for _, h := range []*podHeap{&q.active, &q.backoff} {
		if i, ok := h.find(p.UID); ok {
			h.items[i].Pod = p
			heap.Fix(h, i)
			return true
		}
	}
	if qp, ok := q.unschedulable[p.UID]; ok {
		qp.Pod = p
		return true
	}
	return false
}

// Delete forgets a pod wherever it is.
func (q *Queue) Delete(p *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.active.remove(p.UID)
	q.backoff.remove(p.UID)
	q.forgetUnschedulableLocked(p.UID)
	delete(q.inFlight, p.UID)
}

// Pop blocks until a pod is active and returns it, or returns nil when
// ctx ends or the queue is closed.
func (q *Queue) Pop(ctx context.Context) *QueuedPod {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 {
		if q.closed || ctx.Err() != nil {
			return nil
		}
		q.cond.Wait()
	}
	qp := heap.Pop(&q.active).(*QueuedPod)
	q.cycle++
	qp.cycle = q.cycle
	qp.Attempts++
	if qp.InitialAttempt.IsZero() {
		qp.InitialAttempt = q.clock.Now()
	}
	q.inFlight[qp.Pod.UID] = qp
	return qp
}

// Done ends a pod's attempt that succeeded (it was assumed and handed to
// the binder).
func (q *Queue) Done(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, uid)
}

// Unschedulable puts back a pod that did not fit: into the unschedulable
// set to wait for a relevant event, or straight into backoff when an
// event arrived while it was being scheduled (the event may have been
// the one it waits for) or when the attempt failed with an error.
func (q *Queue) Unschedulable(qp *QueuedPod, plugins map[string]bool, errored bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.inFlight[qp.Pod.UID]; !ok {
		return // deleted while in flight
	}
	delete(q.inFlight, qp.Pod.UID)
	qp.UnschedulablePlugins, qp.errored = plugins, errored
	qp.Timestamp = q.clock.Now()
	if errored || q.moveCycle >= qp.cycle {
		q.backoffLocked(qp)
		return
	}
	q.unschedulable[qp.Pod.UID] = qp
	q.countWaitingLocked(qp, 1)
}

func (q *Queue) countWaitingLocked(qp *QueuedPod, by int) {
	if len(qp.UnschedulablePlugins) == 0 {
		q.waiting[""] += by
	}
	for p := range qp.UnschedulablePlugins {
		q.waiting[p] += by
	}
}

func (q *Queue) forgetUnschedulableLocked(uid types.UID) {
	if qp, ok := q.unschedulable[uid]; ok {
		delete(q.unschedulable, uid)
		q.countWaitingLocked(qp, -1)
	}
}

// helps says whether an event that concerns plugins (nil: every plugin)
// can help a pod that is waiting.
func helps(qp *QueuedPod, plugins []string) bool {
	if plugins == nil || len(qp.UnschedulablePlugins) == 0 {
		return true // rejected with no diagnosis: any event may help
	}
	for _, p := range plugins {
		if qp.UnschedulablePlugins[p] {
			return true
		}
	}
	return false
}

func (q *Queue) backoffDuration(qp *QueuedPod) time.Duration {
	d := q.initialBackoff
	for i := 1; i < qp.Attempts; i++ {
		d *= 2
		if d >= q.maxBackoff {
			return q.maxBackoff
		}
	}
	return d
}

func (q *Queue) backoffLocked(qp *QueuedPod) {
	// Its backoff counts from the end of its last attempt.
	qp.backoffExpiry = qp.Timestamp.Add(q.backoffDuration(qp))
	q.backoff.push(qp)
}

// requeueLocked moves a pod out of the unschedulable set: to backoff if
// its backoff has not expired, else to the active queue.
func (q *Queue) requeueLocked(qp *QueuedPod) {
	now := q.clock.Now()
	if expiry := qp.Timestamp.Add(q.backoffDuration(qp)); expiry.After(now) {
		qp.backoffExpiry = expiry
		q.backoff.push(qp)
		return
	}
	qp.Timestamp = now
	q.active.push(qp)
	q.cond.Broadcast()
}

// Move moves the unschedulable pods an event concerning plugins can help
// (nil: every pod), as kube-scheduler's MoveAllToActiveOrBackoffQueue
// with queueing hints.
func (q *Queue) Move(plugins []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveCycle = q.cycle
	if plugins != nil && q.waiting[""] == 0 && !slices.ContainsFunc(plugins, func(p string) bool { return q.waiting[p] > 0 }) {
		return
	}
	for uid, qp := range q.unschedulable {
		if helps(qp, plugins) {
			q.forgetUnschedulableLocked(uid)
			q.requeueLocked(qp)
		}
	}
}

// Flush moves pods whose backoff has expired to the active queue, and
// pods that waited longer than the maximum in the unschedulable set to
// the active queue or backoff. Run calls it every second.
func (q *Queue) Flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	moved := false
	for q.backoff.Len() > 0 && !q.backoff.items[0].backoffExpiry.After(now) {
		qp := heap.Pop(&q.backoff).(*QueuedPod)
		qp.Timestamp = now
		q.active.push(qp)
		moved = true
	}
	for uid, qp := range q.unschedulable {
		if now.Sub(qp.Timestamp) >= q.maxWait {
			q.forgetUnschedulableLocked(uid)
			q.requeueLocked(qp)
		}
	}
	if moved {
		q.cond.Broadcast()
	}
}

// Run flushes the backoff queue every second until ctx ends, then closes
// the queue.
func (q *Queue) Run(ctx context.Context) {
	t := q.clock.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			q.mu.Lock()
			q.closed = true
			q.cond.Broadcast()
			q.mu.Unlock()
			return
		case <-t.C():
			q.Flush()
		}
	}
}

// Lens reports the sizes of the active, backoff and unschedulable queues.
func (q *Queue) Lens() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}

// podHeap is a heap of queued pods with an index by UID.
type podHeap struct {
	items []*QueuedPod
	byUID map[types.UID]*QueuedPod
	less  func(a, b *QueuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	qp := x.(*QueuedPod)
	qp.index = len(h.items)
	h.items = append(h.items, qp)
	if h.byUID == nil {
		h.byUID = map[types.UID]*QueuedPod{}
	}
	h.byUID[qp.Pod.UID] = qp
}
func (h *podHeap) Pop() any {
	n := len(h.items)
	qp := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	delete(h.byUID, qp.Pod.UID)
	return qp
}

func (h *podHeap) push(qp *QueuedPod) { heap.Push(h, qp) }

func (h *podHeap) find(uid types.UID) (int, bool) {
	qp, ok := h.byUID[uid]
	if !ok {
		return 0, false
	}
	return qp.index, true
}

func (h *podHeap) remove(uid types.UID) {
	if i, ok := h.find(uid); ok {
		heap.Remove(h, i)
	}
}
