package auth

import (
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func bootstrapRBAC(t testing.TB) *RBAC {
	t.Helper()
	a := NewRBAC()
	for _, o := range BootstrapPolicy() {
		a.Upsert(o)
	}
	return a
}

// authenticated returns u as the authenticator would present it.
func authenticated(u User) User {
	u.Groups = withAuthenticated(u.Groups)
	return u
}

func identity(t testing.TB, file string) User {
	t.Helper()
	for _, id := range Identities() {
		if id.File == file {
			return authenticated(id.User)
		}
	}
	t.Fatalf("no identity %q", file)
	return User{}
}

func TestBootstrapPolicy(t *testing.T) {
	a := bootstrapRBAC(t)
	admin := identity(t, "admin.kubeconfig")
	viewer := identity(t, "viewer.kubeconfig")
	gitsync := identity(t, "gitsync.kubeconfig")
	kcm := identity(t, "controller-manager.kubeconfig")
	sched := identity(t, "scheduler.kubeconfig")
	node := authenticated(NodeUser("worker-1"))
	someone := authenticated(User{Name: "someone"})

	tests := []struct {
		name  string
		attrs Attributes
		want  bool
	}{
		{"admin deletes nodes", res(admin, "delete", "", "nodes", "", "", "n"), true},
		{"admin impersonates", res(admin, "impersonate", "", "users", "", "", "x"), true},

		{"viewer lists pods", res(viewer, "list", "", "pods", "", "default", ""), true},
		{"viewer watches pods everywhere", res(viewer, "watch", "", "pods", "", "", ""), true},
		{"viewer lists nodes", res(viewer, "list", "", "nodes", "", "", ""), true},
		{"viewer reads pod logs", res(viewer, "get", "", "pods", "log", "default", "p"), true},
		{"viewer gets deployment scale", res(viewer, "get", "apps", "deployments", "scale", "default", "d"), true},
		{"viewer lists gitrepositories", res(viewer, "list", "gitops.cairn.dev", "gitrepositories", "", "", ""), true},
		{"viewer lists clusterroles", res(viewer, "list", "rbac.authorization.k8s.io", "clusterroles", "", "", ""), true},
		{"viewer cannot get secrets", res(viewer, "get", "", "secrets", "", "default", "s"), false},
		{"viewer cannot list secrets", res(viewer, "list", "", "secrets", "", "", ""), false},
		{"viewer cannot create pods", res(viewer, "create", "", "pods", "", "default", ""), false},
		{"viewer cannot create deployments", res(viewer, "create", "apps", "deployments", "", "default", ""), false},
		{"viewer cannot update nodes", res(viewer, "update", "", "nodes", "", "", "n"), false},
		{"viewer cannot exec", res(viewer, "create", "", "pods", "exec", "default", "p"), false},
		{"viewer discovery", nonRes(viewer, "get", "/apis/apps/v1"), true},

		{"gitsync creates deployments", res(gitsync, "create", "apps", "deployments", "", "default", ""), true},
		{"gitsync creates secrets", res(gitsync, "create", "", "secrets", "", "default", ""), true},
		{"gitsync deletes configmaps", res(gitsync, "delete", "", "configmaps", "", "default", "c"), true},
		{"gitsync creates namespaces", res(gitsync, "create", "", "namespaces", "", "", ""), true},
		{"gitsync patches clusterroles", res(gitsync, "patch", "rbac.authorization.k8s.io", "clusterroles", "", "", "x"), true},
		{"gitsync creates admission policies", res(gitsync, "create", "admissionregistration.k8s.io", "validatingadmissionpolicies", "", "", ""), true},
		{"gitsync updates gitrepository status", res(gitsync, "update", "gitops.cairn.dev", "gitrepositories", "status", "cairn-system", "r"), true},
		{"gitsync lists nodes", res(gitsync, "list", "", "nodes", "", "", ""), true},
		{"gitsync cannot bind pods", res(gitsync, "create", "", "pods", "binding", "default", "p"), false},
		{"gitsync creates nodes from git", res(gitsync, "create", "", "nodes", "", "", ""), true},
		{"gitsync patches nodes from git", res(gitsync, "patch", "", "nodes", "", "", "n"), true},
		{"gitsync cannot delete nodes", res(gitsync, "delete", "", "nodes", "", "", "n"), false},
		{"gitsync cannot update node status", res(gitsync, "update", "", "nodes", "status", "", "n"), false},
		{"gitsync cannot update pod status", res(gitsync, "update", "", "pods", "status", "default", "p"), false},
		{"gitsync cannot update deployment status", res(gitsync, "update", "apps", "deployments", "status", "default", "d"), false},

		{"node updates nodes/status", res(node, "update", "", "nodes", "status", "", "worker-1"), true},
		{"node patches nodes/status", res(node, "patch", "", "nodes", "status", "", "worker-1"), true},
		{"node creates its node", res(node, "create", "", "nodes", "", "", ""), true},
		{"node patches pod status", res(node, "patch", "", "pods", "status", "default", "p"), true},
		{"node reads secrets", res(node, "get", "", "secrets", "", "default", "s"), true},
		{"node renews lease", res(node, "update", "coordination.k8s.io", "leases", "", "kube-node-lease", "worker-1"), true},
		{"node requests sa token", res(node, "create", "", "serviceaccounts", "token", "default", "default"), true},
		{"node records events", res(node, "create", "events.k8s.io", "events", "", "default", ""), true},
		{"node cannot delete nodes", res(node, "delete", "", "nodes", "", "", "worker-2"), false},
		{"node cannot create secrets", res(node, "create", "", "secrets", "", "default", ""), false},
		{"node cannot bind pods", res(node, "create", "", "pods", "binding", "default", "p"), false},

		{"scheduler binds pods", res(sched, "create", "", "pods", "binding", "default", "p"), true},
		{"scheduler patches pod status", res(sched, "patch", "", "pods", "status", "default", "p"), true},
		{"scheduler watches nodes", res(sched, "watch", "", "nodes", "", "", ""), true},
		{"scheduler takes lease", res(sched, "create", "coordination.k8s.io", "leases", "", "kube-system", ""), true},
		{"scheduler reads configmaps", res(sched, "list", "", "configmaps", "", "", ""), true},
		{"scheduler cannot create pods", res(sched, "create", "", "pods", "", "default", ""), false},
		{"scheduler cannot read secrets", res(sched, "get", "", "secrets", "", "default", "s"), false},
		{"scheduler cannot update nodes", res(sched, "update", "", "nodes", "", "", "n"), false},

		{"controller-manager creates pods", res(kcm, "create", "", "pods", "", "default", ""), true},
		{"controller-manager updates replicaset status", res(kcm, "update", "apps", "replicasets", "status", "default", "r"), true},
		{"controller-manager updates deployment status", res(kcm, "update", "apps", "deployments", "status", "default", "d"), true},
		{"controller-manager finalizes namespaces", res(kcm, "update", "", "namespaces", "finalize", "", "ns"), true},
		{"controller-manager deletes namespaces", res(kcm, "delete", "", "namespaces", "", "", "ns"), true},
		{"controller-manager deletes nodes", res(kcm, "delete", "", "nodes", "", "", "n"), true},
		{"controller-manager patches node status", res(kcm, "patch", "", "nodes", "status", "", "n"), true},
		{"controller-manager reads secrets", res(kcm, "list", "", "secrets", "", "", ""), true},
		{"controller-manager reads gitrepositories", res(kcm, "list", "gitops.cairn.dev", "gitrepositories", "", "", ""), true},
		{"controller-manager cannot bind pods", res(kcm, "create", "", "pods", "binding", "default", "p"), false},
		{"controller-manager cannot create secrets", res(kcm, "create", "", "secrets", "", "default", ""), false},
		{"controller-manager cannot create namespaces", res(kcm, "create", "", "namespaces", "", "", ""), false},

		{"anonymous GET /healthz", nonRes(Anonymous, "get", "/healthz"), true},
		{"anonymous GET /version", nonRes(Anonymous, "get", "/version"), true},
		{"anonymous GET /readyz", nonRes(Anonymous, "get", "/readyz"), true},
		{"anonymous no discovery", nonRes(Anonymous, "get", "/apis"), false},
		{"anonymous cannot list pods", res(Anonymous, "list", "", "pods", "", "", ""), false},
		{"anonymous cannot list namespaced pods", res(Anonymous, "list", "", "pods", "", "default", ""), false},

		{"authenticated discovery", nonRes(someone, "get", "/apis"), true},
		{"authenticated openapi", nonRes(someone, "get", "/openapi/v3/api/v1"), true},
		{"authenticated self review", res(someone, "create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""), true},
		{"authenticated cannot list pods", res(someone, "list", "", "pods", "", "default", ""), false},
		{"authenticated no metrics", nonRes(someone, "get", "/metrics"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := a.Authorize(tt.attrs)
			if got != tt.want {
				t.Errorf("Authorize(%s %s/%s/%s %s) = %v (%q), want %v",
					tt.attrs.User.Name, tt.attrs.Verb, tt.attrs.Resource, tt.attrs.Subresource, tt.attrs.Path, got, reason, tt.want)
			}
		})
	}
}

func TestBootstrapPolicyObjects(t *testing.T) {
	objs := BootstrapPolicy()
	roles := map[string]bool{}
	var bindings []*rbacv1.ClusterRoleBinding
	for _, o := range objs {
		switch v := o.(type) {
		case *rbacv1.ClusterRole:
			if v.APIVersion != "rbac.authorization.k8s.io/v1" || v.Kind != "ClusterRole" {
				t.Errorf("%s: TypeMeta %+v", v.Name, v.TypeMeta)
			}
			if v.Labels[BootstrappingLabel] != BootstrappingLabelValue {
				t.Errorf("%s: labels %v", v.Name, v.Labels)
			}
			roles[v.Name] = true
		case *rbacv1.ClusterRoleBinding:
			if v.APIVersion != "rbac.authorization.k8s.io/v1" || v.Kind != "ClusterRoleBinding" {
				t.Errorf("%s: TypeMeta %+v", v.Name, v.TypeMeta)
			}
			if v.Labels[BootstrappingLabel] != BootstrappingLabelValue {
				t.Errorf("%s: labels %v", v.Name, v.Labels)
			}
			bindings = append(bindings, v)
		default:
			t.Errorf("unexpected object %T", o)
		}
	}
	for _, want := range []string{"cluster-admin", "system:discovery", "system:basic-user", "system:public-info-viewer",
		"view", "cairn:gitsync", "system:kube-scheduler", "system:kube-controller-manager", "system:node"} {
		if !roles[want] {
			t.Errorf("missing ClusterRole %q", want)
		}
	}
	for _, b := range bindings {
		if !roles[b.RoleRef.Name] {
			t.Errorf("binding %q refers to unknown role %q", b.Name, b.RoleRef.Name)
		}
	}
	if !slices.ContainsFunc(bindings, func(b *rbacv1.ClusterRoleBinding) bool {
		return b.Name == GroupViewers && b.RoleRef.Name == "view"
	}) {
		t.Errorf("no ClusterRoleBinding %q to view", GroupViewers)
	}
	// Every call returns fresh objects.
	a, b := BootstrapPolicy(), BootstrapPolicy()
	a[0].(*rbacv1.ClusterRole).Rules[0].Verbs[0] = "mutated"
	if b[0].(*rbacv1.ClusterRole).Rules[0].Verbs[0] == "mutated" {
		t.Error("BootstrapPolicy shares state between calls")
	}
}

func TestIdentities(t *testing.T) {
	want := map[string]string{
		"admin.kubeconfig":              "cairn:admin",
		"viewer.kubeconfig":             "cairn:viewer",
		"gitsync.kubeconfig":            "cairn:gitsync",
		"controller-manager.kubeconfig": "system:kube-controller-manager",
		"scheduler.kubeconfig":          "system:kube-scheduler",
	}
	ids := Identities()
	if len(ids) != len(want) {
		t.Fatalf("Identities() has %d entries, want %d", len(ids), len(want))
	}
	for _, id := range ids {
		if want[id.File] != id.User.Name {
			t.Errorf("%s: user %q, want %q", id.File, id.User.Name, want[id.File])
		}
	}
	if u := NodeUser("n1"); u.Name != "system:node:n1" || !slices.Equal(u.Groups, []string{"system:nodes"}) {
		t.Errorf("NodeUser = %+v", u)
	}
}
