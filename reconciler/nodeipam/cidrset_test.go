package nodeipam

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestCIDRSet(t *testing.T) {
	// op is one call: "alloc" wants want (or err), "occupy"/"release" take
	// cidr and want err or not.
	type op struct {
		do      string
		cidr    string
		want    string
		wantErr error
		fails   bool
	}
	tests := []struct {
		name     string
		cluster  string
		mask     int
		ops      []op
		wantUsed int
	}{
		{name: "allocates in order", cluster: "10.244.0.0/16", mask: 24, ops: []op{
			{do: "alloc", want: "10.244.0.0/24"},
			{do: "alloc", want: "10.244.1.0/24"},
			{do: "alloc", want: "10.244.2.0/24"},
		}, wantUsed: 3},
		{name: "skips occupied", cluster: "10.244.0.0/16", mask: 24, ops: []op{
			{do: "occupy", cidr: "10.244.0.0/24"},
			{do: "occupy", cidr: "10.244.2.0/24"},
			{do: "alloc", want: "10.244.1.0/24"},
			{do: "alloc", want: "10.244.3.0/24"},
		}, wantUsed: 4},
		{name: "a released range comes back only after wrapping around", cluster: "10.0.0.0/30", mask: 32, ops: []op{
			{do: "alloc", want: "10.0.0.0/32"},
			{do: "alloc", want: "10.0.0.1/32"},
			{do: "release", cidr: "10.0.0.0/32"},
			{do: "alloc", want: "10.0.0.2/32"},
			{do: "alloc", want: "10.0.0.3/32"},
			{do: "alloc", want: "10.0.0.0/32"},
		}, wantUsed: 4},
		{name: "exhaustion, then a release frees exactly that range", cluster: "10.0.0.0/23", mask: 24, ops: []op{
			{do: "alloc", want: "10.0.0.0/24"},
			{do: "alloc", want: "10.0.1.0/24"},
			{do: "alloc", wantErr: errNoCIDRsRemaining},
			{do: "release", cidr: "10.0.0.0/24"},
			{do: "alloc", want: "10.0.0.0/24"},
			{do: "alloc", wantErr: errNoCIDRsRemaining},
		}, wantUsed: 2},
		{name: "a bigger range occupies every subnet it covers", cluster: "10.244.0.0/16", mask: 24, ops: []op{
			{do: "occupy", cidr: "10.244.0.0/23"},
			{do: "alloc", want: "10.244.2.0/24"},
		}, wantUsed: 3},
		{name: "a smaller range occupies its subnet", cluster: "10.244.0.0/16", mask: 24, ops: []op{
			{do: "occupy", cidr: "10.244.0.128/25"},
			{do: "alloc", want: "10.244.1.0/24"},
		}, wantUsed: 2},
		{name: "the whole cluster or more occupies all", cluster: "10.244.0.0/23", mask: 24, ops: []op{
			{do: "occupy", cidr: "10.0.0.0/8"},
			{do: "alloc", wantErr: errNoCIDRsRemaining},
		}, wantUsed: 2},
		{name: "occupying twice counts once", cluster: "10.244.0.0/16", mask: 24, ops: []op{
			{do: "occupy", cidr: "10.244.5.0/24"},
			{do: "occupy", cidr: "10.244.5.0/24"},
		}, wantUsed: 1},
		{name: "out of range", cluster: "10.244.0.0/16", mask: 24, ops: []op{
			{do: "occupy", cidr: "10.128.0.0/24", fails: true},
			{do: "occupy", cidr: "fd00::/64", fails: true},
			{do: "release", cidr: "10.245.0.0/24", fails: true},
		}, wantUsed: 0},
		{name: "IPv6", cluster: "fd00:10:244::/56", mask: 64, ops: []op{
			{do: "alloc", want: "fd00:10:244::/64"},
			{do: "occupy", cidr: "fd00:10:244:1::/64"},
			{do: "alloc", want: "fd00:10:244:2::/64"},
			{do: "occupy", cidr: "10.244.0.0/24", fails: true},
		}, wantUsed: 3},
		{name: "IPv6 node masks not on a byte boundary", cluster: "fd00::/60", mask: 62, ops: []op{
			{do: "alloc", want: "fd00::/62"},
			{do: "alloc", want: "fd00:0:0:4::/62"},
			{do: "alloc", want: "fd00:0:0:8::/62"},
			{do: "alloc", want: "fd00:0:0:c::/62"},
			{do: "alloc", wantErr: errNoCIDRsRemaining},
		}, wantUsed: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newCIDRSet(pfx(tt.cluster), tt.mask)
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range tt.ops {
				switch o.do {
				case "alloc":
					got, err := s.allocateNext()
					if !errors.Is(err, o.wantErr) {
						t.Fatalf("op %d: allocateNext error %v, want %v", i, err, o.wantErr)
					}
					if err == nil && got.String() != o.want {
						t.Fatalf("op %d: allocateNext = %v, want %v", i, got, o.want)
					}
				case "occupy", "release":
					f := s.occupy
					if o.do == "release" {
						f = s.release
					}
					if err := f(pfx(o.cidr)); (err != nil) != o.fails {
						t.Fatalf("op %d: %s(%s) error %v, want failure %v", i, o.do, o.cidr, err, o.fails)
					}
				}
			}
			if s.usedCIDRs() != tt.wantUsed {
				t.Errorf("used %d, want %d", s.usedCIDRs(), tt.wantUsed)
			}
		})
	}
}

