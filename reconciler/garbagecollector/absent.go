package garbagecollector

import "sync"

// absentOwners remembers owners the API server confirmed absent, so that
// the dependents of one deleted owner do not each look it up again; as
// Kubernetes' absentOwnerCache it is bounded, evicting the oldest entry.
// The key includes the UID, so an owner recreated under the same name is
// never mistaken for the absent one.
type absentOwners struct {
	mu    sync.Mutex
	max   int
	set   map[objectReference]struct{}
	order []objectReference
}

func newAbsentOwners(max int) *absentOwners {
	return &absentOwners{max: max, set: map[objectReference]struct{}{}}
}

func (a *absentOwners) add(r objectReference) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.set[r]; ok {
		return
	}
	if len(a.order) >= a.max {
		delete(a.set, a.order[0])
		a.order = a.order[1:]
	}
	a.set[r] = struct{}{}
	a.order = append(a.order, r)
}

func (a *absentOwners) has(r objectReference) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.set[r]
	return ok
}
