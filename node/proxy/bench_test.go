package proxy

import (
	"context"
	"fmt"
	"os/exec"
	"testing"

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

// BenchmarkSync times one full sync through iptables-restore in a fresh
// network namespace: every iteration rewrites all chains, moves every
// Service to other endpoint addresses and deletes the stale endpoint
// chains, once with the nf_tables backend of iptables and once with the
// legacy one.
//
// iptables-nft-restore 1.8 with --noflush is quadratic in the number of
// chains (about 6 s at 1,000 Services × 10 endpoints and 30 s at 2,000), so
// it is measured at 1,000 Services only.
func BenchmarkSync(b *testing.B) {
	backends := []struct {
		name                    string
		iptables, restore, save string
		maxServices             int
	}{
		{"nft", "iptables-nft", "iptables-nft-restore", "iptables-nft-save", 1000},
		{"legacy", "iptables-legacy", "iptables-legacy-restore", "iptables-legacy-save", 10000},
	}
	for _, be := range backends {
		for _, n := range []int{1000, 5000, 10000} {
			b.Run(fmt.Sprintf("backend=%s/services=%d/endpoints=10", be.name, n), func(b *testing.B) {
				if n > be.maxServices {
					b.Skipf("iptables-%s-restore --noflush takes minutes at %d Services", be.name, n)
				}
				if _, err := exec.LookPath(be.restore); err != nil {
					b.Skipf("%s is not installed", be.restore)
				}
				ns := netns(b)
				p, err := New(Options{Exec: nsRunner(ns), Iptables: be.iptables, IptablesRestore: be.restore, IptablesSave: be.save, ClusterCIDR: "10.64.0.0/10"})
				if err != nil {
					b.Fatal(err)
				}
				var svcs [2][]*corev1.Service
				var eps [2][]*corev1.Endpoints
				for s := range 2 {
					svcs[s], eps[s] = benchState(n, 10, s)
				}
				apply := func(s int) {
					p.OnServices(svcs[s])
					p.OnEndpoints(eps[s])
					if err := p.Sync(context.Background(), false); err != nil {
						b.Fatal(err)
					}
				}
				apply(0)
				rules := Rules(svcs[1], eps[1], nil, RuleOptions{ClusterCIDR: "10.64.0.0/10"}).Rules
				i := 0
				for b.Loop() {
					i++
					apply(i % 2)
				}
				b.ReportMetric(float64(rules), "rules")
			})
		}
	}
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
