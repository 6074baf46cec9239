package proxy

import (
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// planState is a small cluster: web (3 endpoints), db (1 endpoint, a
// NodePort) and empty (no endpoints).
func planState() ([]*corev1.Service, []*corev1.Endpoints) {
	return []*corev1.Service{
			svc("ns", "web", "172.30.0.1", port("http", 80)),
			nodePort(svc("ns", "db", "172.30.0.2", port("", 5432)), 30432),
			svc("ns", "empty", "172.30.0.3", port("", 80)),
		}, []*corev1.Endpoints{
			eps("ns", "web", []string{"10.244.0.1", "10.244.0.2", "10.244.0.3"}, epPort("http", 8080)),
			eps("ns", "db", []string{"10.244.1.1"}, epPort("", 5432)),
		}
}

// declared returns the chains a restore input declares in the nat table.
func declared(text []byte) []string {
	var out []string
	nat := false
	for _, l := range strings.Split(string(text), "\n") {
		switch {
		case l == "*nat":
			nat = true
		case nat && strings.HasPrefix(l, ":"):
			out = append(out, strings.Fields(l[1:])[0])
		}
	}
	return out
}

func TestPlan(t *testing.T) {
	web := ServicePortChainName("ns/web:http", "tcp")
	webSEP := func(ip string) string { return ServicePortEndpointChainName("ns/web:http", "tcp", ip+":8080") }
	db := ServicePortChainName("ns/db", "tcp")
	dbSEP := ServicePortEndpointChainName("ns/db", "tcp", "10.244.1.1:5432")
	top := []string{ChainServices, ChainNodePorts, ChainPostrouting, ChainMarkMasq}

	type change func(s []*corev1.Service, e []*corev1.Endpoints) ([]*corev1.Service, []*corev1.Endpoints)
	tests := []struct {
		name        string
		full        bool // plan without a previous state
		existing    []string
		change      change
		wantNoop    bool
		wantTop     []string // top-level chains and "*filter" rewritten
		wantWritten []string // service and endpoint chains, in order
		wantDeleted []string
		wantText    []string // substrings of the input
		wantNotText []string
	}{
		{
			name:        "full sync writes every chain and deletes stale existing ones",
			full:        true,
			existing:    []string{ChainServices, "KUBE-SVC-OLD", "KUBE-SEP-OLD", "KUBE-FOO", web},
			wantTop:     slices.Concat(top, []string{"*filter"}),
			wantWritten: []string{db, dbSEP, web, webSEP("10.244.0.1"), webSEP("10.244.0.2"), webSEP("10.244.0.3")},
			wantDeleted: []string{"KUBE-SEP-OLD", "KUBE-SVC-OLD"},
			wantText:    []string{"-X KUBE-SVC-OLD\n", ":KUBE-SEP-OLD - [0:0]\n", "has no endpoints"},
			wantNotText: []string{"KUBE-FOO"},
		},
		{
			name:     "nothing changed",
			wantNoop: true,
		},
		{
			name:        "partial sync also deletes stale existing chains",
			existing:    []string{"KUBE-SVC-OLD", web},
			wantDeleted: []string{"KUBE-SVC-OLD"},
			wantText:    []string{"-X KUBE-SVC-OLD\n"},
			wantNotText: []string{"-X " + web},
		},
		{
			name: "one endpoint removed rewrites the service chain and deletes the endpoint's",
			change: func(s []*corev1.Service, e []*corev1.Endpoints) ([]*corev1.Service, []*corev1.Endpoints) {
				e[0] = eps("ns", "web", []string{"10.244.0.1", "10.244.0.2"}, epPort("http", 8080))
				return s, e
			},
			wantWritten: []string{web},
			wantDeleted: []string{webSEP("10.244.0.3")},
			wantText:    []string{"--probability 0.5000000000 -j " + webSEP("10.244.0.1")},
			// KUBE-SERVICES still jumps to the same chain: it is left alone.
			wantNotText: []string{":" + db + " ", ":" + webSEP("10.244.0.1") + " ", "-A " + dbSEP, "-A " + ChainServices + " ", "-A " + ChainNodePorts + " ", "*filter"},
		},
		{
			name: "new endpoint writes the service chain and the new endpoint chain only",
			change: func(s []*corev1.Service, e []*corev1.Endpoints) ([]*corev1.Service, []*corev1.Endpoints) {
				e[0] = eps("ns", "web", []string{"10.244.0.1", "10.244.0.2", "10.244.0.3", "10.244.0.4"}, epPort("http", 8080))
				return s, e
			},
			wantWritten: []string{web, webSEP("10.244.0.4")},
		},
		{
			name: "service removed deletes its chains and drops its top-level rules",
			change: func(s []*corev1.Service, e []*corev1.Endpoints) ([]*corev1.Service, []*corev1.Endpoints) {
				return []*corev1.Service{s[0], s[2]}, e
			},
			wantTop:     []string{ChainServices, ChainNodePorts},
			wantDeleted: []string{dbSEP, db},
			wantText:    []string{":" + db + " - [0:0]\n", "-X " + db + "\n"},
			wantNotText: []string{"--dport 30432", "-A " + db},
		},
		{
			name: "endpoints removed turn the service into a REJECT in filter",
			change: func(s []*corev1.Service, e []*corev1.Endpoints) ([]*corev1.Service, []*corev1.Endpoints) {
				return s, e[:1]
			},
			wantTop:     []string{ChainServices, ChainNodePorts, "*filter"},
			wantDeleted: []string{dbSEP, db},
			wantText:    []string{"ns/db has no endpoints", "--dport 30432 -j REJECT"},
		},
		{
			name: "service without endpoints added only changes filter",
			change: func(s []*corev1.Service, e []*corev1.Endpoints) ([]*corev1.Service, []*corev1.Endpoints) {
				return append(s, svc("ns", "new", "172.30.0.9", port("", 81))), e
			},
			wantTop:     []string{"*filter"},
			wantText:    []string{"ns/new has no endpoints"},
			wantNotText: []string{"*nat"},
		},
		{
			name: "affinity on rewrites the service chain and every endpoint chain",
			change: func(s []*corev1.Service, e []*corev1.Endpoints) ([]*corev1.Service, []*corev1.Endpoints) {
				s[0] = affinity(svc("ns", "web", "172.30.0.1", port("http", 80)), 30)
				return s, e
			},
			wantWritten: []string{web, webSEP("10.244.0.1"), webSEP("10.244.0.2"), webSEP("10.244.0.3")},
			wantText:    []string{"--rcheck --seconds 30"},
		},
		{
			name: "new service gets its chains and a KUBE-SERVICES rule",
			change: func(s []*corev1.Service, e []*corev1.Endpoints) ([]*corev1.Service, []*corev1.Endpoints) {
				return append(s, svc("ns", "new", "172.30.0.9", port("", 81))),
					append(e, eps("ns", "new", []string{"10.244.9.9"}, epPort("", 81)))
			},
			wantTop:     []string{ChainServices},
			wantWritten: []string{ServicePortChainName("ns/new", "tcp"), ServicePortEndpointChainName("ns/new", "tcp", "10.244.9.9:81")},
			wantText:    []string{"-d 172.30.0.9/32", "10.244.0.0/16"},
		},
	}
	opts := RuleOptions{ClusterCIDR: "10.244.0.0/16"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, e := planState()
			before := chains(s, e, nil, opts)
			prev := Plan(&before, nil, nil).Next
			if tc.full {
				prev = nil
			}
			if tc.change != nil {
				s, e = tc.change(s, e)
			}
			rs := chains(s, e, nil, opts)
			got := Plan(&rs, prev, tc.existing)

			if got.Noop != tc.wantNoop {
				t.Fatalf("Noop = %v, want %v; text:\n%s", got.Noop, tc.wantNoop, got.Text)
			}
			if got.Full != tc.full {
				t.Errorf("Full = %v, want %v", got.Full, tc.full)
			}
			if tc.wantNoop {
				if len(got.Text) != 0 || len(got.Written) != 0 || len(got.Deleted) != 0 {
					t.Errorf("no-op plan writes: %+v", got)
				}
				return
			}
			if !slices.Equal(got.Written, tc.wantWritten) {
				t.Errorf("Written = %v, want %v", got.Written, tc.wantWritten)
			}
			wantDeleted := slices.Sorted(slices.Values(tc.wantDeleted))
			if !slices.Equal(got.Deleted, wantDeleted) {
				t.Errorf("Deleted = %v, want %v", got.Deleted, wantDeleted)
			}
			if !slices.Equal(got.WrittenTop, tc.wantTop) {
				t.Errorf("WrittenTop = %v, want %v", got.WrittenTop, tc.wantTop)
			}
			// The changed top-level chains are declared first, then the
			// written chains, then the deleted ones.
			wantDecl := slices.Concat(slices.DeleteFunc(slices.Clone(tc.wantTop), func(c string) bool { return c == "*filter" }), tc.wantWritten, wantDeleted)
			if d := declared(got.Text); !slices.Equal(d, wantDecl) {
				t.Errorf("declared nat chains %v, want %v", d, wantDecl)
			}
			for _, w := range tc.wantText {
				if !strings.Contains(string(got.Text), w) {
					t.Errorf("input lacks %q:\n%s", w, got.Text)
				}
			}
			for _, w := range tc.wantNotText {
				if strings.Contains(string(got.Text), w) {
					t.Errorf("input has %q:\n%s", w, got.Text)
				}
			}
			if n := strings.Count(string(got.Text), "\n-A ") + strings.Count(string(got.Text), "\n-I "); n != got.Rules {
				t.Errorf("Rules = %d, input has %d -A and -I lines", got.Rules, n)
			}
			if got.Edited {
				t.Errorf("a plan for three services edits KUBE-SERVICES:\n%s", got.Text)
			}
			// Whatever was planned, the next state is the one a full plan
			// of the same ruleset gives.
			full := Plan(&rs, nil, nil).Next
			if !slices.Equal(got.Next.Chains(), full.Chains()) || !maps.Equal(got.Next.top, full.top) {
				t.Errorf("next state %v differs from a full plan's %v", got.Next.Chains(), full.Chains())
			}
			// Planning again from the new state finds nothing to do.
			if again := Plan(&rs, got.Next, nil); !again.Noop {
				t.Errorf("second plan of the same state is not a no-op:\n%s", again.Text)
			}
		})
	}
}

