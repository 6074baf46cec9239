// Package endpoints is cairn's Endpoints controller: for every Service
// with a selector it keeps the Endpoints object of the same name listing
// the selected pods' addresses, ready and not ready, with the ports the
// service targets, as kube-controller-manager's endpoint controller does.
// Services without a selector keep the Endpoints their owner writes.
package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cairn-dev/cairn/reconciler/controller"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
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
	"k8s.io/utils/clock"
)

// ControllerName is the event source and the managed-by label value, as
// kube-controller-manager's.
const ControllerName = "endpoint-controller"

// Labels and annotations the controller sets on the Endpoints it writes.
const (
	// LabelManagedBy marks Endpoints this controller owns; only those are
	// deleted when their Service is gone.
	LabelManagedBy = "endpoints.kubernetes.io/managed-by"
	// LabelHeadless is set on the Endpoints of a headless service.
	LabelHeadless = corev1.IsHeadlessService
	// AnnotationLastChangeTriggerTime is when the change that led to the
	// last write happened.
	AnnotationLastChangeTriggerTime = corev1.EndpointsLastChangeTriggerTime
)

// Options configures a Controller. Zero values take the defaults noted.
type Options struct {
	// Clock; default the real one.
	Clock clock.WithTicker
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for metrics; nil registers nowhere.
	Registerer prometheus.Registerer
}

// Controller is the Endpoints controller.
type Controller struct {
	client  kubernetes.Interface
	factory informers.SharedInformerFactory
	log     *slog.Logger
	clock   clock.WithTicker

	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced

	queue    workqueue.TypedRateLimitingInterface[string]
	events   record.EventBroadcaster
	recorder record.EventRecorder
	metrics  *metrics

	// selectors caches each namespace's services' selectors, so a pod
	// event looks at the services of its namespace only.
	mu        sync.RWMutex
	selectors map[string]map[string]labels.Selector
}

// New builds the controller and registers its informers (services, pods,
// endpoints) with factory; Run starts it.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Controller {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Controller{
		client: client, factory: factory, clock: opts.Clock,
		log: opts.Logger.With("component", ControllerName),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint", Clock: opts.Clock}),
		selectors: map[string]map[string]labels.Selector{},
		metrics:   newMetrics(opts.Registerer),
	}
	svcs := factory.Core().V1().Services()
	pods := factory.Core().V1().Pods()
	eps := factory.Core().V1().Endpoints()
	c.services, c.pods, c.endpoints = svcs.Lister(), pods.Lister(), eps.Lister()
	_, _ = svcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.serviceChanged,
		UpdateFunc: func(_, obj any) { c.serviceChanged(obj) },
		DeleteFunc: c.serviceDeleted,
	})
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.podChanged(nil, podOf(obj)) },
		UpdateFunc: func(old, cur any) { c.podChanged(podOf(old), podOf(cur)) },
		DeleteFunc: func(obj any) { c.podChanged(podOf(obj), nil) },
	})
	_, _ = eps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.endpointsChanged,
		UpdateFunc: func(_, obj any) { c.endpointsChanged(obj) },
		DeleteFunc: c.endpointsChanged,
	})
	c.synced = []cache.InformerSynced{svcs.Informer().HasSynced, pods.Informer().HasSynced, eps.Informer().HasSynced}
	c.events = record.NewBroadcaster()
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: ControllerName})
	return c
}

// Run starts the informers of the factory not started yet, waits for the
// caches, and runs workers until ctx ends; then it returns nil.
func (c *Controller) Run(ctx context.Context, workers int) error {
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	c.factory.Start(ctx.Done())
	return controller.Workers(ctx, c.log, c.queue, c.synced, workers, c.sync, c.metrics.sync)
}

// --- event handlers: they only enqueue keys ---

func (c *Controller) serviceChanged(obj any) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	c.mu.Lock()
	byName := c.selectors[svc.Namespace]
	if len(svc.Spec.Selector) == 0 {
		delete(byName, svc.Name)
	} else {
		if byName == nil {
			byName = map[string]labels.Selector{}
			c.selectors[svc.Namespace] = byName
		}
		byName[svc.Name] = labels.SelectorFromSet(svc.Spec.Selector)
	}
	if len(byName) == 0 {
		delete(c.selectors, svc.Namespace)
	}
	c.mu.Unlock()
	c.enqueue(svc.Namespace, svc.Name)
}

func (c *Controller) serviceDeleted(obj any) {
	svc, ok := controller.Object[*corev1.Service](obj)
	if !ok {
		return
	}
	c.mu.Lock()
	if byName := c.selectors[svc.Namespace]; byName != nil {
		delete(byName, svc.Name)
		if len(byName) == 0 {
			delete(c.selectors, svc.Namespace)
		}
	}
	c.mu.Unlock()
	c.enqueue(svc.Namespace, svc.Name)
}

// podChanged enqueues the services whose selector matches the old or the
// new pod's labels, unless nothing an Endpoints shows changed.
func (c *Controller) podChanged(old, cur *corev1.Pod) {
	if old != nil && cur != nil && !podEndpointsChanged(old, cur) {
		return
	}
	ns := ""
	switch {
	case cur != nil:
		ns = cur.Namespace
	case old != nil:
		ns = old.Namespace
	default:
		return
	}
	var keys []string
	c.mu.RLock()
	for name, sel := range c.selectors[ns] {
		if (cur != nil && sel.Matches(labels.Set(cur.Labels))) || (old != nil && sel.Matches(labels.Set(old.Labels))) {
			keys = append(keys, name)
		}
	}
	c.mu.RUnlock()
	for _, name := range keys {
		c.enqueue(ns, name)
	}
}

