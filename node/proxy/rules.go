package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Chains this package owns. The names are kube-proxy's, so that tools and
// people who know kube-proxy's iptables mode can read the ruleset.
const (
	ChainServices         = "KUBE-SERVICES"
	ChainNodePorts        = "KUBE-NODEPORTS"
	ChainPostrouting      = "KUBE-POSTROUTING"
	ChainMarkMasq         = "KUBE-MARK-MASQ"
	ChainExternalServices = "KUBE-EXTERNAL-SERVICES"

	// MasqueradeMark is the packet mark KUBE-MARK-MASQ sets and
	// KUBE-POSTROUTING masquerades: kube-proxy's default (bit 14).
	MasqueradeMark = "0x4000"

	// DefaultAffinityTimeout is the ClientIP session affinity timeout when a
	// Service does not set one, as in the Kubernetes API.
	DefaultAffinityTimeout = 10800

	svcChainPrefix = "KUBE-SVC-"
	sepChainPrefix = "KUBE-SEP-"
)

// RuleOptions changes how Rules writes the ruleset.
type RuleOptions struct {
	// ClusterCIDR is the pod network. Traffic to a ClusterIP from outside it
	// is masqueraded so that replies come back through this node.
	ClusterCIDR string
	// MasqueradeAll masquerades all traffic to ClusterIPs.
	MasqueradeAll bool
	// ExistingChains are the chains of the nat table before this sync.
	// KUBE-SVC-* and KUBE-SEP-* chains among them that the new state does
	// not use are deleted in the same transaction.
	ExistingChains []string
}

// Ruleset is the proxy's part of the nat and filter tables for one state,
// chain by chain, and the iptables-restore input of a full sync.
type Ruleset struct {
	// Text is meant for `iptables-restore --noflush`: it rewrites every
	// KUBE-* chain it names and leaves the rest of the tables alone. It is
	// the full-sync plan of the ruleset (see Plan), deleting the stale
	// chains among RuleOptions.ExistingChains.
	Text []byte
	// NATChains are the chains of the nat table the ruleset keeps, sorted
	// when the Ruleset comes from Rules.
	NATChains []string
	// Rules counts the -A lines.
	Rules int
	// Deleted are the stale chains Text deletes, sorted.
	Deleted []string

	// Filter holds the rules of the filter table's KUBE-SERVICES and
	// KUBE-EXTERNAL-SERVICES chains, which are always written whole.
	Filter Chain
	// Top are the nat chains written on every sync: KUBE-SERVICES,
	// KUBE-NODEPORTS, KUBE-POSTROUTING and KUBE-MARK-MASQ.
	Top []Chain
	// Services are the KUBE-SVC-* and KUBE-SEP-* chains, each service
	// port's chain followed by its endpoints' chains, in service order. A
	// partial sync writes only those that changed.
	Services []Chain
}

// Chain is one chain of a Ruleset and its rules.
type Chain struct {
	Name string
	// Rules are the chain's -A lines, each ending in a newline.
	Rules []byte
	// Count is the number of lines in Rules.
	Count int

	digest    [sha256.Size]byte // of Rules, if hasDigest
	hasDigest bool
}

// ServicePortChainName is kube-proxy's servicePortChainName: the chain of
// one service port, from its name ("ns/name" or "ns/name:port") and its
// lowercase protocol.
func ServicePortChainName(servicePortName, protocol string) string {
	return svcChainPrefix + hash16(servicePortName+protocol)
}

// ServicePortEndpointChainName is kube-proxy's servicePortEndpointChainName:
// the chain of one endpoint ("ip:port") of one service port.
func ServicePortEndpointChainName(servicePortName, protocol, endpoint string) string {
	return sepChainPrefix + hash16(servicePortName+protocol+endpoint)
}

func hash16(s string) string {
	h := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(h[:])[:16]
}

// servicePort is one port of one Service with the endpoints that serve it.
type servicePort struct {
	name      string // ns/name[:port], kube-proxy's ServicePortName.String()
	protocol  string // lowercase
	clusterIP string
	port      int32
	nodePort  int32
	affinity  int32 // ClientIP affinity timeout in seconds, 0 without affinity
	endpoints []endpoint
	svcChain  string
}

