package gitsync_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const nodeYAML = `apiVersion: v1
kind: Node
metadata:
  name: n-1
  labels:
    role: edge
spec:
  unschedulable: true
  podCIDR: 10.9.9.0/24
  taints:
  - key: dedicated
    value: db
    effect: NoSchedule
status:
  capacity:
    cpu: "64"
`

// TestNodeFromGit: a Node in git that exists merges only the
// administrator's fields (labels, taints, unschedulable) into the live
// Node: the kubelet's labels, the controllers' taints, the pod CIDR and the
// status stay; an unchanged resync writes nothing; a taint removed from
// git goes, the controllers' stay.
func TestNodeFromGit(t *testing.T) {
	e := start(t)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n-1", Labels: map[string]string{"kubernetes.io/hostname": "n-1"}},
		Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"},
			Taints: []corev1.Taint{{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule}}},
	}
	node, err := e.admin.CoreV1().Nodes().Create(e.ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status = corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()}}}
	if _, err := e.admin.CoreV1().Nodes().UpdateStatus(e.ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := newRepo(t)
	h1 := r.commit("cordon n-1 for the database", map[string]string{"nodes.yaml": nodeYAML})
	e.createSource("nodes", r.dir)
	if st := e.synced("nodes", h1); st.Status.LastAppliedRevision != h1 {
		t.Fatalf("not applied: %+v %+v", st.Status.Conditions, st.Status.Errors)
	}
	got, err := e.admin.CoreV1().Nodes().Get(e.ctx, "n-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels["role"] != "edge" || got.Labels["kubernetes.io/hostname"] != "n-1" {
		t.Errorf("labels %v: want git's role and the kubelet's hostname", got.Labels)
	}
	if !got.Spec.Unschedulable || got.Spec.PodCIDR != "10.244.1.0/24" {
		t.Errorf("spec: unschedulable %v, podCIDR %s (git's podCIDR must not apply)", got.Spec.Unschedulable, got.Spec.PodCIDR)
	}
	if len(got.Spec.Taints) != 2 || got.Spec.Taints[0].Key != "node.kubernetes.io/not-ready" || got.Spec.Taints[1].Key != "dedicated" {
		t.Errorf("taints %+v: want the controller's and git's", got.Spec.Taints)
	}
	if cpu := got.Status.Capacity[corev1.ResourceCPU]; cpu.String() != "4" || len(got.Status.Conditions) != 1 {
		t.Errorf("status changed: capacity %v conditions %v", got.Status.Capacity, got.Status.Conditions)
	}

	// A resync of the same revision writes nothing.
	rv := got.ResourceVersion
	before := e.c.Syncs("default", "nodes")
	e.c.Trigger("default", "nodes")
	deadline := time.Now().Add(10 * time.Second)
	for e.c.Syncs("default", "nodes") == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if again, _ := e.admin.CoreV1().Nodes().Get(e.ctx, "n-1", metav1.GetOptions{}); again.ResourceVersion != rv {
		t.Errorf("an unchanged resync wrote the Node (resourceVersion %s → %s)", rv, again.ResourceVersion)
	}

	// Git drops its taint and the cordon.
	h2 := r.commit("release n-1", map[string]string{"nodes.yaml": strings.Replace(strings.Replace(nodeYAML,
		"  taints:\n  - key: dedicated\n    value: db\n    effect: NoSchedule\n", "", 1), "unschedulable: true", "unschedulable: false", 1)})
	e.synced("nodes", h2)
	got, _ = e.admin.CoreV1().Nodes().Get(e.ctx, "n-1", metav1.GetOptions{})
	if len(got.Spec.Taints) != 1 || got.Spec.Taints[0].Key != "node.kubernetes.io/not-ready" || got.Spec.Unschedulable {
		t.Errorf("after git dropped its taint: taints %+v, unschedulable %v", got.Spec.Taints, got.Spec.Unschedulable)
	}
}
