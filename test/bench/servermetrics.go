package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The server's own latency histograms, read from its registry around each
// measurement, split a client-observed latency into the server's handling
// and, within it, etcd's.
const (
	metricRequest = "apiserver_request_duration_seconds"
	metricEtcd    = "cairn_storage_etcd_request_duration_seconds"
)

// histo is one histogram series: cumulative bucket counts by upper bound.
type histo struct {
	sum    float64
	count  uint64
	bounds []float64
	counts []uint64
}

// metricsSnapshot holds the ConfigMap series of both histograms, keyed
// "request verb" and "etcd operation".
type metricsSnapshot map[string]histo

func snapshotMetrics(g prometheus.Gatherer) metricsSnapshot {
	if g == nil {
		return nil
	}
	mfs, err := g.Gather()
	if err != nil {
		return nil
	}
	snap := metricsSnapshot{}
	for _, mf := range mfs {
		var prefix, labelName string
		switch mf.GetName() {
		case metricRequest:
			prefix, labelName = "request ", "verb"
		case metricEtcd:
			prefix, labelName = "etcd ", "operation"
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			var resource, op string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "resource":
					resource = l.GetValue()
				case labelName:
					op = l.GetValue()
				}
			}
			if resource != "configmaps" {
				continue
			}
			h := m.GetHistogram()
			hs := histo{sum: h.GetSampleSum(), count: h.GetSampleCount()}
			for _, b := range h.GetBucket() {
				hs.bounds = append(hs.bounds, b.GetUpperBound())
				hs.counts = append(hs.counts, b.GetCumulativeCount())
			}
			snap[prefix+op] = hs
		}
	}
	return snap
}

// delta is what was observed between two snapshots.
func (after metricsSnapshot) delta(before metricsSnapshot) metricsSnapshot {
	if after == nil {
		return nil
	}
	d := metricsSnapshot{}
	for k, a := range after {
		b := before[k]
		if a.count <= b.count {
			continue
		}
		h := histo{sum: a.sum - b.sum, count: a.count - b.count, bounds: a.bounds, counts: slices.Clone(a.counts)}
		for i := range h.counts {
			if i < len(b.counts) {
				h.counts[i] -= b.counts[i]
			}
		}
		d[k] = h
	}
	return d
}

func (h histo) mean() time.Duration {
	return time.Duration(h.sum / float64(h.count) * float64(time.Second))
}

// quantileBound is the upper bound of the bucket holding quantile q:
// histograms only tell that much.
func (h histo) quantileBound(q float64) string {
	want := uint64(math.Ceil(q * float64(h.count)))
	for i, c := range h.counts {
		if c >= want {
			return "≤ " + ms(time.Duration(h.bounds[i]*float64(time.Second)))
		}
	}
	return "> " + ms(time.Duration(h.bounds[len(h.bounds)-1]*float64(time.Second)))
}

// printServerSide prints the server's view of a measurement.
func printServerSide(out io.Writer, d metricsSnapshot, clientMean time.Duration) {
	if len(d) == 0 {
		return
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.SortStableFunc(keys, func(a, b string) int { // requests first
		return strings.Compare(strings.Fields(b)[0], strings.Fields(a)[0])
	})
	var parts []string
	for _, k := range keys {
		h := d[k]
		what := strings.Replace(k, "request ", "handler of ", 1)
		parts = append(parts, fmt.Sprintf("%s: %s × mean %s, p99 %s", what, num(float64(h.count)), ms(h.mean()), h.quantileBound(.99)))
	}
	fmt.Fprintf(out, "Server side (its own metrics, ConfigMaps only; client-observed mean %s): %s.\n\n", ms(clientMean), strings.Join(parts, "; "))
}

func meanOf(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	return sum / time.Duration(len(lat))
}
