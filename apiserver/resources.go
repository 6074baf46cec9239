package apiserver

import (
	"fmt"
	"sort"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
)

// Resource is one served resource: everything the generic handlers need to
// know about it. Adding a resource to cairn is adding one entry to the table
// returned by Resources.
type Resource struct {
	Group, Version string
	Resource       string // plural, lowercase: "pods"
	Kind           string
	Singular       string
	Namespaced     bool
	ShortNames     []string
	Categories     []string

	// New returns an empty object of the kind.
	New func() runtime.Object
	// Subresources served besides the main resource.
	Status  bool // {resource}/status: spec and status updated separately
	Scale   bool // {resource}/scale: autoscaling/v1 Scale over spec.replicas
	Binding bool // pods/binding
	Log     bool // pods/log, read from the node's kubelet (podlog.go)
	// Finalize is namespaces/finalize.
	Finalize bool
	// ReadOnly resources reject every write (componentstatuses).
	ReadOnly bool
	// Computed resources are not stored: the server computes them on read.
	Computed bool
	// Fields adds the kind's selectable fields to metadata.name/namespace.
	Fields func(obj runtime.Object) map[string]string
	// ResetStatusOnCreate drops a client-supplied status on create.
	ResetStatusOnCreate bool
}

// GroupVersion of the resource.
func (r *Resource) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

// GVK of the resource's kind.
func (r *Resource) GVK() schema.GroupVersionKind { return r.GroupVersion().WithKind(r.Kind) }

// GR of the resource.
func (r *Resource) GR() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Resource}
}

// Prefix is the etcd key prefix of the resource: /registry/<resource>/.
// Resources of non-core groups other than the Kubernetes built-ins keep
// their group in the key, as kube-apiserver does for CRDs.
func (r *Resource) Prefix() string {
	if r.Group == gitopsv1.GroupName {
		return "/registry/" + r.Group + "/" + r.Resource + "/"
	}
	return "/registry/" + r.Resource + "/"
}

// Key is the etcd key of one object.
func (r *Resource) Key(namespace, name string) string {
	if r.Namespaced {
		return r.Prefix() + namespace + "/" + name
	}
	return r.Prefix() + name
}

// ListPrefix is the etcd prefix listing a namespace ("" = all namespaces).
func (r *Resource) ListPrefix(namespace string) string {
	if r.Namespaced && namespace != "" {
		return r.Prefix() + namespace + "/"
	}
	return r.Prefix()
}

