package framework

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The requests kube-scheduler assumes, for scoring only, for a container
// that requests no cpu or no memory, so that pods without requests still
// spread instead of all piling onto one node.
const (
	DefaultMilliCPURequest int64 = 100               // 0.1 core
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// Resource is an amount of the resources the scheduler counts.
type Resource struct {
	MilliCPU, Memory, EphemeralStorage int64
	// AllowedPodNumber is only meaningful for allocatable.
	AllowedPodNumber int64
	// Scalar holds extended resources (nvidia.com/gpu), hugepages and
	// attachable volumes; it may be nil.
	Scalar map[corev1.ResourceName]int64
}

// NewResource converts a resource list the way the scheduler counts it:
// cpu in millicores, everything else in units, rounded up.
func NewResource(rl corev1.ResourceList) Resource {
	var r Resource
	r.Add(rl)
	return r
}

// Add adds a resource list. Resources the scheduler does not count (for
// example "storage") are ignored.
func (r *Resource) Add(rl corev1.ResourceList) {
	for name, q := range rl {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory += q.Value()
		case corev1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		default:
			if IsScalarResourceName(name) {
				r.AddScalar(name, q.Value())
			}
		}
	}
}

// AddScalar adds an amount of a scalar resource.
func (r *Resource) AddScalar(name corev1.ResourceName, v int64) {
	if r.Scalar == nil {
		r.Scalar = map[corev1.ResourceName]int64{}
	}
	r.Scalar[name] += v
}

// addResource adds sign*o to r.
func (r *Resource) addResource(o *Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	r.AllowedPodNumber += sign * o.AllowedPodNumber
	for name, v := range o.Scalar {
		r.AddScalar(name, sign*v)
	}
}

// Clone returns a copy that shares nothing with r.
func (r Resource) Clone() Resource {
	c := r
	if r.Scalar != nil {
		c.Scalar = make(map[corev1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			c.Scalar[k] = v
		}
	}
	return c
}

// IsScalarResourceName reports whether the scheduler counts a resource in
// Resource.Scalar: extended resources, hugepages, attachable volumes and
// other kubernetes.io/-prefixed native resources.
func IsScalarResourceName(name corev1.ResourceName) bool {
	s := string(name)
	return IsExtendedResourceName(name) || strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) ||
		strings.Contains(s, corev1.ResourceDefaultNamespacePrefix) || strings.HasPrefix(s, "attachable-volumes-")
}

// IsExtendedResourceName reports whether a resource is an extended
// resource: a domain-prefixed name outside kubernetes.io/ that would be a
// valid quota name.
func IsExtendedResourceName(name corev1.ResourceName) bool {
	s := string(name)
	if !strings.Contains(s, "/") || strings.Contains(s, corev1.ResourceDefaultNamespacePrefix) ||
		strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+s)) == 0
}

// podRequestOptions select which of kube-scheduler's variants of a pod's
// requests to compute.
type podRequestOptions struct {
	// defaultCPU and defaultMemory give every container that does not
	// request cpu (memory) the non-zero default instead.
	defaultCPU, defaultMemory bool
}

// requestSum is a Resource that also remembers whether cpu and memory were
// named at all, which decides where the non-zero defaults apply.
type requestSum struct {
	Resource
	hasCPU, hasMemory bool
}

func (s *requestSum) addList(rl corev1.ResourceList) {
	s.Add(rl)
	if _, ok := rl[corev1.ResourceCPU]; ok {
		s.hasCPU = true
	}
	if _, ok := rl[corev1.ResourceMemory]; ok {
		s.hasMemory = true
	}
}

func (s *requestSum) add(o *requestSum) {
	s.addResource(&o.Resource, 1)
	s.hasCPU = s.hasCPU || o.hasCPU
	s.hasMemory = s.hasMemory || o.hasMemory
}

