package gitsync_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/gitsync"
)

// TestLeaderElection: two gitsyncs against one server; one holds the
// lease and applies; stopped, the other takes over and applies the next
// revision.
func TestLeaderElection(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	cfg := s.RestConfig("gitsync")
	start := func(id string) (*gitsync.Controller, context.CancelFunc, chan struct{}) {
		c, err := gitsync.New(gitsync.Config{Client: s.Client("gitsync"), Dynamic: dynamic.NewForConfigOrDie(cfg),
			Discovery: discovery.NewDiscoveryClientForConfigOrDie(cfg), CacheDir: t.TempDir(), Logger: testLogger(),
			LeaderElect: true, Identity: id, LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = c.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return c, cancel, done
	}
	e := &env{t: t, ctx: t.Context(), admin: s.Client("admin"), dyn: dynamic.NewForConfigOrDie(s.RestConfig("admin"))}
	a, stopA, doneA := start("a")
	holder := func() string {
		l, err := e.admin.CoordinationV1().Leases(gitsync.LeaseNamespace).Get(e.ctx, gitsync.LeaseName, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	apiservertest.Eventually(t, 10*time.Second, "a leads", func() bool { return holder() == "a" })
	b, _, _ := start("b")

	r := newRepo(t)
	h1 := r.commit("first", map[string]string{"app.yaml": appYAML})
	e.createSource("apps", r.dir)
	apiservertest.Eventually(t, 30*time.Second, "a applies", func() bool {
		a.Trigger("default", "apps")
		return e.source("apps").Status.LastAppliedRevision == h1
	})
	if b.Syncs("default", "apps") != 0 || holder() != "a" {
		t.Fatalf("b synced %d times while a led (holder %q)", b.Syncs("default", "apps"), holder())
	}
	stopA()
	<-doneA
	apiservertest.Eventually(t, 10*time.Second, "b takes over", func() bool { return holder() == "b" })
	h2 := r.commit("second", map[string]string{"app.yaml": appYAML + "  more: extra\n"})
	apiservertest.Eventually(t, 30*time.Second, "b applies the next revision", func() bool {
		b.Trigger("default", "apps")
		return e.source("apps").Status.LastAppliedRevision == h2
	})
}
