package storage

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's Prometheus collectors. A nil *metrics (no
// Registerer) records nothing.
type metrics struct {
	requestDuration *prometheus.HistogramVec
	cacheEvents     *prometheus.CounterVec
	watchers        *prometheus.GaugeVec
	compactions     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cairn",
			Subsystem: "storage",
			Name:      "etcd_request_duration_seconds",
			Help:      "Duration of etcd requests by operation and resource.",
			Buckets:   []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"operation", "resource"}),
		cacheEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cairn",
			Subsystem: "storage",
			Name:      "watch_cache_events_total",
			Help:      "Events received from etcd by the watch cache, by resource.",
		}, []string{"resource"}),
		watchers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "cairn",
			Subsystem: "storage",
			Name:      "watchers",
			Help:      "Current watchers served from the watch cache, by resource.",
		}, []string{"resource"}),
		compactions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "cairn",
			Subsystem: "storage",
			Name:      "compactions_total",
			Help:      "Successful etcd compactions requested by this store.",
		}),
	}
	m.requestDuration = register(reg, m.requestDuration)
	m.cacheEvents = register(reg, m.cacheEvents)
	m.watchers = register(reg, m.watchers)
	m.compactions = register(reg, m.compactions)
	return m
}

// register registers c, or returns the collector already registered under the
// same description (several Stores may share one registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// resourceMetrics are the collectors of one resource, with labels bound once
// so the hot path does no label lookups.
type resourceMetrics struct {
	create, get, update, delete, list, progress prometheus.Observer
	events                                      prometheus.Counter
	watchers                                    prometheus.Gauge
}

func (m *metrics) forResource(resource string) resourceMetrics {
	if m == nil {
		return resourceMetrics{}
	}
	obs := func(op string) prometheus.Observer { return m.requestDuration.WithLabelValues(op, resource) }
	return resourceMetrics{
		create:   obs("create"),
		get:      obs("get"),
		update:   obs("update"),
		delete:   obs("delete"),
		list:     obs("list"),
		progress: obs("current_revision"),
		events:   m.cacheEvents.WithLabelValues(resource),
		watchers: m.watchers.WithLabelValues(resource),
	}
}

// observe records the time since start on o, if metrics are enabled.
func observe(o prometheus.Observer, start time.Time) {
	if o != nil {
		o.Observe(time.Since(start).Seconds())
	}
}

func (m *metrics) observeStore(op string, start time.Time) {
	if m != nil {
		m.requestDuration.WithLabelValues(op, "").Observe(time.Since(start).Seconds())
	}
}

func (m *metrics) compacted() {
	if m != nil {
		m.compactions.Inc()
	}
}

func (rm resourceMetrics) addEvents(n int) {
	if rm.events != nil {
		rm.events.Add(float64(n))
	}
}

func (rm resourceMetrics) addWatchers(n int) {
	if rm.watchers != nil {
		rm.watchers.Add(float64(n))
	}
}
