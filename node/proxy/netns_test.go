package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// netns creates a fresh network namespace for the test and deletes it at
// cleanup. Without root or the tools the test is skipped, except under
// CI=true, where a missing prerequisite fails it.
func netns(tb testing.TB) string {
	tb.Helper()
	missing := func(format string, args ...any) {
		tb.Helper()
		if os.Getenv("CI") == "true" {
			tb.Fatalf(format, args...)
		}
		tb.Skipf(format, args...)
	}
	if os.Geteuid() != 0 {
		missing("network namespaces need root")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore", "iptables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing("%s is not installed: %v", tool, err)
		}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "cairn-proxy-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		missing("create network namespace %s: %v: %s", name, err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			tb.Errorf("delete network namespace %s: %v: %s", name, err, out)
		}
	})
	return name
}

// nsRunner runs every command inside the network namespace ns.
func nsRunner(ns string) Runner {
	return func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
		return ExecRunner(ctx, stdin, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	}
}

// nsTables is go-iptables with every call made from an OS thread inside
// the network namespace ns: go-iptables forks iptables from the calling
// thread, and a child inherits the namespace of the thread that forked it
// (TestExecInheritsThreadNetns checks this).
type nsTables struct {
	tb  testing.TB
	ns  string
	ipt *iptables.IPTables
}

func newNSTables(tb testing.TB, ns, path string) *nsTables {
	tb.Helper()
	t := &nsTables{tb: tb, ns: ns}
	var err error
	inNetns(tb, ns, func() { t.ipt, err = iptables.New(iptables.Path(path)) })
	if err != nil {
		tb.Fatalf("go-iptables for %s: %v", path, err)
	}
	return t
}

func (t *nsTables) ChainExists(table, chain string) (ok bool, err error) {
	inNetns(t.tb, t.ns, func() { ok, err = t.ipt.ChainExists(table, chain) })
	return ok, err
}

func (t *nsTables) NewChain(table, chain string) (err error) {
	inNetns(t.tb, t.ns, func() { err = t.ipt.NewChain(table, chain) })
	return err
}

func (t *nsTables) Exists(table, chain string, rule ...string) (ok bool, err error) {
	inNetns(t.tb, t.ns, func() { ok, err = t.ipt.Exists(table, chain, rule...) })
	return ok, err
}

func (t *nsTables) Insert(table, chain string, pos int, rule ...string) (err error) {
	inNetns(t.tb, t.ns, func() { err = t.ipt.Insert(table, chain, pos, rule...) })
	return err
}

// nsOptions points opts' commands into the namespace ns.
func nsOptions(tb testing.TB, ns string, opts Options) Options {
	tb.Helper()
	opts.Exec = nsRunner(ns)
	path := opts.Iptables
	if path == "" {
		path = "iptables"
	}
	opts.Tables = newNSTables(tb, ns, path)
	return opts
}

func nsRun(tb testing.TB, ns string, args ...string) string {
	tb.Helper()
	out, err := nsRunner(ns)(context.Background(), nil, args[0], args[1:]...)
	if err != nil {
		tb.Fatal(err)
	}
	return string(out)
}

// chainsAndRules splits iptables-save output into declared chains and rules.
func chainsAndRules(save string) (map[string]bool, []string) {
	chains := map[string]bool{}
	var rules []string
	for _, l := range strings.Split(save, "\n") {
		if c, ok := strings.CutPrefix(l, ":"); ok {
			chains[strings.Fields(c)[0]] = true
		} else if strings.HasPrefix(l, "-A ") {
			rules = append(rules, l)
		}
	}
	return chains, rules
}

func countRules(rules []string, prefix, substr string) int {
	n := 0
	for _, r := range rules {
		if strings.HasPrefix(r, prefix) && strings.Contains(r, substr) {
			n++
		}
	}
	return n
}