type endpoint struct {
	addr  netip.Addr
	port  int32
	str   string // ip:port
	chain string
}

// Rules computes the chains that make the nat and filter tables forward
// the given Services to their ready endpoints the way kube-proxy's iptables
// mode does, and the iptables-restore input of a full sync. nodeIPs
// restricts the addresses NodePorts answer on; empty means every local
// address. The output depends only on the arguments and is the same for
// the same state whatever the order of the slices.
func Rules(services []*corev1.Service, endpoints []*corev1.Endpoints, nodeIPs []string, opts RuleOptions) Ruleset {
	rs := chains(services, endpoints, nodeIPs, opts)
	slices.Sort(rs.NATChains)
	full := Plan(&rs, nil, opts.ExistingChains)
	rs.Text, rs.Deleted = full.Text, full.Deleted
	return rs
}

// chains computes the chains of a Ruleset, without the restore input.
func chains(services []*corev1.Service, endpoints []*corev1.Endpoints, nodeIPs []string, opts RuleOptions) Ruleset {
	rs, _ := cachedChains(services, endpoints, nodeIPs, opts, nil)
	return rs
}

// serviceRules are the rules of one Service, all its ports: its lines in
// the top-level chains and the filter table, and its own chains.
type serviceRules struct {
	services, nodePorts, filter             []byte
	servicesCount, nodePortsCount, filterCt int
	chains                                  []Chain
}

// ruleCache remembers each Service's rules between syncs, so that a sync
// generates and digests only the rules of the Services whose Service or
// Endpoints object changed. Informers hand out the same pointer for an
// object until it changes, which is what an entry is checked against.
type ruleCache struct {
	opts    RuleOptions
	entries map[string]ruleCacheEntry
}

type ruleCacheEntry struct {
	svc   *corev1.Service
	ep    *corev1.Endpoints
	rules *serviceRules
}

