package deployment

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestRecreate(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		oldSpec, oldStatus     int32
		oldPod                 corev1.PodPhase // "" for none
		wantOld, wantNew       int32
		wantNewReplicaSetExist bool
	}{
		{"old scaled to zero first, no new replica set", 3, 3, corev1.PodRunning, 0, 0, false},
		{"old at zero but still reporting pods: wait", 0, 1, "", 0, 0, false},
		{"an old pod still running: wait", 0, 0, corev1.PodRunning, 0, 0, false},
		{"an old pod in Unknown counts as running", 0, 0, corev1.PodUnknown, 0, 0, false},
		{"old pods all finished: new at full size", 0, 0, corev1.PodSucceeded, 0, 3, true},
		{"no old pods: new at full size", 0, 0, "", 0, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			d := newDeployment(3, intstr.FromInt32(0), intstr.FromInt32(0), "v2")
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
			old := rsOf(d, "v1", tc.oldSpec, tc.oldStatus, 1, 10)
			old.Status.Replicas = tc.oldStatus
			f.add(d, old)
			if tc.oldPod != "" {
				f.add(&corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "old-pod", Labels: old.Spec.Template.Labels,
						OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(old, rsKind)}},
					Status: corev1.PodStatus{Phase: tc.oldPod},
				})
			}
			f.sync(d)
			newName := newReplicaSetTemplate(d).Name
			want := []string{sizeOf(old, tc.wantOld)}
			if tc.wantNewReplicaSetExist {
				want = append(want, sizeOf(&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: newName}}, tc.wantNew))
			}
			if got := f.sizes(); !slices.Equal(got, sorted(want...)) {
				t.Errorf("sizes %v, want %v", got, sorted(want...))
			}
		})
	}
}
