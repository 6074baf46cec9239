package storage

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestEmbeddedClusterSurvivesMemberLoss(t *testing.T) {
	const members = 3
	var phases []string
	mark := func(what string, since *time.Time) {
		phases = append(phases, fmt.Sprintf("%s %v", what, time.Since(*since).Round(time.Millisecond)))
		*since = time.Now()
	}
	start := time.Now()
	peers := make([]string, members)
	clientURLs := make([]string, members)
	initial := make([]string, members)
	for i := range members {
		var err error
		if peers[i], err = freeLoopbackURL(); err != nil {
			t.Fatal(err)
		}
		if clientURLs[i], err = freeLoopbackURL(); err != nil {
			t.Fatal(err)
		}
		initial[i] = fmt.Sprintf("m%d=%s", i, peers[i])
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	etcds := make([]*Embedded, members)
	errs := make([]error, members)
	var wg sync.WaitGroup
	for i := range members { // a new cluster is ready only with a quorum: start together
		wg.Add(1)
		go func() {
			defer wg.Done()
			etcds[i], errs[i] = StartEmbedded(ctx, EmbeddedConfig{
				Name:           fmt.Sprintf("m%d", i),
				Dir:            t.TempDir(),
				ClientURL:      clientURLs[i],
				PeerURL:        peers[i],
				InitialCluster: strings.Join(initial, ","),
				ClusterState:   "new",
				Logger:         quietLog,
			})
		}()
	}
	wg.Wait()
	t0 := time.Now()
	defer func() { t.Logf("phases: %v", phases) }()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		t.Cleanup(etcds[i].Close)
	}
	client, err := NewClient(clientURLs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })

	// A member publishes its client URL through raft after it is ready
	// itself, so the others may list it as "not started" for a moment.
	healthy := func() error {
		health, err := MemberHealth(ctx, client)
		if err != nil || len(health) != members {
			return fmt.Errorf("MemberHealth = %+v, %v", health, err)
		}
		for _, h := range health {
			if !h.Healthy || h.Error != "" || h.ClientURL == "" {
				return fmt.Errorf("unhealthy member before the failure: %+v", h)
			}
		}
		return nil
	}
	for err := healthy(); err != nil; err = healthy() {
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	store := New(client, newTestCodec(), Options{Logger: quietLog})
	cms, err := store.Open(t.Context(), "/registry/configmaps/", func() runtime.Object { return &corev1.ConfigMap{} }, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Write continuously from a few goroutines; remember acknowledged writes.
	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
	)
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%05d", w, i)
				wctx, wcancel := context.WithTimeout(t.Context(), 3*time.Second)
				_, err := cms.Create(wctx, cmKey("default", name), cm("default", name, nil, nil), CreateOptions{})
				wcancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
				}
			}
		}()
	}
	waitFor := func(n int) {
		deadline := time.Now().Add(20 * time.Second)
		for ackedCount() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d writes acknowledged, want %d", ackedCount(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	mark("start", &start)
	waitFor(200)
	mark("200 writes", &t0)

	// Close the leader.
	leader := -1
	for i, u := range clientURLs {
		st, err := client.Status(ctx, u)
		if err == nil && st.Leader == st.Header.MemberId {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no leader found")
	}
	etcds[leader].Close()
	before := ackedCount()
	waitFor(before + 300)
	close(stop)
	writers.Wait()
	mark("300 writes after close", &t0)
	t.Logf("closed leader m%d after %d writes; %d writes acknowledged in total", leader, before, len(acked))

	for _, name := range acked {
		if _, err := cms.Get(ctx, cmKey("default", name), ""); err != nil {
			t.Fatalf("acknowledged write %s lost: %v", name, err)
		}
	}
	res, err := cms.List(ctx, "/registry/configmaps/", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, obj := range res.Items {
		listed[nameOf(obj)] = true
	}
	for _, name := range acked {
		if !listed[name] {
			t.Fatalf("acknowledged write %s missing from the cached list", name)
		}
	}

	mark("verify", &t0)
	health, err := MemberHealth(ctx, client)
	mark("health", &t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range health {
		if want := h.Name != fmt.Sprintf("m%d", leader); h.Healthy != want {
			t.Fatalf("member %+v: healthy = %v, want %v", h, h.Healthy, want)
		}
	}
}
