package namespace

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

type metrics struct {
	syncs     *prometheus.CounterVec
	duration  prometheus.Histogram
	finalizes *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "namespace_controller_syncs_total",
			Help: "Number of namespace syncs by the namespace controller, by the result (success, remaining, error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "namespace_controller_sync_duration_seconds",
			Help:    "Duration of the namespace controller's syncs in seconds.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		finalizes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "namespace_controller_finalizations_total",
			Help: "Number of namespaces finalized by the namespace controller, by the result.",
		}, []string{"result"}),
	}
	m.syncs = controller.Register(reg, m.syncs)
	m.duration = controller.Register(reg, m.duration)
	m.finalizes = controller.Register(reg, m.finalizes)
	return m
}

func (m *metrics) sync(err error, d time.Duration) {
	r := "success"
	if _, ok := err.(*remainingError); ok {
		r = "remaining"
	} else if err != nil {
		r = "error"
	}
	m.syncs.WithLabelValues(r).Inc()
	m.duration.Observe(d.Seconds())
}

func (m *metrics) finalize(err error) {
	r := "success"
	if err != nil {
		r = "error"
	}
	m.finalizes.WithLabelValues(r).Inc()
}
