package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/apiserver"
	"github.com/cairn-dev/cairn/apiserver/storage"
)

// TestExternalEtcd runs the server against an etcd it did not start,
// given through --etcd-endpoints.
func TestExternalEtcd(t *testing.T) {
	ctx := ctxT(t)
	e, err := storage.StartEmbedded(ctx, storage.EmbeddedConfig{Name: "ext", Dir: filepath.Join(t.TempDir(), "etcd")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	dir := t.TempDir()
	ts := startServer(t, dir, func(c *apiserver.Config) { c.EtcdEndpoints = e.Endpoints() })
	c := ts.client("admin")
	if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ext"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ec := etcdClient(t, ts)
	if r, err := ec.Get(ctx, "/registry/configmaps/default/ext"); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("object not in the external etcd: %v", err)
	}
	if got := ts.srv.EtcdEndpoints(); len(got) != 1 || got[0] != e.Endpoints()[0] {
		t.Fatalf("server uses %v, want %v", got, e.Endpoints())
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "etcd")); len(matches) != 0 {
		t.Fatalf("server started its own etcd in %s despite external endpoints", dir)
	}
}

// TestEtcdClusterMemberLoss runs the server on a 3-member etcd cluster and
// stops one member while writers go on: no acknowledged write is lost.
func TestEtcdClusterMemberLoss(t *testing.T) {
	ctx := ctxT(t)
	base := t.TempDir()
	names := []string{"m0", "m1", "m2"}
	peers := make([]string, 3)
	clients := make([]string, 3)
	for i := range names {
		peers[i] = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		clients[i] = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	}
	initial := ""
	for i, n := range names {
		if i > 0 {
			initial += ","
		}
		initial += n + "=" + peers[i]
	}
	members := make([]*storage.Embedded, 3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, n := range names {
		wg.Add(1)
		go func(i int, n string) {
			defer wg.Done()
			members[i], errs[i] = storage.StartEmbedded(ctx, storage.EmbeddedConfig{Name: n, Dir: filepath.Join(base, n),
				ClientURL: clients[i], PeerURL: peers[i], InitialCluster: initial, ClusterState: "new"})
		}(i, n)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	defer func() {
		for _, m := range members {
			if m != nil {
				m.Close()
			}
		}
	}()
	ts := startServer(t, t.TempDir(), func(c *apiserver.Config) { c.EtcdEndpoints = clients })
	c := ts.client("admin")

	var acked sync.Map
	var n atomic.Int64
	writeCtx, stopWriters := context.WithCancel(ctx)
	var writers sync.WaitGroup
	for w := 0; w < 8; w++ {
		writers.Add(1)
		go func(w int) {
			defer writers.Done()
			for i := 0; writeCtx.Err() == nil; i++ {
				name := fmt.Sprintf("w%d-%05d", w, i)
				cctx, cancel := context.WithTimeout(writeCtx, 10*time.Second)
				_, err := c.CoreV1().ConfigMaps("default").Create(cctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
				cancel()
				if err == nil {
					acked.Store(name, true)
					n.Add(1)
				}
			}
		}(w)
	}
	eventually(t, 20*time.Second, "writes before the failure", func() bool { return n.Load() > 200 })
	// Stop the member the server's client is most likely talking to first.
	members[0].Close()
	members[0] = nil
	atFailure := n.Load()
	eventually(t, 30*time.Second, "writes after losing a member", func() bool { return n.Load() > atFailure+200 })
	stopWriters()
	writers.Wait()

	list, err := c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, it := range list.Items {
		stored[it.Name] = true
	}
	lost := 0
	acked.Range(func(k, _ any) bool {
		if !stored[k.(string)] {
			lost++
			t.Errorf("acknowledged write %s lost", k)
		}
		return lost < 10
	})
	t.Logf("%d acknowledged writes, %d before the member stopped; %d lost", n.Load(), atFailure, lost)
}
