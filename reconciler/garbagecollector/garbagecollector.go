// Package garbagecollector is cairn's garbage collector, Kubernetes'
// pkg/controller/garbagecollector re-implemented: metadata-only informers
// on every resource that can be listed, watched and deleted feed a
// dependency graph of all objects keyed by UID, linked by their
// ownerReferences. Objects whose owners are all gone are deleted
// (background cascading), owners deleted in the foreground wait for their
// blocking dependents before their foregroundDeletion finalizer is
// removed, and owners deleted with the orphan policy lose their
// dependents' references to them before their orphan finalizer is
// removed. Nothing is deleted on the graph's word alone: every owner is
// looked up live first.
package garbagecollector

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// Name is the controller's name in the controller manager and the
// metrics' controller label.
const Name = "garbagecollector"

// ControllerName is the event source, as kube-controller-manager's.
const ControllerName = "garbage-collector-controller"

// OwnerRefInvalidNamespace is the reason of the warning event on a
// dependent whose owner reference cannot be valid: a namespaced owner in
// another namespace, or named by a cluster-scoped dependent.
const OwnerRefInvalidNamespace = "OwnerRefInvalidNamespace"

// DefaultDiscoveryPeriod is how often the set of resources is discovered
// again, so that new resources get collected, as Kubernetes' 30s.
const DefaultDiscoveryPeriod = 30 * time.Second

// DefaultIgnoredResources are the resources never watched, as
// Kubernetes': events are many, short-lived and never owners.
func DefaultIgnoredResources() []schema.GroupResource {
	return []schema.GroupResource{{Group: "", Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}}
}

// Options configures a Controller. Zero values take the defaults noted.
type Options struct {
	// Discovery lists the resources to watch and maps owner kinds to
	// resources; default the client's.
	Discovery discovery.DiscoveryInterface
	// DiscoveryPeriod between discoveries; default DefaultDiscoveryPeriod.
	DiscoveryPeriod time.Duration
	// IgnoredResources are never watched; default
	// DefaultIgnoredResources().
	IgnoredResources []schema.GroupResource
	// Clock for the discovery ticker; default the real clock.
	Clock clock.WithTicker
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for controller_sync_duration_seconds{controller} and
	// garbagecollector_controller_resources_sync_error_total; nil
	// registers nowhere.
	Registerer prometheus.Registerer
	// MetricsProvider for the workqueues' metrics; nil: none.
	MetricsProvider workqueue.MetricsProvider
}

// Controller is the garbage collector.
type Controller struct {
	client    kubernetes.Interface
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	log       *slog.Logger
	clock     clock.WithTicker
	period    time.Duration
	ignored   map[schema.GroupResource]bool
	metrics   *metrics

	// mapper from the last discovery maps owner kinds to resources.
	mapper atomic.Pointer[meta.RESTMapper]

	graphMu sync.RWMutex
	graph   *graph
	absent  *absentOwners

	monMu       sync.Mutex
	monitors    map[schema.GroupVersionResource]*monitor
	discovered  bool
	monitorsWG  sync.WaitGroup
	graphEvents workqueue.TypedInterface[*event]

	attemptToDelete workqueue.TypedRateLimitingInterface[string]
	attemptToOrphan workqueue.TypedRateLimitingInterface[string]

	events   record.EventBroadcaster
	recorder record.EventRecorder
}

