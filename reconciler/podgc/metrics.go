package podgc

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// Values of the reason label, as Kubernetes'.
const (
	reasonTerminated              = "terminated"
	reasonTerminatingOutOfService = "out-of-service"
	reasonOrphaned                = "orphaned"
	reasonTerminatingUnscheduled  = "unscheduled"
)

// metrics are Kubernetes' pod GC metrics and the controllers' shared
// sync latency histogram (one observation per collection).
type metrics struct {
	deletes *prometheus.CounterVec
	errors  *prometheus.CounterVec
	syncDur prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deletes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: "pod_gc_collector", Name: "force_delete_pods_total",
			Help: "Number of pods that are being forcefully deleted since the Pod GC Controller started.",
		}, []string{"namespace", "reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: "pod_gc_collector", Name: "force_delete_pod_errors_total",
			Help: "Number of errors encountered when forcefully deleting the pods since the Pod GC Controller started.",
		}, []string{"namespace", "reason"}),
	}
	m.deletes = controller.Register(reg, m.deletes)
	m.errors = controller.Register(reg, m.errors)
	m.syncDur = controller.SyncDuration(reg, Name)
	return m
}

func (m *metrics) deleted(namespace, reason string, err error) {
	m.deletes.WithLabelValues(namespace, reason).Inc()
	if err != nil {
		m.errors.WithLabelValues(namespace, reason).Inc()
	}
}
