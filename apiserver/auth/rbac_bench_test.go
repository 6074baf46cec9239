package auth

import (
	"fmt"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// BenchmarkAuthorize: the bootstrap policy plus 1,000 RoleBindings spread
// over 100 namespaces (users, groups and service accounts), including
// bindings for the groups of the requesting users.
func BenchmarkAuthorize(b *testing.B) {
	a := bootstrapRBAC(b)
	a.Upsert(testClusterRole("edit", nil, pr(verbsReadWrite, sl("", "apps"), sl("pods", "deployments", "configmaps"))))
	for i := range 1000 {
		ns := fmt.Sprintf("ns-%d", i%100)
		subjects := []rbacv1.Subject{
			userSubject(fmt.Sprintf("user-%d", i)),
			groupSubject(fmt.Sprintf("team-%d", i%10)),
			saSubject(ns, fmt.Sprintf("sa-%d", i)),
		}
		if i%100 == 0 {
			// Bindings naming the benchmark users' groups, which the
			// authorizer has to evaluate and reject.
			subjects = append(subjects, groupSubject(GroupAuthenticated), groupSubject(GroupNodes), groupSubject(GroupViewers))
		}
		a.Upsert(testRB(ns, fmt.Sprintf("rb-%d", i), "ClusterRole", "edit", subjects...))
	}
	viewer := authenticated(User{Name: UserViewer, Groups: []string{GroupViewers}})
	node := authenticated(NodeUser("worker-1"))
	member := authenticated(User{Name: "user-5", Groups: []string{"team-5"}})
	cases := []struct {
		name  string
		attrs Attributes
		want  bool
	}{
		{"viewer-list-pods", res(viewer, "list", "", "pods", "", "ns-0", ""), true},
		{"node-update-status", res(node, "update", "", "nodes", "status", "", "worker-1"), true},
		{"rolebinding-member-create", res(member, "create", "apps", "deployments", "", "ns-5", ""), true},
		{"denied-secrets", res(viewer, "get", "", "secrets", "", "ns-0", "s"), false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if ok, reason := a.Authorize(c.attrs); ok != c.want {
				b.Fatalf("Authorize = %v (%s), want %v", ok, reason, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				a.Authorize(c.attrs)
			}
		})
	}
}
