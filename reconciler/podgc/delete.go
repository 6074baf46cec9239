package podgc

import (
	"context"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// markFailedAndDelete is Kubernetes' markFailedAndDeletePodWithCondition:
// a pod not yet terminated is first moved to Failed (with cond, if any)
// through pods/status, since no kubelet may be left to do it and a
// controller counting failures must see why the pod went; then it is
// deleted with no grace period. A pod already gone counts as done.
func (c *Controller) markFailedAndDelete(ctx context.Context, p *corev1.Pod, cond *corev1.PodCondition) error {
	c.log.Info("force deleting pod", "pod", p.Namespace+"/"+p.Name)
	if !isTerminated(p) {
		status := map[string]any{"phase": corev1.PodFailed}
		if cond != nil {
			cc := *cond
			cc.LastTransitionTime = metav1.NewTime(c.clock.Now())
			status["conditions"] = []corev1.PodCondition{cc}
		}
		// Conditions merge by type: the pod's other conditions stay.
		patch, err := json.Marshal(map[string]any{"status": status})
		if err != nil {
			return err
		}
		_, err = c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, *metav1.NewDeleteOptions(0))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
