package nodeipam_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
	"github.com/cairn-dev/cairn/reconciler/nodeipam"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runController runs a node IPAM controller as the controller-manager
// identity; the returned stop waits for it to end.
func runController(t *testing.T, s *apiservertest.Server, opts nodeipam.Options) (stop func()) {
	t.Helper()
	cm := s.Client("controller-manager")
	factory := informers.NewSharedInformerFactory(cm, 0)
	opts.Logger = discard()
	c := nodeipam.New(cm, factory, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx, 2); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	factory.Start(ctx.Done())
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		factory.Shutdown()
	}
	t.Cleanup(stop)
	return stop
}

func createNodes(t *testing.T, cs kubernetes.Interface, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n-%d", i)}}
		if _, err := cs.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// ranges waits until the nodes n-from..n-to-1 all have a range and
// returns them by node, failing on a duplicate or a range outside cluster.
func ranges(t *testing.T, cs kubernetes.Interface, cluster netip.Prefix, from, to int) map[string]string {
	t.Helper()
	got := map[string]string{}
	apiservertest.Eventually(t, 30*time.Second, fmt.Sprintf("nodes n-%d..n-%d get pod CIDRs", from, to-1), func() bool {
		nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		clear(got)
		for _, n := range nodes.Items {
			if len(n.Spec.PodCIDRs) > 0 {
				got[n.Name] = n.Spec.PodCIDRs[0]
			}
		}
		for i := from; i < to; i++ {
			if got[fmt.Sprintf("n-%d", i)] == "" {
				return false
			}
		}
		return true
	})
	holder := map[string]string{}
	for name, cidr := range got {
		if other, dup := holder[cidr]; dup {
			t.Fatalf("%s given to both %s and %s", cidr, other, name)
		}
		holder[cidr] = name
		if name == "sim-0" {
			continue
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil || p.Bits() != 24 || !cluster.Contains(p.Addr()) {
			t.Fatalf("node %s: %s is not a /24 of %v", name, cidr, cluster)
		}
	}
	return got
}

func findEvent(cs kubernetes.Interface, node, reason string) *corev1.Event {
	evs, err := cs.CoreV1().Events(metav1.NamespaceDefault).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil
	}
	for i, e := range evs.Items {
		if e.InvolvedObject.Kind == "Node" && e.InvolvedObject.Name == node && e.Reason == reason {
			return &evs.Items[i]
		}
	}
	return nil
}

func TestPodCIDRs(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	admin := s.Client("admin")
	// 64 /24s: 50 nodes, 14 more after a restart, then none left.
	cluster := netip.MustParsePrefix("10.244.0.0/18")
	opts := nodeipam.Options{ClusterCIDRs: []netip.Prefix{cluster}}

	// A simulated node registers with a range of its own outside the
	// cluster CIDR: it keeps it.
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan struct{})
	t.Cleanup(func() { cancel(); <-simDone })
	nodes, err := sim.New(sim.Config{Client: admin, Nodes: []sim.NodeSpec{{Name: "sim-0"}}, NoPods: true, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { defer close(simDone); _ = nodes.Run(ctx) }()
	<-nodes.Registered()
	simNode, err := admin.CoreV1().Nodes().Get(ctx, "sim-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	simCIDR := simNode.Spec.PodCIDR

	stop := runController(t, s, opts)
	createNodes(t, admin, 0, 50)
	first := ranges(t, admin, cluster, 0, 50)
	if first["sim-0"] != simCIDR {
		t.Errorf("the simulated node's range changed from %s to %s", simCIDR, first["sim-0"])
	}
	apiservertest.Eventually(t, 30*time.Second, "the simulated node's range reported", func() bool {
		return findEvent(admin, "sim-0", nodeipam.PodCIDROutOfRange) != nil
	})

	outer := t
	t.Run("a restarted controller hands out no range twice", func(t *testing.T) {
		stop()
		// Nodes added while no controller runs wait for the next one,
		// which must first learn the 50 ranges already given.
		createNodes(t, admin, 50, 64)
		runController(outer, s, opts)
		all := ranges(t, admin, cluster, 0, 64)
		for name, cidr := range first {
			if all[name] != cidr {
				t.Errorf("node %s: range changed from %s to %s", name, cidr, all[name])
			}
		}
	})

	t.Run("a deleted node frees its range for the next node", func(t *testing.T) {
		createNodes(t, admin, 64, 65)
		apiservertest.Eventually(t, 30*time.Second, "CIDRNotAvailable on n-64", func() bool {
			e := findEvent(admin, "n-64", nodeipam.CIDRNotAvailable)
			return e != nil && e.Message == "Node n-64 status is now: CIDRNotAvailable"
		})
		freed := first["n-7"]
		if err := admin.CoreV1().Nodes().Delete(ctx, "n-7", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		apiservertest.Eventually(t, 30*time.Second, "n-64 gets n-7's range", func() bool {
			n, err := admin.CoreV1().Nodes().Get(ctx, "n-64", metav1.GetOptions{})
			return err == nil && n.Spec.PodCIDR == freed && len(n.Spec.PodCIDRs) == 1 && n.Spec.PodCIDRs[0] == freed
		})
	})
}
