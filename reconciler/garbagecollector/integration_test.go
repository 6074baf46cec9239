package garbagecollector_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/reconciler/garbagecollector"
	"github.com/cairn-dev/cairn/reconciler/replicaset"
)

const (
	testNS  = "gc-test"
	timeout = 20 * time.Second
	hold    = "example.com/hold"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs an API server, the garbage collector and the ReplicaSet
// controller as the controller-manager identity, and returns an admin
// client.
func start(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	s := apiservertest.Start(t, "", nil)
	admin := s.Client("admin")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	gc, err := garbagecollector.NewForConfig(s.RestConfig("controller-manager"), garbagecollector.Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := gc.Run(ctx, 2); err != nil {
			t.Errorf("Run: %v", err)
		}
		done <- struct{}{}
	}()
	cm := s.Client("controller-manager")
	factory := informers.NewSharedInformerFactory(cm, 0)
	rs := replicaset.New(cm, factory, replicaset.Options{Logger: discard()})
	factory.Start(ctx.Done())
	go func() {
		if err := rs.Run(ctx, 2); err != nil {
			t.Errorf("replicaset Run: %v", err)
		}
		factory.Shutdown()
		done <- struct{}{}
	}()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ctx, admin
}

func ownerRef(apiVersion, kind, name string, uid types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, BlockOwnerDeletion: &block}
}

func newRS(name string, replicas int32, finalizers []string, owners ...metav1.OwnerReference) *appsv1.ReplicaSet {
	labels := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, OwnerReferences: owners},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Finalizers: finalizers},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example/app:1"}}},
			},
		},
	}
}

