package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

const (
	// waitTimeout bounds how long a read waits for the watch cache to reach a
	// resource version.
	waitTimeout = 3 * time.Second
	// progressRetry is how often a waiting read asks etcd again for a
	// progress notification.
	progressRetry = 100 * time.Millisecond
	// listChunk is the page size of the cache's own lists of etcd.
	listChunk = 10000
)

// Resource is one opened resource: its etcd keys live under one prefix and
// its watch cache serves watches and cached reads.
//
// Objects held by the cache are shared with every reader and watcher and must
// never be mutated: callers DeepCopy before changing anything.
type Resource struct {
	s       *Store
	prefix  string
	name    string
	newFunc func() runtime.Object
	attrs   AttrFunc
	log     *slog.Logger
	m       resourceMetrics
	ctx     context.Context // Open's, for progress requests on the watch's stream

	// mu guards the cache state below. Only the run goroutine writes it.
	mu         sync.RWMutex
	rev        int64             // the etcd revision the cache reflects
	revCh      chan struct{}     // closed (and replaced) when rev advances
	objects    map[string]*entry // current objects by key
	ring       []*event          // the last len(ring) events, circular
	ringStart  int
	ringLen    int
	evictedRev int64 // watches must start at or after this revision

	// watchers is replaced copy-on-write under watchersMu. It is read by the
	// dispatcher while mu is held, and added to while mu is read-held, so a
	// new watcher sees every event exactly once.
	watchersMu sync.Mutex
	watchers   atomic.Pointer[[]*watcher]
	closed     bool // under watchersMu: the cache stopped

	progress chan struct{} // asks progressLoop for an etcd progress notification

	// lastWrite is the revision of the newest write made through this
	// Resource, for WaitWrites.
	lastWrite atomic.Int64
}

// entry is one cached object at one revision. All fields are immutable.
type entry struct {
	key    string
	obj    runtime.Object
	data   []byte // the etcd value
	rev    int64  // mod revision
	labels labels.Set
	fields fields.Set
}

// event is one change in the ring. typ is watch.Added, Modified or Deleted.
// For Deleted, cur is the last state with the deletion's revision.
type event struct {
	typ  watch.EventType
	key  string
	rev  int64
	cur  *entry
	prev *entry // nil for Added

	prevAtRevOnce sync.Once
	prevAtRev     runtime.Object
}

// previousAtRev is the previous object carrying the event's revision: the
// object of the DELETED event a watcher gets when an object stops matching
// its predicate.
func (e *event) previousAtRev() runtime.Object {
	if e.typ == watch.Deleted {
		return e.cur.obj
	}
	e.prevAtRevOnce.Do(func() {
		obj := e.prev.obj.DeepCopyObject()
		if err := setResourceVersion(obj, e.rev); err == nil {
			e.prevAtRev = obj
		} else {
			e.prevAtRev = e.prev.obj
		}
	})
	return e.prevAtRev
}

// newEntry decodes an etcd value into a cache entry.
func (r *Resource) newEntry(key string, data []byte, rev int64) (*entry, error) {
	obj, err := r.decode(data, rev)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	l, f := r.attributes(obj)
	return &entry{key: key, obj: obj, data: data, rev: rev, labels: l, fields: f}, nil
}

func (r *Resource) decode(data []byte, rev int64) (runtime.Object, error) {
	obj, err := r.s.codec.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("storage: decode: %w", err)
	}
	if err := setResourceVersion(obj, rev); err != nil {
		return nil, err
	}
	return obj, nil
}

// attributes returns obj's labels and fields; an object whose attributes
// cannot be computed matches only empty predicates.
func (r *Resource) attributes(obj runtime.Object) (labels.Set, fields.Set) {
	l, f, err := r.attrs(obj)
	if err != nil {
		r.log.Error("storage: object attributes", "err", err)
		return labels.Set{}, fields.Set{}
	}
	return l, f
}

