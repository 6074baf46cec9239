package scheduler

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/cairn-dev/cairn/reconciler/scheduler/framework"
)

// Cache holds the nodes and the pods that count against them: pods the
// informer reports bound, and pods the scheduler has assumed onto a node
// before their binding lands. An assumed pod counts from the moment it is
// assumed, so two pods scheduled back to back never both take the last
// free slot of a node.
type Cache struct {
	mu    sync.Mutex
	nodes map[string]*cacheNode
	pods  map[types.UID]*podState
	// nodeSetGen changes when nodes come or go or a Node object changes;
	// snapshots rebuild their node order and image counts then.
	nodeSetGen int64
	gen        int64
	// changed lists the nodes touched since changedFrom, so that a
	// snapshot that has seen everything before changedFrom visits only
	// them instead of every node (5,000 map lookups a cycle otherwise).
	changed     []string
	changedFrom int64
}

type cacheNode struct {
	info *framework.NodeInfo
	gen  int64
}

type podState struct {
	pod             *corev1.Pod
	assumed         bool
	bindingFinished bool
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{nodes: map[string]*cacheNode{}, pods: map[types.UID]*podState{}}
}

func (c *Cache) node(name string) *cacheNode {
	n, ok := c.nodes[name]
	if !ok {
		// A pod may be seen before its node: keep it on a placeholder.
		n = &cacheNode{info: framework.NewNodeInfo(nil)}
		c.nodes[name] = n
	}
	return n
}

func (c *Cache) touch(name string, n *cacheNode) {
	c.gen++
	n.gen = c.gen
	if len(c.changed) > 2*len(c.nodes)+64 {
		// Nobody is taking snapshots (not the leader): the next one scans.
		c.changed, c.changedFrom = c.changed[:0], c.gen
		return
	}
	c.changed = append(c.changed, name)
}

func (c *Cache) addPodLocked(p *corev1.Pod) {
	n := c.node(p.Spec.NodeName)
	n.info.AddPod(p)
	c.touch(p.Spec.NodeName, n)
}

func (c *Cache) removePodLocked(p *corev1.Pod) {
	n, ok := c.nodes[p.Spec.NodeName]
	if !ok {
		return
	}
	n.info.RemovePod(p)
	c.touch(p.Spec.NodeName, n)
	if n.info.Node == nil && len(n.info.Pods) == 0 {
		delete(c.nodes, p.Spec.NodeName)
	}
}

// AssumePod counts a pod (with spec.nodeName set to the chosen node)
// against its node before the binding is sent.
func (c *Cache) AssumePod(p *corev1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[p.UID]; ok {
		return fmt.Errorf("pod %s/%s is already in the scheduler cache", p.Namespace, p.Name)
	}
	c.addPodLocked(p)
	c.pods[p.UID] = &podState{pod: p, assumed: true}
	return nil
}

// FinishBinding records that the assumed pod's binding was accepted; it
// stays assumed until the informer reports it bound.
func (c *Cache) FinishBinding(p *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[p.UID]; ok && ps.assumed {
		ps.bindingFinished = true
	}
}

// ForgetPod drops an assumed pod whose binding failed.
func (c *Cache) ForgetPod(p *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[p.UID]
	if !ok || !ps.assumed {
		return
	}
	c.removePodLocked(ps.pod)
	delete(c.pods, p.UID)
}

// AddPod records a bound pod reported by the informer, replacing its
// assumed version (which may have been on another node if someone else
// bound it).
func (c *Cache) AddPod(p *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[p.UID]; ok {
		c.removePodLocked(ps.pod)
	}
	c.addPodLocked(p)
	c.pods[p.UID] = &podState{pod: p}
}

// UpdatePod replaces a bound pod (its labels or requests may change).
func (c *Cache) UpdatePod(p *corev1.Pod) { c.AddPod(p) }

// RemovePod forgets a bound pod that was deleted or finished.
func (c *Cache) RemovePod(p *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[p.UID]
	if !ok {
		return
	}
	c.removePodLocked(ps.pod)
	delete(c.pods, p.UID)
}

// IsAssumed reports whether a pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[uid]
	return ok && ps.assumed
}

// SetNode adds or updates a node.
func (c *Cache) SetNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(node.Name)
	material := n.info.Node == nil || nodeMaterialChange(n.info.Node, node)
	n.info.SetNode(node)
	c.touch(node.Name, n)
	if material {
		c.nodeSetGen = c.gen
	}
}

// nodeMaterialChange says whether a Node update changes more than the
// node's own NodeInfo: its zone (the snapshot's node order) or its images
// (the image counts across nodes). Heartbeats change neither.
func nodeMaterialChange(old, n *corev1.Node) bool {
	if zoneOf(old) != zoneOf(n) || len(old.Status.Images) != len(n.Status.Images) {
		return true
	}
	for i := range n.Status.Images {
		if !slices.Equal(old.Status.Images[i].Names, n.Status.Images[i].Names) {
			return true
		}
	}
	return false
}

