package nodelifecycle

import (
	"slices"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func keys(taints []corev1.Taint) []string {
	out := []string{}
	for _, t := range taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	sort.Strings(out)
	return out
}

func TestNoScheduleTaints(t *testing.T) {
	set := func(ct corev1.NodeConditionType, s corev1.ConditionStatus) func(*corev1.Node) {
		return func(n *corev1.Node) { findCondition(n, ct).Status = s }
	}
	for _, tc := range []struct {
		name     string
		mod      []func(*corev1.Node)
		existing []corev1.Taint
		want     []string
		add, del []string
	}{
		{name: "healthy", want: []string{}, add: []string{}, del: []string{}},
		{name: "not ready", mod: []func(*corev1.Node){set(corev1.NodeReady, corev1.ConditionFalse)},
			want: []string{"node.kubernetes.io/not-ready:NoSchedule"}, add: []string{"node.kubernetes.io/not-ready:NoSchedule"}, del: []string{}},
		{name: "unreachable", mod: []func(*corev1.Node){set(corev1.NodeReady, corev1.ConditionUnknown)},
			want: []string{"node.kubernetes.io/unreachable:NoSchedule"}, add: []string{"node.kubernetes.io/unreachable:NoSchedule"}, del: []string{}},
		{name: "pressures and network", mod: []func(*corev1.Node){
			set(corev1.NodeMemoryPressure, corev1.ConditionTrue), set(corev1.NodeDiskPressure, corev1.ConditionTrue),
			set(corev1.NodePIDPressure, corev1.ConditionTrue), set(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)},
			want: []string{"node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
				"node.kubernetes.io/network-unavailable:NoSchedule", "node.kubernetes.io/pid-pressure:NoSchedule"},
			add: []string{"node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
				"node.kubernetes.io/network-unavailable:NoSchedule", "node.kubernetes.io/pid-pressure:NoSchedule"}, del: []string{}},
		{name: "unschedulable", mod: []func(*corev1.Node){func(n *corev1.Node) { n.Spec.Unschedulable = true }},
			want: []string{"node.kubernetes.io/unschedulable:NoSchedule"}, add: []string{"node.kubernetes.io/unschedulable:NoSchedule"}, del: []string{}},
		{name: "pressure gone, unreachable becomes not ready; foreign and NoExecute taints untouched",
			mod: []func(*corev1.Node){set(corev1.NodeReady, corev1.ConditionFalse)},
			existing: []corev1.Taint{
				{Key: corev1.TaintNodeMemoryPressure, Effect: corev1.TaintEffectNoSchedule},
				{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
				{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute},
				{Key: "example.com/dedicated", Effect: corev1.TaintEffectNoSchedule},
			},
			want: []string{"node.kubernetes.io/not-ready:NoSchedule"},
			add:  []string{"node.kubernetes.io/not-ready:NoSchedule"},
			del:  []string{"node.kubernetes.io/memory-pressure:NoSchedule", "node.kubernetes.io/unreachable:NoSchedule"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode("n", "")
			for _, m := range tc.mod {
				m(n)
			}
			n.Spec.Taints = tc.existing
			if got := keys(noScheduleTaints(n)); !slices.Equal(got, tc.want) {
				t.Errorf("taints = %v, want %v", got, tc.want)
			}
			add, del := noScheduleDiff(n)
			if !slices.Equal(keys(add), tc.add) || !slices.Equal(keys(del), tc.del) {
				t.Errorf("diff = +%v -%v, want +%v -%v", keys(add), keys(del), tc.add, tc.del)
			}
		})
	}
}

func TestSwapTaints(t *testing.T) {
	before := metav1.NewTime(t0.Add(-time.Minute))
	now := t0
	for _, tc := range []struct {
		name     string
		have     []corev1.Taint
		add, del []corev1.Taint
		want     []string
		changed  bool
	}{
		{name: "add", add: []corev1.Taint{UnreachableTaint}, want: []string{"node.kubernetes.io/unreachable:NoExecute"}, changed: true},
		{name: "swap", have: []corev1.Taint{withTime(NotReadyTaint, before)}, add: []corev1.Taint{UnreachableTaint}, del: []corev1.Taint{NotReadyTaint},
			want: []string{"node.kubernetes.io/unreachable:NoExecute"}, changed: true},
		{name: "present already keeps its time", have: []corev1.Taint{withTime(UnreachableTaint, before)}, add: []corev1.Taint{UnreachableTaint},
			want: []string{"node.kubernetes.io/unreachable:NoExecute"}},
		{name: "remove absent", del: []corev1.Taint{NotReadyTaint}, want: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := swapTaints(tc.have, tc.add, tc.del, now)
			if !slices.Equal(keys(got), tc.want) || changed != tc.changed {
				t.Errorf("got %v changed %v, want %v changed %v", keys(got), changed, tc.want, tc.changed)
			}
			for _, g := range got {
				want := now
				if hasTaint(tc.have, g) {
					want = before.Time
				}
				if g.TimeAdded == nil || !g.TimeAdded.Time.Equal(want) {
					t.Errorf("%s added at %v, want %v", g.Key, g.TimeAdded, want)
				}
			}
		})
	}
}

func withTime(t corev1.Taint, at metav1.Time) corev1.Taint {
	t.TimeAdded = &at
	return t
}
