package builtin

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-dev/cairn/policies"
)

// immortalNamespaces may never be deleted.
var immortalNamespaces = map[string]bool{
	metav1.NamespaceDefault: true,
	metav1.NamespaceSystem:  true,
	metav1.NamespacePublic:  true,
}

var (
	namespaceKind     = schema.GroupKind{Kind: "Namespace"}
	namespaceResource = schema.GroupResource{Resource: "namespaces"}
)

// NamespaceLifecycle is Kubernetes' NamespaceLifecycle plugin:
//   - deleting the namespaces default, kube-system and kube-public is
//     forbidden;
//   - creating or updating a namespaced object in a namespace that does not
//     exist is NotFound (`namespaces "x" not found`);
//   - creating a namespaced object in a terminating namespace is Forbidden,
//     with a NamespaceTerminating cause;
//   - Namespace objects themselves, cluster-scoped objects, deletes and
//     local subject access reviews are not affected.
func NamespaceLifecycle(ns NamespaceGetter) policies.Mutating {
	return &namespaceLifecycle{ns: ns}
}

type namespaceLifecycle struct{ ns NamespaceGetter }

func (*namespaceLifecycle) Name() string { return "NamespaceLifecycle" }

func (p *namespaceLifecycle) Admit(ctx context.Context, a *policies.Attributes) error {
	switch a.Operation {
	case policies.Create, policies.Update, policies.Delete:
	default:
		return nil
	}
	isNamespace := a.Kind.GroupKind() == namespaceKind
	if a.Operation == policies.Delete && isNamespace && immortalNamespaces[a.Name] {
		return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, fmt.Errorf("this namespace may not be deleted"))
	}
	if isNamespace || a.Namespace == "" || a.Operation == policies.Delete {
		return nil
	}
	// Returning the namespace's state to an access review would leak it.
	if a.Resource.Group == "authorization.k8s.io" && a.Resource.Resource == "localsubjectaccessreviews" {
		return nil
	}

	namespace, err := p.ns.GetNamespace(ctx, a.Namespace)
	switch {
	case apierrors.IsNotFound(err):
		return apierrors.NewNotFound(namespaceResource, a.Namespace)
	case err != nil:
		return apierrors.NewInternalError(err)
	case namespace == nil:
		return apierrors.NewNotFound(namespaceResource, a.Namespace)
	}

	if a.Operation != policies.Create || !terminating(namespace) {
		return nil
	}
	status := forbidden(a, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", a.Namespace)).(*apierrors.StatusError)
	if status.ErrStatus.Details == nil {
		status.ErrStatus.Details = &metav1.StatusDetails{}
	}
	status.ErrStatus.Details.Causes = append(status.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    corev1.NamespaceTerminatingCause,
		Message: fmt.Sprintf("namespace %s is being terminated", a.Namespace),
		Field:   "metadata.namespace",
	})
	return status
}

// terminating reports whether a namespace is being deleted. Kubernetes
// reads status.phase, which its namespace strategy sets together with the
// deletionTimestamp; either counts here.
func terminating(ns *corev1.Namespace) bool {
	return ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil
}
