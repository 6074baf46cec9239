package view

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// EventTime is when an event last happened: the series' last
// observation, else lastTimestamp, else eventTime, else firstTimestamp
// (events written through events.k8s.io only set eventTime).
func EventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.FirstTimestamp.Time
}

// SortEvents orders events oldest first, as kubectl events lists them;
// ties are broken by namespace and name so the order is stable.
func SortEvents(events []corev1.Event) {
	sort.SliceStable(events, func(i, j int) bool {
		ti, tj := EventTime(&events[i]), EventTime(&events[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		if events[i].Namespace != events[j].Namespace {
			return events[i].Namespace < events[j].Namespace
		}
		return events[i].Name < events[j].Name
	})
}

// eventInterval is the "LAST SEEN" text: the age of the last occurrence,
// with the count and the age of the first one when it repeated.
func eventInterval(e *corev1.Event, now time.Time) string {
	first := MicroSince(e.EventTime, now)
	if e.EventTime.IsZero() {
		first = Since(e.FirstTimestamp, now)
	}
	switch {
	case e.Series != nil:
		return fmt.Sprintf("%s (x%d over %s)", MicroSince(e.Series.LastObservedTime, now), e.Series.Count, first)
	case e.Count > 1:
		return fmt.Sprintf("%s (x%d over %s)", Since(e.LastTimestamp, now), e.Count, first)
	case !e.LastTimestamp.IsZero():
		return Since(e.LastTimestamp, now)
	}
	return first
}

// EventRows are the cells of `cairn events`: LAST SEEN, TYPE, REASON,
// OBJECT, MESSAGE, with NAMESPACE first when listing every namespace.
func EventRows(events []corev1.Event, allNamespaces bool, now time.Time) (header []string, rows [][]string) {
	header = []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
	if allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	for i := range events {
		e := &events[i]
		row := []string{eventInterval(e, now), e.Type, e.Reason,
			e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name, strings.TrimSpace(e.Message)}
		if allNamespaces {
			row = append([]string{e.Namespace}, row...)
		}
		rows = append(rows, row)
	}
	return header, rows
}

// WriteEvents prints events sorted oldest first in kubectl events' columns.
func WriteEvents(w io.Writer, events []corev1.Event, allNamespaces, noHeaders, color bool, now time.Time) error {
	sorted := append([]corev1.Event(nil), events...)
	SortEvents(sorted)
	header, rows := EventRows(sorted, allNamespaces, now)
	if noHeaders {
		header = nil
	}
	return WriteAligned(w, header, rows, color)
}
