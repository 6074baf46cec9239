package storage

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestRunCompactor(t *testing.T) {
	reg := prometheus.NewRegistry()
	env := newEnv(t, Options{Registerer: reg})
	first := rvOf(t, env.mustCreate(t, cm("default", "a", nil, nil)))
	env.mustCreate(t, cm("default", "b", nil, nil))

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		env.store.RunCompactor(ctx, 50*time.Millisecond)
	}()
	// The first tick only records the revision; a later one compacts to it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := env.cms.List(t.Context(), "/registry/configmaps/", ListOptions{ResourceVersion: strconv.FormatInt(first, 10), ResourceVersionMatch: "Exact"})
		if errors.Is(err, ErrGone) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("history not compacted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if n := metricValue(t, env.store.metrics.compactions); n < 1 {
		t.Fatalf("compactions_total = %v", n)
	}
	resp, err := env.client.Get(t.Context(), compactRevKey)
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Version < 2 {
		t.Fatalf("%s = %v, %v", compactRevKey, resp, err)
	}
	// The watch cache keeps serving after compaction.
	if _, err := env.cms.Get(t.Context(), cmKey("default", "a"), "0"); err != nil {
		t.Fatal(err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	env := newEnv(t, Options{Registerer: reg})
	// A second store on the same registry shares the collectors.
	New(env.client, newTestCodec(), Options{Registerer: reg})
	w, err := env.cms.Watch(t.Context(), "/registry/configmaps/", WatchOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	env.mustCreate(t, cm("default", "a", nil, nil))
	next(t, w)
	if _, err := env.cms.List(t.Context(), "/registry/configmaps/", ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, env.store.metrics.watchers.WithLabelValues("configmaps")); got != 1 {
		t.Fatalf("watchers gauge = %v, want 1", got)
	}
	if got := metricValue(t, env.store.metrics.cacheEvents.WithLabelValues("configmaps")); got != 1 {
		t.Fatalf("watch cache events = %v, want 1", got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	for _, want := range []string{
		"cairn_storage_etcd_request_duration_seconds",
		"cairn_storage_watch_cache_events_total",
		"cairn_storage_watchers",
		"cairn_storage_compactions_total",
	} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Fatalf("metric %s missing from %v", want, names)
		}
	}
	w.Stop()
	if got := metricValue(t, env.store.metrics.watchers.WithLabelValues("configmaps")); got != 0 {
		t.Fatalf("watchers gauge after Stop = %v, want 0", got)
	}
}

// metricValue reads a counter's or a gauge's value.
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	switch {
	case out.Counter != nil:
		return out.Counter.GetValue()
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	}
	t.Fatalf("metric %v is neither a counter nor a gauge", m.Desc())
	return 0
}
