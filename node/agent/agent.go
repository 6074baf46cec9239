// Package agent assembles `cairn agent`, what runs on every machine of the
// appliance: it joins the cluster (or uses a given kubeconfig), starts a
// container runtime, registers the Node and keeps its status and Lease
// (node/nodestatus), runs the pods bound to it (node/kubelet) in network
// namespaces wired by CNI (node/network), routes other nodes' pod ranges,
// serves container logs to the API server (node/logserver), and runs the
// service proxy (node/proxy).
package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/node/join"
	"github.com/cairn-dev/cairn/node/kubelet"
	"github.com/cairn-dev/cairn/node/logserver"
	"github.com/cairn-dev/cairn/node/nodestatus"
	"github.com/cairn-dev/cairn/node/proxy"
	"github.com/cairn-dev/cairn/node/runtime"
	"github.com/cairn-dev/cairn/node/runtime/containerd"
	"github.com/cairn-dev/cairn/node/runtime/fake"
)

// Version is reported as the node's kubelet and kube-proxy versions.
var Version = "v1.34.0-cairn"

// Config configures an agent.
type Config struct {
	// Server and Token join the cluster; Kubeconfig instead uses existing
	// credentials.
	Server     string
	Token      string
	Kubeconfig string

	NodeName   string
	NodeIP     string
	ExternalIP string
	Labels     map[string]string
	Taints     []corev1.Taint
	// Register creates the Node; false waits for an administrator's.
	Register              bool
	StatusUpdateFrequency time.Duration

	// Runtime is "containerd" or "fake".
	Runtime           string
	ContainerdAddress string
	// ContainerdBinary is started when nothing listens on
	// ContainerdAddress; default "containerd" from PATH.
	ContainerdBinary string
	ImageDir         string
	CgroupParent     string

	// ProxyMode is "iptables", "userspace", "ipvs" or "none".
	ProxyMode   string
	ClusterCIDR string

	DataDir     string
	KubeletPort int

	SystemReserved corev1.ResourceList
	KubeReserved   corev1.ResourceList
	EvictionHard   nodestatus.Eviction
	MaxPods        int64

	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		c.NodeName = h
	}
	if c.DataDir == "" {
		return errors.New("agent: --data-dir is required")
	}
	if c.Kubeconfig == "" && (c.Server == "" || c.Token == "") {
		return errors.New("agent: give --server and --token to join, or --kubeconfig")
	}
	if c.NodeIP == "" {
		ip, err := defaultIP()
		if err != nil {
			return fmt.Errorf("agent: --node-ip not given and none found: %w", err)
		}
		c.NodeIP = ip
	}
	if c.Runtime == "" {
		c.Runtime = "containerd"
	}
	if c.ContainerdAddress == "" {
		c.ContainerdAddress = "/run/containerd/containerd.sock"
	}
	if c.CgroupParent == "" {
		c.CgroupParent = "/cairn"
	}
	if c.ProxyMode == "" {
		c.ProxyMode = string(proxy.ModeIPTables)
	}
	if c.KubeletPort == 0 {
		c.KubeletPort = nodestatus.DefaultKubeletPort
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// defaultIP is the source address of the default route, as the kubelet
// picks a node IP.
func defaultIP() (string, error) {
	conn, err := net.Dial("udp", "192.0.2.1:9") // TEST-NET-1: no packet is sent
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// Run runs the agent until ctx ends. The containers it runs keep running
// after it returns; the next agent adopts them.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	log := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}

	creds, err := credentials(ctx, &cfg)
	if err != nil {
		return err
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", creds.KubeconfigPath)
	if err != nil {
		return fmt.Errorf("agent: reading %s: %w", creds.KubeconfigPath, err)
	}
	restCfg.QPS, restCfg.Burst = 50, 100
	restCfg.UserAgent = "cairn-agent/" + Version
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	// Events get a client and rate limit of their own, as the kubelet's
	// --event-qps.
	eventClient, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}

	rt, stopRuntime, err := startRuntime(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer stopRuntime()

	var podNet kubelet.Network
	var pn *podNetwork
	var fn *fakeNetwork
	if cfg.Runtime == "fake" {
		fn = &fakeNetwork{}
		podNet = fn
	} else {
		pn = &podNetwork{dir: filepath.Join(cfg.DataDir, "netns"), confDir: filepath.Join(cfg.DataDir, "cni", "net.d"),
			dataDir: filepath.Join(cfg.DataDir, "cni", "ipam"), clusterCIDR: cfg.ClusterCIDR, log: log}
		podNet = pn
	}

	var allocMu sync.Mutex
	var allocatable corev1.ResourceList
	status, err := nodestatus.New(nodestatus.Options{
		Client: client, NodeName: cfg.NodeName, Labels: cfg.Labels, Taints: cfg.Taints, Register: cfg.Register,
		StatusUpdateFrequency: cfg.StatusUpdateFrequency, DataDir: cfg.DataDir,
		Inputs: func(ctx context.Context) nodestatus.Inputs { return inputs(ctx, rt, pn, fn) },
		Config: nodestatus.Config{SystemReserved: cfg.SystemReserved, KubeReserved: cfg.KubeReserved, MaxPods: cfg.MaxPods,
			EvictionHard: cfg.EvictionHard, NodeIP: cfg.NodeIP, ExternalIP: cfg.ExternalIP, KubeletPort: int32(cfg.KubeletPort),
			KubeletVersion: Version, KubeProxyVersion: Version},
		Logger: log,
		OnNode: func(n *corev1.Node) {
			allocMu.Lock()
			allocatable = n.Status.Allocatable.DeepCopy()
			allocMu.Unlock()
			if pn != nil {
				pn.configure(ctx, n.Spec.PodCIDR)
			}
			if fn != nil {
				fn.configure(n.Spec.PodCIDR)
			}
		},
	})
	if err != nil {
		return err
	}
	kl, err := kubelet.New(kubelet.Config{Client: client, EventClient: eventClient, NodeName: cfg.NodeName, NodeIP: cfg.NodeIP, Runtime: rt, Network: podNet,
		DataDir: cfg.DataDir, Logger: log,
		Allocatable: func() corev1.ResourceList {
			allocMu.Lock()
			defer allocMu.Unlock()
			return allocatable
		}})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 5)
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	run("node status", status.Run)
	run("kubelet", func(ctx context.Context) error {
		// Pods wait for the Node: the kubelet admits nothing before it is
		// registered.
		select {
		case <-status.Registered():
		case <-ctx.Done():
			return nil
		}
		return kl.Run(ctx)
	})
	if pn != nil {
		run("routes", func(ctx context.Context) error { return routeLoop(ctx, client, cfg.NodeName, log) })
	}
	if creds.ServingCert.Certificate != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(creds.CAPEM)
		ls, err := logserver.New(logserver.Config{Addr: net.JoinHostPort(cfg.NodeIP, strconv.Itoa(cfg.KubeletPort)), Locator: locator{kl},
			ServingCert: creds.ServingCert, ClientCAs: pool, AllowedUsers: []string{logserver.APIServerUser}, Logger: log})
		if err != nil {
			return err
		}
		run("log server", ls.Run)
	} else {
		log.Warn("no serving certificate (agent started with --kubeconfig): container logs are not served")
	}
	run("proxy", func(ctx context.Context) error {
		return proxy.Start(ctx, client, proxy.Mode(cfg.ProxyMode), proxy.Options{ClusterCIDR: cfg.ClusterCIDR,
			NodeIPs: []string{cfg.NodeIP}, Logger: log})
	})
	log.Info("agent running", "runtime", cfg.Runtime, "proxy", cfg.ProxyMode, "nodeIP", cfg.NodeIP)
	<-ctx.Done()
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// credentials joins the cluster, or reads the given kubeconfig.
func credentials(ctx context.Context, cfg *Config) (join.Credentials, error) {
	if cfg.Kubeconfig != "" {
		return join.Credentials{KubeconfigPath: cfg.Kubeconfig}, nil
	}
	ips := []net.IP{}
	if ip := net.ParseIP(cfg.NodeIP); ip != nil {
		ips = append(ips, ip)
	}
	if ip := net.ParseIP(cfg.ExternalIP); ip != nil {
		ips = append(ips, ip)
	}
	creds, err := join.Join(ctx, join.Options{Server: cfg.Server, Token: cfg.Token, NodeName: cfg.NodeName,
		Dir: filepath.Join(cfg.DataDir, "pki"), ServingHosts: []string{cfg.NodeName}, ServingIPs: ips})
	if err != nil {
		return creds, fmt.Errorf("agent: joining %s: %w", cfg.Server, err)
	}
	return creds, nil
}

// startRuntime connects to containerd, starting it when nothing listens,
// or builds the fake runtime.
func startRuntime(ctx context.Context, cfg Config, log *slog.Logger) (runtime.Runtime, func(), error) {
	if cfg.Runtime == "fake" {
		rt := fake.New(fake.Options{})
		if cfg.ImageDir != "" {
			archives, _ := filepath.Glob(filepath.Join(cfg.ImageDir, "*.tar"))
			for _, a := range archives {
				if _, err := rt.ImportArchive(ctx, a); err != nil {
					return nil, nil, err
				}
			}
		}
		return rt, func() {}, nil
	}
	if cfg.Runtime != "containerd" {
		return nil, nil, fmt.Errorf("agent: unknown --runtime %q (containerd or fake)", cfg.Runtime)
	}
	dir := filepath.Join(cfg.DataDir, "containerd")
	d, err := containerd.StartDaemon(ctx, containerd.DaemonOptions{Binary: cfg.ContainerdBinary, Root: filepath.Join(dir, "root"),
		State: filepath.Join(dir, "state"), Address: cfg.ContainerdAddress, LogPath: filepath.Join(dir, "containerd.log")})
	if err != nil {
		return nil, nil, fmt.Errorf("agent: containerd: %w", err)
	}
	if d.Started() {
		log.Info("started containerd", "address", cfg.ContainerdAddress, "pid", d.PID())
	}
	rt, err := containerd.New(ctx, containerd.Options{Address: cfg.ContainerdAddress, ImageDir: cfg.ImageDir,
		CgroupParent: cfg.CgroupParent, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("agent: containerd: %w", err)
	}
	// containerd, when the agent started it, keeps running with the
	// containers: a restarted agent finds both.
	return rt, func() { _ = rt.Close() }, nil
}

// inputs are the runtime's and network's reports for the node status.
func inputs(ctx context.Context, rt runtime.Runtime, pn *podNetwork, fn *fakeNetwork) nodestatus.Inputs {
	var in nodestatus.Inputs
	in.RuntimeVersion, in.RuntimeErr = rt.Version(ctx)
	switch {
	case pn != nil:
		in.NetworkErr = pn.ready()
	case fn != nil:
		in.NetworkErr = fn.ready()
	}
	if imgs, err := rt.ListImages(ctx); err == nil {
		for _, i := range imgs {
			in.Images = append(in.Images, corev1.ContainerImage{Names: append(i.Names, i.ID), SizeBytes: i.Size})
		}
	}
	return in
}

// routeLoop keeps a route to every other node's pod range.
func routeLoop(ctx context.Context, client kubernetes.Interface, self string, log *slog.Logger) error {
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Core().V1().Nodes()
	lister := inf.Lister()
	kick := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: poke,
		UpdateFunc: func(_, n any) { poke(n) }, DeleteFunc: poke})
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return nil
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		nodes, _ := lister.List(labels.Everything())
		if err := syncRoutes(ctx, nodes, self); err != nil {
			log.Warn("syncing routes to other nodes", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-t.C:
		}
	}
}

// locator maps the log server's errors onto the kubelet's.
type locator struct{ k *kubelet.Kubelet }

func (l locator) LogPath(ns, pod, container string, previous bool) (string, error) {
	p, err := l.k.LogPath(ns, pod, container, previous)
	if errors.Is(err, kubelet.ErrNotFound) {
		return "", fmt.Errorf("%w: %v", logserver.ErrNotFound, err)
	}
	return p, err
}
