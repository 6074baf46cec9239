package nodeipam

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func node(name string, cidrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: k8stypes.UID("uid-" + name)}}
	if len(cidrs) > 0 {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidrs[0], cidrs
	}
	return n
}

// start runs the controller against a fake clientset holding objs until
// the test ends.
func start(t *testing.T, opts Options, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	cs := fake.NewClientset(objs...)
	_ = startWith(t, cs, opts)
	return cs
}

func startWith(t *testing.T, cs *fake.Clientset, opts Options) *Controller {
	t.Helper()
	opts.Logger = discard()
	if opts.Clock == nil {
		opts.Clock = clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	}
	factory := informers.NewSharedInformerFactory(cs, 0)
	c := New(cs, factory, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	factory.Start(ctx.Done())
	go func() { done <- c.Run(ctx, 2) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cidrsOf(t *testing.T, cs *fake.Clientset, name string) []string {
	t.Helper()
	n, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDR != n.Spec.PodCIDRs[0] {
		t.Errorf("node %s: podCIDR %s is not podCIDRs[0] of %v", name, n.Spec.PodCIDR, n.Spec.PodCIDRs)
	}
	return nodePodCIDRs(n)
}

// event finds a recorded event by reason on a node.
func event(cs *fake.Clientset, nodeName, reason string) *corev1.Event {
	evs, err := cs.CoreV1().Events(metav1.NamespaceDefault).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil
	}
	for i, e := range evs.Items {
		if e.Reason == reason && e.InvolvedObject.Name == nodeName && e.InvolvedObject.Kind == "Node" {
			return &evs.Items[i]
		}
	}
	return nil
}

func TestAllocation(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		nodes []*corev1.Node
		// want: node -> podCIDRs once settled.
		want map[string][]string
		// events that must be recorded: node -> reason, message.
		events map[string][2]string
	}{
		{
			name:  "nodes without a range get distinct ones",
			nodes: []*corev1.Node{node("a"), node("b"), node("c")},
		},
		{
			name:  "an existing range is marked before anything is handed out",
			nodes: []*corev1.Node{node("a", "10.244.0.0/24"), node("b")},
			want:  map[string][]string{"a": {"10.244.0.0/24"}, "b": {"10.244.1.0/24"}},
		},
		{
			name:  "a node written with spec.podCIDR alone keeps it",
			nodes: []*corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "old"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24"}}, node("b")},
			want:  map[string][]string{"b": {"10.244.1.0/24"}},
		},
		{
			name:   "a range outside the cluster CIDR is left alone and reported",
			nodes:  []*corev1.Node{node("sim", "10.128.0.0/24"), node("b")},
			want:   map[string][]string{"sim": {"10.128.0.0/24"}, "b": {"10.244.0.0/24"}},
			events: map[string][2]string{"sim": {PodCIDROutOfRange, "Node sim podCIDRs [10.128.0.0/24] lie outside the cluster CIDRs [10.244.0.0/16]"}},
		},
		{
			name:   "an exhausted set says so and allocates nothing",
			opts:   Options{ClusterCIDRs: []netip.Prefix{pfx("10.244.0.0/24")}},
			nodes:  []*corev1.Node{node("a", "10.244.0.0/24"), node("b")},
			want:   map[string][]string{"a": {"10.244.0.0/24"}, "b": nil},
			events: map[string][2]string{"b": {CIDRNotAvailable, "Node b status is now: CIDRNotAvailable"}},
		},
		{
			name:  "dual stack in the cluster CIDRs' order",
			opts:  Options{ClusterCIDRs: []netip.Prefix{pfx("fd00:10:244::/56"), pfx("10.244.0.0/16")}},
			nodes: []*corev1.Node{node("a")},
			want:  map[string][]string{"a": {"fd00:10:244::/64", "10.244.0.0/24"}},
		},
		{
			name:  "a node mask of one's own",
			opts:  Options{NodeCIDRMaskSize: 26},
			nodes: []*corev1.Node{node("a", "10.244.0.0/26"), node("b")},
			want:  map[string][]string{"b": {"10.244.0.64/26"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, n := range tt.nodes {
				objs = append(objs, n)
			}
			cs := start(t, tt.opts, objs...)
			for name, ev := range tt.events {
				var e *corev1.Event
				eventually(t, "event "+ev[0]+" on "+name, func() bool { e = event(cs, name, ev[0]); return e != nil })
				if e.Message != ev[1] {
					t.Errorf("event %s message %q, want %q", ev[0], e.Message, ev[1])
				}
			}
			for name, want := range tt.want {
				if want == nil {
					continue
				}
				eventually(t, "podCIDRs of "+name, func() bool { return slices.Equal(cidrsOf(t, cs, name), want) })
			}
			// Every node meant to get one has a distinct range inside the
			// cluster CIDRs.
			clusters := tt.opts.withDefaults().ClusterCIDRs
			seen := map[string]string{}
			for _, n := range tt.nodes {
				if want, ok := tt.want[n.Name]; ok && want == nil {
					if got := cidrsOf(t, cs, n.Name); len(got) != 0 {
						t.Errorf("node %s got %v, want none", n.Name, got)
					}
					continue
				}
				var got []string
				eventually(t, "a range for "+n.Name, func() bool { got = cidrsOf(t, cs, n.Name); return len(got) > 0 })
				for _, s := range got {
					if other, dup := seen[s]; dup {
						t.Errorf("%s given to both %s and %s", s, other, n.Name)
					}
					seen[s] = n.Name
					if _, ok := tt.events[n.Name]; ok {
						continue
					}
					p := pfx(s)
					if !slices.ContainsFunc(clusters, func(c netip.Prefix) bool { return c.Contains(p.Addr()) }) {
						t.Errorf("node %s: %s outside %v", n.Name, s, clusters)
					}
				}
			}
		})
	}
}

func TestDeletedNodeFreesItsRange(t *testing.T) {
	cs := start(t, Options{ClusterCIDRs: []netip.Prefix{pfx("10.244.0.0/24")}}, node("a", "10.244.0.0/24"), node("b"))
	eventually(t, "b waits for a range", func() bool { return event(cs, "b", CIDRNotAvailable) != nil })
	if err := cs.CoreV1().Nodes().Delete(context.Background(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// No clock step: the release itself wakes b, not b's backoff.
	eventually(t, "b gets a's range", func() bool { return slices.Equal(cidrsOf(t, cs, "b"), []string{"10.244.0.0/24"}) })
}

func TestWriteRetries(t *testing.T) {
	nodesGVR := schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	t.Run("a conflict is retried", func(t *testing.T) {
		cs := fake.NewClientset(node("a"))
		conflicts := 2
		cs.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
			if conflicts > 0 {
				conflicts--
				return true, nil, apierrors.NewConflict(nodesGVR.GroupResource(), "a", nil)
			}
			return false, nil, nil
		})
		startWith(t, cs, Options{})
		eventually(t, "a gets a range", func() bool { return slices.Equal(cidrsOf(t, cs, "a"), []string{"10.244.0.0/24"}) })
		if event(cs, "a", CIDRAssignmentFailed) != nil {
			t.Error("CIDRAssignmentFailed recorded for a write that succeeded on retry")
		}
	})
	t.Run("a range set meanwhile by someone else stands and ours goes back", func(t *testing.T) {
		cs := fake.NewClientset(node("a"), node("b", "10.244.7.0/24"))
		first := true
		cs.PrependReactor("patch", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.(k8stesting.PatchAction).GetName() != "a" || !first {
				return false, nil, nil
			}
			first = false
			// Someone else writes a's range first: ours is refused.
			n, _ := cs.Tracker().Get(nodesGVR, "", "a")
			n.(*corev1.Node).Spec.PodCIDR, n.(*corev1.Node).Spec.PodCIDRs = "10.244.9.0/24", []string{"10.244.9.0/24"}
			_ = cs.Tracker().Update(nodesGVR, n, "")
			return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Node"}, "a", nil)
		})
		c := startWith(t, cs, Options{})
		// The range picked for a (10.244.0.0/24) goes back: only b's and
		// the one a was given elsewhere stay marked.
		eventually(t, "a recorded with the other range", func() bool {
			return slices.Equal(prefixStrings(c.alloc.holds("a")), []string{"10.244.9.0/24"}) && c.alloc.usage()[0].used == 2
		})
		if got := cidrsOf(t, cs, "a"); !slices.Equal(got, []string{"10.244.9.0/24"}) {
			t.Fatalf("a has %v", got)
		}
	})
	t.Run("a write that keeps failing is reported and released", func(t *testing.T) {
		cs := fake.NewClientset(node("a"))
		cs.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewInternalError(errTest)
		})
		c := startWith(t, cs, Options{})
		eventually(t, "CIDRAssignmentFailed and the range released", func() bool {
			return event(cs, "a", CIDRAssignmentFailed) != nil && c.alloc.usage()[0].used == 0
		})
		if got := cidrsOf(t, cs, "a"); len(got) != 0 {
			t.Fatalf("a has %v", got)
		}
	})
}

var errTest = errors.New("etcd is down")
