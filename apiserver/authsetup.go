package apiserver

import (
	"context"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cairn-dev/cairn/apiserver/auth"
	"github.com/cairn-dev/cairn/apiserver/storage"
)

// setupAuth loads (or creates) the CA, the static tokens and starts feeding
// the RBAC authorizer from the store's watch of the four RBAC resources. It
// returns once the authorizer has seen every existing RBAC object.
func (s *Server) setupAuth(ctx context.Context) error {
	ca, err := auth.LoadOrCreateCA(filepath.Join(s.cfg.DataDir, "pki"))
	if err != nil {
		return err
	}
	s.ca = ca
	tokens := map[string]auth.User{}
	if s.cfg.TokenAuthFile != "" {
		if tokens, err = auth.LoadTokenFile(s.cfg.TokenAuthFile); err != nil {
			return err
		}
	}
	s.authn = auth.NewAuthenticator(tokens, ca.Pool())
	s.authz = auth.NewRBAC()
	for _, name := range []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"} {
		res := s.reg.lookup("rbac.authorization.k8s.io", "v1", name)
		synced := make(chan struct{})
		go s.feedRBAC(ctx, s.stores[res], res, synced)
		select {
		case <-synced:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// feedRBAC keeps the authorizer in step with one RBAC resource, re-watching
// (and dropping objects that vanished meanwhile) when a watch ends.
func (s *Server) feedRBAC(ctx context.Context, st *storage.Resource, res *Resource, synced chan struct{}) {
	known := map[string]runtime.Object{}
	first := true
	yes := true
	for ctx.Err() == nil {
		w, err := st.Watch(ctx, res.Prefix(), storage.WatchOptions{SendInitialEvents: &yes, AllowBookmarks: true})
		if err != nil {
			s.log.Warn("rbac watch", "resource", res.Resource, "err", err)
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
				s.authz.Upsert(ev.Object)
				known[key] = ev.Object
				seen[key] = true
			case watch.Deleted:
				s.authz.Remove(ev.Object)
				delete(known, key)
			case watch.Bookmark:
				if initial && m.GetAnnotations()["k8s.io/initial-events-end"] == "true" {
					initial = false
					for k, obj := range known {
						if !seen[k] {
							s.authz.Remove(obj)
							delete(known, k)
						}
					}
					if first {
						first = false
						close(synced)
					}
				}
			}
		}
		w.Stop()
	}
}