// New builds the garbage collector: client records events (and
// discovers, unless Options.Discovery is set), md watches, reads, patches
// and deletes the objects of every resource.
func New(client kubernetes.Interface, md metadata.Interface, opts Options) *Controller {
	if opts.Discovery == nil {
		opts.Discovery = client.Discovery()
	}
	if opts.DiscoveryPeriod <= 0 {
		opts.DiscoveryPeriod = DefaultDiscoveryPeriod
	}
	if opts.IgnoredResources == nil {
		opts.IgnoredResources = DefaultIgnoredResources()
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Controller{
		client:    client,
		metadata:  md,
		discovery: opts.Discovery,
		log:       opts.Logger.With("controller", Name),
		clock:     opts.Clock,
		period:    opts.DiscoveryPeriod,
		ignored:   map[schema.GroupResource]bool{},
		metrics:   newMetrics(opts.Registerer),
		graph:     newGraph(),
		absent:    newAbsentOwners(500),
		monitors:  map[schema.GroupVersionResource]*monitor{},
		graphEvents: workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[*event]{
			Name: "garbage_collector_graph_changes", MetricsProvider: opts.MetricsProvider}),
		attemptToDelete: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "garbage_collector_attempt_to_delete", MetricsProvider: opts.MetricsProvider}),
		attemptToOrphan: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "garbage_collector_attempt_to_orphan", MetricsProvider: opts.MetricsProvider}),
		events: record.NewBroadcaster(),
	}
	for _, gr := range opts.IgnoredResources {
		c.ignored[gr] = true
	}
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: ControllerName})
	return c
}

// NewForConfig builds the typed and metadata clients from cfg and the
// garbage collector on them.
func NewForConfig(cfg *rest.Config, opts Options) (*Controller, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return New(client, md, opts), nil
}

// Run discovers the resources and starts their informers, rediscovering
// every DiscoveryPeriod; once the first informers have synced it runs
// workers on each of the two queues (attemptToDelete, attemptToOrphan)
// until ctx ends. It returns once every goroutine it started has
// stopped.
func (c *Controller) Run(ctx context.Context, workers int) error {
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(c.processGraphEvents)
	wg.Go(func() { c.discoverLoop(ctx) })
	observe := func(_ error, d time.Duration) { c.metrics.syncDur.Observe(d.Seconds()) }
	synced := []cache.InformerSynced{c.monitorsSynced}
	wg.Go(func() {
		_ = controller.Workers(ctx, c.log.With("queue", "attemptToOrphan"), c.attemptToOrphan, synced, workers, c.orphan, observe)
	})
	err := controller.Workers(ctx, c.log.With("queue", "attemptToDelete"), c.attemptToDelete, synced, workers, c.attemptDelete, observe)
	cancel()
	// Graph events arriving from now on have no one to act on them.
	c.graphEvents.ShutDown()
	wg.Wait()
	return err
}

// processGraphEvents applies the informers' events to the graph one at a
// time and hands the resulting work to the queues.
func (c *Controller) processGraphEvents() {
	for {
		ev, quit := c.graphEvents.Get()
		if quit {
			return
		}
		c.graphMu.Lock()
		fx := c.graph.apply(*ev)
		c.graphMu.Unlock()
		c.graphEvents.Done(ev)
		c.act(fx)
	}
}

// act carries out the effects of one graph change.
func (c *Controller) act(fx effects) {
	for _, r := range fx.absent {
		c.absent.add(r)
	}
	for _, inv := range fx.invalid {
		c.reportInvalidNamespace(inv.dependent, inv.owner.APIVersion, inv.owner.Kind, inv.owner.Name, string(inv.owner.UID))
	}
	for _, uid := range fx.attemptToDelete {
		c.attemptToDelete.Add(string(uid))
	}
	for _, uid := range fx.attemptToDeleteLater {
		c.attemptToDelete.AddRateLimited(string(uid))
	}
	for _, uid := range fx.attemptToOrphan {
		c.attemptToOrphan.Add(string(uid))
	}
}

// reportInvalidNamespace records OwnerRefInvalidNamespace on the
// dependent, with Kubernetes' message.
func (c *Controller) reportInvalidNamespace(dep objectReference, apiVersion, kind, name, uid string) {
	ref := &corev1.ObjectReference{APIVersion: dep.APIVersion, Kind: dep.Kind, Namespace: dep.Namespace, Name: dep.Name, UID: dep.UID}
	owner := objectReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(uid), Namespace: dep.Namespace}
	c.recorder.Eventf(ref, corev1.EventTypeWarning, OwnerRefInvalidNamespace, "ownerRef %s does not exist in namespace %q", owner, dep.Namespace)
}
