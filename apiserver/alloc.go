package apiserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/cairn-dev/cairn/apiserver/storage"
)

// Claim keys: one etcd key per allocated ClusterIP and NodePort, written in
// the same transaction as the Service, so a value is never handed out twice
// — not across restarts, and not between API servers sharing one etcd.
const (
	ipClaimPrefix   = "/registry/ranges/serviceips/"
	portClaimPrefix = "/registry/ranges/servicenodeports/"
)

// allocator hands out Service ClusterIPs and NodePorts.
type allocator struct {
	base             uint32 // network address of the service CIDR
	size             uint32 // number of addresses
	portMin, portMax int

	mu    sync.Mutex
	taken map[string]bool // claim keys known to be in use
	ready bool
}

func newAllocator(cidr, portRange string) (*allocator, error) {
	_, ipnet, err := net.ParseCIDR(cidr)
	if err != nil || ipnet.IP.To4() == nil {
		return nil, fmt.Errorf("apiserver: service CIDR %q must be an IPv4 CIDR", cidr)
	}
	ones, bits := ipnet.Mask.Size()
	if bits-ones < 2 || bits-ones > 24 {
		return nil, fmt.Errorf("apiserver: service CIDR %q must be between /8 and /30", cidr)
	}
	lo, hi, ok := strings.Cut(portRange, "-")
	pmin, err1 := strconv.Atoi(lo)
	pmax, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || pmin < 1 || pmax > 65535 || pmin > pmax {
		return nil, fmt.Errorf("apiserver: node port range %q must be like 30000-32767", portRange)
	}
	return &allocator{
		base: binary.BigEndian.Uint32(ipnet.IP.To4()), size: 1 << (bits - ones),
		portMin: pmin, portMax: pmax, taken: map[string]bool{},
	}, nil
}

// first is the first usable address: the kubernetes Service's ClusterIP.
func (a *allocator) first() net.IP { return a.ip(a.base + 1) }

func (a *allocator) ip(n uint32) net.IP {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, n)
	return net.IP(b)
}

func (a *allocator) contains(ip net.IP) bool {
	v4 := ip.To4()
	if v4 == nil {
		return false
	}
	n := binary.BigEndian.Uint32(v4)
	return n > a.base && n < a.base+a.size-1
}

// load reads the claims already in etcd.
func (a *allocator) load(ctx context.Context, s *storage.Store) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, prefix := range []string{ipClaimPrefix, portClaimPrefix} {
		keys, err := s.Keys(ctx, prefix)
		if err != nil {
			return err
		}
		for _, k := range keys {
			a.taken[k] = true
		}
	}
	a.ready = true
	return nil
}

func (a *allocator) isTaken(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.taken[key]
}

func (a *allocator) noteClaims(claims []storage.Claim) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range claims {
		a.taken[c.Key] = true
	}
}

// noteTaken records the claim key named in an ErrClaimed error.
func (a *allocator) noteTaken(err error) {
	if k := claimKeyOf(err); k != "" {
		a.mu.Lock()
		a.taken[k] = true
		a.mu.Unlock()
	}
}

func (a *allocator) noteReleased(keys []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range keys {
		delete(a.taken, k)
	}
}

func claimKeyOf(err error) string {
	msg := err.Error()
	for _, p := range []string{ipClaimPrefix, portClaimPrefix} {
		if i := strings.Index(msg, p); i >= 0 {
			k := msg[i:]
			if j := strings.IndexAny(k, " :,"); j >= 0 {
				k = k[:j]
			}
			return k
		}
	}
	return ""
}

func (a *allocator) pickIP() (string, error) {
	usable := a.size - 2
	for try := 0; try < 64; try++ {
		ip := a.ip(a.base + 2 + rand.Uint32N(usable-1)) // .1 belongs to the kubernetes Service
		if !a.isTaken(ipClaimPrefix + ip.String()) {
			return ip.String(), nil
		}
	}
	for n := a.base + 2; n < a.base+a.size-1; n++ {
		if ip := a.ip(n).String(); !a.isTaken(ipClaimPrefix + ip) {
			return ip, nil
		}
	}
	return "", errors.New("the service IP range is full")
}

