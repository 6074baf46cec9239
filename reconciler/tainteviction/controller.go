// Package tainteviction is cairn's taint eviction controller, Kubernetes'
// pkg/controller/tainteviction re-implemented: it deletes the pods of a
// node with NoExecute taints they do not tolerate at once, and those that
// tolerate them for a while (tolerationSeconds) when that while is over,
// unless the taints go away first.
package tainteviction

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// Name is the controller's name in the controller manager, its
// workqueue's name and the metrics' controller label.
const Name = "taint-eviction-controller"

// EventTaintManagerEviction is the reason of the events about pods
// marked for deletion and reprieved, as Kubernetes'.
const EventTaintManagerEviction = "TaintManagerEviction"

// podNodeNameIndex indexes pods by spec.nodeName, under the name
// Kubernetes' controllers share.
const podNodeNameIndex = "spec.nodeName"

// Options configures a Controller. Zero values take the defaults noted.
type Options struct {
	// Clock on which deletions are timed; default the real clock.
	Clock clock.WithDelayedExecution
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for taint_eviction_controller_pod_deletions_total; nil
	// registers nowhere.
	Registerer prometheus.Registerer
	// MetricsProvider for the workqueue's metrics; nil: none.
	MetricsProvider workqueue.MetricsProvider
}

// Controller is the taint eviction controller.
type Controller struct {
	client     kubernetes.Interface
	log        *slog.Logger
	clock      clock.WithDelayedExecution
	nodeLister corelisters.NodeLister
	podLister  corelisters.PodLister
	podIndex   cache.Indexer
	synced     []cache.InformerSynced
	// queue holds node names and pod keys namespace/name to look at.
	queue     workqueue.TypedRateLimitingInterface[string]
	timed     *timedQueue
	events    record.EventBroadcaster
	recorder  record.EventRecorder
	deletions prometheus.Counter
}

// New builds the controller and registers its event handlers on the
// factory's Node and Pod informers; the caller starts the factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Controller {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	nodeInf := factory.Core().V1().Nodes()
	podInf := factory.Core().V1().Pods()
	addNodeNameIndex(podInf.Informer())
	c := &Controller{
		client:     client,
		log:        opts.Logger.With("controller", Name),
		clock:      opts.Clock,
		nodeLister: nodeInf.Lister(),
		podLister:  podInf.Lister(),
		podIndex:   podInf.Informer().GetIndexer(),
		synced:     []cache.InformerSynced{nodeInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, MetricsProvider: opts.MetricsProvider}),
		events: record.NewBroadcaster(),
		deletions: controller.Register(opts.Registerer, prometheus.NewCounter(prometheus.CounterOpts{
			Subsystem: "taint_eviction_controller", Name: "pod_deletions_total",
			Help: "Total number of Pods deleted by TaintEvictionController since its start.",
		})),
	}
	c.timed = newTimedQueue(opts.Clock, c.deletePod)
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: Name})
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.nodeUpdated(nil, obj) },
		UpdateFunc: func(old, cur any) {
			c.nodeUpdated(old, cur)
		},
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.podUpdated(nil, obj) },
		UpdateFunc: c.podUpdated,
		DeleteFunc: func(obj any) {
			if p, ok := controller.Object[*corev1.Pod](obj); ok {
				c.queue.Add(p.Namespace + "/" + p.Name)
			}
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

// nodeUpdated queues a node whose NoExecute taints changed.
func (c *Controller) nodeUpdated(old, cur any) {
	n, ok := cur.(*corev1.Node)
	if !ok {
		return
	}
	if o, ok := old.(*corev1.Node); ok &&
		equality.Semantic.DeepEqual(noExecuteTaints(o.Spec.Taints), noExecuteTaints(n.Spec.Taints)) {
		return
	}
	c.queue.Add(n.Name)
}

// podUpdated queues a pod bound to a node, or whose binding or
// tolerations changed.
func (c *Controller) podUpdated(old, cur any) {
	p, ok := cur.(*corev1.Pod)
	if !ok || p.Spec.NodeName == "" {
		return
	}
	if o, ok := old.(*corev1.Pod); ok && o.Spec.NodeName == p.Spec.NodeName &&
		equality.Semantic.DeepEqual(o.Spec.Tolerations, p.Spec.Tolerations) {
		return
	}
	c.queue.Add(p.Namespace + "/" + p.Name)
}

// Run waits for the informers to sync and runs workers until ctx ends;
// it then cancels the deletions still waiting and returns once the ones
// under way are done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	defer c.timed.shutdown()
	return controller.Workers(ctx, c.log, c.queue, c.synced, workers, c.sync, nil)
}

// sync handles one key: a node name or a pod's namespace/name.
func (c *Controller) sync(_ context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	if ns == "" {
		return c.syncNode(name)
	}
	return c.syncPod(ns, name)
}

// syncNode looks again at every pod of a node whose taints changed.
func (c *Controller) syncNode(name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		// The pods of a deleted node are the pod garbage collector's.
		return nil
	}
	if err != nil {
		return err
	}
	pods, err := c.podsOnNode(name)
	if err != nil {
		return err
	}
	taints := noExecuteTaints(node.Spec.Taints)
	for _, p := range pods {
		c.processPod(p, taints)
	}
	return nil
}

// syncPod looks at one pod against its node's taints.
func (c *Controller) syncPod(ns, name string) error {
	key := ns + "/" + name
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.cancel(key)
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return nil
	}
	node, err := c.nodeLister.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c.processPod(pod, noExecuteTaints(node.Spec.Taints))
	return nil
}

// processPod schedules, moves or cancels a pod's deletion (Kubernetes'
// processPodOnNode).
func (c *Controller) processPod(pod *corev1.Pod, taints []corev1.Taint) {
	key := pod.Namespace + "/" + pod.Name
	if len(taints) == 0 {
		c.cancel(key)
		return
	}
	now := c.clock.Now()
	w, exists := c.timed.get(key)
	if exists && w == nil {
		// Deleted already.
		return
	}
	firstSeen := now
	if w != nil {
		firstSeen = w.createdAt
	}
	at, evict := evictionTime(taints, pod.Spec.Tolerations, firstSeen)
	if !evict {
		c.cancel(key)
		return
	}
	if at.Before(now) {
		at = now
	}
	if w != nil {
		if w.fireAt.Equal(at) || !w.fireAt.After(now) {
			return
		}
		c.cancel(key)
	}
	if at.Equal(now) {
		c.log.Info("not all taints are tolerated; deleting pod", "pod", key, "node", pod.Spec.NodeName)
	}
	c.timed.add(key, firstSeen, at)
}

// cancel drops a pod's scheduled deletion, telling so in an event.
func (c *Controller) cancel(key string) {
	if !c.timed.cancelWork(key) {
		return
	}
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	c.log.Info("cancelling deletion", "pod", key)
	c.recorder.Eventf(&corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name},
		corev1.EventTypeNormal, EventTaintManagerEviction, "Cancelling deletion of Pod %s", key)
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

// Scheduled is how many pod deletions are waiting for their time or
// under way.
func (c *Controller) Scheduled() int { return c.timed.scheduled() }
