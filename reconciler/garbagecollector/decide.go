package garbagecollector

import (
	"encoding/json"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// classification sorts a dependent's owner references by the owners'
// live state, as Kubernetes' classifyReferences: dangling owners are
// absent (or another object by now), waiting ones are being deleted in
// the foreground, and every other owner is solid.
type classification struct {
	solid, dangling, waiting []metav1.OwnerReference
}

// ownerState is what a live lookup found for one owner reference.
type ownerState int

const (
	ownerSolid ownerState = iota
	ownerAbsent
	ownerWaiting
)

// classifyOwner: absent when missing or when the live object has another
// UID; waiting when it has a deletionTimestamp and the foregroundDeletion
// finalizer; else solid, also when it is being deleted otherwise.
func classifyOwner(ref metav1.OwnerReference, live *metav1.PartialObjectMetadata) ownerState {
	if live == nil || live.UID != ref.UID {
		return ownerAbsent
	}
	if live.DeletionTimestamp != nil && slices.Contains(live.Finalizers, metav1.FinalizerDeleteDependents) {
		return ownerWaiting
	}
	return ownerSolid
}

func (c *classification) add(ref metav1.OwnerReference, s ownerState) {
	switch s {
	case ownerAbsent:
		c.dangling = append(c.dangling, ref)
	case ownerWaiting:
		c.waiting = append(c.waiting, ref)
	default:
		c.solid = append(c.solid, ref)
	}
}

type actionKind int

const (
	// actNone: leave the object alone.
	actNone actionKind = iota
	// actRemoveOwners: patch out the references to removeUIDs.
	actRemoveOwners
	// actDelete: delete the object with policy, after clearing
	// blockOwnerDeletion on its references when unblock is set.
	actDelete
)

// decision is what attemptToDelete does with a dependent.
type decision struct {
	kind       actionKind
	removeUIDs []types.UID
	unblock    bool
	policy     metav1.DeletionPropagation
}

// decide is the core of Kubernetes' attemptToDeleteItem for an object
// that is not itself deleting its dependents:
//   - with a solid owner left it stays, losing its references to absent
//     owners and to owners waiting for it (their foreground deletion must
//     not wait for an object that is not going);
//   - with owners waiting for it and dependents of its own it is deleted
//     in the foreground so that the wait covers its dependents too; if one
//     of those is itself waiting for dependents, its blockOwnerDeletion
//     references are cleared first to break a possible cycle;
//   - otherwise it is deleted, keeping the policy its own finalizers ask
//     for.
func decide(c classification, dependents int, dependentDeletingDependents bool, finalizers []string) decision {
	switch {
	case len(c.solid) > 0:
		if len(c.dangling) == 0 && len(c.waiting) == 0 {
			return decision{kind: actNone}
		}
		var uids []types.UID
		for _, r := range append(slices.Clone(c.dangling), c.waiting...) {
			uids = append(uids, r.UID)
		}
		return decision{kind: actRemoveOwners, removeUIDs: uids}
	case len(c.waiting) > 0 && dependents > 0:
		return decision{kind: actDelete, policy: metav1.DeletePropagationForeground, unblock: dependentDeletingDependents}
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case slices.Contains(finalizers, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case slices.Contains(finalizers, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		return decision{kind: actDelete, policy: policy}
	}
}

// withoutOwners returns refs minus the references to uids.
func withoutOwners(refs []metav1.OwnerReference, uids []types.UID) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, r := range refs {
		if !slices.Contains(uids, r.UID) {
			out = append(out, r)
		}
	}
	return out
}

// unblocked returns refs with blockOwnerDeletion cleared wherever set.
func unblocked(refs []metav1.OwnerReference) []metav1.OwnerReference {
	out := make([]metav1.OwnerReference, len(refs))
	f := false
	for i, r := range refs {
		if blocks(r) {
			r.BlockOwnerDeletion = &f
		}
		out[i] = r
	}
	return out
}

// ownerRefsPatch is a JSON merge patch replacing the ownerReferences,
// conditional on the UID and resourceVersion they were computed from, as
// Kubernetes' deleteOwnerRefJSONMergePatch.
func ownerRefsPatch(uid types.UID, resourceVersion string, refs []metav1.OwnerReference) ([]byte, error) {
	var list any = refs
	if len(refs) == 0 {
		list = nil // null removes the field
	}
	return json.Marshal(map[string]any{"metadata": map[string]any{
		"uid": uid, "resourceVersion": resourceVersion, "ownerReferences": list,
	}})
}

// finalizersPatch is a JSON merge patch replacing the finalizers,
// conditional on the resourceVersion, as Kubernetes' removeFinalizer.
func finalizersPatch(uid types.UID, resourceVersion string, finalizers []string) ([]byte, error) {
	var list any = finalizers
	if len(finalizers) == 0 {
		list = nil
	}
	return json.Marshal(map[string]any{"metadata": map[string]any{
		"uid": uid, "resourceVersion": resourceVersion, "finalizers": list,
	}})
}
