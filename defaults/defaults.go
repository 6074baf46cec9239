// Package defaults fills in the fields kube-apiserver defaults on the objects
// cairn serves, so that what cairn stores and returns matches what a
// Kubernetes cluster would store and return for the same manifest.
//
// It follows k8s.io/kubernetes pkg/apis/*/v1/defaults.go and the generated
// zz_generated.defaults.go (including the declarative +default tags), plus the
// few values kube-apiserver's registry strategies and default admission
// plugins set on create (Namespace finalizer and phase, Pod priority and
// preemptionPolicy, Service ipFamilyPolicy), as a cluster at Kubernetes 1.37
// with default feature gates does.
//
// Every function is idempotent: applying the defaults to an already defaulted
// object changes nothing.
package defaults

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Apply sets the defaults of obj in place. Types it does not know are left
// untouched, as are nil pointers.
func Apply(obj runtime.Object) {
	switch o := obj.(type) {
	// core/v1
	case *corev1.Pod:
		if o != nil {
			Pod(o)
		}
	case *corev1.PodTemplate:
		if o != nil {
			PodTemplateSpec(&o.Template)
		}
	case *corev1.Service:
		if o != nil {
			Service(o)
		}
	case *corev1.Namespace:
		if o != nil {
			Namespace(o)
		}
	case *corev1.Secret:
		if o != nil {
			Secret(o)
		}
	case *corev1.ConfigMap:
		if o != nil {
			ConfigMap(o)
		}
	case *corev1.PersistentVolumeClaim:
		if o != nil {
			PersistentVolumeClaim(o)
		}
	case *corev1.PersistentVolume:
		if o != nil {
			PersistentVolume(o)
		}
	case *corev1.ReplicationController:
		if o != nil {
			ReplicationController(o)
		}
	case *corev1.Endpoints:
		if o != nil {
			Endpoints(o)
		}
	case *corev1.Node:
		if o != nil {
			Node(o)
		}
	case *corev1.LimitRange:
		if o != nil {
			LimitRange(o)
		}
	case *corev1.ResourceQuota:
		if o != nil {
			ResourceQuota(o)
		}
	// apps/v1
	case *appsv1.Deployment:
		if o != nil {
			Deployment(o)
		}
	case *appsv1.ReplicaSet:
		if o != nil {
			ReplicaSet(o)
		}
	case *appsv1.StatefulSet:
		if o != nil {
			StatefulSet(o)
		}
	case *appsv1.DaemonSet:
		if o != nil {
			DaemonSet(o)
		}
	// rbac/v1
	case *rbacv1.RoleBinding:
		if o != nil {
			RoleBinding(o)
		}
	case *rbacv1.ClusterRoleBinding:
		if o != nil {
			ClusterRoleBinding(o)
		}
	// storage.k8s.io/v1
	case *storagev1.StorageClass:
		if o != nil {
			StorageClass(o)
		}
	// admissionregistration.k8s.io/v1
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		if o != nil {
			ValidatingAdmissionPolicy(o)
		}
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		if o != nil {
			ValidatingAdmissionPolicyBinding(o)
		}
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		if o != nil {
			ValidatingWebhookConfiguration(o)
		}
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		if o != nil {
			MutatingWebhookConfiguration(o)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
