package deployment

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestProgressDeadline leaves a rollout without progress and moves the
// fake clock past progressDeadlineSeconds.
func TestProgressDeadline(t *testing.T) {
	f := newFixture(t)
	d := newDeployment(2, intstr.FromInt32(1), intstr.FromInt32(0), "v2")
	d.Spec.ProgressDeadlineSeconds = ptr.To(int32(60))
	old := rsOf(d, "v1", 1, 1, 1, 20)
	cur := rsOf(d, "v2", 2, 0, 2, 10)
	cur.Status.Replicas = 2
	d.Annotations = map[string]string{RevisionAnnotation: "2"}
	// The status the last sync wrote: no progress since.
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 2, ReadyReplicas: 1,
		AvailableReplicas: 1, UnavailableReplicas: 2, Conditions: []appsv1.DeploymentCondition{
			newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, MinimumReplicasUnavailable, "Deployment does not have minimum availability.", t0),
			newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReplicaSetUpdatedReason, fmt.Sprintf("ReplicaSet %q is progressing.", cur.Name), t0),
		}}
	f.add(d, old, cur)

	f.clock.SetTime(t0.Add(30 * time.Second))
	f.sync(d)
	if n := len(f.actions("update", "deployments")); n != 0 {
		t.Errorf("status written before the deadline (%d updates)", n)
	}
	if after := stuckRequeueAfter(d, d.Status, f.clock.Now()); after != 31*time.Second {
		t.Errorf("requeue after %v, want 31s (deadline + 1s)", after)
	}

	f.clock.SetTime(t0.Add(61 * time.Second))
	f.sync(d)
	got := getCondition(f.deployment().Status, appsv1.DeploymentProgressing)
	want := fmt.Sprintf("ReplicaSet %q has timed out progressing.", cur.Name)
	if got == nil || got.Status != corev1.ConditionFalse || got.Reason != TimedOutReason || got.Message != want ||
		!got.LastTransitionTime.Time.Equal(t0.Add(61*time.Second)) {
		t.Errorf("Progressing %+v, want False %s %q at t0+61s", got, TimedOutReason, want)
	}
	if after := stuckRequeueAfter(f.deployment(), f.deployment().Status, f.clock.Now()); after >= 0 {
		t.Errorf("a timed-out deployment is requeued after %v", after)
	}
}

func TestRolloutStatus(t *testing.T) {
	newRSName := "web-abc"
	progressing := func(reason string, at time.Time) appsv1.DeploymentCondition {
		return newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reason, "", at)
	}
	for _, tc := range []struct {
		name                string
		prev                appsv1.DeploymentStatus
		newAvail, oldAvail  int32
		newSpec, oldSpec    int32
		rsFailure           bool
		wantProgress        string
		wantProgressMessage string
		wantProgressUpdate  time.Time
		wantAvailable       corev1.ConditionStatus
		wantAvailableReason string
	}{
		{name: "complete", prev: appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{progressing(ReplicaSetUpdatedReason, t0.Add(-time.Minute))}},
			newAvail: 4, newSpec: 4,
			wantProgress: NewRSAvailableReason, wantProgressMessage: `ReplicaSet "web-abc" has successfully progressed.`, wantProgressUpdate: t0,
			wantAvailable: corev1.ConditionTrue, wantAvailableReason: MinimumReplicasAvailable},
		{name: "progress refreshes lastUpdateTime", prev: appsv1.DeploymentStatus{Replicas: 4, Conditions: []appsv1.DeploymentCondition{progressing(ReplicaSetUpdatedReason, t0.Add(-time.Minute))}},
			newAvail: 0, newSpec: 2, oldAvail: 2, oldSpec: 2,
			wantProgress: ReplicaSetUpdatedReason, wantProgressMessage: `ReplicaSet "web-abc" is progressing.`, wantProgressUpdate: t0,
			wantAvailable: corev1.ConditionFalse, wantAvailableReason: MinimumReplicasUnavailable},
		{name: "no progress keeps the condition", prev: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 2, AvailableReplicas: 3, ReadyReplicas: 3,
			Conditions: []appsv1.DeploymentCondition{progressing(ReplicaSetUpdatedReason, t0.Add(-time.Minute))}},
			newAvail: 1, newSpec: 2, oldAvail: 2, oldSpec: 2,
			wantProgress: ReplicaSetUpdatedReason, wantProgressUpdate: t0.Add(-time.Minute),
			wantAvailable: corev1.ConditionTrue, wantAvailableReason: MinimumReplicasAvailable},
		{name: "replica failure carried over", prev: appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{progressing(NewRSAvailableReason, t0.Add(-time.Minute))}},
			newAvail: 4, newSpec: 4, rsFailure: true,
			wantProgress: NewRSAvailableReason, wantProgressUpdate: t0.Add(-time.Minute),
			wantAvailable: corev1.ConditionTrue, wantAvailableReason: MinimumReplicasAvailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeployment(4, intstr.FromInt32(1), intstr.FromInt32(1), "v2")
			d.Status = tc.prev
			d.Status.ObservedGeneration = 1
			newRS := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: newRSName}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(tc.newSpec)},
				Status: appsv1.ReplicaSetStatus{Replicas: tc.newSpec, ReadyReplicas: tc.newAvail, AvailableReplicas: tc.newAvail}}
			if tc.rsFailure {
				newRS.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
					Reason: "FailedCreate", Message: "quota exceeded", LastTransitionTime: metav1.NewTime(t0)}}
			}
			oldRS := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-old"}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(tc.oldSpec)},
				Status: appsv1.ReplicaSetStatus{Replicas: tc.oldSpec, ReadyReplicas: tc.oldAvail, AvailableReplicas: tc.oldAvail}}
			st := rolloutStatus(d, []*appsv1.ReplicaSet{oldRS, newRS}, newRS, t0)

			if st.Replicas != tc.newSpec+tc.oldSpec || st.UpdatedReplicas != tc.newSpec || st.AvailableReplicas != tc.newAvail+tc.oldAvail ||
				st.UnavailableReplicas != tc.newSpec+tc.oldSpec-tc.newAvail-tc.oldAvail || st.ObservedGeneration != 1 {
				t.Errorf("counts %+v", st)
			}
			p := getCondition(st, appsv1.DeploymentProgressing)
			if p == nil || p.Reason != tc.wantProgress || !p.LastUpdateTime.Time.Equal(tc.wantProgressUpdate) ||
				(tc.wantProgressMessage != "" && p.Message != tc.wantProgressMessage) {
				t.Errorf("Progressing %+v, want %s %q updated %v", p, tc.wantProgress, tc.wantProgressMessage, tc.wantProgressUpdate)
			}
			a := getCondition(st, appsv1.DeploymentAvailable)
			if a == nil || a.Status != tc.wantAvailable || a.Reason != tc.wantAvailableReason {
				t.Errorf("Available %+v", a)
			}
			wantMsg := map[corev1.ConditionStatus]string{corev1.ConditionTrue: "Deployment has minimum availability.",
				corev1.ConditionFalse: "Deployment does not have minimum availability."}[tc.wantAvailable]
			if a != nil && a.Message != wantMsg {
				t.Errorf("Available message %q", a.Message)
			}
			f := getCondition(st, appsv1.DeploymentReplicaFailure)
			if tc.rsFailure != (f != nil) || (f != nil && (f.Reason != "FailedCreate" || f.Message != "quota exceeded")) {
				t.Errorf("ReplicaFailure %+v, want present=%v", f, tc.rsFailure)
			}
		})
	}
}
