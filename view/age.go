package view

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Since is how long ago t was, as kubectl prints ages ("5m", "3h12m",
// "2d"); "<unknown>" for a zero time, "<invalid>" for a time in the
// future beyond clock skew.
func Since(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// MicroSince is Since for the microsecond timestamps of newer event fields.
func MicroSince(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// Timestamp is how describe prints absolute times (RFC 1123 with a
// numeric zone, as kubectl does); "<unset>" for a zero time.
func Timestamp(t metav1.Time) string {
	if t.IsZero() {
		return "<unset>"
	}
	return t.Time.Format(time.RFC1123Z)
}
