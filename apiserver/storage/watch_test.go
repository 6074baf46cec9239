package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// seen is a watch event reduced to what the tests compare.
type seen struct {
	typ  watch.EventType
	name string
	rv   int64
}

func (s seen) String() string { return fmt.Sprintf("%s %s@%d", s.typ, s.name, s.rv) }

func reduce(t testing.TB, ev watch.Event) seen {
	t.Helper()
	return seen{typ: ev.Type, name: nameOf(ev.Object), rv: rvOf(t, ev.Object)}
}

// next returns the watch's next event, failing after a timeout.
func next(t testing.TB, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return watch.Event{}
}

// expect reads len(want) events and compares them.
func expect(t testing.TB, w watch.Interface, want ...seen) {
	t.Helper()
	for i, wnt := range want {
		if got := reduce(t, next(t, w)); got != wnt {
			t.Fatalf("event %d = %v, want %v", i, got, wnt)
		}
	}
}

// expectNone checks no event arrives for a moment.
func expectNone(t testing.TB, w watch.Interface) {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if ok {
			t.Fatalf("unexpected event %v", reduce(t, ev))
		}
		t.Fatal("watch closed")
	case <-time.After(100 * time.Millisecond):
	}
}

func update(t testing.TB, env *testEnv, ns, name string, mutate func(*corev1.ConfigMap)) int64 {
	t.Helper()
	out, err := env.cms.GuaranteedUpdate(env.ctx, cmKey(ns, name), func(cur runtime.Object) (Update, error) {
		c := cur.(*corev1.ConfigMap)
		mutate(c)
		return Update{Object: c}, nil
	})
	if err != nil {
		t.Fatalf("update %s/%s: %v", ns, name, err)
	}
	return rvOf(t, out)
}

func del(t testing.TB, env *testEnv, ns, name string) int64 {
	t.Helper()
	out, err := env.cms.Delete(env.ctx, cmKey(ns, name), DeleteOptions{})
	if err != nil {
		t.Fatalf("delete %s/%s: %v", ns, name, err)
	}
	return rvOf(t, out)
}

func TestWatchReplayFromResourceVersion(t *testing.T) {
	env := newEnv(t, Options{})
	a := rvOf(t, env.mustCreate(t, cm("default", "a", nil, nil)))
	b := rvOf(t, env.mustCreate(t, cm("default", "b", nil, nil)))
	ua := update(t, env, "default", "a", func(c *corev1.ConfigMap) { c.Data = map[string]string{"x": "y"} })
	other := rvOf(t, env.mustCreate(t, cm("other", "c", nil, nil)))
	db := del(t, env, "default", "b")

	tests := []struct {
		name   string
		prefix string
		rv     int64
		want   []seen
	}{
		{"after first create", "/registry/configmaps/", a, []seen{
			{watch.Added, "b", b}, {watch.Modified, "a", ua}, {watch.Added, "c", other}, {watch.Deleted, "b", db}}},
		{"after update", "/registry/configmaps/", ua, []seen{{watch.Added, "c", other}, {watch.Deleted, "b", db}}},
		{"one namespace", "/registry/configmaps/default/", a, []seen{
			{watch.Added, "b", b}, {watch.Modified, "a", ua}, {watch.Deleted, "b", db}}},
		{"at the newest revision", "/registry/configmaps/", db, nil},
	}
	parent := t
	opened := make([]watch.Interface, len(tests))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := env.cms.Watch(env.ctx, tt.prefix, WatchOptions{ResourceVersion: strconv.FormatInt(tt.rv, 10)})
			if err != nil {
				t.Fatal(err)
			}
			parent.Cleanup(w.Stop)
			expect(t, w, tt.want...)
			expectNone(t, w)
			opened[i] = w
		})
	}
	// Then live events follow.
	live := rvOf(t, env.mustCreate(t, cm("default", "live", nil, nil)))
	for _, w := range opened {
		if w != nil {
			expect(t, w, seen{watch.Added, "live", live})
		}
	}

	t.Run("deleted object carries last state", func(t *testing.T) {
		w, err := env.cms.Watch(t.Context(), "/registry/configmaps/default/", WatchOptions{ResourceVersion: strconv.FormatInt(ua, 10)})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		ev := next(t, w)
		if ev.Type != watch.Deleted || nameOf(ev.Object) != "b" || rvOf(t, ev.Object) != db || ev.Object.(*corev1.ConfigMap).Namespace != "default" {
			t.Fatalf("event = %v %+v", ev.Type, ev.Object)
		}
	})
}

