package endpoints

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Subsets computes the subsets of the Endpoints of svc from the pods its
// selector selects, in canonical order: ready pods (or all, with
// publishNotReadyAddresses) in addresses, the others that are not
// terminal and have an IP in notReadyAddresses; pods being deleted only
// with publishNotReadyAddresses. A named targetPort is looked up in each
// pod's containerPorts; a pod without it is left out for that port.
func Subsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	tolerateUnready := svc.Spec.PublishNotReadyAddresses
	var subsets []corev1.EndpointSubset
	for _, pod := range pods {
		if !shouldPodBeInEndpoints(pod, tolerateUnready) {
			continue
		}
		ip := podIP(svc, pod)
		if ip == "" {
			continue
		}
		addr := corev1.EndpointAddress{
			IP: ip,
			TargetRef: &corev1.ObjectReference{
				Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			},
		}
		if pod.Spec.NodeName != "" {
			node := pod.Spec.NodeName
			addr.NodeName = &node
		}
		if svc.Spec.ClusterIP == corev1.ClusterIPNone && pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name {
			addr.Hostname = pod.Spec.Hostname
		}
		ready := tolerateUnready || isPodReady(pod)
		add := func(ports []corev1.EndpointPort) {
			s := corev1.EndpointSubset{Ports: ports}
			if ready {
				s.Addresses = []corev1.EndpointAddress{addr}
			} else {
				s.NotReadyAddresses = []corev1.EndpointAddress{addr}
			}
			subsets = append(subsets, s)
		}
		if len(svc.Spec.Ports) == 0 {
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				add(nil)
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, ok := findPort(pod, sp)
			if !ok {
				continue
			}
			add([]corev1.EndpointPort{{Name: sp.Name, Port: port, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}})
		}
	}
	return RepackSubsets(subsets)
}

// shouldPodBeInEndpoints is Kubernetes' rule: not terminal, with an IP,
// and not being deleted unless terminating pods are included.
func shouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

func isPodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podIP picks the pod's IP of the service's (first) IP family.
func podIP(svc *corev1.Service, pod *corev1.Pod) string {
	if len(svc.Spec.IPFamilies) == 0 {
		if pod.Status.PodIP != "" {
			return pod.Status.PodIP
		}
		if len(pod.Status.PodIPs) > 0 {
			return pod.Status.PodIPs[0].IP
		}
		return ""
	}
	want6 := svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	ips := []string{pod.Status.PodIP}
	for _, p := range pod.Status.PodIPs {
		ips = append(ips, p.IP)
	}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err == nil && (a.Is6() && !a.Is4In6()) == want6 {
			return ip
		}
	}
	return ""
}

// findPort resolves a service port's targetPort on a pod: a number is
// used as is (the service port when unset), a name is looked up in the
// containers' ports of the same protocol.
func findPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	switch sp.TargetPort.Type {
	case intstr.String:
		name := sp.TargetPort.StrVal
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				pp := p.Protocol
				if pp == "" {
					pp = corev1.ProtocolTCP
				}
				if p.Name == name && pp == proto {
					return p.ContainerPort, true
				}
			}
		}
		return 0, false
	default:
		if sp.TargetPort.IntVal != 0 {
			return sp.TargetPort.IntVal, true
		}
		return sp.Port, true
	}
}

// --- RepackSubsets, as k8s.io/kubernetes/pkg/api/v1/endpoints ---

type addressKey struct {
	ip  string
	uid types.UID
}

// portKey is an EndpointPort usable as a map key.
type portKey struct {
	name, protocol, appProtocol string
	hasAppProtocol              bool
	port                        int32
}

func keyOfPort(p corev1.EndpointPort) portKey {
	k := portKey{name: p.Name, protocol: string(p.Protocol), port: p.Port}
	if p.AppProtocol != nil {
		k.appProtocol, k.hasAppProtocol = *p.AppProtocol, true
	}
	return k
}

