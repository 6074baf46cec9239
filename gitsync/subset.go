package gitsync

import (
	"encoding/json"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/resource"
)

// contains reports whether live holds every field desired sets, with the
// same value: maps may have more keys (what the server defaulted or other
// controllers own), lists must have the same length with each element
// contained, and scalars must be equal — numbers by value and quantities
// by amount, so "0.5" and "500m" are one cpu request. It is how an
// unchanged object costs no write, and how drift is noticed.
func contains(live, desired any) bool {
	switch d := desired.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return false
		}
		for k, dv := range d {
			lv, ok := l[k]
			if !ok {
				if isEmpty(dv) {
					// An empty map, list or null in git is "nothing".
					continue
				}
				return false
			}
			if !contains(lv, dv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok {
			return len(d) == 0 && live == nil
		}
		if len(l) != len(d) {
			return false
		}
		for i := range d {
			if !contains(l[i], d[i]) {
				return false
			}
		}
		return true
	case nil:
		return live == nil
	default:
		return scalarEqual(live, desired)
	}
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

func scalarEqual(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	an, aNum := number(a)
	bn, bNum := number(b)
	if aNum && bNum && an == bn {
		return true
	}
	// Quantities: "1Gi" and "1073741824", "0.5" and "500m".
	as, bs := fmt.Sprint(a), fmt.Sprint(b)
	qa, errA := resource.ParseQuantity(as)
	qb, errB := resource.ParseQuantity(bs)
	return errA == nil && errB == nil && qa.Cmp(qb) == 0 && (isQuantityish(a) || isQuantityish(b))
}

// isQuantityish: quantities are compared by amount only when one side is a
// string (a plain number equal to a plain number is handled above).
func isQuantityish(v any) bool {
	_, ok := v.(string)
	return ok
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	}
	return 0, false
}
