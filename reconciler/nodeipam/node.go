package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// nodePodCIDRs is spec.podCIDRs, or spec.podCIDR alone when podCIDRs is
// empty (a Node written by an older client).
func nodePodCIDRs(node *corev1.Node) []string {
	if len(node.Spec.PodCIDRs) == 0 && node.Spec.PodCIDR != "" {
		return []string{node.Spec.PodCIDR}
	}
	return node.Spec.PodCIDRs
}

func hasPodCIDR(node *corev1.Node) bool { return len(nodePodCIDRs(node)) > 0 }

// podCIDRs parses a Node's ranges; bad are those that do not parse.
func podCIDRs(node *corev1.Node) (cidrs []netip.Prefix, bad []string) {
	for _, s := range nodePodCIDRs(node) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			bad = append(bad, s)
			continue
		}
		cidrs = append(cidrs, p)
	}
	return cidrs, bad
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// patchNodeCIDRs is Kubernetes' PatchNodeCIDRs: a strategic merge patch
// of spec.podCIDRs and of spec.podCIDR, its first entry.
func patchNodeCIDRs(ctx context.Context, client kubernetes.Interface, node string, cidrs []string) error {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"podCIDR": cidrs[0], "podCIDRs": cidrs}})
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("failed to patch node CIDR: %w", err)
	}
	return nil
}
