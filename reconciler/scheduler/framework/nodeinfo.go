package framework

import (
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
)

// generation is the source of NodeInfo generations: every change of any
// NodeInfo takes the next number, so a larger generation is a later state.
var generation atomic.Int64

func nextGeneration() int64 { return generation.Add(1) }

// ImageStateSummary is what the scheduler knows of an image on a node.
type ImageStateSummary struct {
	// Size of the image in bytes.
	Size int64
	// NumNodes is the number of nodes in the snapshot that have the image.
	// A snapshot fills it in when a cycle first looks the image up
	// (Snapshot.ImageNumNodes, which is the one to read while cycles may
	// run); filling it for every image of every node would cost
	// O(nodes x images) each time a snapshot is built.
	NumNodes int
}

// NodeInfo is a node and the pods that count against it: bound pods and
// pods the scheduler has assumed onto it.
type NodeInfo struct {
	Node *corev1.Node
	Pods []*PodInfo
	// PodsWithAffinity are the pods with any pod affinity or anti-affinity;
	// PodsWithRequiredAntiAffinity those with required anti-affinity.
	PodsWithAffinity, PodsWithRequiredAntiAffinity []*PodInfo
	// Requested is the sum of the pods' effective requests.
	Requested Resource
	// NonZeroRequested is the same with the non-zero defaults (100m cpu,
	// 200Mi memory) for containers that request none, for scoring.
	NonZeroRequested Resource
	// Allocatable is the node's status.allocatable.
	Allocatable Resource
	// UsedPorts are the host ports the pods bind.
	UsedPorts HostPortInfo
	// PVCRefCounts counts the pods using each PersistentVolumeClaim, keyed
	// by namespace/name.
	PVCRefCounts map[string]int
	// ImageStates maps each name of each image on the node to its size
	// and the number of nodes that have it.
	ImageStates map[string]*ImageStateSummary
	// Generation is bumped on every change.
	Generation int64
}

// NewNodeInfo returns the NodeInfo of a node (which may be nil while only
// its pods are known) with the given pods counted against it.
func NewNodeInfo(node *corev1.Node, pods ...*corev1.Pod) *NodeInfo {
	n := &NodeInfo{
		UsedPorts:    HostPortInfo{},
		PVCRefCounts: map[string]int{},
		ImageStates:  map[string]*ImageStateSummary{},
		Generation:   nextGeneration(),
	}
	if node != nil {
		n.SetNode(node)
	}
	for _, p := range pods {
		n.AddPod(p)
	}
	return n
}

// Name is the node's name, or "" when the node is not known.
func (n *NodeInfo) Name() string {
	if n == nil || n.Node == nil {
		return ""
	}
	return n.Node.Name
}

// SetNode sets or replaces the node, its allocatable resources and its
// images.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.Node = node
	n.Allocatable = NewResource(node.Status.Allocatable)
	images := make(map[string]*ImageStateSummary, len(node.Status.Images))
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			if _, ok := images[name]; !ok {
				images[name] = &ImageStateSummary{Size: img.SizeBytes, NumNodes: 1}
			}
		}
	}
	n.ImageStates = images
	n.Generation = nextGeneration()
}

// AddPod counts a pod against the node.
func (n *NodeInfo) AddPod(p *corev1.Pod) { n.AddPodInfo(NewPodInfo(p)) }

// AddPodInfo counts a pod, already parsed, against the node.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if pi.hasAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.update(pi, 1)
}

// RemovePod stops counting a pod. The pod is found by UID; a pod without
// a UID, or counted without one, is found by namespace and name. It
// reports whether the pod was there.
func (n *NodeInfo) RemovePod(p *corev1.Pod) bool {
	i := n.indexOf(p)
	if i < 0 {
		return false
	}
	pi := n.Pods[i]
	n.Pods = removeAt(n.Pods, i)
	n.PodsWithAffinity = removePodInfo(n.PodsWithAffinity, pi)
	n.PodsWithRequiredAntiAffinity = removePodInfo(n.PodsWithRequiredAntiAffinity, pi)
	n.update(pi, -1)
	return true
}

func (n *NodeInfo) indexOf(p *corev1.Pod) int {
	if p.UID != "" {
		for i, pi := range n.Pods {
			if pi.Pod.UID == p.UID {
				return i
			}
		}
	}
	for i, pi := range n.Pods {
		if (p.UID == "" || pi.Pod.UID == "") && pi.Pod.Namespace == p.Namespace && pi.Pod.Name == p.Name {
			return i
		}
	}
	return -1
}

// removeAt removes element i by moving the last one into its place, as
// kube-scheduler does; the order of the pods is not meaningful.
func removeAt(s []*PodInfo, i int) []*PodInfo {
	last := len(s) - 1
	s[i] = s[last]
	s[last] = nil
	return s[:last]
}

func removePodInfo(s []*PodInfo, pi *PodInfo) []*PodInfo {
	for i := range s {
		if s[i] == pi {
			return removeAt(s, i)
		}
	}
	return s
}

