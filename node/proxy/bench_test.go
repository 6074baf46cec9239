package proxy

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// benchState is n Services with one port and perEndpoints endpoints each;
// every tenth is a NodePort. shift moves every Service's endpoints to other
// addresses, so that consecutive syncs alternate between two states.
func benchState(n, perService, shift int) ([]*corev1.Service, []*corev1.Endpoints) {
	services := make([]*corev1.Service, 0, n)
	endpoints := make([]*corev1.Endpoints, 0, n)
	for i := range n {
		name := fmt.Sprintf("svc-%05d", i)
		s := svc("bench", name, fmt.Sprintf("172.30.%d.%d", i>>8, i&255), port("http", 80))
		if i%10 == 0 {
			s = nodePort(s, int32(30000+i/10))
		}
		services = append(services, s)
		ips := make([]string, 0, perService)
		for j := range perService {
			k := i*perService + j + shift
			ips = append(ips, fmt.Sprintf("10.%d.%d.%d", 64+k>>16, (k>>8)&255, k&255))
		}
		endpoints = append(endpoints, eps("bench", name, ips, epPort("http", 8080)))
	}
	return services, endpoints
}

// syncBackends are the iptables backends the sync benchmarks run with.
//
// iptables-nft-restore 1.8 with --noflush is quadratic in the number of
// chains (about 6 s at 1,000 Services × 10 endpoints and 30 s at 2,000), so
// it is measured at 1,000 Services only.
var syncBackends = []struct {
	name                    string
	iptables, restore, save string
	maxServices             int
}{
	{"nft", "iptables-nft", "iptables-nft-restore", "iptables-nft-save", 1000},
	{"legacy", "iptables-legacy", "iptables-legacy-restore", "iptables-legacy-save", 10000},
}

// benchProxier returns a Proxier for backend be in a fresh network
// namespace, skipping when the backend is missing or, for full syncs, too
// slow for n.
func benchProxier(b *testing.B, be int, n int, fullSyncs bool) *Proxier {
	b.Helper()
	backend := syncBackends[be]
	if fullSyncs && n > backend.maxServices {
		b.Skipf("%s --noflush takes minutes at %d Services", backend.restore, n)
	}
	if _, err := exec.LookPath(backend.restore); err != nil {
		b.Skipf("%s is not installed", backend.restore)
	}
	ns := netns(b)
	p, err := New(nsOptions(b, ns, Options{Iptables: backend.iptables, IptablesRestore: backend.restore, IptablesSave: backend.save, ClusterCIDR: "10.64.0.0/10"}))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// restoreClock measures the iptables-restore runs of a Proxier: wall time
// and the CPU time of the command (user and system), which unlike the wall
// time does not grow when other processes share the machine.
type restoreClock struct {
	run       Runner
	wall, cpu time.Duration
	goCPU     time.Duration // this process's CPU time, for the whole op
	start     syscall.Rusage
}

func clockRestores(p *Proxier) *restoreClock {
	c := &restoreClock{run: p.opts.Exec}
	p.opts.Exec = c.Run
	return c
}

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c *restoreClock) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if !strings.Contains(name, "restore") {
		return c.run(ctx, stdin, name, args...)
	}
	cpu0, t0 := cpuTime(syscall.RUSAGE_CHILDREN), time.Now()
	out, err := c.run(ctx, stdin, name, args...)
	c.wall += time.Since(t0)
	c.cpu += cpuTime(syscall.RUSAGE_CHILDREN) - cpu0
	return out, err
}

// reset starts the measurement; report ends it after ops operations.
func (c *restoreClock) reset() {
	c.wall, c.cpu = 0, 0
	c.goCPU = -cpuTime(syscall.RUSAGE_SELF)
}

func (c *restoreClock) report(b *testing.B, ops int) {
	c.goCPU += cpuTime(syscall.RUSAGE_SELF)
	if ops == 0 {
		return
	}
	b.ReportMetric(c.wall.Seconds()/float64(ops), "restore-s/op")
	b.ReportMetric(c.cpu.Seconds()/float64(ops), "restore-cpu-s/op")
	b.ReportMetric(c.goCPU.Seconds()/float64(ops), "go-cpu-s/op")
}

// BenchmarkSync times one full sync in a fresh network namespace: every
// iteration reads the nat table's chains, checks the jumps, rewrites all
// chains with every Service moved to other endpoint addresses and deletes
// the stale endpoint chains, once with the nf_tables backend of iptables
// and once with the legacy one.
func BenchmarkSync(b *testing.B) {
	for be, backend := range syncBackends {
		for _, n := range []int{1000, 5000, 10000} {
			b.Run(fmt.Sprintf("backend=%s/services=%d/endpoints=10", backend.name, n), func(b *testing.B) {
				p := benchProxier(b, be, n, true)
				var svcs [2][]*corev1.Service
				var eps [2][]*corev1.Endpoints
				for s := range 2 {
					svcs[s], eps[s] = benchState(n, 10, s)
				}
				apply := func(s int) {
					p.OnServices(svcs[s])
					p.OnEndpoints(eps[s])
					if err := p.Sync(context.Background(), true); err != nil {
						b.Fatal(err)
					}
				}
				apply(0)
				rules := Rules(svcs[1], eps[1], nil, RuleOptions{ClusterCIDR: "10.64.0.0/10"}).Rules
				clock := clockRestores(p)
				clock.reset()
				i := 0
				for b.Loop() {
					i++
					apply(i % 2)
				}
				clock.report(b, i)
				b.ReportMetric(float64(rules), "rules")
			})
		}
	}
}

