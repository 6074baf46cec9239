// Package manager is cairn's controller manager, as
// kube-controller-manager: one shared informer factory, the enabled
// controllers built from a table of constructors, each run with its
// number of workers — only while this instance holds the Lease
// kube-system/kube-controller-manager when leader election is on (the
// API server's componentstatuses reads that Lease for the controller
// manager's health).
package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/workqueue"

	"github.com/cairn-dev/cairn/reconciler/daemonset"
	"github.com/cairn-dev/cairn/reconciler/deployment"
	"github.com/cairn-dev/cairn/reconciler/endpoints"
	"github.com/cairn-dev/cairn/reconciler/garbagecollector"
	"github.com/cairn-dev/cairn/reconciler/namespace"
	"github.com/cairn-dev/cairn/reconciler/nodeipam"
	"github.com/cairn-dev/cairn/reconciler/nodelifecycle"
	"github.com/cairn-dev/cairn/reconciler/podgc"
	"github.com/cairn-dev/cairn/reconciler/replicaset"
	"github.com/cairn-dev/cairn/reconciler/statefulset"
	"github.com/cairn-dev/cairn/reconciler/tainteviction"
)

// Lease the manager campaigns for, Kubernetes' name.
const (
	LeaseNamespace = "kube-system"
	LeaseName      = "kube-controller-manager"
)

// DefaultWorkers is a controller's worker count when Config.Workers
// names none (kube-controller-manager's --concurrent-replicaset-syncs).
const DefaultWorkers = 5

// Config configures a Manager. Zero values take the defaults noted.
type Config struct {
	Client kubernetes.Interface
	// Dynamic reaches every resource the namespace controller deletes;
	// required when it runs.
	Dynamic dynamic.Interface
	// Metadata watches every resource's metadata for the garbage
	// collector; required when it runs.
	Metadata metadata.Interface
	// AllocateNodeCIDRs runs the node IPAM controller, which gives each
	// node a pod range from ClusterCIDRs (Kubernetes'
	// --allocate-node-cidrs, --cluster-cidr, --node-cidr-mask-size).
	AllocateNodeCIDRs bool
	ClusterCIDRs      []netip.Prefix
	NodeCIDRMaskSize  int
	// NodeLifecycle tunes the node lifecycle controller (monitor period,
	// grace periods, eviction rates, zone thresholds); zero values take
	// Kubernetes' defaults. Its Clock, Logger and metrics are the
	// manager's.
	NodeLifecycle nodelifecycle.Options
	// LeaderElect runs the controllers only while holding the Lease
	// kube-system/kube-controller-manager.
	LeaderElect bool
	// Identity in the lease; default hostname_uuid.
	Identity                                  string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration // 15s, 10s, 2s
	// Workers by controller name; default DefaultWorkers.
	Workers map[string]int
	// Registerer for metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Controllers to run, by name; default all known (KnownControllers).
	Controllers []string
	// ResyncPeriod of the informers; 0 = none.
	ResyncPeriod time.Duration
}

// ControllerContext is what a controller constructor gets.
type ControllerContext struct {
	Config          *Config
	Client          kubernetes.Interface
	Dynamic         dynamic.Interface
	Metadata        metadata.Interface
	Factory         informers.SharedInformerFactory
	Logger          *slog.Logger
	Registerer      prometheus.Registerer
	MetricsProvider workqueue.MetricsProvider
}

// Controller is what the manager runs.
type Controller interface {
	Run(ctx context.Context, workers int) error
}

