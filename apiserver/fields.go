package apiserver

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// attrsFor returns the storage attribute function of a resource: labels and
// the selectable fields (metadata.name, metadata.namespace and the kind's own).
func attrsFor(r *Resource) func(obj runtime.Object) (labels.Set, fields.Set, error) {
	return func(obj runtime.Object) (labels.Set, fields.Set, error) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, nil, err
		}
		f := fields.Set{"metadata.name": m.GetName()}
		if r.Namespaced {
			f["metadata.namespace"] = m.GetNamespace()
		}
		if r.Fields != nil {
			for k, v := range r.Fields(obj) {
				f[k] = v
			}
		}
		return labels.Set(m.GetLabels()), f, nil
	}
}

func podFields(obj runtime.Object) map[string]string {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	return map[string]string{
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(p.Spec.HostNetwork),
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             p.Status.PodIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
}

func nodeFields(obj runtime.Object) map[string]string {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return nil
	}
	return map[string]string{"spec.unschedulable": strconv.FormatBool(n.Spec.Unschedulable)}
}

func namespaceFields(obj runtime.Object) map[string]string {
	n, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil
	}
	return map[string]string{"status.phase": string(n.Status.Phase)}
}

func secretFields(obj runtime.Object) map[string]string {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return nil
	}
	return map[string]string{"type": string(s.Type)}
}

func eventFields(obj runtime.Object) map[string]string {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return nil
	}
	return map[string]string{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         e.Source.Component,
		"type":                           e.Type,
	}
}

func replicasFields(obj runtime.Object) map[string]string {
	switch o := obj.(type) {
	case *appsv1.ReplicaSet:
		return map[string]string{"status.replicas": strconv.Itoa(int(o.Status.Replicas))}
	case *corev1.ReplicationController:
		return map[string]string{"status.replicas": strconv.Itoa(int(o.Status.Replicas))}
	}
	return nil
}
