package framework

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Snapshot is the cluster as one scheduling cycle sees it: the nodes with
// the pods counted against them, and the objects the plugins look up
// (claims, volumes, storage classes, namespaces).
type Snapshot struct {
	nodes *nodeSet

	pvcs       map[string]*corev1.PersistentVolumeClaim // namespace/name
	pvs        map[string]*corev1.PersistentVolume
	classes    map[string]*storagev1.StorageClass
	namespaces map[string]*corev1.Namespace
}

// nodeSet is the node side of a snapshot. What is derived from every node
// (the index by name, image counts) is computed on first use, so that
// building a snapshot costs little more than listing its nodes.
type nodeSet struct {
	nodeInfoList                         []*NodeInfo
	havePodsWithAffinityList             []*NodeInfo
	havePodsWithRequiredAntiAffinityList []*NodeInfo

	indexOnce   sync.Once
	nodeInfoMap map[string]*NodeInfo

	imageMu       sync.Mutex
	imageNumNodes map[string]int
}

// SnapshotOption adds objects other than nodes and pods to a snapshot.
type SnapshotOption func(*Snapshot)

// WithVolumes gives the snapshot the claims, volumes and storage classes
// the volume plugins look up. Without it every claim is missing.
func WithVolumes(pvcs []*corev1.PersistentVolumeClaim, pvs []*corev1.PersistentVolume, classes []*storagev1.StorageClass) SnapshotOption {
	return func(s *Snapshot) {
		s.pvcs = make(map[string]*corev1.PersistentVolumeClaim, len(pvcs))
		for _, c := range pvcs {
			s.pvcs[c.Namespace+"/"+c.Name] = c
		}
		s.pvs = make(map[string]*corev1.PersistentVolume, len(pvs))
		for _, v := range pvs {
			s.pvs[v.Name] = v
		}
		s.classes = make(map[string]*storagev1.StorageClass, len(classes))
		for _, c := range classes {
			s.classes[c.Name] = c
		}
	}
}

// WithNamespaces gives the snapshot the namespaces whose labels pod
// affinity terms with a namespaceSelector select. Without it a
// namespaceSelector selects no namespace (except the empty selector, which
// selects all).
func WithNamespaces(namespaces []*corev1.Namespace) SnapshotOption {
	return func(s *Snapshot) {
		s.namespaces = make(map[string]*corev1.Namespace, len(namespaces))
		for _, ns := range namespaces {
			s.namespaces[ns.Name] = ns
		}
	}
}

// NewSnapshot builds a snapshot from plain objects, with no API server:
// every pod with spec.nodeName on one of the nodes counts against that
// node, unless it has succeeded or failed; other pods are ignored.
func NewSnapshot(nodes []*corev1.Node, pods []*corev1.Pod, opts ...SnapshotOption) *Snapshot {
	infos := make([]*NodeInfo, 0, len(nodes))
	byName := make(map[string]*NodeInfo, len(nodes))
	for _, n := range nodes {
		ni := NewNodeInfo(n)
		infos = append(infos, ni)
		byName[n.Name] = ni
	}
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if ni, ok := byName[p.Spec.NodeName]; ok {
			ni.AddPod(p)
		}
	}
	return NewSnapshotFromNodeInfos(infos, opts...)
}

