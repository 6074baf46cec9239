package builtin

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cairn-dev/cairn/policies"
)

func TestLists(t *testing.T) {
	var names []string
	for _, m := range Mutating(fakeNamespaces{}, fakeLimitRanges{}) {
		names = append(names, m.Name())
	}
	if want := []string{"NamespaceLifecycle", "LimitRanger", "DefaultTolerationSeconds"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Mutating = %v, want %v", names, want)
	}
	v := ValidatingList()
	if len(v) != 1 || v[0].Name() != "NodeRestriction" {
		t.Errorf("ValidatingList = %v", v)
	}
}

// --- NamespaceLifecycle ---

func TestNamespaceLifecycle(t *testing.T) {
	now := metav1.Now()
	plugin := NamespaceLifecycle(fakeNamespaces{
		"team":    {ObjectMeta: metav1.ObjectMeta{Name: "team"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		"leaving": {ObjectMeta: metav1.ObjectMeta{Name: "leaving"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
		"going":   {ObjectMeta: metav1.ObjectMeta{Name: "going", DeletionTimestamp: &now}},
	})
	cm := func(op policies.Operation, ns string) *policies.Attributes {
		obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: ns}}
		a := &policies.Attributes{Operation: op, Kind: cmGVK, Resource: cmGVR, Namespace: ns, Name: "c", Object: obj}
		if op != policies.Create {
			a.OldObject = obj.DeepCopy()
		}
		if op == policies.Delete {
			a.Object = nil
		}
		return a
	}
	nsObj := func(op policies.Operation, name string) *policies.Attributes {
		a := &policies.Attributes{Operation: op, Kind: nsGVK, Resource: nsGVR, Name: name}
		if op != policies.Delete {
			a.Object = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		}
		return a
	}
	tests := []struct {
		name string
		a    *policies.Attributes
		code int32
		msg  string
	}{
		{"create in active namespace", cm(policies.Create, "team"), 0, ""},
		{"create in missing namespace", cm(policies.Create, "nowhere"), http.StatusNotFound, `namespaces "nowhere" not found`},
		{"update in missing namespace", cm(policies.Update, "nowhere"), http.StatusNotFound, `namespaces "nowhere" not found`},
		{"delete in missing namespace", cm(policies.Delete, "nowhere"), 0, ""},
		{"create in terminating namespace", cm(policies.Create, "leaving"), http.StatusForbidden,
			`configmaps "c" is forbidden: unable to create new content in namespace leaving because it is being terminated`},
		{"create in namespace with deletionTimestamp", cm(policies.Create, "going"), http.StatusForbidden,
			`configmaps "c" is forbidden: unable to create new content in namespace going because it is being terminated`},
		{"update in terminating namespace", cm(policies.Update, "leaving"), 0, ""},
		{"delete in terminating namespace", cm(policies.Delete, "leaving"), 0, ""},
		{"subresource create in terminating namespace", func() *policies.Attributes {
			a := createPod(pod("p"))
			a.Namespace, a.Subresource = "leaving", "binding"
			return a
		}(), http.StatusForbidden, `pods "p" is forbidden: unable to create new content in namespace leaving because it is being terminated`},
		{"cluster-scoped object", &policies.Attributes{Operation: policies.Create, Kind: nodeGVK, Resource: nodeGVR, Name: "n", Object: &corev1.Node{}}, 0, ""},
		{"access review in missing namespace", &policies.Attributes{Operation: policies.Create,
			Kind:      schema.GroupVersionKind{Group: "authorization.k8s.io", Version: "v1", Kind: "LocalSubjectAccessReview"},
			Resource:  schema.GroupVersionResource{Group: "authorization.k8s.io", Version: "v1", Resource: "localsubjectaccessreviews"},
			Namespace: "nowhere"}, 0, ""},
		{"delete default", nsObj(policies.Delete, "default"), http.StatusForbidden, `namespaces "default" is forbidden: this namespace may not be deleted`},
		{"delete kube-system", nsObj(policies.Delete, "kube-system"), http.StatusForbidden, `namespaces "kube-system" is forbidden: this namespace may not be deleted`},
		{"delete kube-public", nsObj(policies.Delete, "kube-public"), http.StatusForbidden, `namespaces "kube-public" is forbidden: this namespace may not be deleted`},
		{"delete kube-node-lease", nsObj(policies.Delete, "kube-node-lease"), 0, ""},
		{"delete ordinary namespace", nsObj(policies.Delete, "team"), 0, ""},
		{"create namespace", nsObj(policies.Create, "new"), 0, ""},
		{"update terminating namespace", nsObj(policies.Update, "leaving"), 0, ""},
		{"update default namespace", nsObj(policies.Update, "default"), 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, plugin.Admit(context.Background(), tc.a), tc.code, tc.msg)
		})
	}

	t.Run("terminating cause", func(t *testing.T) {
		err := plugin.Admit(context.Background(), cm(policies.Create, "leaving"))
		se, ok := err.(*apierrors.StatusError)
		if !ok || se.ErrStatus.Details == nil || len(se.ErrStatus.Details.Causes) != 1 ||
			se.ErrStatus.Details.Causes[0].Type != corev1.NamespaceTerminatingCause {
			t.Fatalf("want a NamespaceTerminating cause, got %#v", err)
		}
	})
	t.Run("getter failure is internal", func(t *testing.T) {
		p := NamespaceLifecycle(failingNamespaces{})
		wantStatus(t, p.Admit(context.Background(), cm(policies.Create, "team")), http.StatusInternalServerError, "")
	})
}

