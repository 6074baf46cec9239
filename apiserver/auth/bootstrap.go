package auth

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Built-in identities.
const (
	UserAdmin             = "cairn:admin"
	UserViewer            = "cairn:viewer"
	GroupViewers          = "cairn:viewers"
	UserGitSync           = "cairn:gitsync"
	UserControllerManager = "system:kube-controller-manager"
	UserScheduler         = "system:kube-scheduler"
	// NodeUserPrefix prefixes a node name to form the node's user name.
	NodeUserPrefix = "system:node:"
)

// Bootstrap policy labels and annotations, as in Kubernetes.
const (
	BootstrappingLabel      = "kubernetes.io/bootstrapping"
	BootstrappingLabelValue = "rbac-defaults"
	AutoUpdateAnnotation    = "rbac.authorization.kubernetes.io/autoupdate"
)

// Identity is a built-in client identity for which the server writes a
// kubeconfig named File.
type Identity struct {
	File string
	User User
}

// Identities returns the built-in client identities.
func Identities() []Identity {
	return []Identity{
		{File: "admin.kubeconfig", User: User{Name: UserAdmin, Groups: []string{GroupMasters}}},
		{File: "viewer.kubeconfig", User: User{Name: UserViewer, Groups: []string{GroupViewers}}},
		{File: "gitsync.kubeconfig", User: User{Name: UserGitSync}},
		{File: "controller-manager.kubeconfig", User: User{Name: UserControllerManager}},
		{File: "scheduler.kubeconfig", User: User{Name: UserScheduler}},
	}
}

// NodeUser returns the identity of node nodeName:
// "system:node:<name>" in group system:nodes.
func NodeUser(nodeName string) User {
	return User{Name: NodeUserPrefix + nodeName, Groups: []string{GroupNodes}}
}

// API groups named by the bootstrap policy.
const (
	groupCore          = ""
	groupApps          = "apps"
	groupCoordination  = "coordination.k8s.io"
	groupRBAC          = "rbac.authorization.k8s.io"
	groupAdmission     = "admissionregistration.k8s.io"
	groupEvents        = "events.k8s.io"
	groupGitOps        = "gitops.cairn.dev"
	groupAuthn         = "authentication.k8s.io"
	groupAuthz         = "authorization.k8s.io"
	groupPolicy        = "policy"
	groupStorage       = "storage.k8s.io"
	groupDiscovery     = "discovery.k8s.io"
	groupAPIExtensions = "apiextensions.k8s.io"
)

var (
	verbsRead      = []string{"get", "list", "watch"}
	verbsWrite     = []string{"create", "update", "patch", "delete", "deletecollection"}
	verbsReadWrite = append(append([]string{}, verbsRead...), verbsWrite...)
	verbsStatus    = []string{"update", "patch"}
)

// rule builds a resource rule.
func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: append([]string{}, verbs...), APIGroups: []string{group}, Resources: resources}
}

func nonResourceRule(verbs []string, urls ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: append([]string{}, verbs...), NonResourceURLs: urls}
}

func verbs(v ...string) []string { return v }

// eventsRules lets a component record events through either events API.
func eventsRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(verbs("create", "update", "patch"), groupCore, "events"),
		rule(verbs("create", "update", "patch"), groupEvents, "events"),
	}
}

