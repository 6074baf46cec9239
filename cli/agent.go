package cli

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/cairn-dev/cairn/node/agent"
	"github.com/cairn-dev/cairn/node/nodestatus"
)

// agentFlags are `cairn agent`'s flags before parsing.
type agentFlags struct {
	cfg            agent.Config
	labels, taints string
	systemReserved string
	kubeReserved   string
	evictionHard   string
}

func newAgentCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent: kubelet on containerd, pod networking and the service proxy",
		Long: `Run the node agent on this machine. It joins the cluster with a join token
(written by cairn server to <data-dir>/join-token), verifying the server's CA
against the token, registers the Node, runs the pods bound to it under
containerd, wires their network with CNI, and proxies Services.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			cfg.Logger = slog.Default()
			return agent.Run(cmd.Context(), cfg)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.cfg.Server, "server", "", "the API server to join, https://HOST:PORT")
	fs.StringVar(&f.cfg.Token, "token", "", "the join token (K10<ca hash>::<id>.<secret>) from the server's <data-dir>/join-token")
	fs.StringVar(&f.cfg.Kubeconfig, "kubeconfig", "", "use these credentials instead of joining with --server and --token")
	fs.StringVar(&f.cfg.NodeName, "node-name", "", "the Node's name (default: the hostname)")
	fs.StringVar(&f.cfg.NodeIP, "node-ip", "", "the node's InternalIP (default: the address of the default route)")
	fs.StringVar(&f.cfg.ExternalIP, "node-external-ip", "", "the node's ExternalIP, if any")
	fs.StringVar(&f.labels, "node-labels", "", "labels to register the Node with, k=v,...")
	fs.StringVar(&f.taints, "register-with-taints", "", "taints to register the Node with, key=value:Effect,...")
	fs.BoolVar(&f.cfg.Register, "register-node", true, "create the Node; false waits for an administrator to create it (from git)")
	fs.DurationVar(&f.cfg.StatusUpdateFrequency, "node-status-update-frequency", nodestatus.DefaultStatusUpdateFrequency, "how often the node status is posted when nothing changes")
	fs.StringVar(&f.cfg.Runtime, "runtime", "containerd", "container runtime: containerd or fake")
	fs.StringVar(&f.cfg.ContainerdAddress, "containerd-address", "/run/containerd/containerd.sock", "containerd's socket; the agent starts containerd there (state in <data-dir>/containerd) when none answers")
	fs.StringVar(&f.cfg.ImageDir, "image-dir", "", "import every OCI or docker archive (*.tar) in this directory at start")
	fs.StringVar(&f.cfg.CgroupParent, "cgroup-parent", "/cairn", "the cgroup under which pods' containers run")
	fs.StringVar(&f.cfg.ProxyMode, "proxy-mode", "iptables", "service proxy: iptables, userspace, ipvs (refused: not implemented) or none")
	fs.StringVar(&f.cfg.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "the pods' network; traffic leaving it is masqueraded")
	fs.StringVar(&f.cfg.DataDir, "data-dir", "/var/lib/cairn-agent", "where credentials, pod volumes, logs and containerd's state live")
	fs.IntVar(&f.cfg.KubeletPort, "kubelet-port", nodestatus.DefaultKubeletPort, "the port the API server reads container logs from")
	fs.StringVar(&f.systemReserved, "system-reserved", "", "resources kept for the system, cpu=100m,memory=256Mi,ephemeral-storage=1Gi")
	fs.StringVar(&f.kubeReserved, "kube-reserved", "", "resources kept for cairn itself, same format")
	fs.StringVar(&f.evictionHard, "eviction-hard", "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%",
		"pressure thresholds: memory.available, nodefs.available, nodefs.inodesFree, pid.available, each <quantity or <percent%")
	fs.Int64Var(&f.cfg.MaxPods, "max-pods", nodestatus.DefaultMaxPods, "pods this node accepts")
	return cmd
}

func (f *agentFlags) config() (agent.Config, error) {
	cfg := f.cfg
	var err error
	if cfg.Labels, err = parseLabels(splitList(f.labels)); err != nil {
		return cfg, fmt.Errorf("--node-labels: %w", err)
	}
	if cfg.Taints, err = parseTaints(splitList(f.taints)); err != nil {
		return cfg, fmt.Errorf("--register-with-taints: %w", err)
	}
	if cfg.SystemReserved, err = parseResources(f.systemReserved); err != nil {
		return cfg, fmt.Errorf("--system-reserved: %w", err)
	}
	if cfg.KubeReserved, err = parseResources(f.kubeReserved); err != nil {
		return cfg, fmt.Errorf("--kube-reserved: %w", err)
	}
	if cfg.EvictionHard, err = parseEviction(f.evictionHard); err != nil {
		return cfg, fmt.Errorf("--eviction-hard: %w", err)
	}
	return cfg, nil
}

func parseResources(s string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not resource=quantity", kv)
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[corev1.ResourceName(k)] = q
	}
	return out, nil
}

// parseEviction parses the kubelet's --eviction-hard syntax.
func parseEviction(s string) (nodestatus.Eviction, error) {
	var e nodestatus.Eviction
	for _, item := range splitList(s) {
		signal, value, ok := strings.Cut(item, "<")
		if !ok {
			return e, fmt.Errorf("%q is not signal<threshold", item)
		}
		var t nodestatus.Threshold
		if p, isPct := strings.CutSuffix(value, "%"); isPct {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f <= 0 || f > 100 {
				return e, fmt.Errorf("%q: a percentage must be in (0, 100]", item)
			}
			t.Percent = f
		} else {
			q, err := resource.ParseQuantity(value)
			if err != nil {
				return e, fmt.Errorf("%q: %w", item, err)
			}
			t.Quantity = q
		}
		switch signal {
		case "memory.available":
			e.MemoryAvailable = t
		case "nodefs.available":
			e.NodeFSAvailable = t
		case "nodefs.inodesFree":
			e.NodeFSInodesFree = t
		case "pid.available":
			e.PIDAvailable = t
		default:
			return e, fmt.Errorf("unknown signal %q (memory.available, nodefs.available, nodefs.inodesFree, pid.available)", signal)
		}
	}
	return e, nil
}
