package daemonset

import (
	"fmt"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func TestComputeHash(t *testing.T) {
	a, b := newDS(), newDS()
	if computeHash(&a.Spec.Template, nil) != computeHash(&b.Spec.Template, nil) {
		t.Error("equal templates hash differently")
	}
	b.Spec.Template.Spec.Containers[0].Image = "img:2"
	if computeHash(&a.Spec.Template, nil) == computeHash(&b.Spec.Template, nil) {
		t.Error("different templates hash the same")
	}
	if computeHash(&a.Spec.Template, nil) == computeHash(&a.Spec.Template, ptr.To(int32(1))) {
		t.Error("the collision count does not change the hash")
	}
}

func TestRevisionMatchesTemplateOnly(t *testing.T) {
	ds := newDS()
	data, err := revisionData(ds)
	if err != nil {
		t.Fatal(err)
	}
	rev := &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: data}}
	other := newDS(minReady(10), onDelete())
	other.Generation = 5
	if !revisionMatches(other, rev) {
		t.Error("a spec change outside the template made a new revision")
	}
	other.Spec.Template.Spec.Containers[0].Image = "img:2"
	if revisionMatches(other, rev) {
		t.Error("a template change matched the old revision")
	}
}

func TestRevisionsToDelete(t *testing.T) {
	rev := func(n int64) *appsv1.ControllerRevision {
		h := fmt.Sprintf("h%d", n)
		return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "ds-" + h,
			Labels: map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: h}}, Revision: n}
	}
	old := []*appsv1.ControllerRevision{rev(4), rev(1), rev(3), rev(2), rev(5)}
	tests := []struct {
		name  string
		limit int32
		live  []string
		want  []string
	}{
		{"under the limit", 5, nil, nil},
		{"oldest first", 2, nil, []string{"ds-h1", "ds-h2", "ds-h3"}},
		{"revisions of live pods are kept", 2, []string{"h1", "h3"}, []string{"ds-h2", "ds-h4", "ds-h5"}},
		{"limit 0", 0, []string{"h5"}, []string{"ds-h1", "ds-h2", "ds-h3", "ds-h4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDS()
			ds.Spec.RevisionHistoryLimit = ptr.To(tt.limit)
			var pods []*corev1.Pod
			for i, h := range tt.live {
				pods = append(pods, pod(ds, fmt.Sprint("p", i), "n", hash(h)))
			}
			var got []string
			for _, r := range revisionsToDelete(ds, old, pods) {
				got = append(got, r.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("deleted %v, want %v", got, tt.want)
			}
		})
	}
}
