// Package controller holds what every controller of the controller
// manager runs the same way, as client-go's sample controller does: the
// worker loop over a rate-limited queue of keys, informer tombstones, and
// collector registration.
package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Requeue is an error that asks for the key to be looked at again after a
// fixed delay rather than after the queue's backoff (work still going
// away, not a failure).
type Requeue interface {
	error
	RequeueAfter() time.Duration
}

// Workers runs a controller: it waits for the informer caches, then runs
// n workers that take keys from q and call syncKey until ctx ends, then shuts
// q down and waits for them. A key whose sync succeeds is forgotten; one
// that returns Requeue is added back after its delay; any other error
// retries it with the queue's backoff. observe, when set, sees every
// sync's error and duration. Workers returns nil when ctx ends.
func Workers(ctx context.Context, log *slog.Logger, q workqueue.TypedRateLimitingInterface[string], synced []cache.InformerSynced,
	n int, syncKey func(context.Context, string) error, observe func(error, time.Duration)) error {
	defer utilruntime.HandleCrash()
	defer q.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("informer caches did not sync")
	}
	n = max(n, 1)
	log.Info("starting", "workers", n)
	next := func(ctx context.Context) bool {
		key, quit := q.Get()
		if quit {
			return false
		}
		defer q.Done(key)
		start := time.Now()
		err := syncKey(ctx, key)
		if observe != nil {
			observe(err, time.Since(start))
		}
		var requeue Requeue
		switch {
		case err == nil:
			q.Forget(key)
		case errors.As(err, &requeue):
			log.Debug("requeued", "key", key, "after", requeue.RequeueAfter(), "why", err)
			q.AddAfter(key, requeue.RequeueAfter())
		default:
			if ctx.Err() == nil {
				log.Info("sync failed; will retry", "key", key, "err", err, "retries", q.NumRequeues(key))
			}
			q.AddRateLimited(key)
		}
		return true
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for next(ctx) {
				}
			}, time.Second)
		})
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
	log.Info("stopped")
	return nil
}

// Object unwraps an informer event's object, tombstones of deleted
// objects included; ok is false for anything else.
func Object[T any](obj any) (T, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	o, ok := obj.(T)
	return o, ok
}
