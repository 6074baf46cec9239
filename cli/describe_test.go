package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDescribeGolden: `cairn describe` in kubectl's layout for nodes
// (every field: roles, labels, annotations, taints, unschedulable, lease,
// conditions, addresses, capacity, allocatable, system info, pod CIDRs,
// the pods on it with their share of allocatable, allocated resources,
// events), pods running and pending, the workloads, and the generic
// outline of any other kind. Ages are measured from the seeding time.
func TestDescribeGolden(t *testing.T) {
	rc := startReadCluster(t)
	now := func() time.Time { return rc.base }
	cases := []struct {
		golden string
		args   []string
	}{
		{"node-1.txt", []string{"node", "node-1"}},
		{"node-3.txt", []string{"no", "node-3"}},
		{"pod-running.txt", []string{"pod", "web-7d4b9c-abc12"}},
		{"pod-pending.txt", []string{"po", "batch-1"}},
		{"pod-other-namespace.txt", []string{"pods", "cart", "-n", "shop"}},
		{"deployment.txt", []string{"deploy", "web"}},
		{"replicaset.txt", []string{"rs", "web-7d4b9c"}},
		{"configmap.txt", []string{"cm", "settings"}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			out, errOut, code := runRead(t, newDescribeCmdAt(now), append([]string{"describe", "--kubeconfig", rc.viewer}, tc.args...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			checkGolden(t, filepath.Join("describe", tc.golden), normalise(out))
		})
	}
	_, errOut, code := runRead(t, newDescribeCmdAt(now), "describe", "--kubeconfig", rc.viewer, "node", "node-9")
	if code != 1 || !strings.Contains(errOut, `nodes "node-9" not found`) {
		t.Fatalf("missing node: exit %d, stderr %q", code, errOut)
	}
}