// RepackSubsets merges subsets into the canonical form: every address
// once per port, addresses grouped by the set of ports they serve (an
// address ready for a port wins over the same not ready), sorted
// addresses, ports and subsets. It does not change its argument.
func RepackSubsets(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	allAddrs := map[addressKey]*corev1.EndpointAddress{}
	ports := map[portKey]corev1.EndpointPort{}
	// readiness of each address, by port
	byPort := map[portKey]map[addressKey]bool{}
	sentinel := portKey{port: -1}
	mapAddr := func(a *corev1.EndpointAddress, pk portKey, ready bool) {
		k := addressKey{ip: a.IP}
		if a.TargetRef != nil {
			k.uid = a.TargetRef.UID
		}
		if _, ok := allAddrs[k]; !ok {
			cp := a.DeepCopy()
			allAddrs[k] = cp
		}
		m := byPort[pk]
		if m == nil {
			m = map[addressKey]bool{}
			byPort[pk] = m
		}
		if was, found := m[k]; !found || !was {
			m[k] = ready
		}
	}
	for i := range subsets {
		s := &subsets[i]
		pks := []portKey{sentinel}
		if len(s.Ports) > 0 {
			pks = pks[:0]
			for _, p := range s.Ports {
				pk := keyOfPort(p)
				ports[pk] = *p.DeepCopy()
				pks = append(pks, pk)
			}
		}
		for _, pk := range pks {
			for j := range s.Addresses {
				mapAddr(&s.Addresses[j], pk, true)
			}
			for j := range s.NotReadyAddresses {
				mapAddr(&s.NotReadyAddresses[j], pk, false)
			}
		}
	}
	// Group the ports by the set of addresses (with readiness) they have.
	type group struct {
		addrs map[addressKey]bool
		ports []corev1.EndpointPort
	}
	groups := map[string]*group{}
	var order []string
	for pk, addrs := range byPort {
		h := hashAddresses(addrs)
		g := groups[h]
		if g == nil {
			g = &group{addrs: addrs}
			groups[h] = g
			order = append(order, h)
		}
		if pk != sentinel {
			g.ports = append(g.ports, ports[pk])
		}
	}
	var out []corev1.EndpointSubset
	for _, h := range order {
		g := groups[h]
		var s corev1.EndpointSubset
		for k, ready := range g.addrs {
			if ready {
				s.Addresses = append(s.Addresses, *allAddrs[k])
			} else {
				s.NotReadyAddresses = append(s.NotReadyAddresses, *allAddrs[k])
			}
		}
		slices.SortFunc(s.Addresses, compareAddresses)
		slices.SortFunc(s.NotReadyAddresses, compareAddresses)
		slices.SortFunc(g.ports, comparePorts)
		s.Ports = g.ports
		out = append(out, s)
	}
	slices.SortFunc(out, compareSubsets)
	return out
}

func hashAddresses(addrs map[addressKey]bool) string {
	keys := make([]string, 0, len(addrs))
	for k, ready := range addrs {
		r := "n"
		if ready {
			r = "r"
		}
		keys = append(keys, k.ip+"/"+string(k.uid)+"/"+r)
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

func compareAddresses(a, b corev1.EndpointAddress) int {
	if c := strings.Compare(a.IP, b.IP); c != 0 {
		return c
	}
	var au, bu types.UID
	if a.TargetRef != nil {
		au = a.TargetRef.UID
	}
	if b.TargetRef != nil {
		bu = b.TargetRef.UID
	}
	return strings.Compare(string(au), string(bu))
}

func comparePorts(a, b corev1.EndpointPort) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if a.Port != b.Port {
		return int(a.Port - b.Port)
	}
	if c := strings.Compare(string(a.Protocol), string(b.Protocol)); c != 0 {
		return c
	}
	ap, bp := "", ""
	if a.AppProtocol != nil {
		ap = "=" + *a.AppProtocol
	}
	if b.AppProtocol != nil {
		bp = "=" + *b.AppProtocol
	}
	return strings.Compare(ap, bp)
}

func compareSubsets(a, b corev1.EndpointSubset) int {
	first := func(s corev1.EndpointSubset) (corev1.EndpointAddress, bool) {
		if len(s.Addresses) > 0 {
			return s.Addresses[0], true
		}
		if len(s.NotReadyAddresses) > 0 {
			return s.NotReadyAddresses[0], true
		}
		return corev1.EndpointAddress{}, false
	}
	fa, oka := first(a)
	fb, okb := first(b)
	if oka && okb {
		if c := compareAddresses(fa, fb); c != 0 {
			return c
		}
	}
	// Tie-break on the ports; two groups never have the same ports.
	for i := 0; i < len(a.Ports) && i < len(b.Ports); i++ {
		if c := comparePorts(a.Ports[i], b.Ports[i]); c != 0 {
			return c
		}
	}
	if c := len(a.Ports) - len(b.Ports); c != 0 {
		return c
	}
	return len(a.Addresses) - len(b.Addresses)
}
