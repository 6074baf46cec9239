package network

import (
	"context"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, podCIDR string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDR: podCIDR},
		Status:     corev1.NodeStatus{Addresses: addrs},
	}
}

func internal(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func external(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: ip}
}

func TestRoutes(t *testing.T) {
	dualStack := node("d", "", internal("fd00::4"), internal("192.168.0.4"))
	dualStack.Spec.PodCIDRs = []string{"10.88.4.0/24", "fd10:4::/64"}
	for _, tc := range []struct {
		name  string
		nodes []*corev1.Node
		self  string
		want  []string
	}{
		{name: "no nodes"},
		{
			name:  "self only",
			nodes: []*corev1.Node{node("a", "10.88.1.0/24", internal("192.168.0.1"))},
			self:  "a",
		},
		{
			name: "others sorted by name",
			nodes: []*corev1.Node{
				node("c", "10.88.3.0/24", internal("192.168.0.3")),
				node("a", "10.88.1.0/24", internal("192.168.0.1")),
				node("b", "10.88.2.0/24", external("203.0.113.2"), internal("192.168.0.2")),
			},
			self: "a",
			want: []string{"10.88.2.0/24 via 192.168.0.2 (b)", "10.88.3.0/24 via 192.168.0.3 (c)"},
		},
		{
			name: "skips nodes without pod CIDR or InternalIP",
			nodes: []*corev1.Node{
				node("no-cidr", "", internal("192.168.0.5")),
				node("no-ip", "10.88.6.0/24", external("203.0.113.6")),
				node("bad-cidr", "10.88.7.0", internal("192.168.0.7")),
				node("bad-ip", "10.88.8.0/24", internal("nonsense")),
				nil,
				node("ok", "10.88.9.0/24", internal("192.168.0.9")),
			},
			self: "a",
			want: []string{"10.88.9.0/24 via 192.168.0.9 (ok)"},
		},
		{
			name:  "first InternalIP of the pod CIDR's family",
			nodes: []*corev1.Node{dualStack},
			self:  "a",
			want:  []string{"10.88.4.0/24 via 192.168.0.4 (d)", "fd10:4::/64 via fd00::4 (d)"},
		},
		{
			name:  "pod CIDR normalized to its network",
			nodes: []*corev1.Node{node("b", "10.88.2.7/24", internal("192.168.0.2"), internal("192.168.0.22"))},
			want:  []string{"10.88.2.0/24 via 192.168.0.2 (b)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range Routes(tc.nodes, tc.self) {
				got = append(got, r.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Routes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestCrossNode joins two node namespaces by a veth pair, gives each its
// pod CIDR and routes to the other's, and checks that pods reach each
// other with their own addresses, while traffic leaving the cluster CIDR
// is masqueraded.
func TestCrossNode(t *testing.T) {
	requireRoot(t, true)
	ctx := context.Background()
	n1, n1Path := nodeNS(t)
	n2, n2Path := nodeNS(t)
	run(t, n1, "ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink", "netns", n2)
	run(t, n1, "ip", "addr", "add", "192.168.77.1/24", "dev", "uplink")
	run(t, n1, "ip", "link", "set", "uplink", "up")
	run(t, n2, "ip", "addr", "add", "192.168.77.2/24", "dev", "uplink")
	run(t, n2, "ip", "link", "set", "uplink", "up")

	nodes := []*corev1.Node{
		node("node-1", "10.88.1.0/24", internal("192.168.77.1")),
		node("node-2", "10.88.2.0/24", internal("192.168.77.2")),
	}
	sync := func(nodePath, self, podCIDR string, nodes []*corev1.Node) error {
		return Do(nodePath, func() error {
			if err := SyncRoutes(ctx, Routes(nodes, self)); err != nil {
				return err
			}
			return EnsureMasquerade(ctx, podCIDR, "10.88.0.0/16")
		})
	}
	for range 2 { // the second round must change nothing
		if err := sync(n1Path, "node-1", "10.88.1.0/24", nodes); err != nil {
			t.Fatal(err)
		}
		if err := sync(n2Path, "node-2", "10.88.2.0/24", nodes); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{n1, n2} {
		if got := run(t, ns, "cat", "/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(got) != "1" {
			t.Errorf("%s: ip_forward %q", ns, got)
		}
	}
	if _, err := os.Stat("/proc/sys/net/bridge"); err == nil {
		if got := run(t, n1, "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"); strings.TrimSpace(got) != "1" {
			t.Errorf("bridge-nf-call-iptables %q", got)
		}
	}
	if host := strings.TrimSpace(run(t, "", "ip", "route", "show", "proto", "143")); host != "" {
		t.Errorf("cairn routes on the host:\n%s", host)
	}
	if got := strings.TrimSpace(run(t, n1, "ip", "route", "show", "proto", "143")); !strings.HasPrefix(got, "10.88.2.0/24 via 192.168.77.2 dev uplink") ||
		strings.Count(got, "\n") != 0 {
		t.Errorf("node-1 cairn routes:\n%s", got)
	}
	if host := run(t, "", "iptables-save", "-t", "nat"); strings.Contains(host, MasqueradeChain) {
		t.Error("the host's nat table has cairn's masquerade chain")
	}
	nat := run(t, n1, "iptables-save", "-t", "nat")
	if n := strings.Count(nat, "-A CAIRN-POSTROUTING "); n != 1 {
		t.Errorf("%d rules in CAIRN-POSTROUTING, want 1:\n%s", n, nat)
	}
	if n := strings.Count(nat, "-j CAIRN-POSTROUTING"); n != 1 {
		t.Errorf("%d jumps to CAIRN-POSTROUTING, want 1:\n%s", n, nat)
	}
	if !strings.Contains(nat, "-A CAIRN-POSTROUTING -s 10.88.1.0/24 ! -d 10.88.0.0/16 ") {
		t.Errorf("masquerade rule missing:\n%s", nat)
	}

	c1, _ := testCNI(t, "10.88.1.0/24")
	c2, _ := testCNI(t, "10.88.2.0/24")
	dir := netnsDir(t)
	id1, id2 := randomName("pod-1-"), randomName("pod-2-")
	pod1, pod2 := podNS(t, dir, id1), podNS(t, dir, id2)
	ip1 := setUp(t, c1, n1Path, id1, pod1, nil)
	ip2 := setUp(t, c2, n2Path, id2, pod2, nil)
	t.Logf("pod on node-1 %s, pod on node-2 %s", ip1, ip2)

	serve(t, pod2, ":8080")
	seen, err := dial(pod1, net.JoinHostPort(ip2.String(), "8080"))
	if err != nil {
		t.Fatalf("pod on node-1 to pod on node-2: %v", err)
	}
	if seen != ip1.String() {
		t.Errorf("server pod saw %s, want the client pod's %s", seen, ip1)
	}

	// Outside the cluster CIDR (here node-2's own address) the pod's
	// traffic leaves with node-1's address.
	serve(t, n2Path, "192.168.77.2:9090")
	seen, err = dial(pod1, "192.168.77.2:9090")
	if err != nil {
		t.Fatalf("pod on node-1 to node-2: %v", err)
	}
	if seen != "192.168.77.1" {
		t.Errorf("node-2 saw %s, want node-1's 192.168.77.1 (masqueraded)", seen)
	}

	// A route cairn does not own is never touched: not when its
	// destination is wanted, not when cairn's routes go stale.
	run(t, n1, "ip", "route", "add", "10.99.0.0/24", "via", "192.168.77.2")
	clash := append(slices.Clone(nodes), node("node-9", "10.99.0.0/24", internal("192.168.77.9")))
	if err := sync(n1Path, "node-1", "10.88.1.0/24", clash); err == nil || !strings.Contains(err.Error(), "10.99.0.0/24") {
		t.Errorf("SyncRoutes onto a foreign route's destination: %v, want an error naming it", err)
	}
	if got := run(t, n1, "ip", "route", "show", "10.99.0.0/24"); !strings.Contains(got, "via 192.168.77.2") || strings.Contains(got, "proto 143") {
		t.Errorf("hand-added route changed: %s", got)
	}
	if got := strings.TrimSpace(run(t, n1, "ip", "route", "show", "proto", "143")); !strings.HasPrefix(got, "10.88.2.0/24 via 192.168.77.2 ") {
		t.Errorf("cairn routes after the clash:\n%s", got)
	}
	// node-2 is gone: its route goes, the hand-added one stays.
	if err := sync(n1Path, "node-1", "10.88.1.0/24", nodes[:1]); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(run(t, n1, "ip", "route", "show", "proto", "143")); got != "" {
		t.Errorf("stale cairn routes left:\n%s", got)
	}
	if got := run(t, n1, "ip", "route", "show", "10.99.0.0/24"); !strings.Contains(got, "via 192.168.77.2") {
		t.Errorf("hand-added route removed: %q", got)
	}
	if _, err := dial(pod1, net.JoinHostPort(ip2.String(), "8080")); err == nil {
		t.Error("pod on node-2 still reachable without the route")
	}

	// A changed InternalIP moves the route.
	moved := []*corev1.Node{nodes[0], node("node-2", "10.88.2.0/24", internal("192.168.77.20"))}
	if err := sync(n1Path, "node-1", "10.88.1.0/24", moved); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(run(t, n1, "ip", "route", "show", "proto", "143")); !strings.HasPrefix(got, "10.88.2.0/24 via 192.168.77.20 ") {
		t.Errorf("route after InternalIP change:\n%s", got)
	}
}