type failingNamespaces struct{}

func (failingNamespaces) GetNamespace(context.Context, string) (*corev1.Namespace, error) {
	return nil, apierrors.NewServiceUnavailable("etcd down")
}

// --- DefaultTolerationSeconds ---

func TestDefaultTolerationSeconds(t *testing.T) {
	sec := func(s int64) *int64 { return &s }
	notReady := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: sec(300)}
	unreachable := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: sec(300)}
	custom := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: sec(60)}
	other := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name string
		in   []corev1.Toleration
		want []corev1.Toleration
	}{
		{"none", nil, []corev1.Toleration{notReady, unreachable}},
		{"unrelated kept", []corev1.Toleration{other}, []corev1.Toleration{other, notReady, unreachable}},
		{"own not-ready seconds kept", []corev1.Toleration{custom}, []corev1.Toleration{custom, unreachable}},
		{"not-ready with any effect", []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists}}, []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists}, unreachable}},
		{"not-ready NoSchedule does not count", []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			[]corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}, notReady, unreachable}},
		{"wildcard", []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{"wildcard NoExecute", []corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}, []corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}},
		{"both present", []corev1.Toleration{unreachable, notReady}, []corev1.Toleration{unreachable, notReady}},
	}
	plugin := DefaultTolerationSeconds()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pod("p", container("c", nil, nil))
			p.Spec.Tolerations = tc.in
			for i := 0; i < 2; i++ { // idempotent: a second run changes nothing
				op := policies.Create
				if i == 1 {
					op = policies.Update
				}
				a := &policies.Attributes{Operation: op, Kind: podGVK, Resource: podGVR, Namespace: "team", Name: "p", Object: p}
				if err := plugin.Admit(context.Background(), a); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(p.Spec.Tolerations, tc.want) {
					t.Fatalf("run %d: tolerations = %+v, want %+v", i+1, p.Spec.Tolerations, tc.want)
				}
			}
		})
	}
	t.Run("subresources and other kinds untouched", func(t *testing.T) {
		p := pod("p", container("c", nil, nil))
		a := &policies.Attributes{Operation: policies.Update, Kind: podGVK, Resource: podGVR, Subresource: "status", Namespace: "team", Name: "p", Object: p}
		if err := plugin.Admit(context.Background(), a); err != nil || len(p.Spec.Tolerations) != 0 {
			t.Fatalf("status subresource changed: %v %v", err, p.Spec.Tolerations)
		}
		a = &policies.Attributes{Operation: policies.Create, Kind: cmGVK, Resource: cmGVR, Namespace: "team", Name: "c", Object: &corev1.ConfigMap{}}
		if err := plugin.Admit(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	})
}

// --- NodeRestriction ---

