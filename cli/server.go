package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairn-dev/cairn/apiserver"
	"github.com/cairn-dev/cairn/node/agent"
)

// serverFlags binds the API server's flags to a Config.
func serverFlags(fs *pflag.FlagSet, cfg *apiserver.Config, endpoints *string) {
	fs.StringVar(&cfg.DataDir, "data-dir", "/var/lib/cairn", "where etcd, certificates and kubeconfigs live")
	fs.StringVar(endpoints, "etcd-endpoints", "", "comma-separated client URLs of an external etcd cluster (default: embedded etcd in the data dir)")
	fs.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "CA bundle verifying the external etcd's certificates")
	fs.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "client certificate for the external etcd")
	fs.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "client key for the external etcd")
	fs.StringVar(&cfg.BindAddress, "bind-address", "0.0.0.0", "address to serve HTTPS on")
	fs.IntVar(&cfg.SecurePort, "secure-port", 6443, "HTTPS port; 0 picks a free one and writes it to <data-dir>/server.addr")
	fs.StringVar(&cfg.AdvertiseAddress, "advertise-address", "127.0.0.1", "address clients and the kubernetes Service use to reach this server")
	fs.StringVar(&cfg.ServiceCIDR, "service-cluster-ip-range", "10.96.0.0/12", "CIDR Service ClusterIPs come from")
	fs.StringVar(&cfg.NodePortRange, "service-node-port-range", "30000-32767", "range NodePorts come from")
	fs.StringVar(&cfg.TokenAuthFile, "token-auth-file", "", "static bearer tokens, Kubernetes CSV format: token,user,uid,\"group1,group2\"")
	fs.DurationVar(&cfg.CompactionInterval, "etcd-compaction-interval", 5*time.Minute, "how often etcd history is compacted")
	fs.IntVar(&cfg.WatchCacheSize, "watch-cache-size", 10000, "events kept per resource for watches resuming from a resourceVersion")
}

// runServer starts the API server and the other control-plane components
// from flags and blocks until the command's context ends; onReady, if
// set, runs once the API server serves.
func runServer(cmd *cobra.Command, cfg apiserver.Config, endpoints string, comps componentsConfig, onReady func(*apiserver.Server)) error {
	if err := comps.validate(); err != nil {
		return &exitError{code: 2, err: err}
	}
	apiserver.TuneGC()
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	if !comps.runs(componentAPIServer) {
		return runComponents(ctx, comps, func(string) string { return comps.Kubeconfig }, prometheus.NewRegistry())
	}
	comps.DataDir = cfg.DataDir
	cfg.EtcdEndpoints = splitList(endpoints)
	cfg.Logger = slog.Default()
	srv, err := apiserver.New(cfg)
	if err != nil {
		return err
	}
	compErr := make(chan error, 1)
	go func() {
		select {
		case <-srv.Ready():
		case <-ctx.Done():
			compErr <- nil
			return
		}
		if onReady != nil {
			onReady(srv)
		}
		kubeconfig := func(identity string) string { return filepath.Join(cfg.DataDir, identity+".kubeconfig") }
		err := runComponents(ctx, comps, kubeconfig, srv.Registry())
		if err != nil && ctx.Err() == nil {
			slog.Error("a control-plane component stopped; stopping the server", "err", err)
			cancel()
		}
		compErr <- err
	}()
	err = srv.Run(ctx)
	cancel()
	if cerr := <-compErr; err == nil && cerr != nil && cmd.Context().Err() == nil {
		err = cerr
	}
	return err
}

func newServerCmd() *cobra.Command {
	var cfg apiserver.Config
	var endpoints string
	var comps componentsConfig
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: API server (with embedded etcd unless --etcd-endpoints is given) and scheduler",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd, cfg, endpoints, comps, nil)
		},
	}
	serverFlags(cmd.Flags(), &cfg, &endpoints)
	componentFlags(cmd.Flags(), &comps)
	cmd.AddCommand(newJoinTokenCmd())
	return cmd
}