// constructors: one entry per controller.
var constructors = map[string]func(ControllerContext) (Controller, error){
	replicaset.Name: func(cc ControllerContext) (Controller, error) {
		return replicaset.New(cc.Client, cc.Factory, replicaset.Options{
			Logger: cc.Logger, Registerer: cc.Registerer, MetricsProvider: cc.MetricsProvider,
		}), nil
	},
	replicaset.ReplicationControllerName: func(cc ControllerContext) (Controller, error) {
		return replicaset.NewReplicationManager(cc.Client, cc.Factory, replicaset.Options{
			Logger: cc.Logger, Registerer: cc.Registerer, MetricsProvider: cc.MetricsProvider,
		}), nil
	},
	deployment.Name: func(cc ControllerContext) (Controller, error) {
		return deployment.New(cc.Client, cc.Factory, deployment.Options{
			Logger: cc.Logger, Registerer: cc.Registerer, MetricsProvider: cc.MetricsProvider,
		}), nil
	},
	nodelifecycle.Name: func(cc ControllerContext) (Controller, error) {
		o := cc.Config.NodeLifecycle
		o.Logger, o.Registerer, o.MetricsProvider = cc.Logger, cc.Registerer, cc.MetricsProvider
		return nodelifecycle.New(cc.Client, cc.Factory, o), nil
	},
	tainteviction.Name: func(cc ControllerContext) (Controller, error) {
		return tainteviction.New(cc.Client, cc.Factory, tainteviction.Options{
			Logger: cc.Logger, Registerer: cc.Registerer, MetricsProvider: cc.MetricsProvider,
		}), nil
	},
	statefulset.Name: func(cc ControllerContext) (Controller, error) {
		return statefulset.New(cc.Client, cc.Factory, statefulset.Options{
			Logger: cc.Logger, Registerer: cc.Registerer, MetricsProvider: cc.MetricsProvider,
		}), nil
	},
	daemonset.Name: func(cc ControllerContext) (Controller, error) {
		return daemonset.New(cc.Client, cc.Factory, daemonset.Options{
			Logger: cc.Logger, Registerer: cc.Registerer, MetricsProvider: cc.MetricsProvider,
		}), nil
	},
	garbagecollector.Name: func(cc ControllerContext) (Controller, error) {
		if cc.Metadata == nil {
			return nil, errors.New("the garbage collector needs a metadata client")
		}
		return garbagecollector.New(cc.Client, cc.Metadata, garbagecollector.Options{
			Logger: cc.Logger, Registerer: cc.Registerer, MetricsProvider: cc.MetricsProvider,
		}), nil
	},
	podgc.Name: func(cc ControllerContext) (Controller, error) {
		return podgc.New(cc.Client, cc.Factory, podgc.Options{Logger: cc.Logger, Registerer: cc.Registerer}), nil
	},
	nodeipam.Name: func(cc ControllerContext) (Controller, error) {
		o := nodeipam.Options{ClusterCIDRs: cc.Config.ClusterCIDRs, NodeCIDRMaskSize: cc.Config.NodeCIDRMaskSize,
			Logger: cc.Logger, Registerer: cc.Registerer, MetricsProvider: cc.MetricsProvider}
		if err := o.Validate(); err != nil {
			return nil, err
		}
		return nodeipam.New(cc.Client, cc.Factory, o), nil
	},
	"endpoints": func(cc ControllerContext) (Controller, error) {
		return endpoints.New(cc.Client, cc.Factory, endpoints.Options{Logger: cc.Logger, Registerer: cc.Registerer}), nil
	},
	"namespace": func(cc ControllerContext) (Controller, error) {
		if cc.Dynamic == nil {
			return nil, errors.New("the namespace controller needs a dynamic client")
		}
		return namespace.New(cc.Client, cc.Factory, namespace.Options{Dynamic: cc.Dynamic, Logger: cc.Logger, Registerer: cc.Registerer}), nil
	},
}

// KnownControllers lists the controllers the manager can run.
func KnownControllers() []string {
	var out []string
	for n := range constructors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// DefaultControllers are the controllers run when Config names none:
// all, node IPAM only when pod ranges are allocated (as Kubernetes runs it
// only with --allocate-node-cidrs).
func DefaultControllers(allocateNodeCIDRs bool) []string {
	var out []string
	for _, n := range KnownControllers() {
		if n == nodeipam.Name && !allocateNodeCIDRs {
			continue
		}
		out = append(out, n)
	}
	return out
}

// Manager is a controller manager.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	metrics *workqueueMetrics
	leading atomic.Bool
}

// New checks the configuration; Run starts the manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Client == nil {
		return nil, errors.New("controller manager: no API client")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Identity == "" {
		host, _ := os.Hostname()
		cfg.Identity = host + "_" + uuid.NewString()
	}
	if len(cfg.Controllers) == 0 {
		cfg.Controllers = DefaultControllers(cfg.AllocateNodeCIDRs)
	}
	for _, n := range cfg.Controllers {
		if constructors[n] == nil {
			return nil, fmt.Errorf("controller manager: unknown controller %q (known: %v)", n, KnownControllers())
		}
		if n == "namespace" && cfg.Dynamic == nil {
			return nil, errors.New("controller manager: the namespace controller needs Config.Dynamic")
		}
		if n == garbagecollector.Name && cfg.Metadata == nil {
			return nil, errors.New("controller manager: the garbage collector needs Config.Metadata")
		}
	}
	cfg.Controllers = slices.Compact(slices.Sorted(slices.Values(cfg.Controllers)))
	return &Manager{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "controller-manager"),
		metrics: newWorkqueueMetrics(cfg.Registerer),
	}, nil
}

