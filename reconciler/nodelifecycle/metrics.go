package nodelifecycle

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// metrics are Kubernetes' node_collector_* series.
type metrics struct {
	zoneHealth, zoneSize, unhealthy *prometheus.GaugeVec
	evictions                       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return controller.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Subsystem: "node_collector", Name: name, Help: help,
		}, []string{"zone"}))
	}
	return metrics{
		zoneHealth: gauge("zone_health", "Gauge measuring percentage of healthy nodes per zone."),
		zoneSize:   gauge("zone_size", "Gauge measuring number of registered Nodes per zones."),
		unhealthy:  gauge("unhealthy_nodes_in_zone", "Gauge measuring number of not Ready Nodes per zones."),
		evictions: controller.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: "node_collector", Name: "evictions_total",
			Help: "Number of Node evictions that happened since current instance of NodeController started.",
		}, []string{"zone"})),
	}
}

// observeZone sets a zone's gauges; size 0 marks a zone gone.
func (m metrics) observeZone(zone string, size, unhealthy int) {
	m.zoneSize.WithLabelValues(zone).Set(float64(size))
	m.unhealthy.WithLabelValues(zone).Set(float64(unhealthy))
	health := 100.0
	if size > 0 {
		health = float64(100*(size-unhealthy)) / float64(size)
	}
	m.zoneHealth.WithLabelValues(zone).Set(health)
}
