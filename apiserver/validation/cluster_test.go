package validation

import (
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNamespace(t *testing.T) {
	ns := defaulted(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})
	badFinalizer := ns.DeepCopy()
	badFinalizer.Spec.Finalizers = append(badFinalizer.Spec.Finalizers, "cleanup")
	relabeled := ns.DeepCopy()
	relabeled.Labels["owner"] = "team-a"
	runCases(t, []testCase{
		{"valid", ns, nil, nil},
		{"spec finalizer", badFinalizer, nil, []want{inv("spec.finalizers")}},
		{"uppercase", defaulted(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "Team"}}), nil, []want{inv("metadata.name")}},
		// The defaulted kubernetes.io/metadata.name label is too long too.
		{"too long for a label", defaulted(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 64)}}), nil,
			[]want{inv("metadata.name"), inv("metadata.labels")}},
		{"labels mutable", relabeled, ns, nil},
	})
}

func validNode(mut func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1.example.com"}, Spec: corev1.NodeSpec{
		PodCIDR:  "10.244.1.0/24",
		PodCIDRs: []string{"10.244.1.0/24", "fd00:10:244:1::/64"},
		Taints:   []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
	}, Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": resource.MustParse("4"), "pods": resource.MustParse("110")}}}
	if mut != nil {
		mut(n)
	}
	return defaulted(n)
}

func TestNode(t *testing.T) {
	old := validNode(nil)
	newCIDR := old.DeepCopy()
	newCIDR.Spec.PodCIDR, newCIDR.Spec.PodCIDRs = "10.244.2.0/24", []string{"10.244.2.0/24"}
	unset := validNode(func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "", nil })
	assigned := unset.DeepCopy()
	assigned.Spec.PodCIDR, assigned.Spec.PodCIDRs = "10.244.3.0/24", []string{"10.244.3.0/24"}
	retainted := old.DeepCopy()
	retainted.Spec.Taints = nil
	retainted.Spec.Unschedulable = true
	runCases(t, []testCase{
		{"valid", old, nil, nil},
		{"podCIDR only", validNode(func(n *corev1.Node) { n.Spec.PodCIDRs = nil }), nil, nil},
		{"podCIDR", validNode(func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.1.0", nil }), nil,
			[]want{inv("spec.podCIDRs[0]")}},
		{"two IPv4 podCIDRs", validNode(func(n *corev1.Node) { n.Spec.PodCIDRs = []string{"10.0.0.0/24", "10.0.1.0/24"} }), nil,
			[]want{inv("spec.podCIDRs")}},
		{"taint effect", validNode(func(n *corev1.Node) { n.Spec.Taints[0].Effect = "NoRun" }), nil,
			[]want{notSup("metadata.taints[0].effect")}},
		{"taint effect required", validNode(func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" }), nil,
			[]want{req("metadata.taints[0].effect")}},
		{"taint key", validNode(func(n *corev1.Node) { n.Spec.Taints[0].Key = "bad key" }), nil,
			[]want{inv("metadata.taints[0].key")}},
		{"duplicate taint", validNode(func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, n.Spec.Taints[0]) }), nil,
			[]want{dup("metadata.taints[1]")}},
		{"negative capacity", validNode(func(n *corev1.Node) { n.Status.Capacity["memory"] = resource.MustParse("-1Gi") }), nil,
			[]want{inv("status.capacity.memory"), inv("status.allocatable.memory")}},
		{"podCIDR immutable", newCIDR, old, []want{forbidden("spec.podCIDRs")}},
		{"podCIDR assigned once", assigned, unset, nil},
		{"taints and unschedulable mutable", retainted, old, nil},
	})
}

func TestLease(t *testing.T) {
	lease := func(mut func(*coordinationv1.Lease)) *coordinationv1.Lease {
		l := &coordinationv1.Lease{ObjectMeta: objectMeta("leader"), Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr("node-1"), LeaseDurationSeconds: ptr(int32(15))}}
		mut(l)
		return l
	}
	runCases(t, []testCase{
		{"valid", lease(func(*coordinationv1.Lease) {}), nil, nil},
		{"duration", lease(func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr(int32(0)) }), nil,
			[]want{inv("spec.leaseDurationSeconds")}},
		{"transitions", lease(func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr(int32(-1)) }), nil,
			[]want{inv("spec.leaseTransitions")}},
		{"preferredHolder without strategy", lease(func(l *coordinationv1.Lease) { l.Spec.PreferredHolder = ptr("node-2") }), nil,
			[]want{forbidden("spec.preferredHolder")}},
		{"strategy", lease(func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr(coordinationv1.CoordinatedLeaseStrategy("Newest"))
		}), nil,
			[]want{notSup("spec.strategy.strategy")}},
		{"renewal", lease(func(l *coordinationv1.Lease) { l.Spec.RenewTime = &metav1.MicroTime{} }), lease(func(*coordinationv1.Lease) {}), nil},
	})
}