func createRS(t *testing.T, ctx context.Context, cs kubernetes.Interface, rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	t.Helper()
	out, err := cs.AppsV1().ReplicaSets(testNS).Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func createCM(t *testing.T, ctx context.Context, cs kubernetes.Interface, name string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	out, err := cs.CoreV1().ConfigMaps(testNS).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// podsOf lists the pods of the app label that name the owner uid.
func podsOf(t *testing.T, ctx context.Context, cs kubernetes.Interface, app string) []corev1.Pod {
	t.Helper()
	l, err := cs.CoreV1().Pods(testNS).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func owned(p *corev1.Pod, uid types.UID) bool {
	return slices.ContainsFunc(p.OwnerReferences, func(r metav1.OwnerReference) bool { return r.UID == uid })
}

// waitPods waits for n pods of the app owned by uid.
func waitPods(t *testing.T, ctx context.Context, cs kubernetes.Interface, app string, uid types.UID, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	apiservertest.Eventually(t, timeout, "pods of "+app, func() bool {
		pods = nil
		for _, p := range podsOf(t, ctx, cs, app) {
			if owned(&p, uid) {
				pods = append(pods, p)
			}
		}
		return len(pods) == n
	})
	return pods
}

func gone(err error) bool { return apierrors.IsNotFound(err) }

func deleteWith(policy metav1.DeletionPropagation) metav1.DeleteOptions {
	return metav1.DeleteOptions{PropagationPolicy: &policy}
}

// releasePods removes the hold finalizer from the app's pods.
func releasePods(t *testing.T, ctx context.Context, cs kubernetes.Interface, app string) {
	t.Helper()
	for _, p := range podsOf(t, ctx, cs, app) {
		_, err := cs.CoreV1().Pods(testNS).Patch(ctx, p.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		if err != nil && !gone(err) {
			t.Fatal(err)
		}
	}
}

// TestBackgroundDeletion: deleting a ReplicaSet deletes its pods; an
// object with an owner that never existed is deleted; a ConfigMap owned
// by two owners survives the deletion of one and loses only its
// reference.
func TestBackgroundDeletion(t *testing.T) {
	ctx, cs := start(t)
	rs := createRS(t, ctx, cs, newRS("web", 3, nil))
	waitPods(t, ctx, cs, "web", rs.UID, 3)

	ownerA := createCM(t, ctx, cs, "owner-a")
	ownerB := createCM(t, ctx, cs, "owner-b")
	shared := createCM(t, ctx, cs, "shared",
		ownerRef("v1", "ConfigMap", "owner-a", ownerA.UID, false),
		ownerRef("v1", "ConfigMap", "owner-b", ownerB.UID, false))
	stray := createCM(t, ctx, cs, "stray", ownerRef("v1", "ConfigMap", "never-was", "0d0d0d0d-0000-4000-8000-000000000000", false))

	if err := cs.AppsV1().ReplicaSets(testNS).Delete(ctx, rs.Name, deleteWith(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps(testNS).Delete(ctx, ownerA.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, timeout, "pods of the deleted ReplicaSet gone", func() bool {
		return len(podsOf(t, ctx, cs, "web")) == 0
	})
	apiservertest.Eventually(t, timeout, "configmap with an absent owner gone", func() bool {
		_, err := cs.CoreV1().ConfigMaps(testNS).Get(ctx, stray.Name, metav1.GetOptions{})
		return gone(err)
	})
	var got *corev1.ConfigMap
	apiservertest.Eventually(t, timeout, "reference to the deleted owner removed", func() bool {
		var err error
		got, err = cs.CoreV1().ConfigMaps(testNS).Get(ctx, shared.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("shared configmap: %v", err)
		}
		return len(got.OwnerReferences) == 1
	})
	if got.UID != shared.UID || got.OwnerReferences[0].UID != ownerB.UID {
		t.Errorf("shared configmap %s owners %+v; want the same object owned by owner-b only", got.UID, got.OwnerReferences)
	}
	if _, err := cs.CoreV1().ConfigMaps(testNS).Get(ctx, ownerB.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("owner-b: %v", err)
	}
}

// TestForegroundDeletion: a ReplicaSet deleted in the foreground stays,
// with its deletionTimestamp and the foregroundDeletion finalizer, while
// its pods (blockOwnerDeletion) exist, and goes once they are gone.
func TestForegroundDeletion(t *testing.T) {
	ctx, cs := start(t)
	// The pods carry a finalizer of their own, so that they outlive their
	// deletion until the test lets them go.
	rs := createRS(t, ctx, cs, newRS("web", 2, []string{hold}))
	waitPods(t, ctx, cs, "web", rs.UID, 2)

	if err := cs.AppsV1().ReplicaSets(testNS).Delete(ctx, rs.Name, deleteWith(metav1.DeletePropagationForeground)); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, timeout, "pods being deleted", func() bool {
		pods := podsOf(t, ctx, cs, "web")
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				return false
			}
		}
		return len(pods) > 0
	})
	got, err := cs.AppsV1().ReplicaSets(testNS).Get(ctx, rs.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ReplicaSet gone while its pods remain: %v", err)
	}
	if got.DeletionTimestamp == nil || !slices.Contains(got.Finalizers, metav1.FinalizerDeleteDependents) {
		t.Fatalf("ReplicaSet deletionTimestamp %v finalizers %v; want being deleted with %s", got.DeletionTimestamp, got.Finalizers, metav1.FinalizerDeleteDependents)
	}

	releasePods(t, ctx, cs, "web")
	apiservertest.Eventually(t, timeout, "ReplicaSet gone", func() bool {
		_, err := cs.AppsV1().ReplicaSets(testNS).Get(ctx, rs.Name, metav1.GetOptions{})
		return gone(err)
	})
	if pods := podsOf(t, ctx, cs, "web"); len(pods) != 0 {
		t.Errorf("%d pods left after the ReplicaSet went", len(pods))
	}
}

// TestOrphanDeletion: a ReplicaSet deleted with the orphan policy goes and
// its pods stay, without a reference to it.
func TestOrphanDeletion(t *testing.T) {
	ctx, cs := start(t)
	rs := createRS(t, ctx, cs, newRS("web", 2, nil))
	before := waitPods(t, ctx, cs, "web", rs.UID, 2)

	if err := cs.AppsV1().ReplicaSets(testNS).Delete(ctx, rs.Name, deleteWith(metav1.DeletePropagationOrphan)); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, timeout, "ReplicaSet gone", func() bool {
		_, err := cs.AppsV1().ReplicaSets(testNS).Get(ctx, rs.Name, metav1.GetOptions{})
		return gone(err)
	})
	// The orphan finalizer goes only after every pod lost its reference.
	for _, p := range before {
		got, err := cs.CoreV1().Pods(testNS).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("orphaned pod %s: %v", p.Name, err)
		}
		if got.UID != p.UID || owned(got, rs.UID) || got.DeletionTimestamp != nil {
			t.Errorf("pod %s: uid %s (was %s), owners %+v, deletionTimestamp %v; want the same pod, live, without the ReplicaSet's reference",
				p.Name, got.UID, p.UID, got.OwnerReferences, got.DeletionTimestamp)
		}
	}
}

// TestCascadeChain: a ConfigMap owning a ReplicaSet owning pods; deleting
// the ConfigMap cascades down the chain, in the background and in the
// foreground, where each level waits for the one below: while the pods
// are held by a finalizer, the ReplicaSet and the ConfigMap both stay,
// marked for deletion with the foregroundDeletion finalizer.
func TestCascadeChain(t *testing.T) {
	ctx, cs := start(t)
	for _, tc := range []struct {
		app    string
		policy metav1.DeletionPropagation
	}{
		{"bg", metav1.DeletePropagationBackground},
		{"fg", metav1.DeletePropagationForeground},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			foreground := tc.policy == metav1.DeletePropagationForeground
			var finalizers []string
			if foreground {
				finalizers = []string{hold}
			}
			root := createCM(t, ctx, cs, "root-"+tc.app)
			rs := createRS(t, ctx, cs, newRS(tc.app, 2, finalizers, ownerRef("v1", "ConfigMap", root.Name, root.UID, true)))
			waitPods(t, ctx, cs, tc.app, rs.UID, 2)
			if err := cs.CoreV1().ConfigMaps(testNS).Delete(ctx, root.Name, deleteWith(tc.policy)); err != nil {
				t.Fatal(err)
			}
			if foreground {
				waiting := func(m metav1.ObjectMeta) bool {
					return m.DeletionTimestamp != nil && slices.Contains(m.Finalizers, metav1.FinalizerDeleteDependents)
				}
				apiservertest.Eventually(t, timeout, "ReplicaSet waiting for its pods being deleted", func() bool {
					got, err := cs.AppsV1().ReplicaSets(testNS).Get(ctx, rs.Name, metav1.GetOptions{})
					if err != nil {
						t.Fatalf("ReplicaSet gone while its pods remain: %v", err)
					}
					pods := podsOf(t, ctx, cs, tc.app)
					return waiting(got.ObjectMeta) && len(pods) > 0 && !slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.DeletionTimestamp == nil })
				})
				got, err := cs.CoreV1().ConfigMaps(testNS).Get(ctx, root.Name, metav1.GetOptions{})
				if err != nil || !waiting(got.ObjectMeta) {
					t.Fatalf("root while the chain below remains: %v %+v; want it waiting with %s", err, got, metav1.FinalizerDeleteDependents)
				}
				releasePods(t, ctx, cs, tc.app)
			}
			apiservertest.Eventually(t, timeout, "chain gone", func() bool {
				_, rootErr := cs.CoreV1().ConfigMaps(testNS).Get(ctx, root.Name, metav1.GetOptions{})
				_, rsErr := cs.AppsV1().ReplicaSets(testNS).Get(ctx, rs.Name, metav1.GetOptions{})
				return gone(rootErr) && gone(rsErr) && len(podsOf(t, ctx, cs, tc.app)) == 0
			})
		})
	}
}