// relist replaces the cache with a fresh list of etcd, ending every watcher
// (they cannot continue across the gap).
func (r *Resource) relist(ctx context.Context) error {
	objects := make(map[string]*entry)
	key, end := r.prefix, clientv3.GetPrefixRangeEnd(r.prefix)
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listChunk)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		start := time.Now()
		resp, err := r.s.client.Get(ctx, key, opts...)
		observe(r.m.list, start)
		if err != nil {
			return fmt.Errorf("storage: list %s: %w", r.prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			e, err := r.newEntry(string(kv.Key), kv.Value, kv.ModRevision)
			if err != nil {
				r.log.Error("storage: skipping undecodable object", "err", err)
				continue
			}
			objects[e.key] = e
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}

	r.mu.Lock()
	r.objects = objects
	for i := range r.ring {
		r.ring[i] = nil
	}
	r.ringStart, r.ringLen = 0, 0
	r.evictedRev = rev
	r.setRevLocked(rev)
	watchers := *r.watchers.Load()
	r.mu.Unlock()

	for _, w := range watchers {
		w.terminate()
	}
	return nil
}

func (r *Resource) setRevLocked(rev int64) {
	if rev > r.rev {
		r.rev = rev
		close(r.revCh)
		r.revCh = make(chan struct{})
	}
}

// run feeds the cache from one etcd watch until ctx ends, resuming the watch
// after errors and relisting when it was compacted.
func (r *Resource) run(ctx context.Context) {
	defer r.terminateAll()
	ticker := time.NewTicker(r.s.bookmarkInterval)
	defer ticker.Stop()
	backoff := 100 * time.Millisecond
	for {
		err := r.watchOnce(ctx, ticker.C)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, rpctypes.ErrCompacted) {
			r.log.Warn("storage: etcd watch compacted, relisting", "rev", r.rev)
			for {
				err := r.relist(ctx)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return
				}
				r.log.Error("storage: relist failed", "err", err)
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(backoff*2, 5*time.Second)
			}
			continue
		}
		r.log.Warn("storage: etcd watch ended, resuming", "rev", r.rev, "err", err)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var errWatchClosed = errors.New("storage: etcd watch channel closed")

// watchOnce runs one etcd watch from the cache's revision until it fails.
func (r *Resource) watchOnce(ctx context.Context, bookmarks <-chan time.Time) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := r.s.client.Watch(wctx, r.prefix, clientv3.WithPrefix(), clientv3.WithPrevKV(),
		clientv3.WithProgressNotify(), clientv3.WithRev(r.rev+1))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-bookmarks:
			r.sendBookmarks()
		case resp, ok := <-wch:
			if !ok {
				return errWatchClosed
			}
			if err := resp.Err(); err != nil {
				return err
			}
			if resp.IsProgressNotify() {
				r.mu.Lock()
				r.setRevLocked(resp.Header.Revision)
				r.mu.Unlock()
				continue
			}
			if len(resp.Events) > 0 {
				r.apply(resp.Events)
			}
		}
	}
}

// apply adds etcd events to the cache and dispatches them to watchers.
// Objects are decoded here, once, and shared by every watcher.
func (r *Resource) apply(etcdEvents []*clientv3.Event) {
	events := make([]*event, 0, len(etcdEvents))
	// Only this goroutine writes r.objects, so reading it unlocked is safe;
	// pending tracks this batch's own changes.
	pending := make(map[string]*entry, len(etcdEvents))
	lookup := func(key string) *entry {
		if e, ok := pending[key]; ok {
			return e
		}
		return r.objects[key]
	}
	maxRev := int64(0)
	for _, ee := range etcdEvents {
		key := string(ee.Kv.Key)
		rev := ee.Kv.ModRevision
		maxRev = max(maxRev, rev)
		prev := lookup(key)
		if prev == nil {
			prev = r.prevEntry(ee)
		}
		ev, ok := r.toEvent(ee, prev)
		switch {
		case ee.Type == mvccpb.DELETE:
			pending[key] = nil
		case ok:
			pending[key] = ev.cur
		}
		if ok {
			events = append(events, ev)
		}
	}

	r.mu.Lock()
	for _, ev := range events {
		if ev.typ == watch.Deleted {
			delete(r.objects, ev.key)
		} else {
			r.objects[ev.key] = ev.cur
		}
		r.push(ev)
	}
	for key, e := range pending {
		if e == nil {
			delete(r.objects, key)
		}
	}
	r.setRevLocked(maxRev)
	watchers := *r.watchers.Load()
	r.mu.Unlock()

	r.m.addEvents(len(events))
	r.dispatch(watchers, events)
}

