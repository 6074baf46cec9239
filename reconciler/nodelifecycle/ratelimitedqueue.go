package nodelifecycle

import (
	"container/heap"
	"sync"
	"time"

	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"
)

// evictionLimiterBurst is the token bucket's size: one node at a time, as
// Kubernetes' EvictionRateLimiterBurst.
const evictionLimiterBurst = 1

// timedValue is one node waiting in a zone's queue.
type timedValue struct {
	value string
	uid   string
	added time.Time
	// processAt is when the node may be tried again.
	processAt time.Time
}

// timedQueue is a min-heap of timedValues ordered by processAt.
type timedQueue []*timedValue

func (q timedQueue) Len() int           { return len(q) }
func (q timedQueue) Less(i, j int) bool { return q[i].processAt.Before(q[j].processAt) }
func (q timedQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *timedQueue) Push(x any)        { *q = append(*q, x.(*timedValue)) }
func (q *timedQueue) Pop() any {
	old := *q
	n := len(old)
	x := old[n-1]
	*q = old[:n-1]
	return x
}

// uniqueQueue is Kubernetes' UniqueQueue: a queue in which a value is
// at most once. A value taken off the heap after being processed stays in
// the set, so that it is not queued again until it is removed outright
// (the node became reachable, or was deleted).
type uniqueQueue struct {
	mu    sync.Mutex
	queue timedQueue
	set   map[string]struct{}
}

func (q *uniqueQueue) add(v timedValue) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.set[v.value]; ok {
		return false
	}
	heap.Push(&q.queue, &v)
	q.set[v.value] = struct{}{}
	return true
}

// replace puts v back with its new processAt, if it is still queued.
func (q *uniqueQueue) replace(v timedValue) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.queue {
		if q.queue[i].value == v.value {
			heap.Remove(&q.queue, i)
			heap.Push(&q.queue, &v)
			return true
		}
	}
	return false
}

// removeFromQueue takes value off the heap but keeps it in the set.
func (q *uniqueQueue) removeFromQueue(value string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.set[value]; !ok {
		return false
	}
	for i, v := range q.queue {
		if v.value == value {
			heap.Remove(&q.queue, i)
			return true
		}
	}
	return false
}

// remove forgets value entirely, so that it can be added again.
func (q *uniqueQueue) remove(value string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.set[value]; !ok {
		return false
	}
	delete(q.set, value)
	for i, v := range q.queue {
		if v.value == value {
			heap.Remove(&q.queue, i)
			break
		}
	}
	return true
}

func (q *uniqueQueue) head() (timedValue, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		return timedValue{}, false
	}
	return *q.queue[0], true
}

func (q *uniqueQueue) clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queue = q.queue[:0]
	clear(q.set)
}

// rateLimitedQueue is Kubernetes' RateLimitedTimedQueue: the nodes of one
// zone waiting for their NoExecute taint, let through by a token bucket
// whose rate follows the zone's state. The bucket runs on the
// controller's clock.
type rateLimitedQueue struct {
	clock   clock.PassiveClock
	queue   uniqueQueue
	mu      sync.Mutex
	limiter flowcontrol.PassiveRateLimiter
}

func newRateLimitedQueue(c clock.PassiveClock, qps float32) *rateLimitedQueue {
	return &rateLimitedQueue{
		clock:   c,
		queue:   uniqueQueue{set: map[string]struct{}{}},
		limiter: newLimiter(c, qps),
	}
}

func newLimiter(c clock.PassiveClock, qps float32) flowcontrol.PassiveRateLimiter {
	if qps <= 0 {
		return flowcontrol.NewFakeNeverRateLimiter()
	}
	return flowcontrol.NewTokenBucketPassiveRateLimiterWithClock(qps, evictionLimiterBurst, c)
}

// actionFunc handles one node: done reports that it is finished with;
// otherwise it is tried again after retry.
type actionFunc func(v timedValue) (done bool, retry time.Duration)

// try hands fn the nodes that are due, as many as the limiter lets
// through.
func (q *rateLimitedQueue) try(fn actionFunc) {
	v, ok := q.queue.head()
	q.mu.Lock()
	defer q.mu.Unlock()
	for ok {
		if !q.limiter.TryAccept() {
			break
		}
		now := q.clock.Now()
		if now.Before(v.processAt) {
			break
		}
		if done, retry := fn(v); !done {
			v.processAt = now.Add(retry + 1)
			q.queue.replace(v)
		} else {
			q.queue.removeFromQueue(v.value)
		}
		v, ok = q.queue.head()
	}
}

// add queues a node; false if it is queued or was handled already.
func (q *rateLimitedQueue) add(value, uid string) bool {
	now := q.clock.Now()
	return q.queue.add(timedValue{value: value, uid: uid, added: now, processAt: now})
}

// remove forgets a node; true if it was known.
func (q *rateLimitedQueue) remove(value string) bool { return q.queue.remove(value) }

// clear forgets every node.
func (q *rateLimitedQueue) clear() { q.queue.clear() }

// qps is the limiter's current rate.
func (q *rateLimitedQueue) qps() float32 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.limiter.QPS()
}

// swapLimiter changes the rate. A new bucket starts empty when the old
// one was empty, so that a change of rate does not let a node through
// early (the right thing with a burst of 1).
func (q *rateLimitedQueue) swapLimiter(qps float32) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limiter.QPS() == qps {
		return
	}
	next := newLimiter(q.clock, qps)
	if qps > 0 && !q.limiter.TryAccept() {
		next.TryAccept()
	}
	q.limiter.Stop()
	q.limiter = next
}