// newUpCmd runs the whole appliance on one machine: the control plane and,
// once the API server serves, a node agent joined with the server's own
// join token, so pods run on this machine.
func newUpCmd() *cobra.Command {
	var cfg apiserver.Config
	var endpoints string
	var comps componentsConfig
	var runAgent bool
	var af agentFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the appliance on this machine: control plane (API server with embedded etcd, controller manager, scheduler, gitsync) and a node agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			acfg, err := af.config()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if runAgent && os.Geteuid() != 0 {
				slog.Warn("the node agent needs root (containerd, network namespaces, iptables); running the control plane only")
				runAgent = false
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			agentDone := make(chan error, 1)
			agentDone <- nil
			cmd.SetContext(ctx)
			err = runServer(cmd, cfg, endpoints, comps, func(srv *apiserver.Server) {
				fmt.Fprintf(cmd.OutOrStdout(), "cairn is up at https://%s\n  admin:  kubectl --kubeconfig %s/admin.kubeconfig get nodes,pods -A\n  viewer: kubectl --kubeconfig %s/viewer.kubeconfig get all -A\n",
					srv.Addr(), cfg.DataDir, cfg.DataDir)
				if !runAgent {
					return
				}
				<-agentDone
				token, err := os.ReadFile(filepath.Join(cfg.DataDir, apiserver.JoinTokenFile))
				if err != nil {
					slog.Error("no join token for the node agent", "err", err)
					return
				}
				acfg.Server = "https://" + srv.Addr()
				acfg.Token = strings.TrimSpace(string(token))
				acfg.ClusterCIDR = comps.ClusterCIDR
				if acfg.DataDir == "" {
					dir, err := filepath.Abs(filepath.Join(cfg.DataDir, "agent"))
					if err != nil {
						slog.Error("node agent data dir", "err", err)
						return
					}
					acfg.DataDir = dir
				}
				if acfg.ContainerdAddress == "" {
					acfg.ContainerdAddress = filepath.Join(acfg.DataDir, "containerd.sock")
				}
				acfg.Logger = slog.Default()
				go func() {
					err := agent.Run(ctx, acfg)
					if err != nil && ctx.Err() == nil {
						slog.Error("the node agent stopped; stopping the appliance", "err", err)
						cancel()
					}
					agentDone <- err
				}()
			})
			cancel()
			if aerr := <-agentDone; err == nil && aerr != nil {
				err = aerr
			}
			return err
		},
	}
	serverFlags(cmd.Flags(), &cfg, &endpoints)
	componentFlags(cmd.Flags(), &comps)
	cmd.Flags().Lookup("data-dir").DefValue = ".cairn"
	_ = cmd.Flags().Set("data-dir", ".cairn")
	// One machine is its own node: it needs a pod range.
	_ = cmd.Flags().Set("allocate-node-cidrs", "true")
	cmd.Flags().Lookup("allocate-node-cidrs").DefValue = "true"
	cmd.Flags().BoolVar(&runAgent, "agent", true, "run a node agent on this machine (needs root)")
	cmd.Flags().StringVar(&af.cfg.NodeName, "node-name", "", "the local node's name (default: the hostname)")
	cmd.Flags().StringVar(&af.cfg.NodeIP, "node-ip", "", "the local node's InternalIP (default: the address of the default route)")
	cmd.Flags().StringVar(&af.cfg.Runtime, "runtime", "containerd", "the local node's container runtime: containerd or fake")
	cmd.Flags().StringVar(&af.cfg.ContainerdAddress, "containerd-address", "", "containerd's socket (default: <data-dir>/agent/containerd.sock, started by the agent)")
	cmd.Flags().StringVar(&af.cfg.ImageDir, "image-dir", "", "import every OCI or docker archive (*.tar) in this directory on the node")
	cmd.Flags().StringVar(&af.cfg.ProxyMode, "proxy-mode", "iptables", "service proxy: iptables, userspace or none")
	af.cfg.Register = true
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print cairn's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "cairn", apiserver.Version)
		},
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