// Leading reports whether the controllers are running: this instance
// holds the lease, or leader election is off and Run was called.
func (m *Manager) Leading() bool { return m.leading.Load() }

// Identity is the manager's identity in the lease.
func (m *Manager) Identity() string { return m.cfg.Identity }

// Run runs the controllers until ctx ends: at once, or, with
// LeaderElect, whenever this instance holds the lease. Each leadership
// term builds fresh informers and controllers, so nothing one term
// believed carries over into the next.
func (m *Manager) Run(ctx context.Context) error {
	if !m.cfg.LeaderElect {
		return m.runControllers(ctx)
	}
	inner := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: LeaseNamespace, Name: LeaseName},
		Client:     m.cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: m.cfg.Identity},
	}
	for ctx.Err() == nil {
		lock := &trackingLock{Interface: inner}
		termDone := make(chan struct{})
		var runErr error
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:          lock,
			LeaseDuration: orDefault(m.cfg.LeaseDuration, 15*time.Second),
			RenewDeadline: orDefault(m.cfg.RenewDeadline, 10*time.Second),
			RetryPeriod:   orDefault(m.cfg.RetryPeriod, 2*time.Second),
			// Released below, once the controllers have stopped: the
			// elector would release it before they do.
			ReleaseOnCancel: false,
			Name:            LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					defer close(termDone)
					m.log.Info("leading: starting controllers", "identity", m.cfg.Identity)
					runErr = m.runControllers(ctx)
				},
				OnStoppedLeading: func() {
					m.log.Info("not leading: controllers stopped", "identity", m.cfg.Identity)
				},
			},
		})
		if err != nil {
			return fmt.Errorf("controller manager: %w", err)
		}
		le.Run(ctx)
		if !lock.acquired.Load() {
			continue
		}
		// The elector started the controllers in a goroutine it does not
		// wait for: wait for them before letting anyone else lead.
		<-termDone
		if ctx.Err() != nil {
			m.release(inner)
		}
		if runErr != nil {
			return runErr
		}
	}
	return nil
}

// trackingLock notes whether the elector ever wrote the lease as its
// holder (acquired it), so Run knows a term was started.
type trackingLock struct {
	resourcelock.Interface
	acquired atomic.Bool
}

func (l *trackingLock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Create(ctx, r)
	if err == nil && r.HolderIdentity == l.Identity() {
		l.acquired.Store(true)
	}
	return err
}

func (l *trackingLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Update(ctx, r)
	if err == nil && r.HolderIdentity == l.Identity() {
		l.acquired.Store(true)
	}
	return err
}

// release gives the lease up if this instance still holds it, as the
// elector's ReleaseOnCancel, so a standby takes over at once.
func (m *Manager) release(lock *resourcelock.LeaseLock) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec, _, err := lock.Get(ctx)
	if err != nil || rec.HolderIdentity != m.cfg.Identity {
		return
	}
	now := metav1.NewTime(time.Now())
	err = lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions: rec.LeaderTransitions, LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now,
	})
	if err != nil {
		m.log.Info("could not release the lease", "err", err)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// runControllers builds the informer factory and the enabled
// controllers, starts the informers and runs every controller until ctx
// ends.
func (m *Manager) runControllers(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(m.cfg.Client, m.cfg.ResyncPeriod)
	cc := ControllerContext{
		Config: &m.cfg, Client: m.cfg.Client, Dynamic: m.cfg.Dynamic, Metadata: m.cfg.Metadata, Factory: factory, Logger: m.cfg.Logger,
		Registerer: m.cfg.Registerer, MetricsProvider: m.metrics,
	}
	type named struct {
		name string
		c    Controller
	}
	var ctrls []named
	for _, n := range m.cfg.Controllers {
		c, err := constructors[n](cc)
		if err != nil {
			return fmt.Errorf("controller manager: building %s: %w", n, err)
		}
		ctrls = append(ctrls, named{n, c})
	}
	m.leading.Store(true)
	defer m.leading.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	errs := make([]error, len(ctrls))
	var wg sync.WaitGroup
	for i, nc := range ctrls {
		workers := DefaultWorkers
		if w, ok := m.cfg.Workers[nc.name]; ok && w > 0 {
			workers = w
		}
		wg.Go(func() {
			if err := nc.c.Run(ctx, workers); err != nil {
				errs[i] = fmt.Errorf("%s: %w", nc.name, err)
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