func TestCIDRSetSlash16By24(t *testing.T) {
	s, err := newCIDRSet(pfx("10.244.0.0/16"), 24)
	if err != nil {
		t.Fatal(err)
	}
	if s.maxCIDRs() != 256 {
		t.Fatalf("max %d, want 256", s.maxCIDRs())
	}
	seen := map[netip.Prefix]bool{}
	for i := range 256 {
		p, err := s.allocateNext()
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if seen[p] || !pfx("10.244.0.0/16").Contains(p.Addr()) || p.Bits() != 24 {
			t.Fatalf("allocation %d: %v duplicate or outside", i, p)
		}
		seen[p] = true
	}
	if _, err := s.allocateNext(); !errors.Is(err, errNoCIDRsRemaining) {
		t.Fatalf("257th allocation: %v", err)
	}
	if !seen[pfx("10.244.255.0/24")] {
		t.Error("the last /24 was never handed out")
	}
}

func TestNewCIDRSetRejects(t *testing.T) {
	tests := []struct {
		cluster string
		mask    int
		err     error
	}{
		{"10.244.0.0/16", 8, nil},
		{"10.244.0.0/16", 33, nil},
		{"fd00::/48", 65, errSubNetTooBig},
		{"10.0.0.0/8", 33, nil},
		{"0.0.0.0/0", 32, errSubNetTooBig},
	}
	for _, tt := range tests {
		_, err := newCIDRSet(pfx(tt.cluster), tt.mask)
		if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) {
			t.Errorf("newCIDRSet(%s, %d) = %v, want an error (%v)", tt.cluster, tt.mask, err, tt.err)
		}
	}
}

func TestAllocatorDualStack(t *testing.T) {
	opts := Options{ClusterCIDRs: []netip.Prefix{pfx("fd00:10:244::/56"), pfx("10.244.0.0/16")}}.withDefaults()
	a, err := opts.newAllocator()
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := a.allocate("n1")
	if err != nil {
		t.Fatal(err)
	}
	// The primary family (first cluster CIDR) comes first.
	if want := []string{"fd00:10:244::/64", "10.244.0.0/24"}; !slices.Equal(prefixStrings(got), want) {
		t.Fatalf("allocate = %v, want %v", got, want)
	}
	// A node with ranges of both families occupies both.
	if out := a.occupy("n2", []netip.Prefix{pfx("fd00:10:244:1::/64"), pfx("10.244.1.0/24")}); len(out) != 0 {
		t.Fatalf("outside %v", out)
	}
	got, _, _ = a.allocate("n3")
	if want := []string{"fd00:10:244:2::/64", "10.244.2.0/24"}; !slices.Equal(prefixStrings(got), want) {
		t.Fatalf("allocate = %v, want %v", got, want)
	}
}

