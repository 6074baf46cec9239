package garbagecollector

import (
	"reflect"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func id(kind, ns, name string) objectReference {
	apiVersion := "v1"
	if kind == "ReplicaSet" {
		apiVersion = "apps/v1"
	}
	return objectReference{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name, UID: types.UID(name + "-uid")}
}

func refTo(owner objectReference, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: owner.APIVersion, Kind: owner.Kind, Name: owner.Name, UID: owner.UID, BlockOwnerDeletion: &block}
}

func obj(identity objectReference, owners ...metav1.OwnerReference) objectMeta {
	return objectMeta{identity: identity, owners: owners}
}

func deleting(m objectMeta, finalizers ...string) objectMeta {
	m.deleting = true
	m.finalizers = finalizers
	return m
}

func add(m objectMeta) event { return event{typ: addEvent, obj: m} }
func update(old, cur objectMeta) event {
	return event{typ: updateEvent, obj: cur, old: &old}
}
func del(m objectMeta) event { return event{typ: deleteEvent, obj: m} }
func virtualDel(r objectReference) event {
	return event{virtual: true, typ: deleteEvent, obj: objectMeta{identity: r}}
}

func uids(rs ...objectReference) []types.UID {
	var out []types.UID
	for _, r := range rs {
		out = append(out, r.UID)
	}
	return out
}

// nodeState is what the tests check of a node.
type nodeState struct {
	identity           objectReference
	virtual            bool
	deletingDependents bool
	dependents         []types.UID
}

func stateOf(g *graph) map[types.UID]nodeState {
	out := map[types.UID]nodeState{}
	for uid, n := range g.nodes {
		s := nodeState{identity: n.identity, virtual: n.virtual, deletingDependents: n.deletingDependents}
		for _, d := range sortedNodes(n.dependents) {
			s.dependents = append(s.dependents, d.identity.UID)
		}
		out[uid] = s
	}
	return out
}

