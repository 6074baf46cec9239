package garbagecollector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

type metrics struct {
	syncDur   prometheus.Observer
	syncError prometheus.Counter
}

// newMetrics registers the sync latency histogram every controller
// shares, and Kubernetes' count of failed resource discoveries.
func newMetrics(reg prometheus.Registerer) *metrics {
	h := controller.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "controller_sync_duration_seconds",
		Help:    "Latency of one sync of one object by a controller, in seconds.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"controller"}))
	errs := controller.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "garbagecollector_controller_resources_sync_error_total",
		Help: "Number of garbage collector resources sync errors.",
	}))
	return &metrics{syncDur: h.WithLabelValues(Name), syncError: errs}
}
