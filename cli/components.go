package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/gitsync"
	"github.com/cairn-dev/cairn/reconciler/manager"
	"github.com/cairn-dev/cairn/reconciler/nodeipam"
	"github.com/cairn-dev/cairn/reconciler/nodelifecycle"
	"github.com/cairn-dev/cairn/reconciler/scheduler"
)

// The components `cairn server` can run; all by default.
const (
	componentAPIServer         = "apiserver"
	componentControllerManager = "controller-manager"
	componentScheduler         = "scheduler"
	componentGitSync           = "gitsync"
)

var allComponents = []string{componentAPIServer, componentControllerManager, componentScheduler, componentGitSync}

// componentsConfig is what the control-plane components other than the
// API server need: which of them run, and how they reach the API.
type componentsConfig struct {
	Components []string
	// Kubeconfig for components when the API server runs elsewhere; with
	// a local API server each component uses its own identity's
	// kubeconfig from the data dir.
	Kubeconfig  string
	LeaderElect bool
	// Controller manager flags, Kubernetes' names and defaults.
	AllocateNodeCIDRs bool
	ClusterCIDR       string
	NodeCIDRMaskSize  int
	NodeLifecycle     nodelifecycle.Options
	// gitsync: the repository the server follows (--git-repo), if any,
	// declared as the GitRepository cairn-system/cluster.
	GitRepo, GitBranch, GitPath string
	GitInterval                 time.Duration
	// GitWebhookAddress serves the push webhook receiver ("" = off).
	GitWebhookAddress string
	// DataDir keeps gitsync's clones.
	DataDir string
}

func componentFlags(fs *pflag.FlagSet, cfg *componentsConfig) {
	fs.StringSliceVar(&cfg.Components, "components", allComponents, "control-plane components to run: "+strings.Join(allComponents, ", "))
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig the components use when the apiserver component does not run here")
	fs.BoolVar(&cfg.LeaderElect, "leader-elect", true, "components campaign for their lease, so that one instance is active among several servers sharing an etcd cluster")
	fs.BoolVar(&cfg.AllocateNodeCIDRs, "allocate-node-cidrs", false, "give every node a pod range from --cluster-cidr (the node IPAM controller)")
	fs.StringVar(&cfg.ClusterCIDR, "cluster-cidr", nodeipam.DefaultClusterCIDR.String(), "the pods' network: one prefix, or an IPv4 and an IPv6 prefix separated by a comma")
	fs.IntVar(&cfg.NodeCIDRMaskSize, "node-cidr-mask-size", 0, "prefix length of each node's pod range (default 24 for IPv4, 64 for IPv6)")
	nl := &cfg.NodeLifecycle
	fs.DurationVar(&nl.NodeMonitorPeriod, "node-monitor-period", nodelifecycle.DefaultNodeMonitorPeriod, "how often the node lifecycle controller looks at node health")
	fs.DurationVar(&nl.NodeMonitorGracePeriod, "node-monitor-grace-period", nodelifecycle.DefaultNodeMonitorGracePeriod, "how long a node may stay silent before its Ready condition turns Unknown")
	fs.DurationVar(&nl.NodeStartupGracePeriod, "node-startup-grace-period", nodelifecycle.DefaultNodeStartupGracePeriod, "the same for a node that never posted Ready")
	fs.Float32Var(&nl.NodeEvictionRate, "node-eviction-rate", nodelifecycle.DefaultNodeEvictionRate, "nodes per second whose pods are evicted (NoExecute taint) in a healthy zone")
	fs.Float32Var(&nl.SecondaryNodeEvictionRate, "secondary-node-eviction-rate", nodelifecycle.DefaultSecondaryNodeEvictionRate, "the same in a zone where at least --unhealthy-zone-threshold of the nodes are not ready")
	fs.Float32Var(&nl.UnhealthyZoneThreshold, "unhealthy-zone-threshold", nodelifecycle.DefaultUnhealthyZoneThreshold, "share of not-ready nodes that makes a zone unhealthy")
	fs.IntVar(&nl.LargeClusterSizeThreshold, "large-cluster-size-threshold", nodelifecycle.DefaultLargeClusterSizeThreshold, "unhealthy zones of at most this many nodes evict nothing")
	fs.StringVar(&cfg.GitRepo, "git-repo", "", "repository whose manifests the cluster follows (local path, file://, https:// or ssh://); declared as the GitRepository cairn-system/cluster")
	fs.StringVar(&cfg.GitBranch, "git-branch", "main", "branch of --git-repo")
	fs.StringVar(&cfg.GitPath, "git-path", "", "directory of --git-repo holding the manifests")
	fs.DurationVar(&cfg.GitInterval, "git-interval", gitsync.DefaultInterval, "how often --git-repo is fetched")
	fs.StringVar(&cfg.GitWebhookAddress, "git-webhook-bind-address", "", "serve the push webhook receiver (POST "+gitsync.WebhookPrefix+"<namespace>/<name>) on this address, e.g. :9292; off when empty")
}

