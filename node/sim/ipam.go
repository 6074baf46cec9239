package sim

import (
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/types"
)

// nodeIP is the InternalIP of the node at index i: 10.0.x.y with y in
// 1..254, so no node gets a .0 or .255 address.
func nodeIP(i int) netip.Addr {
	v := uint32(10)<<24 + uint32(i/254)<<8 + uint32(i%254+1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// podCIDR is the pod range of the node at index i: the i-th /24 of
// 10.128.0.0/9.
func podCIDR(i int) netip.Prefix {
	v := uint32(10)<<24 + 1<<23 + uint32(i)<<8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24)
}

// podIPs hands out a node's pod IPs, .2 to .254 of its /24 (.1 is the
// gateway), lowest free first, one per pod UID.
type podIPs struct {
	base  netip.Addr // x.y.z.0
	used  [256]bool
	byUID map[types.UID]uint8
}

func newPodIPs(cidr netip.Prefix) podIPs {
	return podIPs{base: cidr.Masked().Addr(), byUID: map[types.UID]uint8{}}
}

// usable reports whether a pod CIDR found on an adopted Node can serve:
// an IPv4 range of at least a /24 (its first /24 is used).
func usable(p netip.Prefix) bool { return p.IsValid() && p.Addr().Is4() && p.Bits() <= 24 }

func (p *podIPs) addr(last uint8) string {
	b := p.base.As4()
	b[3] = last
	return netip.AddrFrom4(b).String()
}

// get returns the pod's IP, allocating one on first use.
func (p *podIPs) get(uid types.UID) (string, error) {
	if last, ok := p.byUID[uid]; ok {
		return p.addr(last), nil
	}
	for last := 2; last < 255; last++ {
		if !p.used[last] {
			p.used[last] = true
			p.byUID[uid] = uint8(last)
			return p.addr(uint8(last)), nil
		}
	}
	return "", fmt.Errorf("no pod IP left in %s/24", p.base)
}

// reserve records an IP a pod already has (after a restart), so it is not
// given to another pod. IPs outside the node's range are not tracked.
func (p *podIPs) reserve(uid types.UID, ip string) {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return
	}
	b, base := a.As4(), p.base.As4()
	if b[0] != base[0] || b[1] != base[1] || b[2] != base[2] {
		return
	}
	if _, ok := p.byUID[uid]; ok {
		return
	}
	p.used[b[3]] = true
	p.byUID[uid] = b[3]
}

// release frees a pod's IP.
func (p *podIPs) release(uid types.UID) {
	if last, ok := p.byUID[uid]; ok {
		p.used[last] = false
		delete(p.byUID, uid)
	}
}
