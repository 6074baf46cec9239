package statefulset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The claims' retention policy is carried out by the garbage collector,
// through owner references the controller keeps on the claims, as in
// Kubernetes: whenDeleted=Delete makes the set an owner of every claim,
// whenScaled=Delete makes a condemned pod the owner of its claims, so
// that deleting the set or the pod takes the claims with it.

func retentionPolicy(set *appsv1.StatefulSet) (whenScaled, whenDeleted appsv1.PersistentVolumeClaimRetentionPolicyType) {
	whenScaled, whenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		if p.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			whenScaled = p.WhenScaled
		}
		if p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			whenDeleted = p.WhenDeleted
		}
	}
	return whenScaled, whenDeleted
}

// wantClaimOwners is which of the set and the pod should own the pod's
// claims under the set's retention policy.
func wantClaimOwners(set *appsv1.StatefulSet, p *corev1.Pod) (bySet, byPod bool) {
	whenScaled, whenDeleted := retentionPolicy(set)
	const del = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	scaledDown := !inOrdinalRange(set, p)
	switch {
	case whenScaled == del && whenDeleted == del:
		return !scaledDown, scaledDown
	case whenScaled == del:
		return false, scaledDown
	case whenDeleted == del:
		return true, false
	}
	return false, false
}

func hasOwner(refs []metav1.OwnerReference, uid string) bool {
	for _, r := range refs {
		if string(r.UID) == uid {
			return true
		}
	}
	return false
}

// claimOwnersMatch: the claim's owner references are what the policy
// wants (Kubernetes' claimOwnerMatchesSetAndPod).
func claimOwnersMatch(set *appsv1.StatefulSet, p *corev1.Pod, claim *corev1.PersistentVolumeClaim) bool {
	bySet, byPod := wantClaimOwners(set, p)
	return hasOwner(claim.OwnerReferences, string(set.UID)) == bySet &&
		(p.UID == "" || hasOwner(claim.OwnerReferences, string(p.UID)) == byPod)
}

// setClaimOwners adds and removes the set's and the pod's (plain, not
// controller) owner references as the policy wants; it reports whether
// anything changed.
func setClaimOwners(set *appsv1.StatefulSet, p *corev1.Pod, claim *corev1.PersistentVolumeClaim) bool {
	bySet, byPod := wantClaimOwners(set, p)
	changed := setOwned(claim, bySet, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: set.Name, UID: set.UID})
	if p.UID != "" {
		changed = setOwned(claim, byPod, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: p.UID}) || changed
	}
	return changed
}

func setOwned(claim *corev1.PersistentVolumeClaim, want bool, ref metav1.OwnerReference) bool {
	has := hasOwner(claim.OwnerReferences, string(ref.UID))
	switch {
	case want && !has:
		claim.OwnerReferences = append(claim.OwnerReferences, ref)
		return true
	case !want && has:
		claim.OwnerReferences = without(claim.OwnerReferences, ref.UID)
		return true
	}
	return false
}

// claimIsStale: with whenScaled=Delete, a claim still owned by an
// earlier pod of the same name is about to be collected with it; the
// new pod must wait rather than mount it (Kubernetes' PodClaimIsStale).
func claimIsStale(set *appsv1.StatefulSet, p *corev1.Pod, claims map[string]*corev1.PersistentVolumeClaim) bool {
	if whenScaled, _ := retentionPolicy(set); whenScaled != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		return false
	}
	for _, want := range claimsFor(set, p) {
		c := claims[want.Name]
		if c == nil {
			continue
		}
		for _, r := range c.OwnerReferences {
			if r.Kind == "Pod" && r.Name == p.Name && r.UID != p.UID {
				return true
			}
		}
	}
	return false
}

// claimsMatchPolicy: every existing claim of the pod has the owners the
// policy wants.
func claimsMatchPolicy(set *appsv1.StatefulSet, p *corev1.Pod, claims map[string]*corev1.PersistentVolumeClaim) bool {
	for _, want := range claimsFor(set, p) {
		if c := claims[want.Name]; c != nil && !claimOwnersMatch(set, p, c) {
			return false
		}
	}
	return true
}
