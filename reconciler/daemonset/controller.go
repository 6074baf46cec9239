// Package daemonset is cairn's DaemonSet controller, Kubernetes'
// pkg/controller/daemon re-implemented in the sample-controller pattern:
// informer events (DaemonSets, pods, nodes, ControllerRevisions) enqueue
// DaemonSet keys into a rate-limited workqueue; workers run a
// level-triggered sync per key that keeps one daemon pod on every
// eligible node, rolls pods to the current template revision and writes
// the status. Pods are pinned to their node by a required node affinity
// on metadata.name and bound by the scheduler, as in Kubernetes.
package daemonset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// Name is the controller's name in the controller manager, its
// workqueue's name and the metrics' controller label.
const Name = "daemonset"

// DefaultBurstReplicas is how many pods one sync creates or deletes at
// most, Kubernetes' BurstReplicas for DaemonSets.
const DefaultBurstReplicas = 250

// Event reasons, as Kubernetes'.
const (
	SuccessfulCreate   = "SuccessfulCreate"
	FailedCreate       = "FailedCreate"
	SuccessfulDelete   = "SuccessfulDelete"
	FailedDelete       = "FailedDelete"
	SelectingAll       = "SelectingAll"
	FailedDaemonPod    = "FailedDaemonPod"
	SucceededDaemonPod = "SucceededDaemonPod"
)

var dsKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Options configures a Controller. Zero values take the defaults noted.
type Options struct {
	// Clock for expectations, availability and the failed-pod backoff;
	// default the real clock.
	Clock clock.Clock
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for controller_sync_duration_seconds{controller}; nil
	// registers nowhere. Controllers sharing a Registerer share the
	// histogram.
	Registerer prometheus.Registerer
	// MetricsProvider for the workqueue's metrics; nil: none.
	MetricsProvider workqueue.MetricsProvider
	// BurstReplicas: most creates or deletes per sync; default 250.
	BurstReplicas int
}

// Controller is the DaemonSet controller.
type Controller struct {
	client    kubernetes.Interface
	log       *slog.Logger
	clock     clock.Clock
	burst     int
	dsLister  appslisters.DaemonSetLister
	revLister appslisters.ControllerRevisionLister
	podLister corelisters.PodLister
	nodes     corelisters.NodeLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	exp       *expectations
	backoff   *backoff
	events    record.EventBroadcaster
	recorder  record.EventRecorder
	syncDur   prometheus.Observer
}

// New builds the controller and registers its event handlers on the
// factory's DaemonSet, ControllerRevision, Pod and Node informers; the
// caller starts the factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Controller {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BurstReplicas <= 0 {
		opts.BurstReplicas = DefaultBurstReplicas
	}
	dsInf := factory.Apps().V1().DaemonSets()
	revInf := factory.Apps().V1().ControllerRevisions()
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	c := &Controller{
		client:    client,
		log:       opts.Logger.With("controller", Name),
		clock:     opts.Clock,
		burst:     opts.BurstReplicas,
		dsLister:  dsInf.Lister(),
		revLister: revInf.Lister(),
		podLister: podInf.Lister(),
		nodes:     nodeInf.Lister(),
		synced: []cache.InformerSynced{dsInf.Informer().HasSynced, revInf.Informer().HasSynced,
			podInf.Informer().HasSynced, nodeInf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, MetricsProvider: opts.MetricsProvider}),
		exp:     newExpectations(opts.Clock),
		backoff: newBackoff(opts.Clock, FailedPodsBackoffInitial, FailedPodsBackoffMax),
		events:  record.NewBroadcaster(),
		syncDur: controller.SyncDuration(opts.Registerer, Name),
	}
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "daemonset-controller"})
	_, _ = dsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	_, _ = revInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.revisionChanged,
		UpdateFunc: func(old, cur any) { c.revisionChanged(old); c.revisionChanged(cur) },
		DeleteFunc: c.revisionChanged,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addNode,
		UpdateFunc: c.updateNode,
		DeleteFunc: c.deleteNode,
	})
	return c
}

