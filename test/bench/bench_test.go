package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// One server serves every test and benchmark of the package: starting the
// embedded etcd takes a while, and a benchmark function runs several times.
var shared struct {
	once sync.Once
	bs   *benchServer
	err  error
}

func sharedServer(tb testing.TB) *benchServer {
	tb.Helper()
	shared.once.Do(func() {
		shared.bs, shared.err = startServer(context.Background(), "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	})
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.bs
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.bs != nil {
		if err := shared.bs.stop(); err != nil {
			slog.Error("stop server", "err", err)
		}
	}
	os.Exit(code)
}

func newTestHarness(tb testing.TB, opts options) *harness {
	tb.Helper()
	cfg, err := sharedServer(tb).restConfig()
	if err != nil {
		tb.Fatal(err)
	}
	h, err := newHarness(cfg, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	h.metrics = shared.bs.reg
	return h
}

// TestHarnessSmoke runs every scenario briefly with few clients and checks
// that each measured something and met no error.
func TestHarnessSmoke(t *testing.T) {
	h := newTestHarness(t, options{clients: 5, duration: time.Second, watchers: 20, watchEvents: 20, watchRate: 100,
		watchConns: 2, listSize: 200, pageSize: 50, payload: 1024, minObjects: 200, settle: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	rep, err := h.runAll(ctx, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"create", "get", "update", "list", "list-full"} {
		if rep.find(name) == nil {
			t.Errorf("no %s result", name)
		}
	}
	for _, r := range rep.rows {
		if r.ops == 0 || r.rate() <= 0 || len(r.lat) != int(r.ops) || percentile(r.lat, .99) <= 0 {
			t.Errorf("%s (%s): nothing measured: %d ops in %s", r.scenario, r.label, r.ops, r.elapsed)
		}
		if r.errors != 0 {
			t.Errorf("%s (%s): %d errors: %v", r.scenario, r.label, r.errors, r.errSamples)
		}
		if strings.HasPrefix(r.scenario, "list") && r.items == 0 {
			t.Errorf("%s (%s): no items listed", r.scenario, r.label)
		}
	}
	w := rep.watch
	if w == nil {
		t.Fatal("no watch result")
	}
	if w.delivered != w.expected || w.complete != w.watchers || w.writeErrors != 0 || w.duplicates != 0 {
		t.Errorf("watch: delivered %d of %d, %d of %d watchers complete, %d write errors, %d duplicates: %v",
			w.delivered, w.expected, w.complete, w.watchers, w.writeErrors, w.duplicates, w.samples)
	}
	if percentile(w.lat, .99) <= 0 {
		t.Error("watch: no latency measured")
	}
	if f := check(rep); len(f) > 0 {
		t.Errorf("check: %v", f)
	}
	for _, want := range []string{"### create", "### get", "### update", "### list", "### watch", " p99 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// BenchmarkCreateConfigMap creates 1 KiB ConfigMaps through one client-go
// clientset from 50 goroutines (as the harness's create scenario does) and
// reports throughput and latency percentiles.
func BenchmarkCreateConfigMap(b *testing.B) {
	h := newTestHarness(b, options{clients: 50, payload: 1024})
	ctx := context.Background()
	if err := h.ensureNamespace(ctx, nsBench); err != nil {
		b.Fatal(err)
	}
	cms := h.cs.CoreV1().ConfigMaps(nsBench)
	b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0)))
	var (
		mu     sync.Mutex
		parts  [][]time.Duration
		errs   atomic.Int64
		sample atomic.Value
	)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 4096)
		for pb.Next() {
			t0 := time.Now()
			_, err := cms.Create(ctx, h.newConfigMap(nsBench, h.nextName()), metav1.CreateOptions{})
			if err != nil {
				errs.Add(1)
				sample.CompareAndSwap(nil, err.Error())
				continue
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		parts = append(parts, lat)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := errs.Load(); n > 0 {
		b.Errorf("%d of %d creates failed, e.g. %v", n, b.N, sample.Load())
	}
	all := mergeSorted(parts)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(percentile(all, .5))/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(percentile(all, .99))/float64(time.Millisecond), "p99-ms")
}
