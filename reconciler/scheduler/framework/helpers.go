package framework

import (
	corev1 "k8s.io/api/core/v1"
)

// defaultNormalizeScore scales scores to [0, maxPriority] by the highest
// one; reverse turns high raw scores into low ones. All zero gives all 0,
// or all maxPriority when reversed (kube-scheduler's
// helper.DefaultNormalizeScore).
func defaultNormalizeScore(maxPriority int64, reverse bool, scores []NodeScore) {
	var maxCount int64
	for i := range scores {
		maxCount = max(maxCount, scores[i].Score)
	}
	if maxCount == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = maxPriority
			}
		}
		return
	}
	for i := range scores {
		s := maxPriority * scores[i].Score / maxCount
		if reverse {
			s = maxPriority - s
		}
		scores[i].Score = s
	}
}

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

// tolerationsTolerateTaint reports whether any toleration tolerates the
// taint.
func tolerationsTolerateTaint(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tolerations {
		if toleratesTaint(&tolerations[i], taint) {
			return true
		}
	}
	return false
}

// doNotScheduleTaint selects the taints that keep pods off a node:
// NoSchedule and NoExecute.
func doNotScheduleTaint(t *corev1.Taint) bool {
	return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
}

// findMatchingUntoleratedTaint returns the first taint the filter selects
// that no toleration tolerates.
func findMatchingUntoleratedTaint(taints []corev1.Taint, tolerations []corev1.Toleration, filter func(*corev1.Taint) bool) (*corev1.Taint, bool) {
	for i := range taints {
		t := &taints[i]
		if filter(t) && !tolerationsTolerateTaint(tolerations, t) {
			return t, true
		}
	}
	return nil, false
}
