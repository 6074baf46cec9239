package e2e

import (
	"os"
	"path/filepath"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cairn-dev/cairn/apiserver"
)

// TestLimitRangeSeedExample reproduces the seed's example: once the
// LimitRange mem-limit-range (default memory 512Mi for containers) exists
// in a namespace, a pod created there without limits is stored with a
// 512Mi memory limit.
func TestLimitRangeSeedExample(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	c := ts.client("admin")
	ctx := ctxT(t)
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lr := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "mem-limit-range"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:    corev1.LimitTypeContainer,
			Default: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		}}},
	}
	if _, err := c.CoreV1().LimitRanges("team").Create(ctx, lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := c.CoreV1().Pods("team").Create(ctx, testPod("no-limits"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := c.CoreV1().Pods("team").Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lim := stored.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
	if lim.String() != "512Mi" {
		t.Fatalf("stored memory limit %q, want 512Mi (resources %+v)", lim.String(), stored.Spec.Containers[0].Resources)
	}
	if stored.Annotations["kubernetes.io/limit-ranger"] == "" {
		t.Fatalf("no kubernetes.io/limit-ranger annotation: %v", stored.Annotations)
	}
	// A pod in another namespace is untouched.
	other, err := c.CoreV1().Pods("default").Create(ctx, testPod("elsewhere"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Spec.Containers[0].Resources.Limits) != 0 {
		t.Fatalf("pod outside the namespace got limits %v", other.Spec.Containers[0].Resources.Limits)
	}
}

// TestNamespaceLifecycle: no creates in a missing namespace; the system
// namespaces cannot be deleted.
func TestNamespaceLifecycle(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	c := ts.client("admin")
	ctx := ctxT(t)
	_, err := c.CoreV1().ConfigMaps("nowhere").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("create in a missing namespace: want 404, got %v", err)
	}
	if err := c.CoreV1().Namespaces().Delete(ctx, "kube-system", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("delete kube-system: want 403, got %v", err)
	}
	// a namespace created a moment ago is usable at once
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps("fresh").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create in a fresh namespace: %v", err)
	}
}

// TestNodeRestriction: node A's credentials cannot modify node B or its
// pods, but can change its own Node, Lease and pods bound to it.
func TestNodeRestriction(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte("tok-a,system:node:a,uid-a,\"system:nodes\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, dir, func(c *apiserver.Config) { c.TokenAuthFile = tokens })
	admin := ts.client("admin")
	ctx := ctxT(t)
	for _, n := range []string{"a", "b"} {
		if _, err := admin.CoreV1().Nodes().Create(ctx, testNode(n), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := testPod("on-" + n)
		p.Spec.NodeName = n
		if _, err := admin.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(ts.restConfig("admin"))
	cfg.TLSClientConfig.CertData, cfg.TLSClientConfig.KeyData = nil, nil
	cfg.BearerToken = "tok-a"
	nodeA, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// its own node: allowed
	own, err := nodeA.CoreV1().Nodes().Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	own.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "Test"}}
	if _, err := nodeA.CoreV1().Nodes().UpdateStatus(ctx, own, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("node a updating its own status: %v", err)
	}
	// node b: refused
	other, err := nodeA.CoreV1().Nodes().Get(ctx, "b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other.Spec.Unschedulable = true
	if _, err := nodeA.CoreV1().Nodes().Update(ctx, other, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node a updating node b: want 403, got %v", err)
	}
	if _, err := nodeA.CoreV1().Nodes().UpdateStatus(ctx, other, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node a updating node b's status: want 403, got %v", err)
	}
	// pods: only those bound to it
	podA, _ := admin.CoreV1().Pods("default").Get(ctx, "on-a", metav1.GetOptions{})
	podA.Status.Phase = corev1.PodRunning
	if _, err := nodeA.CoreV1().Pods("default").UpdateStatus(ctx, podA, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("node a updating its pod's status: %v", err)
	}
	podB, _ := admin.CoreV1().Pods("default").Get(ctx, "on-b", metav1.GetOptions{})
	podB.Status.Phase = corev1.PodRunning
	if _, err := nodeA.CoreV1().Pods("default").UpdateStatus(ctx, podB, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node a updating node b's pod status: want 403, got %v", err)
	}
	if err := nodeA.CoreV1().Pods("default").Delete(ctx, "on-b", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node a deleting node b's pod: want 403, got %v", err)
	}
	if err := nodeA.CoreV1().Pods("default").Delete(ctx, "on-a", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("node a deleting its own pod: %v", err)
	}
	// leases: only its own
	lease := func(name string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &name}}
	}
	if _, err := nodeA.CoordinationV1().Leases("kube-node-lease").Create(ctx, lease("a"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("node a creating its lease: %v", err)
	}
	if _, err := nodeA.CoordinationV1().Leases("kube-node-lease").Create(ctx, lease("b"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node a creating node b's lease: want 403, got %v", err)
	}
}
