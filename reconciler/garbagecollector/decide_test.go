package garbagecollector

import (
	"encoding/json"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func TestClassifyOwner(t *testing.T) {
	owner := id("ReplicaSet", "ns", "rs")
	ref := refTo(owner, true)
	now := metav1.Now()
	live := func(uid types.UID, deleting bool, finalizers ...string) *metav1.PartialObjectMetadata {
		m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{UID: uid, Finalizers: finalizers}}
		if deleting {
			m.DeletionTimestamp = &now
		}
		return m
	}
	tests := []struct {
		name string
		live *metav1.PartialObjectMetadata
		want ownerState
	}{
		{"missing", nil, ownerAbsent},
		{"replaced by another object of the same name", live("other-uid", false), ownerAbsent},
		{"live", live(owner.UID, false), ownerSolid},
		{"deleting in the foreground", live(owner.UID, true, metav1.FinalizerDeleteDependents), ownerWaiting},
		{"deleting with the orphan policy", live(owner.UID, true, metav1.FinalizerOrphanDependents), ownerSolid},
		{"deleting in the background, held by a finalizer", live(owner.UID, true, "example.com/x"), ownerSolid},
		{"foreground finalizer without deletion", live(owner.UID, false, metav1.FinalizerDeleteDependents), ownerSolid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyOwner(ref, tc.live); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	a, b := refTo(id("ConfigMap", "ns", "a"), true), refTo(id("ConfigMap", "ns", "b"), true)
	refs := func(r ...metav1.OwnerReference) []metav1.OwnerReference { return r }
	tests := []struct {
		name        string
		cls         classification
		dependents  int
		depDeleting bool
		finalizers  []string
		want        decision
	}{
		{"all owners solid", classification{solid: refs(a, b)}, 0, false, nil, decision{kind: actNone}},
		{"one owner gone, one live: reference removed",
			classification{solid: refs(a), dangling: refs(b)}, 0, false, nil,
			decision{kind: actRemoveOwners, removeUIDs: []types.UID{b.UID}}},
		{"live owner and one waiting for it: the waiting reference removed",
			classification{solid: refs(a), waiting: refs(b)}, 3, false, nil,
			decision{kind: actRemoveOwners, removeUIDs: []types.UID{b.UID}}},
		{"all owners gone", classification{dangling: refs(a, b)}, 0, false, nil,
			decision{kind: actDelete, policy: metav1.DeletePropagationBackground}},
		{"all owners gone, object asks to orphan", classification{dangling: refs(a)}, 2, false, []string{metav1.FinalizerOrphanDependents},
			decision{kind: actDelete, policy: metav1.DeletePropagationOrphan}},
		{"all owners gone, object asks for foreground", classification{dangling: refs(a)}, 2, false, []string{metav1.FinalizerDeleteDependents},
			decision{kind: actDelete, policy: metav1.DeletePropagationForeground}},
		{"owner waiting, no dependents of its own", classification{waiting: refs(a)}, 0, false, nil,
			decision{kind: actDelete, policy: metav1.DeletePropagationBackground}},
		{"owner waiting, dependents of its own: foreground", classification{waiting: refs(a), dangling: refs(b)}, 2, false, nil,
			decision{kind: actDelete, policy: metav1.DeletePropagationForeground}},
		{"owner waiting, a dependent waiting too: unblock first", classification{waiting: refs(a)}, 2, true, nil,
			decision{kind: actDelete, policy: metav1.DeletePropagationForeground, unblock: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := decide(tc.cls, tc.dependents, tc.depDeleting, tc.finalizers); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestOwnerRefEdits(t *testing.T) {
	a, b := refTo(id("ConfigMap", "ns", "a"), true), refTo(id("ConfigMap", "ns", "b"), false)
	if got := withoutOwners([]metav1.OwnerReference{a, b}, []types.UID{a.UID}); !reflect.DeepEqual(got, []metav1.OwnerReference{b}) {
		t.Errorf("withoutOwners: %+v", got)
	}
	if got := withoutOwners([]metav1.OwnerReference{a}, []types.UID{a.UID}); got != nil {
		t.Errorf("withoutOwners of the only owner: %+v", got)
	}
	got := unblocked([]metav1.OwnerReference{a, b})
	if blocks(got[0]) || blocks(got[1]) || !blocks(a) {
		t.Errorf("unblocked: %+v (input changed: %v)", got, !blocks(a))
	}
}

func TestPatches(t *testing.T) {
	a := refTo(id("ConfigMap", "ns", "a"), true)
	tests := []struct {
		name string
		make func() ([]byte, error)
		want string
	}{
		{"owner references kept", func() ([]byte, error) { return ownerRefsPatch("u", "7", []metav1.OwnerReference{a}) },
			`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"a","uid":"a-uid","blockOwnerDeletion":true}],"resourceVersion":"7","uid":"u"}}`},
		{"last owner reference removed", func() ([]byte, error) { return ownerRefsPatch("u", "7", nil) },
			`{"metadata":{"ownerReferences":null,"resourceVersion":"7","uid":"u"}}`},
		{"finalizers kept", func() ([]byte, error) { return finalizersPatch("u", "8", []string{"x"}) },
			`{"metadata":{"finalizers":["x"],"resourceVersion":"8","uid":"u"}}`},
		{"last finalizer removed", func() ([]byte, error) { return finalizersPatch("u", "8", nil) },
			`{"metadata":{"finalizers":null,"resourceVersion":"8","uid":"u"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.make()
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal([]byte(tc.want), &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDeletableResources(t *testing.T) {
	all := []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: all},
			{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: []string{"get", "patch", "update"}},
			{Name: "events", Kind: "Event", Namespaced: true, Verbs: all},
			{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: []string{"create"}},
			{Name: "nodes", Kind: "Node", Verbs: all},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "replicasets", Kind: "ReplicaSet", Namespaced: true, Verbs: all},
		}},
		{GroupVersion: "authorization.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "subjectaccessreviews", Kind: "SubjectAccessReview", Verbs: []string{"create"}},
		}},
	}
	ignored := map[schema.GroupResource]bool{}
	for _, gr := range DefaultIgnoredResources() {
		ignored[gr] = true
	}
	got := deletableResources(lists, ignored)
	want := map[schema.GroupVersionResource]schema.GroupVersionKind{
		{Version: "v1", Resource: "pods"}:                       {Version: "v1", Kind: "Pod"},
		{Version: "v1", Resource: "nodes"}:                      {Version: "v1", Kind: "Node"},
		{Group: "apps", Version: "v1", Resource: "replicasets"}: {Group: "apps", Version: "v1", Kind: "ReplicaSet"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestAbsentOwnersBounded(t *testing.T) {
	a := newAbsentOwners(2)
	x, y, z := id("ConfigMap", "ns", "x"), id("ConfigMap", "ns", "y"), id("ConfigMap", "ns", "z")
	a.add(x)
	a.add(y)
	a.add(x) // already there: no reordering, no growth
	a.add(z)
	if a.has(x) || !a.has(y) || !a.has(z) {
		t.Errorf("has x=%v y=%v z=%v; want the oldest (x) evicted", a.has(x), a.has(y), a.has(z))
	}
	recreated := y
	recreated.UID = "new-uid"
	if a.has(recreated) {
		t.Error("an owner recreated under the same name counts as absent")
	}
}
