package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNodeUnschedulable(t *testing.T) {
	snap := NewSnapshot(nodes(newNode("ready"), newNode("cordoned").cordon()), nil)
	tests := []struct {
		name string
		pod  podB
		want map[string]string
	}{
		{"cordoned node is rejected", newPod("p"), map[string]string{
			"ready": "", "cordoned": "UnschedulableAndUnresolvable: node(s) were unschedulable"}},
		{"pod tolerating unschedulable:NoSchedule passes", newPod("p").tolerate(corev1.Toleration{
			Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}),
			map[string]string{"ready": "", "cordoned": ""}},
		{"a toleration with another effect does not", newPod("p").tolerate(corev1.Toleration{
			Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}),
			map[string]string{"ready": "", "cordoned": "UnschedulableAndUnresolvable: node(s) were unschedulable"}},
		{"tolerate everything", newPod("p").tolerate(corev1.Toleration{Operator: corev1.TolerationOpExists}),
			map[string]string{"ready": "", "cordoned": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := filterNodes(t, &NodeUnschedulable{}, tc.pod.obj(), snap)
			if !equalMaps(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