func TestNodeRestriction(t *testing.T) {
	nodeA := policies.UserInfo{Name: "system:node:a", Groups: []string{"system:nodes", "system:authenticated"}}
	admin := policies.UserInfo{Name: "admin", Groups: []string{"system:masters"}}
	notInGroup := policies.UserInfo{Name: "system:node:a", Groups: []string{"system:authenticated"}}
	empty := policies.UserInfo{Name: "system:node:", Groups: []string{"system:nodes"}}

	node := func(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
	}
	nodeAttrs := func(user policies.UserInfo, op policies.Operation, sub, name string, obj, old *corev1.Node) *policies.Attributes {
		a := &policies.Attributes{Operation: op, Kind: nodeGVK, Resource: nodeGVR, Subresource: sub, Name: name, User: user}
		if obj != nil {
			a.Object = obj
		}
		if old != nil {
			a.OldObject = old
		}
		return a
	}
	bound := func(name, nodeName string) *corev1.Pod {
		p := pod(name, container("c", nil, nil))
		p.Spec.NodeName = nodeName
		return p
	}
	podAttrs := func(user policies.UserInfo, op policies.Operation, sub string, obj, old *corev1.Pod) *policies.Attributes {
		a := &policies.Attributes{Operation: op, Kind: podGVK, Resource: podGVR, Subresource: sub, Namespace: "team", User: user}
		if obj != nil {
			a.Object, a.Name = obj, obj.Name
		}
		if old != nil {
			a.OldObject, a.Name = old, old.Name
		}
		return a
	}
	yes := true
	mirror := func(nodeName string) *corev1.Pod {
		p := bound("static-web", nodeName)
		p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "abc"}
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: nodeName, UID: "uid-" + types.UID(nodeName), Controller: &yes}}
		return p
	}
	withStatus := func(p *corev1.Pod, phase corev1.PodPhase) *corev1.Pod {
		p = p.DeepCopy()
		p.Status.Phase = phase
		return p
	}
	relabeled := func(p *corev1.Pod) *corev1.Pod {
		p = p.DeepCopy()
		p.Labels = map[string]string{"x": "y"}
		return p
	}
	leaseGVR := leaseGV.WithResource("leases")
	leaseGVK := leaseGV.WithKind("Lease")
	lease := func(user policies.UserInfo, op policies.Operation, ns, name string) *policies.Attributes {
		a := &policies.Attributes{Operation: op, Kind: leaseGVK, Resource: leaseGVR, Namespace: ns, Name: name, User: user}
		obj := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		switch op {
		case policies.Create:
			a.Object = obj
		case policies.Update:
			a.Object, a.OldObject = obj, obj.DeepCopy()
		case policies.Delete:
			a.OldObject = obj
		}
		return a
	}
	taint := corev1.Taint{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule}
	tokenReq := func(ref *authenticationv1.BoundObjectReference) *policies.Attributes {
		return &policies.Attributes{Operation: policies.Create, Kind: schema.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"},
			Resource: schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, Subresource: "token", Namespace: "team", Name: "default", User: nodeA,
			Object: &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: ref}}}
	}

	tests := []struct {
		name string
		a    *policies.Attributes
		code int32
		msg  string
	}{
		// Node objects
		{"A creates node A", nodeAttrs(nodeA, policies.Create, "", "a", node("a", map[string]string{"kubernetes.io/hostname": "a", "kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "z1", "node.kubernetes.io/instance-type": "m5", "foo.kubelet.kubernetes.io/x": "1", "example.com/team": "x"}), nil), 0, ""},
		{"A creates node B", nodeAttrs(nodeA, policies.Create, "", "b", node("b", nil), nil), http.StatusForbidden, `nodes "b" is forbidden: node "a" is not allowed to modify node "b"`},
		{"A creates node A with a node-role label", nodeAttrs(nodeA, policies.Create, "", "a", node("a", map[string]string{"node-role.kubernetes.io/control-plane": "", "node-restriction.kubernetes.io/pool": "x"}), nil), http.StatusForbidden,
			`nodes "a" is forbidden: node "a" is not allowed to set the following labels: node-restriction.kubernetes.io/pool, node-role.kubernetes.io/control-plane`},
		{"A updates node A status", nodeAttrs(nodeA, policies.Update, "status", "a", node("a", nil), node("a", nil)), 0, ""},
		{"A updates node B", nodeAttrs(nodeA, policies.Update, "", "b", node("b", nil), node("b", nil)), http.StatusForbidden, `nodes "b" is forbidden: node "a" is not allowed to modify node "b"`},
		{"A updates node B status", nodeAttrs(nodeA, policies.Update, "status", "b", node("b", nil), node("b", nil)), http.StatusForbidden, `nodes "b" is forbidden: node "a" is not allowed to modify node "b"`},
		{"A deletes node A", nodeAttrs(nodeA, policies.Delete, "", "a", nil, node("a", nil)), 0, ""},
		{"A deletes node B", nodeAttrs(nodeA, policies.Delete, "", "b", nil, node("b", nil)), http.StatusForbidden, `nodes "b" is forbidden: node "a" is not allowed to modify node "b"`},
		{"A removes its taint", nodeAttrs(nodeA, policies.Update, "", "a", node("a", nil), node("a", nil, taint)), http.StatusForbidden, `nodes "a" is forbidden: node "a" is not allowed to modify taints`},
		{"A adds a taint", nodeAttrs(nodeA, policies.Update, "", "a", node("a", nil, taint), node("a", nil)), http.StatusForbidden, `nodes "a" is forbidden: node "a" is not allowed to modify taints`},
		{"A changes kubelet labels", nodeAttrs(nodeA, policies.Update, "", "a", node("a", map[string]string{"kubernetes.io/arch": "arm64", "topology.kubernetes.io/region": "r"}), node("a", map[string]string{"kubernetes.io/arch": "amd64"})), 0, ""},
		{"A sets a node-role label", nodeAttrs(nodeA, policies.Update, "", "a", node("a", map[string]string{"node-role.kubernetes.io/worker": ""}), node("a", nil)), http.StatusForbidden,
			`nodes "a" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/worker`},
		{"A removes a node-restriction label", nodeAttrs(nodeA, policies.Update, "", "a", node("a", nil), node("a", map[string]string{"node-restriction.kubernetes.io/pool": "gpu"})), http.StatusForbidden,
			`nodes "a" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/pool`},
		{"A sets a topology label outside zone/region", nodeAttrs(nodeA, policies.Update, "", "a", node("a", map[string]string{"topology.kubernetes.io/rack": "r1"}), node("a", nil)), http.StatusForbidden,
			`nodes "a" is forbidden: is not allowed to modify labels: topology.kubernetes.io/rack`},
		{"A sets an own-domain label", nodeAttrs(nodeA, policies.Update, "", "a", node("a", map[string]string{"example.com/disk": "ssd"}), node("a", nil)), 0, ""},
		{"admin updates node B taints", nodeAttrs(admin, policies.Update, "", "b", node("b", nil, taint), node("b", nil)), 0, ""},
		{"system:node user outside system:nodes", nodeAttrs(notInGroup, policies.Update, "", "b", node("b", nil), node("b", nil)), 0, ""},
		{"node user without a name", nodeAttrs(empty, policies.Update, "", "b", node("b", nil), node("b", nil)), http.StatusForbidden, `nodes "b" is forbidden: could not determine node from user "system:node:"`},

		// pods/status
		{"A updates status of pod bound to A", podAttrs(nodeA, policies.Update, "status", withStatus(bound("pa", "a"), corev1.PodRunning), bound("pa", "a")), 0, ""},
		{"A updates status of pod bound to B", podAttrs(nodeA, policies.Update, "status", withStatus(bound("pb", "b"), corev1.PodRunning), bound("pb", "b")), http.StatusForbidden,
			`pods "pb" is forbidden: node "a" can only update pod status for pods with spec.nodeName set to itself`},
		{"A updates status of unbound pod", podAttrs(nodeA, policies.Update, "status", withStatus(bound("pn", ""), corev1.PodRunning), bound("pn", "")), http.StatusForbidden,
			`pods "pn" is forbidden: node "a" can only update pod status for pods with spec.nodeName set to itself`},
		{"A relabels its pod through status", podAttrs(nodeA, policies.Update, "status", relabeled(bound("pa", "a")), bound("pa", "a")), http.StatusForbidden,
			`pods "pa" is forbidden: node "a" cannot update labels through pod status`},
		{"admin updates status of pod bound to B", podAttrs(admin, policies.Update, "status", withStatus(bound("pb", "b"), corev1.PodRunning), bound("pb", "b")), 0, ""},

		// pods
		{"A deletes pod bound to A", podAttrs(nodeA, policies.Delete, "", nil, bound("pa", "a")), 0, ""},
		{"A deletes pod bound to B", podAttrs(nodeA, policies.Delete, "", nil, bound("pb", "b")), http.StatusForbidden,
			`pods "pb" is forbidden: node "a" can only delete pods with spec.nodeName set to itself`},
		{"A deletes unbound pod", podAttrs(nodeA, policies.Delete, "", nil, bound("pn", "")), http.StatusForbidden,
			`pods "pn" is forbidden: node "a" can only delete pods with spec.nodeName set to itself`},
		{"A updates pod bound to A", podAttrs(nodeA, policies.Update, "", relabeled(bound("pa", "a")), bound("pa", "a")), http.StatusForbidden,
			`pods "pa" is forbidden: unexpected operation "UPDATE", node "a" can only create and delete mirror pods`},
		{"A creates mirror pod bound to A", podAttrs(nodeA, policies.Create, "", mirror("a"), nil), 0, ""},
		{"A creates mirror pod bound to B", podAttrs(nodeA, policies.Create, "", func() *corev1.Pod { p := mirror("a"); p.Spec.NodeName = "b"; return p }(), nil), http.StatusForbidden,
			`pods "static-web" is forbidden: node "a" can only create pods with spec.nodeName set to itself`},
		{"A creates a regular pod", podAttrs(nodeA, policies.Create, "", bound("pa", "a"), nil), http.StatusForbidden,
			`pods "pa" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "a" can only create mirror pods`},
		{"A creates mirror pod without owner", podAttrs(nodeA, policies.Create, "", func() *corev1.Pod { p := mirror("a"); p.OwnerReferences = nil; return p }(), nil), http.StatusForbidden,
			`pods "static-web" is forbidden: node "a" can only create pods with an owner reference set to itself`},
		{"A creates mirror pod using a secret", podAttrs(nodeA, policies.Create, "", func() *corev1.Pod {
			p := mirror("a")
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}}}}
			return p
		}(), nil), http.StatusForbidden, `pods "static-web" is forbidden: node "a" can not create pods that reference secrets`},
		{"A creates mirror pod using a configmap env", podAttrs(nodeA, policies.Create, "", func() *corev1.Pod {
			p := mirror("a")
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}}
			return p
		}(), nil), http.StatusForbidden, `pods "static-web" is forbidden: node "a" can not create pods that reference configmaps`},
		{"A uses an unknown pod subresource", podAttrs(nodeA, policies.Create, "binding", bound("pa", "a"), nil), http.StatusForbidden,
			`pods "pa" is forbidden: unexpected pod subresource "binding", only 'status' and 'eviction' are allowed`},
		{"admin creates a regular pod", podAttrs(admin, policies.Create, "", bound("pa", ""), nil), 0, ""},

		// leases
		{"A creates its lease", lease(nodeA, policies.Create, "kube-node-lease", "a"), 0, ""},
		{"A updates its lease", lease(nodeA, policies.Update, "kube-node-lease", "a"), 0, ""},
		{"A deletes its lease", lease(nodeA, policies.Delete, "kube-node-lease", "a"), 0, ""},
		{"A creates B's lease", lease(nodeA, policies.Create, "kube-node-lease", "b"), http.StatusForbidden,
			`leases.coordination.k8s.io "b" is forbidden: can only access node lease with the same name as the requesting node`},
		{"A updates B's lease", lease(nodeA, policies.Update, "kube-node-lease", "b"), http.StatusForbidden,
			`leases.coordination.k8s.io "b" is forbidden: can only access node lease with the same name as the requesting node`},
		{"A creates a lease elsewhere", lease(nodeA, policies.Create, "team", "a"), http.StatusForbidden,
			`leases.coordination.k8s.io "a" is forbidden: can only access leases in the "kube-node-lease" system namespace`},
		{"admin updates B's lease", lease(admin, policies.Update, "kube-node-lease", "b"), 0, ""},

		// service account tokens
		{"A requests a pod-bound token", tokenReq(&authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "pa", UID: "u1"}), 0, ""},
		{"A requests an unbound token", tokenReq(nil), http.StatusForbidden, `serviceaccounts "default" is forbidden: node requested token not bound to a pod`},

		// everything else is left to authorization
		{"A creates an event", &policies.Attributes{Operation: policies.Create, Kind: schema.GroupVersionKind{Version: "v1", Kind: "Event"}, Resource: evGVR, Namespace: "team", Name: "e", User: nodeA, Object: &corev1.Event{}}, 0, ""},
		{"A creates a configmap", &policies.Attributes{Operation: policies.Create, Kind: cmGVK, Resource: cmGVR, Namespace: "team", Name: "c", User: nodeA, Object: &corev1.ConfigMap{}}, 0, ""},
		{"A changes a PVC spec", &policies.Attributes{Operation: policies.Update, Kind: pvcGVK, Resource: pvcGVR, Namespace: "team", Name: "d", User: nodeA,
			Object: &corev1.PersistentVolumeClaim{}, OldObject: &corev1.PersistentVolumeClaim{}}, http.StatusForbidden, `persistentvolumeclaims "d" is forbidden: may only update PVC status`},
	}
	plugin := NodeRestriction()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plugin.Validate(context.Background(), tc.a)
			wantStatus(t, err, tc.code, tc.msg)
		})
	}
}