// RemoveNode forgets a node; pods still bound to it stay on a placeholder
// until they are removed.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	if !ok {
		return
	}
	if len(n.info.Pods) == 0 {
		delete(c.nodes, name)
	} else {
		n.info = framework.NewNodeInfo(nil)
		for _, ps := range c.pods {
			if ps.pod.Spec.NodeName == name {
				n.info.AddPod(ps.pod)
			}
		}
	}
	c.touch(name, n)
	c.nodeSetGen = c.gen
}

// NodeInfo is a copy of one node's accounting, for tests and diagnostics.
func (c *Cache) NodeInfo(name string) *framework.NodeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	if !ok {
		return nil
	}
	return n.info.Clone()
}

// Snapshot is the scheduler's view for one cycle, brought up to date from
// the cache incrementally: only the nodes that changed since the last
// cycle are copied.
type Snapshot struct {
	gen, nodeSetGen, objectsGen int64
	infos                       map[string]*framework.NodeInfo
	gens                        map[string]int64
	snap                        *framework.Snapshot
}

// NewSnapshot returns an empty snapshot for UpdateSnapshot to fill.
func NewSnapshot() *Snapshot {
	return &Snapshot{infos: map[string]*framework.NodeInfo{}, gens: map[string]int64{}, nodeSetGen: -1, objectsGen: -1}
}

// Framework is the snapshot as the plugins see it.
func (s *Snapshot) Framework() *framework.Snapshot { return s.snap }

// UpdateSnapshot brings s up to date. Nodes whose pods changed are copied
// in place; the framework snapshot is rebuilt when nodes came, went or
// changed, when a node gained or lost its first pod with affinity terms,
// or when objectsGen says the other objects plugins look up (claims,
// volumes, storage classes, namespaces) changed: objects gives them then.
func (c *Cache) UpdateSnapshot(s *Snapshot, objectsGen int64, objects func() []framework.SnapshotOption) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.gen == c.gen && s.snap != nil && s.objectsGen == objectsGen {
		return
	}
	rebuild := s.snap == nil || s.nodeSetGen != c.nodeSetGen || s.objectsGen != objectsGen
	visit := c.changed
	if rebuild || s.gen < c.changedFrom {
		visit = slices.Collect(maps.Keys(c.nodes))
	}
	for _, name := range visit {
		n, ok := c.nodes[name]
		if !ok || n.info.Node == nil || s.gens[name] == n.gen {
			continue
		}
		clone := n.info.Clone()
		if old, ok := s.infos[name]; ok && !rebuild {
			if hasAffinity(old) != hasAffinity(clone) || hasAntiAffinity(old) != hasAntiAffinity(clone) {
				rebuild = true
			}
			// The node itself is unchanged (else nodeSetGen moved), so its
			// images are on as many nodes as before.
			for name, st := range clone.ImageStates {
				if o, ok := old.ImageStates[name]; ok {
					st.NumNodes = o.NumNodes
				}
			}
			*old = *clone
		} else {
			s.infos[name] = clone
			rebuild = true
		}
		s.gens[name] = n.gen
	}
	if rebuild {
		for name := range s.infos {
			if n, ok := c.nodes[name]; !ok || n.info.Node == nil {
				delete(s.infos, name)
				delete(s.gens, name)
			}
		}
	}
	if rebuild {
		var opts []framework.SnapshotOption
		if objects != nil {
			opts = objects()
		}
		s.snap = framework.NewSnapshotFromNodeInfos(zoneOrder(s.infos), opts...)
	}
	s.gen, s.nodeSetGen, s.objectsGen = c.gen, c.nodeSetGen, objectsGen
	c.changed, c.changedFrom = c.changed[:0], c.gen
}

func hasAffinity(n *framework.NodeInfo) bool     { return len(n.PodsWithAffinity) > 0 }
func hasAntiAffinity(n *framework.NodeInfo) bool { return len(n.PodsWithRequiredAntiAffinity) > 0 }

// zoneOrder lists nodes zone by zone in turn, as kube-scheduler's node
// tree does, so that scoring only a percentage of the nodes still sees
// every zone.
func zoneOrder(infos map[string]*framework.NodeInfo) []*framework.NodeInfo {
	byZone := map[string][]*framework.NodeInfo{}
	var zones []string
	for _, n := range infos {
		z := zoneOf(n.Node)
		if _, ok := byZone[z]; !ok {
			zones = append(zones, z)
		}
		byZone[z] = append(byZone[z], n)
	}
	sort.Strings(zones)
	for _, z := range zones {
		l := byZone[z]
		sort.Slice(l, func(i, j int) bool { return l[i].Node.Name < l[j].Node.Name })
	}
	out := make([]*framework.NodeInfo, 0, len(infos))
	for i := 0; len(out) < len(infos); i++ {
		for _, z := range zones {
			if i < len(byZone[z]) {
				out = append(out, byZone[z][i])
			}
		}
	}
	return out
}

func zoneOf(n *corev1.Node) string {
	return n.Labels[corev1.LabelTopologyRegion] + ":\x00:" + n.Labels[corev1.LabelTopologyZone]
}
