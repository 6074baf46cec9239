// Package validation is the built-in object validation kube-apiserver runs
// before it stores an object, reimplemented on the versioned (k8s.io/api)
// types cairn serves. It follows k8s.io/kubernetes pkg/apis/*/validation:
// the same checks, the same field paths and the same error types and
// messages, because clients (kubectl, Argo CD, Flux) show them to people.
//
// Like kube-apiserver, it expects objects that already carry their defaults
// (see package apiserver/defaults): a field Kubernetes defaults is reported
// as required when it is empty.
//
// What the generic registry checks (that metadata.namespace is set exactly
// when the kind is namespaced, resourceVersion preconditions) and what
// needs other objects (quota, PriorityClass lookups, CEL compilation) is
// left to the server.
package validation

import (
	"fmt"
	"reflect"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate returns the field errors of a new object (old == nil) or of an
// update of old to obj (old != nil, of the same type as obj). Kinds it has no
// specific rules for get the common metadata checks.
func Validate(obj, old runtime.Object) field.ErrorList {
	if isNil(obj) {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("no object to validate"))}
	}
	if isNil(old) {
		old = nil
	} else if reflect.TypeOf(old) != reflect.TypeOf(obj) {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("cannot validate an update of a %T to a %T", old, obj))}
	}
	switch o := obj.(type) {
	// core/v1
	case *corev1.Pod:
		if old == nil {
			return validatePod(o)
		}
		return validatePodUpdate(o, old.(*corev1.Pod))
	case *corev1.PodTemplate:
		return withMeta(o, old, subdomain, validatePodTemplate(o))
	case *corev1.Service:
		if old == nil {
			return validateService(o)
		}
		return validateServiceUpdate(o, old.(*corev1.Service))
	case *corev1.ReplicationController:
		return withMeta(o, old, subdomain, validateReplicationController(o))
	case *corev1.ConfigMap:
		errs := withMeta(o, old, subdomain, validateConfigMap(o))
		if old != nil {
			errs = append(errs, validateConfigMapUpdate(o, old.(*corev1.ConfigMap))...)
		}
		return errs
	case *corev1.Secret:
		errs := withMeta(o, old, subdomain, validateSecret(o))
		if old != nil {
			errs = append(errs, validateSecretUpdate(o, old.(*corev1.Secret))...)
		}
		return errs
	case *corev1.Namespace:
		return withMeta(o, old, dnsLabel, validateNamespace(o))
	case *corev1.Node:
		errs := withMeta(o, old, subdomain, validateNode(o))
		if old != nil {
			errs = append(errs, validateNodeUpdate(o, old.(*corev1.Node))...)
		}
		return errs
	case *corev1.LimitRange:
		return withMeta(o, old, subdomain, validateLimitRange(o))
	case *corev1.PersistentVolumeClaim:
		errs := withMeta(o, old, subdomain, validatePersistentVolumeClaim(o))
		if old != nil {
			errs = append(errs, validatePersistentVolumeClaimUpdate(o, old.(*corev1.PersistentVolumeClaim))...)
		}
		return errs
	case *corev1.Endpoints:
		return withMeta(o, old, subdomain, validateEndpoints(o))
	// apps/v1
	case *appsv1.Deployment:
		errs := withMeta(o, old, subdomain, validateDeployment(o))
		if old != nil {
			errs = append(errs, immutableSelector(o.Spec.Selector, old.(*appsv1.Deployment).Spec.Selector)...)
		}
		return errs
	case *appsv1.ReplicaSet:
		errs := withMeta(o, old, subdomain, validateReplicaSet(o))
		if old != nil {
			errs = append(errs, immutableSelector(o.Spec.Selector, old.(*appsv1.ReplicaSet).Spec.Selector)...)
		}
		return errs
	case *appsv1.StatefulSet:
		errs := withMeta(o, old, dnsLabel, validateStatefulSet(o))
		if old != nil {
			errs = append(errs, validateStatefulSetUpdate(o, old.(*appsv1.StatefulSet))...)
		}
		return errs
	case *appsv1.DaemonSet:
		errs := withMeta(o, old, subdomain, validateDaemonSet(o))
		if old != nil {
			errs = append(errs, immutableSelector(o.Spec.Selector, old.(*appsv1.DaemonSet).Spec.Selector)...)
		}
		return errs
	case *appsv1.ControllerRevision:
		errs := withMeta(o, old, subdomain, validateControllerRevision(o))
		if old != nil {
			errs = append(errs, immutable(o.Data, old.(*appsv1.ControllerRevision).Data, field.NewPath("data"))...)
		}
		return errs
	// coordination.k8s.io/v1
	case *coordinationv1.Lease:
		return withGenericMeta(o, old, subdomain, validateLeaseSpec(&o.Spec, field.NewPath("spec")))
	// storage.k8s.io/v1
	case *storagev1.StorageClass:
		if old == nil {
			return withGenericMeta(o, old, subdomain, validateStorageClass(o))
		}
		return withGenericMeta(o, old, subdomain, validateStorageClassUpdate(o, old.(*storagev1.StorageClass)))
	// rbac.authorization.k8s.io/v1
	case *rbacv1.Role:
		return withMeta(o, old, pathSegment, validatePolicyRules(o.Rules, true))
	case *rbacv1.ClusterRole:
		return withMeta(o, old, pathSegment, validateClusterRole(o))
	case *rbacv1.RoleBinding:
		errs := withMeta(o, old, pathSegment, validateRoleBinding(o.RoleRef, o.Subjects, true))
		if old != nil {
			errs = append(errs, immutableRoleRef(o.RoleRef, old.(*rbacv1.RoleBinding).RoleRef)...)
		}
		return errs
	case *rbacv1.ClusterRoleBinding:
		errs := withMeta(o, old, pathSegment, validateRoleBinding(o.RoleRef, o.Subjects, false))
		if old != nil {
			errs = append(errs, immutableRoleRef(o.RoleRef, old.(*rbacv1.ClusterRoleBinding).RoleRef)...)
		}
		return errs
	// admissionregistration.k8s.io/v1
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		return withGenericMeta(o, old, subdomain, validateValidatingAdmissionPolicySpec(o.Name, &o.Spec, field.NewPath("spec")))
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		return withGenericMeta(o, old, subdomain, validateValidatingAdmissionPolicyBindingSpec(&o.Spec, field.NewPath("spec")))
	}
	return validateGeneric(obj, old)
}

// validateGeneric runs the common metadata checks on any object with
// metadata, as kube-apiserver does for custom resources.
func validateGeneric(obj, old runtime.Object) field.ErrorList {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	var oldAccessor metav1Object
	if old != nil {
		if oldAccessor, err = meta.Accessor(old); err != nil {
			oldAccessor = nil
		}
	}
	return metaErrors(accessor, oldAccessor, subdomain, false)
}

// withMeta prefixes the kind's own errors with the metadata checks of a
// core-group style object (legacy finalizer names are checked too).
func withMeta(obj metav1Object, old runtime.Object, name nameFunc, errs field.ErrorList) field.ErrorList {
	return append(metaErrors(obj, accessorOrNil(old), name, true), errs...)
}

// withGenericMeta is withMeta for groups that use apimachinery's generic
// metadata validation.
func withGenericMeta(obj metav1Object, old runtime.Object, name nameFunc, errs field.ErrorList) field.ErrorList {
	return append(metaErrors(obj, accessorOrNil(old), name, false), errs...)
}

func accessorOrNil(obj runtime.Object) metav1Object {
	if obj == nil {
		return nil
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return a
}

func isNil(obj runtime.Object) bool {
	if obj == nil {
		return true
	}
	v := reflect.ValueOf(obj)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
