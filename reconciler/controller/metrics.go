package controller

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers a controller's collector so that a controller built
// again (the controller manager builds its controllers afresh for every
// leadership term) keeps feeding the one already registered instead of
// failing on a duplicate: it registers c with reg and returns it, or returns the collector
// of the same description already registered. A nil reg registers
// nowhere. Any other registration error is a programming error and
// panics, as MustRegister does.
func Register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// SyncDuration is the controller_sync_duration_seconds{controller} observer
// for one controller: the latency of one sync of one object. Every
// controller shares the one histogram registered with reg.
func SyncDuration(reg prometheus.Registerer, controller string) prometheus.Observer {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "controller_sync_duration_seconds",
		Help:    "Latency of one sync of one object by a controller, in seconds.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"controller"})
	return Register(reg, h).WithLabelValues(controller)
}
