package defaults

import (
	rbacv1 "k8s.io/api/rbac/v1"
)

// RoleBinding sets SetDefaults_RoleBinding and SetDefaults_Subject.
func RoleBinding(rb *rbacv1.RoleBinding) {
	if rb.RoleRef.APIGroup == "" {
		rb.RoleRef.APIGroup = rbacv1.GroupName
	}
	subjects(rb.Subjects)
}

// ClusterRoleBinding sets SetDefaults_ClusterRoleBinding and
// SetDefaults_Subject.
func ClusterRoleBinding(crb *rbacv1.ClusterRoleBinding) {
	if crb.RoleRef.APIGroup == "" {
		crb.RoleRef.APIGroup = rbacv1.GroupName
	}
	subjects(crb.Subjects)
}

func subjects(ss []rbacv1.Subject) {
	for i := range ss {
		s := &ss[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}
