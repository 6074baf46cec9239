package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/watch"
)

const (
	// watcherBuffer is each watcher's result channel capacity: a watcher
	// more than this many events behind is closed (its client resumes from
	// the last resourceVersion it got).
	watcherBuffer = 1000
)

// watcher is one client watch served from the cache.
//
// Until its initial events (synthetic ADDED, or replayed ring events) are
// sent, a goroutine owns result and the dispatcher queues live events in
// pending; afterwards (live) the dispatcher sends straight to result with
// non-blocking sends under mu, so a slow watcher never stalls the others.
type watcher struct {
	r         *Resource
	prefix    string
	pred      Predicate
	predEmpty bool
	bookmarks bool
	result    chan watch.Event
	done      chan struct{} // closed when the watcher ends
	stopCtx   func() bool

	mu         sync.Mutex
	live       bool
	closed     bool
	pending    []watch.Event
	maxPending int
}

// Watch serves a watch of keyPrefix (e.g. "/registry/pods/" or
// "/registry/pods/default/") from the watch cache; see WatchOptions. Event
// objects are shared with the cache and other watchers: do not mutate them.
func (r *Resource) Watch(ctx context.Context, keyPrefix string, opts WatchOptions) (watch.Interface, error) {
	keyPrefix, err := r.checkPrefix(keyPrefix)
	if err != nil {
		return nil, err
	}
	var (
		initial bool  // synthetic ADDED events for the current state
		endMark bool  // then the initial-events-end bookmark
		fromRev int64 // otherwise: replay events after fromRev
	)
	switch opts.ResourceVersion {
	case "", "0":
		initial = opts.SendInitialEvents == nil || *opts.SendInitialEvents
		endMark = opts.SendInitialEvents != nil && *opts.SendInitialEvents
		if opts.ResourceVersion == "" {
			if err := r.waitFresh(ctx); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				// Serve the cache as it is rather than fail the watch.
				r.log.Warn("storage: watch cache not fresh", "err", err)
			}
		}
	default:
		n, err := parseResourceVersion(opts.ResourceVersion)
		if err != nil {
			return nil, err
		}
		if err := r.waitRev(ctx, n, false); err != nil {
			return nil, err
		}
		if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
			initial, endMark = true, true
		} else {
			fromRev = n
		}
	}

	w := &watcher{
		r:          r,
		prefix:     keyPrefix,
		pred:       opts.Predicate,
		predEmpty:  opts.Predicate.empty(),
		bookmarks:  opts.AllowBookmarks,
		result:     make(chan watch.Event, watcherBuffer),
		done:       make(chan struct{}),
		maxPending: r.s.cacheSize,
	}

	// Snapshot and register atomically with respect to apply, which holds
	// mu exclusively: the watcher gets every event after the snapshot once.
	var (
		snapshot []*entry
		replay   []*event
		rev      int64
	)
	r.mu.RLock()
	rev = r.rev
	switch {
	case initial:
		for key, e := range r.objects {
			if strings.HasPrefix(key, keyPrefix) && w.matches(e) {
				snapshot = append(snapshot, e)
			}
		}
	case fromRev > 0:
		if fromRev < r.evictedRev {
			r.mu.RUnlock()
			return r.watchHistory(ctx, keyPrefix, fromRev, opts)
		}
		replay = r.eventsAfterLocked(fromRev)
	}
	if !r.addWatcher(w) {
		r.mu.RUnlock()
		return nil, fmt.Errorf("storage: %s: %w", r.prefix, errResourceClosed)
	}
	r.mu.RUnlock()

	var first []watch.Event
	if initial {
		sort.Slice(snapshot, func(i, j int) bool { return snapshot[i].key < snapshot[j].key })
		first = make([]watch.Event, 0, len(snapshot)+1)
		for _, e := range snapshot {
			first = append(first, watch.Event{Type: watch.Added, Object: e.obj})
		}
	}
	for _, ev := range replay {
		if out, ok := w.convert(ev); ok {
			first = append(first, out)
		}
	}
	if endMark {
		bm, err := r.bookmark(rev, true)
		if err != nil {
			w.Stop()
			return nil, err
		}
		first = append(first, bm)
	}

	stopCtx := context.AfterFunc(ctx, w.Stop)
	w.mu.Lock()
	w.stopCtx = stopCtx
	if len(first) == 0 && len(w.pending) == 0 && !w.closed {
		w.live = true
		w.mu.Unlock()
		return w, nil
	}
	w.mu.Unlock()
	go w.sendInitial(first)
	return w, nil
}

var errResourceClosed = errors.New("resource closed")

// addWatcher registers w; false once the cache stopped.
func (r *Resource) addWatcher(w *watcher) bool {
	r.watchersMu.Lock()
	if r.closed {
		r.watchersMu.Unlock()
		return false
	}
	old := *r.watchers.Load()
	next := make([]*watcher, len(old), len(old)+1)
	copy(next, old)
	next = append(next, w)
	r.watchers.Store(&next)
	r.watchersMu.Unlock()
	r.m.addWatchers(1)
	return true
}

