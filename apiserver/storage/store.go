package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Options configure a Store.
type Options struct {
	Logger           *slog.Logger          // nil = slog.Default()
	Registerer       prometheus.Registerer // nil = no metrics
	WatchCacheSize   int                   // events kept per resource in the watch cache ring; default 10000
	BookmarkInterval time.Duration         // periodic bookmarks to watchers that allow them; default 1m
}

const (
	defaultWatchCacheSize   = 10000
	defaultBookmarkInterval = time.Minute
	// revisionProbeKey is read (it never exists) to learn etcd's current revision.
	revisionProbeKey = "/registry/"
)

// Store is cairn's etcd-backed object store. It is safe for concurrent use.
type Store struct {
	client           *clientv3.Client
	codec            Codec
	log              *slog.Logger
	metrics          *metrics
	cacheSize        int
	bookmarkInterval time.Duration
}

// New returns a Store using client for etcd and codec for object bytes.
func New(client *clientv3.Client, codec Codec, opts Options) *Store {
	s := &Store{
		client:           client,
		codec:            codec,
		log:              opts.Logger,
		metrics:          newMetrics(opts.Registerer),
		cacheSize:        opts.WatchCacheSize,
		bookmarkInterval: opts.BookmarkInterval,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.cacheSize <= 0 {
		s.cacheSize = defaultWatchCacheSize
	}
	if s.bookmarkInterval <= 0 {
		s.bookmarkInterval = defaultBookmarkInterval
	}
	return s
}

// Open starts serving the resource stored under prefix (e.g.
// "/registry/pods/"): it lists the prefix and starts one etcd watch feeding
// the resource's watch cache, and returns once the cache is initialised. The
// cache runs until ctx ends; watches served from it end then too.
//
// newFunc returns an empty object of the resource's type (used for
// bookmarks). attrs returns an object's labels and selectable fields; nil uses
// metadata.labels, metadata.name and metadata.namespace.
func (s *Store) Open(ctx context.Context, prefix string, newFunc func() runtime.Object, attrs AttrFunc) (*Resource, error) {
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") || len(prefix) < 2 {
		return nil, fmt.Errorf("storage: resource prefix %q must start and end with /", prefix)
	}
	if newFunc == nil {
		return nil, errors.New("storage: Open needs a newFunc")
	}
	if attrs == nil {
		attrs = defaultAttrs
	}
	name := strings.Trim(strings.TrimPrefix(prefix, "/registry/"), "/")
	r := &Resource{
		s:        s,
		prefix:   prefix,
		name:     name,
		newFunc:  newFunc,
		attrs:    attrs,
		log:      s.log.With("resource", name),
		m:        s.metrics.forResource(name),
		ctx:      ctx,
		revCh:    make(chan struct{}),
		ring:     make([]*event, s.cacheSize),
		progress: make(chan struct{}, 1),
	}
	r.watchers.Store(&[]*watcher{})
	if err := r.relist(ctx); err != nil {
		return nil, err
	}
	go r.run(ctx)
	go r.progressLoop(ctx)
	return r, nil
}

// CurrentRevision returns etcd's current revision (a linearizable read).
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	start := time.Now()
	resp, err := s.client.Get(ctx, revisionProbeKey, clientv3.WithCountOnly())
	s.metrics.observeStore("current_revision", start)
	if err != nil {
		return 0, fmt.Errorf("storage: current revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// Keys returns the keys under prefix, without values.
func (s *Store) Keys(ctx context.Context, prefix string) ([]string, error) {
	start := time.Now()
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	s.metrics.observeStore("keys", start)
	if err != nil {
		return nil, fmt.Errorf("storage: keys %s: %w", prefix, err)
	}
	keys := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		keys[i] = string(kv.Key)
	}
	return keys, nil
}

// defaultAttrs is the AttrFunc used when Open gets nil: metadata.labels as
// labels, metadata.name and metadata.namespace as fields.
func defaultAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, err
	}
	f := fields.Set{"metadata.name": acc.GetName()}
	if ns := acc.GetNamespace(); ns != "" {
		f["metadata.namespace"] = ns
	}
	return labels.Set(acc.GetLabels()), f, nil
}

// empty reports whether the predicate matches everything.
func (p Predicate) empty() bool {
	return (p.Label == nil || p.Label.Empty()) && (p.Field == nil || p.Field.Empty())
}

func (p Predicate) matches(l labels.Set, f fields.Set) bool {
	if p.Label != nil && !p.Label.Empty() && !p.Label.Matches(l) {
		return false
	}
	if p.Field != nil && !p.Field.Empty() && !p.Field.Matches(f) {
		return false
	}
	return true
}

func setResourceVersion(obj runtime.Object, rev int64) error {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

// parseResourceVersion parses a non-empty resourceVersion.
func parseResourceVersion(rv string) (int64, error) {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %q", ErrInvalidResourceVersion, rv)
	}
	return n, nil
}

// bookmark returns a BOOKMARK event at rev.
func (r *Resource) bookmark(rev int64, initialEventsEnd bool) (watch.Event, error) {
	obj := r.newFunc()
	acc, err := meta.Accessor(obj)
	if err != nil {
		return watch.Event{}, fmt.Errorf("storage: bookmark object: %w", err)
	}
	acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	if initialEventsEnd {
		acc.SetAnnotations(map[string]string{"k8s.io/initial-events-end": "true"})
	}
	return watch.Event{Type: watch.Bookmark, Object: obj}, nil
}