func TestIptablesInNetns(t *testing.T) {
	ns := netns(t)
	ctx := context.Background()
	p, err := New(nsOptions(t, ns, Options{ClusterCIDR: "10.244.0.0/16"}))
	if err != nil {
		t.Fatal(err)
	}
	services := []*corev1.Service{
		svc("ns", "web", "172.30.0.1", port("http", 80), port("metrics", 9090)),
		nodePort(svc("ns", "np", "172.30.0.2", port("", 80)), 30080),
		affinity(svc("ns", "sticky", "172.30.0.3", port("", 80)), 60),
		nodePort(svc("ns", "empty", "172.30.0.4", port("", 80)), 30081),
	}
	endpoints := []*corev1.Endpoints{
		eps("ns", "web", []string{"10.244.0.1", "10.244.0.2", "10.244.0.3"}, epPort("http", 8080), epPort("metrics", 9100)),
		eps("ns", "np", []string{"10.244.1.1"}, epPort("", 8080)),
		eps("ns", "sticky", []string{"10.244.2.1", "10.244.2.2"}, epPort("", 8080)),
	}
	p.OnServices(services)
	p.OnEndpoints(endpoints)
	if err := p.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}

	webHTTP := ServicePortChainName("ns/web:http", "tcp")
	removedSEP := ServicePortEndpointChainName("ns/web:http", "tcp", "10.244.0.3:8080")
	npChain := ServicePortChainName("ns/np", "tcp")
	npSEP := ServicePortEndpointChainName("ns/np", "tcp", "10.244.1.1:8080")
	want := Rules(services, endpoints, nil, RuleOptions{}).NATChains
	if len(want) != 4+4+9 {
		t.Fatalf("expected 4 fixed, 4 service port and 9 endpoint chains, got %d: %v", len(want), want)
	}

	chains, rules := chainsAndRules(nsRun(t, ns, "iptables-save", "-t", "nat"))
	for _, c := range want {
		if !chains[c] {
			t.Errorf("nat table lacks chain %s", c)
		}
	}
	for _, c := range []struct{ prefix, substr string }{
		{"-A PREROUTING", "-j KUBE-SERVICES"},
		{"-A OUTPUT", "-j KUBE-SERVICES"},
		{"-A POSTROUTING", "-j KUBE-POSTROUTING"},
		{"-A KUBE-SERVICES", "-d 172.30.0.1/32 -p tcp -m comment --comment \"ns/web:http cluster IP\" -m tcp --dport 80 -j " + webHTTP},
		{"-A KUBE-SERVICES", "-j KUBE-NODEPORTS"},
		{"-A KUBE-NODEPORTS", "--dport 30080 -j " + npChain},
		{"-A " + webHTTP, "--probability 0.33333333349 -j "},
		{"-A " + npSEP, "-j DNAT --to-destination 10.244.1.1:8080"},
		{"-A " + webHTTP, "! -s 10.244.0.0/16"},
		{"-A KUBE-POSTROUTING", "-j MASQUERADE"},
	} {
		if countRules(rules, c.prefix, c.substr) != 1 {
			t.Errorf("nat table has no single rule %q ... %q:\n%s", c.prefix, c.substr, strings.Join(rules, "\n"))
		}
	}
	_, filter := chainsAndRules(nsRun(t, ns, "iptables-save", "-t", "filter"))
	for _, c := range []struct{ prefix, substr string }{
		{"-A KUBE-SERVICES", "-d 172.30.0.4/32"},
		{"-A KUBE-EXTERNAL-SERVICES", "--dport 30081 -j REJECT"},
		{"-A INPUT", "-j KUBE-EXTERNAL-SERVICES"},
		{"-A OUTPUT", "-j KUBE-SERVICES"},
		{"-A FORWARD", "-j KUBE-SERVICES"},
	} {
		if countRules(filter, c.prefix, c.substr) != 1 {
			t.Errorf("filter table has no single rule %q ... %q:\n%s", c.prefix, c.substr, strings.Join(filter, "\n"))
		}
	}

	// Forced syncs rewrite everything but must not add the jumps twice.
	for range 2 {
		if err := p.Sync(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	_, rules = chainsAndRules(nsRun(t, ns, "iptables-save", "-t", "nat"))
	if n := countRules(rules, "-A PREROUTING", "-j KUBE-SERVICES"); n != 1 {
		t.Errorf("%d PREROUTING jumps after three syncs, want 1", n)
	}
	if n := countRules(rules, "-A KUBE-SERVICES", "-j "+webHTTP); n != 1 {
		t.Errorf("%d jumps to %s after three syncs, want 1", n, webHTTP)
	}

	// One endpoint and one Service go away: their chains must go too.
	endpoints[0] = eps("ns", "web", []string{"10.244.0.1", "10.244.0.2"}, epPort("http", 8080), epPort("metrics", 9100))
	p.OnServices(services[:1:1])
	p.OnEndpoints(endpoints)
	if err := p.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	chains, rules = chainsAndRules(nsRun(t, ns, "iptables-save", "-t", "nat"))
	for _, gone := range []string{removedSEP, npChain, npSEP, ServicePortChainName("ns/sticky", "tcp")} {
		if chains[gone] {
			t.Errorf("stale chain %s is still there", gone)
		}
	}
	if !chains[webHTTP] || countRules(rules, "-A "+webHTTP, "--probability 0.50000000000") != 1 {
		t.Errorf("%s should remain with two endpoints:\n%s", webHTTP, strings.Join(rules, "\n"))
	}
	if n := countRules(rules, "-A KUBE-NODEPORTS", ""); n != 0 {
		t.Errorf("%d NodePort rules left after removing the NodePort Service", n)
	}

	// A new proxy (a restart) finds the chains in the table and deletes
	// the ones the state no longer has.
	p2, err := New(nsOptions(t, ns, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	chains, _ = chainsAndRules(nsRun(t, ns, "iptables-save", "-t", "nat"))
	for c := range chains {
		if strings.HasPrefix(c, "KUBE-SVC-") || strings.HasPrefix(c, "KUBE-SEP-") {
			t.Errorf("chain %s survived a sync of an empty state", c)
		}
	}
}

// inNetns runs fn on an OS thread moved into the network namespace ns:
// sockets created by fn belong to ns for their whole life.
func inNetns(tb testing.TB, ns string, fn func()) {
	tb.Helper()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		tb.Fatalf("open network namespace %s: %v", ns, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("open own network namespace: %v", err)
	}
	defer self.Close()
	if err := setns(target); err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("enter network namespace %s: %v", ns, err)
	}
	defer func() {
		// A thread that cannot go back stays locked, so that the runtime
		// ends it instead of reusing it in the wrong namespace.
		if err := setns(self); err != nil {
			tb.Errorf("leave network namespace %s: %v", ns, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

func setns(f *os.File) error {
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// TestTrafficInNetns sends real connections through the rules: servers on
// three endpoint addresses on the loopback, clients dialing the
// ClusterIP and the NodePort, and a Service without endpoints refusing.
func TestTrafficInNetns(t *testing.T) {
	ns := netns(t)
	for _, cmd := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "addr", "add", "10.0.0.100/32", "dev", "lo"},
		{"ip", "addr", "add", "10.244.0.1/32", "dev", "lo"},
		{"ip", "addr", "add", "10.244.0.2/32", "dev", "lo"},
		{"ip", "addr", "add", "10.244.0.3/32", "dev", "lo"},
		// ClusterIPs need a route to be dialed at all; the rules rewrite
		// the destination before it matters where it leads.
		{"ip", "route", "add", "172.30.0.0/16", "dev", "lo", "src", "10.0.0.100"},
	} {
		nsRun(t, ns, cmd...)
	}
	endpointIPs := []string{"10.244.0.1", "10.244.0.2", "10.244.0.3"}
	inNetns(t, ns, func() {
		for _, ip := range endpointIPs {
			l, err := net.Listen("tcp", ip+":8080")
			if err != nil {
				t.Fatalf("listen on endpoint %s: %v", ip, err)
			}
			t.Cleanup(func() { l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					_, _ = c.Write([]byte(ip))
					c.Close()
				}
			}()
		}
	})

	p, err := New(nsOptions(t, ns, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	p.OnServices([]*corev1.Service{
		nodePort(svc("ns", "web", "172.30.0.1", port("http", 80)), 30080),
		svc("ns", "empty", "172.30.0.4", port("", 80)),
	})
	p.OnEndpoints([]*corev1.Endpoints{eps("ns", "web", endpointIPs, epPort("http", 8080))})
	if err := p.Sync(context.Background(), false); err != nil {
		t.Fatal(err)
	}

	dial := func(addr string) (string, error) {
		var reply string
		var err error
		inNetns(t, ns, func() {
			var c net.Conn
			c, err = net.DialTimeout("tcp", addr, 500*time.Millisecond)
			if err != nil {
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			var b []byte
			b, err = io.ReadAll(c)
			reply = string(b)
		})
		return reply, err
	}
	for _, addr := range []string{"172.30.0.1:80", "10.0.0.100:30080"} {
		seen := map[string]int{}
		for range 30 {
			reply, err := dial(addr)
			if err != nil {
				t.Fatalf("dial %s: %v", addr, err)
			}
			if !slices.Contains(endpointIPs, reply) {
				t.Fatalf("dial %s: reply %q is from no endpoint", addr, reply)
			}
			seen[reply]++
		}
		t.Logf("%s: connections per endpoint %v", addr, seen)
	}
	// The ICMP error of REJECT does not make it back over the loopback
	// here, so the test checks that the connection fails and that it was
	// the REJECT rule that stopped it.
	if reply, err := dial("172.30.0.4:80"); err == nil {
		t.Errorf("dial a Service without endpoints succeeded with %q", reply)
	}
	rejected := false
	for _, l := range strings.Split(nsRun(t, ns, "iptables-save", "-c", "-t", "filter"), "\n") {
		if strings.Contains(l, "-A KUBE-SERVICES -d 172.30.0.4/32") && strings.Contains(l, "-j REJECT") {
			rejected = !strings.HasPrefix(l, "[0:")
		}
	}
	if !rejected {
		t.Errorf("no packet hit the REJECT rule of the Service without endpoints")
	}
}