func TestGraphApply(t *testing.T) {
	rs := id("ReplicaSet", "ns", "rs")
	rsElsewhere := rs
	rsElsewhere.Namespace = "other"
	pod := id("Pod", "ns", "pod")
	pod2 := id("Pod", "ns", "pod2")
	podOther := id("Pod", "other", "pod-other")
	node := id("Node", "", "node")
	cm := id("ConfigMap", "ns", "cm")

	tests := []struct {
		name   string
		before []event // applied first; their effects are not checked
		ev     event
		want   effects
		nodes  map[types.UID]nodeState
	}{
		{
			name:  "object without owners",
			ev:    add(obj(cm)),
			nodes: map[types.UID]nodeState{cm.UID: {identity: cm}},
		},
		{
			name: "dependent before its owner: virtual owner, verified by a worker",
			ev:   add(obj(pod, refTo(rs, true))),
			want: effects{attemptToDelete: uids(rs)},
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
				rs.UID:  {identity: rs, virtual: true, dependents: uids(pod)},
			},
		},
		{
			name:   "owner observed: the virtual node becomes real",
			before: []event{add(obj(pod, refTo(rs, true)))},
			ev:     add(obj(rs)),
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
				rs.UID:  {identity: rs, dependents: uids(pod)},
			},
		},
		{
			name:   "owner observed in another namespace than its dependent's",
			before: []event{add(obj(pod, refTo(rs, true)))},
			ev:     add(obj(rsElsewhere)),
			want: effects{
				attemptToDelete: uids(pod),
				invalid:         []invalidOwner{{dependent: pod, owner: refTo(rs, true)}},
			},
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
				rs.UID:  {identity: rsElsewhere, dependents: uids(pod)},
			},
		},
		{
			name:   "dependent added under an observed owner of another namespace",
			before: []event{add(obj(rs))},
			ev:     add(obj(podOther, refTo(rs, false))),
			want: effects{
				attemptToDelete: uids(podOther),
				invalid:         []invalidOwner{{dependent: podOther, owner: refTo(rs, false)}},
			},
			nodes: map[types.UID]nodeState{
				podOther.UID: {identity: podOther},
				rs.UID:       {identity: rs, dependents: uids(podOther)},
			},
		},
		{
			name:   "cluster-scoped owner of a namespaced dependent",
			before: []event{add(obj(node))},
			ev:     add(obj(pod, refTo(node, false))),
			nodes: map[types.UID]nodeState{
				pod.UID:  {identity: pod},
				node.UID: {identity: node, dependents: uids(pod)},
			},
		},
		{
			name:   "owner deleted: dependents looked at, owner known absent",
			before: []event{add(obj(rs)), add(obj(pod, refTo(rs, true))), add(obj(pod2, refTo(rs, true)))},
			ev:     del(obj(rs)),
			want:   effects{attemptToDelete: uids(pod, pod2), absent: []objectReference{rs}},
			nodes: map[types.UID]nodeState{
				pod.UID:  {identity: pod},
				pod2.UID: {identity: pod2},
			},
		},
		{
			name:   "object without dependents deleted",
			before: []event{add(obj(cm))},
			ev:     del(obj(cm)),
			nodes:  map[types.UID]nodeState{},
		},
		{
			name:   "foreground deletion starts: dependents and owner looked at",
			before: []event{add(obj(rs)), add(obj(pod, refTo(rs, true)))},
			ev:     update(obj(rs), deleting(obj(rs), metav1.FinalizerDeleteDependents)),
			want:   effects{attemptToDelete: uids(pod, rs)},
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
				rs.UID:  {identity: rs, deletingDependents: true, dependents: uids(pod)},
			},
		},
		{
			name: "object first seen deleting in the foreground",
			ev:   add(deleting(obj(rs), metav1.FinalizerDeleteDependents)),
			want: effects{attemptToDelete: uids(rs)},
			nodes: map[types.UID]nodeState{
				rs.UID: {identity: rs, deletingDependents: true},
			},
		},
		{
			name:   "orphan deletion starts",
			before: []event{add(obj(rs)), add(obj(pod, refTo(rs, true)))},
			ev:     update(obj(rs), deleting(obj(rs), metav1.FinalizerOrphanDependents)),
			want:   effects{attemptToOrphan: uids(rs)},
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
				rs.UID:  {identity: rs, dependents: uids(pod)},
			},
		},
		{
			name: "update of an object already waiting to orphan starts nothing",
			before: []event{add(obj(rs)), add(obj(pod, refTo(rs, true))),
				update(obj(rs), deleting(obj(rs), metav1.FinalizerOrphanDependents))},
			ev: update(deleting(obj(rs), metav1.FinalizerOrphanDependents), deleting(obj(rs), metav1.FinalizerOrphanDependents)),
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
				rs.UID:  {identity: rs, dependents: uids(pod)},
			},
		},
		{
			name: "blocking dependent deleted: the waiting owner looked at",
			before: []event{add(obj(rs)), add(obj(pod, refTo(rs, true))),
				update(obj(rs), deleting(obj(rs), metav1.FinalizerDeleteDependents))},
			ev:   del(obj(pod, refTo(rs, true))),
			want: effects{attemptToDelete: uids(rs)},
			nodes: map[types.UID]nodeState{
				rs.UID: {identity: rs, deletingDependents: true},
			},
		},
		{
			name: "blocking reference removed: the waiting owner looked at",
			before: []event{add(obj(rs)), add(obj(pod, refTo(rs, true))),
				update(obj(rs), deleting(obj(rs), metav1.FinalizerDeleteDependents))},
			ev:   update(obj(pod, refTo(rs, true)), obj(pod)),
			want: effects{attemptToDelete: uids(rs)},
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
				rs.UID:  {identity: rs, deletingDependents: true},
			},
		},
		{
			name: "blockOwnerDeletion cleared: the waiting owner looked at",
			before: []event{add(obj(rs)), add(obj(pod, refTo(rs, true))),
				update(obj(rs), deleting(obj(rs), metav1.FinalizerDeleteDependents))},
			ev:   update(obj(pod, refTo(rs, true)), obj(pod, refTo(rs, false))),
			want: effects{attemptToDelete: uids(rs)},
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
				rs.UID:  {identity: rs, deletingDependents: true, dependents: uids(pod)},
			},
		},
		{
			name:   "non-blocking reference removed from an owner not waiting",
			before: []event{add(obj(rs)), add(obj(pod, refTo(rs, false)))},
			ev:     update(obj(pod, refTo(rs, false)), obj(pod)),
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
				rs.UID:  {identity: rs},
			},
		},
		{
			name:   "owner reference added to an observed owner",
			before: []event{add(obj(rs)), add(obj(pod))},
			ev:     update(obj(pod), obj(pod, refTo(rs, true))),
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
				rs.UID:  {identity: rs, dependents: uids(pod)},
			},
		},
		{
			name:   "virtual owner confirmed absent: removed, dependents looked at",
			before: []event{add(obj(pod, refTo(rs, true)))},
			ev:     virtualDel(rs),
			want:   effects{attemptToDelete: uids(pod), absent: []objectReference{rs}},
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
			},
		},
		{
			name:   "virtual delete at other coordinates leaves an observed node",
			before: []event{add(obj(rs)), add(obj(pod, refTo(rs, true)))},
			ev:     virtualDel(rsElsewhere),
			nodes: map[types.UID]nodeState{
				pod.UID: {identity: pod},
				rs.UID:  {identity: rs, dependents: uids(pod)},
			},
		},
		{
			name:   "virtual owner absent where some dependents look: tried where the others look",
			before: []event{add(obj(pod, refTo(rs, true))), add(obj(podOther, refTo(rs, true)))},
			ev:     virtualDel(rs),
			want: effects{
				attemptToDelete:      uids(pod),
				attemptToDeleteLater: uids(rs),
				absent:               []objectReference{rs},
			},
			nodes: map[types.UID]nodeState{
				pod.UID:      {identity: pod},
				podOther.UID: {identity: podOther},
				rs.UID:       {identity: rsElsewhere, virtual: true, dependents: uids(podOther, pod)},
			},
		},
		{
			name:  "delete of an object never seen",
			ev:    del(obj(cm)),
			nodes: map[types.UID]nodeState{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGraph()
			for _, ev := range tc.before {
				g.apply(ev)
			}
			got := g.apply(tc.ev)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("effects\n got %+v\nwant %+v", got, tc.want)
			}
			if st := stateOf(g); !reflect.DeepEqual(st, tc.nodes) {
				t.Errorf("graph\n got %+v\nwant %+v", st, tc.nodes)
			}
		})
	}
}