func (a *allocator) pickPort(avoid map[int32]bool) (int32, error) {
	n := a.portMax - a.portMin + 1
	for try := 0; try < 64; try++ {
		p := int32(a.portMin + rand.IntN(n))
		if !avoid[p] && !a.isTaken(portClaimPrefix+strconv.Itoa(int(p))) {
			return p, nil
		}
	}
	for p := a.portMin; p <= a.portMax; p++ {
		if !avoid[int32(p)] && !a.isTaken(portClaimPrefix+strconv.Itoa(p)) {
			return int32(p), nil
		}
	}
	return 0, errors.New("the node port range is full")
}

func needsNodePorts(t corev1.ServiceType) bool {
	return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
}

// claimsFor fills in a Service's ClusterIP and NodePorts (on create, or on
// an update that needs new ones) and returns the claim keys to write.
func (a *allocator) claimsFor(_ context.Context, _ map[*Resource]*storage.Resource, obj, old runtime.Object) ([]storage.Claim, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	var oldSvc *corev1.Service
	if old != nil {
		oldSvc, _ = old.(*corev1.Service)
	}
	value := []byte(svc.Namespace + "/" + svc.Name)
	var claims []storage.Claim
	var errs field.ErrorList
	if svc.Spec.Type != corev1.ServiceTypeExternalName && oldSvc == nil {
		switch ip := svc.Spec.ClusterIP; ip {
		case corev1.ClusterIPNone:
		case "":
			picked, err := a.pickIP()
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			svc.Spec.ClusterIP = picked
			claims = append(claims, storage.Claim{Key: ipClaimPrefix + picked, Value: value})
		default:
			parsed := net.ParseIP(ip)
			if parsed == nil || !a.contains(parsed) {
				errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIP"), ip, "provided IP is not in the valid range"))
			} else {
				claims = append(claims, storage.Claim{Key: ipClaimPrefix + parsed.String(), Value: value})
			}
		}
		if svc.Spec.ClusterIP != "" {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
	}
	if needsNodePorts(svc.Spec.Type) {
		had := map[int32]bool{}
		if oldSvc != nil {
			for _, p := range oldSvc.Spec.Ports {
				if p.NodePort != 0 {
					had[p.NodePort] = true
				}
			}
		}
		used := map[int32]bool{}
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			switch {
			case p.NodePort == 0:
				picked, err := a.pickPort(used)
				if err != nil {
					return nil, apierrors.NewInternalError(err)
				}
				p.NodePort = picked
				claims = append(claims, storage.Claim{Key: portClaimPrefix + strconv.Itoa(int(picked)), Value: value})
			case had[p.NodePort] || used[p.NodePort]:
				// kept from the old object, or the same port for another protocol
			case int(p.NodePort) < a.portMin || int(p.NodePort) > a.portMax:
				errs = append(errs, field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort,
					fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", a.portMin, a.portMax)))
			default:
				claims = append(claims, storage.Claim{Key: portClaimPrefix + strconv.Itoa(int(p.NodePort)), Value: value})
			}
			used[p.NodePort] = true
		}
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
	}
	return claims, nil
}

// keepAllocated carries a Service's allocated values over an update that
// does not name them — a manifest re-applied from git has no clusterIP or
// nodePort — as kube-apiserver's patchAllocatedValues does.
func keepAllocated(svc, old *corev1.Service) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	if svc.Spec.ClusterIP == "" && old.Spec.ClusterIP != "" {
		svc.Spec.ClusterIP = old.Spec.ClusterIP
		svc.Spec.ClusterIPs = append([]string(nil), old.Spec.ClusterIPs...)
	}
	if !needsNodePorts(svc.Spec.Type) || !needsNodePorts(old.Spec.Type) {
		return
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.NodePort != 0 {
			continue
		}
		for _, op := range old.Spec.Ports {
			if op.NodePort != 0 && op.Port == p.Port && protocolOf(op) == protocolOf(*p) {
				p.NodePort = op.NodePort
				break
			}
		}
	}
	if svc.Spec.HealthCheckNodePort == 0 {
		svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
}

// prepareServiceUpdate runs before defaulting and validation of an update.
func prepareServiceUpdate(next, cur runtime.Object) {
	svc, ok1 := next.(*corev1.Service)
	old, ok2 := cur.(*corev1.Service)
	if ok1 && ok2 {
		dropTypeDependent(svc, old)
		keepAllocated(svc, old)
	}
}

// dropTypeDependent clears, on a type change, the fields the old type
// needed and the new one forbids, when the client left them as they were
// (kube-apiserver's dropTypeDependentFields): node ports, the health check
// port and externalTrafficPolicy of a NodePort turned ClusterIP.
func dropTypeDependent(svc, old *corev1.Service) {
	if svc.Spec.Type == old.Spec.Type || needsNodePorts(svc.Spec.Type) || !needsNodePorts(old.Spec.Type) {
		return
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		for _, op := range old.Spec.Ports {
			if p.NodePort != 0 && p.NodePort == op.NodePort {
				p.NodePort = 0
			}
		}
	}
	if svc.Spec.HealthCheckNodePort == old.Spec.HealthCheckNodePort {
		svc.Spec.HealthCheckNodePort = 0
	}
	if svc.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	if svc.Spec.AllocateLoadBalancerNodePorts != nil && old.Spec.AllocateLoadBalancerNodePorts != nil &&
		*svc.Spec.AllocateLoadBalancerNodePorts == *old.Spec.AllocateLoadBalancerNodePorts {
		svc.Spec.AllocateLoadBalancerNodePorts = nil
	}
}

func protocolOf(p corev1.ServicePort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}

// releasesFor lists the claim keys a deleted Service frees.
func (a *allocator) releasesFor(obj runtime.Object) []string {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	var keys []string
	if ip := net.ParseIP(svc.Spec.ClusterIP); ip != nil {
		keys = append(keys, ipClaimPrefix+ip.String())
	}
	seen := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 && !seen[p.NodePort] {
			seen[p.NodePort] = true
			keys = append(keys, portClaimPrefix+strconv.Itoa(int(p.NodePort)))
		}
	}
	a.noteReleased(keys)
	return keys
}

