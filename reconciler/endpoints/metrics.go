package endpoints

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

type metrics struct {
	syncs    *prometheus.CounterVec
	duration prometheus.Histogram
	changes  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "endpoint_controller_syncs_total",
			Help: "Number of service syncs by the endpoint controller, by the result.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "endpoint_controller_sync_duration_seconds",
			Help:    "Duration of the endpoint controller's service syncs in seconds.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "endpoint_controller_changes_total",
			Help: "Number of Endpoints writes by the endpoint controller, by the operation and the result.",
		}, []string{"operation", "result"}),
	}
	m.syncs = controller.Register(reg, m.syncs)
	m.duration = controller.Register(reg, m.duration)
	m.changes = controller.Register(reg, m.changes)
	return m
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "success"
}

func (m *metrics) sync(err error, d time.Duration) {
	m.syncs.WithLabelValues(result(err)).Inc()
	m.duration.Observe(d.Seconds())
}

func (m *metrics) change(op string, err error) { m.changes.WithLabelValues(op, result(err)).Inc() }
