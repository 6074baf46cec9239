package nodeipam

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// DefaultClusterCIDR is cairn's pod network, --cluster-cidr's default.
var DefaultClusterCIDR = netip.MustParsePrefix("10.244.0.0/16")

// Default node mask sizes, as kube-controller-manager's.
const (
	DefaultNodeCIDRMaskSizeIPv4 = 24
	DefaultNodeCIDRMaskSizeIPv6 = 64
)

// Options configures a Controller. Zero values take the defaults noted.
type Options struct {
	// ClusterCIDRs are the pod network: one prefix, or one IPv4 and one
	// IPv6 prefix (dual stack, the first is the primary family and comes
	// first in a node's podCIDRs); default DefaultClusterCIDR.
	ClusterCIDRs []netip.Prefix
	// NodeCIDRMaskSize is the size of a node's range in a single-stack
	// cluster (--node-cidr-mask-size); 0 takes the family's default.
	// Dual-stack clusters set the per-family sizes instead.
	NodeCIDRMaskSize int
	// NodeCIDRMaskSizeIPv4 and NodeCIDRMaskSizeIPv6 are the per-family
	// sizes; default 24 and 64.
	NodeCIDRMaskSizeIPv4, NodeCIDRMaskSizeIPv6 int
	// Clock of the workqueue's delays; default the real clock.
	Clock clock.WithTicker
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for the CIDR set and sync metrics; nil registers
	// nowhere.
	Registerer prometheus.Registerer
	// MetricsProvider for the workqueue's metrics; nil: none.
	MetricsProvider workqueue.MetricsProvider
}

// ParseClusterCIDRs parses --cluster-cidr: comma-separated prefixes.
func ParseClusterCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("cluster CIDR %q: %w", f, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// withDefaults fills in the zero fields.
func (o Options) withDefaults() Options {
	if len(o.ClusterCIDRs) == 0 {
		o.ClusterCIDRs = []netip.Prefix{DefaultClusterCIDR}
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// maskSize is the node mask size for a cluster CIDR's family.
func (o Options) maskSize(cluster netip.Prefix) int {
	if o.NodeCIDRMaskSize > 0 && len(o.ClusterCIDRs) == 1 {
		return o.NodeCIDRMaskSize
	}
	if cluster.Addr().Is4() {
		if o.NodeCIDRMaskSizeIPv4 > 0 {
			return o.NodeCIDRMaskSizeIPv4
		}
		return DefaultNodeCIDRMaskSizeIPv4
	}
	if o.NodeCIDRMaskSizeIPv6 > 0 {
		return o.NodeCIDRMaskSizeIPv6
	}
	return DefaultNodeCIDRMaskSizeIPv6
}

// Validate checks the CIDRs and mask sizes as kube-controller-manager
// does at start: at most two cluster CIDRs, two only if one per family,
// node masks that fit.
func (o Options) Validate() error {
	_, err := o.withDefaults().newAllocator()
	return err
}

// newAllocator validates the options and builds the allocator.
func (o Options) newAllocator() (*allocator, error) {
	if err := o.validateFamilies(); err != nil {
		return nil, err
	}
	return newAllocator(o.ClusterCIDRs, o.maskSize)
}

func (o Options) validateFamilies() error {
	c := o.ClusterCIDRs
	switch {
	case len(c) > 2:
		return fmt.Errorf("len of clusters cidrs is: %v > more than max allowed of 2", len(c))
	case len(c) == 2 && c[0].Addr().Is4() == c[1].Addr().Is4():
		return fmt.Errorf("the ClusterCIDRs: %v is not dual-stack", c)
	case len(c) == 2 && o.NodeCIDRMaskSize > 0:
		return errors.New("usage of --node-cidr-mask-size is not allowed with dual-stack clusters")
	}
	for _, p := range c {
		if !p.IsValid() || p.Addr().Is4In6() {
			return fmt.Errorf("invalid cluster CIDR %v", p)
		}
	}
	return nil
}
