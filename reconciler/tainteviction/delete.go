package tainteviction

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// DisruptionTarget condition the pod is given before it is deleted, as
// Kubernetes'.
const (
	ReasonDeletionByTaintManager  = "DeletionByTaintManager"
	MessageDeletionByTaintManager = "Taint manager: deleting due to NoExecute taint"
)

// deleteRetries and deleteRetryDelay: how often, and how far apart, a
// pod's deletion is tried, as Kubernetes'.
const (
	deleteRetries    = 5
	deleteRetryDelay = 10 * time.Millisecond
)

// deletePod is the timed work: it announces and deletes the pod, trying
// a few times.
func (c *Controller) deletePod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	c.log.Info("deleting pod", "pod", key)
	c.recorder.Eventf(&corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name},
		corev1.EventTypeNormal, EventTaintManagerEviction, "Marking for deletion Pod %s", key)
	for i := 0; ; i++ {
		err = c.conditionAndDelete(ctx, ns, name)
		if err == nil {
			c.deletions.Inc()
			return nil
		}
		if i+1 >= deleteRetries || ctx.Err() != nil {
			c.log.Info("deleting pod failed", "pod", key, "err", err)
			return err
		}
		t := time.NewTimer(deleteRetryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// conditionAndDelete marks the pod a DisruptionTarget, so that its
// owners and disruption budgets can tell why it went, then deletes it.
// A pod already gone counts as deleted.
func (c *Controller) conditionAndDelete(ctx context.Context, ns, name string) error {
	pods := c.client.CoreV1().Pods(ns)
	pod, err := pods.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if withDisruptionTarget(&pod.Status, metav1.NewTime(c.clock.Now())) {
		if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	err = pods.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// withDisruptionTarget sets the DisruptionTarget condition in s; false if
// it was set already.
func withDisruptionTarget(s *corev1.PodStatus, now metav1.Time) bool {
	want := corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: ReasonDeletionByTaintManager, Message: MessageDeletionByTaintManager, LastTransitionTime: now,
	}
	for i, c := range s.Conditions {
		if c.Type != corev1.DisruptionTarget {
			continue
		}
		if c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message {
			return false
		}
		if c.Status == want.Status {
			want.LastTransitionTime = c.LastTransitionTime
		}
		s.Conditions[i] = want
		return true
	}
	s.Conditions = append(s.Conditions, want)
	return true
}
