package auth

import (
	"strings"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func testRole(ns, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
}

func testClusterRole(name string, lbls map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}, Rules: rules}
}

func testAggregated(name string, selectors ...map[string]string) *rbacv1.ClusterRole {
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, AggregationRule: &rbacv1.AggregationRule{}}
	for _, s := range selectors {
		cr.AggregationRule.ClusterRoleSelectors = append(cr.AggregationRule.ClusterRoleSelectors, metav1.LabelSelector{MatchLabels: s})
	}
	return cr
}

func testRB(ns, name, kind, role string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role},
		Subjects:   subjects,
	}
}

func testCRB(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

func saSubject(ns, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}
}

func pr(verbs, groups, resources []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: groups, Resources: resources}
}

func sl(s ...string) []string { return s }

// res builds resource-request attributes.
func res(u User, verb, group, resource, sub, ns, name string) Attributes {
	return Attributes{User: u, Verb: verb, ResourceRequest: true, APIGroup: group, APIVersion: "v1",
		Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func nonRes(u User, verb, path string) Attributes {
	return Attributes{User: u, Verb: verb, Path: path}
}

var (
	alice = User{Name: "alice", Groups: []string{"devs", GroupAuthenticated}}
	bob   = User{Name: "bob", Groups: []string{GroupAuthenticated}}
	root  = User{Name: "root", Groups: []string{GroupMasters, GroupAuthenticated}}
	saBot = User{Name: ServiceAccountUsername("team", "bot"), Groups: []string{"system:serviceaccounts", GroupAuthenticated}}
)

func TestRBACAuthorize(t *testing.T) {
	podReader := testClusterRole("pod-reader", nil, pr(sl("get", "list", "watch"), sl(""), sl("pods")))
	type step struct {
		upsert []runtime.Object
		remove []runtime.Object
	}
	tests := []struct {
		name  string
		steps []step
		attrs Attributes
		want  bool
	}{
		{name: "no policy denies", attrs: res(alice, "get", "", "pods", "", "default", "p"), want: false},
		{name: "superuser allowed without policy", attrs: res(root, "delete", "", "nodes", "", "", "n1"), want: true},
		{name: "superuser non-resource", attrs: nonRes(root, "post", "/anything"), want: true},
		{
			name:  "cluster role binding grants in every namespace",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", userSubject("alice"))}}},
			attrs: res(alice, "list", "", "pods", "", "kube-system", ""), want: true,
		},
		{
			name:  "cluster role binding grants all-namespace list",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", userSubject("alice"))}}},
			attrs: res(alice, "list", "", "pods", "", "", ""), want: true,
		},
		{
			name:  "verb not granted",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", userSubject("alice"))}}},
			attrs: res(alice, "delete", "", "pods", "", "default", "p"), want: false,
		},
		{
			name:  "other user not granted",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", userSubject("alice"))}}},
			attrs: res(bob, "get", "", "pods", "", "default", "p"), want: false,
		},
		{
			name:  "api group must match",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", userSubject("alice"))}}},
			attrs: res(alice, "get", "example.com", "pods", "", "default", "p"), want: false,
		},
		{
			name:  "group subject",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", groupSubject("devs"))}}},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: true,
		},
		{
			name:  "group subject not member",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", groupSubject("devs"))}}},
			attrs: res(bob, "get", "", "pods", "", "default", "p"), want: false,
		},
		{
			name: "role binding to role grants in its namespace",
			steps: []step{{upsert: []runtime.Object{
				testRole("dev", "r", pr(sl("get"), sl(""), sl("configmaps"))),
				testRB("dev", "b", "Role", "r", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "configmaps", "", "dev", "c"), want: true,
		},
		{
			name: "role binding does not grant in another namespace",
			steps: []step{{upsert: []runtime.Object{
				testRole("dev", "r", pr(sl("get"), sl(""), sl("configmaps"))),
				testRB("dev", "b", "Role", "r", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "configmaps", "", "prod", "c"), want: false,
		},
		{
			name: "role binding does not grant cluster-wide",
			steps: []step{{upsert: []runtime.Object{
				testRole("dev", "r", pr(sl("list"), sl(""), sl("configmaps"))),
				testRB("dev", "b", "Role", "r", userSubject("alice")),
			}}},
			attrs: res(alice, "list", "", "configmaps", "", "", ""), want: false,
		},
		{
			name: "role binding cannot use a role of another namespace",
			steps: []step{{upsert: []runtime.Object{
				testRole("other", "r", pr(sl("get"), sl(""), sl("configmaps"))),
				testRB("dev", "b", "Role", "r", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "configmaps", "", "dev", "c"), want: false,
		},
		{
			name:  "role binding to cluster role is scoped to the namespace",
			steps: []step{{upsert: []runtime.Object{podReader, testRB("dev", "b", "ClusterRole", "pod-reader", userSubject("alice"))}}},
			attrs: res(alice, "get", "", "pods", "", "dev", "p"), want: true,
		},
		{
			name:  "role binding to cluster role not outside namespace",
			steps: []step{{upsert: []runtime.Object{podReader, testRB("dev", "b", "ClusterRole", "pod-reader", userSubject("alice"))}}},
			attrs: res(alice, "get", "", "pods", "", "prod", "p"), want: false,
		},
		{
			name: "role binding to cluster role does not grant cluster-scoped resources",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("node-reader", nil, pr(sl("get"), sl(""), sl("nodes"))),
				testRB("dev", "b", "ClusterRole", "node-reader", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "nodes", "", "", "n1"), want: false,
		},
		{
			name: "cluster role binding to a Role grants nothing",
			steps: []step{{upsert: []runtime.Object{
				testRole("", "r", pr(sl("*"), sl("*"), sl("*"))),
				&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "r"}, Subjects: []rbacv1.Subject{userSubject("alice")}},
			}}},
			attrs: res(alice, "get", "", "pods", "", "", ""), want: false,
		},
		{
			name:  "binding to missing role grants nothing",
			steps: []step{{upsert: []runtime.Object{testCRB("b", "missing", userSubject("alice"))}}},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: false,
		},
		{
			name:  "role created after binding takes effect",
			steps: []step{{upsert: []runtime.Object{testCRB("b", "pod-reader", userSubject("alice"))}}, {upsert: []runtime.Object{podReader}}},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: true,
		},
		{
			name: "resourceNames match named get",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("cm", nil, rbacv1.PolicyRule{Verbs: sl("get", "list", "watch", "create", "deletecollection", "update"), APIGroups: sl(""), Resources: sl("configmaps"), ResourceNames: sl("mine")}),
				testCRB("b", "cm", userSubject("alice")),
			}}},
			attrs: res(alice, "update", "", "configmaps", "", "default", "mine"), want: true,
		},
		{
			name: "resourceNames reject other name",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("cm", nil, rbacv1.PolicyRule{Verbs: sl("get"), APIGroups: sl(""), Resources: sl("configmaps"), ResourceNames: sl("mine")}),
				testCRB("b", "cm", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "configmaps", "", "default", "yours"), want: false,
		},
		{
			name: "resourceNames never match unnamed list",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("cm", nil, rbacv1.PolicyRule{Verbs: sl("list"), APIGroups: sl(""), Resources: sl("configmaps"), ResourceNames: sl("mine")}),
				testCRB("b", "cm", userSubject("alice")),
			}}},
			attrs: res(alice, "list", "", "configmaps", "", "default", ""), want: false,
		},
		{
			name: "resourceNames never match unnamed watch",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("cm", nil, rbacv1.PolicyRule{Verbs: sl("watch"), APIGroups: sl(""), Resources: sl("configmaps"), ResourceNames: sl("mine")}),
				testCRB("b", "cm", userSubject("alice")),
			}}},
			attrs: res(alice, "watch", "", "configmaps", "", "default", ""), want: false,
		},
		{
			name: "resourceNames never match create",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("cm", nil, rbacv1.PolicyRule{Verbs: sl("create"), APIGroups: sl(""), Resources: sl("configmaps"), ResourceNames: sl("mine")}),
				testCRB("b", "cm", userSubject("alice")),
			}}},
			attrs: res(alice, "create", "", "configmaps", "", "default", ""), want: false,
		},
		{
			name: "resourceNames never match deletecollection",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("cm", nil, rbacv1.PolicyRule{Verbs: sl("deletecollection"), APIGroups: sl(""), Resources: sl("configmaps"), ResourceNames: sl("mine")}),
				testCRB("b", "cm", userSubject("alice")),
			}}},
			attrs: res(alice, "deletecollection", "", "configmaps", "", "default", ""), want: false,
		},
		{
			name:  "resource rule does not grant subresource",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", userSubject("alice"))}}},
			attrs: res(alice, "get", "", "pods", "log", "default", "p"), want: false,
		},
		{
			name: "explicit subresource",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("st", nil, pr(sl("update"), sl(""), sl("pods/status"))),
				testCRB("b", "st", userSubject("alice")),
			}}},
			attrs: res(alice, "update", "", "pods", "status", "default", "p"), want: true,
		},
		{
			name: "subresource rule does not grant parent",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("st", nil, pr(sl("update"), sl(""), sl("pods/status"))),
				testCRB("b", "st", userSubject("alice")),
			}}},
			attrs: res(alice, "update", "", "pods", "", "default", "p"), want: false,
		},
		{
			name: "subresource rule does not grant other subresource",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("st", nil, pr(sl("update"), sl(""), sl("pods/status"))),
				testCRB("b", "st", userSubject("alice")),
			}}},
			attrs: res(alice, "update", "", "pods", "statusx", "default", "p"), want: false,
		},
		{
			name: "*/scale matches any resource's scale",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("sc", nil, pr(sl("patch"), sl("apps"), sl("*/scale"))),
				testCRB("b", "sc", userSubject("alice")),
			}}},
			attrs: res(alice, "patch", "apps", "deployments", "scale", "default", "d"), want: true,
		},
		{
			name: "*/scale does not match the resource itself",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("sc", nil, pr(sl("patch"), sl("apps"), sl("*/scale"))),
				testCRB("b", "sc", userSubject("alice")),
			}}},
			attrs: res(alice, "patch", "apps", "deployments", "", "default", "d"), want: false,
		},
		{
			// Kubernetes' ResourceMatches has no "<resource>/*" form.
			name: "pods/* is not a subresource wildcard (as in Kubernetes)",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("ps", nil, pr(sl("get"), sl(""), sl("pods/*"))),
				testCRB("b", "ps", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "pods", "log", "default", "p"), want: false,
		},
		{
			name: "resource * matches subresources",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("all", nil, pr(sl("get"), sl(""), sl("*"))),
				testCRB("b", "all", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "pods", "log", "default", "p"), want: true,
		},
		{
			name: "verb and group wildcards",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("w", nil, pr(sl("*"), sl("*"), sl("deployments"))),
				testCRB("b", "w", userSubject("alice")),
			}}},
			attrs: res(alice, "deletecollection", "apps", "deployments", "", "default", ""), want: true,
		},
		{
			name: "resource wildcard limited to group",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("w", nil, pr(sl("get"), sl("apps"), sl("*"))),
				testCRB("b", "w", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "secrets", "", "default", "s"), want: false,
		},
		{
			name: "nonResourceURL exact",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("h", nil, rbacv1.PolicyRule{Verbs: sl("get"), NonResourceURLs: sl("/healthz")}),
				testCRB("b", "h", userSubject("alice")),
			}}},
			attrs: nonRes(alice, "get", "/healthz"), want: true,
		},
		{
			name: "nonResourceURL exact does not prefix match",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("h", nil, rbacv1.PolicyRule{Verbs: sl("get"), NonResourceURLs: sl("/healthz")}),
				testCRB("b", "h", userSubject("alice")),
			}}},
			attrs: nonRes(alice, "get", "/healthz/etcd"), want: false,
		},
		{
			name: "nonResourceURL trailing star prefix match",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("h", nil, rbacv1.PolicyRule{Verbs: sl("get"), NonResourceURLs: sl("/openapi/*")}),
				testCRB("b", "h", userSubject("alice")),
			}}},
			attrs: nonRes(alice, "get", "/openapi/v3/api/v1"), want: true,
		},
		{
			name: "nonResourceURL verb must match",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("h", nil, rbacv1.PolicyRule{Verbs: sl("get"), NonResourceURLs: sl("/openapi/*")}),
				testCRB("b", "h", userSubject("alice")),
			}}},
			attrs: nonRes(alice, "post", "/openapi/v3"), want: false,
		},
		{
			name: "nonResourceURL rule does not grant resources",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("h", nil, rbacv1.PolicyRule{Verbs: sl("get"), NonResourceURLs: sl("*")}),
				testCRB("b", "h", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: false,
		},
		{
			name: "resource rule does not grant nonResourceURLs",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("h", nil, pr(sl("get"), sl("*"), sl("*"))),
				testCRB("b", "h", userSubject("alice")),
			}}},
			attrs: nonRes(alice, "get", "/healthz"), want: false,
		},
		{
			name: "nonResourceURLs via role binding never apply",
			steps: []step{{upsert: []runtime.Object{
				testClusterRole("h", nil, rbacv1.PolicyRule{Verbs: sl("get"), NonResourceURLs: sl("/healthz")}),
				testRB("dev", "b", "ClusterRole", "h", userSubject("alice")),
			}}},
			attrs: nonRes(alice, "get", "/healthz"), want: false,
		},
		{
			name:  "service account subject",
			steps: []step{{upsert: []runtime.Object{podReader, testRB("team", "b", "ClusterRole", "pod-reader", saSubject("team", "bot"))}}},
			attrs: res(saBot, "list", "", "pods", "", "team", ""), want: true,
		},
		{
			name:  "service account subject without namespace defaults to binding namespace",
			steps: []step{{upsert: []runtime.Object{podReader, testRB("team", "b", "ClusterRole", "pod-reader", saSubject("", "bot"))}}},
			attrs: res(saBot, "list", "", "pods", "", "team", ""), want: true,
		},
		{
			name:  "service account subject in another namespace",
			steps: []step{{upsert: []runtime.Object{podReader, testRB("team", "b", "ClusterRole", "pod-reader", saSubject("other", "bot"))}}},
			attrs: res(saBot, "list", "", "pods", "", "team", ""), want: false,
		},
		{
			name:  "service account in cluster role binding",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", saSubject("team", "bot"))}}},
			attrs: res(saBot, "list", "", "pods", "", "", ""), want: true,
		},
		{
			name:  "service account without namespace in cluster role binding matches nobody",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", saSubject("", "bot"))}}},
			attrs: res(saBot, "list", "", "pods", "", "team", ""), want: false,
		},
		{
			name:  "user named like a service account is the service account",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", saSubject("team", "bot"))}}},
			attrs: res(User{Name: "system:serviceaccount:team:bot"}, "get", "", "pods", "", "x", "p"), want: true,
		},
		{
			name: "unknown subject kind matches nobody",
			steps: []step{{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader",
				rbacv1.Subject{Kind: "Robot", Name: "alice"})}}},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: false,
		},
		{
			name: "aggregation unions matching cluster roles",
			steps: []step{{upsert: []runtime.Object{
				testAggregated("monitoring", map[string]string{"agg": "mon"}),
				testClusterRole("mon-pods", map[string]string{"agg": "mon"}, pr(sl("get"), sl(""), sl("pods"))),
				testClusterRole("mon-nodes", map[string]string{"agg": "mon"}, pr(sl("get"), sl(""), sl("nodes"))),
				testCRB("b", "monitoring", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "nodes", "", "", "n1"), want: true,
		},
		{
			name: "aggregation ignores non-matching roles",
			steps: []step{{upsert: []runtime.Object{
				testAggregated("monitoring", map[string]string{"agg": "mon"}),
				testClusterRole("other", map[string]string{"agg": "other"}, pr(sl("get"), sl(""), sl("secrets"))),
				testCRB("b", "monitoring", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "secrets", "", "default", "s"), want: false,
		},
		{
			name: "aggregation is nested",
			steps: []step{{upsert: []runtime.Object{
				testAggregated("outer", map[string]string{"agg": "outer"}),
				func() runtime.Object {
					cr := testAggregated("inner", map[string]string{"agg": "inner"})
					cr.Labels = map[string]string{"agg": "outer"}
					return cr
				}(),
				testClusterRole("leaf", map[string]string{"agg": "inner"}, pr(sl("get"), sl(""), sl("pods"))),
				testCRB("b", "outer", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: true,
		},
		{
			name: "aggregated role updated when a matching role changes",
			steps: []step{
				{upsert: []runtime.Object{
					testAggregated("monitoring", map[string]string{"agg": "mon"}),
					testClusterRole("mon", map[string]string{"agg": "mon"}, pr(sl("get"), sl(""), sl("pods"))),
					testCRB("b", "monitoring", userSubject("alice")),
				}},
				{upsert: []runtime.Object{testClusterRole("mon", map[string]string{"agg": "mon"}, pr(sl("get"), sl(""), sl("services")))}},
			},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: false,
		},
		{
			name: "aggregated role loses rules of removed role",
			steps: []step{
				{upsert: []runtime.Object{
					testAggregated("monitoring", map[string]string{"agg": "mon"}),
					testClusterRole("mon", map[string]string{"agg": "mon"}, pr(sl("get"), sl(""), sl("pods"))),
					testCRB("b", "monitoring", userSubject("alice")),
				}},
				{remove: []runtime.Object{testClusterRole("mon", nil)}},
			},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: false,
		},
		{
			name: "aggregated role's own rules are ignored (overwritten by aggregation in Kubernetes)",
			steps: []step{{upsert: []runtime.Object{
				func() runtime.Object {
					cr := testAggregated("monitoring", map[string]string{"agg": "mon"})
					cr.Rules = []rbacv1.PolicyRule{pr(sl("get"), sl(""), sl("secrets"))}
					return cr
				}(),
				testCRB("b", "monitoring", userSubject("alice")),
			}}},
			attrs: res(alice, "get", "", "secrets", "", "default", "s"), want: false,
		},
		{
			name: "remove cluster role binding takes effect",
			steps: []step{
				{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", userSubject("alice"))}},
				{remove: []runtime.Object{testCRB("b", "")}},
			},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: false,
		},
		{
			name: "remove role binding takes effect",
			steps: []step{
				{upsert: []runtime.Object{podReader, testRB("dev", "b", "ClusterRole", "pod-reader", userSubject("alice"))}},
				{remove: []runtime.Object{testRB("dev", "b", "", "")}},
			},
			attrs: res(alice, "get", "", "pods", "", "dev", "p"), want: false,
		},
		{
			name: "remove role takes effect",
			steps: []step{
				{upsert: []runtime.Object{
					testRole("dev", "r", pr(sl("get"), sl(""), sl("pods"))),
					testRB("dev", "b", "Role", "r", userSubject("alice")),
				}},
				{remove: []runtime.Object{testRole("dev", "r")}},
			},
			attrs: res(alice, "get", "", "pods", "", "dev", "p"), want: false,
		},
		{
			name: "remove cluster role takes effect",
			steps: []step{
				{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", userSubject("alice"))}},
				{remove: []runtime.Object{testClusterRole("pod-reader", nil)}},
			},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: false,
		},
		{
			name: "updating binding subjects takes effect",
			steps: []step{
				{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", userSubject("alice"))}},
				{upsert: []runtime.Object{testCRB("b", "pod-reader", userSubject("bob"))}},
			},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: false,
		},
		{
			name: "updating role rules takes effect",
			steps: []step{
				{upsert: []runtime.Object{podReader, testCRB("b", "pod-reader", userSubject("alice"))}},
				{upsert: []runtime.Object{testClusterRole("pod-reader", nil, pr(sl("get"), sl(""), sl("services")))}},
			},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: false,
		},
		{
			name:  "other types are ignored",
			steps: []step{{upsert: []runtime.Object{&metav1.Status{}, (*rbacv1.Role)(nil)}}},
			attrs: res(alice, "get", "", "pods", "", "default", "p"), want: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewRBAC()
			for _, s := range tt.steps {
				for _, o := range s.upsert {
					a.Upsert(o)
				}
				for _, o := range s.remove {
					a.Remove(o)
				}
			}
			got, reason := a.Authorize(tt.attrs)
			if got != tt.want {
				t.Fatalf("Authorize(%+v) = %v (%q), want %v", tt.attrs, got, reason, tt.want)
			}
			if !got && !strings.HasPrefix(reason, "User ") {
				t.Errorf("denied reason %q is not a forbidden message", reason)
			}
		})
	}
}

func TestRBACReasons(t *testing.T) {
	a := NewRBAC()
	a.Upsert(testClusterRole("pod-reader", nil, pr(sl("get"), sl(""), sl("pods"))))
	a.Upsert(testCRB("crb", "pod-reader", groupSubject("devs")))
	a.Upsert(testRB("team", "rb", "ClusterRole", "pod-reader", saSubject("", "bot")))
	a.Upsert(testRB("team", "dangling", "Role", "gone", userSubject("bob")))

	tests := []struct {
		name   string
		attrs  Attributes
		allow  bool
		reason string
	}{
		{"cluster binding", res(alice, "get", "", "pods", "", "x", "p"), true,
			`RBAC: allowed by ClusterRoleBinding "crb" of ClusterRole "pod-reader" to Group "devs"`},
		{"role binding", res(saBot, "get", "", "pods", "", "team", "p"), true,
			`RBAC: allowed by RoleBinding "rb/team" of ClusterRole "pod-reader" to ServiceAccount "bot/team"`},
		{"namespaced denial", res(bob, "list", "", "pods", "", "x", ""), false,
			`User "bob" cannot list resource "pods" in API group "" in the namespace "x"`},
		{"cluster denial with subresource", res(bob, "update", "", "nodes", "status", "", "n"), false,
			`User "bob" cannot update resource "nodes/status" in API group "" at the cluster scope`},
		{"non-resource denial", nonRes(bob, "get", "/metrics"), false,
			`User "bob" cannot get path "/metrics"`},
		{"missing role named", res(bob, "get", "", "pods", "", "team", "p"), false,
			`User "bob" cannot get resource "pods" in API group "" in the namespace "team": RBAC: role.rbac.authorization.k8s.io "gone" not found`},
		{"superuser", res(root, "get", "", "pods", "", "team", "p"), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allow, reason := a.Authorize(tt.attrs)
			if allow != tt.allow || reason != tt.reason {
				t.Errorf("Authorize = %v, %q; want %v, %q", allow, reason, tt.allow, tt.reason)
			}
		})
	}
}

func TestRBACEffectiveRulesAndReplace(t *testing.T) {
	a := NewRBAC()
	a.Upsert(testAggregated("agg", map[string]string{"a": "1"}))
	a.Upsert(testClusterRole("x", map[string]string{"a": "1"}, pr(sl("get"), sl(""), sl("pods"))))
	a.Upsert(testClusterRole("y", map[string]string{"a": "1"}, pr(sl("get"), sl(""), sl("pods")), pr(sl("list"), sl(""), sl("pods"))))
	rules, ok := a.EffectiveRules("agg")
	if !ok || len(rules) != 2 {
		t.Fatalf("EffectiveRules = %v, %v; want 2 de-duplicated rules", rules, ok)
	}
	if _, ok := a.EffectiveRules("missing"); ok {
		t.Error("EffectiveRules of missing role reported ok")
	}

	a.Upsert(testCRB("b", "agg", userSubject("alice")))
	if ok, _ := a.Authorize(res(alice, "list", "", "pods", "", "", "")); !ok {
		t.Fatal("aggregated rule not granted")
	}
	a.Replace([]runtime.Object{testClusterRole("x", nil, pr(sl("get"), sl(""), sl("pods")))})
	if ok, _ := a.Authorize(res(alice, "list", "", "pods", "", "", "")); ok {
		t.Fatal("Replace kept old binding")
	}
}

func TestRBACConcurrent(t *testing.T) {
	a := NewRBAC()
	for _, o := range BootstrapPolicy() {
		a.Upsert(o)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 200 {
				if w%2 == 0 {
					rb := testRB("ns", "rb", "ClusterRole", "view", userSubject("alice"))
					a.Upsert(rb)
					a.Remove(rb)
				} else {
					a.Authorize(res(alice, "get", "", "pods", "", "ns", "p"))
					a.Authorize(res(NodeUser("n"), "patch", "", "nodes", "status", "", "n"))
				}
			}
		})
	}
	wg.Wait()
}
