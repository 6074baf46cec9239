package tainteviction

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// toleratesTaint reports whether a toleration tolerates a taint. The Lt
// and Gt operators (alpha, off by default in Kubernetes) tolerate nothing.
func toleratesTaint(t *corev1.Toleration, taint *corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case "", corev1.TolerationOpEqual:
		return t.Value == taint.Value
	case corev1.TolerationOpExists:
		return true
	default:
		return false
	}
}

// noExecuteTaints keeps a node's NoExecute taints.
func noExecuteTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// evictionTime decides when a pod with the given tolerations must leave a
// node with the given NoExecute taints: evict is false when it may stay
// (no taint, or every taint tolerated forever). Otherwise it goes at at:
// at once (firstSeen) when some taint is not tolerated, else when the
// first taint runs out of tolerance, each taint being tolerated for the
// least tolerationSeconds of the tolerations matching it, counted from
// its timeAdded, or from firstSeen (when the controller first saw it) if
// it has none.
func evictionTime(taints []corev1.Taint, tolerations []corev1.Toleration, firstSeen time.Time) (at time.Time, evict bool) {
	for i := range taints {
		taint := &taints[i]
		var least *int64
		tolerated, forever := false, true
		for j := range tolerations {
			tol := &tolerations[j]
			if !toleratesTaint(tol, taint) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds == nil {
				continue
			}
			forever = false
			if least == nil || *tol.TolerationSeconds < *least {
				least = tol.TolerationSeconds
			}
		}
		if !tolerated {
			return firstSeen, true
		}
		if forever {
			continue
		}
		start := firstSeen
		if taint.TimeAdded != nil {
			start = taint.TimeAdded.Time
		}
		t := start.Add(time.Duration(max(*least, 0)) * time.Second)
		if !evict || t.Before(at) {
			at, evict = t, true
		}
	}
	return at, evict
}
