// Package nodelifecycle is cairn's node lifecycle controller, Kubernetes'
// pkg/controller/nodelifecycle re-implemented: every NodeMonitorPeriod it
// looks at each node's Lease and Ready condition, sets the conditions of
// nodes silent for longer than their grace period to Unknown and marks
// their pods not ready; it keeps NoSchedule taints in step with node
// conditions, and puts the NoExecute not-ready and unreachable taints on
// failed nodes through a per-zone rate-limited queue whose rate follows
// the zone's health, stopping altogether when every zone is down. Pods
// are evicted from tainted nodes by the taint eviction controller.
package nodelifecycle

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// Name is the controller's name in the controller manager, its
// workqueue's name and the metrics' controller label.
const Name = "nodelifecycle"

// Kubernetes' defaults.
const (
	DefaultNodeMonitorPeriod         = 5 * time.Second
	DefaultNodeMonitorGracePeriod    = 40 * time.Second
	DefaultNodeStartupGracePeriod    = 60 * time.Second
	DefaultNodeEvictionRate          = float32(0.1)
	DefaultSecondaryNodeEvictionRate = float32(0.01)
	DefaultUnhealthyZoneThreshold    = float32(0.55)
	DefaultLargeClusterSizeThreshold = 50
	// DefaultTaintingPeriod is how often the zones' queues are tried,
	// Kubernetes' NodeEvictionPeriod.
	DefaultTaintingPeriod = 100 * time.Millisecond
)

// Event reasons, as Kubernetes'.
const (
	EventRegisteredNode = "RegisteredNode"
	EventRemovingNode   = "RemovingNode"
	EventNodeNotReady   = "NodeNotReady"
)

// nodeHealthUpdateRetry is how many times a status write is tried, as
// Kubernetes' NodeHealthUpdateRetry.
const nodeHealthUpdateRetry = 5

// podNodeNameIndex indexes pods by spec.nodeName, under the name
// Kubernetes' controllers share.
const podNodeNameIndex = "spec.nodeName"

// Options configures a Controller. Zero values take the defaults noted.
type Options struct {
	// Clock for probe times, taint times, the token buckets and the
	// monitor's ticker; default the real clock.
	Clock clock.WithTicker
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for the node_collector_* metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// MetricsProvider for the workqueue's metrics; nil: none.
	MetricsProvider workqueue.MetricsProvider
	// NodeMonitorPeriod: how often nodes are looked at; default 5s.
	NodeMonitorPeriod time.Duration
	// NodeMonitorGracePeriod: how long a node may stay silent before its
	// conditions turn Unknown; default 40s.
	NodeMonitorGracePeriod time.Duration
	// NodeStartupGracePeriod: the same for a node that never posted
	// Ready; default 60s.
	NodeStartupGracePeriod time.Duration
	// NodeEvictionRate: nodes per second given a NoExecute taint in a
	// healthy zone; default 0.1. Negative: none.
	NodeEvictionRate float32
	// SecondaryNodeEvictionRate: the same in a partly disrupted zone
	// larger than LargeClusterSizeThreshold; default 0.01. Negative: none.
	SecondaryNodeEvictionRate float32
	// UnhealthyZoneThreshold: the share of not-ready nodes (more than two)
	// at which a zone is partly disrupted; default 0.55.
	UnhealthyZoneThreshold float32
	// LargeClusterSizeThreshold: a partly disrupted zone of at most this
	// many nodes is not tainted at all; default 50.
	LargeClusterSizeThreshold int
	// TaintingPeriod: how often the zones' queues are tried; default
	// 100ms.
	TaintingPeriod time.Duration
}

func (o *Options) setDefaults() {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NodeMonitorPeriod <= 0 {
		o.NodeMonitorPeriod = DefaultNodeMonitorPeriod
	}
	if o.NodeMonitorGracePeriod <= 0 {
		o.NodeMonitorGracePeriod = DefaultNodeMonitorGracePeriod
	}
	if o.NodeStartupGracePeriod <= 0 {
		o.NodeStartupGracePeriod = DefaultNodeStartupGracePeriod
	}
	if o.NodeEvictionRate == 0 {
		o.NodeEvictionRate = DefaultNodeEvictionRate
	}
	if o.SecondaryNodeEvictionRate == 0 {
		o.SecondaryNodeEvictionRate = DefaultSecondaryNodeEvictionRate
	}
	if o.UnhealthyZoneThreshold <= 0 {
		o.UnhealthyZoneThreshold = DefaultUnhealthyZoneThreshold
	}
	if o.LargeClusterSizeThreshold <= 0 {
		o.LargeClusterSizeThreshold = DefaultLargeClusterSizeThreshold
	}
	if o.TaintingPeriod <= 0 {
		o.TaintingPeriod = DefaultTaintingPeriod
	}
}

// Controller is the node lifecycle controller.
type Controller struct {
	client      kubernetes.Interface
	log         *slog.Logger
	clock       clock.WithTicker
	opts        Options
	nodeLister  corelisters.NodeLister
	leaseLister coordlisters.LeaseLister
	podLister   corelisters.PodLister
	podIndex    cache.Indexer
	synced      []cache.InformerSynced
	// queue holds node names (NoSchedule taints to bring in line) and
	// pod keys namespace/name (pods bound to a node that is not ready).
	queue    workqueue.TypedRateLimitingInterface[string]
	events   record.EventBroadcaster
	recorder record.EventRecorder
	metrics  metrics
	health   healthMap

	// Monitor state, touched by the monitor pass only.
	known      map[string]*corev1.Node
	zoneStates map[string]ZoneState
	retry      map[string]bool

	// mu guards tainters, which the monitor and tainting passes share.
	mu       sync.Mutex
	tainters map[string]*rateLimitedQueue

	// passes counts finished monitor passes, for tests driving a fake clock.
	passes atomic.Int64
}

