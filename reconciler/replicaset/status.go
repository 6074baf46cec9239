package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// status computes the ReplicaSet's next status from its claimed pods and
// the error of this sync's creates or deletes, as Kubernetes'
// calculateStatus.
func (c *Controller) status(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error) appsv1.ReplicaSetStatus {
	st := *rs.Status.DeepCopy()
	now := c.clock.Now()
	var labeled, ready, available int32
	for _, p := range pods {
		if matchesTemplate(p, rs.Spec.Template.Labels) {
			labeled++
		}
		if isReady(p) {
			ready++
			if isAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	st.Replicas = int32(len(pods))
	st.FullyLabeledReplicas = labeled
	st.ReadyReplicas = ready
	st.AvailableReplicas = available
	st.ObservedGeneration = rs.Generation

	var failure *appsv1.ReplicaSetCondition
	for i := range st.Conditions {
		if st.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure {
			failure = &st.Conditions[i]
		}
	}
	switch {
	case manageErr != nil && failure == nil:
		want := int32(1)
		if rs.Spec.Replicas != nil {
			want = *rs.Spec.Replicas
		}
		reason := "FailedCreate"
		if int32(len(pods)) > want {
			reason = "FailedDelete"
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		var kept []appsv1.ReplicaSetCondition
		for _, cond := range st.Conditions {
			if cond.Type != appsv1.ReplicaSetReplicaFailure {
				kept = append(kept, cond)
			}
		}
		st.Conditions = kept
	}
	return st
}

// writeStatus writes the status through the status subresource when it
// changed, and returns the ReplicaSet as it now is.
func (c *Controller) writeStatus(ctx context.Context, rs *appsv1.ReplicaSet, next appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if apiequality.Semantic.DeepEqual(rs.Status, next) {
		return rs, nil
	}
	rs.Status = next
	return c.owners.updateStatus(ctx, rs)
}
