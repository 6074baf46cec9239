package namespace

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

var (
	cmGVR     = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	podGVR    = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	widgetGVR = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
)

// resources is what discovery reports: configmaps and pods support
// deletecollection, widgets only list and delete, bindings no delete.
var resources = []*metav1.APIResourceList{{
	GroupVersion: "v1",
	APIResources: []metav1.APIResource{
		{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: []string{"list", "delete", "deletecollection"}},
		{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: []string{"list", "delete", "deletecollection"}},
		{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
	},
}, {
	GroupVersion: "example.com/v1",
	APIResources: []metav1.APIResource{{Name: "widgets", Namespaced: true, Kind: "Widget", Verbs: []string{"list", "delete"}}},
}}

func obj(gvr schema.GroupVersionResource, kind, ns, name string, finalizers ...string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(gvr.GroupVersion().String())
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(types.UID("uid-" + name))
	u.SetFinalizers(finalizers)
	return u
}

func terminating(name string, finalizers ...corev1.FinalizerName) *corev1.Namespace {
	ts := metav1.NewTime(time.Unix(1000, 0))
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, DeletionTimestamp: &ts, ResourceVersion: "5"},
		Spec:       corev1.NamespaceSpec{Finalizers: finalizers},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
}

type fixture struct {
	c       *Controller
	client  *fake.Clientset
	dyn     *dynamicfake.FakeDynamicClient
	discErr error
}

func newFixture(t *testing.T, ns *corev1.Namespace, setConditions bool, content ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{client: fake.NewClientset(ns)}
	f.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		cmGVR: "ConfigMapList", podGVR: "PodList", widgetGVR: "WidgetList",
	}, content...)
	// The fake tracker does not implement deletecollection: delete what
	// a list finds, unless a delete reactor holds it.
	f.dyn.PrependReactor("delete-collection", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// Reactors run under the fake's lock: use the tracker directly.
		gvr, ns := a.GetResource(), a.GetNamespace()
		kinds := map[string]string{"configmaps": "ConfigMap", "pods": "Pod", "widgets": "Widget"}
		o, err := f.dyn.Tracker().List(gvr, gvr.GroupVersion().WithKind(kinds[gvr.Resource]), ns)
		if err != nil {
			return true, nil, err
		}
		for _, it := range o.(*unstructured.UnstructuredList).Items {
			if len(it.GetFinalizers()) > 0 {
				ts := metav1.NewTime(time.Unix(2000, 0))
				it.SetDeletionTimestamp(&ts)
				err = f.dyn.Tracker().Update(gvr, &it, ns)
			} else {
				err = f.dyn.Tracker().Delete(gvr, ns, it.GetName())
			}
			if err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
	// Objects with finalizers are held: marking them is all a delete does.
	f.dyn.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.DeleteAction)
		o, err := f.dyn.Tracker().Get(d.GetResource(), d.GetNamespace(), d.GetName())
		if err != nil {
			return false, nil, nil
		}
		u := o.(*unstructured.Unstructured)
		if len(u.GetFinalizers()) == 0 {
			return false, nil, nil
		}
		ts := metav1.NewTime(time.Unix(2000, 0))
		u.SetDeletionTimestamp(&ts)
		return true, nil, f.dyn.Tracker().Update(d.GetResource(), u, d.GetNamespace())
	})
	f.client.PrependReactor("create", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "finalize" {
			return false, nil, nil
		}
		return true, a.(k8stesting.CreateAction).GetObject(), nil
	})
	factory := informers.NewSharedInformerFactory(f.client, 0)
	f.c = New(f.client, factory, Options{Dynamic: f.dyn, SkipConditions: !setConditions,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.c.deleter.discover = func() ([]*metav1.APIResourceList, error) { return resources, f.discErr }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); factory.Shutdown(); f.c.queue.ShutDown() })
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), f.c.synced) {
		t.Fatal("cache did not sync")
	}
	f.client.ClearActions()
	f.dyn.ClearActions()
	return f
}

func (f *fixture) finalized() *corev1.Namespace {
	for _, a := range f.client.Actions() {
		if a.GetSubresource() == "finalize" {
			return a.(k8stesting.CreateAction).GetObject().(*corev1.Namespace)
		}
	}
	return nil
}

func (f *fixture) statusConditions() []corev1.NamespaceCondition {
	var out []corev1.NamespaceCondition
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			out = a.(k8stesting.UpdateAction).GetObject().(*corev1.Namespace).Status.Conditions
		}
	}
	return out
}

