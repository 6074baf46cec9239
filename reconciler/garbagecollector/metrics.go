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
	errs := controller.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "garbagecollector_controller_resources_sync_error_total",
		Help: "Number of garbage collector resources sync errors.",
	}))
	return &metrics{syncDur: controller.SyncDuration(reg, Name), syncError: errs}
}
