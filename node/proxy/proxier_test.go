package proxy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// fakeIptables records commands and answers them from a canned nat table.
type fakeIptables struct {
	mu        sync.Mutex
	calls     []string
	restores  []string
	save      string
	jumps     map[string]bool // rules present in built-in chains
	chains    map[string]bool // chains go-iptables created
	failApply bool
}

func (f *fakeIptables) run(_ context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := name + " " + strings.Join(args, " ")
	f.calls = append(f.calls, line)
	switch name {
	case "iptables-save":
		return []byte(f.save), nil
	case "iptables-restore":
		if f.failApply {
			return []byte("iptables-restore: line 3 failed"), errors.New("exit status 1")
		}
		f.restores = append(f.restores, string(stdin))
		return nil, nil
	}
	return nil, errors.New("unexpected command " + line)
}

// The fake is also the Proxier's Tables; its calls are recorded as
// "tables <op> <table> <chain> <rule>".
func (f *fakeIptables) record(op, table, chain string, rule []string) string {
	key := table + " " + chain + " " + strings.Join(rule, " ")
	f.calls = append(f.calls, "tables "+op+" "+key)
	return key
}

func (f *fakeIptables) ChainExists(table, chain string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("exists-chain", table, chain, nil)
	return f.chains[table+" "+chain], nil
}

func (f *fakeIptables) NewChain(table, chain string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("new-chain", table, chain, nil)
	if f.chains == nil {
		f.chains = map[string]bool{}
	}
	f.chains[table+" "+chain] = true
	return nil
}

func (f *fakeIptables) Exists(table, chain string, rule ...string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jumps[f.record("exists", table, chain, rule)], nil
}

func (f *fakeIptables) Insert(table, chain string, pos int, rule ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pos != 1 {
		return errors.New("jump not inserted at the top")
	}
	f.jumps[f.record("insert", table, chain, rule)] = true
	return nil
}