// Resources is the table of everything cairn serves.
func Resources() []*Resource {
	core := func(res, kind string, namespaced bool, short []string, newf func() runtime.Object) *Resource {
		return &Resource{Group: "", Version: "v1", Resource: res, Kind: kind, Namespaced: namespaced, ShortNames: short, New: newf}
	}
	apps := func(res, kind string, short []string, newf func() runtime.Object) *Resource {
		return &Resource{Group: "apps", Version: "v1", Resource: res, Kind: kind, Namespaced: true, ShortNames: short, New: newf,
			Status: true, Scale: kind != "DaemonSet", Categories: []string{"all"}, ResetStatusOnCreate: true}
	}
	rbac := func(res, kind string, namespaced bool, newf func() runtime.Object) *Resource {
		return &Resource{Group: rbacv1.GroupName, Version: "v1", Resource: res, Kind: kind, Namespaced: namespaced, New: newf}
	}

	pods := core("pods", "Pod", true, []string{"po"}, func() runtime.Object { return &corev1.Pod{} })
	pods.Status, pods.Binding, pods.Log, pods.Categories = true, true, true, []string{"all"}
	pods.Fields = podFields
	nodes := core("nodes", "Node", false, []string{"no"}, func() runtime.Object { return &corev1.Node{} })
	nodes.Status, nodes.Fields = true, nodeFields
	namespaces := core("namespaces", "Namespace", false, []string{"ns"}, func() runtime.Object { return &corev1.Namespace{} })
	namespaces.Status, namespaces.Finalize, namespaces.Fields = true, true, namespaceFields
	services := core("services", "Service", true, []string{"svc"}, func() runtime.Object { return &corev1.Service{} })
	services.Status, services.Categories, services.ResetStatusOnCreate = true, []string{"all"}, true
	rcs := core("replicationcontrollers", "ReplicationController", true, []string{"rc"}, func() runtime.Object { return &corev1.ReplicationController{} })
	rcs.Status, rcs.Scale, rcs.Categories, rcs.ResetStatusOnCreate = true, true, []string{"all"}, true
	rcs.Fields = replicasFields
	events := core("events", "Event", true, []string{"ev"}, func() runtime.Object { return &corev1.Event{} })
	events.Fields = eventFields
	secrets := core("secrets", "Secret", true, nil, func() runtime.Object { return &corev1.Secret{} })
	secrets.Fields = secretFields
	pvcs := core("persistentvolumeclaims", "PersistentVolumeClaim", true, []string{"pvc"}, func() runtime.Object { return &corev1.PersistentVolumeClaim{} })
	pvcs.Status = true
	pvs := core("persistentvolumes", "PersistentVolume", false, []string{"pv"}, func() runtime.Object { return &corev1.PersistentVolume{} })
	pvs.Status = true
	cs := core("componentstatuses", "ComponentStatus", false, []string{"cs"}, func() runtime.Object { return &corev1.ComponentStatus{} })
	cs.ReadOnly, cs.Computed = true, true
	replicasets := apps("replicasets", "ReplicaSet", []string{"rs"}, func() runtime.Object { return &appsv1.ReplicaSet{} })
	replicasets.Fields = replicasFields

	table := []*Resource{
		namespaces, pods, nodes, services, rcs, events, secrets, pvcs, pvs, cs,
		core("endpoints", "Endpoints", true, []string{"ep"}, func() runtime.Object { return &corev1.Endpoints{} }),
		core("configmaps", "ConfigMap", true, []string{"cm"}, func() runtime.Object { return &corev1.ConfigMap{} }),
		core("limitranges", "LimitRange", true, []string{"limits"}, func() runtime.Object { return &corev1.LimitRange{} }),
		core("serviceaccounts", "ServiceAccount", true, []string{"sa"}, func() runtime.Object { return &corev1.ServiceAccount{} }),
		apps("deployments", "Deployment", []string{"deploy"}, func() runtime.Object { return &appsv1.Deployment{} }),
		replicasets,
		apps("statefulsets", "StatefulSet", []string{"sts"}, func() runtime.Object { return &appsv1.StatefulSet{} }),
		apps("daemonsets", "DaemonSet", []string{"ds"}, func() runtime.Object { return &appsv1.DaemonSet{} }),
		{Group: "apps", Version: "v1", Resource: "controllerrevisions", Kind: "ControllerRevision", Namespaced: true,
			New: func() runtime.Object { return &appsv1.ControllerRevision{} }},
		{Group: coordinationv1.GroupName, Version: "v1", Resource: "leases", Kind: "Lease", Namespaced: true,
			New: func() runtime.Object { return &coordinationv1.Lease{} }},
		{Group: storagev1.GroupName, Version: "v1", Resource: "storageclasses", Kind: "StorageClass", ShortNames: []string{"sc"},
			New: func() runtime.Object { return &storagev1.StorageClass{} }},
		rbac("roles", "Role", true, func() runtime.Object { return &rbacv1.Role{} }),
		rbac("rolebindings", "RoleBinding", true, func() runtime.Object { return &rbacv1.RoleBinding{} }),
		rbac("clusterroles", "ClusterRole", false, func() runtime.Object { return &rbacv1.ClusterRole{} }),
		rbac("clusterrolebindings", "ClusterRoleBinding", false, func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }),
		{Group: admissionregistrationv1.GroupName, Version: "v1", Resource: "validatingadmissionpolicies", Kind: "ValidatingAdmissionPolicy",
			Status: true, New: func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicy{} }},
		{Group: admissionregistrationv1.GroupName, Version: "v1", Resource: "validatingadmissionpolicybindings", Kind: "ValidatingAdmissionPolicyBinding",
			New: func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{} }},
		{Group: gitopsv1.GroupName, Version: "v1", Resource: "gitrepositories", Kind: "GitRepository", Namespaced: true,
			ShortNames: []string{"gitrepo", "repo"}, Status: true, ResetStatusOnCreate: true,
			New: func() runtime.Object { return &gitopsv1.GitRepository{} }},
	}
	for _, r := range table {
		if r.Singular == "" {
			r.Singular = lower(r.Kind)
		}
	}
	sort.SliceStable(table, func(i, j int) bool {
		if table[i].Group != table[j].Group {
			return table[i].Group < table[j].Group
		}
		return table[i].Resource < table[j].Resource
	})
	return table
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// registry indexes the resource table.
type registry struct {
	all   []*Resource
	byGVR map[schema.GroupVersionResource]*Resource
	// groups in discovery order, each with its versions.
	groups []string
}

func newRegistry(table []*Resource) (*registry, error) {
	reg := &registry{all: table, byGVR: map[schema.GroupVersionResource]*Resource{}}
	seen := map[string]bool{}
	for _, r := range table {
		gvr := r.GroupVersion().WithResource(r.Resource)
		if reg.byGVR[gvr] != nil {
			return nil, fmt.Errorf("apiserver: resource %s registered twice", gvr)
		}
		reg.byGVR[gvr] = r
		if !seen[r.Group] {
			seen[r.Group] = true
			reg.groups = append(reg.groups, r.Group)
		}
	}
	return reg, nil
}

func (reg *registry) lookup(group, version, resource string) *Resource {
	return reg.byGVR[schema.GroupVersionResource{Group: group, Version: version, Resource: resource}]
}
