package scheduler

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	resultScheduled     = "scheduled"
	resultUnschedulable = "unschedulable"
	resultError         = "error"
)

// metrics are kube-scheduler's main ones, under the same names.
type metrics struct {
	attempts        *prometheus.CounterVec
	attemptDuration *prometheus.HistogramVec
	e2e             *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, q *Queue) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scheduler_schedule_attempts_total",
			Help: "Number of attempts to schedule pods, by the result.",
		}, []string{"result", "profile"}),
		attemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scheduler_scheduling_attempt_duration_seconds",
			Help:    "Scheduling attempt latency in seconds (scheduling algorithm + binding handoff).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"result", "profile"}),
		e2e: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scheduler_pod_scheduling_sli_duration_seconds",
			Help:    "E2e latency for a pod being scheduled, from the first attempt to a successful binding, by the number of attempts.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 20),
		}, []string{"attempts"}),
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.attemptDuration, m.e2e, &queueCollector{q: q,
			desc: prometheus.NewDesc("scheduler_pending_pods", "Number of pending pods, by the queue type.", []string{"queue"}, nil)})
	}
	return m
}

func (m *metrics) attempt(profile, result string, d time.Duration) {
	m.attempts.WithLabelValues(result, profile).Inc()
	m.attemptDuration.WithLabelValues(result, profile).Observe(d.Seconds())
}

func (m *metrics) scheduled(attempts int, d time.Duration) {
	if attempts > 15 {
		attempts = 15
	}
	m.e2e.WithLabelValues(strconv.Itoa(attempts)).Observe(d.Seconds())
}

// queueCollector reports the queue sizes when scraped.
type queueCollector struct {
	q    *Queue
	desc *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	a, b, u := c.q.Lens()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(a), "active")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(b), "backoff")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(u), "unschedulable")
}
