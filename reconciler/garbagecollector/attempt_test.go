package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

// live builds the API server's view of an object.
func live(r objectReference, owners []metav1.OwnerReference, deleting bool, finalizers ...string) runtime.Object {
	m := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: r.APIVersion, Kind: r.Kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: r.Name, UID: r.UID, OwnerReferences: owners, Finalizers: finalizers, ResourceVersion: "5"},
	}
	if deleting {
		now := metav1.Now()
		m.DeletionTimestamp = &now
	}
	return m
}

// newFakeController is a collector whose edges are fakes: a metadata
// client holding objs, a fixed REST mapping and an event recorder.
func newFakeController(t *testing.T, objs ...runtime.Object) (*Controller, *metadatafake.FakeMetadataClient, *record.FakeRecorder) {
	t.Helper()
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	md := metadatafake.NewSimpleMetadataClient(scheme, objs...)
	c := New(k8sfake.NewClientset(), md, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(c.events.Shutdown) // New starts the broadcaster's goroutine
	rec := record.NewFakeRecorder(10)
	c.recorder = rec
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	var rm meta.RESTMapper = m
	c.mapper.Store(&rm)
	return c, md, rec
}

// writes describes the deletes and patches the collector sent.
func writes(t *testing.T, actions []clienttesting.Action) []string {
	t.Helper()
	var out []string
	for _, a := range actions {
		switch a := a.(type) {
		case clienttesting.DeleteAction:
			opts := a.GetDeleteOptions()
			uid := ""
			if opts.Preconditions != nil && opts.Preconditions.UID != nil {
				uid = string(*opts.Preconditions.UID)
			}
			out = append(out, fmt.Sprintf("delete %s %s/%s policy=%s uid=%s", a.GetResource().Resource, a.GetNamespace(), a.GetName(), *opts.PropagationPolicy, uid))
		case clienttesting.PatchAction:
			var p struct {
				Metadata map[string]json.RawMessage `json:"metadata"`
			}
			if a.GetPatchType() != types.MergePatchType {
				t.Errorf("patch type %s", a.GetPatchType())
			}
			if err := json.Unmarshal(a.GetPatch(), &p); err != nil {
				t.Fatal(err)
			}
			var rv string
			_ = json.Unmarshal(p.Metadata["resourceVersion"], &rv)
			s := fmt.Sprintf("patch %s %s/%s rv=%s", a.GetResource().Resource, a.GetNamespace(), a.GetName(), rv)
			if raw, ok := p.Metadata["ownerReferences"]; ok {
				var refs []metav1.OwnerReference
				_ = json.Unmarshal(raw, &refs)
				var names []string
				for _, r := range refs {
					names = append(names, fmt.Sprintf("%s(block=%v)", r.Name, blocks(r)))
				}
				s += " owners=[" + strings.Join(names, ",") + "]"
			}
			if raw, ok := p.Metadata["finalizers"]; ok {
				var fs []string
				_ = json.Unmarshal(raw, &fs)
				s += " finalizers=[" + strings.Join(fs, ",") + "]"
			}
			out = append(out, s)
		}
	}
	return out
}

func drain[T comparable](q interface {
	Len() int
	Get() (T, bool)
	Done(T)
}) []T {
	var out []T
	for q.Len() > 0 {
		item, _ := q.Get()
		q.Done(item)
		out = append(out, item)
	}
	return out
}

func TestAttemptToDeleteItem(t *testing.T) {
	rs := id("ReplicaSet", "ns", "rs")
	pod := id("Pod", "ns", "pod")
	a, b := id("ConfigMap", "ns", "a"), id("ConfigMap", "ns", "b")
	dep := id("ConfigMap", "ns", "dep")
	clusterDep := id("Namespace", "", "cluster-dep")
	replaced := rs
	replaced.UID = "recreated-uid"
	podRefs := []metav1.OwnerReference{refTo(rs, true)}

	tests := []struct {
		name    string
		objs    []runtime.Object
		view    nodeView
		writes  []string
		queued  []string // left in attemptToDelete
		virtual bool     // a virtual delete event was queued
		events  []string
	}{
		{
			name:   "owner gone: deleted in the background, only if still the same object",
			objs:   []runtime.Object{live(pod, podRefs, false)},
			view:   nodeView{identity: pod},
			writes: []string{"delete pods ns/pod policy=Background uid=pod-uid"},
		},
		{
			name:   "owner replaced by another object of the same name: deleted",
			objs:   []runtime.Object{live(pod, podRefs, false), live(replaced, nil, false)},
			view:   nodeView{identity: pod},
			writes: []string{"delete pods ns/pod policy=Background uid=pod-uid"},
		},
		{
			name: "owner live: left alone",
			objs: []runtime.Object{live(pod, podRefs, false), live(rs, nil, false)},
			view: nodeView{identity: pod},
		},
		{
			name: "owner being deleted in the background: still an owner",
			objs: []runtime.Object{live(pod, podRefs, false), live(rs, nil, true, "example.com/x")},
			view: nodeView{identity: pod},
		},
		{
			name: "one owner live, one gone: only the gone one's reference removed",
			objs: []runtime.Object{
				live(dep, []metav1.OwnerReference{refTo(a, false), refTo(b, true)}, false),
				live(a, nil, false),
			},
			view:   nodeView{identity: dep},
			writes: []string{"patch configmaps ns/dep rv=5 owners=[a(block=false)]"},
		},
		{
			name:   "owner waiting for its dependents, no dependents below: background",
			objs:   []runtime.Object{live(pod, podRefs, false), live(rs, nil, true, metav1.FinalizerDeleteDependents)},
			view:   nodeView{identity: pod},
			writes: []string{"delete pods ns/pod policy=Background uid=pod-uid"},
		},
		{
			name: "owner waiting for its dependents, dependents below: foreground",
			objs: []runtime.Object{
				live(dep, []metav1.OwnerReference{refTo(a, true)}, false),
				live(a, nil, true, metav1.FinalizerDeleteDependents),
			},
			view:   nodeView{identity: dep, dependents: []objectReference{pod}},
			writes: []string{"delete configmaps ns/dep policy=Foreground uid=dep-uid"},
		},
		{
			name: "owner waiting, a dependent below waiting too: unblocked, then foreground",
			objs: []runtime.Object{
				live(dep, []metav1.OwnerReference{refTo(a, true)}, false),
				live(a, nil, true, metav1.FinalizerDeleteDependents),
			},
			view: nodeView{identity: dep, dependents: []objectReference{pod}, dependentDeletingDependents: true},
			writes: []string{
				"patch configmaps ns/dep rv=5 owners=[a(block=false)]",
				"delete configmaps ns/dep policy=Foreground uid=dep-uid",
			},
		},
		{
			name:   "object asking to orphan its own dependents keeps that policy",
			objs:   []runtime.Object{live(dep, []metav1.OwnerReference{refTo(a, false)}, false, metav1.FinalizerOrphanDependents)},
			view:   nodeView{identity: dep},
			writes: []string{"delete configmaps ns/dep policy=Orphan uid=dep-uid"},
		},
		{
			name:   "cluster-scoped dependent naming a namespaced owner: left alone, reported",
			objs:   []runtime.Object{live(clusterDep, []metav1.OwnerReference{refTo(a, false)}, false)},
			view:   nodeView{identity: clusterDep},
			events: []string{`Warning OwnerRefInvalidNamespace ownerRef [v1/ConfigMap, namespace: , name: a, uid: a-uid] does not exist in namespace ""`},
		},
		{
			name:    "object gone: the graph is told",
			view:    nodeView{identity: pod},
			virtual: true,
		},
		{
			name:    "object replaced under the same name: the graph is told",
			objs:    []runtime.Object{live(replaced, nil, false)},
			view:    nodeView{identity: rs},
			virtual: true,
		},
		{
			name: "already being deleted, not waiting for dependents: nothing to do",
			objs: []runtime.Object{live(pod, podRefs, true, "example.com/x")},
			view: nodeView{identity: pod, beingDeleted: true},
		},
		{
			name:   "foreground deletion with no blocking dependent left: finalizer removed",
			objs:   []runtime.Object{live(rs, nil, true, "example.com/x", metav1.FinalizerDeleteDependents)},
			view:   nodeView{identity: rs, beingDeleted: true, deletingDependents: true},
			writes: []string{"patch replicasets ns/rs rv=5 finalizers=[example.com/x]"},
		},
		{
			name: "foreground deletion with blocking dependents: they are pushed along",
			objs: []runtime.Object{live(rs, nil, true, metav1.FinalizerDeleteDependents)},
			view: nodeView{identity: rs, beingDeleted: true, deletingDependents: true,
				blocking: []blockingDependent{{uid: "p1"}, {uid: "p2", deletingDependents: true}}},
			queued: []string{"p1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, md, rec := newFakeController(t, tc.objs...)
			err := c.attemptToDeleteItem(context.Background(), tc.view)
			if err != nil && err != errVirtualDeleteQueued && err != errNamespacedOwnerOfClusterScoped {
				t.Fatalf("attemptToDeleteItem: %v", err)
			}
			if got := writes(t, md.Actions()); !reflect.DeepEqual(got, tc.writes) {
				t.Errorf("writes\n got %q\nwant %q", got, tc.writes)
			}
			queued := drain[string](c.attemptToDelete)
			sort.Strings(queued)
			if !reflect.DeepEqual(queued, tc.queued) {
				t.Errorf("queued %v, want %v", queued, tc.queued)
			}
			evs := drain[*event](c.graphEvents)
			if tc.virtual != (len(evs) == 1 && evs[0].virtual && evs[0].obj.identity == tc.view.identity) {
				t.Errorf("graph events %+v, want a virtual delete: %v", evs, tc.virtual)
			}
			var events []string
			for len(rec.Events) > 0 {
				events = append(events, <-rec.Events)
			}
			if !reflect.DeepEqual(events, tc.events) {
				t.Errorf("events %q, want %q", events, tc.events)
			}
		})
	}
}

// TestOrphan: every dependent loses its reference to the owner (and only
// that one), then the owner its orphan finalizer.
func TestOrphan(t *testing.T) {
	owner := id("ReplicaSet", "ns", "rs")
	other := id("ConfigMap", "ns", "a")
	p1, p2, gone := id("Pod", "ns", "p1"), id("Pod", "ns", "p2"), id("Pod", "ns", "gone")
	c, md, _ := newFakeController(t,
		live(owner, nil, true, metav1.FinalizerOrphanDependents),
		live(p1, []metav1.OwnerReference{refTo(owner, true)}, false),
		live(p2, []metav1.OwnerReference{refTo(other, false), refTo(owner, true)}, false),
	)
	for _, ev := range []event{
		add(deleting(obj(owner), metav1.FinalizerOrphanDependents)),
		add(obj(p1, refTo(owner, true))),
		add(obj(p2, refTo(other, false), refTo(owner, true))),
		add(obj(gone, refTo(owner, true))), // deleted since: skipped
	} {
		c.graph.apply(ev)
	}
	if err := c.orphan(context.Background(), string(owner.UID)); err != nil {
		t.Fatal(err)
	}
	got := writes(t, md.Actions())
	sort.Strings(got)
	want := []string{
		"patch pods ns/p1 rv=5 owners=[]",
		"patch pods ns/p2 rv=5 owners=[a(block=false)]",
		"patch replicasets ns/rs rv=5 finalizers=[]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("writes\n got %q\nwant %q", got, want)
	}
	// The finalizer goes last.
	if last := writes(t, md.Actions()); len(last) == 0 || !strings.HasPrefix(last[len(last)-1], "patch replicasets") {
		t.Errorf("finalizer not removed last: %q", last)
	}
}