// BenchmarkPartialSync times a partial sync after one Service's endpoints
// changed, with n Services of 10 endpoints in place: the restore rewrites
// the changed Service's chain and its new endpoint chain and deletes its
// old endpoint chain; KUBE-SERVICES does not change. Each iteration
// changes another Service. BenchmarkPartialSyncNewService adds a Service
// instead, which rewrites KUBE-SERVICES too.
func BenchmarkPartialSync(b *testing.B) {
	for be, backend := range syncBackends {
		for _, n := range []int{1000, 5000, 10000} {
			b.Run(fmt.Sprintf("backend=%s/services=%d/endpoints=10", backend.name, n), func(b *testing.B) {
				p, svcs, eps := benchInPlace(b, be, n)
				_, moved := benchState(n, 10, 1)
				rs := chains(svcs, eps, nil, RuleOptions{ClusterCIDR: "10.64.0.0/10"})
				// What the first partial sync writes, from the planner the
				// Proxier uses.
				first := slices.Clone(eps)
				first[0] = moved[0]
				firstRS := chains(svcs, first, nil, RuleOptions{ClusterCIDR: "10.64.0.0/10"})
				plan := Plan(&firstRS, p.applied, nil)
				clock := clockRestores(p)
				clock.reset()
				i := 0
				for b.Loop() {
					// Service k alternates between its two endpoint sets.
					k := (i * 7919) % n
					cur := slices.Clone(eps)
					if (i/n)%2 == 0 {
						cur[k] = moved[k]
					}
					eps = cur
					p.OnEndpoints(eps)
					if err := p.Sync(context.Background(), false); err != nil {
						b.Fatal(err)
					}
					i++
				}
				clock.report(b, i)
				b.ReportMetric(float64(rs.Rules), "rules")
				b.ReportMetric(float64(plan.Rules), "rules-written")
				b.ReportMetric(float64(len(plan.Written)+len(plan.Deleted)), "chains-changed")
			})
		}
	}
}

// benchInPlace returns a Proxier for backend be whose namespace holds the
// rules of n Services with 10 endpoints, as after a full sync. The state is
// put in place by a restore that flushes the tables of the fresh
// namespace, which the nf_tables backend does in seconds where a full sync
// with --noflush takes minutes; then the jumps, and the Proxier is told
// what the tables hold.
func benchInPlace(b *testing.B, be, n int) (*Proxier, []*corev1.Service, []*corev1.Endpoints) {
	b.Helper()
	p := benchProxier(b, be, n, false)
	svcs, eps := benchState(n, 10, 0)
	p.OnServices(svcs)
	p.OnEndpoints(eps)
	rs, cache := cachedChains(svcs, eps, nil, RuleOptions{ClusterCIDR: "10.64.0.0/10"}, nil)
	full := Plan(&rs, nil, nil)
	if _, err := p.opts.Exec(context.Background(), full.Text, p.opts.IptablesRestore, "-w"); err != nil {
		b.Fatal(err)
	}
	if err := p.ensureJumps(); err != nil {
		b.Fatal(err)
	}
	p.applied, p.cache = full.Next, cache
	return p, svcs, eps
}

// BenchmarkPartialSyncNewService times a partial sync that adds a Service
// with 10 endpoints to n in place, or removes it again: KUBE-SERVICES is
// rewritten along with the Service's chains.
func BenchmarkPartialSyncNewService(b *testing.B) {
	for be, backend := range syncBackends {
		for _, n := range []int{1000, 5000, 10000} {
			b.Run(fmt.Sprintf("backend=%s/services=%d/endpoints=10", backend.name, n), func(b *testing.B) {
				p, svcs, eps := benchInPlace(b, be, n)
				// The same objects plus one, as an informer's lister gives.
				extra, extraEps := benchState(n+1, 10, 0)
				more := append(slices.Clone(svcs), extra[n])
				moreEps := append(slices.Clone(eps), extraEps[n])
				clock := clockRestores(p)
				clock.reset()
				i := 0
				for b.Loop() {
					if i%2 == 0 {
						p.OnServices(more)
						p.OnEndpoints(moreEps)
					} else {
						p.OnServices(svcs)
						p.OnEndpoints(eps)
					}
					if err := p.Sync(context.Background(), false); err != nil {
						b.Fatal(err)
					}
					i++
				}
				clock.report(b, i)
			})
		}
	}
}

// BenchmarkPlan times the Go side of a partial sync for 10,000 Services
// with 10 endpoints each, one Service's endpoints changed: computing the
// chains (with the Proxier's cache of each Service's rules, so that only
// the changed Service's are generated) and planning the restore.
func BenchmarkPlan(b *testing.B) {
	svcs, eps := benchState(10000, 10, 0)
	_, moved := benchState(10000, 10, 1)
	opts := RuleOptions{ClusterCIDR: "10.64.0.0/10"}
	before, cache := cachedChains(svcs, eps, nil, opts, nil)
	prev := Plan(&before, nil, nil).Next
	eps = slices.Clone(eps)
	eps[4242] = moved[4242]
	b.ReportAllocs()
	var plan Restore
	for b.Loop() {
		rs, _ := cachedChains(svcs, eps, nil, opts, cache)
		plan = Plan(&rs, prev, nil)
	}
	b.ReportMetric(float64(plan.Rules), "rules-written")
	b.ReportMetric(float64(len(plan.Text)), "bytes")
}

// BenchmarkRules times the pure rule generation for 10,000 Services with
// 10 endpoints each.
func BenchmarkRules(b *testing.B) {
	svcs, eps := benchState(10000, 10, 0)
	b.ReportAllocs()
	var rs Ruleset
	for b.Loop() {
		rs = Rules(svcs, eps, nil, RuleOptions{ClusterCIDR: "10.64.0.0/10"})
	}
	b.ReportMetric(float64(rs.Rules), "rules")
	b.ReportMetric(float64(len(rs.Text)), "bytes")
}