func (s *requestSum) setMax(o *requestSum) {
	s.MilliCPU = max(s.MilliCPU, o.MilliCPU)
	s.Memory = max(s.Memory, o.Memory)
	s.EphemeralStorage = max(s.EphemeralStorage, o.EphemeralStorage)
	for name, v := range o.Scalar {
		if cur, ok := s.Scalar[name]; !ok || v > cur {
			if s.Scalar == nil {
				s.Scalar = map[corev1.ResourceName]int64{}
			}
			s.Scalar[name] = v
		}
	}
	s.hasCPU = s.hasCPU || o.hasCPU
	s.hasMemory = s.hasMemory || o.hasMemory
}

func containerRequests(c *corev1.Container, opts podRequestOptions) requestSum {
	var s requestSum
	s.addList(c.Resources.Requests)
	if opts.defaultCPU && !hasKey(c.Resources.Requests, corev1.ResourceCPU) {
		s.MilliCPU += DefaultMilliCPURequest
		s.hasCPU = true
	}
	if opts.defaultMemory && !hasKey(c.Resources.Requests, corev1.ResourceMemory) {
		s.Memory += DefaultMemoryRequest
		s.hasMemory = true
	}
	return s
}

func hasKey(rl corev1.ResourceList, name corev1.ResourceName) bool {
	_, ok := rl[name]
	return ok
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// podRequests is Kubernetes' effective request of a pod
// (component-helpers' PodRequests): the sum of the containers' requests,
// or the largest init container's if that is more, where sidecars (init
// containers with restartPolicy Always) run alongside everything started
// after them; pod-level requests for cpu and memory replace the
// containers'; the pod overhead is added on top.
func podRequests(pod *corev1.Pod, opts podRequestOptions) requestSum {
	var reqs requestSum
	for i := range pod.Spec.Containers {
		c := containerRequests(&pod.Spec.Containers[i], opts)
		reqs.add(&c)
	}
	var sidecars, initMax requestSum
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		c := containerRequests(ic, opts)
		if isSidecar(ic) {
			reqs.add(&c)
			sidecars.add(&c)
			initMax.setMax(&sidecars)
			continue
		}
		c.add(&sidecars)
		initMax.setMax(&c)
	}
	reqs.setMax(&initMax)
	if podLevelRequestsSet(pod) {
		for name, q := range pod.Spec.Resources.Requests {
			switch name {
			case corev1.ResourceCPU:
				reqs.MilliCPU, reqs.hasCPU = q.MilliValue(), true
			case corev1.ResourceMemory:
				reqs.Memory, reqs.hasMemory = q.Value(), true
			}
		}
	}
	if pod.Spec.Overhead != nil {
		reqs.addList(pod.Spec.Overhead)
	}
	return reqs
}

// podLevelRequestsSet reports whether the pod sets pod-level requests for
// a resource that supports them (cpu, memory).
func podLevelRequestsSet(pod *corev1.Pod) bool {
	if pod.Spec.Resources == nil {
		return false
	}
	return hasKey(pod.Spec.Resources.Requests, corev1.ResourceCPU) || hasKey(pod.Spec.Resources.Requests, corev1.ResourceMemory)
}

// computePodResources returns what a pod counts against a node: its
// effective requests, and the cpu and memory with the non-zero defaults
// that NonZeroRequested sums, as kube-scheduler's PodInfo computes them.
func computePodResources(pod *corev1.Pod) (req Resource, nonZeroCPU, nonZeroMemory int64) {
	r := podRequests(pod, podRequestOptions{})
	opts := podRequestOptions{defaultCPU: true, defaultMemory: true}
	if podLevelRequestsSet(pod) {
		// With pod-level requests the defaults only fill in a resource
		// that neither the pod nor any container names.
		opts = podRequestOptions{defaultCPU: !r.hasCPU, defaultMemory: !r.hasMemory}
	}
	nz := r
	if opts.defaultCPU || opts.defaultMemory {
		nz = podRequests(pod, opts)
	}
	return r.Resource, nz.MilliCPU, nz.Memory
}
