package cli

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairn-dev/cairn/apiserver"
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

// runServer starts an API server from flags and blocks until the command's
// context ends; onReady, if set, runs once it serves.
func runServer(cmd *cobra.Command, cfg apiserver.Config, endpoints string, onReady func(*apiserver.Server)) error {
	cfg.EtcdEndpoints = splitList(endpoints)
	cfg.Logger = slog.Default()
	srv, err := apiserver.New(cfg)
	if err != nil {
		return err
	}
	if onReady != nil {
		go func() {
			select {
			case <-srv.Ready():
				onReady(srv)
			case <-cmd.Context().Done():
			}
		}()
	}
	return srv.Run(cmd.Context())
}

func newServerCmd() *cobra.Command {
	var cfg apiserver.Config
	var endpoints string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API server (with embedded etcd unless --etcd-endpoints is given)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd, cfg, endpoints, nil)
		},
	}
	serverFlags(cmd.Flags(), &cfg, &endpoints)
	return cmd
}

// newUpCmd runs the whole appliance on one machine. Today that is the API
// server; the controller manager, scheduler and node agent join it as they
// land.
func newUpCmd() *cobra.Command {
	var cfg apiserver.Config
	var endpoints string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the appliance on this machine (API server with embedded etcd)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd, cfg, endpoints, func(srv *apiserver.Server) {
				fmt.Fprintf(cmd.OutOrStdout(), "cairn is up at https://%s\n  admin:  kubectl --kubeconfig %s/admin.kubeconfig get nodes,pods -A\n  viewer: kubectl --kubeconfig %s/viewer.kubeconfig get all -A\n",
					srv.Addr(), cfg.DataDir, cfg.DataDir)
			})
		},
	}
	serverFlags(cmd.Flags(), &cfg, &endpoints)
	cmd.Flags().Lookup("data-dir").DefValue = ".cairn"
	_ = cmd.Flags().Set("data-dir", ".cairn")
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
