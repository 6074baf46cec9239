// Package statefulset is cairn's StatefulSet controller, Kubernetes'
// pkg/controller/statefulset re-implemented in the sample-controller
// pattern: informer events enqueue StatefulSet keys into a rate-limited
// workqueue; workers run a level-triggered sync per key that claims the
// set's pods and ControllerRevisions, records the set's template as a
// revision, decides (purely, in decide) which pods to create, delete or
// repair next for the pod management policy and update strategy, carries
// that out, writes the status and prunes the revision history.
//
// Pods have stable names <set>-<ordinal> and, for each volume claim
// template, a claim <template>-<set>-<ordinal> created before the pod and
// kept when the pod goes. No expectations are needed: pod names are
// fixed, so a sync acting on a stale cache repeats its predecessor's
// create or delete, which the API refuses, and retries.
package statefulset

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
const Name = "statefulset"

// Event reasons, as Kubernetes' ("Successful"/"Failed" and the verb).
const (
	SuccessfulCreate = "SuccessfulCreate"
	FailedCreate     = "FailedCreate"
	SuccessfulDelete = "SuccessfulDelete"
	FailedDelete     = "FailedDelete"
	SuccessfulUpdate = "SuccessfulUpdate"
	FailedUpdate     = "FailedUpdate"
)

var setKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Options configures a Controller. Zero values take the defaults noted.
type Options struct {
	// Clock for pod availability (minReadySeconds); default the real
	// clock.
	Clock clock.Clock
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for controller_sync_duration_seconds{controller}; nil
	// registers nowhere. Controllers sharing a Registerer share the
	// histogram.
	Registerer prometheus.Registerer
	// MetricsProvider for the workqueue's metrics (workqueue_depth{name},
	// ...); nil: none.
	MetricsProvider workqueue.MetricsProvider
}

// Controller is the StatefulSet controller.
type Controller struct {
	client    kubernetes.Interface
	log       *slog.Logger
	clock     clock.Clock
	setLister appslisters.StatefulSetLister
	revLister appslisters.ControllerRevisionLister
	podLister corelisters.PodLister
	pvcLister corelisters.PersistentVolumeClaimLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	events    record.EventBroadcaster
	recorder  record.EventRecorder
	syncDur   prometheus.Observer
}

// New builds the controller and registers its event handlers on the
// factory's StatefulSet and Pod informers (and uses its
// ControllerRevision and PersistentVolumeClaim informers' caches); the
// caller starts the factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Controller {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	setInf := factory.Apps().V1().StatefulSets()
	revInf := factory.Apps().V1().ControllerRevisions()
	podInf := factory.Core().V1().Pods()
	pvcInf := factory.Core().V1().PersistentVolumeClaims()
	c := &Controller{
		client:    client,
		log:       opts.Logger.With("controller", Name),
		clock:     opts.Clock,
		setLister: setInf.Lister(),
		revLister: revInf.Lister(),
		podLister: podInf.Lister(),
		pvcLister: pvcInf.Lister(),
		synced: []cache.InformerSynced{setInf.Informer().HasSynced, revInf.Informer().HasSynced,
			podInf.Informer().HasSynced, pvcInf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, MetricsProvider: opts.MetricsProvider}),
		events:  record.NewBroadcaster(),
		syncDur: controller.SyncDuration(opts.Registerer, Name),
	}
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "statefulset-controller"})
	_, _ = setInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
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

func setKey(set *appsv1.StatefulSet) string { return set.Namespace + "/" + set.Name }

// resolve finds the StatefulSet a controller reference names, if it is
// still the same object (same UID).
func (c *Controller) resolve(ns string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	if ref == nil || ref.Kind != setKind.Kind || ref.APIVersion != setKind.GroupVersion().String() {
		return nil
	}
	set, err := c.setLister.StatefulSets(ns).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil
	}
	return set
}

// matching lists the StatefulSets whose selector matches an orphan pod.
func (c *Controller) matching(p *corev1.Pod) []*appsv1.StatefulSet {
	all, err := c.setLister.StatefulSets(p.Namespace).List(labels.Everything())
	if err != nil || len(p.Labels) == 0 {
		return nil
	}
	var out []*appsv1.StatefulSet
	for _, set := range all {
		sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		out = append(out, set)
	}
	return out
}

func (c *Controller) addPod(obj any) {
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp != nil {
		// A restarted controller sees pods already being deleted.
		c.deletePod(p)
		return
	}
	if ref := metav1.GetControllerOf(p); ref != nil {
		if set := c.resolve(p.Namespace, ref); set != nil {
			c.queue.Add(setKey(set))
		}
		return
	}
	for _, set := range c.matching(p) {
		c.queue.Add(setKey(set))
	}
}

func (c *Controller) updatePod(old, cur any) {
	op, cp := old.(*corev1.Pod), cur.(*corev1.Pod)
	if op.ResourceVersion == cp.ResourceVersion {
		return
	}
	labelsChanged := !labels.Equals(op.Labels, cp.Labels)
	curRef, oldRef := metav1.GetControllerOf(cp), metav1.GetControllerOf(op)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if set := c.resolve(op.Namespace, oldRef); set != nil {
			c.queue.Add(setKey(set))
		}
	}
	if curRef != nil {
		set := c.resolve(cp.Namespace, curRef)
		if set == nil {
			return
		}
		c.queue.Add(setKey(set))
		// A pod that just became ready becomes available minReadySeconds
		// later: look again then.
		if !isReady(op) && isReady(cp) && set.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(setKey(set), time.Duration(set.Spec.MinReadySeconds)*time.Second)
		}
		return
	}
	if labelsChanged || oldRef != nil {
		for _, set := range c.matching(cp) {
			c.queue.Add(setKey(set))
		}
	}
}

func (c *Controller) deletePod(obj any) {
	p, ok := controller.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	if set := c.resolve(p.Namespace, metav1.GetControllerOf(p)); set != nil {
		c.queue.Add(setKey(set))
	}
}
