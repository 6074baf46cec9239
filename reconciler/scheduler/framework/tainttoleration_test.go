package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestTaintTolerationFilter(t *testing.T) {
	const reject = "UnschedulableAndUnresolvable: node(s) had untolerated taint(s)"
	snap := NewSnapshot(nodes(
		newNode("clean"),
		newNode("noschedule").taint("dedicated", "db", corev1.TaintEffectNoSchedule),
		newNode("noexecute").taint("node.kubernetes.io/not-ready", "", corev1.TaintEffectNoExecute),
		newNode("prefer").taint("spot", "true", corev1.TaintEffectPreferNoSchedule),
	), nil)
	tests := []struct {
		name string
		tol  []corev1.Toleration
		want map[string]string
	}{
		{"no tolerations: NoSchedule and NoExecute reject, PreferNoSchedule does not", nil,
			map[string]string{"clean": "", "noschedule": reject, "noexecute": reject, "prefer": ""}},
		{"Equal toleration with the value", []corev1.Toleration{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}},
			map[string]string{"clean": "", "noschedule": "", "noexecute": reject, "prefer": ""}},
		{"Equal toleration with another value", []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "web"}},
			map[string]string{"clean": "", "noschedule": reject, "noexecute": reject, "prefer": ""}},
		{"Exists with the key and no effect", []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists}},
			map[string]string{"clean": "", "noschedule": reject, "noexecute": "", "prefer": ""}},
		{"toleration for another effect", []corev1.Toleration{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}},
			map[string]string{"clean": "", "noschedule": reject, "noexecute": reject, "prefer": ""}},
		{"Exists with no key tolerates all", []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			map[string]string{"clean": "", "noschedule": "", "noexecute": "", "prefer": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPod("p").obj()
			p.Spec.Tolerations = tc.tol
			_, got := filterNodes(t, &TaintToleration{}, p, snap)
			if !equalMaps(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestTaintTolerationScore(t *testing.T) {
	snap := NewSnapshot(nodes(
		newNode("none"),
		newNode("one").taint("a", "1", corev1.TaintEffectPreferNoSchedule),
		newNode("two").taint("a", "1", corev1.TaintEffectPreferNoSchedule).taint("b", "1", corev1.TaintEffectPreferNoSchedule),
		newNode("hard").taint("c", "1", corev1.TaintEffectNoSchedule), // not a scoring taint
	), nil)
	// Raw counts 0, 1, 2, 0; reversed over the maximum 2: 100, 50, 0, 100.
	got := scoreNodes(t, &TaintToleration{}, newPod("p").obj(), snap)
	if want := map[string]int64{"none": 100, "one": 50, "two": 0, "hard": 100}; !equalMaps(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Tolerating "a" (with no effect, which covers PreferNoSchedule): counts 0, 0, 1, 0.
	p := newPod("p").tolerate(corev1.Toleration{Key: "a", Operator: corev1.TolerationOpExists}).obj()
	got = scoreNodes(t, &TaintToleration{}, p, snap)
	if want := map[string]int64{"none": 100, "one": 100, "two": 0, "hard": 100}; !equalMaps(got, want) {
		t.Errorf("tolerating a: got %v, want %v", got, want)
	}
	// A NoSchedule toleration does not count for PreferNoSchedule taints.
	p = newPod("p").tolerate(corev1.Toleration{Key: "a", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}).obj()
	got = scoreNodes(t, &TaintToleration{}, p, snap)
	if want := map[string]int64{"none": 100, "one": 50, "two": 0, "hard": 100}; !equalMaps(got, want) {
		t.Errorf("NoSchedule toleration: got %v, want %v", got, want)
	}
}