// NewSnapshotFromNodeInfos builds a snapshot over existing NodeInfos, in
// the order given; NodeInfos without a node are left out. The NodeInfos
// are not copied.
func NewSnapshotFromNodeInfos(infos []*NodeInfo, opts ...SnapshotOption) *Snapshot {
	ns := &nodeSet{nodeInfoList: make([]*NodeInfo, 0, len(infos))}
	for _, ni := range infos {
		if ni == nil || ni.Node == nil {
			continue
		}
		ns.nodeInfoList = append(ns.nodeInfoList, ni)
		if len(ni.PodsWithAffinity) > 0 {
			ns.havePodsWithAffinityList = append(ns.havePodsWithAffinityList, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			ns.havePodsWithRequiredAntiAffinityList = append(ns.havePodsWithRequiredAntiAffinityList, ni)
		}
	}
	s := &Snapshot{nodes: ns}
	for _, o := range opts {
		o(s)
	}
	return s
}

// WithOptions returns a snapshot of the same nodes with other objects: the
// options apply to a copy, and the nodes and what was derived from them
// are shared. Use it to refresh claims, volumes or namespaces without
// rebuilding the node side.
func (s *Snapshot) WithOptions(opts ...SnapshotOption) *Snapshot {
	c := *s
	for _, o := range opts {
		o(&c)
	}
	return &c
}

// Get returns a node's NodeInfo, or nil.
func (s *Snapshot) Get(nodeName string) *NodeInfo { return s.nodes.get(nodeName) }

func (s *nodeSet) get(nodeName string) *NodeInfo {
	s.indexOnce.Do(func() {
		s.nodeInfoMap = make(map[string]*NodeInfo, len(s.nodeInfoList))
		for _, ni := range s.nodeInfoList {
			s.nodeInfoMap[ni.Node.Name] = ni
		}
	})
	return s.nodeInfoMap[nodeName]
}

// List returns every node, in the snapshot's order. It must not be
// modified.
func (s *Snapshot) List() []*NodeInfo { return s.nodes.nodeInfoList }

// HavePodsWithAffinityList returns the nodes that have a pod with pod
// affinity or anti-affinity.
func (s *Snapshot) HavePodsWithAffinityList() []*NodeInfo { return s.nodes.havePodsWithAffinityList }

// HavePodsWithRequiredAntiAffinityList returns the nodes that have a pod
// with required pod anti-affinity.
func (s *Snapshot) HavePodsWithRequiredAntiAffinityList() []*NodeInfo {
	return s.nodes.havePodsWithRequiredAntiAffinityList
}

// NumNodes is the number of nodes.
func (s *Snapshot) NumNodes() int { return len(s.nodes.nodeInfoList) }

// ImageNumNodes is the number of nodes that have an image (under that
// name). It is counted on first use and remembered; the NumNodes of the
// image's ImageStateSummary on each node is set to it then.
func (s *Snapshot) ImageNumNodes(image string) int { return s.nodes.imageNumNodesOf(image) }

func (s *nodeSet) imageNumNodesOf(image string) int {
	s.imageMu.Lock()
	defer s.imageMu.Unlock()
	if n, ok := s.imageNumNodes[image]; ok {
		return n
	}
	n := 0
	for _, ni := range s.nodeInfoList {
		if _, ok := ni.ImageStates[image]; ok {
			n++
		}
	}
	for _, ni := range s.nodeInfoList {
		if st, ok := ni.ImageStates[image]; ok {
			st.NumNodes = n
		}
	}
	if s.imageNumNodes == nil {
		s.imageNumNodes = map[string]int{}
	}
	s.imageNumNodes[image] = n
	return n
}

// PersistentVolumeClaim returns a claim, or nil.
func (s *Snapshot) PersistentVolumeClaim(namespace, name string) *corev1.PersistentVolumeClaim {
	return s.pvcs[namespace+"/"+name]
}

// PersistentVolume returns a volume, or nil.
func (s *Snapshot) PersistentVolume(name string) *corev1.PersistentVolume { return s.pvs[name] }

// StorageClass returns a storage class, or nil.
func (s *Snapshot) StorageClass(name string) *storagev1.StorageClass { return s.classes[name] }

// Namespaces lists the namespaces given with WithNamespaces.
func (s *Snapshot) Namespaces() []*corev1.Namespace {
	out := make([]*corev1.Namespace, 0, len(s.namespaces))
	for _, ns := range s.namespaces {
		out = append(out, ns)
	}
	return out
}

// NamespaceLabels returns a namespace's labels, nil when it is unknown.
func (s *Snapshot) NamespaceLabels(namespace string) labels.Set {
	if ns, ok := s.namespaces[namespace]; ok {
		return ns.Labels
	}
	return nil
}
