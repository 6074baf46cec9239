package storage

import (
	"context"
	"net/http"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// watchHistory serves a watch that starts before the watch cache's window
// (a client resuming after a server restart, or one that fell far behind)
// from etcd's own history, for as long as etcd has not compacted it. Only
// compaction makes a resourceVersion Gone: a client that reconnects with the
// last resourceVersion it saw loses no event and needs no relist.
//
// The watcher has its own etcd watch for its whole life; this path is for
// the few clients outside the window, the cache serves everyone else.
func (r *Resource) watchHistory(ctx context.Context, keyPrefix string, fromRev int64, opts WatchOptions) (watch.Interface, error) {
	// A read at fromRev fails with ErrCompacted when the history is gone.
	if _, err := r.s.client.Get(ctx, keyPrefix, clientv3.WithRev(fromRev), clientv3.WithLimit(1), clientv3.WithKeysOnly()); err != nil {
		return nil, etcdErr(err, fromRev)
	}
	hctx, cancel := context.WithCancel(ctx)
	h := &historyWatcher{cancel: cancel, result: make(chan watch.Event, watcherBuffer)}
	conv := &watcher{r: r, prefix: keyPrefix, pred: opts.Predicate, predEmpty: opts.Predicate.empty()}
	wch := r.s.client.Watch(clientv3.WithRequireLeader(hctx), keyPrefix, clientv3.WithPrefix(),
		clientv3.WithPrevKV(), clientv3.WithProgressNotify(), clientv3.WithRev(fromRev+1))
	r.m.addWatchers(1)
	go func() {
		defer r.m.addWatchers(-1)
		defer close(h.result)
		send := func(ev watch.Event) bool {
			select {
			case h.result <- ev:
				return true
			case <-hctx.Done():
				return false
			}
		}
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if hctx.Err() == nil {
					send(watch.Event{Type: watch.Error, Object: goneStatus(etcdErr(err, fromRev))})
				}
				return
			}
			if resp.IsProgressNotify() {
				if opts.AllowBookmarks {
					if bm, err := r.bookmark(resp.Header.Revision, false); err == nil && !send(bm) {
						return
					}
				}
				continue
			}
			for _, ee := range resp.Events {
				ev, ok := r.historyEvent(ee)
				if !ok {
					continue
				}
				if out, ok := conv.convert(ev); ok && !send(out) {
					return
				}
			}
		}
	}()
	return h, nil
}

// historyEvent turns one etcd event into a cache-style event, decoding the
// previous value etcd sends along (WithPrevKV).
func (r *Resource) historyEvent(ee *clientv3.Event) (*event, bool) {
	return r.toEvent(ee, r.prevEntry(ee))
}

// prevEntry decodes the previous value etcd sent with an event, if any.
func (r *Resource) prevEntry(ee *clientv3.Event) *entry {
	if ee.PrevKv == nil {
		return nil
	}
	p, err := r.newEntry(string(ee.Kv.Key), ee.PrevKv.Value, ee.PrevKv.ModRevision)
	if err != nil {
		return nil
	}
	return p
}

// toEvent turns an etcd event and the key's previous state into an event:
// ADDED or MODIFIED with the decoded value, or DELETED carrying the last
// state at the deletion's revision. false when there is nothing to send
// (an undecodable value, a delete of a key never seen).
func (r *Resource) toEvent(ee *clientv3.Event, prev *entry) (*event, bool) {
	key, rev := string(ee.Kv.Key), ee.Kv.ModRevision
	switch ee.Type {
	case mvccpb.PUT:
		cur, err := r.newEntry(key, ee.Kv.Value, rev)
		if err != nil {
			r.log.Error("storage: dropping undecodable object", "err", err)
			return nil, false
		}
		if prev != nil && !ee.IsCreate() {
			return &event{typ: watch.Modified, key: key, rev: rev, cur: cur, prev: prev}, true
		}
		return &event{typ: watch.Added, key: key, rev: rev, cur: cur}, true
	case mvccpb.DELETE:
		if prev == nil {
			return nil, false
		}
		obj := prev.obj.DeepCopyObject()
		if err := setResourceVersion(obj, rev); err != nil {
			r.log.Error("storage: deleted object", "key", key, "err", err)
			return nil, false
		}
		cur := &entry{key: key, obj: obj, rev: rev, labels: prev.labels, fields: prev.fields}
		return &event{typ: watch.Deleted, key: key, rev: rev, cur: cur, prev: prev}, true
	}
	return nil, false
}

// goneStatus is the watch.Error object for a history that went away.
func goneStatus(err error) *metav1.Status {
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
		Code: http.StatusGone, Reason: metav1.StatusReasonExpired, Message: err.Error()}
}

// historyWatcher is a watch.Interface over one etcd watch.
type historyWatcher struct {
	once   sync.Once
	cancel context.CancelFunc
	result chan watch.Event
}

func (h *historyWatcher) Stop()                          { h.once.Do(h.cancel) }
func (h *historyWatcher) ResultChan() <-chan watch.Event { return h.result }
