package framework

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func affinitySnapshot() *Snapshot {
	return NewSnapshot(nodes(
		newNode("n1").zone("a").label("disk", "ssd").label("cores", "8"),
		newNode("n2").zone("b").label("disk", "hdd").label("cores", "4"),
		newNode("n3").zone("c").label("cores", "16"),
	), nil)
}

func TestNodeAffinityFilter(t *testing.T) {
	const zone = corev1.LabelTopologyZone
	nameIs := func(op corev1.NodeSelectorOperator, v string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: op, Values: []string{v}}}}
	}
	tests := []struct {
		name string
		pod  podB
		fit  []string
	}{
		{"nodeSelector matches", newPod("p").nodeSelector("disk", "ssd"), []string{"n1"}},
		{"nodeSelector label value mismatch", newPod("p").nodeSelector("disk", "nvme"), nil},
		{"nodeSelector label missing", newPod("p").nodeSelector("gpu", "true"), nil},
		{"In", newPod("p").requiredNodeTerms(nodeReq(zone, corev1.NodeSelectorOpIn, "a", "b")), []string{"n1", "n2"}},
		{"NotIn", newPod("p").requiredNodeTerms(nodeReq(zone, corev1.NodeSelectorOpNotIn, "a")), []string{"n2", "n3"}},
		{"NotIn matches nodes without the label", newPod("p").requiredNodeTerms(nodeReq("disk", corev1.NodeSelectorOpNotIn, "ssd")), []string{"n2", "n3"}},
		{"Exists", newPod("p").requiredNodeTerms(nodeReq("disk", corev1.NodeSelectorOpExists)), []string{"n1", "n2"}},
		{"DoesNotExist", newPod("p").requiredNodeTerms(nodeReq("disk", corev1.NodeSelectorOpDoesNotExist)), []string{"n3"}},
		{"Gt", newPod("p").requiredNodeTerms(nodeReq("cores", corev1.NodeSelectorOpGt, "4")), []string{"n1", "n3"}},
		{"Lt", newPod("p").requiredNodeTerms(nodeReq("cores", corev1.NodeSelectorOpLt, "8")), []string{"n2"}},
		{"Gt with a value that is not a number matches nothing", newPod("p").requiredNodeTerms(nodeReq("cores", corev1.NodeSelectorOpGt, "four")), nil},
		{"matchFields metadata.name In", newPod("p").requiredNodeTerms(nameIs(corev1.NodeSelectorOpIn, "n2")), []string{"n2"}},
		{"matchFields metadata.name NotIn", newPod("p").requiredNodeTerms(nameIs(corev1.NodeSelectorOpNotIn, "n2")), []string{"n1", "n3"}},
		{"terms are ORed", newPod("p").requiredNodeTerms(nodeReq(zone, corev1.NodeSelectorOpIn, "a"), nodeReq("disk", corev1.NodeSelectorOpDoesNotExist)),
			[]string{"n1", "n3"}},
		{"expressions of a term are ANDed", newPod("p").requiredNodeTerms(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: zone, Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}},
			{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"hdd"}},
		}}), []string{"n2"}},
		{"nodeSelector and affinity must both match", newPod("p").nodeSelector(zone, "a").requiredNodeTerms(nodeReq("disk", corev1.NodeSelectorOpIn, "hdd")), nil},
		{"an empty term matches nothing", newPod("p").requiredNodeTerms(corev1.NodeSelectorTerm{}), nil},
		{"no constraints: every node", newPod("p"), []string{"n1", "n2", "n3"}},
	}
	snap := affinitySnapshot()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pre, got := filterNodes(t, &NodeAffinity{}, tc.pod.obj(), snap)
			want := map[string]string{}
			for _, n := range []string{"n1", "n2", "n3"} {
				want[n] = "UnschedulableAndUnresolvable: node(s) didn't match Pod's node affinity/selector"
			}
			for _, n := range tc.fit {
				want[n] = ""
			}
			if pre == "skip" {
				got = map[string]string{"n1": "", "n2": "", "n3": ""}
			}
			if !equalMaps(got, want) {
				t.Errorf("got %v\nwant %v", got, want)
			}
		})
	}
}

func TestNodeAffinityPreFilterNarrowsToNamedNodes(t *testing.T) {
	snap := affinitySnapshot()
	field := func(vals ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: vals}
	}
	p := newPod("p").requiredNodeTerms(
		corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{field("n1", "n2"), field("n2", "n3")}},
		corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{field("n9")}},
	).obj()
	state := NewCycleState()
	if s := (&NodeAffinity{}).PreFilter(context.Background(), state, p, snap); !s.IsSuccess() {
		t.Fatal(s)
	}
	names, plugins, ok := state.narrowed()
	if !ok || len(names) != 2 || names[0] != "n2" || names[1] != "n9" || plugins[0] != NodeAffinityName {
		t.Errorf("narrowed to %v by %v (%v), want [n2 n9] by NodeAffinity", names, plugins, ok)
	}

	// A term that can match any node keeps every node in play.
	p = newPod("p").requiredNodeTerms(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{field("n1")}},
		nodeReq("disk", corev1.NodeSelectorOpExists)).obj()
	state = NewCycleState()
	(&NodeAffinity{}).PreFilter(context.Background(), state, p, snap)
	if _, _, ok := state.narrowed(); ok {
		t.Error("narrowed although the second term matches by label")
	}

	// Names that exclude each other within a term reject the pod.
	p = newPod("p").requiredNodeTerms(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{field("n1"), field("n2")}}).obj()
	s := (&NodeAffinity{}).PreFilter(context.Background(), NewCycleState(), p, snap)
	if s.Code() != UnschedulableAndUnresolvable || s.Message() != "pod affinity terms conflict" {
		t.Errorf("got %v", s)
	}
}

func TestNodeAffinityScore(t *testing.T) {
	snap := affinitySnapshot()
	p := newPod("p").obj()
	p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
		{Weight: 5, Preference: nodeReq(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "a")},
		{Weight: 3, Preference: nodeReq("disk", corev1.NodeSelectorOpExists)},
		{Weight: 50, Preference: corev1.NodeSelectorTerm{}}, // empty: matches nothing
	}}}
	// Raw 8, 3, 0; scaled by the maximum 8: 100, 37, 0.
	got := scoreNodes(t, &NodeAffinity{}, p, snap)
	if want := map[string]int64{"n1": 100, "n2": 37, "n3": 0}; !equalMaps(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := scoreNodes(t, &NodeAffinity{}, newPod("p").obj(), snap); got != nil {
		t.Errorf("pod without preferences is scored: %v", got)
	}
}