// cachedChains is chains with a cache of the rules of each Service; the
// result is the same as without it. It returns the cache for the next
// call, holding only the given Services. A nil cache is empty.
func cachedChains(services []*corev1.Service, endpoints []*corev1.Endpoints, nodeIPs []string, opts RuleOptions, cache *ruleCache) (Ruleset, *ruleCache) {
	opts.ExistingChains = nil
	if cache == nil || cache.opts.ClusterCIDR != opts.ClusterCIDR || cache.opts.MasqueradeAll != opts.MasqueradeAll {
		cache = &ruleCache{opts: opts}
	}
	next := &ruleCache{opts: opts, entries: make(map[string]ruleCacheEntry, len(services))}
	eps := endpointsByName(endpoints)
	svcs := sortedServices(services)
	all := make([]*serviceRules, 0, len(svcs))
	var (
		rs                                Ruleset
		nChains, svcLen, npLen, filterLen int
		svcCount, npCount, filterCount    int
	)
	for _, svc := range svcs {
		key := svc.Namespace + "/" + svc.Name
		e := eps[key]
		var r *serviceRules
		if old, ok := cache.entries[key]; ok && old.svc == svc && old.ep == e {
			r = old.rules
		} else {
			r = rulesOf(portsOf(svc, e), opts)
		}
		next.entries[key] = ruleCacheEntry{svc: svc, ep: e, rules: r}
		all = append(all, r)
		nChains += len(r.chains)
		svcLen += len(r.services)
		npLen += len(r.nodePorts)
		filterLen += len(r.filter)
		svcCount += r.servicesCount
		npCount += r.nodePortsCount
		filterCount += r.filterCt
	}

	var fixed bytes.Buffer
	count := 0
	add := func(b *bytes.Buffer, words ...string) {
		count++
		writeRule(b, words)
	}
	// Marked packets are masqueraded once, on their way out; the mark is
	// cleared so that a packet re-entering the stack is not masqueraded
	// twice.
	add(&fixed, ChainPostrouting, "-m", "mark", "!", "--mark", MasqueradeMark+"/"+MasqueradeMark, "-j", "RETURN")
	add(&fixed, ChainPostrouting, "-j", "MARK", "--xor-mark", MasqueradeMark)
	add(&fixed, ChainPostrouting, "-m", "comment", "--comment", quote("kubernetes service traffic requiring SNAT"), "-j", "MASQUERADE")
	postroutingEnd := fixed.Len()
	add(&fixed, ChainMarkMasq, "-j", "MARK", "--or-mark", MasqueradeMark)

	svcRules := bytes.NewBuffer(make([]byte, 0, svcLen+512))
	nodePorts := bytes.NewBuffer(make([]byte, 0, npLen))
	filter := bytes.NewBuffer(make([]byte, 0, filterLen))
	rs.Services = make([]Chain, 0, nChains)
	rs.NATChains = make([]string, 0, nChains+4)
	for _, r := range all {
		svcRules.Write(r.services)
		nodePorts.Write(r.nodePorts)
		filter.Write(r.filter)
		for _, c := range r.chains {
			rs.Services = append(rs.Services, c)
			rs.NATChains = append(rs.NATChains, c.Name)
			rs.Rules += c.Count
		}
	}
	// NodePorts come last so that a ClusterIP that happens to be local is
	// matched by its own rule first.
	if len(nodeIPs) == 0 {
		add(svcRules, ChainServices, "-m", "comment", "--comment", quote("kubernetes service nodeports; NOTE: this must be the last rule in this chain"), "-m", "addrtype", "--dst-type", "LOCAL", "-j", ChainNodePorts)
		svcCount++
	} else {
		ips := slices.Clone(nodeIPs)
		slices.Sort(ips)
		for _, ip := range slices.Compact(ips) {
			add(svcRules, ChainServices, "-m", "comment", "--comment", quote("kubernetes service nodeports; NOTE: this must be the last rule in this chain"), "-d", ip+"/32", "-j", ChainNodePorts)
			svcCount++
		}
	}

	fixedText := fixed.Bytes()
	rs.Top = []Chain{
		{Name: ChainServices, Rules: svcRules.Bytes(), Count: svcCount},
		{Name: ChainNodePorts, Rules: nodePorts.Bytes(), Count: npCount},
		{Name: ChainPostrouting, Rules: fixedText[:postroutingEnd], Count: 3},
		{Name: ChainMarkMasq, Rules: fixedText[postroutingEnd:], Count: 1},
	}
	rs.Filter = Chain{Name: "filter", Rules: filter.Bytes(), Count: filterCount}
	rs.Rules += svcCount + npCount + 4 + filterCount
	for _, c := range rs.Top {
		rs.NATChains = append(rs.NATChains, c.Name)
	}
	return rs, next
}

