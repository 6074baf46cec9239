package statefulset

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func policy(set *appsv1.StatefulSet, whenScaled, whenDeleted appsv1.PersistentVolumeClaimRetentionPolicyType) {
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenScaled: whenScaled, WhenDeleted: whenDeleted}
}

const (
	retain = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	del    = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
)

func TestClaimOwners(t *testing.T) {
	for _, tc := range []struct {
		whenScaled, whenDeleted appsv1.PersistentVolumeClaimRetentionPolicyType
		ordinal                 int // of 2 replicas; 2 is condemned
		bySet, byPod            bool
	}{
		{retain, retain, 0, false, false},
		{retain, retain, 2, false, false},
		{retain, del, 0, true, false},
		{retain, del, 2, true, false},
		{del, retain, 0, false, false},
		{del, retain, 2, false, true},
		{del, del, 0, true, false},
		{del, del, 2, false, true},
	} {
		set := newSet(2)
		policy(set, tc.whenScaled, tc.whenDeleted)
		p := statePod(set, tc.ordinal, "r", ready)
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-" + p.Name,
			// Owned the other way round to start with.
			OwnerReferences: func() []metav1.OwnerReference {
				var refs []metav1.OwnerReference
				if !tc.bySet {
					refs = append(refs, metav1.OwnerReference{Kind: "StatefulSet", Name: "web", UID: set.UID})
				}
				if !tc.byPod {
					refs = append(refs, metav1.OwnerReference{Kind: "Pod", Name: p.Name, UID: p.UID})
				}
				return refs
			}()}}
		if claimOwnersMatch(set, p, claim) {
			t.Errorf("%s/%s web-%d: inverted owners match", tc.whenScaled, tc.whenDeleted, tc.ordinal)
		}
		if !setClaimOwners(set, p, claim) {
			t.Errorf("%s/%s web-%d: nothing changed", tc.whenScaled, tc.whenDeleted, tc.ordinal)
		}
		if hasOwner(claim.OwnerReferences, string(set.UID)) != tc.bySet || hasOwner(claim.OwnerReferences, string(p.UID)) != tc.byPod ||
			!claimOwnersMatch(set, p, claim) || setClaimOwners(set, p, claim) {
			t.Errorf("%s/%s web-%d: owners %+v, want set %v pod %v", tc.whenScaled, tc.whenDeleted, tc.ordinal, claim.OwnerReferences, tc.bySet, tc.byPod)
		}
	}
}

func TestDecideRetention(t *testing.T) {
	claimsOf := func(set *appsv1.StatefulSet, n int, owner func(i int) []metav1.OwnerReference) map[string]*corev1.PersistentVolumeClaim {
		out := map[string]*corev1.PersistentVolumeClaim{}
		for i := range n {
			c := claimsFor(set, newPod(set, i))[0]
			c.OwnerReferences = owner(i)
			out[c.Name] = &c
		}
		return out
	}
	none := func(int) []metav1.OwnerReference { return nil }

	t.Run("whenScaled=Delete: condemned pods own their claims before they go", func(t *testing.T) {
		set := newSet(1)
		policy(set, del, retain)
		rev := revs(t, set, set)
		pods := []*corev1.Pod{statePod(set, 0, rev.current.Name, ready), statePod(set, 1, rev.current.Name, ready), statePod(set, 2, rev.current.Name, ready)}
		got := decide(set, rev, pods, claimsOf(set, 3, none), t0).describe()
		if want := "claim-owners web-2; claim-owners web-1; delete web-2"; got != want {
			t.Errorf("plan %q, want %q", got, want)
		}
	})
	t.Run("whenScaled=Delete: a claim of a gone pod is stale until collected", func(t *testing.T) {
		set := newSet(2)
		policy(set, del, retain)
		rev := revs(t, set, set)
		pods := []*corev1.Pod{statePod(set, 0, rev.current.Name, ready)}
		stale := claimsOf(set, 2, func(i int) []metav1.OwnerReference {
			if i == 1 {
				return []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web-1", UID: types.UID("old")}}
			}
			return nil
		})
		if got := decide(set, rev, pods, stale, t0).describe(); got != "" {
			t.Errorf("plan %q, want nothing", got)
		}
		if got := decide(set, rev, pods, claimsOf(set, 2, none), t0).describe(); got != "create web-1" {
			t.Errorf("plan %q, want create web-1", got)
		}
	})
	t.Run("whenDeleted=Delete: the set owns its replicas' claims", func(t *testing.T) {
		set := newSet(1)
		policy(set, retain, del)
		rev := revs(t, set, set)
		pods := []*corev1.Pod{statePod(set, 0, rev.current.Name, ready)}
		if got := decide(set, rev, pods, claimsOf(set, 1, none), t0).describe(); got != "claim-owners web-0" {
			t.Errorf("plan %q, want claim-owners web-0", got)
		}
	})
}

func TestSyncClaimRetention(t *testing.T) {
	set := newSet(2)
	policy(set, del, del)
	f := newFixture(t, set)
	f.mustSync()
	ctx := context.Background()
	claim := func(name string) *corev1.PersistentVolumeClaim {
		c, err := f.client.CoreV1().PersistentVolumeClaims("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := claim("data-web-0"); len(c.OwnerReferences) != 1 || c.OwnerReferences[0].UID != set.UID || c.OwnerReferences[0].Kind != "StatefulSet" {
		t.Errorf("new claim owners %+v", c.OwnerReferences)
	}
	f.setState("web-0", ready)
	f.mustSync()
	f.setState("web-1", ready)
	web1 := f.pod("web-1")
	web1.UID = "web-1-uid"
	if _, err := f.client.CoreV1().Pods("default").Update(ctx, web1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.updateSet(func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To(int32(1)) })
	f.mustSync()
	c := claim("data-web-1")
	if len(c.OwnerReferences) != 1 || c.OwnerReferences[0].UID != "web-1-uid" || c.OwnerReferences[0].Kind != "Pod" {
		t.Errorf("condemned claim owners %+v", c.OwnerReferences)
	}
	if _, err := f.client.CoreV1().Pods("default").Get(ctx, "web-1", metav1.GetOptions{}); err == nil {
		t.Error("web-1 not deleted")
	}
}
