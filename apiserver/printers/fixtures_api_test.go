package printers

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// gitRepository builds a GitRepository the way it arrives from storage.
func gitRepository(name string, age string, spec, status map[string]any) *unstructured.Unstructured {
	obj := map[string]any{
		"apiVersion": "gitops.cairn.dev/v1",
		"kind":       "GitRepository",
		"metadata":   map[string]any{"name": name, "namespace": "cairn-system"},
		"spec":       spec,
	}
	if age != "" {
		obj["metadata"].(map[string]any)["creationTimestamp"] = age
	}
	if status != nil {
		obj["status"] = status
	}
	return &unstructured.Unstructured{Object: obj}
}

func readyCondition(status, reason, message string) map[string]any {
	return map[string]any{"type": "Ready", "status": status, "reason": reason, "message": message}
}

func apiCases() []goldenCase {
	rfc3339 := func(t metav1.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

	leases := []runtime.Object{
		&coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "kube-controller-manager", Namespace: "kube-system", CreationTimestamp: ago(40 * day)},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr("cairn-1_6c1f0e7a-0b7e-4d8e-9d55-2b8f6a1c3e90")},
		},
		&coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "cairn-2", Namespace: "kube-node-lease", CreationTimestamp: ago(40 * day)},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr("cairn-2")},
		},
		&coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "released", Namespace: "kube-system", CreationTimestamp: ago(3 * hour)},
		},
	}

	roles := []runtime.Object{
		&rbacv1.Role{ObjectMeta: objMeta("pod-reader", 12*day)},
		&rbacv1.Role{ObjectMeta: objMeta("configmap-editor", 90*minute)},
	}
	clusterRoles := []runtime.Object{
		&rbacv1.ClusterRole{ObjectMeta: clusterMeta("cluster-admin", 40*day)},
		&rbacv1.ClusterRole{ObjectMeta: clusterMeta("cairn:gitops-applier", 40*day-3*hour)},
	}

	subjects := []rbacv1.Subject{
		{Kind: rbacv1.UserKind, Name: "alice@example.com"},
		{Kind: rbacv1.UserKind, Name: "bob@example.com"},
		{Kind: rbacv1.GroupKind, Name: "developers"},
		{Kind: rbacv1.ServiceAccountKind, Namespace: "ci", Name: "builder"},
		{Kind: "Robot", Name: "ignored"},
	}
	roleBindings := []runtime.Object{
		&rbacv1.RoleBinding{
			ObjectMeta: objMeta("read-pods", 12*day),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
			Subjects:   subjects,
		},
		&rbacv1.RoleBinding{
			ObjectMeta: objMeta("edit", 2*hour),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		},
	}
	clusterRoleBindings := []runtime.Object{
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: clusterMeta("cluster-admin", 40*day),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:masters"}},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: clusterMeta("cairn:gitops-applier", 40*day),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cairn:gitops-applier"},
			Subjects: []rbacv1.Subject{
				{Kind: rbacv1.ServiceAccountKind, Namespace: "cairn-system", Name: "applier"},
				{Kind: rbacv1.ServiceAccountKind, Namespace: "cairn-system", Name: "reconciler"},
			},
		},
	}

	policies := []runtime.Object{
		&admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: clusterMeta("replica-limit", 5*day),
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				ParamKind: &admissionregistrationv1.ParamKind{APIVersion: "rules.example.com/v1", Kind: "ReplicaLimit"},
				Validations: []admissionregistrationv1.Validation{
					{Expression: "object.spec.replicas <= params.maxReplicas"},
					{Expression: "object.spec.replicas >= 1"},
				},
			},
		},
		&admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: clusterMeta("no-latest-tag", 5*day),
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				Validations: []admissionregistrationv1.Validation{{Expression: "true"}},
			},
		},
	}
	bindings := []runtime.Object{
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: clusterMeta("replica-limit-prod", 5*day),
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName: "replica-limit",
				ParamRef:   &admissionregistrationv1.ParamRef{Namespace: "prod", Name: "limits"},
			},
		},
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: clusterMeta("replica-limit-any", 5*day),
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName: "replica-limit",
				ParamRef:   &admissionregistrationv1.ParamRef{Name: "limits"},
			},
		},
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: clusterMeta("replica-limit-selected", 5*day),
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName: "replica-limit",
				ParamRef: &admissionregistrationv1.ParamRef{Selector: &metav1.LabelSelector{
					MatchLabels: map[string]string{"tier": "prod"},
				}},
			},
		},
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: clusterMeta("no-latest-tag", 5*day),
			Spec:       admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "no-latest-tag"},
		},
	}

	repos := []runtime.Object{
		gitRepository("platform", rfc3339(ago(40*day)),
			map[string]any{"url": "https://git.example.com/infra/platform.git", "ref": map[string]any{"branch": "main"}},
			map[string]any{
				"lastAppliedRevision": "4f2b9c1e7a0d3b5c8e6f1a2b3c4d5e6f7a8b9c0d",
				"conditions": []any{
					map[string]any{"type": "Reconciling", "status": "False"},
					readyCondition("True", "Succeeded", "Applied revision 4f2b9c1e7a0d3b5c"),
				},
			}),
		gitRepository("apps", rfc3339(ago(2*hour)),
			map[string]any{"url": "ssh://git@git.example.com/team/apps.git"},
			map[string]any{
				"lastAppliedRevision": "0a1b2c3",
				"conditions": []any{
					readyCondition("False", "AuthenticationFailed", "failed to fetch: ssh: handshake failed: unable to authenticate"),
				},
			}),
		gitRepository("new", rfc3339(ago(5*second)), map[string]any{"url": "https://git.example.com/team/new.git"}, nil),
	}

	widgets := []runtime.Object{
		&unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.com/v1", "kind": "Widget",
			"metadata": map[string]any{"name": "sprocket", "creationTimestamp": rfc3339(ago(26 * hour))},
		}},
	}

	return []goldenCase{
		{group: "coordination.k8s.io", kind: "Lease", resource: "leases", objects: leases},
		{group: "rbac.authorization.k8s.io", kind: "Role", resource: "roles", objects: roles},
		{group: "rbac.authorization.k8s.io", kind: "ClusterRole", resource: "clusterroles", objects: clusterRoles},
		{group: "rbac.authorization.k8s.io", kind: "RoleBinding", resource: "rolebindings", objects: roleBindings},
		{group: "rbac.authorization.k8s.io", kind: "ClusterRoleBinding", resource: "clusterrolebindings", objects: clusterRoleBindings},
		{group: "admissionregistration.k8s.io", kind: "ValidatingAdmissionPolicy", resource: "validatingadmissionpolicies", objects: policies},
		{group: "admissionregistration.k8s.io", kind: "ValidatingAdmissionPolicyBinding", resource: "validatingadmissionpolicybindings", objects: bindings},
		{group: "gitops.cairn.dev", kind: "GitRepository", resource: "gitrepositories", objects: repos},
		// A kind without a printer of its own gets the default one.
		{group: "example.com", kind: "Widget", resource: "widgets", objects: widgets},
	}
}