func (f *fixture) left(gvr schema.GroupVersionResource, ns string) int {
	l, err := f.dyn.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		panic(err)
	}
	return len(l.Items)
}

func verbsOn(acts []k8stesting.Action, resource string) []string {
	var out []string
	for _, a := range acts {
		if a.GetResource().Resource == resource {
			out = append(out, a.GetVerb())
		}
	}
	return out
}

func condition(cs []corev1.NamespaceCondition, t corev1.NamespaceConditionType) corev1.NamespaceCondition {
	for _, c := range cs {
		if c.Type == t {
			return c
		}
	}
	return corev1.NamespaceCondition{}
}

func TestSync(t *testing.T) {
	content := func() []runtime.Object {
		return []runtime.Object{
			obj(cmGVR, "ConfigMap", "doomed", "a"), obj(cmGVR, "ConfigMap", "doomed", "b"),
			obj(podGVR, "Pod", "doomed", "p"),
			obj(widgetGVR, "Widget", "doomed", "w"),
			obj(cmGVR, "ConfigMap", "other", "keep"),
		}
	}
	tests := []struct {
		name          string
		ns            *corev1.Namespace
		content       []runtime.Object
		discErr       error
		failOn        string // resource whose deletion is refused
		wantFinalized bool
		wantErr       string // "", "remaining", "error"
		wantLeft      map[schema.GroupVersionResource]int
		wantConds     map[corev1.NamespaceConditionType]string // reason
	}{{
		name: "active namespace untouched", ns: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}},
		content:  content(),
		wantLeft: map[schema.GroupVersionResource]int{cmGVR: 2, podGVR: 1, widgetGVR: 1},
	}, {
		name: "finalized namespace untouched", ns: terminating("doomed"),
		content:  content(),
		wantLeft: map[schema.GroupVersionResource]int{cmGVR: 2, podGVR: 1, widgetGVR: 1},
	}, {
		name: "content deleted, then finalized", ns: terminating("doomed", corev1.FinalizerKubernetes, "example.com/other"),
		content: content(), wantFinalized: true,
		wantLeft: map[schema.GroupVersionResource]int{cmGVR: 0, podGVR: 0, widgetGVR: 0},
		wantConds: map[corev1.NamespaceConditionType]string{
			corev1.NamespaceContentRemaining: "ContentRemoved", corev1.NamespaceDeletionContentFailure: "ContentDeleted",
			corev1.NamespaceFinalizersRemaining: "ContentHasNoFinalizers", corev1.NamespaceDeletionDiscoveryFailure: "ResourcesDiscovered",
		},
	}, {
		name: "content with finalizers waits", ns: terminating("doomed", corev1.FinalizerKubernetes),
		content:  append(content(), obj(widgetGVR, "Widget", "doomed", "held", "example.com/hold")),
		wantErr:  "remaining",
		wantLeft: map[schema.GroupVersionResource]int{cmGVR: 0, podGVR: 0, widgetGVR: 1},
		wantConds: map[corev1.NamespaceConditionType]string{
			corev1.NamespaceContentRemaining: ReasonSomeResourcesRemain, corev1.NamespaceFinalizersRemaining: ReasonSomeFinalizersRemain,
			corev1.NamespaceDeletionContentFailure: "ContentDeleted",
		},
	}, {
		name: "partial discovery deletes what it can, does not finalize", ns: terminating("doomed", corev1.FinalizerKubernetes),
		content:   content(),
		discErr:   &discovery.ErrGroupDiscoveryFailed{Groups: map[schema.GroupVersion]error{{Group: "broken.example.com", Version: "v1"}: errors.New("boom")}},
		wantErr:   "error",
		wantLeft:  map[schema.GroupVersionResource]int{cmGVR: 0, podGVR: 0, widgetGVR: 0},
		wantConds: map[corev1.NamespaceConditionType]string{corev1.NamespaceDeletionDiscoveryFailure: ReasonDiscoveryFailed},
	}, {
		name: "refused deletion reported, not finalized", ns: terminating("doomed", corev1.FinalizerKubernetes),
		content: content(), failOn: "pods", wantErr: "error",
		wantLeft: map[schema.GroupVersionResource]int{cmGVR: 0, podGVR: 1, widgetGVR: 0},
		wantConds: map[corev1.NamespaceConditionType]string{
			corev1.NamespaceDeletionContentFailure: ReasonContentDeletionFailed, corev1.NamespaceContentRemaining: "ContentRemoved",
		},
	}}
	for _, tt := range tests {
		for _, setConditions := range []bool{false, true} {
			name := tt.name
			if setConditions {
				name += " with conditions"
			}
			t.Run(name, func(t *testing.T) {
				f := newFixture(t, tt.ns, setConditions, tt.content...)
				f.discErr = tt.discErr
				if tt.failOn != "" {
					f.dyn.PrependReactor("delete-collection", tt.failOn, func(k8stesting.Action) (bool, runtime.Object, error) {
						return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: tt.failOn}, "", errors.New("no"))
					})
				}
				err := f.c.sync(context.Background(), tt.ns.Name)
				var rem *remainingError
				switch {
				case tt.wantErr == "" && err != nil:
					t.Fatalf("sync: %v", err)
				case tt.wantErr == "remaining" && !errors.As(err, &rem):
					t.Fatalf("sync: %v, want content remaining", err)
				case tt.wantErr == "error" && (err == nil || errors.As(err, &rem)):
					t.Fatalf("sync: %v, want an error", err)
				}
				if rem != nil && (rem.after <= 0 || rem.after > f.c.maxRecheck) {
					t.Errorf("recheck after %s", rem.after)
				}
				for gvr, n := range tt.wantLeft {
					if got := f.left(gvr, "doomed"); got != n {
						t.Errorf("%s left: %d, want %d", gvr.Resource, got, n)
					}
				}
				if f.left(cmGVR, "other") != 1 {
					t.Error("another namespace's content was deleted")
				}
				fin := f.finalized()
				if (fin != nil) != tt.wantFinalized {
					t.Fatalf("finalized %v, want %v", fin != nil, tt.wantFinalized)
				}
				if fin != nil {
					if len(fin.Spec.Finalizers) != 1 || fin.Spec.Finalizers[0] != "example.com/other" {
						t.Errorf("finalize sent spec.finalizers %v, want only example.com/other", fin.Spec.Finalizers)
					}
				}
				conds := f.statusConditions()
				if !setConditions {
					if conds != nil {
						t.Errorf("status written with SkipConditions: %+v", conds)
					}
					return
				}
				for typ, reason := range tt.wantConds {
					if got := condition(conds, typ); got.Reason != reason {
						t.Errorf("condition %s: %+v, want reason %s", typ, got, reason)
					}
				}
			})
		}
	}
}

