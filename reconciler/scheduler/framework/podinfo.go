package framework

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// AffinityTerm is a pod (anti-)affinity term with its selectors parsed.
type AffinityTerm struct {
	// Namespaces the term applies to: its namespaces field, or the pod's
	// own namespace when it names neither namespaces nor a selector.
	Namespaces        sets.Set[string]
	Selector          labels.Selector
	TopologyKey       string
	NamespaceSelector labels.Selector
}

// Matches reports whether a pod, in a namespace with the given labels,
// is selected by the term.
func (t *AffinityTerm) Matches(pod *corev1.Pod, nsLabels labels.Set) bool {
	if t.Namespaces.Has(pod.Namespace) || t.NamespaceSelector.Matches(nsLabels) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// WeightedAffinityTerm is a preferred term with its weight.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// PodInfo is a pod plus what the plugins precompute about it.
type PodInfo struct {
	Pod *corev1.Pod
	// Requests is the pod's effective request: max(sum of containers, any
	// init container) with sidecars, pod-level requests and overhead.
	Requests Resource
	// NonZeroCPU and NonZeroMemory are the requests with the non-zero
	// defaults for containers that name none, used for scoring.
	NonZeroCPU, NonZeroMemory int64

	RequiredAffinityTerms      []AffinityTerm
	RequiredAntiAffinityTerms  []AffinityTerm
	PreferredAffinityTerms     []WeightedAffinityTerm
	PreferredAntiAffinityTerms []WeightedAffinityTerm
	// ParseError is set when an affinity term's selector is invalid; the
	// terms of that kind are then left empty, as kube-scheduler does.
	ParseError error

	// HostPorts are the ports the pod binds on its node.
	HostPorts []corev1.ContainerPort

	// fitScoreCPU and fitScoreMemory are the requests NodeResourcesFit
	// scores with (non-zero defaults on every container).
	fitScoreCPU, fitScoreMemory int64
	requiredNodeAffinity        *requiredNodeAffinity
}

// NewPodInfo precomputes what the plugins need about a pod.
func NewPodInfo(p *corev1.Pod) *PodInfo {
	pi := &PodInfo{Pod: p}
	pi.Requests, pi.NonZeroCPU, pi.NonZeroMemory = computePodResources(p)
	fs := podRequests(p, podRequestOptions{defaultCPU: true, defaultMemory: true})
	pi.fitScoreCPU, pi.fitScoreMemory = fs.MilliCPU, fs.Memory
	pi.HostPorts = hostPorts(p)
	pi.requiredNodeAffinity = newRequiredNodeAffinity(p)

	var errs []error
	if a := p.Spec.Affinity; a != nil {
		if a.PodAffinity != nil {
			pi.RequiredAffinityTerms = affinityTerms(p, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, &errs)
			pi.PreferredAffinityTerms = weightedAffinityTerms(p, a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution, &errs)
		}
		if a.PodAntiAffinity != nil {
			pi.RequiredAntiAffinityTerms = affinityTerms(p, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, &errs)
			pi.PreferredAntiAffinityTerms = weightedAffinityTerms(p, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, &errs)
		}
	}
	pi.ParseError = errors.Join(errs...)
	return pi
}

// hasAffinity reports whether the pod has any pod affinity or
// anti-affinity, required or preferred (kube-scheduler's
// PodsWithAffinity).
func (pi *PodInfo) hasAffinity() bool {
	a := pi.Pod.Spec.Affinity
	return a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil)
}

// nodeAffinity is the pod's nodeSelector and required node affinity,
// parsed once.
func (pi *PodInfo) nodeAffinity() *requiredNodeAffinity { return pi.requiredNodeAffinity }

func newAffinityTerm(pod *corev1.Pod, t *corev1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		return AffinityTerm{}, err
	}
	nsSel, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector)
	if err != nil {
		return AffinityTerm{}, err
	}
	ns := sets.New(t.Namespaces...)
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		ns = sets.New(pod.Namespace)
	}
	return AffinityTerm{Namespaces: ns, Selector: sel, TopologyKey: t.TopologyKey, NamespaceSelector: nsSel}, nil
}

func affinityTerms(pod *corev1.Pod, in []corev1.PodAffinityTerm, errs *[]error) []AffinityTerm {
	if len(in) == 0 {
		return nil
	}
	out := make([]AffinityTerm, 0, len(in))
	for i := range in {
		t, err := newAffinityTerm(pod, &in[i])
		if err != nil {
			*errs = append(*errs, err)
			return nil
		}
		out = append(out, t)
	}
	return out
}

func weightedAffinityTerms(pod *corev1.Pod, in []corev1.WeightedPodAffinityTerm, errs *[]error) []WeightedAffinityTerm {
	if len(in) == 0 {
		return nil
	}
	out := make([]WeightedAffinityTerm, 0, len(in))
	for i := range in {
		t, err := newAffinityTerm(pod, &in[i].PodAffinityTerm)
		if err != nil {
			*errs = append(*errs, err)
			return nil
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: t, Weight: in[i].Weight})
	}
	return out
}

// hostPorts lists the ports with a hostPort of the pod's containers and of
// its sidecars, which run as long as the pod.
func hostPorts(pod *corev1.Pod) []corev1.ContainerPort {
	var ports []corev1.ContainerPort
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if !isSidecar(c) {
			continue
		}
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				ports = append(ports, p)
			}
		}
	}
	for i := range pod.Spec.Containers {
		for _, p := range pod.Spec.Containers[i].Ports {
			if p.HostPort > 0 {
				ports = append(ports, p)
			}
		}
	}
	return ports
}