func TestBlockingDependents(t *testing.T) {
	rs := id("ReplicaSet", "ns", "rs")
	g := newGraph()
	g.apply(add(obj(rs)))
	g.apply(add(obj(id("Pod", "ns", "blocks"), refTo(rs, true))))
	g.apply(add(obj(id("Pod", "ns", "does-not"), refTo(rs, false))))
	g.apply(add(obj(id("Pod", "ns", "unset"), metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: rs.UID})))
	var names []string
	for _, n := range g.nodes[rs.UID].blockingDependents() {
		names = append(names, n.identity.Name)
	}
	if !slices.Equal(names, []string{"blocks"}) {
		t.Errorf("blocking dependents %v, want [blocks]", names)
	}
}

func TestReferencesDiffs(t *testing.T) {
	a, b, c := id("ConfigMap", "ns", "a"), id("ConfigMap", "ns", "b"), id("ConfigMap", "ns", "c")
	tests := []struct {
		name           string
		old, cur       []metav1.OwnerReference
		added, removed []types.UID
		changed        int
	}{
		{"same", []metav1.OwnerReference{refTo(a, true)}, []metav1.OwnerReference{refTo(a, true)}, nil, nil, 0},
		{"added", nil, []metav1.OwnerReference{refTo(a, true)}, uids(a), nil, 0},
		{"removed", []metav1.OwnerReference{refTo(a, true), refTo(b, true)}, []metav1.OwnerReference{refTo(b, true)}, nil, uids(a), 0},
		{"changed block", []metav1.OwnerReference{refTo(a, true)}, []metav1.OwnerReference{refTo(a, false)}, nil, nil, 1},
		{"all", []metav1.OwnerReference{refTo(a, true), refTo(b, true)}, []metav1.OwnerReference{refTo(b, false), refTo(c, true)}, uids(c), uids(a), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			added, removed, changed := referencesDiffs(tc.old, tc.cur)
			var ga, gr []types.UID
			for _, r := range added {
				ga = append(ga, r.UID)
			}
			for _, r := range removed {
				gr = append(gr, r.UID)
			}
			if !slices.Equal(ga, tc.added) || !slices.Equal(gr, tc.removed) || len(changed) != tc.changed {
				t.Errorf("added %v removed %v changed %d; want %v %v %d", ga, gr, len(changed), tc.added, tc.removed, tc.changed)
			}
		})
	}
}