// rulesOf writes the rules of one Service's ports.
func rulesOf(ports []*servicePort, opts RuleOptions) *serviceRules {
	type span struct {
		name       string
		start, end int
		count      int
	}
	var (
		svcRules, nodePorts, nat, filter bytes.Buffer
		r                                serviceRules
		spans                            []span
		cur                              *span
	)
	endpointCount := 0
	for _, sp := range ports {
		endpointCount += len(sp.endpoints)
	}
	// About three rules of 150 bytes per endpoint.
	nat.Grow(500*endpointCount + 300*len(ports))
	spans = make([]span, 0, endpointCount+len(ports))
	add := func(b *bytes.Buffer, words ...string) {
		switch b {
		case &svcRules:
			r.servicesCount++
		case &nodePorts:
			r.nodePortsCount++
		case &filter:
			r.filterCt++
		default:
			cur.count++
		}
		writeRule(b, words)
	}
	begin := func(name string) {
		spans = append(spans, span{name: name, start: nat.Len()})
		cur = &spans[len(spans)-1]
	}
	end := func() { cur.end = nat.Len() }

	// Rule fragments are joined once per service port rather than per rule:
	// with 10,000 Services the ruleset has hundreds of thousands of lines.
	for _, sp := range ports {
		proto := "-m " + sp.protocol + " -p " + sp.protocol
		dst := "-d " + sp.clusterIP + "/32 --dport " + itoa(sp.port)
		comment := "-m comment --comment " + quote(sp.name)
		if len(sp.endpoints) == 0 {
			// Without endpoints the connection is refused at once rather
			// than left to time out, in the filter table because nat cannot
			// REJECT.
			noEndpoints := "-m comment --comment " + quote(sp.name+" has no endpoints")
			add(&filter, ChainServices, noEndpoints, proto, dst, "-j REJECT")
			if sp.nodePort > 0 {
				add(&filter, ChainExternalServices, noEndpoints, "-m addrtype --dst-type LOCAL", proto, "--dport", itoa(sp.nodePort), "-j REJECT")
			}
			continue
		}

		clusterComment := "-m comment --comment " + quote(sp.name+" cluster IP")
		add(&svcRules, ChainServices, clusterComment, proto, dst, "-j", sp.svcChain)
		if sp.nodePort > 0 {
			// Traffic to a NodePort may come from anywhere and be sent to
			// an endpoint on another node: it is always masqueraded.
			np := itoa(sp.nodePort)
			add(&nodePorts, ChainNodePorts, comment, proto, "--dport", np, "-j", ChainMarkMasq)
			add(&nodePorts, ChainNodePorts, comment, proto, "--dport", np, "-j", sp.svcChain)
		}

		begin(sp.svcChain)
		if opts.MasqueradeAll {
			add(&nat, sp.svcChain, clusterComment, proto, dst, "-j", ChainMarkMasq)
		} else if opts.ClusterCIDR != "" {
			add(&nat, sp.svcChain, clusterComment, proto, dst, "! -s", opts.ClusterCIDR, "-j", ChainMarkMasq)
		}
		if sp.affinity > 0 {
			// A client seen recently goes back to the endpoint it had.
			seconds := itoa(sp.affinity)
			for _, ep := range sp.endpoints {
				add(&nat, sp.svcChain, "-m comment --comment", quote(sp.name+" -> "+ep.str), "-m recent --name", ep.chain, "--rcheck --seconds", seconds, "--reap -j", ep.chain)
			}
		}
		// Rule i matches with probability 1/(n-i) of what is left, which
		// spreads connections evenly; the last one takes the rest.
		n := len(sp.endpoints)
		for i, ep := range sp.endpoints {
			epComment := quote(sp.name + " -> " + ep.str)
			if i < n-1 {
				add(&nat, sp.svcChain, "-m comment --comment", epComment, "-m statistic --mode random --probability", probability(n-i), "-j", ep.chain)
			} else {
				add(&nat, sp.svcChain, "-m comment --comment", epComment, "-j", ep.chain)
			}
		}
		end()
		for _, ep := range sp.endpoints {
			// An endpoint reaching itself through the Service must see the
			// reply come back through the node (hairpin).
			begin(ep.chain)
			add(&nat, ep.chain, comment, "-s", ep.addr.String()+"/32", "-j", ChainMarkMasq)
			if sp.affinity > 0 {
				add(&nat, ep.chain, comment, "-m recent --name", ep.chain, "--set", proto, "-j DNAT --to-destination", ep.str)
			} else {
				add(&nat, ep.chain, comment, proto, "-j DNAT --to-destination", ep.str)
			}
			end()
		}
	}
	r.services, r.nodePorts, r.filter = svcRules.Bytes(), nodePorts.Bytes(), filter.Bytes()
	text := nat.Bytes()
	r.chains = make([]Chain, len(spans))
	for i, s := range spans {
		rules := text[s.start:s.end:s.end]
		r.chains[i] = Chain{Name: s.name, Rules: rules, Count: s.count, digest: sha256.Sum256(rules), hasDigest: true}
	}
	return &r
}

// servicePorts resolves every port of every proxied Service to its ready
// endpoints, sorted by Service then port order, endpoints by address.
func servicePorts(services []*corev1.Service, endpoints []*corev1.Endpoints) []*servicePort {
	eps := endpointsByName(endpoints)
	var out []*servicePort
	for _, svc := range sortedServices(services) {
		out = append(out, portsOf(svc, eps[svc.Namespace+"/"+svc.Name])...)
	}
	return out
}

