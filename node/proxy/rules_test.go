package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type rulesCase struct {
	name      string
	services  []*corev1.Service
	endpoints []*corev1.Endpoints
	nodeIPs   []string
	opts      RuleOptions
}

func rulesCases() []rulesCase {
	return []rulesCase{
		{
			name:      "clusterip-one-endpoint",
			services:  []*corev1.Service{svc("ns1", "svc1", "172.30.0.41", port("p80", 80))},
			endpoints: []*corev1.Endpoints{eps("ns1", "svc1", []string{"10.180.0.1"}, epPort("p80", 80))},
			opts:      RuleOptions{ClusterCIDR: "10.0.0.0/8"},
		},
		{
			// Two named ports whose target ports differ, endpoints given
			// out of order: each port finds its own endpoint port by name.
			name:      "clusterip-three-endpoints-named-ports",
			services:  []*corev1.Service{svc("ns2", "web", "172.30.0.42", port("http", 80), port("metrics", 9090))},
			endpoints: []*corev1.Endpoints{eps("ns2", "web", []string{"10.180.0.3", "10.180.0.1", "10.180.0.2"}, epPort("metrics", 9100), epPort("http", 8080))},
		},
		{
			name:      "nodeport-affinity-masquerade-all",
			services:  []*corev1.Service{nodePort(affinity(svc("ns3", "np", "172.30.0.43", port("", 80)), 60), 30080)},
			endpoints: []*corev1.Endpoints{eps("ns3", "np", []string{"10.180.0.5", "10.180.0.6"}, epPort("", 8080))},
			nodeIPs:   []string{"192.168.0.2"},
			opts:      RuleOptions{MasqueradeAll: true},
		},
		{
			name:     "no-endpoints-reject-and-stale-chains",
			services: []*corev1.Service{nodePort(svc("ns4", "empty", "172.30.0.44", port("p", 80)), 30081)},
			opts:     RuleOptions{ExistingChains: []string{"KUBE-SERVICES", "KUBE-SVC-AAAA", "KUBE-SEP-BBBB", "KUBE-FOO"}},
		},
	}
}

