package nodeipam

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// metrics are Kubernetes' cidrset metrics and the controllers' shared
// sync latency histogram.
type metrics struct {
	allocations *prometheus.CounterVec
	releases    *prometheus.CounterVec
	usage       *prometheus.GaugeVec
	syncDur     prometheus.Observer
	clusters    []netip.Prefix
}

func newMetrics(reg prometheus.Registerer, clusters []netip.Prefix) *metrics {
	const ns, sub = "node_ipam_controller", "cidrset"
	m := &metrics{
		clusters: clusters,
		allocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "cidrs_allocations_total",
			Help: "Counter measuring total number of CIDR allocations.",
		}, []string{"clusterCIDR"}),
		releases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "cidrs_releases_total",
			Help: "Counter measuring total number of CIDR releases.",
		}, []string{"clusterCIDR"}),
		usage: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "usage_cidrs",
			Help: "Gauge measuring percentage of allocated CIDRs.",
		}, []string{"clusterCIDR"}),
	}
	m.allocations = controller.Register(reg, m.allocations)
	m.releases = controller.Register(reg, m.releases)
	m.usage = controller.Register(reg, m.usage)
	m.syncDur = controller.SyncDuration(reg, Name)
	return m
}

// label is the cluster CIDR a node range came from.
func (m *metrics) label(p netip.Prefix) string {
	for _, c := range m.clusters {
		if c.Contains(p.Addr()) {
			return c.Masked().String()
		}
	}
	return ""
}

func (m *metrics) allocated(ps []netip.Prefix) {
	for _, p := range ps {
		m.allocations.WithLabelValues(m.label(p)).Inc()
	}
}

func (m *metrics) released(ps []netip.Prefix) {
	for _, p := range ps {
		m.releases.WithLabelValues(m.label(p)).Inc()
	}
}

// observe sets each cluster CIDR's fraction in use.
func (m *metrics) observe(sets []setUsage) {
	for _, s := range sets {
		m.usage.WithLabelValues(s.cidr).Set(float64(s.used) / float64(s.max))
	}
}
