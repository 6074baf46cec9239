package framework

import (
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/labels"
)

// nodeMemo remembers values computed from a node's pods, per key (for
// example a namespace and a label selector), until the node changes: a
// NodeInfo's Generation changes with every pod added or removed, so a
// cycle recomputes only the nodes that changed since the last one and
// looks the others up. Results are the same as computing every time.
//
// It holds at most memoMaxEntries node entries: past that, the keys used
// least recently are dropped. A key holding many more nodes than the
// snapshot has (nodes that went away) starts over.
type nodeMemo[V any] struct {
	mu      sync.Mutex
	byKey   map[string]*memoKeyTable[V]
	entries int    // node entries over all keys
	uses    uint64 // counts table lookups, to find the least recently used
}

type memoKeyTable[V any] struct {
	m       map[*NodeInfo]memoEntry[V]
	lastUse uint64
}

type memoEntry[V any] struct {
	gen int64
	v   V
}

// memoMaxEntries bounds a memo to about 10MB.
const memoMaxEntries = 1 << 18

// memoTable is one key's entries, used while the memo is locked.
type memoTable[V any] struct {
	memo *nodeMemo[V]
	t    *memoKeyTable[V]
}

// lock locks the memo for a snapshot of numNodes nodes; the caller takes
// tables with table and must call unlock.
func (m *nodeMemo[V]) lock(numNodes int) memoTxn[V] {
	m.mu.Lock()
	if m.byKey == nil {
		m.byKey = map[string]*memoKeyTable[V]{}
	}
	for m.entries > memoMaxEntries && len(m.byKey) > 0 {
		m.evictOldest()
	}
	return memoTxn[V]{memo: m, numNodes: numNodes}
}

func (m *nodeMemo[V]) evictOldest() {
	var oldest string
	var at uint64
	first := true
	for k, t := range m.byKey {
		if first || t.lastUse < at {
			oldest, at, first = k, t.lastUse, false
		}
	}
	m.drop(oldest)
}

func (m *nodeMemo[V]) drop(key string) {
	if t, ok := m.byKey[key]; ok {
		m.entries -= len(t.m)
		delete(m.byKey, key)
	}
}

// memoTxn is a locked memo.
type memoTxn[V any] struct {
	memo     *nodeMemo[V]
	numNodes int
}

// table returns a key's entries.
func (x memoTxn[V]) table(key string) memoTable[V] {
	m := x.memo
	t := m.byKey[key]
	if t != nil && len(t.m) > 2*x.numNodes+64 {
		m.drop(key)
		t = nil
	}
	if t == nil {
		t = &memoKeyTable[V]{m: make(map[*NodeInfo]memoEntry[V], x.numNodes)}
		m.byKey[key] = t
	}
	m.uses++
	t.lastUse = m.uses
	return memoTable[V]{memo: m, t: t}
}

func (x memoTxn[V]) unlock() { x.memo.mu.Unlock() }

// get returns the value for a node, computing it if the node changed.
func (t memoTable[V]) get(ni *NodeInfo, compute func(*NodeInfo) V) V {
	e, ok := t.t.m[ni]
	if ok && e.gen == ni.Generation {
		return e.v
	}
	if !ok {
		t.memo.entries++
	}
	v := compute(ni)
	t.t.m[ni] = memoEntry[V]{gen: ni.Generation, v: v}
	return v
}

// selectorKey is a memo key for pods of a namespace matched by a
// selector.
func selectorKey(namespace string, sel labels.Selector) string {
	return namespace + "\x00" + selectorString(sel)
}

// selectorString renders a selector so that selecting nothing and
// selecting everything (both "" in String) differ.
func selectorString(sel labels.Selector) string {
	if _, selectable := sel.Requirements(); !selectable {
		return "<nothing>"
	}
	if sel.Empty() {
		return "<everything>"
	}
	return sel.String()
}

// labelsKey renders labels in a stable order.
func labelsKey(ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(ls[k])
		b.WriteByte(',')
	}
	return b.String()
}

// termKey is a memo key for an affinity term's namespaces and selectors.
func termKey(t *AffinityTerm) string {
	ns := make([]string, 0, len(t.Namespaces))
	for n := range t.Namespaces {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return strings.Join(ns, ",") + "\x00" + selectorString(t.Selector) + "\x00" + selectorString(t.NamespaceSelector)
}
