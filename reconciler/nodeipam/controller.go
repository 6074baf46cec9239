// Package nodeipam is cairn's node IPAM controller, Kubernetes'
// pkg/controller/nodeipam with the range allocator: every Node gets a pod
// range (spec.podCIDR and spec.podCIDRs) carved from the cluster CIDRs,
// one per family. Ranges Nodes already have are marked used before
// anything is handed out, so a restarted controller never gives a range
// twice; a deleted Node's range goes back to the pool.
package nodeipam

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// Name is the controller's name in the controller manager, its
// workqueue's name and the metrics' controller label.
const Name = "nodeipam"

// EventSource is the component of the events the controller records, the
// range allocator's.
const EventSource = "cidrAllocator"

// Event reasons. The first two are Kubernetes' node status changes
// ("Node %s status is now: %s"); Kubernetes refuses to start when a Node
// has a range outside the cluster CIDRs, cairn leaves the Node alone and
// says so with the third.
const (
	CIDRNotAvailable     = "CIDRNotAvailable"
	CIDRAssignmentFailed = "CIDRAssignmentFailed"
	PodCIDROutOfRange    = "PodCIDROutOfRange"
)

// cidrUpdateRetries is how many times a range is written before the
// allocation is given up, as Kubernetes'.
const cidrUpdateRetries = 3

// Controller is the node IPAM controller.
type Controller struct {
	client   kubernetes.Interface
	log      *slog.Logger
	err      error
	alloc    *allocator
	clusters []netip.Prefix
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	events   record.EventBroadcaster
	recorder record.EventRecorder
	metrics  *metrics
}

// New builds the controller and registers its event handlers on the
// factory's Node informer; the caller starts the factory. Invalid
// options (see Options.Validate) make Run fail.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Controller {
	opts = opts.withDefaults()
	nodeInf := factory.Core().V1().Nodes()
	c := &Controller{
		client:   client,
		log:      opts.Logger.With("controller", Name),
		clusters: opts.ClusterCIDRs,
		nodes:    nodeInf.Lister(),
		synced:   []cache.InformerSynced{nodeInf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, MetricsProvider: opts.MetricsProvider, Clock: opts.Clock}),
		events:  record.NewBroadcaster(),
		metrics: newMetrics(opts.Registerer, opts.ClusterCIDRs),
	}
	c.alloc, c.err = opts.newAllocator()
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: EventSource})
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateNode,
		DeleteFunc: c.deleteNode,
	})
	return c
}

// Run marks the ranges existing Nodes hold, then runs workers until ctx
// ends; it returns once every worker has stopped.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if c.err != nil {
		c.queue.ShutDown()
		return fmt.Errorf("%s: %w", Name, c.err)
	}
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	// Workers waits for the caches too; waiting here first lets every
	// existing range be marked before the first allocation.
	if cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		c.occupyExisting()
	}
	return controller.Workers(ctx, c.log, c.queue, c.synced, workers, c.sync,
		func(_ error, d time.Duration) { c.metrics.syncDur.Observe(d.Seconds()) })
}

// occupyExisting marks the ranges of every Node in the cache.
func (c *Controller) occupyExisting() {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	n := 0
	for _, node := range nodes {
		if cidrs, _ := podCIDRs(node); len(cidrs) > 0 {
			c.alloc.occupy(node.Name, cidrs)
			n++
		}
	}
	c.metrics.observe(c.alloc.usage())
	c.log.Info("marked existing pod CIDRs", "nodes", n)
}

func (c *Controller) enqueue(obj any) {
	if node, ok := controller.Object[*corev1.Node](obj); ok {
		c.queue.Add(node.Name)
	}
}

func (c *Controller) updateNode(old, cur any) {
	o, n := old.(*corev1.Node), cur.(*corev1.Node)
	if !hasPodCIDR(n) || !slices.Equal(o.Spec.PodCIDRs, n.Spec.PodCIDRs) || o.Spec.PodCIDR != n.Spec.PodCIDR {
		c.queue.Add(n.Name)
	}
}