// push appends ev to the ring, evicting the oldest event when full.
func (r *Resource) push(ev *event) {
	n := len(r.ring)
	if r.ringLen == n {
		r.evictedRev = r.ring[r.ringStart].rev
		r.ring[r.ringStart] = ev
		r.ringStart = (r.ringStart + 1) % n
		return
	}
	r.ring[(r.ringStart+r.ringLen)%n] = ev
	r.ringLen++
}

// eventsAfterLocked returns the ring's events with a revision above rev.
func (r *Resource) eventsAfterLocked(rev int64) []*event {
	n := len(r.ring)
	i := sort.Search(r.ringLen, func(i int) bool { return r.ring[(r.ringStart+i)%n].rev > rev })
	out := make([]*event, 0, r.ringLen-i)
	for ; i < r.ringLen; i++ {
		out = append(out, r.ring[(r.ringStart+i)%n])
	}
	return out
}

// cacheRev returns the cache's revision.
func (r *Resource) noteWrite(rev int64) {
	for {
		cur := r.lastWrite.Load()
		if rev <= cur || r.lastWrite.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// WaitWrites waits until the cache reflects every write made through
// this Resource: a read from the cache then sees this server's own writes
// (an admission plugin reading a LimitRange created a moment ago).
func (r *Resource) WaitWrites(ctx context.Context) error {
	w := r.lastWrite.Load()
	if w == 0 || r.cacheRev() >= w {
		return nil
	}
	return r.waitRev(ctx, w, true)
}

func (r *Resource) cacheRev() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.rev
}

// waitRev waits until the cache reached rev, asking etcd for progress
// notifications while it waits; ErrTimeout after waitTimeout.
func (r *Resource) waitRev(ctx context.Context, rev int64, askNow bool) error {
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	retry := time.NewTicker(progressRetry)
	defer retry.Stop()
	asked := false
	for {
		r.mu.RLock()
		cur, ch := r.rev, r.revCh
		r.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		if askNow && !asked {
			r.requestProgress()
			asked = true
		}
		select {
		case <-ch:
		case <-retry.C:
			r.requestProgress()
		case <-timeout.C:
			return fmt.Errorf("%w: %d (cache of %s at %d)", ErrTimeout, rev, r.prefix, cur)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitFresh waits until the cache reflects etcd's current revision, making
// a cached read consistent (Kubernetes' ConsistentListFromCache).
func (r *Resource) waitFresh(ctx context.Context) error {
	start := time.Now()
	resp, err := r.s.client.Get(ctx, revisionProbeKey, clientv3.WithCountOnly())
	observe(r.m.progress, start)
	if err != nil {
		return fmt.Errorf("storage: current revision: %w", err)
	}
	return r.waitRev(ctx, resp.Header.Revision, true)
}

func (r *Resource) requestProgress() {
	select {
	case r.progress <- struct{}{}:
	default:
	}
}

// progressLoop sends the progress requests of waiting reads, coalesced, on
// the watch's own gRPC stream (same context metadata as the watch).
func (r *Resource) progressLoop(ctx context.Context) {
	pctx := clientv3.WithRequireLeader(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.progress:
		}
		if err := r.s.client.RequestProgress(pctx); err != nil && ctx.Err() == nil {
			r.log.Debug("storage: etcd progress request", "err", err)
		}
	}
}

// checkKey rejects keys outside the resource.
func (r *Resource) checkKey(key string) error {
	if len(key) <= len(r.prefix) || !strings.HasPrefix(key, r.prefix) {
		return fmt.Errorf("storage: key %q is not under %q", key, r.prefix)
	}
	return nil
}

// checkPrefix normalises a list or watch prefix and rejects one outside the
// resource.
func (r *Resource) checkPrefix(keyPrefix string) (string, error) {
	if !strings.HasSuffix(keyPrefix, "/") {
		keyPrefix += "/"
	}
	if !strings.HasPrefix(keyPrefix, r.prefix) {
		return "", fmt.Errorf("storage: prefix %q is not under %q", keyPrefix, r.prefix)
	}
	return keyPrefix, nil
}