// releasesOnUpdate lists the NodePorts an update stops using.
func (a *allocator) releasesOnUpdate(old, obj runtime.Object) []string {
	oldSvc, ok1 := old.(*corev1.Service)
	svc, ok2 := obj.(*corev1.Service)
	if !ok1 || !ok2 {
		return nil
	}
	keep := map[int32]bool{}
	if needsNodePorts(svc.Spec.Type) {
		for _, p := range svc.Spec.Ports {
			keep[p.NodePort] = true
		}
	}
	var keys []string
	for _, p := range oldSvc.Spec.Ports {
		if p.NodePort != 0 && !keep[p.NodePort] {
			keys = append(keys, portClaimPrefix+strconv.Itoa(int(p.NodePort)))
			keep[p.NodePort] = true
		}
	}
	return keys
}

// explicitAllocation: the client asked for the exact value that is taken,
// so retrying with another cannot help.
func explicitAllocation(obj runtime.Object, err error) bool {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return false
	}
	key := claimKeyOf(err)
	return key != "" && (key == ipClaimPrefix+svc.Spec.ClusterIP || requestedPort(svc, key))
}

func requestedPort(svc *corev1.Service, key string) bool {
	for _, p := range svc.Spec.Ports {
		if key == portClaimPrefix+strconv.Itoa(int(p.NodePort)) {
			return true
		}
	}
	return false
}

func allocationConflict(res *Resource, obj runtime.Object, err error) error {
	svc := obj.(*corev1.Service)
	key := claimKeyOf(err)
	if strings.HasPrefix(key, ipClaimPrefix) {
		return apierrors.NewInvalid(res.GVK().GroupKind(), svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIP"),
			svc.Spec.ClusterIP, "provided IP is already allocated")})
	}
	port := strings.TrimPrefix(key, portClaimPrefix)
	return apierrors.NewInvalid(res.GVK().GroupKind(), svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "ports").Child("nodePort"),
		port, "provided port is already allocated")})
}
