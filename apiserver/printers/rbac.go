package printers

import (
	"fmt"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Printers of rbac.authorization.k8s.io. Roles have no printer in
// Kubernetes and get its default NAME, CREATED AT.
func init() {
	const group = "rbac.authorization.k8s.io"
	register(group, "Role", createdAtPrinter[rbacv1.Role]())
	register(group, "ClusterRole", createdAtPrinter[rbacv1.ClusterRole]())

	register(group, "RoleBinding", typed(
		bindingColumns(rbacv1beta1.RoleBinding{}.SwaggerDoc()["roleRef"], "roleBinding"),
		func(b *rbacv1.RoleBinding, now time.Time) []any {
			return bindingCells(b.ObjectMeta, b.RoleRef, b.Subjects, now)
		}))
	register(group, "ClusterRoleBinding", typed(
		bindingColumns(rbacv1beta1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"], "clusterRoleBinding"),
		func(b *rbacv1.ClusterRoleBinding, now time.Time) []any {
			return bindingCells(b.ObjectMeta, b.RoleRef, b.Subjects, now)
		}))
}

func bindingColumns(roleRefDoc, what string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Role", "string", roleRefDoc),
		ageColumn(),
		wideColumn("Users", "string", "Users in the "+what),
		wideColumn("Groups", "string", "Groups in the "+what),
		wideColumn("ServiceAccounts", "string", "ServiceAccounts in the "+what),
	}
}

func bindingCells(m metav1.ObjectMeta, ref rbacv1.RoleRef, subjects []rbacv1.Subject, now time.Time) []any {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		}
	}
	return []any{
		m.Name,
		fmt.Sprintf("%s/%s", ref.Kind, ref.Name),
		age(now, m.CreationTimestamp),
		strings.Join(users, ", "),
		strings.Join(groups, ", "),
		strings.Join(sas, ", "),
	}
}