// BootstrapPolicy returns the ClusterRoles and ClusterRoleBindings the
// server creates on first start (typed, TypeMeta set, labelled
// kubernetes.io/bootstrapping=rbac-defaults):
//
//   - cluster-admin: everything; bound to group system:masters (who are
//     superusers anyway);
//   - system:discovery, system:basic-user, system:public-info-viewer: the
//     Kubernetes discovery, self-review and health/version roles, bound to
//     system:authenticated (public-info-viewer also to
//     system:unauthenticated);
//   - view: read everything cairn serves except secrets; bound to group
//     cairn:viewers;
//   - cairn:gitsync: read/write the objects a Git repository may declare,
//     including secrets; bound to user cairn:gitsync;
//   - system:kube-scheduler, system:kube-controller-manager: the control
//     plane components, bound to their users;
//   - system:node: what a node agent needs; bound to group system:nodes
//     (node authorization narrows it to the node's own objects).
func BootstrapPolicy() []runtime.Object {
	roles := []*rbacv1.ClusterRole{
		newClusterRole("cluster-admin",
			rbacv1.PolicyRule{Verbs: []string{rbacv1.VerbAll}, APIGroups: []string{rbacv1.APIGroupAll}, Resources: []string{rbacv1.ResourceAll}},
			nonResourceRule(verbs(rbacv1.VerbAll), rbacv1.NonResourceAll),
		),
		newClusterRole("system:discovery",
			nonResourceRule(verbs("get"),
				"/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*",
				"/version", "/version/", "/healthz", "/livez", "/readyz"),
		),
		newClusterRole("system:basic-user",
			rule(verbs("create"), groupAuthz, "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule(verbs("create"), groupAuthn, "selfsubjectreviews"),
		),
		newClusterRole("system:public-info-viewer",
			nonResourceRule(verbs("get"), "/healthz", "/livez", "/readyz", "/version", "/version/"),
		),
		newClusterRole("view", viewRules()...),
		newClusterRole(UserGitSync, gitSyncRules()...),
		newClusterRole("system:kube-scheduler", schedulerRules()...),
		newClusterRole("system:kube-controller-manager", controllerManagerRules()...),
		newClusterRole("system:node", nodeRules()...),
	}
	bindings := []*rbacv1.ClusterRoleBinding{
		newClusterRoleBinding("cluster-admin", "cluster-admin", groupSubject(GroupMasters)),
		newClusterRoleBinding("system:discovery", "system:discovery", groupSubject(GroupAuthenticated)),
		newClusterRoleBinding("system:basic-user", "system:basic-user", groupSubject(GroupAuthenticated)),
		newClusterRoleBinding("system:public-info-viewer", "system:public-info-viewer",
			groupSubject(GroupAuthenticated), groupSubject(GroupUnauthenticated)),
		newClusterRoleBinding(GroupViewers, "view", groupSubject(GroupViewers)),
		newClusterRoleBinding(UserGitSync, UserGitSync, userSubject(UserGitSync)),
		newClusterRoleBinding("system:kube-scheduler", "system:kube-scheduler", userSubject(UserScheduler)),
		newClusterRoleBinding("system:kube-controller-manager", "system:kube-controller-manager", userSubject(UserControllerManager)),
		newClusterRoleBinding("system:node", "system:node", groupSubject(GroupNodes)),
	}
	out := make([]runtime.Object, 0, len(roles)+len(bindings))
	for _, r := range roles {
		out = append(out, r)
	}
	for _, b := range bindings {
		out = append(out, b)
	}
	return out
}

// viewRules: get/list/watch on everything cairn serves except secrets.
func viewRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(verbsRead, groupCore,
			"namespaces", "pods", "pods/log", "pods/status", "nodes", "nodes/status",
			"services", "services/status", "endpoints", "configmaps", "events", "limitranges",
			"persistentvolumeclaims", "persistentvolumes", "serviceaccounts",
			"replicationcontrollers", "replicationcontrollers/status", "replicationcontrollers/scale",
			"componentstatuses"),
		rule(verbsRead, groupApps,
			"deployments", "deployments/status", "deployments/scale",
			"replicasets", "replicasets/status", "replicasets/scale",
			"statefulsets", "statefulsets/status", "statefulsets/scale",
			"daemonsets", "daemonsets/status", "controllerrevisions"),
		rule(verbsRead, groupCoordination, "leases"),
		rule(verbsRead, groupRBAC, "roles", "rolebindings", "clusterroles", "clusterrolebindings"),
		rule(verbsRead, groupAdmission,
			"validatingadmissionpolicies", "validatingadmissionpolicies/status", "validatingadmissionpolicybindings"),
		rule(verbsRead, groupEvents, "events"),
		rule(verbsRead, groupGitOps, "gitrepositories", "gitrepositories/status"),
	}
}

// gitSyncRules: full read/write on the objects a repository may declare,
// secrets included; nodes, component statuses and pod logs read-only; no
// status subresources except the GitRepository status it reports into, no
// pods/binding.
func gitSyncRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(verbsReadWrite, groupCore,
			"namespaces", "pods", "services", "endpoints", "configmaps", "secrets", "events",
			"limitranges", "persistentvolumeclaims", "persistentvolumes", "serviceaccounts",
			"replicationcontrollers"),
		rule(verbsRead, groupCore, "componentstatuses", "pods/log"),
		// Nodes administered from git: labels, taints, cordon, and whole
		// Nodes of machines that do not register themselves; never
		// deleted by gitsync.
		rule(verbs("get", "list", "watch", "create", "update", "patch"), groupCore, "nodes"),
		rule(verbsReadWrite, groupApps, "deployments", "replicasets", "statefulsets", "daemonsets"),
		rule(verbsRead, groupApps, "controllerrevisions"),
		rule(verbsReadWrite, groupCoordination, "leases"),
		rule(verbsReadWrite, groupRBAC, "roles", "rolebindings", "clusterroles", "clusterrolebindings"),
		rule(verbsReadWrite, groupAdmission, "validatingadmissionpolicies", "validatingadmissionpolicybindings"),
		rule(verbsReadWrite, groupStorage, "storageclasses"),
		rule(verbsReadWrite, groupEvents, "events"),
		rule(verbsReadWrite, groupGitOps, "gitrepositories"),
		rule(verbs("get", "update", "patch"), groupGitOps, "gitrepositories/status"),
	}
}

