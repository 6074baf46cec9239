package validation

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func validClusterRole(name string) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
		{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"get"}},
	}}
}

func validRoleBinding(mut func(*rbacv1.RoleBinding)) *rbacv1.RoleBinding {
	rb := &rbacv1.RoleBinding{ObjectMeta: objectMeta("read-pods"),
		RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "jane"}, {Kind: "ServiceAccount", Name: "default"},
			{Kind: "Group", Name: "system:authenticated"}},
	}
	if mut != nil {
		mut(rb)
	}
	return defaulted(rb)
}

func TestRBAC(t *testing.T) {
	role := &rbacv1.Role{ObjectMeta: objectMeta("pod-reader"), Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}}
	nsRole := &rbacv1.Role{ObjectMeta: objectMeta("urls"), Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/x"}, Verbs: []string{"get"}}}}
	crb := defaulted(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "admins"},
		RoleRef:  rbacv1.RoleRef{Kind: "Role", Name: "admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ci"}}})
	aggregated := validClusterRole("agg")
	aggregated.AggregationRule = &rbacv1.AggregationRule{}
	old := validRoleBinding(nil)
	changed := old.DeepCopy()
	changed.RoleRef.Name = "admin"
	withSubject := old.DeepCopy()
	withSubject.Subjects = append(withSubject.Subjects, rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "joe"})
	runCases(t, []testCase{
		{"cluster role", validClusterRole("view-pods"), nil, nil},
		{"role without verbs", role, nil, []want{req("rules[0].verbs")}},
		{"namespaced non-resource URLs", nsRole, nil, []want{inv("rules[0].nonResourceURLs")}},
		{"aggregation rule without selectors", aggregated, nil, []want{req("aggregationRule.clusterRoleSelectors")}},
		{"role binding", validRoleBinding(nil), nil, nil},
		{"roleRef kind", validRoleBinding(func(rb *rbacv1.RoleBinding) { rb.RoleRef.Kind = "Group" }), nil, []want{notSup("roleRef.kind")}},
		{"roleRef apiGroup", validRoleBinding(func(rb *rbacv1.RoleBinding) { rb.RoleRef.APIGroup = "example.com" }), nil,
			[]want{notSup("roleRef.apiGroup")}},
		{"roleRef name", validRoleBinding(func(rb *rbacv1.RoleBinding) { rb.RoleRef.Name = "" }), nil, []want{req("roleRef.name")}},
		{"subject kind", validRoleBinding(func(rb *rbacv1.RoleBinding) { rb.Subjects[0].Kind = "Robot" }), nil,
			[]want{notSup("subjects[0].kind")}},
		{"service account apiGroup", validRoleBinding(func(rb *rbacv1.RoleBinding) { rb.Subjects[1].APIGroup = "rbac.authorization.k8s.io" }), nil,
			[]want{notSup("subjects[1].apiGroup")}},
		{"cluster role binding to a Role", crb, nil, []want{notSup("roleRef.kind"), req("subjects[0].namespace")}},
		{"roleRef immutable", changed, old, []want{inv("roleRef")}},
		{"subjects mutable", withSubject, old, nil},
	})
}
