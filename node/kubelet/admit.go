package kubelet

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rejection is why the node refuses a pod, as the kubelet's admission:
// Reason "OutOfcpu", "OutOfmemory", "OutOfephemeral-storage" or
// "OutOfpods".
type rejection struct{ reason, message string }

// admit decides whether a pod new to this node fits next to the pods
// already admitted, as the kubelet's resource admission does for a pod
// bound without the scheduler (or by a scheduler with a stale view): the
// sum of requests against allocatable, and the pod count against
// allocatable pods. It is pure.
func admit(pod *corev1.Pod, admitted []*corev1.Pod, allocatable corev1.ResourceList) *rejection {
	if maxPods, ok := allocatable[corev1.ResourcePods]; ok && int64(len(admitted))+1 > maxPods.Value() {
		return &rejection{"OutOfpods", fmt.Sprintf("Node didn't have enough resource: pods, requested: 1, used: %d, capacity: %d", len(admitted), maxPods.Value())}
	}
	want := podRequests(pod)
	used := corev1.ResourceList{}
	for _, p := range admitted {
		for name, q := range podRequests(p) {
			sum := used[name]
			sum.Add(q)
			used[name] = sum
		}
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		req, ok := want[name]
		capacity, known := allocatable[name]
		if !ok || req.IsZero() || !known {
			continue
		}
		u := used[name]
		total := u.DeepCopy()
		total.Add(req)
		if total.Cmp(capacity) > 0 {
			return &rejection{"OutOf" + string(name), fmt.Sprintf("Node didn't have enough resource: %s, requested: %s, used: %s, capacity: %s",
				name, amount(name, req), amount(name, u), amount(name, capacity))}
		}
	}
	return nil
}

// amount prints a quantity as the kubelet's message does: cpu in
// millicores, the rest in bytes.
func amount(name corev1.ResourceName, q resource.Quantity) string {
	if name == corev1.ResourceCPU {
		return fmt.Sprint(q.MilliValue())
	}
	return fmt.Sprint(q.Value())
}

// podRequests is a pod's effective requests: the larger of its containers'
// sum and its largest init container, plus its overhead.
func podRequests(pod *corev1.Pod) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		for name, q := range c.Resources.Requests {
			sum := out[name]
			sum.Add(q)
			out[name] = sum
		}
	}
	for _, c := range pod.Spec.InitContainers {
		for name, q := range c.Resources.Requests {
			if cur, ok := out[name]; !ok || q.Cmp(cur) > 0 {
				out[name] = q.DeepCopy()
			}
		}
	}
	for name, q := range pod.Spec.Overhead {
		sum := out[name]
		sum.Add(q)
		out[name] = sum
	}
	return out
}

// admitted reports whether the pod may run here, deciding it the first
// time: a pod already running (adopted after a restart) or already
// decided is not decided again. A refused pod is failed with the reason.
func (k *Kubelet) admitted(ctx context.Context, pod *corev1.Pod, hasContainers bool) (bool, error) {
	uid := string(pod.UID)
	k.admitMu.Lock()
	defer k.admitMu.Unlock()
	if k.admittedPods[uid] || hasContainers || pod.Status.Phase == corev1.PodRunning || k.cfg.Allocatable == nil {
		k.admittedPods[uid] = true
		return true, nil
	}
	allocatable := k.cfg.Allocatable()
	if len(allocatable) == 0 {
		return false, fmt.Errorf("the node's allocatable resources are not known yet")
	}
	var others []*corev1.Pod
	for _, obj := range k.pods.GetStore().List() {
		p := obj.(*corev1.Pod)
		if k.admittedPods[string(p.UID)] && p.UID != pod.UID && !terminal(p.Status.Phase) {
			others = append(others, p)
		}
	}
	rej := admit(pod, others, allocatable)
	if rej == nil {
		k.admittedPods[uid] = true
		return true, nil
	}
	k.record.Eventf(pod, corev1.EventTypeWarning, rej.reason, "%s", rej.message)
	st := pod.Status.DeepCopy()
	st.Phase = corev1.PodFailed
	st.Reason = rej.reason
	st.Message = "Pod was rejected: " + rej.message
	now := metav1.Now()
	if st.StartTime == nil {
		st.StartTime = &now
	}
	return false, k.writeStatus(ctx, pod, *st)
}
