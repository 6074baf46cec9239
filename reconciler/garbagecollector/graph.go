package garbagecollector

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// objectReference is an object's coordinates: what an owner reference
// says about its owner, plus the namespace the graph believes it is in.
type objectReference struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	UID        types.UID
}

func (r objectReference) String() string {
	return fmt.Sprintf("[%s/%s, namespace: %s, name: %s, uid: %s]", r.APIVersion, r.Kind, r.Namespace, r.Name, r.UID)
}

// ownerCoordinates is the part of an owner reference that names the
// owner; the dependent's namespace completes it.
func ownerCoordinates(ref metav1.OwnerReference, namespace string) objectReference {
	return objectReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID, Namespace: namespace}
}

// node is one object in the dependency graph. A virtual node stands for
// an owner that dependents name but no informer has shown yet: it may
// not exist, and its coordinates are only what the dependents claim.
type node struct {
	identity   objectReference
	dependents map[*node]struct{}
	// owners as the object's latest observed metadata lists them.
	owners []metav1.OwnerReference
	// virtual until an informer event shows the object.
	virtual bool
	// beingDeleted: the object has a deletionTimestamp.
	beingDeleted bool
	// deletingDependents: being deleted with the foregroundDeletion
	// finalizer, waiting for its blocking dependents to go.
	deletingDependents bool
}

// blockingDependents are the dependents whose reference to n has
// blockOwnerDeletion set: foreground deletion of n waits for them.
func (n *node) blockingDependents() []*node {
	var out []*node
	for dep := range n.dependents {
		for _, ref := range dep.owners {
			if ref.UID == n.identity.UID && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
				out = append(out, dep)
			}
		}
	}
	return out
}

// objectMeta is what the graph needs of an object's metadata.
type objectMeta struct {
	identity   objectReference
	owners     []metav1.OwnerReference
	deleting   bool
	finalizers []string
}

func (m *objectMeta) hasFinalizer(f string) bool { return slices.Contains(m.finalizers, f) }

type eventType int

const (
	addEvent eventType = iota
	updateEvent
	deleteEvent
)

// event is one change to the graph: an informer's add, update or delete,
// or a virtual delete the workers raise once the API server confirmed an
// object is absent.
type event struct {
	virtual bool
	typ     eventType
	obj     objectMeta
	old     *objectMeta
}

// invalidOwner: a dependent names an owner the graph knows to live in
// another namespace; reported as OwnerRefInvalidNamespace.
type invalidOwner struct {
	dependent objectReference
	owner     metav1.OwnerReference
}

// effects are what applying one event asks of the controller: nodes to
// look at in each queue, owners now known absent, events to record.
type effects struct {
	attemptToDelete []types.UID
	// attemptToDeleteLater go through the queue's rate limiter.
	attemptToDeleteLater []types.UID
	attemptToOrphan      []types.UID
	absent               []objectReference
	invalid              []invalidOwner
}

// graph is the dependency graph of every object observed, keyed by UID,
// Kubernetes' GraphBuilder.uidToNode. It is not safe for concurrent use.
type graph struct {
	nodes map[types.UID]*node
}

func newGraph() *graph { return &graph{nodes: map[types.UID]*node{}} }

// apply folds one event into the graph, as Kubernetes'
// processGraphChanges, and returns what follows from it.
func (g *graph) apply(ev event) effects {
	var fx effects
	obj := ev.obj
	existing, found := g.nodes[obj.identity.UID]
	if found && !ev.virtual && existing.virtual {
		// The first real event for a node known only from its dependents:
		// the dependents that named it with other coordinates (another
		// namespace, kind or name) point at an absent owner.
		if obj.identity != existing.identity {
			_, invalid := partitionDependents(existing.dependents, obj.identity)
			for _, dep := range invalid {
				if obj.identity.Namespace != "" && dep.identity.Namespace != obj.identity.Namespace {
					if ref, ok := ownerRef(dep, obj.identity.UID); ok {
						fx.invalid = append(fx.invalid, invalidOwner{dependent: dep.identity, owner: ref})
					}
				}
				fx.attemptToDelete = append(fx.attemptToDelete, dep.identity.UID)
			}
			existing.identity = obj.identity
		}
		existing.virtual = false
	}
	switch {
	case ev.typ != deleteEvent && !found:
		n := &node{
			identity:           obj.identity,
			dependents:         map[*node]struct{}{},
			owners:             obj.owners,
			beingDeleted:       obj.deleting,
			deletingDependents: obj.deleting && obj.hasFinalizer(metav1.FinalizerDeleteDependents),
		}
		g.nodes[n.identity.UID] = n
		g.addDependentToOwners(n, n.owners, &fx)
		g.transitions(ev.old, &obj, n, &fx)
	case ev.typ != deleteEvent && found:
		added, removed, changed := referencesDiffs(existing.owners, obj.owners)
		if len(added) > 0 || len(removed) > 0 || len(changed) > 0 {
			g.unblockedOwners(removed, changed, &fx)
			existing.owners = obj.owners
			g.addDependentToOwners(existing, added, &fx)
			g.removeDependentFromOwners(existing, removed)
		}
		if obj.deleting {
			existing.beingDeleted = true
		}
		g.transitions(ev.old, &obj, existing, &fx)
	case ev.typ == deleteEvent && found:
		if ev.virtual && !g.virtualDeleteRemoves(existing, obj.identity, &fx) {
			return fx
		}
		g.removeNode(existing)
		if len(existing.dependents) > 0 {
			fx.absent = append(fx.absent, obj.identity)
		}
		for _, dep := range sortedNodes(existing.dependents) {
			fx.attemptToDelete = append(fx.attemptToDelete, dep.identity.UID)
		}
		for _, ref := range existing.owners {
			// An owner waiting for its dependents may now be free to go.
			if owner, ok := g.nodes[ref.UID]; ok && owner.deletingDependents {
				fx.attemptToDelete = append(fx.attemptToDelete, owner.identity.UID)
			}
		}
	}
	return fx
}