func (r *Resource) removeWatcher(w *watcher) {
	r.watchersMu.Lock()
	defer r.watchersMu.Unlock()
	old := *r.watchers.Load()
	for i, x := range old {
		if x == w {
			next := make([]*watcher, 0, len(old)-1)
			next = append(next, old[:i]...)
			next = append(next, old[i+1:]...)
			r.watchers.Store(&next)
			r.m.addWatchers(-1)
			return
		}
	}
}

// terminateAll ends every watcher and refuses new ones (the cache stopped).
func (r *Resource) terminateAll() {
	r.watchersMu.Lock()
	r.closed = true
	r.watchersMu.Unlock()
	for _, w := range *r.watchers.Load() {
		w.terminate()
	}
}

// dispatch delivers events to watchers: O(watchers) non-blocking sends.
func (r *Resource) dispatch(watchers []*watcher, events []*event) {
	for _, w := range watchers {
		for _, ev := range events {
			out, ok := w.convert(ev)
			if !ok {
				continue
			}
			if !w.deliver(out, false) {
				break
			}
		}
	}
}

// sendBookmarks sends a BOOKMARK at the cache's revision to every watcher
// that allows them. Called by the run goroutine, so it is ordered after every
// event the bookmark covers.
func (r *Resource) sendBookmarks() {
	rev := r.cacheRev()
	var bm watch.Event
	for _, w := range *r.watchers.Load() {
		if !w.bookmarks {
			continue
		}
		if bm.Object == nil {
			var err error
			if bm, err = r.bookmark(rev, false); err != nil {
				r.log.Error("storage: bookmark", "err", err)
				return
			}
		}
		w.deliver(bm, true)
	}
}

func (w *watcher) matches(e *entry) bool {
	return w.predEmpty || w.pred.matches(e.labels, e.fields)
}

// convert turns a cache event into this watcher's event, applying the key
// prefix and the predicate with transition semantics.
func (w *watcher) convert(ev *event) (watch.Event, bool) {
	if !strings.HasPrefix(ev.key, w.prefix) {
		return watch.Event{}, false
	}
	if w.predEmpty {
		return watch.Event{Type: ev.typ, Object: ev.cur.obj}, true
	}
	switch ev.typ {
	case watch.Added:
		if w.matches(ev.cur) {
			return watch.Event{Type: watch.Added, Object: ev.cur.obj}, true
		}
	case watch.Deleted:
		if w.matches(ev.prev) {
			return watch.Event{Type: watch.Deleted, Object: ev.cur.obj}, true
		}
	case watch.Modified:
		cur, prev := w.matches(ev.cur), w.matches(ev.prev)
		switch {
		case cur && prev:
			return watch.Event{Type: watch.Modified, Object: ev.cur.obj}, true
		case cur:
			return watch.Event{Type: watch.Added, Object: ev.cur.obj}, true
		case prev:
			return watch.Event{Type: watch.Deleted, Object: ev.previousAtRev()}, true
		}
	}
	return watch.Event{}, false
}

// deliver hands ev to the watcher without blocking. A watcher that cannot
// take an event is closed, unless the event is droppable (a bookmark). It
// reports whether the watcher is still open.
func (w *watcher) deliver(ev watch.Event, droppable bool) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	if w.live {
		select {
		case w.result <- ev:
			w.mu.Unlock()
			return true
		default:
		}
	} else if len(w.pending) < w.maxPending {
		w.pending = append(w.pending, ev)
		w.mu.Unlock()
		return true
	}
	if droppable {
		w.mu.Unlock()
		return true
	}
	w.closeLocked()
	w.mu.Unlock()
	w.r.log.Debug("storage: closing watcher that cannot keep up", "prefix", w.prefix)
	w.r.removeWatcher(w)
	return false
}

// sendInitial sends the initial events, then the events queued meanwhile,
// then hands result over to the dispatcher.
func (w *watcher) sendInitial(first []watch.Event) {
	for {
		for _, ev := range first {
			select {
			case w.result <- ev:
			case <-w.done:
				close(w.result)
				return
			}
		}
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			close(w.result)
			return
		}
		if len(w.pending) == 0 {
			w.live = true
			w.mu.Unlock()
			return
		}
		first, w.pending = w.pending, nil
		w.mu.Unlock()
	}
}

// closeLocked ends the watcher; mu must be held. Once live, the dispatcher
// side owns result and closes it here; before that, sendInitial closes it.
func (w *watcher) closeLocked() {
	if w.closed {
		return
	}
	w.closed = true
	close(w.done)
	if w.live {
		close(w.result)
	}
}

// terminate ends the watcher and unregisters it.
func (w *watcher) terminate() {
	w.mu.Lock()
	w.closeLocked()
	w.mu.Unlock()
	w.r.removeWatcher(w)
}

// Stop ends the watch; ResultChan is closed soon after.
func (w *watcher) Stop() {
	w.mu.Lock()
	w.closeLocked()
	stopCtx := w.stopCtx
	w.mu.Unlock()
	w.r.removeWatcher(w)
	if stopCtx != nil {
		stopCtx()
	}
}

// ResultChan returns the watch's events.
func (w *watcher) ResultChan() <-chan watch.Event {
	return w.result
}
