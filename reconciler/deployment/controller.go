// Package deployment is cairn's Deployment controller, Kubernetes'
// pkg/controller/deployment re-implemented in the sample-controller
// pattern: Deployment, ReplicaSet and Pod events enqueue Deployment keys
// into a rate-limited workqueue; workers run a level-triggered sync per
// key that adopts and releases ReplicaSets, creates the ReplicaSet of the
// current pod template, scales ReplicaSets by the rollout strategy
// (RollingUpdate or Recreate), scales proportionally when replicas
// change mid-rollout, deletes ReplicaSets past revisionHistoryLimit and
// writes the status and conditions. Pods are the ReplicaSet
// controller's business; this controller only sizes ReplicaSets.
package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
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
const Name = "deployment"

// Event reasons, as Kubernetes'.
const (
	// ScalingReplicaSet: a ReplicaSet was scaled up or down.
	ScalingReplicaSet = "ScalingReplicaSet"
	// SelectingAll: the Deployment's selector is empty.
	SelectingAll = "SelectingAll"
)

var (
	deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")
	rsKind         = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
)

// Options configures a Controller. Zero values take the defaults noted.
type Options struct {
	// Clock for conditions and the progress deadline; default the real
	// clock.
	Clock clock.Clock
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for controller_sync_duration_seconds{controller}; nil
	// registers nowhere. Controllers sharing a Registerer share the
	// histogram.
	Registerer prometheus.Registerer
	// MetricsProvider for the workqueue's metrics; nil: none.
	MetricsProvider workqueue.MetricsProvider
}

// Controller is the Deployment controller.
type Controller struct {
	client   kubernetes.Interface
	log      *slog.Logger
	clock    clock.Clock
	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	podList  corelisters.PodLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	events   record.EventBroadcaster
	recorder record.EventRecorder
	syncDur  prometheus.Observer
}

// New builds the controller and registers its event handlers on the
// factory's Deployment, ReplicaSet and Pod informers; the caller starts
// the factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Controller {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	dInf := factory.Apps().V1().Deployments()
	rsInf := factory.Apps().V1().ReplicaSets()
	podInf := factory.Core().V1().Pods()
	c := &Controller{
		client:   client,
		log:      opts.Logger.With("controller", Name),
		clock:    opts.Clock,
		dLister:  dInf.Lister(),
		rsLister: rsInf.Lister(),
		podList:  podInf.Lister(),
		synced:   []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, MetricsProvider: opts.MetricsProvider}),
		events:  record.NewBroadcaster(),
		syncDur: controller.SyncDuration(opts.Registerer, Name),
	}
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "deployment-controller"})
	_, _ = dInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	_, _ = rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addReplicaSet,
		UpdateFunc: c.updateReplicaSet,
		DeleteFunc: c.deleteReplicaSet,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur any) {
			if p := cur.(*corev1.Pod); p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				c.podGone(p)
			}
		},
		DeleteFunc: c.podGone,
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

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.Add(key)
}

func dKey(d *appsv1.Deployment) string { return d.Namespace + "/" + d.Name }

// resolve finds the Deployment a controller reference names, if it is
// still the same object (same UID).
func (c *Controller) resolve(ns string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref == nil || ref.Kind != deploymentKind.Kind || ref.APIVersion != deploymentKind.GroupVersion().String() {
		return nil
	}
	d, err := c.dLister.Deployments(ns).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// matching lists the Deployments whose selector matches an orphan
// ReplicaSet: one of them may adopt it.
func (c *Controller) matching(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	all, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil || len(rs.Labels) == 0 {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range all {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func (c *Controller) addReplicaSet(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		// A restarted controller sees ReplicaSets already being deleted.
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if d := c.resolve(rs.Namespace, ref); d != nil {
			c.queue.Add(dKey(d))
		}
		return
	}
	for _, d := range c.matching(rs) {
		c.queue.Add(dKey(d))
	}
}

func (c *Controller) updateReplicaSet(old, cur any) {
	ors, crs := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	if ors.ResourceVersion == crs.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOf(crs), metav1.GetControllerOf(ors)
	refChanged := (curRef == nil) != (oldRef == nil) || (curRef != nil && curRef.UID != oldRef.UID)
	if refChanged && oldRef != nil {
		if d := c.resolve(ors.Namespace, oldRef); d != nil {
			c.queue.Add(dKey(d))
		}
	}
	if curRef != nil {
		if d := c.resolve(crs.Namespace, curRef); d != nil {
			c.queue.Add(dKey(d))
		}
		return
	}
	if refChanged || !labels.Equals(ors.Labels, crs.Labels) {
		for _, d := range c.matching(crs) {
			c.queue.Add(dKey(d))
		}
	}
}

func (c *Controller) deleteReplicaSet(obj any) {
	rs, ok := controller.Object[*appsv1.ReplicaSet](obj)
	if !ok {
		return
	}
	if d := c.resolve(rs.Namespace, metav1.GetControllerOf(rs)); d != nil {
		c.queue.Add(dKey(d))
	}
}

// podGone looks again at a Recreate Deployment whose pod stopped: it
// waits for its old pods to go before it creates the new ones.
func (c *Controller) podGone(obj any) {
	p, ok := controller.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != rsKind.Kind {
		return
	}
	rs, err := c.rsLister.ReplicaSets(p.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d := c.resolve(rs.Namespace, metav1.GetControllerOf(rs)); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.queue.Add(dKey(d))
	}
}

// sync is Kubernetes' syncDeployment: claim ReplicaSets, then roll out
// or only scale as the Deployment's state asks. It is level-triggered
// and safe to re-run.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	withDefaults(d)

	if apiequality.Semantic.DeepEqual(d.Spec.Selector, &metav1.LabelSelector{}) || d.Spec.Selector == nil {
		c.recorder.Eventf(d, corev1.EventTypeWarning, SelectingAll, "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return c.updateStatus(ctx, d)
		}
		return nil
	}
	rsList, err := c.claimReplicaSets(ctx, d)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	// An Unknown Progressing condition while paused keeps a resumed
	// Deployment from timing out over the pause.
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.scaleOnly(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.scaleOnly(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return c.rolloutRecreate(ctx, d, rsList, c.podMap(d, rsList))
	case appsv1.RollingUpdateDeploymentStrategyType:
		return c.rolloutRolling(ctx, d, rsList)
	}
	return fmt.Errorf("unexpected deployment strategy type: %s", d.Spec.Strategy.Type)
}

// withDefaults fills what the API server defaults, for Deployments
// written by clients that skip defaulting.
func withDefaults(d *appsv1.Deployment) {
	if d.Spec.Replicas == nil {
		one := int32(1)
		d.Spec.Replicas = &one
	}
	if d.Spec.Strategy.Type == "" {
		d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if d.Spec.RevisionHistoryLimit == nil {
		ten := int32(10)
		d.Spec.RevisionHistoryLimit = &ten
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		pds := int32(600)
		d.Spec.ProgressDeadlineSeconds = &pds
	}
}

// updateStatus writes d's status and keeps d's resourceVersion current
// so that a later write in the same sync does not conflict with this one.
func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	out, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	d.ResourceVersion = out.ResourceVersion
	return nil
}