func (c componentsConfig) runs(name string) bool { return slices.Contains(c.Components, name) }

func (c componentsConfig) validate() error {
	for _, name := range c.Components {
		if !slices.Contains(allComponents, name) {
			return fmt.Errorf("--components: unknown component %q (known: %s)", name, strings.Join(allComponents, ", "))
		}
	}
	if len(c.Components) == 0 {
		return fmt.Errorf("--components: none given")
	}
	if _, err := nodeipam.ParseClusterCIDRs(c.ClusterCIDR); err != nil {
		return fmt.Errorf("--cluster-cidr: %w", err)
	}
	if !c.runs(componentAPIServer) && c.Kubeconfig == "" {
		return fmt.Errorf("--kubeconfig is required when the apiserver component does not run here")
	}
	return nil
}

// runComponents runs the non-API-server components until ctx ends.
// kubeconfig names the kubeconfig file of an identity; reg collects
// their metrics.
func runComponents(ctx context.Context, c componentsConfig, kubeconfig func(identity string) string, reg prometheus.Registerer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(allComponents))
	running := 0
	if c.runs(componentControllerManager) {
		cfg, err := restConfigFor(kubeconfig("controller-manager"))
		if err != nil {
			return fmt.Errorf("controller manager: %w", err)
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return fmt.Errorf("controller manager: %w", err)
		}
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return fmt.Errorf("controller manager: %w", err)
		}
		md, err := metadata.NewForConfig(cfg)
		if err != nil {
			return fmt.Errorf("controller manager: %w", err)
		}
		cidrs, _ := nodeipam.ParseClusterCIDRs(c.ClusterCIDR) // validated
		m, err := manager.New(manager.Config{Client: client, Dynamic: dyn, Metadata: md, LeaderElect: c.LeaderElect,
			AllocateNodeCIDRs: c.AllocateNodeCIDRs, ClusterCIDRs: cidrs, NodeCIDRMaskSize: c.NodeCIDRMaskSize, NodeLifecycle: c.NodeLifecycle,
			Registerer: reg, Logger: slog.Default()})
		if err != nil {
			return err
		}
		running++
		go func() { errs <- m.Run(ctx) }()
	}
	if c.runs(componentGitSync) {
		cfg, err := restConfigFor(kubeconfig("gitsync"))
		if err != nil {
			return fmt.Errorf("gitsync: %w", err)
		}
		g, err := newGitSync(ctx, cfg, c, reg)
		if err != nil {
			return fmt.Errorf("gitsync: %w", err)
		}
		running++
		go func() { errs <- g.Run(ctx) }()
		if c.GitWebhookAddress != "" {
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return fmt.Errorf("gitsync: %w", err)
			}
			mux := http.NewServeMux()
			mux.Handle(gitsync.WebhookPrefix, &gitsync.Webhook{Client: client, Controller: g})
			hs := &http.Server{Addr: c.GitWebhookAddress, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			running++
			go func() {
				go func() { <-ctx.Done(); _ = hs.Close() }()
				slog.Info("gitsync webhook receiver listening", "address", c.GitWebhookAddress)
				if err := hs.ListenAndServe(); err != nil && ctx.Err() == nil {
					errs <- fmt.Errorf("gitsync webhook receiver: %w", err)
					return
				}
				errs <- nil
			}()
		}
	}
	if c.runs(componentScheduler) {
		client, err := clientFor(kubeconfig("scheduler"))
		if err != nil {
			return fmt.Errorf("scheduler: %w", err)
		}
		s, err := scheduler.New(scheduler.Config{Client: client, LeaderElect: c.LeaderElect, Registerer: reg, Logger: slog.Default()})
		if err != nil {
			return err
		}
		running++
		go func() { errs <- s.Run(ctx) }()
	}
	// The first component to stop stops the others.
	var first error
	for range running {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
		cancel()
	}
	return first
}

// clientFor builds a client from a kubeconfig file, with client-side
// rate limits off: the components are the cluster's own and the API
// server applies its own limits.
func clientFor(path string) (*kubernetes.Clientset, error) {
	cfg, err := restConfigFor(path)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// restConfigFor loads a kubeconfig for a control-plane component:
// protobuf, as Kubernetes' components speak, and no client-side rate
// limit.
func restConfigFor(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return cfg, nil
}
