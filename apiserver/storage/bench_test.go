package storage

import (
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// reportLatencies reports the p50 and p99 of lat in milliseconds.
func reportLatencies(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(float64(len(lat)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkCreate creates configmaps from ~50 goroutines, like 50 API
// clients, with the watch cache running.
func BenchmarkCreate(b *testing.B) {
	env := newEnv(b, Options{})
	const clients = 50
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var (
		seq sync.Mutex
		n   atomic.Int64
		lat []time.Duration
	)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			name := "cm-" + strconv.FormatInt(n.Add(1), 10)
			obj := cm("default", name, map[string]string{"app": "bench"}, map[string]string{"k": "v"})
			t0 := time.Now()
			if _, err := env.cms.Create(env.ctx, cmKey("default", name), obj, CreateOptions{}); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
		}
		seq.Lock()
		lat = append(lat, local...)
		seq.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "creates/s")
	reportLatencies(b, lat)
}

// BenchmarkWatchFanout measures the latency from the start of a Create to
// its ADDED event at each of 500 watchers.
func BenchmarkWatchFanout(b *testing.B) {
	env := newEnv(b, Options{})
	const watchers, writers = 500, 4
	var (
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, 1<<16)
		received sync.WaitGroup
	)
	received.Add(watchers)
	total := b.N
	for range watchers {
		w, err := env.cms.Watch(env.ctx, "/registry/configmaps/", WatchOptions{ResourceVersion: "0"})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Stop()
		go func() {
			defer received.Done()
			local := make([]time.Duration, 0, total)
			for ev := range w.ResultChan() {
				sent, _ := strconv.ParseInt(ev.Object.(*corev1.ConfigMap).Labels["sent"], 10, 64)
				local = append(local, time.Since(time.Unix(0, sent)))
				if len(local) == total {
					break
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	var n atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				if i > int64(total) {
					return
				}
				name := "cm-" + strconv.FormatInt(i, 10)
				obj := cm("default", name, map[string]string{"sent": strconv.FormatInt(time.Now().UnixNano(), 10)}, nil)
				if _, err := env.cms.Create(env.ctx, cmKey("default", name), obj, CreateOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { received.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatal("watchers did not receive every event")
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) != watchers*total {
		b.Fatalf("%d deliveries, want %d (a watcher was closed)", len(lat), watchers*total)
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "deliveries/s")
	reportLatencies(b, lat)
}
