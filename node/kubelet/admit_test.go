package kubelet

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/cairn-dev/cairn/node/runtime/fake"
)

func requesting(cpu, mem string) *corev1.Pod {
	p := testPod("Always", nil, "a")
	p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return p
}

func TestAdmit(t *testing.T) {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi"),
		corev1.ResourcePods: resource.MustParse("3")}
	withInit := requesting("100m", "")
	withInit.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}}}}
	tests := []struct {
		name     string
		pod      *corev1.Pod
		admitted []*corev1.Pod
		reason   string
		message  string
	}{
		{name: "fits", pod: requesting("1", "512Mi"), admitted: []*corev1.Pod{requesting("1", "512Mi")}},
		{name: "best effort fits anywhere", pod: requesting("", ""), admitted: []*corev1.Pod{requesting("2", "1Gi")}},
		{name: "cpu over", pod: requesting("1500m", ""), admitted: []*corev1.Pod{requesting("1", "")}, reason: "OutOfcpu",
			message: "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000"},
		{name: "memory over", pod: requesting("", "600Mi"), admitted: []*corev1.Pod{requesting("", "512Mi")}, reason: "OutOfmemory"},
		{name: "init container counts by its max", pod: withInit, admitted: []*corev1.Pod{requesting("1", "")}, reason: "OutOfcpu"},
		{name: "pod count", pod: requesting("", ""), admitted: []*corev1.Pod{requesting("", ""), requesting("", ""), requesting("", "")}, reason: "OutOfpods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rej := admit(tt.pod, tt.admitted, alloc)
			switch {
			case tt.reason == "" && rej != nil:
				t.Errorf("refused: %+v", rej)
			case tt.reason != "" && (rej == nil || rej.reason != tt.reason):
				t.Errorf("got %+v, want %s", rej, tt.reason)
			case tt.message != "" && rej.message != tt.message:
				t.Errorf("message %q, want %q", rej.message, tt.message)
			}
		})
	}
}

// TestKubeletRejectsWhatDoesNotFit: a pod bound straight to a full node
// fails with OutOfcpu instead of running.
func TestKubeletRejectsWhatDoesNotFit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fake.Options{})
	k, err := New(Config{Client: h.cs, NodeName: "n1", NodeIP: "192.168.1.1", Runtime: h.rt, Network: h.net, DataDir: h.dir,
		Allocatable: func() corev1.ResourceList {
			return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourcePods: resource.MustParse("110")}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = k.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	first := simplePod("first", "app")
	first.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("800m")}
	h.create(first)
	h.wait("first", "Running", 10*time.Second, podReady)
	second := simplePod("second", "app")
	second.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m")}
	h.create(second)
	p := h.wait("second", "Failed", 10*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if p.Status.Reason != "OutOfcpu" || !strings.Contains(p.Status.Message, "Pod was rejected: Node didn't have enough resource: cpu, requested: 300, used: 800, capacity: 1000") {
		t.Errorf("status %q %q", p.Status.Reason, p.Status.Message)
	}
	if n := len(h.rt.Created()); n != 1 {
		t.Errorf("%d containers created, want only the first pod's", n)
	}
}