// schedulerRules follow Kubernetes' system:kube-scheduler role (leases
// without the resourceNames restriction, configmaps readable).
func schedulerRules() []rbacv1.PolicyRule {
	return append(eventsRules(),
		rule(verbs("get", "create", "update"), groupCoordination, "leases"),
		rule(verbsRead, groupCore, "nodes"),
		rule(verbs("get", "list", "watch", "delete", "update", "patch"), groupCore, "pods"),
		rule(verbs("create"), groupCore, "pods/binding", "bindings"),
		rule(verbsStatus, groupCore, "pods/status"),
		rule(verbsRead, groupCore, "services", "replicationcontrollers", "persistentvolumeclaims",
			"persistentvolumes", "namespaces", "configmaps"),
		rule(verbsRead, groupApps, "replicasets", "statefulsets"),
		rule(verbsRead, groupPolicy, "poddisruptionbudgets"),
		rule(verbsRead, groupStorage, "csinodes", "csidrivers", "csistoragecapacities", "storageclasses"),
		rule(verbs("create"), groupAuthn, "tokenreviews"),
		rule(verbs("create"), groupAuthz, "subjectaccessreviews"),
	)
}

// controllerManagerRules: one identity for all of cairn's controllers. Read
// everything; delete anything (namespace deletion and garbage collection
// remove arbitrary namespaced objects); write workloads, pods, endpoints,
// events, volumes, service accounts, root-CA config maps, leases; manage
// nodes and namespace finalization.
func controllerManagerRules() []rbacv1.PolicyRule {
	return append(eventsRules(),
		rule(verbsRead, rbacv1.APIGroupAll, rbacv1.ResourceAll),
		rule(verbs("delete", "deletecollection"), rbacv1.APIGroupAll, rbacv1.ResourceAll),
		// The garbage collector removes owner references and finalizers
		// from objects of any kind (Kubernetes' generic-garbage-collector).
		rule(verbs("patch", "update"), rbacv1.APIGroupAll, rbacv1.ResourceAll),
		rule(verbsReadWrite, groupCore, "pods", "endpoints", "persistentvolumeclaims", "persistentvolumes",
			"replicationcontrollers", "serviceaccounts", "configmaps"),
		rule(verbsStatus, groupCore, "pods/status", "persistentvolumeclaims/status", "persistentvolumes/status",
			"replicationcontrollers/status", "services/status", "namespaces/status"),
		rule(verbs("update"), groupCore, "replicationcontrollers/finalizers", "namespaces/finalize"),
		rule(verbs("create"), groupCore, "pods/eviction", "serviceaccounts/token"),
		rule(verbs("get", "list", "watch", "update", "patch", "delete"), groupCore, "nodes"),
		rule(verbsStatus, groupCore, "nodes/status"),
		rule(verbs("get", "list", "watch", "delete"), groupCore, "namespaces"),
		rule(verbsReadWrite, groupApps, "deployments", "replicasets", "statefulsets", "daemonsets", "controllerrevisions"),
		rule(verbsStatus, groupApps, "deployments/status", "replicasets/status", "statefulsets/status", "daemonsets/status"),
		rule(verbs("update"), groupApps, "deployments/finalizers", "replicasets/finalizers",
			"statefulsets/finalizers", "daemonsets/finalizers"),
		rule(verbsReadWrite, groupDiscovery, "endpointslices"),
		rule(verbsReadWrite, groupCoordination, "leases"),
		rule(verbs("create"), groupAuthn, "tokenreviews"),
		rule(verbs("create"), groupAuthz, "subjectaccessreviews"),
		rule(verbsStatus, groupAPIExtensions, "customresourcedefinitions/status"),
	)
}

// nodeRules: what a node agent needs, as Kubernetes' system:node role
// narrowed to what cairn serves.
func nodeRules() []rbacv1.PolicyRule {
	return append(eventsRules(),
		rule(verbs("get", "list", "watch", "create", "update", "patch"), groupCore, "nodes"),
		rule(verbsStatus, groupCore, "nodes/status"),
		rule(verbs("get", "list", "watch", "create", "delete"), groupCore, "pods"),
		rule(verbsStatus, groupCore, "pods/status"),
		rule(verbs("get", "create", "update", "patch", "delete"), groupCoordination, "leases"),
		rule(verbsRead, groupCore, "configmaps", "secrets", "services", "endpoints",
			"persistentvolumeclaims", "persistentvolumes"),
		rule(verbs("create"), groupCore, "serviceaccounts/token"),
	)
}

func bootstrapMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:        name,
		Labels:      map[string]string{BootstrappingLabel: BootstrappingLabelValue},
		Annotations: map[string]string{AutoUpdateAnnotation: "true"},
	}
}

func newClusterRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
		ObjectMeta: bootstrapMeta(name),
		Rules:      rules,
	}
}

func newClusterRoleBinding(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
		ObjectMeta: bootstrapMeta(name),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

func groupSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}
