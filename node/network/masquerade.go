package network

import (
	"context"
	"fmt"
	"net"

	"github.com/coreos/go-iptables/iptables"
)

// MasqueradeChain is cairn's nat chain, jumped to from POSTROUTING.
const MasqueradeChain = "CAIRN-POSTROUTING"

// masqueradeRule is the one rule of MasqueradeChain: traffic from the
// node's pods to anything outside the cluster's pod network leaves with
// the node's address, while pod-to-pod traffic, across nodes too, keeps
// the pod's source address.
func masqueradeRule(podCIDR, clusterCIDR string) []string {
	return []string{
		"-s", podCIDR, "!", "-d", clusterCIDR,
		"-m", "comment", "--comment", "cairn: masquerade pod traffic leaving the cluster",
		"-j", "MASQUERADE",
	}
}

var postroutingJump = []string{
	"-m", "comment", "--comment", "cairn pod masquerade",
	"-j", MasqueradeChain,
}

// EnsureMasquerade makes the nat table hold MasqueradeChain with exactly
// the rule masquerading traffic from podCIDR to outside clusterCIDR, and one jump to it from
// POSTROUTING. Calling it again changes nothing; calling it with other
// CIDRs replaces the rule.
func EnsureMasquerade(ctx context.Context, podCIDR, clusterCIDR string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pod, err := parseCIDR(podCIDR)
	if err != nil {
		return fmt.Errorf("masquerade: pod CIDR: %w", err)
	}
	cluster, err := parseCIDR(clusterCIDR)
	if err != nil {
		return fmt.Errorf("masquerade: cluster CIDR: %w", err)
	}
	proto := iptables.ProtocolIPv4
	if pod.IP.To4() == nil {
		proto = iptables.ProtocolIPv6
	}
	ipt, err := iptables.New(iptables.IPFamily(proto), iptables.Timeout(5))
	if err != nil {
		return fmt.Errorf("masquerade: %w", err)
	}
	rule := masqueradeRule(pod.String(), cluster.String())

	exists, err := ipt.ChainExists("nat", MasqueradeChain)
	if err != nil {
		return fmt.Errorf("masquerade: %w", err)
	}
	if !exists {
		if err := ipt.NewChain("nat", MasqueradeChain); err != nil {
			return fmt.Errorf("masquerade: %w", err)
		}
	}
	// List returns the chain's -N line and one -A line per rule.
	rules, err := ipt.List("nat", MasqueradeChain)
	if err != nil {
		return fmt.Errorf("masquerade: %w", err)
	}
	ok := false
	if len(rules) == 2 {
		if ok, err = ipt.Exists("nat", MasqueradeChain, rule...); err != nil {
			return fmt.Errorf("masquerade: %w", err)
		}
	}
	if !ok {
		if err := ipt.ClearChain("nat", MasqueradeChain); err != nil {
			return fmt.Errorf("masquerade: %w", err)
		}
		if err := ipt.Append("nat", MasqueradeChain, rule...); err != nil {
			return fmt.Errorf("masquerade: %w", err)
		}
	}
	if err := ipt.AppendUnique("nat", "POSTROUTING", postroutingJump...); err != nil {
		return fmt.Errorf("masquerade: %w", err)
	}
	return nil
}

// parseCIDR parses s and returns the network it names.
func parseCIDR(s string) (*net.IPNet, error) {
	_, n, err := net.ParseCIDR(s)
	return n, err
}