// New builds the controller and registers its event handlers on the
// factory's Node, Lease and Pod informers; the caller starts the factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Controller {
	opts.setDefaults()
	nodeInf := factory.Core().V1().Nodes()
	leaseInf := factory.Coordination().V1().Leases()
	podInf := factory.Core().V1().Pods()
	addNodeNameIndex(podInf.Informer())
	c := &Controller{
		client:      client,
		log:         opts.Logger.With("controller", Name),
		clock:       opts.Clock,
		opts:        opts,
		nodeLister:  nodeInf.Lister(),
		leaseLister: leaseInf.Lister(),
		podLister:   podInf.Lister(),
		podIndex:    podInf.Informer().GetIndexer(),
		synced:      []cache.InformerSynced{nodeInf.Informer().HasSynced, leaseInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, MetricsProvider: opts.MetricsProvider}),
		events:     record.NewBroadcaster(),
		metrics:    newMetrics(opts.Registerer),
		health:     healthMap{m: map[string]*nodeHealth{}},
		known:      map[string]*corev1.Node{},
		zoneStates: map[string]ZoneState{},
		retry:      map[string]bool{},
		tainters:   map[string]*rateLimitedQueue{},
	}
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-controller"})
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueueNode(obj) },
		UpdateFunc: func(_, cur any) { c.enqueueNode(cur) },
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.podUpdated(nil, obj) },
		UpdateFunc: func(old, cur any) {
			c.podUpdated(old, cur)
		},
	})
	return c
}

// addNodeNameIndex indexes an informer's pods by node, unless another
// controller sharing the informer did already.
func addNodeNameIndex(inf cache.SharedIndexInformer) {
	if _, ok := inf.GetIndexer().GetIndexers()[podNodeNameIndex]; ok {
		return
	}
	_ = inf.AddIndexers(cache.Indexers{podNodeNameIndex: func(obj any) ([]string, error) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Spec.NodeName == "" {
			return nil, nil
		}
		return []string{p.Spec.NodeName}, nil
	}})
}

func (c *Controller) enqueueNode(obj any) {
	if n, ok := obj.(*corev1.Node); ok {
		c.queue.Add(n.Name)
	}
}

// podUpdated queues a pod newly bound to a node, so that it is marked not
// ready if its node is.
func (c *Controller) podUpdated(old, cur any) {
	p, ok := cur.(*corev1.Pod)
	if !ok || p.Spec.NodeName == "" {
		return
	}
	if o, ok := old.(*corev1.Pod); ok && o.Spec.NodeName == p.Spec.NodeName {
		return
	}
	c.queue.Add(p.Namespace + "/" + p.Name)
}

// Run waits for the informers to sync, then runs the monitor and tainting
// passes on the clock's tickers and workers for the queue until ctx
// ends; it returns once all of them have stopped.
func (c *Controller) Run(ctx context.Context, workers int) error {
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		c.queue.ShutDown()
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("informer caches did not sync")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		c.every(ctx, c.opts.NodeMonitorPeriod, func(ctx context.Context) {
			c.monitorNodeHealth(ctx)
			c.passes.Add(1)
		})
	})
	wg.Go(func() { c.every(ctx, c.opts.TaintingPeriod, c.doNoExecuteTaintingPass) })
	err := controller.Workers(ctx, c.log, c.queue, c.synced, workers, c.sync, nil)
	wg.Wait()
	return err
}

// every runs fn now and then on each tick of the controller's clock until
// ctx ends.
func (c *Controller) every(ctx context.Context, period time.Duration, fn func(context.Context)) {
	t := c.clock.NewTicker(period)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// sync handles one queue key: a node name or a pod's namespace/name.
func (c *Controller) sync(ctx context.Context, key string) error {
	if ns, name, err := cache.SplitMetaNamespaceKey(key); err == nil && ns != "" {
		return c.processPod(ctx, ns, name)
	}
	return c.doNoScheduleTaintingPass(ctx, key)
}

// podsOnNode lists the cached pods bound to a node.
func (c *Controller) podsOnNode(node string) ([]*corev1.Pod, error) {
	objs, err := c.podIndex.ByIndex(podNodeNameIndex, node)
	if err != nil {
		all, lerr := c.podLister.List(labels.Everything())
		if lerr != nil {
			return nil, errors.Join(err, lerr)
		}
		var out []*corev1.Pod
		for _, p := range all {
			if p.Spec.NodeName == node {
				out = append(out, p)
			}
		}
		return out, nil
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// tainter is a zone's queue, made on first use at the normal rate.
// Callers hold c.mu.
func (c *Controller) tainter(zone string) *rateLimitedQueue {
	q, ok := c.tainters[zone]
	if !ok {
		q = newRateLimitedQueue(c.clock, c.opts.NodeEvictionRate)
		c.tainters[zone] = q
	}
	return q
}

func (c *Controller) recordNodeEvent(n *corev1.Node, eventType, reason, format string, args ...any) {
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}
	c.recorder.Eventf(ref, eventType, reason, format, args...)
}