func TestRulesGolden(t *testing.T) {
	for _, tc := range rulesCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := Rules(tc.services, tc.endpoints, tc.nodeIPs, tc.opts).Text
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if string(got) != string(want) {
				t.Errorf("rules differ from %s\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
}

// TestRulesStable checks that the order of the inputs does not change the
// output, so that two syncs of the same state write the same text.
func TestRulesStable(t *testing.T) {
	var services []*corev1.Service
	var endpoints []*corev1.Endpoints
	for _, tc := range rulesCases() {
		services = append(services, tc.services...)
		endpoints = append(endpoints, tc.endpoints...)
	}
	a := Rules(services, endpoints, nil, RuleOptions{ClusterCIDR: "10.0.0.0/8"})
	slices.Reverse(services)
	slices.Reverse(endpoints)
	for _, e := range endpoints {
		slices.Reverse(e.Subsets[0].Addresses)
		slices.Reverse(e.Subsets[0].Ports)
	}
	b := Rules(services, endpoints, nil, RuleOptions{ClusterCIDR: "10.0.0.0/8"})
	if string(a.Text) != string(b.Text) {
		t.Errorf("same state in another order gave other rules\n--- first\n%s--- second\n%s", a.Text, b.Text)
	}
	if !slices.Equal(a.NATChains, b.NATChains) || !slices.IsSorted(a.NATChains) {
		t.Errorf("chains differ or are unsorted: %v vs %v", a.NATChains, b.NATChains)
	}
}

// TestChainNames checks the hashes against kube-proxy's: the expected names
// are the ones kube-proxy's own tests use for ns1/svc1:p80 and endpoint
// 10.180.0.1:80, and the definition is recomputed here independently.
func TestChainNames(t *testing.T) {
	if got, want := ServicePortChainName("ns1/svc1:p80", "tcp"), "KUBE-SVC-XPGD46QRK7WJZT7O"; got != want {
		t.Errorf("ServicePortChainName = %s, want %s", got, want)
	}
	if got, want := ServicePortEndpointChainName("ns1/svc1:p80", "tcp", "10.180.0.1:80"), "KUBE-SEP-SXIVWICOYRO3J4NJ"; got != want {
		t.Errorf("ServicePortEndpointChainName = %s, want %s", got, want)
	}
	for _, in := range []string{"default/kubernetes:https", "kube-system/kube-dns:dns", "a/b"} {
		h := sha256.Sum256([]byte(in + "udp"))
		want := "KUBE-SVC-" + base32.StdEncoding.EncodeToString(h[:])[:16]
		if got := ServicePortChainName(in, "udp"); got != want || len(got) != len("KUBE-SVC-")+16 {
			t.Errorf("ServicePortChainName(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestProbability(t *testing.T) {
	for n, want := range map[int]string{1: "1.0000000000", 2: "0.5000000000", 3: "0.3333333333", 7: "0.1428571429", 10: "0.1000000000"} {
		if got := probability(n); got != want {
			t.Errorf("probability(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestRulesSelection(t *testing.T) {
	notReady := eps("ns", "a", []string{"10.1.0.1"}, epPort("http", 8080))
	notReady.Subsets[0].NotReadyAddresses = []corev1.EndpointAddress{{IP: "10.1.0.9"}}
	headless := svc("ns", "headless", "None", port("http", 80))
	external := svc("ns", "ext", "", port("http", 80))
	external.Spec.Type = corev1.ServiceTypeExternalName
	udp := svc("ns", "dns", "172.30.0.10", corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP})

	tests := []struct {
		name          string
		services      []*corev1.Service
		endpoints     []*corev1.Endpoints
		want, wantNot []string
		wantSEPs      int
	}{
		{
			name:      "not ready addresses are left out",
			services:  []*corev1.Service{svc("ns", "a", "172.30.0.1", port("http", 80))},
			endpoints: []*corev1.Endpoints{notReady},
			want:      []string{"--to-destination 10.1.0.1:8080"},
			wantNot:   []string{"10.1.0.9", "--probability"},
			wantSEPs:  1,
		},
		{
			name:      "port name mismatch means no endpoints",
			services:  []*corev1.Service{svc("ns", "a", "172.30.0.1", port("http", 80))},
			endpoints: []*corev1.Endpoints{eps("ns", "a", []string{"10.1.0.1"}, epPort("grpc", 8080))},
			want:      []string{`"ns/a:http has no endpoints"`, "-j REJECT"},
			wantNot:   []string{"KUBE-SVC-"},
		},
		{
			name:      "protocol must match",
			services:  []*corev1.Service{udp},
			endpoints: []*corev1.Endpoints{eps("ns", "dns", []string{"10.1.0.2"}, epPort("dns", 53))},
			want:      []string{"-m udp -p udp -d 172.30.0.10/32 --dport 53 -j REJECT"},
		},
		{
			name:      "headless and ExternalName get no rules",
			services:  []*corev1.Service{headless, external},
			endpoints: []*corev1.Endpoints{eps("ns", "headless", []string{"10.1.0.3"}, epPort("http", 80))},
			wantNot:   []string{"KUBE-SVC-", "REJECT", "10.1.0.3"},
		},
		{
			name:      "affinity defaults to three hours",
			services:  []*corev1.Service{affinity(svc("ns", "a", "172.30.0.1", port("http", 80)), 0)},
			endpoints: []*corev1.Endpoints{eps("ns", "a", []string{"10.1.0.1", "10.1.0.1"}, epPort("http", 8080))},
			want:      []string{"--rcheck --seconds 10800 --reap", "--set"},
			wantSEPs:  1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := Rules(tc.services, tc.endpoints, nil, RuleOptions{})
			text := string(rs.Text)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("rules lack %q:\n%s", w, text)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(text, w) {
					t.Errorf("rules have %q:\n%s", w, text)
				}
			}
			seps := 0
			for _, c := range rs.NATChains {
				if strings.HasPrefix(c, "KUBE-SEP-") {
					seps++
				}
			}
			if seps != tc.wantSEPs {
				t.Errorf("%d endpoint chains, want %d: %v", seps, tc.wantSEPs, rs.NATChains)
			}
		})
	}
}

func TestParseChains(t *testing.T) {
	save := "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-X - [5:300]\n-A KUBE-SVC-X -j KUBE-SEP-Y\nCOMMIT\n"
	if got, want := parseChains([]byte(save)), []string{"KUBE-SERVICES", "KUBE-SVC-X"}; !slices.Equal(got, want) {
		t.Errorf("parseChains = %v, want %v", got, want)
	}
}
