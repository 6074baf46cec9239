// Package apiserver serves cairn's Kubernetes-compatible API over the etcd
// store: authentication, authorization, admission, validation and storage,
// in the order the seed's architecture describes, with discovery, OpenAPI,
// Table output, health and metrics around them.
package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
	"github.com/cairn-dev/cairn/apiserver/auth"
	"github.com/cairn-dev/cairn/apiserver/storage"
	"github.com/cairn-dev/cairn/policies"
	"github.com/cairn-dev/cairn/policies/builtin"
	"github.com/cairn-dev/cairn/policies/cel"
	"github.com/cairn-dev/cairn/schema"
)

// Config configures a Server. Zero values take the defaults noted.
type Config struct {
	DataDir string
	// EtcdEndpoints of an external etcd cluster; empty = embedded etcd in DataDir/etcd.
	EtcdEndpoints                         []string
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	BindAddress                           string // default 0.0.0.0
	SecurePort                            int    // 0 = a free port, written to DataDir/server.addr
	// AdvertiseAddress is the address clients and the kubernetes Service use; default: 127.0.0.1.
	AdvertiseAddress string
	ServiceCIDR      string // default 10.96.0.0/12
	NodePortRange    string // default 30000-32767
	TokenAuthFile    string
	// CompactionInterval of etcd history; default 5m.
	CompactionInterval time.Duration
	// WatchCacheSize is the number of events kept per resource; default 10000.
	WatchCacheSize int
	// BookmarkInterval for watchers that allow bookmarks; default 1m.
	BookmarkInterval time.Duration
	// Admission plugins run after the built-in defaulting and Kubernetes'
	// built-in plugins (NamespaceLifecycle, LimitRanger,
	// DefaultTolerationSeconds; NodeRestriction), in order.
	Mutating   []policies.Mutating
	Validating []policies.Validating
	// NoBuiltinAdmission turns Kubernetes' built-in plugins off.
	NoBuiltinAdmission bool
	Logger             *slog.Logger
	// Registry for metrics; default a new registry served on /metrics.
	Registry *prometheus.Registry
	// KubeletAddressTypes are the Node address types (status.addresses)
	// tried in order to reach a node's kubelet for pod logs; default
	// InternalIP, then Hostname.
	KubeletAddressTypes []string
}

// Server is a running API server.
type Server struct {
	cfg       Config
	log       *slog.Logger
	scheme    *runtime.Scheme
	reg       *registry
	etcd      *storage.Embedded
	client    *clientv3.Client
	store     *storage.Store
	stores    map[*Resource]*storage.Resource
	authn     *auth.Authenticator
	authz     *auth.RBAC
	ca        *auth.CA
	alloc     *allocator
	metrics   *metrics
	addr      string
	startedAt time.Time

	schemas   *schema.Validator
	policies  *policyFeed
	encodings *sharedEncodings
	// protoEncodings: the same for watches in protobuf.
	protoEncodings *sharedEncodings
	openapiOnce    sync.Once
	openapi        map[string][]byte
	// kubelets reads pod logs from the nodes.
	kubelets *kubeletClient

	ready   chan struct{}
	readyMu sync.Mutex
	isReady bool
}

// NewScheme returns the scheme of every kind cairn serves.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := gitopsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// New prepares a server; Run starts it.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("apiserver: a data dir is required")
	}
	if cfg.BindAddress == "" {
		cfg.BindAddress = "0.0.0.0"
	}
	if cfg.AdvertiseAddress == "" {
		cfg.AdvertiseAddress = "127.0.0.1"
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = "10.96.0.0/12"
	}
	if cfg.NodePortRange == "" {
		cfg.NodePortRange = "30000-32767"
	}
	if cfg.CompactionInterval == 0 {
		cfg.CompactionInterval = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	}
	reg, err := newRegistry(Resources())
	if err != nil {
		return nil, err
	}
	alloc, err := newAllocator(cfg.ServiceCIDR, cfg.NodePortRange)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, scheme: NewScheme(), reg: reg, alloc: alloc,
		stores: map[*Resource]*storage.Resource{}, metrics: newMetrics(cfg.Registry),
		ready: make(chan struct{}), encodings: newSharedEncodings(4096, encodeJSON),
		protoEncodings: newSharedEncodings(4096, encodeProtobufOrFail), schemas: schema.New(),
	}
	l := lister{s}
	s.policies = &policyFeed{s: s, engine: cel.New(cel.Options{})}
	if !cfg.NoBuiltinAdmission {
		s.cfg.Mutating = append(builtin.Mutating(l, l), cfg.Mutating...)
		s.cfg.Validating = append([]policies.Validating{builtin.NodeRestriction(builtin.WithPods(l), builtin.WithNodes(l))}, cfg.Validating...)
	}
	// The CEL ValidatingAdmissionPolicy engine runs last, as in kube-apiserver.
	s.cfg.Validating = append(s.cfg.Validating, &cel.Plugin{Engine: s.policies.engine, Lookup: l})
	return s, nil
}

// Addr is the host:port the server listens on, once Ready is closed.
func (s *Server) Addr() string { return s.addr }

