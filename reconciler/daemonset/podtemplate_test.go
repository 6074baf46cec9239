package daemonset

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReplaceNodeNameAffinity(t *testing.T) {
	pinned := []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{
		Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{"n-1"}}}}}
	preferred := []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: corev1.NodeSelectorTerm{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "ssd", Operator: corev1.NodeSelectorOpExists}}}}}
	podAffinity := &corev1.PodAffinity{}
	tests := []struct {
		name string
		in   *corev1.Affinity
		want *corev1.Affinity
	}{
		{"nil affinity", nil, &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: pinned}}}},
		{"pod affinity only: kept", &corev1.Affinity{PodAffinity: podAffinity}, &corev1.Affinity{PodAffinity: podAffinity,
			NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: pinned}}}},
		{"preferred only: kept", &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferred}},
			&corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferred,
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: pinned}}}},
		{"required terms and another node's matchFields: all replaced",
			&corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
				{MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{"n-9"}}}},
			}}}},
			&corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: pinned}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := replaceNodeNameAffinity(tt.in, "n-1")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNewPod(t *testing.T) {
	own := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	// The same key, operator and effect as a default one: replaced, not doubled.
	dup := corev1.Toleration{Key: TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(int64)}
	tests := []struct {
		name string
		ds   *appsv1.DaemonSet
		want []corev1.Toleration
	}{
		{"defaults added after the template's", newDS(tolerations(own)), append([]corev1.Toleration{own}, defaultTolerations(false)...)},
		{"hostNetwork adds network-unavailable", newDS(hostNetwork()), defaultTolerations(true)},
		{"a matching toleration is replaced in place", newDS(tolerations(dup)), defaultTolerations(false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ds.Generation = 3
			p := newPod(tt.ds, "abc", "n-1")
			if !reflect.DeepEqual(p.Spec.Tolerations, tt.want) {
				t.Errorf("tolerations %+v\nwant %+v", p.Spec.Tolerations, tt.want)
			}
			if n, ok := targetNodeName(p); !ok || n != "n-1" || p.Spec.NodeName != "" {
				t.Errorf("pod pinned to %q (%v), nodeName %q; want the affinity to name n-1 and no nodeName", n, ok, p.Spec.NodeName)
			}
			want := map[string]string{"app": "ds", appsv1.DefaultDaemonSetUniqueLabelKey: "abc", LabelTemplateGeneration: "3"}
			if !reflect.DeepEqual(p.Labels, want) {
				t.Errorf("labels %v, want %v", p.Labels, want)
			}
			if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != tt.ds.UID || ref.Kind != "DaemonSet" || p.GenerateName != "ds-" {
				t.Errorf("owner %+v generateName %q", ref, p.GenerateName)
			}
			if len(tt.ds.Spec.Template.Labels) != 1 || tt.ds.Spec.Template.Spec.Affinity != nil {
				t.Error("the DaemonSet's template was modified")
			}
		})
	}
	t.Run("the annotation's template generation wins", func(t *testing.T) {
		ds := newDS()
		ds.Generation = 7
		ds.Annotations = map[string]string{AnnotationTemplateGeneration: "2"}
		if got := newPod(ds, "h", "n").Labels[LabelTemplateGeneration]; got != "2" {
			t.Errorf("pod-template-generation %q, want 2", got)
		}
	})
}
