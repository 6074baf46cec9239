package cli

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/node/sim"
)

// simConfig is `cairn sim`'s flags.
type simConfig struct {
	Kubeconfig                    string
	Nodes                         int
	NamePrefix                    string
	CPU, Memory, EphemeralStorage string
	Pods                          int64
	Zones                         []string
	Region                        string
	Labels                        []string
	Taints                        []string
	TaintedFraction               float64
	MixedSizes                    bool
	Seed                          int64
	StartDelay, StopDelay         time.Duration
	RenewInterval, StatusInterval time.Duration
	NoPods                        bool
	QPS                           float32
	Burst                         int
	Workers                       int
}

func simFlags(fs *pflag.FlagSet, cfg *simConfig) {
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to join (default: $KUBECONFIG, then ~/.kube/config)")
	fs.IntVarP(&cfg.Nodes, "nodes", "n", 10, "how many nodes to simulate")
	fs.StringVar(&cfg.NamePrefix, "name-prefix", "sim-", "node names are <prefix>0000, <prefix>0001, ...")
	fs.StringVar(&cfg.CPU, "cpu", sim.DefaultCPU.String(), "CPU capacity of each node")
	fs.StringVar(&cfg.Memory, "memory", sim.DefaultMemory.String(), "memory capacity of each node")
	fs.StringVar(&cfg.EphemeralStorage, "ephemeral-storage", sim.DefaultEphemeralStorage.String(), "ephemeral-storage capacity of each node")
	fs.Int64Var(&cfg.Pods, "pods", sim.DefaultPods, "pod capacity of each node")
	fs.BoolVar(&cfg.MixedSizes, "mixed-sizes", false, "mix small, medium, large and xlarge nodes instead of --cpu, --memory, --ephemeral-storage and --pods")
	fs.StringSliceVar(&cfg.Zones, "zones", nil, "zones dealt to the nodes round-robin (topology.kubernetes.io/zone)")
	fs.StringVar(&cfg.Region, "region", "", "region of every node (topology.kubernetes.io/region)")
	fs.StringSliceVar(&cfg.Labels, "labels", nil, "labels of every node: key=value,...")
	fs.StringSliceVar(&cfg.Taints, "taints", nil, "taints: key=value:Effect or key:Effect,... (on every node, or on --tainted-fraction of them)")
	fs.Float64Var(&cfg.TaintedFraction, "tainted-fraction", 0, "fraction of the nodes (0 to 1) that get --taints, or "+sim.DefaultTaint.ToString()+" without --taints")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the random node sizes and of which nodes are tainted")
	fs.DurationVar(&cfg.StartDelay, "start-delay", 0, "how long a pod bound to a node stays Pending before it runs")
	fs.DurationVar(&cfg.StopDelay, "stop-delay", 0, "how long a deleted pod takes to stop")
	fs.DurationVar(&cfg.RenewInterval, "renew-interval", 10*time.Second, "how often each node renews its Lease")
	fs.DurationVar(&cfg.StatusInterval, "status-interval", 5*time.Minute, "how often each node posts its status when nothing changed (the kubelet's nodeStatusReportFrequency)")
	fs.BoolVar(&cfg.NoPods, "no-pods", false, "only register and heartbeat nodes; leave pods alone")
	fs.Float32Var(&cfg.QPS, "qps", 0, "client-side limit of requests per second to the API server (0: none)")
	fs.IntVar(&cfg.Burst, "burst", 0, "client-side burst above --qps")
	fs.IntVar(&cfg.Workers, "workers", 8, "pod status writers")
}

