package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// errVirtualDeleteQueued: the API server has no object with the node's
// UID; a virtual delete event will take the node out of the graph, so
// there is nothing to retry.
var errVirtualDeleteQueued = errors.New("enqueued virtual delete event")

// notObservedError asks to look at a node again later: no informer has
// shown it yet, and one that was created and deleted while a watch was
// re-established would otherwise stay in the graph for good.
type notObservedError struct{ id objectReference }

func (e *notObservedError) Error() string { return fmt.Sprintf("item %s not observed yet", e.id) }

// nodeView is a consistent copy of what the workers need of a node, taken
// under the graph's lock.
type nodeView struct {
	identity           objectReference
	virtual            bool
	beingDeleted       bool
	deletingDependents bool
	dependents         []objectReference
	// dependentDeletingDependents: some dependent is itself waiting for
	// its own dependents.
	dependentDeletingDependents bool
	// blocking dependents, and whether each is deleting its own.
	blocking []blockingDependent
}

type blockingDependent struct {
	uid                types.UID
	deletingDependents bool
}

func (c *Controller) view(uid types.UID) (nodeView, bool) {
	c.graphMu.RLock()
	defer c.graphMu.RUnlock()
	n, ok := c.graph.nodes[uid]
	if !ok {
		return nodeView{}, false
	}
	v := nodeView{identity: n.identity, virtual: n.virtual, beingDeleted: n.beingDeleted, deletingDependents: n.deletingDependents}
	for _, dep := range sortedNodes(n.dependents) {
		v.dependents = append(v.dependents, dep.identity)
		v.dependentDeletingDependents = v.dependentDeletingDependents || dep.deletingDependents
	}
	for _, dep := range n.blockingDependents() {
		v.blocking = append(v.blocking, blockingDependent{uid: dep.identity.UID, deletingDependents: dep.deletingDependents})
	}
	return v, true
}

// attemptDelete is the attemptToDelete queue's sync, Kubernetes'
// attemptToDeleteWorker.
func (c *Controller) attemptDelete(ctx context.Context, key string) error {
	n, ok := c.view(types.UID(key))
	if !ok {
		return nil
	}
	err := c.attemptToDeleteItem(ctx, n)
	switch {
	case errors.Is(err, errVirtualDeleteQueued), errors.Is(err, errNamespacedOwnerOfClusterScoped):
		return nil
	case err != nil:
		return err
	}
	if cur, ok := c.view(n.identity.UID); ok && cur.virtual {
		return &notObservedError{id: n.identity}
	}
	return nil
}

// attemptToDeleteItem looks at one object with its owners' live state
// and deletes it, trims its owner references, or, when it is waiting for
// its own dependents, finishes its foreground deletion once none blocks.
func (c *Controller) attemptToDeleteItem(ctx context.Context, n nodeView) error {
	if n.beingDeleted && !n.deletingDependents {
		return nil // already going, with nothing to wait for
	}
	latest, err := c.getObject(ctx, n.identity)
	switch {
	case apierrors.IsNotFound(err):
		c.queueVirtualDelete(n.identity)
		return errVirtualDeleteQueued
	case err != nil:
		return err
	}
	if latest.UID != n.identity.UID {
		c.queueVirtualDelete(n.identity)
		return errVirtualDeleteQueued
	}
	if n.deletingDependents {
		return c.processDeletingDependents(ctx, n)
	}
	if len(latest.OwnerReferences) == 0 {
		return nil
	}
	var cls classification
	for _, ref := range latest.OwnerReferences {
		st, err := c.ownerState(ctx, ref, n.identity)
		if errors.Is(err, errNamespacedOwnerOfClusterScoped) {
			c.reportInvalidNamespace(n.identity, ref.APIVersion, ref.Kind, ref.Name, string(ref.UID))
		}
		if err != nil {
			return err
		}
		cls.add(ref, st)
	}
	d := decide(cls, len(n.dependents), n.dependentDeletingDependents, latest.Finalizers)
	switch d.kind {
	case actRemoveOwners:
		c.log.Debug("removing dangling owner references", "object", n.identity.String(), "owners", d.removeUIDs)
		return c.removeOwnerRefs(ctx, n.identity, d.removeUIDs)
	case actDelete:
		if d.unblock {
			if err := c.unblockOwnerRefs(ctx, n.identity); err != nil {
				return err
			}
		}
		c.log.Debug("deleting object", "object", n.identity.String(), "propagationPolicy", d.policy)
		err := c.deleteObject(ctx, n.identity, d.policy)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	return nil
}

// ownerState looks an owner up live (or in the absent owners), as
// Kubernetes' isDangling. A namespaced owner is looked up in the
// dependent's namespace: an owner elsewhere is absent to it.
func (c *Controller) ownerState(ctx context.Context, ref metav1.OwnerReference, dep objectReference) (ownerState, error) {
	key := ownerCoordinates(ref, "")
	if c.absent.has(key) {
		return ownerAbsent, nil
	}
	key.Namespace = dep.Namespace
	if c.absent.has(key) {
		return ownerAbsent, nil
	}
	_, namespaced, err := c.apiResource(ref.APIVersion, ref.Kind)
	if err != nil {
		return ownerSolid, err
	}
	if !namespaced {
		key.Namespace = ""
	}
	if namespaced && dep.Namespace == "" {
		return ownerSolid, errNamespacedOwnerOfClusterScoped
	}
	live, err := c.getObject(ctx, key)
	if apierrors.IsNotFound(err) {
		live, err = nil, nil
	}
	if err != nil {
		return ownerSolid, err
	}
	st := classifyOwner(ref, live)
	if st == ownerAbsent {
		c.absent.add(key)
	}
	return st, nil
}

// processDeletingDependents finishes a foreground deletion once no
// dependent blocks it, and otherwise pushes the blocking dependents
// along.
func (c *Controller) processDeletingDependents(ctx context.Context, n nodeView) error {
	if len(n.blocking) == 0 {
		c.log.Debug("no blocking dependents left; removing finalizer", "object", n.identity.String())
		return c.removeFinalizer(ctx, n.identity, metav1.FinalizerDeleteDependents)
	}
	for _, dep := range n.blocking {
		if !dep.deletingDependents {
			c.attemptToDelete.Add(string(dep.uid))
		}
	}
	return nil
}

// queueVirtualDelete tells the graph the API server has no object with
// these coordinates and UID.
func (c *Controller) queueVirtualDelete(id objectReference) {
	c.graphEvents.Add(&event{virtual: true, typ: deleteEvent, obj: objectMeta{identity: id}})
}

// orphanParallelism bounds the dependents patched at once.
const orphanParallelism = 8

// orphan is the attemptToOrphan queue's sync: remove the owner's
// references from all its dependents, then its orphan finalizer.
func (c *Controller) orphan(ctx context.Context, key string) error {
	n, ok := c.view(types.UID(key))
	if !ok {
		return nil
	}
	sem := make(chan struct{}, orphanParallelism)
	errs := make([]error, len(n.dependents))
	var wg sync.WaitGroup
	for i, dep := range n.dependents {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = c.removeOwnerRefs(ctx, dep, []types.UID{n.identity.UID})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("orphaning dependents of %s: %w", n.identity, err)
	}
	return c.removeFinalizer(ctx, n.identity, metav1.FinalizerOrphanDependents)
}