func TestLimitRange(t *testing.T) {
	q := resource.MustParse
	lr := func(item corev1.LimitRangeItem) *corev1.LimitRange {
		return defaulted(&corev1.LimitRange{ObjectMeta: objectMeta("limits"), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}}})
	}
	runCases(t, []testCase{
		{"valid", lr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
			Min: corev1.ResourceList{"cpu": q("100m")}, Max: corev1.ResourceList{"cpu": q("2")},
			Default: corev1.ResourceList{"cpu": q("1")}, DefaultRequest: corev1.ResourceList{"cpu": q("500m")}}), nil, nil},
		{"type", lr(corev1.LimitRangeItem{Type: "Namespace"}), nil, []want{inv("spec.limits[0].type")}},
		{"min above max", lr(corev1.LimitRangeItem{Type: corev1.LimitTypePod,
			Min: corev1.ResourceList{"cpu": q("2")}, Max: corev1.ResourceList{"cpu": q("1")}}), nil, []want{inv("spec.limits[0].min[cpu]")}},
		{"defaultRequest above default", lr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
			Default: corev1.ResourceList{"memory": q("128Mi")}, DefaultRequest: corev1.ResourceList{"memory": q("256Mi")}}), nil,
			[]want{inv("spec.limits[0].defaultRequest[memory]")}},
		{"default above max", lr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
			Max: corev1.ResourceList{"cpu": q("1")}, Default: corev1.ResourceList{"cpu": q("2")}, DefaultRequest: corev1.ResourceList{"cpu": q("1")}}), nil,
			[]want{inv("spec.limits[0].default[cpu]")}},
		{"defaultRequest below min", lr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
			Min: corev1.ResourceList{"cpu": q("500m")}, Default: corev1.ResourceList{"cpu": q("1")}, DefaultRequest: corev1.ResourceList{"cpu": q("100m")}}), nil,
			[]want{inv("spec.limits[0].defaultRequest[cpu]")}},
		{"pod default", lr(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Default: corev1.ResourceList{"cpu": q("1")}}), nil,
			[]want{forbidden("spec.limits[0].default")}},
		{"pvc needs storage bound", lr(corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim}), nil,
			[]want{req("spec.limits[0].limits")}},
		{"ratio below 1", lr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
			MaxLimitRequestRatio: corev1.ResourceList{"cpu": q("500m")}}), nil, []want{inv("spec.limits[0].maxLimitRequestRatio[cpu]")}},
	})
}

func validPVC(mut func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: objectMeta("data"), Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{"storage": resource.MustParse("1Gi")}},
	}}
	if mut != nil {
		mut(pvc)
	}
	return defaulted(pvc)
}

func TestPersistentVolumeClaim(t *testing.T) {
	bound := validPVC(func(p *corev1.PersistentVolumeClaim) {
		p.Spec.VolumeName = "pv-1"
		p.Status.Phase = corev1.ClaimBound
		p.Status.Capacity = corev1.ResourceList{"storage": resource.MustParse("1Gi")}
	})
	grown := bound.DeepCopy()
	grown.Spec.Resources.Requests["storage"] = resource.MustParse("2Gi")
	shrunk := bound.DeepCopy()
	shrunk.Spec.Resources.Requests["storage"] = resource.MustParse("500Mi")
	remoded := bound.DeepCopy()
	remoded.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	pending := validPVC(nil)
	binding := pending.DeepCopy()
	binding.Spec.VolumeName = "pv-2"
	runCases(t, []testCase{
		{"valid", validPVC(nil), nil, nil},
		{"accessModes required", validPVC(func(p *corev1.PersistentVolumeClaim) { p.Spec.AccessModes = nil }), nil,
			[]want{req("spec.accessModes")}},
		{"accessMode", validPVC(func(p *corev1.PersistentVolumeClaim) {
			p.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadWriteAll"}
		}), nil,
			[]want{notSup("spec.accessModes")}},
		{"ReadWriteOncePod alone", validPVC(func(p *corev1.PersistentVolumeClaim) {
			p.Spec.AccessModes = append(p.Spec.AccessModes, corev1.ReadWriteOncePod)
		}), nil, []want{forbidden("spec.accessModes")}},
		{"storage required", validPVC(func(p *corev1.PersistentVolumeClaim) { p.Spec.Resources.Requests = nil }), nil,
			[]want{req("spec.resources[storage]")}},
		{"storage positive", validPVC(func(p *corev1.PersistentVolumeClaim) { p.Spec.Resources.Requests["storage"] = resource.MustParse("0") }), nil,
			[]want{inv("spec.resources[storage]")}},
		{"storageClassName", validPVC(func(p *corev1.PersistentVolumeClaim) { p.Spec.StorageClassName = ptr("Fast_SSD") }), nil,
			[]want{inv("spec.storageClassName")}},
		{"volumeMode", validPVC(func(p *corev1.PersistentVolumeClaim) { p.Spec.VolumeMode = ptr(corev1.PersistentVolumeMode("Raw")) }), nil,
			[]want{notSup("spec.volumeMode")}},
		{"grow a bound claim", grown, bound, nil},
		{"shrink a bound claim", shrunk, bound, []want{forbidden("spec.resources.requests.storage")}},
		{"access modes immutable", remoded, bound, []want{forbidden("spec")}},
		{"bind", binding, pending, nil},
	})
}

func TestEndpoints(t *testing.T) {
	ep := func(mut func(*corev1.Endpoints)) *corev1.Endpoints {
		e := &corev1.Endpoints{ObjectMeta: objectMeta("web"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.1.5"}},
			Ports:     []corev1.EndpointPort{{Port: 8080}},
		}}}
		mut(e)
		return defaulted(e)
	}
	runCases(t, []testCase{
		{"valid", ep(func(*corev1.Endpoints) {}), nil, nil},
		{"no addresses", ep(func(e *corev1.Endpoints) { e.Subsets[0].Addresses = nil }), nil, []want{req("subsets[0]")}},
		{"loopback", ep(func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "127.0.0.1" }), nil,
			[]want{inv("subsets[0].addresses[0].ip")}},
		{"two unnamed ports", ep(func(e *corev1.Endpoints) {
			e.Subsets[0].Ports = append(e.Subsets[0].Ports, corev1.EndpointPort{Port: 9090})
		}), nil,
			[]want{req("subsets[0].ports[0].name"), req("subsets[0].ports[1].name")}},
	})
}