// TestListAndDelete: a resource without deletecollection is listed and
// deleted one by one; one with it gets a single deletecollection.
func TestListAndDelete(t *testing.T) {
	f := newFixture(t, terminating("doomed", corev1.FinalizerKubernetes), false,
		obj(widgetGVR, "Widget", "doomed", "w1"), obj(widgetGVR, "Widget", "doomed", "w2"),
		obj(cmGVR, "ConfigMap", "doomed", "a"), obj(cmGVR, "ConfigMap", "doomed", "b"))
	if err := f.c.sync(context.Background(), "doomed"); err != nil {
		t.Fatal(err)
	}
	acts := f.dyn.Actions()
	count := func(verbs []string, v string) (n int) {
		for _, x := range verbs {
			if x == v {
				n++
			}
		}
		return n
	}
	w, cm := verbsOn(acts, "widgets"), verbsOn(acts, "configmaps")
	if count(w, "delete") != 2 || count(w, "delete-collection") != 0 {
		t.Errorf("widgets: %v, want two deletes", w)
	}
	if count(cm, "delete-collection") != 1 {
		t.Errorf("configmaps: %v, want one deletecollection", cm)
	}
	if len(verbsOn(acts, "bindings")) != 0 {
		t.Error("bindings (no delete verb) touched")
	}
}

// TestConditionsNotRewritten: a second pass with the same outcome writes
// no status.
func TestConditionsNotRewritten(t *testing.T) {
	f := newFixture(t, terminating("doomed", corev1.FinalizerKubernetes), true,
		obj(widgetGVR, "Widget", "doomed", "held", "example.com/hold"))
	_ = f.c.sync(context.Background(), "doomed")
	if f.statusConditions() == nil {
		t.Fatal("no status written")
	}
	// Let the informer see the written status, then sync again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ns, _ := f.c.namespaces.Get("doomed")
		if ns != nil && len(ns.Status.Conditions) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("informer did not see the status")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.client.ClearActions()
	_ = f.c.sync(context.Background(), "doomed")
	if f.statusConditions() != nil {
		t.Error("status rewritten with nothing changed")
	}
}
