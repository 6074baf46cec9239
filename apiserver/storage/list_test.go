package storage

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// createMany creates n configmaps ns/<prefix>-NNNN with label parity=even|odd,
// from a few goroutines.
func (env *testEnv) createMany(t testing.TB, ns, prefix string, n int) {
	t.Helper()
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				parity := map[bool]string{true: "even", false: "odd"}[i%2 == 0]
				name := fmt.Sprintf("%s-%04d", prefix, i)
				c := cm(ns, name, map[string]string{"parity": parity}, nil)
				if _, err := env.cms.Create(env.ctx, cmKey(ns, name), c, CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}
}

// listAll pages through a list, checking every page's invariants, and
// returns the names in order and the pages' revision. between runs after
// every page.
func listAll(t *testing.T, r *Resource, prefix string, opts ListOptions, between func(page int)) ([]string, int64) {
	t.Helper()
	var names []string
	var rev int64
	lastKey := ""
	for page := 0; ; page++ {
		res, err := r.List(t.Context(), prefix, opts)
		if err != nil {
			t.Fatalf("List page %d: %v", page, err)
		}
		if page == 0 {
			rev = res.ResourceVersion
		} else if res.ResourceVersion != rev {
			t.Fatalf("page %d at revision %d, first page at %d", page, res.ResourceVersion, rev)
		}
		if opts.Limit > 0 && int64(len(res.Items)) > opts.Limit {
			t.Fatalf("page %d has %d items, limit %d", page, len(res.Items), opts.Limit)
		}
		if opts.Limit > 0 && res.Continue != "" && int64(len(res.Items)) != opts.Limit {
			t.Fatalf("page %d has %d items and a continue token, limit %d", page, len(res.Items), opts.Limit)
		}
		if res.RemainingItemCount != nil && opts.Predicate.empty() == false {
			t.Fatalf("remainingItemCount set with a predicate")
		}
		for _, obj := range res.Items {
			c := obj.(*corev1.ConfigMap)
			key := cmKey(c.Namespace, c.Name)
			if key <= lastKey {
				t.Fatalf("page %d: key %s after %s", page, key, lastKey)
			}
			lastKey = key
			names = append(names, c.Name)
		}
		if res.Continue == "" {
			return names, rev
		}
		opts.Continue = res.Continue
		opts.ResourceVersion = ""
		if between != nil {
			between(page)
		}
	}
}

func TestListPagination(t *testing.T) {
	env := newEnv(t, Options{})
	env.createMany(t, "a", "cm", 700)
	env.createMany(t, "b", "cm", 500)
	even := labels.SelectorFromSet(labels.Set{"parity": "even"})

	tests := []struct {
		name   string
		prefix string
		opts   ListOptions
		want   int
	}{
		{"all namespaces", "/registry/configmaps/", ListOptions{Limit: 100}, 1200},
		{"one namespace", "/registry/configmaps/a/", ListOptions{Limit: 77}, 700},
		{"prefix without slash", "/registry/configmaps/b", ListOptions{Limit: 1000}, 500},
		{"no limit", "/registry/configmaps/", ListOptions{}, 1200},
		{"from cache", "/registry/configmaps/", ListOptions{ResourceVersion: "0", Limit: 333}, 1200},
		{"label selector", "/registry/configmaps/", ListOptions{Limit: 50, Predicate: Predicate{Label: even}}, 600},
		{"selective selector", "/registry/configmaps/b/", ListOptions{Limit: 7, Predicate: Predicate{Label: labels.SelectorFromSet(labels.Set{"parity": "odd"})}}, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names, _ := listAll(t, env.cms, tt.prefix, tt.opts, nil)
			if len(names) != tt.want {
				t.Fatalf("listed %d objects, want %d", len(names), tt.want)
			}
		})
	}

	t.Run("remaining item count", func(t *testing.T) {
		res, err := env.cms.List(t.Context(), "/registry/configmaps/", ListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if res.RemainingItemCount == nil || *res.RemainingItemCount != 1100 {
			t.Fatalf("remainingItemCount = %v, want 1100", res.RemainingItemCount)
		}
		res, err = env.cms.List(t.Context(), "/registry/configmaps/", ListOptions{Limit: 100, Continue: res.Continue})
		if err != nil {
			t.Fatal(err)
		}
		if res.RemainingItemCount == nil || *res.RemainingItemCount != 1000 {
			t.Fatalf("second page remainingItemCount = %v, want 1000", res.RemainingItemCount)
		}
	})

	t.Run("writes between pages", func(t *testing.T) {
		i := 0
		names, rev := listAll(t, env.cms, "/registry/configmaps/", ListOptions{Limit: 150}, func(page int) {
			// Add objects sorting before and after the cursor and delete
			// ones not listed yet: the pages must not see any of it.
			for _, name := range []string{fmt.Sprintf("zz-%d", page), fmt.Sprintf("aa-%d", page)} {
				env.mustCreate(t, cm("b", name, nil, nil))
			}
			victim := fmt.Sprintf("cm-%04d", 499-i)
			i++
			if _, err := env.cms.Delete(env.ctx, cmKey("b", victim), DeleteOptions{}); err != nil {
				t.Fatalf("delete %s: %v", victim, err)
			}
		})
		if len(names) != 1200 || i < 5 {
			t.Fatalf("listed %d objects over %d pages, want the 1200 at revision %d", len(names), i+1, rev)
		}
		// Keys are strictly increasing (listAll), so each object was seen once;
		// none of the objects created between pages may appear.
		for _, n := range names {
			if strings.HasPrefix(n, "aa-") || strings.HasPrefix(n, "zz-") {
				t.Fatalf("object %s created after the list's revision was listed", n)
			}
		}
		exact, err := env.cms.List(t.Context(), "/registry/configmaps/", ListOptions{ResourceVersion: strconv.FormatInt(rev, 10), ResourceVersionMatch: "Exact"})
		if err != nil || len(exact.Items) != 1200 || exact.ResourceVersion != rev {
			t.Fatalf("exact list at %d: %d items, rev %d, %v", rev, len(exact.Items), exact.ResourceVersion, err)
		}
		now, err := env.cms.List(t.Context(), "/registry/configmaps/", ListOptions{})
		if err != nil || len(now.Items) != 1200+i || now.ResourceVersion <= rev {
			t.Fatalf("current list: %d items at %d, %v", len(now.Items), now.ResourceVersion, err)
		}
	})
}

