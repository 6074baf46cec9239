package daemonset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeShouldRunDaemonPod(t *testing.T) {
	zone := func(op corev1.NodeSelectorOperator, v ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: op, Values: v}}}
	}
	name := func(v string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{v}}}}
	}
	tests := []struct {
		name               string
		ds                 []dsOpt
		node               *corev1.Node
		run, continueToRun bool
	}{
		{"no constraints", nil, newNode("n"), true, true},
		{"nodeSelector matches", []dsOpt{nodeSelector(map[string]string{"role": "edge"})},
			newNode("n", nodeLabels(map[string]string{"role": "edge", "x": "y"})), true, true},
		{"nodeSelector does not match", []dsOpt{nodeSelector(map[string]string{"role": "edge"})},
			newNode("n", nodeLabels(map[string]string{"role": "core"})), false, false},
		{"nodeSelector label missing", []dsOpt{nodeSelector(map[string]string{"role": "edge"})}, newNode("n"), false, false},
		{"affinity In matches", []dsOpt{requiredTerms(zone(corev1.NodeSelectorOpIn, "a", "b"))},
			newNode("n", nodeLabels(map[string]string{"zone": "b"})), true, true},
		{"affinity In does not match", []dsOpt{requiredTerms(zone(corev1.NodeSelectorOpIn, "a"))},
			newNode("n", nodeLabels(map[string]string{"zone": "b"})), false, false},
		{"affinity NotIn", []dsOpt{requiredTerms(zone(corev1.NodeSelectorOpNotIn, "a"))},
			newNode("n", nodeLabels(map[string]string{"zone": "a"})), false, false},
		{"affinity DoesNotExist", []dsOpt{requiredTerms(zone(corev1.NodeSelectorOpDoesNotExist))}, newNode("n"), true, true},
		{"affinity terms are ORed", []dsOpt{requiredTerms(zone(corev1.NodeSelectorOpIn, "a"), name("n"))},
			newNode("n", nodeLabels(map[string]string{"zone": "b"})), true, true},
		{"affinity matchFields other node", []dsOpt{requiredTerms(name("other"))}, newNode("n"), false, false},
		{"affinity and nodeSelector both needed", []dsOpt{nodeSelector(map[string]string{"role": "edge"}), requiredTerms(name("n"))},
			newNode("n"), false, false},
		{"template nodeName elsewhere", []dsOpt{func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeName = "other" }}, newNode("n"), false, false},
		{"untolerated NoSchedule: not placed, kept", nil, newNode("n", taint("dedicated", corev1.TaintEffectNoSchedule)), false, true},
		{"untolerated NoExecute: evicted", nil, newNode("n", taint("dedicated", corev1.TaintEffectNoExecute)), false, false},
		{"NoSchedule and NoExecute: evicted", nil,
			newNode("n", taint("a", corev1.TaintEffectNoSchedule), taint("b", corev1.TaintEffectNoExecute)), false, false},
		{"PreferNoSchedule is ignored", nil, newNode("n", taint("dedicated", corev1.TaintEffectPreferNoSchedule)), true, true},
		{"toleration Equal", []dsOpt{tolerations(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "v", Effect: corev1.TaintEffectNoSchedule})},
			newNode("n", taint("dedicated", corev1.TaintEffectNoSchedule)), true, true},
		{"toleration Equal wrong value", []dsOpt{tolerations(corev1.Toleration{Key: "dedicated", Value: "w", Effect: corev1.TaintEffectNoSchedule})},
			newNode("n", taint("dedicated", corev1.TaintEffectNoSchedule)), false, true},
		{"toleration of another effect", []dsOpt{tolerations(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})},
			newNode("n", taint("dedicated", corev1.TaintEffectNoExecute)), false, false},
		{"toleration Exists without key or effect tolerates all", []dsOpt{tolerations(corev1.Toleration{Operator: corev1.TolerationOpExists})},
			newNode("n", taint("a", corev1.TaintEffectNoSchedule), taint("b", corev1.TaintEffectNoExecute)), true, true},
		{"default: unschedulable tolerated", nil, newNode("n", taint(TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)), true, true},
		{"default: not-ready NoExecute tolerated", nil, newNode("n", taint(TaintNodeNotReady, corev1.TaintEffectNoExecute)), true, true},
		{"default: memory-pressure tolerated", nil, newNode("n", taint(TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"network-unavailable not tolerated without hostNetwork", nil,
			newNode("n", taint(TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), false, true},
		{"network-unavailable tolerated with hostNetwork", []dsOpt{hostNetwork()},
			newNode("n", taint(TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, cont := NodeShouldRunDaemonPod(tt.node, newDS(tt.ds...))
			if run != tt.run || cont != tt.continueToRun {
				t.Errorf("NodeShouldRunDaemonPod = (%v, %v), want (%v, %v)", run, cont, tt.run, tt.continueToRun)
			}
		})
	}
}
