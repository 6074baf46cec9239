package apiserver

import (
	"context"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cairn-dev/cairn/apiserver/storage"
)

// follower keeps a consumer in step with every object of one resource
// through the server's own watch cache: upsert for each added or changed
// object, remove for each deleted one, and after a re-watch, remove for
// objects that vanished meanwhile. synced is closed once the consumer has
// seen every object that existed when following began; changed (if set)
// runs after each batch of changes, once the initial state is in.
type follower struct {
	res     *Resource
	st      *storage.Resource
	upsert  func(runtime.Object)
	remove  func(runtime.Object)
	changed func()
}

func (f *follower) run(ctx context.Context, log *slog.Logger, synced chan struct{}) {
	known := map[string]runtime.Object{}
	first := true
	yes := true
	for ctx.Err() == nil {
		w, err := f.st.Watch(ctx, f.res.Prefix(), storage.WatchOptions{SendInitialEvents: &yes, AllowBookmarks: true})
		if err != nil {
			log.Warn("follow: watch", "resource", f.res.Resource, "err", err)
			time.Sleep(time.Second)
			continue
		}
		seen := map[string]bool{}
		initial := true
		for ev := range w.ResultChan() {
			m, err := meta.Accessor(ev.Object)
			if err != nil {
				continue
			}
			key := m.GetNamespace() + "/" + m.GetName()
			switch ev.Type {
			case watch.Added, watch.Modified:
				f.upsert(ev.Object)
				known[key] = ev.Object
				seen[key] = true
			case watch.Deleted:
				f.remove(ev.Object)
				delete(known, key)
			case watch.Bookmark:
				if !initial || m.GetAnnotations()["k8s.io/initial-events-end"] != "true" {
					continue
				}
				initial = false
				for k, obj := range known {
					if !seen[k] {
						f.remove(obj)
						delete(known, k)
					}
				}
				if first {
					first = false
					close(synced)
				}
			}
			if !initial && f.changed != nil {
				f.changed()
			}
		}
		w.Stop()
	}
}

// follow starts following a resource and waits until the consumer saw
// every existing object.
func (s *Server) follow(ctx context.Context, f *follower) error {
	f.st = s.stores[f.res]
	synced := make(chan struct{})
	go f.run(ctx, s.log, synced)
	select {
	case <-synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
