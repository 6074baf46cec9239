package nodelifecycle

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// processPod marks a pod newly bound to a node not ready if the node was
// not ready when last looked at.
func (c *Controller) processPod(ctx context.Context, ns, name string) error {
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	h := c.health.get(pod.Spec.NodeName)
	if h == nil {
		// Not looked at yet, or gone.
		return nil
	}
	ready := readyCondition(h.status)
	if ready == nil || ready.Status == corev1.ConditionTrue {
		return nil
	}
	return c.markPodsNotReady(ctx, []*corev1.Pod{pod}, pod.Spec.NodeName)
}

// notReady is a pod's status with its Ready condition False, and whether
// that changes anything; pods without a Ready condition are left alone,
// as Kubernetes' MarkPodsNotReady does.
func notReady(s corev1.PodStatus, now metav1.Time) (corev1.PodStatus, bool) {
	for i, c := range s.Conditions {
		if c.Type != corev1.PodReady {
			continue
		}
		if c.Status == corev1.ConditionFalse {
			return s, false
		}
		s = *s.DeepCopy()
		s.Conditions[i].Status = corev1.ConditionFalse
		s.Conditions[i].LastTransitionTime = now
		return s, true
	}
	return s, false
}

// markPodsNotReady is Kubernetes' MarkPodsNotReady: the pods' Ready
// condition goes False, each with a NodeNotReady event.
func (c *Controller) markPodsNotReady(ctx context.Context, pods []*corev1.Pod, node string) error {
	var errs []error
	now := metav1.NewTime(c.clock.Now())
	for _, p := range pods {
		if p.Spec.NodeName != node {
			continue
		}
		status, changed := notReady(p.Status, now)
		if !changed {
			continue
		}
		p = p.DeepCopy()
		p.Status = status
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			errs = append(errs, err)
			continue
		}
		c.recorder.Event(p, corev1.EventTypeWarning, EventNodeNotReady, "Node is not ready")
	}
	return errors.Join(errs...)
}
