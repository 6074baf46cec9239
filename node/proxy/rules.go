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

// Ruleset is one iptables-restore input and what it contains.
type Ruleset struct {
	// Text is meant for `iptables-restore --noflush`: it rewrites every
	// KUBE-* chain it names and leaves the rest of the tables alone.
	Text []byte
	// NATChains are the chains of the nat table the ruleset keeps, sorted.
	NATChains []string
	// Rules counts the -A lines.
	Rules int
	// Deleted are the stale chains the ruleset deletes, sorted.
	Deleted []string

	// state digests the ruleset without the deletions: two rulesets with
	// the same state leave the tables the same.
	state [sha256.Size]byte
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

// Rules computes the iptables-restore input that makes the nat and filter
// tables forward the given Services to their ready endpoints the way
// kube-proxy's iptables mode does. nodeIPs restricts the addresses NodePorts
// answer on; empty means every local address. The output depends only on
// the arguments and is the same for the same state whatever the order of
// the slices.
func Rules(services []*corev1.Service, endpoints []*corev1.Endpoints, nodeIPs []string, opts RuleOptions) Ruleset {
	ports := servicePorts(services, endpoints)

	var (
		decls  bytes.Buffer // nat chain declarations
		nat    bytes.Buffer // nat rules
		filter bytes.Buffer // filter rules
		rs     Ruleset
		keep   = make(map[string]bool, 4+2*len(ports))
	)
	declare := func(chain string) {
		keep[chain] = true
		decls.WriteByte(':')
		decls.WriteString(chain)
		decls.WriteString(" - [0:0]\n")
	}
	add := func(b *bytes.Buffer, words ...string) {
		rs.Rules++
		writeRule(b, words)
	}
	endpointCount := 0
	for _, sp := range ports {
		endpointCount += len(sp.endpoints)
	}
	// About three rules of 150 bytes and one declaration per endpoint.
	nat.Grow(512 + 500*endpointCount + 300*len(ports))
	decls.Grow(256 + 32*(endpointCount+len(ports)))

	for _, c := range []string{ChainServices, ChainNodePorts, ChainPostrouting, ChainMarkMasq} {
		declare(c)
	}
	// Marked packets are masqueraded once, on their way out; the mark is
	// cleared so that a packet re-entering the stack is not masqueraded
	// twice.
	add(&nat, ChainPostrouting, "-m", "mark", "!", "--mark", MasqueradeMark+"/"+MasqueradeMark, "-j", "RETURN")
	add(&nat, ChainPostrouting, "-j", "MARK", "--xor-mark", MasqueradeMark)
	add(&nat, ChainPostrouting, "-m", "comment", "--comment", quote("kubernetes service traffic requiring SNAT"), "-j", "MASQUERADE")
	add(&nat, ChainMarkMasq, "-j", "MARK", "--or-mark", MasqueradeMark)

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

		declare(sp.svcChain)
		for _, ep := range sp.endpoints {
			declare(ep.chain)
		}
		clusterComment := "-m comment --comment " + quote(sp.name+" cluster IP")
		add(&nat, ChainServices, clusterComment, proto, dst, "-j", sp.svcChain)
		if opts.MasqueradeAll {
			add(&nat, sp.svcChain, clusterComment, proto, dst, "-j", ChainMarkMasq)
		} else if opts.ClusterCIDR != "" {
			add(&nat, sp.svcChain, clusterComment, proto, dst, "! -s", opts.ClusterCIDR, "-j", ChainMarkMasq)
		}
		if sp.nodePort > 0 {
			// Traffic to a NodePort may come from anywhere and be sent to
			// an endpoint on another node: it is always masqueraded.
			np := itoa(sp.nodePort)
			add(&nat, ChainNodePorts, comment, proto, "--dport", np, "-j", ChainMarkMasq)
			add(&nat, ChainNodePorts, comment, proto, "--dport", np, "-j", sp.svcChain)
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
		for _, ep := range sp.endpoints {
			// An endpoint reaching itself through the Service must see the
			// reply come back through the node (hairpin).
			add(&nat, ep.chain, comment, "-s", ep.addr.String()+"/32", "-j", ChainMarkMasq)
			if sp.affinity > 0 {
				add(&nat, ep.chain, comment, "-m recent --name", ep.chain, "--set", proto, "-j DNAT --to-destination", ep.str)
			} else {
				add(&nat, ep.chain, comment, proto, "-j DNAT --to-destination", ep.str)
			}
		}
	}

	// NodePorts come last so that a ClusterIP that happens to be local is
	// matched by its own rule first.
	if len(nodeIPs) == 0 {
		add(&nat, ChainServices, "-m", "comment", "--comment", quote("kubernetes service nodeports; NOTE: this must be the last rule in this chain"), "-m", "addrtype", "--dst-type", "LOCAL", "-j", ChainNodePorts)
	} else {
		ips := slices.Clone(nodeIPs)
		slices.Sort(ips)
		for _, ip := range slices.Compact(ips) {
			add(&nat, ChainServices, "-m", "comment", "--comment", quote("kubernetes service nodeports; NOTE: this must be the last rule in this chain"), "-d", ip+"/32", "-j", ChainNodePorts)
		}
	}

	var stale []string
	for _, c := range opts.ExistingChains {
		if (strings.HasPrefix(c, svcChainPrefix) || strings.HasPrefix(c, sepChainPrefix)) && !keep[c] {
			stale = append(stale, c)
		}
	}
	slices.Sort(stale)
	stale = slices.Compact(stale)

	var out bytes.Buffer
	out.Grow(decls.Len() + nat.Len() + filter.Len() + 256 + 40*len(stale))
	out.WriteString("*filter\n")
	out.WriteString(":" + ChainServices + " - [0:0]\n")
	out.WriteString(":" + ChainExternalServices + " - [0:0]\n")
	out.Write(filter.Bytes())
	out.WriteString("COMMIT\n")
	out.WriteString("*nat\n")
	out.Write(decls.Bytes())
	// A stale chain is declared (which flushes it, dropping its jumps to
	// other stale chains) before it is deleted.
	for _, c := range stale {
		out.WriteString(":" + c + " - [0:0]\n")
	}
	out.Write(nat.Bytes())
	for _, c := range stale {
		out.WriteString("-X " + c + "\n")
	}
	out.WriteString("COMMIT\n")

	rs.Text = out.Bytes()
	rs.Deleted = stale
	h := sha256.New()
	h.Write(decls.Bytes())
	h.Write(nat.Bytes())
	h.Write([]byte("*filter\n"))
	h.Write(filter.Bytes())
	h.Sum(rs.state[:0])
	rs.NATChains = make([]string, 0, len(keep))
	for c := range keep {
		rs.NATChains = append(rs.NATChains, c)
	}
	slices.Sort(rs.NATChains)
	return rs
}

// servicePorts resolves every port of every proxied Service to its ready
// endpoints, sorted by Service then port order, endpoints by address.
func servicePorts(services []*corev1.Service, endpoints []*corev1.Endpoints) []*servicePort {
	eps := make(map[string]*corev1.Endpoints, len(endpoints))
	for _, e := range endpoints {
		if e != nil {
			eps[e.Namespace+"/"+e.Name] = e
		}
	}
	svcs := slices.Clone(services)
	svcs = slices.DeleteFunc(svcs, func(s *corev1.Service) bool { return s == nil })
	slices.SortFunc(svcs, func(a, b *corev1.Service) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})

	var out []*servicePort
	for _, svc := range svcs {
		if !proxied(svc) {
			continue
		}
		var affinity int32
		if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			affinity = DefaultAffinityTimeout
			if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
				affinity = *c.ClientIP.TimeoutSeconds
			}
		}
		nodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
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
			sp.endpoints = resolve(eps[svc.Namespace+"/"+svc.Name], p.Name, proto)
			for i := range sp.endpoints {
				sp.endpoints[i].chain = ServicePortEndpointChainName(sp.name, sp.protocol, sp.endpoints[i].str)
			}
			out = append(out, sp)
		}
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
