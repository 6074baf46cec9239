package nodeipam

import (
	"errors"
	"fmt"
	"net/netip"
)

// Errors of a cidrSet, worded as Kubernetes' cidrset package.
var (
	// errNoCIDRsRemaining: every node-sized subnet of the
	// cluster CIDR is in use.
	errNoCIDRsRemaining = errors.New("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")
	// errSubNetTooBig: the node mask leaves too many subnets to
	// track.
	errSubNetTooBig = errors.New("new CIDR set failed; the node CIDR size is too big")
)

// Most bits between the cluster and the node mask: Kubernetes allows 16
// for IPv6; IPv4 is bounded by a bitmap of 2^24 bits (2 MiB).
const (
	maxDiffIPv6 = 16
	maxDiffIPv4 = 24
)

// cidrSet is Kubernetes' cidrset.CidrSet: the node-sized subnets of one
// cluster CIDR as a bitmap, handed out round robin so a just-released
// subnet is not reused at once (pods of the deleted node may still be
// around on the network). It does no locking.
type cidrSet struct {
	cluster   netip.Prefix
	nodeBits  int
	max       int
	used      []uint64
	allocated int
	next      int
}

// newCIDRSet splits cluster into subnets of nodeMaskSize bits.
func newCIDRSet(cluster netip.Prefix, nodeMaskSize int) (*cidrSet, error) {
	if !cluster.IsValid() {
		return nil, fmt.Errorf("invalid cluster CIDR %v", cluster)
	}
	cluster = cluster.Masked()
	bits := cluster.Addr().BitLen()
	if nodeMaskSize < cluster.Bits() || nodeMaskSize > bits {
		return nil, fmt.Errorf("node CIDR mask size %d must lie between the cluster CIDR %v's mask size and %d", nodeMaskSize, cluster, bits)
	}
	diff := nodeMaskSize - cluster.Bits()
	if (bits == 128 && diff > maxDiffIPv6) || diff > maxDiffIPv4 {
		return nil, errSubNetTooBig
	}
	n := 1 << diff
	return &cidrSet{cluster: cluster, nodeBits: nodeMaskSize, max: n, used: make([]uint64, (n+63)/64)}, nil
}

// maxCIDRs is how many subnets the set holds.
func (s *cidrSet) maxCIDRs() int { return s.max }

// usedCIDRs is how many of them are in use.
func (s *cidrSet) usedCIDRs() int { return s.allocated }

func (s *cidrSet) isUsed(i int) bool { return s.used[i/64]&(1<<(i%64)) != 0 }

func (s *cidrSet) mark(i int, used bool) {
	if s.isUsed(i) == used {
		return
	}
	if used {
		s.used[i/64] |= 1 << (i % 64)
		s.allocated++
	} else {
		s.used[i/64] &^= 1 << (i % 64)
		s.allocated--
	}
}

// allocateNext hands out the first free subnet at or after the one past
// the last handed out, wrapping around.
func (s *cidrSet) allocateNext() (netip.Prefix, error) {
	if s.allocated == s.max {
		return netip.Prefix{}, errNoCIDRsRemaining
	}
	for k := range s.max {
		i := (s.next + k) % s.max
		if !s.isUsed(i) {
			s.mark(i, true)
			s.next = (i + 1) % s.max
			return s.prefixAt(i), nil
		}
	}
	return netip.Prefix{}, errNoCIDRsRemaining
}

// occupy marks every subnet p overlaps as used: p may be a node subnet,
// a bigger range or a smaller one inside a subnet.
func (s *cidrSet) occupy(p netip.Prefix) error {
	begin, end, err := s.indices(p)
	if err != nil {
		return err
	}
	for i := begin; i <= end; i++ {
		s.mark(i, true)
	}
	return nil
}

// release frees every subnet p overlaps.
func (s *cidrSet) release(p netip.Prefix) error {
	begin, end, err := s.indices(p)
	if err != nil {
		return err
	}
	for i := begin; i <= end; i++ {
		s.mark(i, false)
	}
	return nil
}

// contains reports whether p lies within the set's cluster CIDR.
func (s *cidrSet) contains(p netip.Prefix) bool {
	return p.IsValid() && p.Addr().BitLen() == s.cluster.Addr().BitLen() && p.Bits() >= s.cluster.Bits() && s.cluster.Contains(p.Addr())
}

// indices are the first and last subnet index p overlaps.
func (s *cidrSet) indices(p netip.Prefix) (int, int, error) {
	if !p.IsValid() || p.Addr().BitLen() != s.cluster.Addr().BitLen() || !s.cluster.Overlaps(p) {
		return -1, -1, fmt.Errorf("cidr %v is out the range of cluster cidr %v", p, s.cluster)
	}
	p = p.Masked()
	if p.Bits() <= s.cluster.Bits() {
		return 0, s.max - 1, nil
	}
	begin := s.indexOf(p.Addr())
	if p.Bits() >= s.nodeBits {
		return begin, begin, nil
	}
	return begin, begin + 1<<(s.nodeBits-p.Bits()) - 1, nil
}

// indexOf reads the address bits between the cluster and node masks.
func (s *cidrSet) indexOf(a netip.Addr) int {
	b := a.AsSlice()
	i := 0
	for bit := s.cluster.Bits(); bit < s.nodeBits; bit++ {
		i = i<<1 | int(b[bit/8]>>(7-bit%8)&1)
	}
	return i
}

// prefixAt is subnet i: the cluster address with i written between the
// cluster and node masks.
func (s *cidrSet) prefixAt(i int) netip.Prefix {
	b := s.cluster.Addr().AsSlice()
	for bit := s.nodeBits - 1; bit >= s.cluster.Bits(); bit-- {
		if i&1 == 1 {
			b[bit/8] |= 1 << (7 - bit%8)
		}
		i >>= 1
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, s.nodeBits)
}