func (n *NodeInfo) update(pi *PodInfo, sign int64) {
	if n.UsedPorts == nil {
		n.UsedPorts = HostPortInfo{}
	}
	if n.PVCRefCounts == nil {
		n.PVCRefCounts = map[string]int{}
	}
	n.Requested.MilliCPU += sign * pi.Requests.MilliCPU
	n.Requested.Memory += sign * pi.Requests.Memory
	n.Requested.EphemeralStorage += sign * pi.Requests.EphemeralStorage
	for name, v := range pi.Requests.Scalar {
		n.Requested.AddScalar(name, sign*v)
	}
	n.NonZeroRequested.MilliCPU += sign * pi.NonZeroCPU
	n.NonZeroRequested.Memory += sign * pi.NonZeroMemory
	for _, port := range pi.HostPorts {
		if sign > 0 {
			n.UsedPorts.Add(port.HostIP, string(port.Protocol), port.HostPort)
		} else {
			n.UsedPorts.Remove(port.HostIP, string(port.Protocol), port.HostPort)
		}
	}
	for i := range pi.Pod.Spec.Volumes {
		v := &pi.Pod.Spec.Volumes[i]
		if v.PersistentVolumeClaim == nil {
			continue
		}
		key := pi.Pod.Namespace + "/" + v.PersistentVolumeClaim.ClaimName
		n.PVCRefCounts[key] += int(sign)
		if n.PVCRefCounts[key] <= 0 {
			delete(n.PVCRefCounts, key)
		}
	}
	n.Generation = nextGeneration()
}

// Clone returns a copy whose pod lists, resources, ports, claim counts and
// image states can be changed without touching n. The PodInfos and the
// Node object are shared: they are never modified in place.
func (n *NodeInfo) Clone() *NodeInfo {
	c := &NodeInfo{
		Node:                         n.Node,
		Pods:                         append([]*PodInfo(nil), n.Pods...),
		PodsWithAffinity:             append([]*PodInfo(nil), n.PodsWithAffinity...),
		PodsWithRequiredAntiAffinity: append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...),
		Requested:                    n.Requested.Clone(),
		NonZeroRequested:             n.NonZeroRequested.Clone(),
		Allocatable:                  n.Allocatable.Clone(),
		UsedPorts:                    n.UsedPorts.clone(),
		PVCRefCounts:                 make(map[string]int, len(n.PVCRefCounts)),
		ImageStates:                  make(map[string]*ImageStateSummary, len(n.ImageStates)),
		Generation:                   n.Generation,
	}
	for k, v := range n.PVCRefCounts {
		c.PVCRefCounts[k] = v
	}
	for k, v := range n.ImageStates {
		s := *v
		c.ImageStates[k] = &s
	}
	return c
}

// DefaultBindAllHostIP is the host IP that conflicts with every other.
const DefaultBindAllHostIP = "0.0.0.0"

// ProtocolPort is a protocol and a port.
type ProtocolPort struct {
	Protocol string
	Port     int32
}

// HostPortInfo is the host ports in use on a node: host IP, then
// protocol and port, to the number of pods binding it.
type HostPortInfo map[string]map[ProtocolPort]int

func sanitizeHostPort(ip, protocol string) (string, string) {
	if ip == "" {
		ip = DefaultBindAllHostIP
	}
	if protocol == "" {
		protocol = string(corev1.ProtocolTCP)
	}
	return ip, protocol
}

// Add records a pod binding ip:port/protocol.
func (h HostPortInfo) Add(ip, protocol string, port int32) {
	if port <= 0 {
		return
	}
	ip, protocol = sanitizeHostPort(ip, protocol)
	m, ok := h[ip]
	if !ok {
		m = map[ProtocolPort]int{}
		h[ip] = m
	}
	m[ProtocolPort{Protocol: protocol, Port: port}]++
}

// Remove forgets one pod binding ip:port/protocol.
func (h HostPortInfo) Remove(ip, protocol string, port int32) {
	if port <= 0 {
		return
	}
	ip, protocol = sanitizeHostPort(ip, protocol)
	m, ok := h[ip]
	if !ok {
		return
	}
	pp := ProtocolPort{Protocol: protocol, Port: port}
	if m[pp] <= 1 {
		delete(m, pp)
	} else {
		m[pp]--
	}
	if len(m) == 0 {
		delete(h, ip)
	}
}

// CheckConflict reports whether binding ip:port/protocol would conflict
// with a port in use: 0.0.0.0 conflicts with the same port on any IP, any
// IP with the same port on itself or on 0.0.0.0.
func (h HostPortInfo) CheckConflict(ip, protocol string, port int32) bool {
	if port <= 0 {
		return false
	}
	ip, protocol = sanitizeHostPort(ip, protocol)
	pp := ProtocolPort{Protocol: protocol, Port: port}
	if ip == DefaultBindAllHostIP {
		for _, m := range h {
			if m[pp] > 0 {
				return true
			}
		}
		return false
	}
	return h[DefaultBindAllHostIP][pp] > 0 || h[ip][pp] > 0
}

// Len is the number of distinct ip:port/protocol in use.
func (h HostPortInfo) Len() int {
	n := 0
	for _, m := range h {
		n += len(m)
	}
	return n
}

func (h HostPortInfo) clone() HostPortInfo {
	c := make(HostPortInfo, len(h))
	for ip, m := range h {
		cm := make(map[ProtocolPort]int, len(m))
		for k, v := range m {
			cm[k] = v
		}
		c[ip] = cm
	}
	return c
}