func TestListConsistentRead(t *testing.T) {
	env := newEnv(t, Options{})
	for i := range 20 {
		created := env.mustCreate(t, cm("default", fmt.Sprintf("c%02d", i), nil, nil))
		res, err := env.cms.List(t.Context(), "/registry/configmaps/default/", ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != i+1 || res.ResourceVersion < rvOf(t, created) {
			t.Fatalf("list after create %d: %d items at %d (created at %d)", i, len(res.Items), res.ResourceVersion, rvOf(t, created))
		}
	}
	// A write elsewhere moves etcd's revision without any event for the
	// cache: the consistent list must still be served promptly (progress
	// notification), at a revision not older than the write.
	resp, err := env.client.Put(t.Context(), "/registry/secrets/default/s", "x")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := env.cms.List(t.Context(), "/registry/configmaps/", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResourceVersion < resp.Header.Revision {
		t.Fatalf("list at %d, older than write at %d", res.ResourceVersion, resp.Header.Revision)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("consistent list took %v", d)
	}
	// "Not older than" reads wait for the cache too.
	got, err := env.cms.Get(t.Context(), cmKey("default", "c00"), strconv.FormatInt(resp.Header.Revision, 10))
	if err != nil || nameOf(got) != "c00" {
		t.Fatalf("Get not older than %d: %v %v", resp.Header.Revision, got, err)
	}
}

func TestListContinueAfterCompaction(t *testing.T) {
	env := newEnv(t, Options{})
	env.createMany(t, "default", "cm", 30)
	first, err := env.cms.List(t.Context(), "/registry/configmaps/", ListOptions{Limit: 10})
	if err != nil || first.Continue == "" {
		t.Fatalf("first page: %v %v", first.Continue, err)
	}
	if _, err := env.cms.GuaranteedUpdate(env.ctx, cmKey("default", "cm-0020"), func(cur runtime.Object) (Update, error) {
		c := cur.(*corev1.ConfigMap)
		c.Data = map[string]string{"changed": "yes"}
		return Update{Object: c}, nil
	}); err != nil {
		t.Fatal(err)
	}
	rev, err := env.store.CurrentRevision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := env.store.Compact(t.Context(), rev); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if err := env.store.Compact(t.Context(), rev); err != nil {
		t.Fatalf("second Compact to the same revision: %v", err)
	}
	_, err = env.cms.List(t.Context(), "/registry/configmaps/", ListOptions{Limit: 10, Continue: first.Continue})
	if !errors.Is(err, ErrGone) {
		t.Fatalf("continue after compaction: %v, want ErrGone", err)
	}
	_, err = env.cms.List(t.Context(), "/registry/configmaps/", ListOptions{ResourceVersion: strconv.FormatInt(first.ResourceVersion, 10), ResourceVersionMatch: "Exact"})
	if !errors.Is(err, ErrGone) {
		t.Fatalf("exact list at compacted revision: %v, want ErrGone", err)
	}
	// The cache is unaffected by compaction.
	res, err := env.cms.List(t.Context(), "/registry/configmaps/", ListOptions{})
	if err != nil || len(res.Items) != 30 {
		t.Fatalf("list after compaction: %d, %v", len(res.Items), err)
	}
}
