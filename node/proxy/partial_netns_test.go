package proxy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestExecInheritsThreadNetns checks what nsTables relies on: a command
// started from a goroutine locked to a thread inside a network namespace
// runs in that namespace, and go-iptables' changes land there and not on
// the host.
func TestExecInheritsThreadNetns(t *testing.T) {
	ns := netns(t)
	fi, err := os.Stat("/var/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("net:[%d]", fi.Sys().(*syscall.Stat_t).Ino)
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	inNetns(t, ns, func() {
		var out []byte
		out, err = exec.Command("readlink", "/proc/self/ns/net").Output()
		got = strings.TrimSpace(string(out))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != want || got == host {
		t.Fatalf("child of a thread in %s runs in %s, want %s (host %s)", ns, got, want, host)
	}

	chain := "CAIRN-NSTEST-" + strings.ToUpper(ns[len(ns)-8:])
	tables := newNSTables(t, ns, "iptables")
	if err := tables.NewChain("filter", chain); err != nil {
		t.Fatal(err)
	}
	if ok, err := tables.ChainExists("filter", chain); err != nil || !ok {
		t.Fatalf("go-iptables does not see its chain %s in the namespace: %v %v", chain, ok, err)
	}
	if !strings.Contains(nsRun(t, ns, "iptables-save", "-t", "filter"), ":"+chain+" ") {
		t.Errorf("chain %s is not in the namespace's filter table", chain)
	}
	if out, err := exec.Command("iptables", "-t", "filter", "-S", chain).CombinedOutput(); err == nil {
		t.Errorf("chain %s leaked onto the host: %s", chain, out)
	}
}

// normalizedSave is iptables-save output of the filter and nat tables
// with comments and counters dropped, chain declarations sorted and rules
// grouped by chain in their order: two tables with the same content give
// the same text whatever order their chains were created in.
func normalizedSave(tb testing.TB, ns, save string) string {
	tb.Helper()
	var out []string
	for _, table := range []string{"filter", "nat"} {
		text := nsRun(tb, ns, save, "-t", table)
		var decls, rules []string
		for _, l := range strings.Split(text, "\n") {
			switch {
			case strings.HasPrefix(l, ":"):
				f := strings.Fields(l)
				decls = append(decls, f[0]+" "+f[1])
			case strings.HasPrefix(l, "-A "):
				rules = append(rules, l)
			}
		}
		slices.Sort(decls)
		// The order of KUBE-SERVICES' rules does not matter, except that
		// the jump to KUBE-NODEPORTS comes last: partial syncs insert new
		// rules at the top.
		key := func(r string) string {
			if strings.HasPrefix(r, "-A KUBE-SERVICES ") && table == "nat" {
				if strings.HasSuffix(r, "-j KUBE-NODEPORTS") {
					return "KUBE-SERVICES\x01"
				}
				return "KUBE-SERVICES\x00" + r
			}
			return strings.Fields(r)[1]
		}
		slices.SortStableFunc(rules, func(a, b string) int { return strings.Compare(key(a), key(b)) })
		out = append(out, "*"+table)
		out = append(out, decls...)
		out = append(out, rules...)
	}
	return strings.Join(out, "\n") + "\n"
}

// restoreRecorder keeps the input of every iptables-restore it runs.
type restoreRecorder struct {
	run    Runner
	mu     sync.Mutex
	inputs []string
}

func (r *restoreRecorder) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if strings.Contains(name, "restore") {
		r.mu.Lock()
		r.inputs = append(r.inputs, string(stdin))
		r.mu.Unlock()
	}
	return r.run(ctx, stdin, name, args...)
}

func (r *restoreRecorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inputs[len(r.inputs)-1]
}

// TestPartialSyncMatchesFullInNetns applies a series of changes with
// partial syncs in one namespace and checks after each that the tables are
// what a full sync of the same state gives in a fresh namespace, with both
// backends of iptables.
func TestPartialSyncMatchesFullInNetns(t *testing.T) {
	backends := []struct{ name, iptables, restore, save string }{
		{"default", "iptables", "iptables-restore", "iptables-save"},
		{"legacy", "iptables-legacy", "iptables-legacy-restore", "iptables-legacy-save"},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			if _, err := exec.LookPath(be.restore); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s is not installed", be.restore)
				}
				t.Skipf("%s is not installed", be.restore)
			}
			ns := netns(t)
			opts := Options{Iptables: be.iptables, IptablesRestore: be.restore, IptablesSave: be.save, ClusterCIDR: "10.244.0.0/16"}
			o := nsOptions(t, ns, opts)
			rec := &restoreRecorder{run: o.Exec}
			o.Exec = rec.Run
			p, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			services, endpoints := planState()
			services = append(services, affinity(svc("ns", "sticky", "172.30.0.4", port("", 80)), 60))
			endpoints = append(endpoints, eps("ns", "sticky", []string{"10.244.2.1", "10.244.2.2"}, epPort("", 8080)))
			// Twenty more Services, so that adding or removing one edits
			// KUBE-SERVICES rule by rule.
			more, moreEps := benchState(20, 2, 0)
			services = append(services, more...)
			endpoints = append(endpoints, moreEps...)
			sync := func(step string) {
				t.Helper()
				p.OnServices(services)
				p.OnEndpoints(endpoints)
				if err := p.Sync(context.Background(), false); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
			}
			sync("first sync")

			steps := []struct {
				name    string
				change  func()
				partial bool // the restore must not declare web's unchanged endpoint chains
				edits   bool // the restore edits KUBE-SERVICES rule by rule
			}{
				{"one endpoint of web changes", func() {
					endpoints[0] = eps("ns", "web", []string{"10.244.0.1", "10.244.0.2", "10.244.0.9"}, epPort("http", 8080))
				}, true, false},
				{"db is removed", func() { services = slices.Delete(services, 1, 2) }, true, true},
				{"sticky loses its endpoints", func() {
					endpoints = slices.DeleteFunc(endpoints, func(e *corev1.Endpoints) bool { return e.Name == "sticky" })
				}, true, true},
				{"a NodePort service with endpoints is added", func() {
					services = append(services, nodePort(svc("ns", "np", "172.30.0.5", port("", 80)), 30080))
					endpoints = append(endpoints, eps("ns", "np", []string{"10.244.3.1"}, epPort("", 8080)))
				}, true, true},
				{"sticky's endpoints come back with another timeout", func() {
					services[2] = affinity(svc("ns", "sticky", "172.30.0.4", port("", 80)), 120)
					endpoints = append(endpoints, eps("ns", "sticky", []string{"10.244.2.1"}, epPort("", 8080)))
				}, true, true},
				{"half the Services go", func() { services = services[:12] }, true, false},
				{"everything goes", func() { services, endpoints = nil, nil }, false, false},
			}
			unchanged := ServicePortEndpointChainName("ns/web:http", "tcp", "10.244.0.1:8080")
			for _, step := range steps {
				step.change()
				sync(step.name)
				in := rec.last()
				if step.partial && strings.Contains(in, ":"+unchanged+" ") {
					t.Errorf("%s: the partial sync redeclared the unchanged chain %s:\n%s", step.name, unchanged, in)
				}
				if edited := strings.Contains(in, "\n-I KUBE-SERVICES 1 ") || strings.Contains(in, "\n-D KUBE-SERVICES "); edited != step.edits {
					t.Errorf("%s: KUBE-SERVICES edited rule by rule: %v, want %v:\n%s", step.name, edited, step.edits, in)
				}
				got := normalizedSave(t, ns, be.save)

				fresh := netns(t)
				q, err := New(nsOptions(t, fresh, opts))
				if err != nil {
					t.Fatal(err)
				}
				q.OnServices(services)
				q.OnEndpoints(endpoints)
				if err := q.Sync(context.Background(), true); err != nil {
					t.Fatalf("%s: full sync: %v", step.name, err)
				}
				if want := normalizedSave(t, fresh, be.save); got != want {
					t.Errorf("%s: tables after a partial sync differ from a full sync's\n--- partial\n%s--- full\n%s", step.name, got, want)
				}
			}
		})
	}
}
