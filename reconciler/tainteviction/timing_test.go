package tainteviction

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func unreachable(added *time.Time) corev1.Taint {
	t := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	if added != nil {
		t.TimeAdded = &metav1.Time{Time: *added}
	}
	return t
}

func tolerate(key string, seconds *int64) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
}

func TestEvictionTime(t *testing.T) {
	before := t0.Add(-100 * time.Second)
	dedicated := corev1.Taint{Key: "example.com/dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}
	for _, tc := range []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		evict       bool
		after       time.Duration // from t0
	}{
		{name: "no taint", evict: false},
		{name: "not tolerated: at once", taints: []corev1.Taint{unreachable(nil)}, evict: true},
		{name: "tolerated for 300 s from when first seen", taints: []corev1.Taint{unreachable(nil)},
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](300))}, evict: true, after: 300 * time.Second},
		{name: "tolerated for 300 s from the taint's timeAdded", taints: []corev1.Taint{unreachable(&before)},
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](300))}, evict: true, after: 200 * time.Second},
		{name: "the least of the matching tolerations", taints: []corev1.Taint{unreachable(nil)},
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](300)), tolerate("", ptr.To[int64](60))},
			evict:       true, after: 60 * time.Second},
		{name: "tolerated forever", taints: []corev1.Taint{unreachable(nil)},
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, nil)}, evict: false},
		{name: "forever for one taint, a while for another", taints: []corev1.Taint{unreachable(nil), dedicated},
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, nil), tolerate(dedicated.Key, ptr.To[int64](30))},
			evict:       true, after: 30 * time.Second},
		{name: "one taint of two not tolerated", taints: []corev1.Taint{unreachable(nil), dedicated},
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, nil)}, evict: true},
		{name: "a value mismatch does not tolerate", taints: []corev1.Taint{dedicated},
			tolerations: []corev1.Toleration{{Key: dedicated.Key, Value: "web", Effect: corev1.TaintEffectNoExecute}}, evict: true},
		{name: "a NoSchedule toleration does not tolerate NoExecute", taints: []corev1.Taint{unreachable(nil)},
			tolerations: []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, evict: true},
		{name: "negative seconds: at once", taints: []corev1.Taint{unreachable(nil)},
			tolerations: []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, ptr.To[int64](-5))}, evict: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, evict := evictionTime(tc.taints, tc.tolerations, t0)
			if evict != tc.evict {
				t.Fatalf("evict = %v, want %v", evict, tc.evict)
			}
			if evict && !at.Equal(t0.Add(tc.after)) {
				t.Errorf("at +%v, want +%v", at.Sub(t0), tc.after)
			}
		})
	}
}
