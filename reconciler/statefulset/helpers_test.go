package statefulset

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// newSet is an OrderedReady, RollingUpdate set "web" with one claim
// template "data", as the API server defaults it.
func newSet(replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: types.UID("web-uid"), Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			ServiceName:         "web-svc",
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(int32(0))}},
			RevisionHistoryLimit: ptr.To(int32(10)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func withImage(set *appsv1.StatefulSet, image string) *appsv1.StatefulSet {
	s := set.DeepCopy()
	s.Spec.Template.Spec.Containers[0].Image = image
	return s
}

// revs builds the revision state of a set whose current revision has
// the template of current and whose update revision that of set.
func revs(t *testing.T, current, set *appsv1.StatefulSet) revisionState {
	t.Helper()
	cur, err := newRevision(current, 1, ptr.To(int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	upd, err := newRevision(set, 2, ptr.To(int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	if equalRevision(cur, upd) {
		upd = cur
	}
	rs := revisionState{current: cur, update: upd}
	if rs.currentSet, err = applyRevision(set, cur); err != nil {
		t.Fatal(err)
	}
	if rs.updateSet, err = applyRevision(set, upd); err != nil {
		t.Fatal(err)
	}
	return rs
}

// podState is how a test pod is doing.
type podState int

const (
	ready podState = iota
	pending
	notReady
	failed
	terminating
	readyNow // ready since t0 only
)

// statePod is the set's pod for ordinal at revision rev, as the API
// would show it in state st.
func statePod(set *appsv1.StatefulSet, ordinal int, rev string, st podState) *corev1.Pod {
	p := newPod(set, ordinal)
	p.UID = types.UID(p.Name + "-uid")
	setPodRevision(p, rev)
	p.Spec.NodeName = "n-0"
	p.Status.Phase = corev1.PodRunning
	readyAt := metav1.NewTime(t0.Add(-time.Hour))
	switch st {
	case pending:
		p.Status.Phase = corev1.PodPending
		return p
	case failed:
		p.Status.Phase = corev1.PodFailed
		return p
	case notReady:
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
		return p
	case terminating:
		p.DeletionTimestamp = &readyAt
	case readyNow:
		readyAt = metav1.NewTime(t0)
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: readyAt}}
	return p
}
