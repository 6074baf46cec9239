package nodeipam

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
)

// allocator is the range allocator's bookkeeping: one cidrSet per
// cluster CIDR (primary family first) and which node holds which
// ranges. It makes no API calls.
type allocator struct {
	mu    sync.Mutex
	sets  []*cidrSet
	owned map[string][]netip.Prefix
}

func newAllocator(clusterCIDRs []netip.Prefix, maskSize func(netip.Prefix) int) (*allocator, error) {
	a := &allocator{owned: map[string][]netip.Prefix{}}
	for _, c := range clusterCIDRs {
		s, err := newCIDRSet(c, maskSize(c))
		if err != nil {
			return nil, fmt.Errorf("cluster CIDR %v: %w", c, err)
		}
		a.sets = append(a.sets, s)
	}
	return a, nil
}

// setFor is the set of p's family.
func (a *allocator) setFor(p netip.Prefix) *cidrSet {
	for _, s := range a.sets {
		if s.cluster.Addr().BitLen() == p.Addr().BitLen() {
			return s
		}
	}
	return nil
}

// occupy records the pod CIDRs a node already has and returns those not
// wholly inside a cluster CIDR: someone else manages them.
// A node whose recorded ranges changed gives up the old ones first.
func (a *allocator) occupy(node string, cidrs []netip.Prefix) (outside []netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var mine []netip.Prefix
	for _, p := range cidrs {
		s := a.setFor(p)
		if s == nil || !s.cluster.Overlaps(p) {
			outside = append(outside, p)
			continue
		}
		// A range reaching beyond the cluster CIDR is reported, but what
		// it covers inside is still never handed out.
		mine = append(mine, p.Masked())
		if !s.contains(p) {
			outside = append(outside, p)
		}
	}
	if slices.Equal(a.owned[node], mine) {
		return outside
	}
	a.releaseLocked(node)
	for _, p := range mine {
		_ = a.setFor(p).occupy(p)
	}
	if len(mine) > 0 {
		a.owned[node] = mine
	}
	return outside
}

// allocate gives a node the next free range of every cluster CIDR, in
// their order, or nothing. idx is the exhausted set's index on failure.
func (a *allocator) allocate(node string) (cidrs []netip.Prefix, idx int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.releaseLocked(node)
	for i, s := range a.sets {
		p, err := s.allocateNext()
		if err != nil {
			for _, q := range cidrs {
				_ = a.setFor(q).release(q)
			}
			return nil, i, err
		}
		cidrs = append(cidrs, p)
	}
	a.owned[node] = cidrs
	return cidrs, -1, nil
}

// release frees what a node holds, if anything.
func (a *allocator) release(node string) []netip.Prefix {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.releaseLocked(node)
}

// releaseLocked frees a node's ranges but keeps marked whatever another
// node's range overlaps, so a range two nodes were (wrongly) given is
// not handed out while either still has it.
func (a *allocator) releaseLocked(node string) []netip.Prefix {
	freed := a.owned[node]
	if len(freed) == 0 {
		return nil
	}
	delete(a.owned, node)
	for _, p := range freed {
		_ = a.setFor(p).release(p)
	}
	for _, held := range a.owned {
		for _, q := range held {
			for _, p := range freed {
				if p.Overlaps(q) {
					_ = a.setFor(q).occupy(q)
				}
			}
		}
	}
	return freed
}

// holds reports what a node holds.
func (a *allocator) holds(node string) []netip.Prefix {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.owned[node])
}

// usage reports each set's cluster CIDR, used and max subnets.
func (a *allocator) usage() []setUsage {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]setUsage, len(a.sets))
	for i, s := range a.sets {
		out[i] = setUsage{cidr: s.cluster.String(), used: s.usedCIDRs(), max: s.maxCIDRs()}
	}
	return out
}

type setUsage struct {
	cidr      string
	used, max int
}