func endpointsByName(endpoints []*corev1.Endpoints) map[string]*corev1.Endpoints {
	eps := make(map[string]*corev1.Endpoints, len(endpoints))
	for _, e := range endpoints {
		if e != nil {
			eps[e.Namespace+"/"+e.Name] = e
		}
	}
	return eps
}

// sortedServices returns the Services sorted by namespace and name,
// without nils.
func sortedServices(services []*corev1.Service) []*corev1.Service {
	svcs := slices.Clone(services)
	svcs = slices.DeleteFunc(svcs, func(s *corev1.Service) bool { return s == nil })
	slices.SortFunc(svcs, func(a, b *corev1.Service) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return svcs
}

// portsOf resolves every port of one Service to its ready endpoints, in
// port order, endpoints by address; none if the Service is not proxied.
func portsOf(svc *corev1.Service, e *corev1.Endpoints) []*servicePort {
	if !proxied(svc) {
		return nil
	}
	var affinity int32
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = DefaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
			affinity = *c.ClientIP.TimeoutSeconds
		}
	}
	nodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	out := make([]*servicePort, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		sp := &servicePort{
			name:      svc.Namespace + "/" + svc.Name,
			protocol:  strings.ToLower(string(proto)),
			clusterIP: svc.Spec.ClusterIP,
			port:      p.Port,
			affinity:  affinity,
		}
		if p.Name != "" {
			sp.name += ":" + p.Name
		}
		if nodePorts {
			sp.nodePort = p.NodePort
		}
		sp.svcChain = ServicePortChainName(sp.name, sp.protocol)
		sp.endpoints = resolve(e, p.Name, proto)
		for i := range sp.endpoints {
			sp.endpoints[i].chain = ServicePortEndpointChainName(sp.name, sp.protocol, sp.endpoints[i].str)
		}
		out = append(out, sp)
	}
	return out
}

// proxied reports whether a Service gets rules: it needs an IPv4 ClusterIP.
// Headless and ExternalName Services are answered by DNS, not the proxy.
func proxied(svc *corev1.Service) bool {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return false
	}
	a, err := netip.ParseAddr(svc.Spec.ClusterIP)
	return err == nil && a.Is4()
}

// resolve finds the ready endpoints of the service port named portName: the
// Endpoints port with the same name and protocol, in every subset.
func resolve(e *corev1.Endpoints, portName string, proto corev1.Protocol) []endpoint {
	if e == nil {
		return nil
	}
	var out []endpoint
	for _, ss := range e.Subsets {
		for _, p := range ss.Ports {
			pp := p.Protocol
			if pp == "" {
				pp = corev1.ProtocolTCP
			}
			if p.Name != portName || pp != proto || p.Port <= 0 {
				continue
			}
			for _, a := range ss.Addresses {
				ip, err := netip.ParseAddr(a.IP)
				if err != nil || !ip.Is4() {
					continue
				}
				out = append(out, endpoint{addr: ip, port: p.Port, str: net.JoinHostPort(ip.String(), itoa(p.Port))})
			}
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		return int(a.port) - int(b.port)
	})
	return slices.CompactFunc(out, func(a, b endpoint) bool { return a.addr == b.addr && a.port == b.port })
}

// probabilities caches the common statistic texts: every Service with n
// endpoints uses the same n-1 of them.
var probabilities = func() []string {
	p := make([]string, 101)
	for n := 1; n < len(p); n++ {
		p[n] = strconv.FormatFloat(1.0/float64(n), 'f', 10, 64)
	}
	return p
}()

// probability is the text kube-proxy writes for a 1/n statistic match.
func probability(n int) string {
	if n < len(probabilities) {
		return probabilities[n]
	}
	return strconv.FormatFloat(1.0/float64(n), 'f', 10, 64)
}

func itoa[T int | int32](v T) string { return strconv.Itoa(int(v)) }

// quote makes a comment one iptables-restore word.
func quote(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}

// writeRule writes one -A line of space-separated words.
func writeRule(b *bytes.Buffer, words []string) {
	b.WriteString("-A")
	for _, w := range words {
		b.WriteByte(' ')
		b.WriteString(w)
	}
	b.WriteByte('\n')
}