func newSimCmd() *cobra.Command {
	cfg := simConfig{}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run simulated nodes against a cluster (for scale tests and benchmarks)",
		Long: `Register simulated nodes with an API server and keep them alive until
interrupted: each renews its Lease, posts its status and "runs" the pods
bound to it by writing their status, without containers.

Pod annotations steer a run: sim.cairn.dev/run-for: 30s ends a pod with
restartPolicy Never or OnFailure after 30s, sim.cairn.dev/fail: "true"
makes it fail, sim.cairn.dev/not-ready: "true" keeps it unready.

Exit code: 0 interrupted, 1 the nodes could not be registered, 2 usage error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSimNodes(cmd, cfg)
		},
	}
	simFlags(cmd.Flags(), &cfg)
	return cmd
}

// genOptions turns the flags into the nodes' shapes. --taints alone taints
// every node; with --tainted-fraction only that share of them.
func (c simConfig) genOptions(fractionSet bool) (sim.GenOptions, error) {
	o := sim.GenOptions{Prefix: c.NamePrefix, Zones: c.Zones, Region: c.Region, Seed: c.Seed, TaintedFraction: c.TaintedFraction}
	if c.Nodes < 1 {
		return o, fmt.Errorf("--nodes must be at least 1, not %d", c.Nodes)
	}
	if c.Nodes > sim.MaxNodes {
		return o, fmt.Errorf("--nodes must be at most %d, not %d", sim.MaxNodes, c.Nodes)
	}
	if c.TaintedFraction < 0 || c.TaintedFraction > 1 {
		return o, fmt.Errorf("--tainted-fraction must be between 0 and 1, not %g", c.TaintedFraction)
	}
	if c.MixedSizes {
		o.Sizes = sim.DefaultSizes()
	} else {
		size := sim.NodeSpec{Pods: c.Pods}
		for _, q := range []struct {
			flag, value string
			dst         *resource.Quantity
		}{{"cpu", c.CPU, &size.CPU}, {"memory", c.Memory, &size.Memory}, {"ephemeral-storage", c.EphemeralStorage, &size.EphemeralStorage}} {
			v, err := resource.ParseQuantity(q.value)
			if err != nil || v.Sign() <= 0 {
				return o, fmt.Errorf("--%s: %q is not a positive quantity", q.flag, q.value)
			}
			*q.dst = v
		}
		if c.Pods < 1 {
			return o, fmt.Errorf("--pods must be at least 1, not %d", c.Pods)
		}
		o.Sizes = []sim.NodeSpec{size}
	}
	labels, err := parseLabels(c.Labels)
	if err != nil {
		return o, fmt.Errorf("--labels: %w", err)
	}
	o.Labels = labels
	if o.Taints, err = parseTaints(c.Taints); err != nil {
		return o, fmt.Errorf("--taints: %w", err)
	}
	if len(o.Taints) > 0 && !fractionSet {
		o.TaintedFraction = 1
	}
	return o, nil
}

// clusterConfig is the simulator's configuration but for the nodes.
func (c simConfig) clusterConfig(client kubernetes.Interface, log *slog.Logger) sim.Config {
	return sim.Config{
		Client: client, RenewInterval: c.RenewInterval, StatusInterval: c.StatusInterval,
		StartDelay: c.StartDelay, StopDelay: c.StopDelay, NoPods: c.NoPods, Workers: c.Workers, Logger: log,
	}
}

func parseLabels(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(list))
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		if msgs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(msgs) > 0 {
			return nil, fmt.Errorf("%q: %s", kv, strings.Join(msgs, "; "))
		}
		out[k] = v
	}
	return out, nil
}

// parseTaints reads key=value:Effect and key:Effect, as kubectl taint.
func parseTaints(list []string) ([]corev1.Taint, error) {
	var out []corev1.Taint
	for _, s := range list {
		kv, effect, ok := strings.Cut(s, ":")
		if !ok {
			return nil, fmt.Errorf("%q has no :Effect", s)
		}
		t := corev1.Taint{Effect: corev1.TaintEffect(effect)}
		t.Key, t.Value, _ = strings.Cut(kv, "=")
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			return nil, fmt.Errorf("%q: effect must be NoSchedule, PreferNoSchedule or NoExecute", s)
		}
		if msgs := append(validation.IsQualifiedName(t.Key), validation.IsValidLabelValue(t.Value)...); len(msgs) > 0 {
			return nil, fmt.Errorf("%q: %s", s, strings.Join(msgs, "; "))
		}
		out = append(out, t)
	}
	return out, nil
}

func runSimNodes(cmd *cobra.Command, cfg simConfig) error {
	opts, err := cfg.genOptions(cmd.Flags().Changed("tainted-fraction"))
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = cfg.Kubeconfig
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("kubeconfig: %w", err)}
	}
	rc.QPS, rc.Burst = cfg.QPS, cfg.Burst
	client, err := sim.NewClient(rc)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	scfg := cfg.clusterConfig(client, slog.Default())
	scfg.Nodes = sim.Generate(cfg.Nodes, opts)
	c, err := sim.New(scfg)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	start := time.Now()
	go func() {
		select {
		case <-c.Registered():
			fmt.Fprintf(cmd.OutOrStdout(), "%d simulated nodes registered in %s; interrupt to stop\n",
				cfg.Nodes, time.Since(start).Round(time.Millisecond))
		case <-cmd.Context().Done():
		}
	}()
	if err := c.Run(cmd.Context()); err != nil {
		return &exitError{code: 1, err: err}
	}
	return nil
}