// Run waits for the informers to sync and runs workers until ctx ends;
// it returns once every worker has stopped.
func (c *Controller) Run(ctx context.Context, workers int) error {
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	return controller.Workers(ctx, c.log, c.queue, c.synced, workers, c.sync,
		func(_ error, d time.Duration) { c.syncDur.Observe(d.Seconds()) })
}

func dsKey(ds *appsv1.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.Add(key)
}

// sync brings one DaemonSet toward its spec, as syncDaemonSet: claim its
// pods and revisions, find the current revision, then (when the
// expectations allow) place and delete pods, roll an update forward and
// prune history; the status is written in every case.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	if ds.Spec.Selector == nil || reflect.DeepEqual(*ds.Spec.Selector, metav1.LabelSelector{}) {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, SelectingAll, "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		c.log.Info("invalid selector", "daemonset", key, "err", err)
		return nil
	}
	pods, revs, err := c.claimAll(ctx, ds, sel)
	if err != nil {
		return err
	}
	cur, old, err := c.constructHistory(ctx, ds, revs, pods)
	if err != nil {
		return fmt.Errorf("constructing history of DaemonSet %s: %w", key, err)
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if !c.exp.satisfied(key) {
		// observedGeneration stays: this generation was not acted on.
		return c.updateStatus(ctx, ds, nodes, pods, hash, false)
	}
	err = c.updateDaemonSet(ctx, key, ds, nodes, pods, hash, old)
	statusErr := c.updateStatus(ctx, ds, nodes, pods, hash, true)
	if err != nil {
		return err
	}
	return statusErr
}

// claimAll claims the DaemonSet's pods and revisions from the caches.
func (c *Controller) claimAll(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) ([]*corev1.Pod, []*appsv1.ControllerRevision, error) {
	allPods, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, nil, err
	}
	allRevs, err := c.revLister.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, nil, err
	}
	cl := newClaimer(c, ds, sel)
	pods, podErr := claim(ctx, cl, allPods, c.patchPod(ds.Namespace))
	revs, revErr := claim(ctx, cl, allRevs, c.patchRevision(ds.Namespace))
	if err := errors.Join(podErr, revErr); err != nil {
		return nil, nil, err
	}
	return pods, revs, nil
}

// updateDaemonSet runs the core loop, then the rolling update when the
// core loop's own creates and deletes have been observed, then prunes
// history.
func (c *Controller) updateDaemonSet(ctx context.Context, key string, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string, old []*appsv1.ControllerRevision) error {
	if err := c.manage(ctx, key, ds, nodes, pods, hash); err != nil {
		return err
	}
	if c.exp.satisfied(key) && isRollingUpdate(ds) {
		u, err := planRollingUpdate(ds, nodes, nodePods(pods, false), hash, c.clock.Now())
		if err != nil {
			return err
		}
		if err := c.syncNodes(ctx, key, ds, u.delete, u.create, hash); err != nil {
			return err
		}
	}
	return c.cleanupHistory(ctx, ds, old, pods)
}

