// Package podgc is cairn's pod garbage collector, Kubernetes'
// pkg/controller/podgc: every GC period it force-deletes terminated pods
// beyond a threshold, pods bound to nodes that no longer exist (what
// makes deleting a Node delete its pods), terminating pods no kubelet
// will finish (unscheduled ones, and those on NotReady nodes tainted
// node.kubernetes.io/out-of-service).
package podgc

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// Name is the controller's name in the controller manager and the
// metrics' controller label.
const Name = "podgc"

// Defaults, as kube-controller-manager's.
const (
	// DefaultGCPeriod is how often the collector runs (gcCheckPeriod).
	DefaultGCPeriod = 20 * time.Second
	// DefaultQuarantine is how long a node must be missing from the
	// informer before it is looked up and its pods deleted.
	DefaultQuarantine = 40 * time.Second
	// DefaultTerminatedPodGCThreshold is
	// --terminated-pod-gc-threshold's default.
	DefaultTerminatedPodGCThreshold = 12500
)

// The DisruptionTarget condition put on an orphaned pod before it is
// deleted, as Kubernetes'.
const (
	ReasonDeletionByPodGC = "DeletionByPodGC"
	MessageNodeGone       = "PodGC: node no longer exists"
)

// Options configures a Controller. Zero values take the defaults noted.
type Options struct {
	// Clock for the GC period and the quarantine; default the real one.
	Clock clock.Clock
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for pod_gc_collector_force_delete_pods_total and
	// ..._errors_total{namespace,reason}; nil registers nowhere.
	Registerer prometheus.Registerer
	// GCPeriod between collections; default 20s.
	GCPeriod time.Duration
	// Quarantine a node must be missing before its pods go; default 40s.
	Quarantine time.Duration
	// TerminatedPodGCThreshold is how many terminated pods may stay;
	// 0 takes 12500, a negative value keeps them all.
	TerminatedPodGCThreshold int
}

// Controller is the pod garbage collector.
type Controller struct {
	client     kubernetes.Interface
	log        *slog.Logger
	clock      clock.Clock
	period     time.Duration
	quarantine time.Duration
	threshold  int
	pods       corelisters.PodLister
	nodes      corelisters.NodeLister
	synced     []cache.InformerSynced
	metrics    *metrics
	workers    int
	// missing is only touched by the collection loop.
	missing quarantine
}

// New builds the collector on the factory's Pod and Node informers; the
// caller starts the factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Controller {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.GCPeriod <= 0 {
		opts.GCPeriod = DefaultGCPeriod
	}
	if opts.Quarantine <= 0 {
		opts.Quarantine = DefaultQuarantine
	}
	if opts.TerminatedPodGCThreshold == 0 {
		opts.TerminatedPodGCThreshold = DefaultTerminatedPodGCThreshold
	}
	podInf, nodeInf := factory.Core().V1().Pods(), factory.Core().V1().Nodes()
	return &Controller{
		client:     client,
		log:        opts.Logger.With("controller", Name),
		clock:      opts.Clock,
		period:     opts.GCPeriod,
		quarantine: opts.Quarantine,
		threshold:  opts.TerminatedPodGCThreshold,
		pods:       podInf.Lister(),
		nodes:      nodeInf.Lister(),
		synced:     []cache.InformerSynced{podInf.Informer().HasSynced, nodeInf.Informer().HasSynced},
		metrics:    newMetrics(opts.Registerer),
		workers:    1,
		missing:    quarantine{},
	}
}

// Run waits for the informers to sync, then collects at once and every
// GCPeriod after the previous collection ended, until ctx ends. workers
// is how many pods are deleted at once.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrash()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("informer caches did not sync")
	}
	c.workers = max(workers, 1)
	c.log.Info("starting", "period", c.period, "quarantine", c.quarantine, "terminatedPodThreshold", c.threshold)
	for {
		c.gc(ctx)
		t := c.clock.NewTimer(c.period)
		select {
		case <-ctx.Done():
			t.Stop()
			c.log.Info("stopped")
			return nil
		case <-t.C():
		}
	}
}

// gc is one collection.
func (c *Controller) gc(ctx context.Context) {
	start := c.clock.Now()
	defer func() { c.metrics.syncDur.Observe(c.clock.Since(start).Seconds()) }()
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		c.log.Info("listing pods", "err", err)
		return
	}
	nodeList, err := c.nodes.List(labels.Everything())
	if err != nil {
		c.log.Info("listing nodes", "err", err)
		return
	}
	nodes := make(map[string]*corev1.Node, len(nodeList))
	for _, n := range nodeList {
		nodes[n.Name] = n
	}
	if c.threshold > 0 {
		c.deleteAll(ctx, terminatedToDelete(pods, c.threshold), reasonTerminated, nil)
	}
	c.deleteAll(ctx, terminatingOutOfService(pods, nodes), reasonTerminatingOutOfService, nil)
	c.gcOrphaned(ctx, pods, nodes)
	c.deleteAll(ctx, unscheduledTerminating(pods), reasonTerminatingUnscheduled, nil)
}

// gcOrphaned deletes the pods of nodes missing for the whole quarantine
// that a live GET confirms are gone: the informer may lag behind a node
// just created.
func (c *Controller) gcOrphaned(ctx context.Context, pods []*corev1.Pod, nodes map[string]*corev1.Node) {
	gone := map[string]bool{}
	for _, name := range c.missing.due(pods, nodes, c.clock.Now(), c.quarantine) {
		_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			gone[name] = true
		case err != nil:
			// Seen missing again next time, after another quarantine.
			c.log.Info("error while getting node", "node", name, "err", err)
		}
	}
	if len(gone) == 0 {
		return
	}
	cond := &corev1.PodCondition{
		Type:    corev1.DisruptionTarget,
		Status:  corev1.ConditionTrue,
		Reason:  ReasonDeletionByPodGC,
		Message: MessageNodeGone,
	}
	c.deleteAll(ctx, boundTo(pods, gone), reasonOrphaned, cond)
}

// deleteAll force-deletes pods, c.workers at a time.
func (c *Controller) deleteAll(ctx context.Context, pods []*corev1.Pod, reason string, cond *corev1.PodCondition) {
	if len(pods) == 0 {
		return
	}
	c.log.Info("garbage collecting pods", "reason", reason, "pods", len(pods))
	sem := make(chan struct{}, c.workers)
	var wg sync.WaitGroup
	for _, p := range pods {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := c.markFailedAndDelete(ctx, p, cond)
			c.metrics.deleted(p.Namespace, reason, err)
			if err != nil {
				c.log.Info("deleting pod failed", "pod", p.Namespace+"/"+p.Name, "reason", reason, "err", err)
			}
		})
	}
	wg.Wait()
}
