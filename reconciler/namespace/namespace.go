// Package namespace is cairn's namespace controller: when a Namespace is
// deleted it deletes everything in it, waits until the content is gone
// and removes the "kubernetes" finalizer from spec.finalizers through the
// finalize subresource, after which the API server deletes the
// Namespace, as kube-controller-manager's namespace controller does.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cairn-dev/cairn/reconciler/controller"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// ControllerName is the event source, as kube-controller-manager's.
const ControllerName = "namespace-controller"

// Options configures a Controller. Zero values take the defaults noted.
type Options struct {
	// Dynamic deletes the namespaces' content; required (Run fails
	// without it). dynamic.NewForConfig of the controller's rest.Config;
	// NewForConfig builds both clients.
	Dynamic dynamic.Interface
	// Clock; default the real one.
	Clock clock.WithTicker
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// MaxRecheck caps how long a namespace whose content is still going
	// away (pods in their grace period, objects with finalizers) waits
	// before it is looked at again; default 5s. The wait is Kubernetes'
	// estimate (half the longest remaining grace period, plus a second)
	// capped by MaxRecheck.
	MaxRecheck time.Duration
	// SkipConditions stops the controller writing Kubernetes' deletion
	// conditions (NamespaceDeletionDiscoveryFailure,
	// NamespaceDeletionContentFailure, NamespaceContentRemaining,
	// NamespaceFinalizersRemaining, ...) into the status of the namespaces
	// being deleted; they are written by default, as Kubernetes does.
	SkipConditions bool
}

// Controller is the namespace controller.
type Controller struct {
	client     kubernetes.Interface
	dynamic    dynamic.Interface
	factory    informers.SharedInformerFactory
	log        *slog.Logger
	clock      clock.WithTicker
	maxRecheck time.Duration
	conditions bool

	namespaces corelisters.NamespaceLister
	synced     cache.InformerSynced

	queue    workqueue.TypedRateLimitingInterface[string]
	events   record.EventBroadcaster
	recorder record.EventRecorder
	metrics  *metrics

	// deleter caches which verbs each resource supports.
	deleter *deleter
}

// New builds the controller and registers its namespace informer with
// factory; Run starts it. opts.Dynamic must be set.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Controller {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxRecheck <= 0 {
		opts.MaxRecheck = 5 * time.Second
	}
	c := &Controller{
		client: client, dynamic: opts.Dynamic, factory: factory, clock: opts.Clock, maxRecheck: opts.MaxRecheck,
		conditions: !opts.SkipConditions,
		log:        opts.Logger.With("component", ControllerName),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace", Clock: opts.Clock}),
		metrics: newMetrics(opts.Registerer),
	}
	c.deleter = &deleter{client: client, dynamic: opts.Dynamic, verbs: map[string]verbSet{}, log: c.log, clock: opts.Clock}
	nsInf := factory.Core().V1().Namespaces()
	c.namespaces = nsInf.Lister()
	_, _ = nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.namespaceChanged,
		UpdateFunc: func(_, obj any) { c.namespaceChanged(obj) },
	})
	c.synced = nsInf.Informer().HasSynced
	c.events = record.NewBroadcaster()
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: ControllerName})
	return c
}

// NewForConfig builds the typed and dynamic clients from cfg and the
// controller on them.
func NewForConfig(cfg *rest.Config, factory informers.SharedInformerFactory, opts Options) (*Controller, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if opts.Dynamic == nil {
		if opts.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
			return nil, err
		}
	}
	return New(client, factory, opts), nil
}

// Run starts the informers of the factory not started yet, waits for the
// cache, and runs workers until ctx ends; then it returns nil.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if c.dynamic == nil {
		return errors.New("namespace: Options.Dynamic is required")
	}
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	c.factory.Start(ctx.Done())
	return controller.Workers(ctx, c.log, c.queue, []cache.InformerSynced{c.synced}, workers, c.sync, c.metrics.sync)
}

func (c *Controller) namespaceChanged(obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil {
		return
	}
	c.queue.Add(ns.Name)
}

// remainingError: content is still going away; look again after.
type remainingError struct{ after time.Duration }

// RequeueAfter makes the worker loop look again after the estimate
// instead of backing off.
func (e *remainingError) RequeueAfter() time.Duration { return e.after }

func (e *remainingError) Error() string {
	return fmt.Sprintf("content remaining, checking again in %s", e.after)
}

// sync drives the deletion of one namespace a step further.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil || !hasFinalizer(ns) {
		return nil // not being deleted, or finalized: the API server removes it
	}
	res := c.deleter.deleteAll(ctx, ns.Name)
	if c.conditions {
		ns, err = c.updateConditions(ctx, ns, res)
		if err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
	}
	if res.err != nil {
		if ctx.Err() == nil {
			c.recorder.Eventf(ns, corev1.EventTypeWarning, "NamespaceDeletionFailed", "Failed to delete the content of namespace %s: %v", ns.Name, res.err)
		}
		return res.err
	}
	if res.contentRemains() {
		after := res.estimate/2 + time.Second
		if after > c.maxRecheck {
			after = c.maxRecheck
		}
		return &remainingError{after: after}
	}
	next := ns.DeepCopy()
	next.Spec.Finalizers = nil
	for _, f := range ns.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			next.Spec.Finalizers = append(next.Spec.Finalizers, f)
		}
	}
	_, err = c.client.CoreV1().Namespaces().Finalize(ctx, next, metav1.UpdateOptions{})
	c.metrics.finalize(err)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		if ctx.Err() == nil && !apierrors.IsConflict(err) {
			c.recorder.Eventf(ns, corev1.EventTypeWarning, "NamespaceFinalizeFailed", "Failed to finalize namespace %s: %v", ns.Name, err)
		}
		return fmt.Errorf("finalizing namespace %s: %w", ns.Name, err)
	}
	c.log.Info("namespace content deleted, finalized", "namespace", ns.Name)
	return nil
}

func hasFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return true
		}
	}
	return false
}