// deleteNode frees the Node's ranges at once, as Kubernetes does (Nodes
// have no finalizer to wait on), and wakes Nodes waiting for a range.
func (c *Controller) deleteNode(obj any) {
	node, ok := controller.Object[*corev1.Node](obj)
	if !ok {
		return
	}
	c.queue.Add(node.Name)
	freed := c.alloc.release(node.Name)
	if len(freed) == 0 {
		return
	}
	c.metrics.released(freed)
	c.metrics.observe(c.alloc.usage())
	c.log.Info("released pod CIDRs", "node", node.Name, "podCIDRs", freed)
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		if !hasPodCIDR(n) {
			c.queue.Add(n.Name)
		}
	}
}

// sync gives a Node without a range one, or records the range it has.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		// Usually released already by the delete handler; not if the
		// Node went while the existing ranges were being marked.
		c.releaseFor(name)
		return nil
	}
	if err != nil {
		return err
	}
	if hasPodCIDR(node) {
		c.occupy(node)
		return nil
	}
	cidrs, idx, err := c.alloc.allocate(name)
	if err != nil {
		c.recordStatus(node, CIDRNotAvailable)
		return fmt.Errorf("failed to allocate cidr from cluster cidr at idx:%v: %w", idx, err)
	}
	c.metrics.allocated(cidrs)
	c.metrics.observe(c.alloc.usage())
	return c.update(ctx, node, cidrs)
}

// occupy records the ranges a Node has and reports those outside the
// cluster CIDRs.
func (c *Controller) occupy(node *corev1.Node) {
	cidrs, bad := podCIDRs(node)
	outside := append(bad, prefixStrings(c.alloc.occupy(node.Name, cidrs))...)
	c.metrics.observe(c.alloc.usage())
	if len(outside) == 0 {
		return
	}
	c.log.Info("node's pod CIDRs lie outside the cluster CIDRs; left alone", "node", node.Name, "podCIDRs", outside, "clusterCIDRs", c.clusters)
	c.recorder.Eventf(nodeRef(node), corev1.EventTypeWarning, PodCIDROutOfRange,
		"Node %s podCIDRs %v lie outside the cluster CIDRs %v", node.Name, outside, c.clusters)
}

// update writes the allocated ranges, Kubernetes' updateCIDRsAllocation:
// spec.podCIDR is immutable once set, so a Node that got a range from
// someone else meanwhile keeps it and ours goes back.
func (c *Controller) update(ctx context.Context, node *corev1.Node, cidrs []netip.Prefix) error {
	want := prefixStrings(cidrs)
	var err error
	for range cidrUpdateRetries {
		if err = patchNodeCIDRs(ctx, c.client, node.Name, want); err == nil {
			c.log.Info("set node PodCIDR", "node", node.Name, "podCIDRs", want)
			return nil
		}
		fresh, gerr := c.client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(gerr):
			c.releaseFor(node.Name)
			return nil
		case gerr == nil && hasPodCIDR(fresh):
			if !slices.Equal(fresh.Spec.PodCIDRs, want) {
				c.log.Info("node already has a CIDR allocated; releasing the new one", "node", node.Name, "podCIDRs", fresh.Spec.PodCIDRs)
				c.occupy(fresh)
			}
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	c.log.Info("failed to update node PodCIDR", "node", node.Name, "podCIDRs", want, "err", err)
	c.recordStatus(node, CIDRAssignmentFailed)
	// After a server timeout the write may still land: keep the ranges
	// marked rather than risk handing them out twice.
	if !apierrors.IsServerTimeout(err) {
		c.releaseFor(node.Name)
	}
	return err
}

func (c *Controller) releaseFor(node string) {
	if freed := c.alloc.release(node); len(freed) > 0 {
		c.metrics.released(freed)
		c.metrics.observe(c.alloc.usage())
	}
}

// recordStatus is Kubernetes' RecordNodeStatusChange.
func (c *Controller) recordStatus(node *corev1.Node, status string) {
	c.recorder.Eventf(nodeRef(node), corev1.EventTypeNormal, status, "Node %s status is now: %s", node.Name, status)
}

func nodeRef(node *corev1.Node) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}
}
