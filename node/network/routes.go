package network

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// RouteProtocol marks the routes cairn adds to the main table (the
// rtm_protocol field, `ip route ... proto 143`), so that stale ones can be
// found and removed without touching anyone else's. 143 is unassigned in
// iproute2's rt_protos.
const RouteProtocol = 143

// Route sends another node's pod CIDR to that node's InternalIP.
type Route struct {
	Dst  *net.IPNet
	Via  net.IP
	Node string
}

func (r Route) String() string {
	return fmt.Sprintf("%s via %s (%s)", r.Dst, r.Via, r.Node)
}

// Routes returns a route for each pod CIDR of each node other than self,
// via the node's InternalIP of the same address family. Nodes without a
// pod CIDR or without such an address are skipped. The result is sorted
// by node name, then destination.
func Routes(nodes []*corev1.Node, self string) []Route {
	var routes []Route
	for _, n := range nodes {
		if n == nil || n.Name == self {
			continue
		}
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		for _, c := range cidrs {
			_, dst, err := net.ParseCIDR(c)
			if err != nil {
				continue
			}
			if via := internalIP(n, dst.IP.To4() != nil); via != nil {
				routes = append(routes, Route{Dst: dst, Via: via, Node: n.Name})
			}
		}
	}
	slices.SortFunc(routes, func(a, b Route) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Dst.String(), b.Dst.String()))
	})
	return routes
}

// internalIP returns the node's first InternalIP of the family.
func internalIP(n *corev1.Node, v4 bool) net.IP {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip := net.ParseIP(a.Address)
		if ip != nil && (ip.To4() != nil) == v4 {
			if v4 {
				return ip.To4()
			}
			return ip
		}
	}
	return nil
}

// SyncRoutes enables forwarding (EnableForwarding) and makes the main
// routing table hold exactly routes among the routes marked with
// RouteProtocol: missing or changed ones are replaced, the others deleted.
// Routes without that mark are never changed; a wanted destination that
// such a route already holds is left to it and reported in the error.
// Commands go through `ip` from the calling thread, so SyncRoutes acts in
// the caller's network namespace.
func SyncRoutes(ctx context.Context, routes []Route) error {
	if err := EnableForwarding(); err != nil {
		return err
	}
	var errs []error
	for _, family := range []string{"-4", "-6"} {
		current, err := listRoutes(ctx, family)
		if err != nil {
			return err
		}
		// Routes added without a metric get 0 in IPv4 and 1024 in IPv6;
		// only a route with that metric would be replaced by ours.
		metric := 0
		if family == "-6" {
			metric = 1024
		}
		ours := map[string]ipRoute{}
		others := map[string]bool{}
		for _, r := range current {
			if r.Protocol == strconv.Itoa(RouteProtocol) {
				ours[r.dst()] = r
			} else if r.Metric == metric {
				others[r.dst()] = true
			}
		}
		want := map[string]bool{}
		for _, r := range routes {
			if (family == "-4") != (r.Dst.IP.To4() != nil) {
				continue
			}
			dst := r.Dst.String()
			if want[dst] {
				errs = append(errs, fmt.Errorf("route %s: another node's pod CIDR is routed there already", r))
				continue
			}
			want[dst] = true
			if others[dst] {
				errs = append(errs, fmt.Errorf("route %s: destination already routed by a route cairn does not own", r))
				continue
			}
			if cur, ok := ours[dst]; ok && net.ParseIP(cur.Gateway).Equal(r.Via) && cur.Metric == metric {
				continue
			}
			if err := ip(ctx, "route", "replace", dst, "via", r.Via.String(), "proto", strconv.Itoa(RouteProtocol)); err != nil {
				errs = append(errs, fmt.Errorf("route %s: %w", r, err))
			}
		}
		for dst, cur := range ours {
			if want[dst] {
				continue
			}
			args := []string{family, "route", "del", dst, "proto", strconv.Itoa(RouteProtocol), "table", "main"}
			if cur.Gateway != "" {
				args = append(args, "via", cur.Gateway)
			}
			if err := ip(ctx, args...); err != nil {
				errs = append(errs, fmt.Errorf("delete stale route %s: %w", dst, err))
			}
		}
	}
	return errors.Join(errs...)
}

// EnableForwarding turns on IPv4 forwarding, and makes bridged traffic
// pass iptables when br_netfilter is loaded, so that Service rules see
// pod-to-pod traffic on the node's bridge. It acts in the calling thread's
// network namespace.
func EnableForwarding() error {
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable ip forwarding: %w", err)
	}
	err := os.WriteFile("/proc/sys/net/bridge/bridge-nf-call-iptables", []byte("1"), 0o644)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("enable bridge-nf-call-iptables: %w", err)
	}
	return nil
}

// ipRoute is one entry of `ip -j route show`.
type ipRoute struct {
	Dst      string `json:"dst"`
	Gateway  string `json:"gateway"`
	Protocol string `json:"protocol"`
	Metric   int    `json:"metric"`
}

// dst returns the destination in CIDR form (ip prints host routes bare).
func (r ipRoute) dst() string {
	if r.Dst == "default" {
		if strings.Contains(r.Gateway, ":") {
			return "::/0"
		}
		return "0.0.0.0/0"
	}
	if _, n, err := net.ParseCIDR(r.Dst); err == nil {
		return n.String()
	}
	if a := net.ParseIP(r.Dst); a != nil {
		if a.To4() != nil {
			return a.String() + "/32"
		}
		return a.String() + "/128"
	}
	return r.Dst
}

// listRoutes returns the main table's unicast routes of one family.
func listRoutes(ctx context.Context, family string) ([]ipRoute, error) {
	cmd := exec.CommandContext(ctx, "ip", "-j", family, "route", "show", "table", "main")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ip %s route show: %w: %s", family, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var routes []ipRoute
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return nil, fmt.Errorf("ip %s route show: %w", family, err)
	}
	return routes, nil
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