func TestWatchInitialEvents(t *testing.T) {
	env := newEnv(t, Options{})
	env.mustCreate(t, cm("default", "b", nil, nil))
	env.mustCreate(t, cm("default", "a", nil, nil))
	last := rvOf(t, env.mustCreate(t, cm("kube-system", "c", nil, nil)))
	yes, no := true, false

	tests := []struct {
		name    string
		opts    WatchOptions
		added   []string
		endMark bool
	}{
		{"rv unset", WatchOptions{}, []string{"a", "b", "c"}, false},
		{"rv 0", WatchOptions{ResourceVersion: "0"}, []string{"a", "b", "c"}, false},
		{"send initial events", WatchOptions{SendInitialEvents: &yes, AllowBookmarks: true}, []string{"a", "b", "c"}, true},
		{"send initial events from rv", WatchOptions{ResourceVersion: strconv.FormatInt(last, 10), SendInitialEvents: &yes, AllowBookmarks: true}, []string{"a", "b", "c"}, true},
		{"no initial events", WatchOptions{SendInitialEvents: &no}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := env.cms.Watch(t.Context(), "/registry/configmaps/", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			for _, name := range tt.added {
				ev := next(t, w)
				if ev.Type != watch.Added || nameOf(ev.Object) != name {
					t.Fatalf("got %v %s, want ADDED %s", ev.Type, nameOf(ev.Object), name)
				}
			}
			if tt.endMark {
				ev := next(t, w)
				acc, _ := meta.Accessor(ev.Object)
				if ev.Type != watch.Bookmark || acc.GetAnnotations()["k8s.io/initial-events-end"] != "true" || rvOf(t, ev.Object) < last {
					t.Fatalf("got %v %+v, want the initial-events-end bookmark", ev.Type, ev.Object)
				}
				if _, ok := ev.Object.(*corev1.ConfigMap); !ok {
					t.Fatalf("bookmark object is %T", ev.Object)
				}
			}
			name := "new-" + strconv.Itoa(len(tt.name))
			rv := rvOf(t, env.mustCreate(t, cm("default", name, nil, nil)))
			expect(t, w, seen{watch.Added, name, rv})
			// Let the cache see the delete before the next case's snapshot.
			if err := env.cms.waitRev(t.Context(), del(t, env, "default", name), false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestWatchLabelSelectorTransitions(t *testing.T) {
	env := newEnv(t, Options{})
	start := rvOf(t, env.mustCreate(t, cm("default", "x", map[string]string{"app": "web"}, nil)))
	sel := Predicate{Label: labels.SelectorFromSet(labels.Set{"app": "web"})}

	w, err := env.cms.Watch(t.Context(), "/registry/configmaps/", WatchOptions{ResourceVersion: strconv.FormatInt(start, 10), Predicate: sel})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	setApp := func(v string) func(*corev1.ConfigMap) {
		return func(c *corev1.ConfigMap) { c.Labels = map[string]string{"app": v} }
	}
	r1 := update(t, env, "default", "x", setApp("db")) // leaves the selection
	ev := next(t, w)
	if ev.Type != watch.Deleted || rvOf(t, ev.Object) != r1 || ev.Object.(*corev1.ConfigMap).Labels["app"] != "web" {
		t.Fatalf("leaving selection: %v %+v; want DELETED with the previous state at %d", ev.Type, ev.Object, r1)
	}
	update(t, env, "default", "x", func(c *corev1.ConfigMap) { c.Data = map[string]string{"a": "b"} }) // still out
	expectNone(t, w)
	r3 := update(t, env, "default", "x", setApp("web")) // enters
	expect(t, w, seen{watch.Added, "x", r3})
	r4 := update(t, env, "default", "x", func(c *corev1.ConfigMap) { c.Data = map[string]string{"a": "c"} }) // stays in
	expect(t, w, seen{watch.Modified, "x", r4})
	env.mustCreate(t, cm("default", "y", map[string]string{"app": "db"}, nil)) // never in
	r5 := del(t, env, "default", "x")
	expect(t, w, seen{watch.Deleted, "x", r5})
	del(t, env, "default", "y")
	expectNone(t, w)

	// Field selectors work the same way.
	fw, err := env.cms.Watch(t.Context(), "/registry/configmaps/", WatchOptions{
		ResourceVersion: strconv.FormatInt(start, 10),
		Predicate:       Predicate{Field: mustFieldSelector(t, "metadata.name=y")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Stop()
	ev = next(t, fw)
	if ev.Type != watch.Added || nameOf(ev.Object) != "y" {
		t.Fatalf("field-selected watch: %v %s", ev.Type, nameOf(ev.Object))
	}
}

// TestWatchOutsideRing: a watch from before the ring is served from etcd's
// history with every event in order (with selector transitions and
// deletions); only once etcd compacted that history is it Gone.
func TestWatchOutsideRing(t *testing.T) {
	env := newEnv(t, Options{WatchCacheSize: 10})
	first := rvOf(t, env.mustCreate(t, cm("default", "first", map[string]string{"app": "web"}, nil)))
	var last int64
	for i := range 15 {
		last = rvOf(t, env.mustCreate(t, cm("default", "c"+strconv.Itoa(i), nil, nil)))
	}
	update(t, env, "default", "first", func(c *corev1.ConfigMap) { c.Labels = map[string]string{"app": "db"} })
	last = del(t, env, "default", "c0")
	if err := env.cms.waitRev(t.Context(), last, false); err != nil {
		t.Fatal(err)
	}
	w, err := env.cms.Watch(t.Context(), "/registry/configmaps/", WatchOptions{ResourceVersion: strconv.FormatInt(first, 10)})
	if err != nil {
		t.Fatalf("watch from %d, outside the ring: %v", first, err)
	}
	for i := range 15 {
		if ev := next(t, w); ev.Type != watch.Added || nameOf(ev.Object) != "c"+strconv.Itoa(i) {
			t.Fatalf("history event %d: %v %s", i, ev.Type, nameOf(ev.Object))
		}
	}
	if ev := next(t, w); ev.Type != watch.Modified || nameOf(ev.Object) != "first" {
		t.Fatalf("history: want MODIFIED first, got %v %s", ev.Type, nameOf(ev.Object))
	}
	if ev := next(t, w); ev.Type != watch.Deleted || nameOf(ev.Object) != "c0" || rvOf(t, ev.Object) != last {
		t.Fatalf("history: want DELETED c0 at %d, got %v %s", last, ev.Type, nameOf(ev.Object))
	}
	// it keeps following live changes
	live := rvOf(t, env.mustCreate(t, cm("default", "live", nil, nil)))
	if ev := next(t, w); ev.Type != watch.Added || rvOf(t, ev.Object) != live {
		t.Fatalf("history watch after catching up: %v %s", ev.Type, nameOf(ev.Object))
	}
	w.Stop()

	// label-selected: "first" leaving app=web is a DELETED for this watcher
	sel, err := env.cms.Watch(t.Context(), "/registry/configmaps/", WatchOptions{ResourceVersion: strconv.FormatInt(first, 10),
		Predicate: Predicate{Label: mustLabelSelector(t, "app=web")}})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, sel); ev.Type != watch.Deleted || nameOf(ev.Object) != "first" {
		t.Fatalf("selected history watch: want DELETED first, got %v %s", ev.Type, nameOf(ev.Object))
	}
	sel.Stop()

	// The ring still serves its own window.
	rw, err := env.cms.Watch(t.Context(), "/registry/configmaps/", WatchOptions{ResourceVersion: strconv.FormatInt(live-1, 10)})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, rw); rvOf(t, ev.Object) != live {
		t.Fatalf("ring watch: %v", ev)
	}
	rw.Stop()

	// Compacted history is Gone.
	if err := env.store.Compact(t.Context(), last); err != nil {
		t.Fatal(err)
	}
	if _, err := env.cms.Watch(t.Context(), "/registry/configmaps/", WatchOptions{ResourceVersion: strconv.FormatInt(first, 10)}); !errors.Is(err, ErrGone) {
		t.Fatalf("watch from %d after compaction to %d: %v, want ErrGone", first, last, err)
	}
}

func TestWatchSlowWatcherClosed(t *testing.T) {
	env := newEnv(t, Options{})
	slow, err := env.cms.Watch(t.Context(), "/registry/configmaps/", WatchOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	fast, err := env.cms.Watch(t.Context(), "/registry/configmaps/", WatchOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()

	n := watcherBuffer + 200
	got := make(chan int)
	go func() {
		count := 0
		for range fast.ResultChan() {
			if count++; count == n {
				break
			}
		}
		got <- count
	}()
	env.createMany(t, "default", "cm", n)
	select {
	case c := <-got:
		if c != n {
			t.Fatalf("fast watcher got %d events, want %d", c, n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("fast watcher stalled")
	}
	// The slow watcher got a prefix of the stream, then was closed.
	count := 0
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-slow.ResultChan():
			if !ok {
				if count >= n {
					t.Fatalf("slow watcher got all %d events", count)
				}
				return
			}
			count++
		case <-timeout:
			t.Fatalf("slow watcher not closed after %d events", count)
		}
	}
}

func TestWatchBookmarksAndStop(t *testing.T) {
	env := newEnv(t, Options{BookmarkInterval: 50 * time.Millisecond})
	rv := rvOf(t, env.mustCreate(t, cm("default", "a", nil, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	w, err := env.cms.Watch(ctx, "/registry/configmaps/", WatchOptions{ResourceVersion: strconv.FormatInt(rv, 10), AllowBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	noBookmarks, err := env.cms.Watch(t.Context(), "/registry/configmaps/", WatchOptions{ResourceVersion: strconv.FormatInt(rv, 10)})
	if err != nil {
		t.Fatal(err)
	}
	ev := next(t, w)
	if ev.Type != watch.Bookmark || rvOf(t, ev.Object) < rv {
		t.Fatalf("got %v at %d, want a bookmark at ≥ %d", ev.Type, rvOf(t, ev.Object), rv)
	}
	expectNone(t, noBookmarks)
	if got := len(*env.cms.watchers.Load()); got != 2 {
		t.Fatalf("%d watchers registered, want 2", got)
	}

	cancel() // ending the context ends the watch
	drainClosed(t, w)
	noBookmarks.Stop()
	noBookmarks.Stop() // idempotent
	drainClosed(t, noBookmarks)
	if got := len(*env.cms.watchers.Load()); got != 0 {
		t.Fatalf("%d watchers still registered", got)
	}
}

func drainClosed(t testing.TB, w watch.Interface) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("watch not closed")
		}
	}
}

func TestWatchManyWatchersConcurrentWrites(t *testing.T) {
	env := newEnv(t, Options{})
	const watchers, writes = 50, 200
	ws := make([]watch.Interface, watchers)
	for i := range ws {
		var err error
		if ws[i], err = env.cms.Watch(t.Context(), "/registry/configmaps/", WatchOptions{ResourceVersion: "0"}); err != nil {
			t.Fatal(err)
		}
		defer ws[i].Stop()
	}
	var wg sync.WaitGroup
	errs := make(chan error, watchers)
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last int64
			for range writes {
				select {
				case ev := <-w.ResultChan():
					rv, _ := strconv.ParseInt(ev.Object.(*corev1.ConfigMap).ResourceVersion, 10, 64)
					if rv <= last {
						errs <- fmt.Errorf("event at %d after %d", rv, last)
						return
					}
					last = rv
				case <-time.After(10 * time.Second):
					errs <- errors.New("timed out")
					return
				}
			}
		}()
	}
	env.createMany(t, "default", "cm", writes)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