// virtualDeleteRemoves decides whether a virtual delete (the API server
// has no object at these coordinates with this UID) removes the node.
// Dependents that named the node by other coordinates keep it alive; those
// that match the deleted coordinates are collected.
func (g *graph) virtualDeleteRemoves(n *node, deleted objectReference, fx *effects) bool {
	if !n.virtual {
		if n.identity == deleted {
			return true
		}
		// The informer saw the object at other coordinates: only the
		// dependents that named the absent ones are affected.
		matching, _ := partitionDependents(n.dependents, deleted)
		if len(matching) > 0 {
			fx.absent = append(fx.absent, deleted)
			for _, dep := range matching {
				fx.attemptToDelete = append(fx.attemptToDelete, dep.identity.UID)
			}
		}
		return false
	}
	matching, nonmatching := partitionDependents(n.dependents, deleted)
	if len(nonmatching) == 0 {
		return true
	}
	if len(matching) > 0 {
		fx.absent = append(fx.absent, deleted)
		for _, dep := range matching {
			fx.attemptToDelete = append(fx.attemptToDelete, dep.identity.UID)
		}
	}
	if n.identity == deleted {
		// Try the coordinates the other dependents claim next.
		n.identity = ownerCoordinates(mustOwnerRef(nonmatching[0], n.identity.UID), nonmatching[0].identity.Namespace)
		fx.attemptToDeleteLater = append(fx.attemptToDeleteLater, n.identity.UID)
	}
	return false
}

// transitions queues the work an owner's entering foreground or orphan
// deletion starts, as Kubernetes' processTransitions.
func (g *graph) transitions(old, cur *objectMeta, n *node, fx *effects) {
	if startsWaiting(old, cur, metav1.FinalizerOrphanDependents) {
		fx.attemptToOrphan = append(fx.attemptToOrphan, n.identity.UID)
		return
	}
	if startsWaiting(old, cur, metav1.FinalizerDeleteDependents) {
		n.deletingDependents = true
		for _, dep := range sortedNodes(n.dependents) {
			fx.attemptToDelete = append(fx.attemptToDelete, dep.identity.UID)
		}
		fx.attemptToDelete = append(fx.attemptToDelete, n.identity.UID)
	}
}

// startsWaiting: cur is being deleted with finalizer f and old was not
// (or there is no old).
func startsWaiting(old, cur *objectMeta, f string) bool {
	if !cur.deleting || !cur.hasFinalizer(f) {
		return false
	}
	return old == nil || !old.deleting || !old.hasFinalizer(f)
}

// addDependentToOwners links n under each owner in refs, creating virtual
// nodes for owners not seen yet; both get verified by the workers.
func (g *graph) addDependentToOwners(n *node, refs []metav1.OwnerReference, fx *effects) {
	suspect := false
	for _, ref := range refs {
		owner, ok := g.nodes[ref.UID]
		if !ok {
			owner = &node{identity: ownerCoordinates(ref, n.identity.Namespace), dependents: map[*node]struct{}{}, virtual: true}
			g.nodes[ref.UID] = owner
		}
		owner.dependents[n] = struct{}{}
		if !ok {
			fx.attemptToDelete = append(fx.attemptToDelete, owner.identity.UID)
			continue
		}
		if suspect {
			continue
		}
		ownerNamespaced := owner.identity.Namespace != ""
		switch {
		case ownerNamespaced && owner.identity.Namespace != n.identity.Namespace:
			// Only cluster-scoped owners may be named across namespaces.
			if !owner.virtual {
				fx.invalid = append(fx.invalid, invalidOwner{dependent: n.identity, owner: ref})
			}
			suspect = true
		case !coordinatesMatch(ref, owner.identity):
			suspect = true
		case !ownerNamespaced && owner.identity.Namespace != n.identity.Namespace && owner.virtual:
			// A virtual cluster-scoped owner might be a namespaced kind
			// wrongly named by a cluster-scoped dependent.
			suspect = true
		}
	}
	if suspect {
		fx.attemptToDelete = append(fx.attemptToDelete, n.identity.UID)
	}
}

