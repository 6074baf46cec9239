package apiserver

import (
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cairn-dev/cairn/apiserver/storage"
)

// bind serves pods/binding: the scheduler's way to assign a pod to a node.
func (s *Server) bind(q *request) {
	body, err := readBody(q.r)
	if err != nil {
		writeStatus(q.w, err)
		return
	}
	gvk := corev1.SchemeGroupVersion.WithKind("Binding")
	obj, _, err := decodeBody(body, q.res, func() runtime.Object { return &corev1.Binding{} }, gvk, validationStrict)
	if err != nil {
		writeStatus(q.w, err)
		return
	}
	b := obj.(*corev1.Binding)
	if b.Name != "" && b.Name != q.info.Name {
		writeStatus(q.w, badRequest("the name of the binding does not match the pod"))
		return
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		writeStatus(q.w, apierrors.NewInvalid(gvk.GroupKind(), b.Name, nil))
		return
	}
	if b.Target.Name == "" {
		writeStatus(q.w, badRequest("a binding needs target.name, the node"))
		return
	}
	if q.dryRun {
		writeJSON(q.w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
		return
	}
	_, err = q.store.GuaranteedUpdate(q.ctx, q.key(), func(cur runtime.Object) (storage.Update, error) {
		pod := cur.(*corev1.Pod)
		if b.UID != "" && b.UID != pod.UID {
			return storage.Update{}, apierrors.NewConflict(q.res.GR(), pod.Name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		if pod.DeletionTimestamp != nil {
			return storage.Update{}, apierrors.NewConflict(q.res.GR(), pod.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
		}
		if pod.Spec.NodeName != "" {
			return storage.Update{}, apierrors.NewConflict(q.res.GR(), pod.Name, fmt.Errorf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now()})
		return storage.Update{Object: pod}, nil
	})
	if err != nil {
		s.fail(q, err)
		return
	}
	writeJSON(q.w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			if pod.Status.Conditions[i].Status != c.Status {
				pod.Status.Conditions[i] = c
			}
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// qosClass computes a pod's QoS class as the kubelet does.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := 0, 0
	guaranteed := true
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim, hasLim := c.Resources.Limits[name]
			if hasReq && !req.IsZero() {
				requests++
			}
			if hasLim && !lim.IsZero() {
				limits++
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case requests == 0 && limits == 0:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	default:
		return corev1.PodQOSBurstable
	}
}