func TestNodeRestrictionLookups(t *testing.T) {
	nodeA := policies.UserInfo{Name: "system:node:a", Groups: []string{"system:nodes"}}
	pods := fakePods{"pa": {ObjectMeta: metav1.ObjectMeta{Name: "pa", UID: "u1"}, Spec: corev1.PodSpec{NodeName: "a"}},
		"pb": {ObjectMeta: metav1.ObjectMeta{Name: "pb", UID: "u2"}, Spec: corev1.PodSpec{NodeName: "b"}}}
	nodes := fakeNodes{"a": {ObjectMeta: metav1.ObjectMeta{Name: "a", UID: "uid-a"}}}
	plugin := NodeRestriction(WithPods(pods), WithNodes(nodes))
	evict := func(name string) *policies.Attributes {
		return &policies.Attributes{Operation: policies.Create, Kind: schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, Resource: podGVR,
			Subresource: "eviction", Namespace: "team", Name: name, User: nodeA}
	}
	token := func(name, uid string) *policies.Attributes {
		return &policies.Attributes{Operation: policies.Create, Resource: schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, Subresource: "token",
			Namespace: "team", Name: "default", User: nodeA,
			Object: &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: types.UID(uid)}}}}
	}
	yes := true
	mirror := func(uid types.UID) *policies.Attributes {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "m", Namespace: "team", Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "x"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "a", UID: uid, Controller: &yes}}}, Spec: corev1.PodSpec{NodeName: "a"}}
		return &policies.Attributes{Operation: policies.Create, Kind: podGVK, Resource: podGVR, Namespace: "team", Name: "m", User: nodeA, Object: p}
	}
	tests := []struct {
		name string
		a    *policies.Attributes
		code int32
		msg  string
	}{
		{"evict own pod", evict("pa"), 0, ""},
		{"evict B's pod", evict("pb"), http.StatusForbidden, `pods "pb" is forbidden: node a can only evict pods with spec.nodeName set to itself`},
		{"evict missing pod", evict("nope"), http.StatusNotFound, ""},
		{"token for own pod", token("pa", "u1"), 0, ""},
		{"token for B's pod", token("pb", "u2"), http.StatusForbidden, `serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node`},
		{"token with stale uid", token("pa", "old"), http.StatusForbidden, ""},
		{"mirror pod with node uid", mirror("uid-a"), 0, ""},
		{"mirror pod with wrong uid", mirror("uid-x"), http.StatusForbidden, `pods "m" is forbidden: node a UID mismatch: expected uid-x got uid-a`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plugin.Validate(context.Background(), tc.a)
			wantStatus(t, err, tc.code, tc.msg)
		})
	}
}

type fakePods map[string]*corev1.Pod

func (f fakePods) GetPod(_ context.Context, _, name string) (*corev1.Pod, error) {
	if p, ok := f[name]; ok {
		return p, nil
	}
	return nil, apierrors.NewNotFound(podResource, name)
}

type fakeNodes map[string]*corev1.Node

func (f fakeNodes) GetNode(_ context.Context, name string) (*corev1.Node, error) {
	if n, ok := f[name]; ok {
		return n, nil
	}
	return nil, apierrors.NewNotFound(nodeResource, name)
}