// removeDependentFromOwners unlinks n from the owners it no longer names.
func (g *graph) removeDependentFromOwners(n *node, refs []metav1.OwnerReference) {
	for _, ref := range refs {
		if owner, ok := g.nodes[ref.UID]; ok {
			delete(owner.dependents, n)
		}
	}
}

// removeNode drops n and its edges from its owners; its dependents keep
// their references and get re-examined by the caller.
func (g *graph) removeNode(n *node) {
	delete(g.nodes, n.identity.UID)
	g.removeDependentFromOwners(n, n.owners)
}

// unblockedOwners queues owners waiting for their dependents' deletion
// when a blocking reference to them went away or stopped blocking.
func (g *graph) unblockedOwners(removed []metav1.OwnerReference, changed []refChange, fx *effects) {
	for _, ref := range removed {
		if blocks(ref) {
			if owner, ok := g.nodes[ref.UID]; ok && owner.deletingDependents {
				fx.attemptToDelete = append(fx.attemptToDelete, owner.identity.UID)
			}
		}
	}
	for _, c := range changed {
		if blocks(c.old) && !blocks(c.cur) {
			if owner, ok := g.nodes[c.cur.UID]; ok && owner.deletingDependents {
				fx.attemptToDelete = append(fx.attemptToDelete, owner.identity.UID)
			}
		}
	}
}

func blocks(ref metav1.OwnerReference) bool {
	return ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
}

type refChange struct{ old, cur metav1.OwnerReference }

// referencesDiffs compares two ownerReferences lists by owner UID.
func referencesDiffs(old, cur []metav1.OwnerReference) (added, removed []metav1.OwnerReference, changed []refChange) {
	oldByUID := map[types.UID]metav1.OwnerReference{}
	for _, r := range old {
		oldByUID[r.UID] = r
	}
	for _, r := range cur {
		o, ok := oldByUID[r.UID]
		if !ok {
			added = append(added, r)
			continue
		}
		if !refsEqual(o, r) {
			changed = append(changed, refChange{old: o, cur: r})
		}
		delete(oldByUID, r.UID)
	}
	for _, r := range old {
		if _, ok := oldByUID[r.UID]; ok {
			removed = append(removed, r)
		}
	}
	return added, removed, changed
}

func refsEqual(a, b metav1.OwnerReference) bool {
	return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name && a.UID == b.UID &&
		boolPtrEqual(a.Controller, b.Controller) && boolPtrEqual(a.BlockOwnerDeletion, b.BlockOwnerDeletion)
}

func boolPtrEqual(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func coordinatesMatch(ref metav1.OwnerReference, id objectReference) bool {
	return ref.APIVersion == id.APIVersion && ref.Kind == id.Kind && ref.Name == id.Name && ref.UID == id.UID
}

// partitionDependents splits deps into those whose reference to the
// owner matches id's coordinates (and namespace, for a namespaced id) and
// the rest.
func partitionDependents(deps map[*node]struct{}, id objectReference) (matching, nonmatching []*node) {
	for _, dep := range sortedNodes(deps) {
		ref, ok := ownerRef(dep, id.UID)
		if !ok {
			continue
		}
		if coordinatesMatch(ref, id) && (id.Namespace == "" || dep.identity.Namespace == id.Namespace) {
			matching = append(matching, dep)
		} else {
			nonmatching = append(nonmatching, dep)
		}
	}
	return matching, nonmatching
}

func ownerRef(dep *node, uid types.UID) (metav1.OwnerReference, bool) {
	for _, r := range dep.owners {
		if r.UID == uid {
			return r, true
		}
	}
	return metav1.OwnerReference{}, false
}

func mustOwnerRef(dep *node, uid types.UID) metav1.OwnerReference {
	r, _ := ownerRef(dep, uid)
	return r
}

// sortedNodes orders nodes by UID so that the effects of an event do not
// depend on map iteration order.
func sortedNodes(set map[*node]struct{}) []*node {
	out := make([]*node, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *node) int {
		switch {
		case a.identity.UID < b.identity.UID:
			return -1
		case a.identity.UID > b.identity.UID:
			return 1
		}
		return 0
	})
	return out
}