// Ready is closed once the server serves requests.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// EtcdEndpoints are the client URLs of the etcd the server uses (valid after Ready).
func (s *Server) EtcdEndpoints() []string {
	if s.etcd != nil {
		return s.etcd.Endpoints()
	}
	return s.client.Endpoints()
}

// CA is the cluster's certificate authority (valid after Ready).
func (s *Server) CA() *auth.CA { return s.ca }

// Registry is where the server's metrics live; components running in
// the same process register theirs here too, so one /metrics shows all.
func (s *Server) Registry() *prometheus.Registry { return s.cfg.Registry }

// Run starts etcd (embedded unless external endpoints are given), opens the
// store, bootstraps the cluster's first objects, writes the kubeconfigs and
// serves HTTPS until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.startedAt = time.Now()
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("apiserver: data dir: %w", err)
	}
	if err := s.openEtcd(ctx); err != nil {
		return err
	}
	defer s.closeEtcd()

	s.store = storage.New(s.client, storageCodec{s.scheme}, storage.Options{
		Logger: s.log, Registerer: s.cfg.Registry,
		WatchCacheSize: s.cfg.WatchCacheSize, BookmarkInterval: s.cfg.BookmarkInterval,
	})
	for _, r := range s.reg.all {
		if r.Computed {
			continue
		}
		// Objects the store makes itself (watch bookmarks) carry their
		// kind, as client-go's watch decoder requires.
		gvk := r.GVK()
		newFunc := func() runtime.Object {
			o := r.New()
			o.GetObjectKind().SetGroupVersionKind(gvk)
			return o
		}
		sr, err := s.store.Open(ctx, r.Prefix(), newFunc, attrsFor(r))
		if err != nil {
			return fmt.Errorf("apiserver: open %s: %w", r.Resource, err)
		}
		s.stores[r] = sr
	}
	go s.store.RunCompactor(ctx, s.cfg.CompactionInterval)

	if err := s.setupAuth(ctx); err != nil {
		return err
	}
	kubelets, err := newKubeletClient(s.ca, s.cfg.KubeletAddressTypes)
	if err != nil {
		return err
	}
	s.kubelets = kubelets
	if err := s.policies.start(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.SecurePort)))
	if err != nil {
		return fmt.Errorf("apiserver: listen: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s.addr = net.JoinHostPort(s.cfg.AdvertiseAddress, strconv.Itoa(port))
	if err := s.bootstrap(ctx, port); err != nil {
		ln.Close()
		return err
	}
	if err := s.writeKubeconfigs(); err != nil {
		ln.Close()
		return err
	}
	if s.cfg.SecurePort == 0 {
		if err := writeFileAtomic(filepath.Join(s.cfg.DataDir, "server.addr"), []byte(s.addr+"\n"), 0o644); err != nil {
			ln.Close()
			return err
		}
	}
	serving, err := auth.LoadOrCreateServing(filepath.Join(s.cfg.DataDir, "pki"), s.ca, []string{hostnameOr("localhost")}, servingIPs(s.cfg.AdvertiseAddress, s.alloc.first()))
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler: s.Handler(),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{serving},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    s.ca.Pool(),
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		},
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 2000},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	s.log.Info("cairn API server serving", "addr", s.addr, "dataDir", s.cfg.DataDir, "etcd", s.EtcdEndpoints())
	s.setReady()
	select {
	case <-ctx.Done():
		shutdownCtx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Shutdown(shutdownCtx)
		return nil
	case err := <-errc:
		return fmt.Errorf("apiserver: serve: %w", err)
	}
}

func (s *Server) setReady() {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if !s.isReady {
		s.isReady = true
		close(s.ready)
	}
}

func (s *Server) openEtcd(ctx context.Context) error {
	endpoints := s.cfg.EtcdEndpoints
	var tlsCfg *tls.Config
	if len(endpoints) == 0 {
		e, err := storage.StartEmbedded(ctx, storage.EmbeddedConfig{Dir: filepath.Join(s.cfg.DataDir, "etcd"), Logger: s.log})
		if err != nil {
			return fmt.Errorf("apiserver: embedded etcd: %w", err)
		}
		s.etcd = e
		endpoints = e.Endpoints()
	} else if s.cfg.EtcdCAFile != "" || s.cfg.EtcdCertFile != "" {
		var err error
		if tlsCfg, err = etcdTLS(s.cfg.EtcdCAFile, s.cfg.EtcdCertFile, s.cfg.EtcdKeyFile); err != nil {
			return err
		}
	}
	if s.etcd != nil {
		s.client = s.etcd.Client()
		return nil
	}
	c, err := storage.NewClient(endpoints, tlsCfg)
	if err != nil {
		s.closeEtcd()
		return fmt.Errorf("apiserver: etcd client: %w", err)
	}
	s.client = c
	return nil
}

func (s *Server) closeEtcd() {
	if s.client != nil {
		_ = s.client.Close()
	}
	if s.etcd != nil {
		s.etcd.Close()
	}
}

func etcdTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("apiserver: etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("apiserver: etcd CA %s: no certificates", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("apiserver: etcd client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func hostnameOr(def string) string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return def
}

func servingIPs(advertise string, serviceIP net.IP) []net.IP {
	ips := []net.IP{serviceIP}
	if ip := net.ParseIP(advertise); ip != nil {
		ips = append(ips, ip)
	}
	return ips
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
