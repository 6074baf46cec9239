package replicaset

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// ExpectationsTimeout is how long the controller waits for the informer
// to observe its own creates and deletes before it syncs a ReplicaSet
// anyway, as Kubernetes' ExpectationsTimeout.
const ExpectationsTimeout = 5 * time.Minute

// expectations is Kubernetes' UIDTrackingControllerExpectations: per
// ReplicaSet key, how many creations are still to be observed and which
// pods (by namespace/name) are still to be observed gone. A ReplicaSet
// with outstanding expectations is not synced, so a sync never acts on a
// cache that does not yet show what the previous sync did.
type expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	m     map[string]*expectation
}

type expectation struct {
	adds      int
	deletions map[string]bool
	at        time.Time
	// synced: a sync went ahead once the record was met.
	synced bool
}

func newExpectations(c clock.PassiveClock) *expectations {
	return &expectations{clock: c, m: map[string]*expectation{}}
}

// satisfied reports whether the ReplicaSet key may be synced: no record,
// every expected event observed, or the record older than the timeout.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.deletions) == 0 {
		return true
	}
	return e.clock.Since(x.at) > ExpectationsTimeout
}

// pending reports whether key has a record of expected events, met or
// not, that no sync has acted on since: the event that meets it should
// sync at once.
func (e *expectations) pending(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	return ok && !x.synced
}

// markSynced notes that a sync went ahead on key's met record.
func (e *expectations) markSynced(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.synced = true
	}
}

// expectCreations replaces key's record with n creations to observe.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: n, deletions: map[string]bool{}, at: e.clock.Now()}
}

// expectDeletions replaces key's record with the pods to observe gone.
func (e *expectations) expectDeletions(key string, pods []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{deletions: map[string]bool{}, at: e.clock.Now()}
	for _, p := range pods {
		x.deletions[p] = true
	}
	e.m[key] = x
}

// creationObserved lowers key's expected creations by one: a pod was
// seen, or a create was not issued or failed.
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// deletionObserved notes the pod gone (or going) if key expected it;
// each pod counts once however many events report it.
func (e *expectations) deletionObserved(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletions, pod)
	}
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
