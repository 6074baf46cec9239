package daemonset

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Backoff of the replacement of a failed daemon pod on one node, as
// Kubernetes' failedPodsBackoff: a node whose pods keep failing (a
// kubelet rejecting them) is not fought over in a hot loop.
const (
	FailedPodsBackoffInitial = time.Second
	FailedPodsBackoffMax     = 15 * time.Minute
)

// backoff is flowcontrol.Backoff without jitter, on the controller's
// clock: per key, a delay that doubles on every step up to max, and goes
// back to initial once the key has been quiet for twice max.
type backoff struct {
	clock        clock.PassiveClock
	initial, max time.Duration
	mu           sync.Mutex
	m            map[string]*backoffEntry
}

type backoffEntry struct {
	delay time.Duration
	last  time.Time
}

func newBackoff(c clock.PassiveClock, initial, max time.Duration) *backoff {
	return &backoff{clock: c, initial: initial, max: max, m: map[string]*backoffEntry{}}
}

// inBackoff: the key stepped less than its delay ago; delay is what is
// left of it.
func (b *backoff) inBackoff(key string) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[key]
	if !ok {
		return false, 0
	}
	since := b.clock.Since(e.last)
	if since < e.delay {
		return true, e.delay - since
	}
	return false, 0
}

// next steps the key's delay and forgets keys quiet for long.
func (b *backoff) next(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	for k, e := range b.m {
		if now.Sub(e.last) > 2*b.max {
			delete(b.m, k)
		}
	}
	e, ok := b.m[key]
	if !ok {
		b.m[key] = &backoffEntry{delay: b.initial, last: now}
		return
	}
	e.delay = min(2*e.delay, b.max)
	e.last = now
}
