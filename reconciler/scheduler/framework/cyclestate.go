package framework

import (
	"maps"
	"sort"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
)

// CycleState is the scratch data of one scheduling cycle, keyed by
// string. Plugins write it in PreFilter and PreScore, which run one at a
// time, and read it in Filter and Score, which may run in parallel. Reads
// take no lock (a write copies the few entries), so they are safe
// alongside each other and alongside writes.
type CycleState struct {
	data    atomic.Pointer[map[string]any]
	writeMu sync.Mutex

	mu      sync.Mutex
	podInfo *PodInfo

	skipFilter map[string]bool
	skipScore  map[string]bool

	// nodeNames is the intersection of the node names that PreFilter
	// plugins narrowed the cycle to; nil means every node.
	nodeNames      map[string]struct{}
	narrowedBy     []string
	nodeNamesEmpty bool
}

// NewCycleState returns an empty cycle state.
func NewCycleState() *CycleState { return &CycleState{} }

// Read returns the value stored under key.
func (c *CycleState) Read(key string) (any, bool) {
	m := c.data.Load()
	if m == nil {
		return nil, false
	}
	v, ok := (*m)[key]
	return v, ok
}

// Write stores a value under key.
func (c *CycleState) Write(key string, v any) {
	c.update(func(m map[string]any) { m[key] = v })
}

// Delete removes key.
func (c *CycleState) Delete(key string) {
	c.update(func(m map[string]any) { delete(m, key) })
}

func (c *CycleState) update(f func(map[string]any)) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	var m map[string]any
	if old := c.data.Load(); old != nil {
		m = maps.Clone(*old)
	} else {
		m = map[string]any{}
	}
	f(m)
	c.data.Store(&m)
}

// PodInfo returns the parsed form of the pod being scheduled, parsing it
// on first use in this cycle.
func (c *CycleState) PodInfo(pod *corev1.Pod) *PodInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.podInfo == nil || c.podInfo.Pod != pod {
		c.podInfo = NewPodInfo(pod)
	}
	return c.podInfo
}

// NarrowNodes restricts the cycle to the named nodes: a PreFilter plugin
// calls it when it already knows the only nodes that can fit (kube-
// scheduler's PreFilterResult). Calls from several plugins intersect.
func (c *CycleState) NarrowNodes(plugin string, nodeNames []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := make(map[string]struct{}, len(nodeNames))
	for _, n := range nodeNames {
		if c.nodeNames == nil {
			set[n] = struct{}{}
		} else if _, ok := c.nodeNames[n]; ok {
			set[n] = struct{}{}
		}
	}
	c.nodeNames = set
	c.narrowedBy = append(c.narrowedBy, plugin)
	c.nodeNamesEmpty = len(set) == 0
}

// narrowed returns the node names the cycle is restricted to, sorted, and
// the plugins that restricted it; ok is false when every node is in play.
func (c *CycleState) narrowed() (names []string, plugins []string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodeNames == nil {
		return nil, nil, false
	}
	names = make([]string, 0, len(c.nodeNames))
	for n := range c.nodeNames {
		names = append(names, n)
	}
	sort.Strings(names)
	plugins = append([]string(nil), c.narrowedBy...)
	sort.Strings(plugins)
	return names, plugins, true
}

func (c *CycleState) setSkipFilter(plugin string) {
	if c.skipFilter == nil {
		c.skipFilter = map[string]bool{}
	}
	c.skipFilter[plugin] = true
}

func (c *CycleState) setSkipScore(plugin string) {
	if c.skipScore == nil {
		c.skipScore = map[string]bool{}
	}
	c.skipScore[plugin] = true
}