// manage is the core loop: a pod where one is missing, none where none
// may run, one per node; failed pods are replaced after a backoff.
func (c *Controller) manage(ctx context.Context, key string, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string) error {
	plan := planPlacement(ds, nodes, nodePods(pods, false), hash, c.clock.Now())
	del := plan.delete
	for _, p := range plan.succeeded {
		node, _ := targetNodeName(p)
		c.recorder.Eventf(ds, corev1.EventTypeNormal, SucceededDaemonPod,
			"Found succeeded daemon pod %s/%s on node %s, will try to delete it", p.Namespace, p.Name, node)
		del = append(del, p)
	}
	for _, p := range plan.failed {
		node, _ := targetNodeName(p)
		bkey := string(ds.UID) + "/" + node
		if in, wait := c.backoff.inBackoff(bkey); in {
			c.queue.AddAfter(key, wait)
			continue
		}
		c.backoff.next(bkey)
		c.recorder.Eventf(ds, corev1.EventTypeWarning, FailedDaemonPod,
			"Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, node)
		del = append(del, p)
	}
	return c.syncNodes(ctx, key, ds, del, plan.create, hash)
}

// syncNodes deletes pods and creates one on each node given, at most
// burst of each, expecting them first; creates go in slow-start batches
// so that a failing create (quota, admission) costs one call, not
// hundreds.
func (c *Controller) syncNodes(ctx context.Context, key string, ds *appsv1.DaemonSet, del []*corev1.Pod, create []string, hash string) error {
	create = create[:min(len(create), c.burst)]
	del = del[:min(len(del), c.burst)]
	if len(create) == 0 && len(del) == 0 {
		return nil
	}
	c.exp.set(key, len(create), len(del))
	var errs []error
	created, err := slowStartBatch(len(create), 1, func(i int) error {
		return c.createPod(ctx, key, ds, hash, create[i])
	})
	for range len(create) - created {
		// Creates not issued or failed are never observed.
		c.exp.creationObserved(key)
	}
	if err != nil {
		errs = append(errs, err)
	}
	errCh := make(chan error, len(del))
	var wg sync.WaitGroup
	for _, p := range del {
		wg.Go(func() {
			if err := c.deletePodFor(ctx, ds, p); err != nil {
				c.exp.deletionObserved(key)
				if !apierrors.IsNotFound(err) {
					errCh <- err
				}
			}
		})
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// slowStartBatch calls fn(0..count-1) in batches of 1, 2, 4, ... (from
// initial), the calls of a batch in parallel, stopping after the first
// batch with an error; it returns how many calls succeeded, as
// Kubernetes' slowStartBatch.
func slowStartBatch(count, initial int, fn func(i int) error) (int, error) {
	ok, pos := 0, 0
	for size := min(count, initial); size > 0; size = min(2*size, count-pos) {
		errCh := make(chan error, size)
		var wg sync.WaitGroup
		for i := pos; i < pos+size; i++ {
			wg.Go(func() {
				if err := fn(i); err != nil {
					errCh <- err
				}
			})
		}
		wg.Wait()
		close(errCh)
		ok += size - len(errCh)
		pos += size
		if len(errCh) > 0 {
			return ok, <-errCh
		}
	}
	return ok, nil
}

// createPod creates the daemon pod of node.
func (c *Controller) createPod(ctx context.Context, key string, ds *appsv1.DaemonSet, hash, node string) error {
	p, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, newPod(ds, hash, node), metav1.CreateOptions{})
	if err != nil {
		switch {
		case apierrors.IsTimeout(err):
			// The create may still happen; the informer will tell, and
			// the expectations expire otherwise.
			return nil
		case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			// Every later create fails the same way; nothing to report.
			return err
		}
		c.recorder.Eventf(ds, corev1.EventTypeWarning, FailedCreate, "Error creating: %v", err)
		return err
	}
	c.log.Debug("created pod", "daemonset", key, "pod", p.Name, "node", node)
	c.recorder.Eventf(ds, corev1.EventTypeNormal, SuccessfulCreate, "Created pod: %v", p.Name)
	return nil
}

func (c *Controller) deletePodFor(ctx context.Context, ds *appsv1.DaemonSet, p *corev1.Pod) error {
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, FailedDelete, "Error deleting: %v", err)
		}
		return err
	}
	c.recorder.Eventf(ds, corev1.EventTypeNormal, SuccessfulDelete, "Deleted pod: %v", p.Name)
	return nil
}

// updateStatus writes the status counted from the caches; observe says
// whether this sync acted on the spec (observedGeneration). A DaemonSet
// with minReadySeconds whose ready pods are not all available yet is
// looked at again once they may be.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string, observe bool) error {
	st := computeStatus(ds, nodes, nodePods(pods, false), hash, c.clock.Now())
	if err := storeStatus(ctx, c.client, ds, st, observe); err != nil {
		return fmt.Errorf("updating status of DaemonSet %s: %w", dsKey(ds), err)
	}
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		c.queue.AddAfter(dsKey(ds), time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}