func TestAllocatorExhaustedFamilyGivesNothing(t *testing.T) {
	opts := Options{ClusterCIDRs: []netip.Prefix{pfx("10.244.0.0/24"), pfx("fd00::/64")}, NodeCIDRMaskSizeIPv4: 24}.withDefaults()
	a, err := opts.newAllocator()
	if err != nil {
		t.Fatal(err)
	}
	a.occupy("other", []netip.Prefix{pfx("fd00::/64")})
	if _, idx, err := a.allocate("n1"); !errors.Is(err, errNoCIDRsRemaining) || idx != 1 {
		t.Fatalf("allocate: idx %d err %v", idx, err)
	}
	// The IPv4 range taken before the IPv6 set failed went back.
	if u := a.usage(); u[0].used != 0 {
		t.Fatalf("IPv4 set leaks: %+v", u)
	}
}

func TestAllocatorReleaseKeepsOverlapsOfOthers(t *testing.T) {
	a, err := Options{}.withDefaults().newAllocator()
	if err != nil {
		t.Fatal(err)
	}
	// Two nodes wrongly share a range: freeing one must not free it.
	a.occupy("a", []netip.Prefix{pfx("10.244.0.0/24")})
	a.occupy("b", []netip.Prefix{pfx("10.244.0.0/24")})
	a.release("a")
	if u := a.usage(); u[0].used != 1 {
		t.Fatalf("used %d after releasing one of two holders, want 1", u[0].used)
	}
	a.release("b")
	if u := a.usage(); u[0].used != 0 {
		t.Fatalf("used %d after releasing both, want 0", u[0].used)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", Options{}, true},
		{"dual stack", Options{ClusterCIDRs: []netip.Prefix{pfx("10.244.0.0/16"), pfx("fd00::/48")}}, true},
		{"two of a family", Options{ClusterCIDRs: []netip.Prefix{pfx("10.244.0.0/16"), pfx("10.245.0.0/16")}}, false},
		{"three", Options{ClusterCIDRs: []netip.Prefix{pfx("10.244.0.0/16"), pfx("fd00::/48"), pfx("fd01::/48")}}, false},
		{"single mask with dual stack", Options{ClusterCIDRs: []netip.Prefix{pfx("10.244.0.0/16"), pfx("fd00::/48")}, NodeCIDRMaskSize: 24}, false},
		{"mask wider than the cluster", Options{NodeCIDRMaskSize: 8}, false},
		{"single-stack mask", Options{NodeCIDRMaskSize: 26}, true},
	}
	for _, tt := range tests {
		if err := tt.opts.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestParseClusterCIDRs(t *testing.T) {
	got, err := ParseClusterCIDRs("10.244.0.0/16, fd00::/48")
	if err != nil || len(got) != 2 || got[0] != pfx("10.244.0.0/16") || got[1] != pfx("fd00::/48") {
		t.Fatalf("ParseClusterCIDRs = %v, %v", got, err)
	}
	if _, err := ParseClusterCIDRs("10.244.0.0"); err == nil {
		t.Fatal("a bare address parsed")
	}
}

func TestAllocatorRangeBeyondTheCluster(t *testing.T) {
	a, err := Options{}.withDefaults().newAllocator()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		node, cidr  string
		wantOutside bool
		wantUsed    int
	}{
		{"inside", "10.244.3.0/24", false, 1},
		{"elsewhere", "10.128.0.0/24", true, 1},
		{"other family", "fd00::/64", true, 1},
		// Reported, yet nothing it covers is handed out.
		{"covering", "10.0.0.0/8", true, 256},
	}
	for _, tt := range tests {
		out := a.occupy(tt.node, []netip.Prefix{pfx(tt.cidr)})
		if (len(out) > 0) != tt.wantOutside {
			t.Errorf("%s: outside %v, want %v", tt.node, out, tt.wantOutside)
		}
		if u := a.usage()[0].used; u != tt.wantUsed {
			t.Errorf("%s: used %d, want %d", tt.node, u, tt.wantUsed)
		}
	}
	if _, _, err := a.allocate("new"); !errors.Is(err, errNoCIDRsRemaining) {
		t.Fatalf("allocate under a covering range: %v", err)
	}
	// Releasing the covering node keeps the inside node's range.
	a.release("covering")
	if u := a.usage()[0].used; u != 1 {
		t.Fatalf("used %d after the covering node left, want 1", u)
	}
}