func TestProxierSync(t *testing.T) {
	ctx := context.Background()
	f := &fakeIptables{jumps: map[string]bool{}, save: "*nat\n:KUBE-SVC-OLDOLDOLDOLDOLDO - [0:0]\n:KUBE-SEP-OLDOLDOLDOLDOLDO - [0:0]\nCOMMIT\n"}
	p, err := New(Options{Exec: f.run, Tables: f, ClusterCIDR: "10.244.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	web := svc("ns", "web", "172.30.0.1", port("http", 80))
	db := svc("ns", "db", "172.30.0.2", port("", 5432))
	p.OnServices([]*corev1.Service{web, db})
	p.OnEndpoints([]*corev1.Endpoints{
		eps("ns", "web", []string{"10.244.0.1", "10.244.0.2"}, epPort("http", 8080)),
		eps("ns", "db", []string{"10.244.0.3"}, epPort("", 5432)),
	})

	// First sync: read the table, add the chains and the six jumps, apply
	// in one restore.
	if err := p.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := countPrefix(f.calls, "iptables-save"); got != 1 {
		t.Errorf("%d iptables-save calls, want 1: %v", got, f.calls)
	}
	if got := countPrefix(f.calls, "iptables-restore -w --noflush --counters"); got != 1 {
		t.Errorf("%d restores, want 1: %v", got, f.calls)
	}
	if got := countPrefix(f.calls, "tables insert nat PREROUTING"); got != 1 {
		t.Errorf("PREROUTING jump inserted %d times, want 1: %v", got, f.calls)
	}
	if got := len(f.jumps); got != len(jumps) {
		t.Errorf("%d jumps, want %d", got, len(jumps))
	}
	first := f.restores[0]
	for _, want := range []string{"-X KUBE-SVC-OLDOLDOLDOLDOLDO", "-X KUBE-SEP-OLDOLDOLDOLDOLDO", ServicePortChainName("ns/web:http", "tcp"), "! -s 10.244.0.0/16"} {
		if !strings.Contains(first, want) {
			t.Errorf("first restore lacks %q", want)
		}
	}

	// The same state again writes nothing.
	n := len(f.calls)
	if err := p.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != n {
		t.Errorf("unchanged state ran commands: %v", f.calls[n:])
	}
	// A forced sync rewrites and checks the jumps, but adds none.
	if err := p.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := countPrefix(f.calls[n:], "tables exists nat"); got != 3 {
		t.Errorf("forced sync checked %d nat jumps, want 3: %v", got, f.calls[n:])
	}
	if got := countPrefix(f.calls[n:], "tables insert"); got != 0 {
		t.Errorf("forced sync inserted existing jumps: %v", f.calls[n:])
	}
	if got := countPrefix(f.calls[n:], "iptables-restore"); got != 1 {
		t.Errorf("forced sync: %d restores, want 1", got)
	}

	// Removing db deletes its chains; the old chains are not deleted twice.
	p.OnServices([]*corev1.Service{web})
	if err := p.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	last := f.restores[len(f.restores)-1]
	dbChain := ServicePortChainName("ns/db", "tcp")
	dbSEP := ServicePortEndpointChainName("ns/db", "tcp", "10.244.0.3:5432")
	for _, want := range []string{"-X " + dbChain, "-X " + dbSEP} {
		if !strings.Contains(last, want) {
			t.Errorf("restore after removing db lacks %q:\n%s", want, last)
		}
	}
	if strings.Contains(last, "OLDOLD") {
		t.Errorf("chains deleted earlier are deleted again:\n%s", last)
	}

	// A failed restore is an error naming what failed, and the next sync
	// reads the table again because its state is unknown.
	f.failApply = true
	p.OnServices([]*corev1.Service{web, db})
	err = p.Sync(ctx, false)
	if err == nil || !strings.Contains(err.Error(), "apply") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("failed restore: err = %v", err)
	}
	f.failApply = false
	n = len(f.calls)
	if err := p.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := countPrefix(f.calls[n:], "iptables-save"); got != 1 {
		t.Errorf("sync after a failure read the table %d times, want 1", got)
	}
}

func TestNewOptions(t *testing.T) {
	if _, err := New(Options{MinSyncPeriod: time.Minute, SyncPeriod: time.Second}); err == nil {
		t.Error("New accepted a sync period shorter than the min sync period")
	}
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.opts.MinSyncPeriod != time.Second || p.opts.SyncPeriod != 30*time.Second || p.opts.IptablesRestore != "iptables-restore" {
		t.Errorf("defaults not applied: %+v", p.opts)
	}
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeIptables) lastRestore() (string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.restores) == 0 {
		return "", 0
	}
	return f.restores[len(f.restores)-1], len(f.restores)
}

// TestProxierRun drives Run with a fake API client: a new Service with
// endpoints gets its chains, and deleting it deletes them.
func TestProxierRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeIptables{jumps: map[string]bool{}}
	p, err := New(Options{Exec: f.run, Tables: f, MinSyncPeriod: 10 * time.Millisecond, SyncPeriod: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, client) }()

	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if text, _ := f.lastRestore(); ok(text) {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		text, n := f.lastRestore()
		t.Fatalf("no restore %s after %d restores; last:\n%s", what, n, text)
	}
	waitFor("of the empty state", func(text string) bool { return strings.Contains(text, "*nat") })

	chain := ServicePortChainName("ns/web:http", "tcp")
	if _, err := client.CoreV1().Services("ns").Create(ctx, svc("ns", "web", "172.30.0.1", port("http", 80)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("rejecting the Service without endpoints", func(text string) bool { return strings.Contains(text, "ns/web:http has no endpoints") })
	if _, err := client.CoreV1().Endpoints("ns").Create(ctx, eps("ns", "web", []string{"10.244.0.1"}, epPort("http", 8080)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("with the Service chain", func(text string) bool { return strings.Contains(text, ":"+chain+" ") })
	if err := client.CoreV1().Services("ns").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("deleting the Service chain", func(text string) bool { return strings.Contains(text, "-X "+chain) })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
