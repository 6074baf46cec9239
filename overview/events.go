package overview

import (
	"cmp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// buildEvents keeps the Warning events of the last EventWindow, folds the
// ones that say the same thing about the same object into one, and
// returns them newest first.
func buildEvents(events []corev1.Event, now time.Time) Events {
	out := Events{WindowSeconds: int64(EventWindow / time.Second)}
	type key struct{ kind, ns, name, reason, message string }
	byKey := map[key]int{}
	var items []Event
	for i := range events {
		e := &events[i]
		if e.Type != corev1.EventTypeWarning {
			continue
		}
		last := eventTime(e)
		if last.Before(now.Add(-EventWindow)) {
			continue
		}
		msg := strings.Join(strings.Fields(e.Message), " ")
		ref := e.InvolvedObject
		k := key{ref.Kind, ref.Namespace, ref.Name, e.Reason, msg}
		count := max(e.Count, 1)
		if e.Series != nil {
			count = max(count, e.Series.Count)
		}
		if j, ok := byKey[k]; ok {
			items[j].Count += count
			if last.After(items[j].Last) {
				items[j].Last = last
			}
			continue
		}
		byKey[k] = len(items)
		items = append(items, Event{Last: last.UTC(), Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Reason: e.Reason, Message: msg, Count: count})
	}
	slices.SortFunc(items, func(a, b Event) int {
		return cmp.Or(b.Last.Compare(a.Last), strings.Compare(a.Namespace, b.Namespace),
			strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name), strings.Compare(a.Reason, b.Reason), strings.Compare(a.Message, b.Message))
	})
	out.Total = len(items)
	if len(items) > MaxEvents {
		items = items[:MaxEvents]
	}
	out.Items = items
	return out
}

// eventTime is when an event last happened, from whichever of the
// fields its reporter filled in.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}