// TestPlanFullMatchesRules checks that the full plan is what Rules returns
// as Text, with the same rule count.
func TestPlanFullMatchesRules(t *testing.T) {
	s, e := planState()
	opts := RuleOptions{ClusterCIDR: "10.0.0.0/8", ExistingChains: []string{"KUBE-SVC-X"}}
	rs := Rules(s, e, nil, opts)
	p := Plan(&rs, nil, opts.ExistingChains)
	if string(p.Text) != string(rs.Text) || p.Rules != rs.Rules || !slices.Equal(p.Deleted, rs.Deleted) {
		t.Errorf("full plan differs from Rules:\n%s\n---\n%s", p.Text, rs.Text)
	}
}

// TestPlanEditsServices checks that a partial plan adding or removing a
// few of many service ports deletes and inserts their KUBE-SERVICES rules
// instead of rewriting the chain, and rewrites it otherwise.
func TestPlanEditsServices(t *testing.T) {
	opts := RuleOptions{ClusterCIDR: "10.64.0.0/10"}
	svcs, eps := benchState(20, 2, 0)
	before := chains(svcs, eps, nil, opts)
	prev := Plan(&before, nil, nil).Next
	ruleOf := func(rs Ruleset, name string) string {
		for _, l := range ruleLines(rs.Top[0].Rules) {
			if strings.Contains(l, `"bench/`+name+`:http cluster IP"`) {
				return l
			}
		}
		t.Fatalf("no KUBE-SERVICES rule for %s", name)
		return ""
	}

	more, moreEps := benchState(22, 2, 0)
	added := chains(more, moreEps, nil, opts)
	got := Plan(&added, prev, nil)
	if !got.Edited || slices.Contains(declared(got.Text), ChainServices) {
		t.Fatalf("adding two services did not edit KUBE-SERVICES:\n%s", got.Text)
	}
	r20 := strings.TrimPrefix(ruleOf(added, "svc-00020"), "-A KUBE-SERVICES ")
	r21 := strings.TrimPrefix(ruleOf(added, "svc-00021"), "-A KUBE-SERVICES ")
	want := "-I KUBE-SERVICES 1 " + r21 + "\n-I KUBE-SERVICES 1 " + r20 + "\n"
	if !strings.Contains(string(got.Text), want) {
		t.Errorf("input lacks the inserts, reverse order\n%s\nin\n%s", want, got.Text)
	}
	// The new chains are declared and filled before the inserts that
	// jump to them.
	if i, j := strings.Index(string(got.Text), ":"+ServicePortChainName("bench/svc-00021:http", "tcp")), strings.Index(string(got.Text), "-I "); i < 0 || i > j {
		t.Errorf("new service chain not declared before the inserts:\n%s", got.Text)
	}
	// svc-00020 is a NodePort: KUBE-NODEPORTS (3 NodePorts, 6 rules) is
	// rewritten; each service has 3 rules in its chain and 2 per endpoint.
	if got.Rules != 2+2*7+6 || len(got.Written) != 6 || !slices.Equal(got.WrittenTop, []string{ChainServices, ChainNodePorts}) {
		t.Errorf("Rules = %d, Written = %v, WrittenTop = %v; want 2 inserts, 14 rules in 6 chains and 6 NodePort rules", got.Rules, got.Written, got.WrittenTop)
	}

	// Removing one service deletes its rule before its chains.
	back := Plan(&before, got.Next, nil)
	del := "-D KUBE-SERVICES " + r20 + "\n"
	if !back.Edited || !strings.Contains(string(back.Text), del) || strings.Index(string(back.Text), del) > strings.Index(string(back.Text), "-X ") {
		t.Errorf("removing services: no %q before the chain deletions:\n%s", del, back.Text)
	}
	if len(back.Deleted) != 6 {
		t.Errorf("Deleted = %v, want the two services' 6 chains", back.Deleted)
	}

	// Changing a quarter or more of the rules, or the NodePorts jump,
	// rewrites the chain.
	many, manyEps := benchState(30, 2, 0)
	manyRS := chains(many, manyEps, nil, opts)
	nodeIPs := chains(svcs, eps, []string{"192.168.1.1"}, opts)
	for name, rs := range map[string]*Ruleset{"many": &manyRS, "node IPs": &nodeIPs} {
		p := Plan(rs, prev, nil)
		if p.Edited || !slices.Contains(declared(p.Text), ChainServices) {
			t.Errorf("%s: KUBE-SERVICES not rewritten:\n%s", name, p.Text)
		}
	}
}