// TestInvalidNamespaceOwner: a namespaced dependent naming an owner that
// lives in another namespace has no owner in its own: it is collected,
// and an OwnerRefInvalidNamespace warning is recorded on it.
func TestInvalidNamespaceOwner(t *testing.T) {
	ctx, cs := start(t)
	const other = "gc-other"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	owner, err := cs.CoreV1().ConfigMaps(other).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Let the collector observe the owner first, so that it can tell the
	// reference is across namespaces.
	witness := createCM(t, ctx, cs, "witness-stray", ownerRef("v1", "ConfigMap", "nobody", "0e0e0e0e-0000-4000-8000-000000000000", false))
	apiservertest.Eventually(t, timeout, "collector running", func() bool {
		_, err := cs.CoreV1().ConfigMaps(testNS).Get(ctx, witness.Name, metav1.GetOptions{})
		return gone(err)
	})
	dep := createCM(t, ctx, cs, "dependent", ownerRef("v1", "ConfigMap", owner.Name, owner.UID, false))
	apiservertest.Eventually(t, timeout, "dependent collected", func() bool {
		_, err := cs.CoreV1().ConfigMaps(testNS).Get(ctx, dep.Name, metav1.GetOptions{})
		return gone(err)
	})
	apiservertest.Eventually(t, timeout, "OwnerRefInvalidNamespace event", func() bool {
		l, err := cs.CoreV1().Events(testNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		return slices.ContainsFunc(l.Items, func(e corev1.Event) bool {
			return e.Reason == garbagecollector.OwnerRefInvalidNamespace && e.InvolvedObject.UID == dep.UID && e.Type == corev1.EventTypeWarning
		})
	})
	if _, err := cs.CoreV1().ConfigMaps(other).Get(ctx, owner.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("owner in the other namespace: %v", err)
	}
}