// endpointsChanged enqueues the service of Endpoints this controller
// manages or whose service has a selector, so that Endpoints edited or
// deleted by someone else are put back and leftovers are removed.
func (c *Controller) endpointsChanged(obj any) {
	ep, ok := controller.Object[*corev1.Endpoints](obj)
	if !ok {
		return
	}
	c.mu.RLock()
	_, selected := c.selectors[ep.Namespace][ep.Name]
	c.mu.RUnlock()
	if selected || ep.Labels[LabelManagedBy] == ControllerName {
		c.enqueue(ep.Namespace, ep.Name)
	}
}

func (c *Controller) enqueue(ns, name string) { c.queue.Add(ns + "/" + name) }

func podOf(obj any) *corev1.Pod {
	o, _ := controller.Object[*corev1.Pod](obj)
	return o
}

// podEndpointsChanged: something an Endpoints shows of the pod, or
// whether it is selected, changed.
func podEndpointsChanged(old, cur *corev1.Pod) bool {
	if old.UID != cur.UID || !labels.Equals(old.Labels, cur.Labels) {
		return true
	}
	if (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) {
		return true
	}
	if old.Status.PodIP != cur.Status.PodIP || !apiequality.Semantic.DeepEqual(old.Status.PodIPs, cur.Status.PodIPs) ||
		old.Status.Phase != cur.Status.Phase || isPodReady(old) != isPodReady(cur) {
		return true
	}
	if old.Spec.NodeName != cur.Spec.NodeName || old.Spec.Hostname != cur.Spec.Hostname || old.Spec.Subdomain != cur.Spec.Subdomain {
		return true
	}
	return !apiequality.Semantic.DeepEqual(containerPorts(old), containerPorts(cur))
}

func containerPorts(p *corev1.Pod) [][]corev1.ContainerPort {
	out := make([][]corev1.ContainerPort, 0, len(p.Spec.Containers))
	for _, c := range p.Spec.Containers {
		out = append(out, c.Ports)
	}
	return out
}

// --- sync ---

// sync makes the Endpoints of the service at key what its pods say.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.log.Error("bad key", "key", key, "err", err)
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return c.deleteEndpoints(ctx, ns, name)
	}
	if err != nil {
		return err
	}
	if len(svc.Spec.Selector) == 0 || svc.DeletionTimestamp != nil {
		return nil // user-managed Endpoints, or the service is going away
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	subsets := Subsets(svc, pods)
	wantLabels := endpointsLabels(svc)

	cur, err := c.endpoints.Endpoints(ns).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if cur != nil && subsetsEqual(cur.Subsets, subsets) && labels.Equals(cur.Labels, wantLabels) {
		return nil
	}
	var next *corev1.Endpoints
	if cur == nil {
		next = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	} else {
		next = cur.DeepCopy()
	}
	next.Labels = wantLabels
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Annotations[AnnotationLastChangeTriggerTime] = c.clock.Now().UTC().Format(time.RFC3339Nano)
	next.Subsets = subsets
	if cur == nil {
		_, err = c.client.CoreV1().Endpoints(ns).Create(ctx, next, metav1.CreateOptions{})
		c.metrics.change("create", err)
	} else {
		_, err = c.client.CoreV1().Endpoints(ns).Update(ctx, next, metav1.UpdateOptions{})
		c.metrics.change("update", err)
	}
	if err == nil {
		c.log.Debug("endpoints written", "service", key, "subsets", len(subsets))
		return nil
	}
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil // the namespace controller deletes everything in it
	}
	if ctx.Err() == nil {
		if cur == nil {
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %s: %v", key, err)
		} else {
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %s: %v", key, err)
		}
	}
	return err
}

// deleteEndpoints removes the Endpoints of a service that is gone, if
// this controller manages them.
func (c *Controller) deleteEndpoints(ctx context.Context, ns, name string) error {
	ep, err := c.endpoints.Endpoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ep.Labels[LabelManagedBy] != ControllerName {
		return nil
	}
	uid := ep.UID
	err = c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	c.metrics.change("delete", err)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting endpoints %s/%s: %w", ns, name, err)
	}
	return nil
}

func endpointsLabels(svc *corev1.Service) map[string]string {
	out := make(map[string]string, len(svc.Labels)+2)
	for k, v := range svc.Labels {
		out[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out[LabelHeadless] = ""
	} else {
		delete(out, LabelHeadless)
	}
	out[LabelManagedBy] = ControllerName
	return out
}

// subsetsEqual compares two lists of subsets semantically, ignoring the
// targetRefs' resourceVersions and the order the API server may give.
func subsetsEqual(a, b []corev1.EndpointSubset) bool {
	strip := func(s []corev1.EndpointSubset) []corev1.EndpointSubset {
		s = RepackSubsets(s)
		for i := range s {
			for _, as := range [][]corev1.EndpointAddress{s[i].Addresses, s[i].NotReadyAddresses} {
				for j := range as {
					if as[j].TargetRef != nil {
						ref := *as[j].TargetRef
						ref.ResourceVersion = ""
						as[j].TargetRef = &ref
					}
				}
			}
		}
		return s
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}
