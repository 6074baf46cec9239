package gitsync

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// metrics are gitsync's, per source (namespace/name).
type metrics struct {
	fetch, check, apply *prometheus.HistogramVec
	lastApplied         *prometheus.GaugeVec
	result              *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	buckets := prometheus.ExponentialBuckets(0.001, 2, 16) // 1 ms to 33 s
	hist := func(name, help string) *prometheus.HistogramVec {
		return controller.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: name, Help: help, Buckets: buckets}, []string{"source"}))
	}
	return &metrics{
		fetch: hist("gitsync_fetch_duration_seconds", "Time to fetch a source's revision, in seconds."),
		check: hist("gitsync_validate_duration_seconds", "Time to load and check a revision's objects (schema, validation, policies), in seconds."),
		apply: hist("gitsync_apply_duration_seconds", "Time to dry-run, apply and prune a revision, in seconds."),
		lastApplied: controller.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitsync_last_applied_timestamp_seconds", Help: "When a source's revision was last applied with changes, as a Unix time."},
			[]string{"source"})),
		result: controller.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitsync_syncs_total", Help: "Syncs of a source by result: applied, refused or failed."},
			[]string{"source", "result"})),
	}
}
