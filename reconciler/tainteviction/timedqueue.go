package tainteviction

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// timedWorker is the deletion of one pod, due at fireAt.
type timedWorker struct {
	createdAt, fireAt time.Time
	timer             clock.Timer
}

// timedQueue is Kubernetes' TimedWorkerQueue on the controller's clock:
// work per key, run once when its time comes unless cancelled first. A
// key whose work succeeded stays, holding a nil worker, so that the same
// deletion is not scheduled again until the key is cancelled (the pod is
// gone or tolerated).
//
// A fake clock runs timer functions while holding its own lock, so no
// clock method is called with mu held.
type timedQueue struct {
	clock  clock.WithDelayedExecution
	work   func(ctx context.Context, key string) error
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	workers map[string]*timedWorker
	closed  bool
	running int
	idle    *sync.Cond
}

func newTimedQueue(c clock.WithDelayedExecution, work func(ctx context.Context, key string) error) *timedQueue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &timedQueue{clock: c, work: work, ctx: ctx, cancel: cancel, workers: map[string]*timedWorker{}}
	q.idle = sync.NewCond(&q.mu)
	return q
}

// get returns key's worker: exists is false when nothing is scheduled,
// w nil when the work was done.
func (q *timedQueue) get(key string) (w *timedWorker, exists bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	w, exists = q.workers[key]
	if w != nil {
		c := *w
		w = &c
	}
	return w, exists
}

// add schedules key's work for fireAt, unless work is scheduled or done
// for it already.
func (q *timedQueue) add(key string, createdAt, fireAt time.Time) {
	w := &timedWorker{createdAt: createdAt, fireAt: fireAt}
	q.mu.Lock()
	if _, ok := q.workers[key]; ok || q.closed {
		q.mu.Unlock()
		return
	}
	q.workers[key] = w
	q.mu.Unlock()

	delay := fireAt.Sub(q.clock.Now())
	if delay <= 0 {
		q.fire(key, w)
		return
	}
	t := q.clock.AfterFunc(delay, func() { q.fire(key, w) })
	q.mu.Lock()
	current := q.workers[key] == w
	if current {
		w.timer = t
	}
	q.mu.Unlock()
	if !current {
		t.Stop()
	}
}

// fire starts key's work if w is still its worker.
func (q *timedQueue) fire(key string, w *timedWorker) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.workers[key] != w {
		return
	}
	q.running++
	go func() {
		err := q.work(q.ctx, key)
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.workers[key] == w {
			if err == nil {
				q.workers[key] = nil
			} else {
				delete(q.workers, key)
			}
		}
		q.running--
		q.idle.Broadcast()
	}()
}

// cancelWork forgets key's work; true if it was scheduled and not yet
// done.
func (q *timedQueue) cancelWork(key string) bool {
	q.mu.Lock()
	w, ok := q.workers[key]
	delete(q.workers, key)
	var t clock.Timer
	if w != nil {
		t = w.timer
	}
	q.mu.Unlock()
	if t != nil {
		t.Stop()
	}
	return ok && w != nil
}

// scheduled counts the keys whose work is waiting.
func (q *timedQueue) scheduled() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, w := range q.workers {
		if w != nil {
			n++
		}
	}
	return n
}

// shutdown cancels all waiting work and waits for the work under way.
func (q *timedQueue) shutdown() {
	q.mu.Lock()
	q.closed = true
	var timers []clock.Timer
	for _, w := range q.workers {
		if w != nil && w.timer != nil {
			timers = append(timers, w.timer)
		}
	}
	q.mu.Unlock()
	for _, t := range timers {
		t.Stop()
	}
	q.cancel()
	q.mu.Lock()
	for q.running > 0 {
		q.idle.Wait()
	}
	q.mu.Unlock()
}
