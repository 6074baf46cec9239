package daemonset

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// ExpectationsTimeout is how long the controller waits for the informer
// to observe its own creates and deletes before it syncs a DaemonSet
// anyway, as Kubernetes' ExpectationsTimeout.
const ExpectationsTimeout = 5 * time.Minute

// expectations is Kubernetes' ControllerExpectations: per DaemonSet key,
// how many creations and deletions are still to be observed. A DaemonSet
// with outstanding expectations only has its status written, so a sync
// never acts on a cache that does not yet show what the previous one did.
type expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	m     map[string]*expectation
}

type expectation struct {
	adds, dels int
	at         time.Time
}

func newExpectations(c clock.PassiveClock) *expectations {
	return &expectations{clock: c, m: map[string]*expectation{}}
}

// satisfied reports whether key may be acted on: no record, every
// expected event observed, or the record older than the timeout.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok || (x.adds <= 0 && x.dels <= 0) {
		return true
	}
	return e.clock.Since(x.at) > ExpectationsTimeout
}

// set replaces key's record with adds creations and dels deletions.
func (e *expectations) set(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: adds, dels: dels, at: e.clock.Now()}
}

// creationObserved lowers key's expected creations: a pod was seen, or a
// create was not issued or failed.
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

// deletionObserved lowers key's expected deletions.
func (e *expectations) deletionObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.dels--
	}
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
