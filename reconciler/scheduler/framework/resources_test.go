package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestPodRequests(t *testing.T) {
	const mi = 1024 * 1024
	const gi = 1024 * mi
	tests := []struct {
		name                   string
		pod                    podB
		cpu, mem, nzCPU, nzMem int64
	}{
		{"containers add up", newPod("p").req("cpu", "100m", "memory", "1Gi").req("cpu", "200m", "memory", "1Gi"),
			300, 2 * gi, 300, 2 * gi},
		{"no requests: zero, but non-zero defaults for scoring", newPod("p").req(),
			0, 0, 100, 200 * mi},
		{"an explicit zero stays zero", newPod("p").req("cpu", "0", "memory", "1Gi"),
			0, gi, 0, gi},
		{"init container larger than the containers wins", newPod("p").initReq(false, "cpu", "1", "memory", "100Mi").req("cpu", "200m", "memory", "1Gi"),
			1000, gi, 1000, gi},
		{"sidecar runs beside later init containers and the app",
			newPod("p").initReq(true, "cpu", "100m", "memory", "64Mi").initReq(false, "cpu", "1").req("cpu", "500m", "memory", "1Gi"),
			1100, gi + 64*mi, 1100, gi + 64*mi},
		{"overhead is added", newPod("p").req("cpu", "500m", "memory", "1Gi").overhead("cpu", "250m", "memory", "120Mi"),
			750, gi + 120*mi, 750, gi + 120*mi},
		{"overhead on top of the non-zero defaults", newPod("p").req().overhead("cpu", "250m", "memory", "120Mi"),
			250, 120 * mi, 350, 320 * mi},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pi := NewPodInfo(tc.pod.obj())
			if pi.Requests.MilliCPU != tc.cpu || pi.Requests.Memory != tc.mem {
				t.Errorf("requests = %dm cpu, %d memory; want %dm, %d", pi.Requests.MilliCPU, pi.Requests.Memory, tc.cpu, tc.mem)
			}
			if pi.NonZeroCPU != tc.nzCPU || pi.NonZeroMemory != tc.nzMem {
				t.Errorf("non-zero = %dm cpu, %d memory; want %dm, %d", pi.NonZeroCPU, pi.NonZeroMemory, tc.nzCPU, tc.nzMem)
			}
		})
	}
}

func TestPodLevelRequestsReplaceContainers(t *testing.T) {
	p := newPod("p").req("cpu", "500m", "memory", "1Gi").req().obj()
	p.Spec.Resources = &corev1.ResourceRequirements{Requests: resList("cpu", "2")}
	pi := NewPodInfo(p)
	if pi.Requests.MilliCPU != 2000 || pi.Requests.Memory != 1<<30 {
		t.Errorf("requests = %dm, %d; want 2000m and the containers' 1Gi", pi.Requests.MilliCPU, pi.Requests.Memory)
	}
	// cpu and memory are both named, so no default applies.
	if pi.NonZeroCPU != 2000 || pi.NonZeroMemory != 1<<30 {
		t.Errorf("non-zero = %dm, %d; want 2000m, 1Gi", pi.NonZeroCPU, pi.NonZeroMemory)
	}
}

func TestExtendedResources(t *testing.T) {
	pi := NewPodInfo(newPod("p").req("cpu", "1", "nvidia.com/gpu", "2", "hugepages-2Mi", "4Mi", "storage", "1Gi").obj())
	if got := pi.Requests.Scalar["nvidia.com/gpu"]; got != 2 {
		t.Errorf("gpu = %d, want 2", got)
	}
	if got := pi.Requests.Scalar["hugepages-2Mi"]; got != 4<<20 {
		t.Errorf("hugepages = %d, want 4Mi", got)
	}
	if _, ok := pi.Requests.Scalar["storage"]; ok {
		t.Error("storage is not a resource the scheduler counts")
	}
	for name, want := range map[corev1.ResourceName]bool{
		"nvidia.com/gpu": true, "example.com/foo": true, "cpu": false, "kubernetes.io/foo": false,
		"requests.example.com/foo": false, "foo": false,
	} {
		if got := IsExtendedResourceName(name); got != want {
			t.Errorf("IsExtendedResourceName(%s) = %v", name, got)
		}
	}
}

func TestNewResourceAllocatable(t *testing.T) {
	r := NewResource(corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("3500m"), corev1.ResourcePods: resource.MustParse("30"),
		corev1.ResourceMemory: resource.MustParse("1.5Gi"),
	})
	if r.MilliCPU != 3500 || r.AllowedPodNumber != 30 || r.Memory != 3<<29 {
		t.Errorf("got %+v", r)
	}
}
