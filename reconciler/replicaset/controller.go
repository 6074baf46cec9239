// Package replicaset is cairn's ReplicaSet controller, Kubernetes'
// pkg/controller/replicaset re-implemented in the sample-controller
// pattern: informer events enqueue ReplicaSet keys into a rate-limited
// workqueue; workers run a level-triggered sync per key that adopts and
// releases pods, creates or deletes pods toward spec.replicas and writes
// the status. Expectations keep a sync from acting on a cache that does
// not yet show the previous sync's creates and deletes.
package replicaset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// Name is the controller's name in the controller manager, its
// workqueue's name and the metrics' controller label.
const Name = "replicaset"

// DefaultBurstReplicas is how many pods one sync creates or deletes at
// most, Kubernetes' BurstReplicas.
const DefaultBurstReplicas = 500

// Event reasons, as Kubernetes'.
const (
	SuccessfulCreate = "SuccessfulCreate"
	FailedCreate     = "FailedCreate"
	SuccessfulDelete = "SuccessfulDelete"
	FailedDelete     = "FailedDelete"
)

var rsKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Options configures a Controller. Zero values take the defaults noted.
type Options struct {
	// Clock for expectations and availability; default the real clock.
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
	// BurstReplicas: most creates or deletes per sync; default 500.
	BurstReplicas int
	// PodEventDelay gathers the pod events of a ReplicaSet into one sync:
	// a sync looks at all of its pods, so one per event would cost
	// O(pods²) while thousands of pods start. Events that complete the
	// expected creates or deletes sync at once. Default 25ms; negative:
	// no delay.
	PodEventDelay time.Duration
}

// DefaultPodEventDelay is Options.PodEventDelay's default.
const DefaultPodEventDelay = 25 * time.Millisecond

// Controller is the ReplicaSet controller.
type Controller struct {
	client   kubernetes.Interface
	log      *slog.Logger
	clock    clock.Clock
	burst    int
	delay    time.Duration
	lastSync sync.Map // key → time.Duration of its last sync
	owners   owners
	podIndex cache.Indexer
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	exp      *expectations
	events   record.EventBroadcaster
	recorder record.EventRecorder
	syncDur  prometheus.Observer
}

// New builds the controller and registers its event handlers on the
// factory's ReplicaSet and Pod informers; the caller starts the factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Controller {
	return newController(client, factory, newReplicaSets(client, factory), Name, "replicaset-controller", opts)
}

// newController builds the controller for one kind of owner; name names
// its queue, logs and metrics, component its events' source.
func newController(client kubernetes.Interface, factory informers.SharedInformerFactory, own owners, name, component string, opts Options) *Controller {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BurstReplicas <= 0 {
		opts.BurstReplicas = DefaultBurstReplicas
	}
	if opts.PodEventDelay == 0 {
		opts.PodEventDelay = DefaultPodEventDelay
	}
	podInf := factory.Core().V1().Pods()
	c := &Controller{
		client:   client,
		log:      opts.Logger.With("controller", name),
		clock:    opts.Clock,
		burst:    opts.BurstReplicas,
		delay:    opts.PodEventDelay,
		owners:   own,
		podIndex: podInf.Informer().GetIndexer(),
		synced:   []cache.InformerSynced{own.informer().HasSynced, podInf.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name, MetricsProvider: opts.MetricsProvider}),
		exp:     newExpectations(opts.Clock),
		events:  record.NewBroadcaster(),
		syncDur: controller.SyncDuration(opts.Registerer, name),
	}
	c.recorder = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	_, _ = own.informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateOwner,
		DeleteFunc: c.deleteRS,
	})
	// Informers are not started yet: adding an index cannot fail but by
	// a conflicting index of the same name, which is a bug.
	if err := controller.AddPodControllerIndex(podInf.Informer()); err != nil {
		panic(err)
	}
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
	return controller.Workers(ctx, c.log, c.queue, c.synced, workers, c.timedSync,
		func(_ error, d time.Duration) { c.syncDur.Observe(d.Seconds()) })
}

// timedSync remembers how long each key's sync took (for podEvent).
func (c *Controller) timedSync(ctx context.Context, key string) error {
	start := time.Now()
	err := c.sync(ctx, key)
	c.lastSync.Store(key, time.Since(start))
	return err
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.Add(key)
}

// updateOwner queues a changed ReplicaSet: at once when its spec changed
// (a new generation), after the pod event delay when only its status did
// — most often this controller's own write, which would otherwise start
// the next sync of all its pods at once, again and again.
func (c *Controller) updateOwner(old, cur any) {
	key, err := cache.MetaNamespaceKeyFunc(cur)
	if err != nil {
		return
	}
	om, err1 := meta.Accessor(old)
	cm, err2 := meta.Accessor(cur)
	if c.delay > 0 && err1 == nil && err2 == nil && om.GetGeneration() == cm.GetGeneration() &&
		om.GetDeletionTimestamp().Equal(cm.GetDeletionTimestamp()) && labels.Equals(om.GetLabels(), cm.GetLabels()) {
		c.queue.AddAfter(key, c.delay)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) deleteRS(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.exp.forget(key)
	c.lastSync.Delete(key)
	c.queue.Add(key)
}

// resolve finds the ReplicaSet a controller reference names, if it is
// still the same object (same UID).
func (c *Controller) resolve(ns string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	kind := c.owners.kind()
	if ref == nil || ref.Kind != kind.Kind || ref.APIVersion != kind.GroupVersion().String() {
		return nil
	}
	rs, err := c.owners.get(ns, ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// matching lists the ReplicaSets whose selector matches an orphan pod.
func (c *Controller) matching(p *corev1.Pod) []*appsv1.ReplicaSet {
	all, err := c.owners.list(p.Namespace)
	if err != nil || len(p.Labels) == 0 {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		out = append(out, rs)
	}
	return out
}

func rsKey(rs *appsv1.ReplicaSet) string { return rs.Namespace + "/" + rs.Name }

// podEvent queues a ReplicaSet after one of its pods changed: at once
// when the change completes what the last sync expected (the next burst
// of creates may go), otherwise after the delay, gathering events.
//
// The delay grows with the cost of the ReplicaSet's syncs (ten times the
// last one's duration), so that a ReplicaSet of thousands of pods, whose
// every sync looks at all of them, spends at most a tenth of a worker's
// time on syncs while its pods keep changing.
func (c *Controller) podEvent(key string) {
	if c.delay <= 0 || c.exp.pending(key) && c.exp.satisfied(key) {
		c.queue.Add(key)
		return
	}
	delay := c.delay
	if d, ok := c.lastSync.Load(key); ok {
		delay = max(delay, 10*d.(time.Duration))
	}
	c.queue.AddAfter(key, delay)
}

func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

func (c *Controller) addPod(obj any) {
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp != nil {
		// A restarted controller sees pods already being deleted.
		c.deletePod(p)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		if rs := c.resolve(p.Namespace, ref); rs != nil {
			c.exp.creationObserved(rsKey(rs))
			c.podEvent(rsKey(rs))
		}
		return
	}
	for _, rs := range c.matching(p) {
		c.queue.Add(rsKey(rs))
	}
}

func (c *Controller) updatePod(old, cur any) {
	op, cp := old.(*corev1.Pod), cur.(*corev1.Pod)
	if op.ResourceVersion == cp.ResourceVersion {
		return
	}
	labelsChanged := !labels.Equals(op.Labels, cp.Labels)
	if cp.DeletionTimestamp != nil {
		c.deletePod(cp)
		if labelsChanged {
			c.deletePod(op)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(cp), metav1.GetControllerOfNoCopy(op)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if rs := c.resolve(op.Namespace, oldRef); rs != nil {
			c.queue.Add(rsKey(rs))
		}
	}
	if curRef != nil {
		rs := c.resolve(cp.Namespace, curRef)
		if rs == nil {
			return
		}
		c.podEvent(rsKey(rs))
		// A pod that just became ready becomes available minReadySeconds
		// later: look again then.
		if !isReady(op) && isReady(cp) && rs.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(rsKey(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || oldRef != nil {
		for _, rs := range c.matching(cp) {
			c.queue.Add(rsKey(rs))
		}
	}
}

func (c *Controller) deletePod(obj any) {
	p, ok := controller.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	rs := c.resolve(p.Namespace, metav1.GetControllerOfNoCopy(p))
	if rs == nil {
		return
	}
	c.exp.deletionObserved(rsKey(rs), podKey(p))
	c.podEvent(rsKey(rs))
}

// sync brings one ReplicaSet toward its spec: claim pods, create or
// delete the difference when the expectations allow, write the status.
// It is level-triggered and safe to re-run.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, err := c.owners.get(ns, name)
	if apierrors.IsNotFound(err) {
		c.exp.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	needsSync := c.exp.satisfied(key)
	if needsSync {
		c.exp.markSynced(key)
	}
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		c.log.Info("invalid selector", "replicaset", key, "err", err)
		return nil
	}
	all, err := controller.PodsControlledOrOrphaned(c.podIndex, ns, rs.UID)
	if err != nil {
		return err
	}
	var active []*corev1.Pod
	for _, p := range all {
		if isActive(p) {
			active = append(active, p)
		}
	}
	pods, err := c.claim(ctx, rs, sel, active)
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manage(ctx, key, rs, pods)
	}
	rs = rs.DeepCopy()
	next := c.status(rs, pods, manageErr)
	updated, err := c.writeStatus(ctx, rs, next)
	if err != nil {
		return err
	}
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == *updated.Spec.Replicas &&
		updated.Status.AvailableReplicas != *updated.Spec.Replicas {
		c.queue.AddAfter(key, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

// claim is Kubernetes' PodControllerRefManager.ClaimPods: keep the pods
// this ReplicaSet controls and that still match, release those that no
// longer match, adopt matching orphans; pods controlled by others are
// left alone.
func (c *Controller) claim(ctx context.Context, rs *appsv1.ReplicaSet, sel labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	var errs []error
	canAdopt := rs.DeletionTimestamp == nil
	checked := false
	for _, p := range pods {
		match := sel.Matches(labels.Set(p.Labels))
		ref := metav1.GetControllerOfNoCopy(p)
		switch {
		case ref != nil && ref.UID == rs.UID:
			if match {
				out = append(out, p)
				continue
			}
			if rs.DeletionTimestamp != nil {
				continue
			}
			if err := c.release(ctx, rs, p); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		case ref != nil:
			// Controlled by someone else.
		case !match || p.DeletionTimestamp != nil || !canAdopt:
		default:
			if !checked {
				// Adopt only if the ReplicaSet is still there and not
				// being deleted, read past the cache (kube's canAdopt).
				checked = true
				fresh, err := c.owners.getLive(ctx, rs.Namespace, rs.Name)
				if err != nil || fresh.UID != rs.UID || fresh.DeletionTimestamp != nil {
					canAdopt = false
					if err != nil {
						errs = append(errs, err)
					}
					continue
				}
			}
			if err := c.adopt(ctx, rs, p); err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
				continue
			}
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

func (c *Controller) controllerRef(rs *appsv1.ReplicaSet) metav1.OwnerReference {
	return *metav1.NewControllerRef(rs, c.owners.kind())
}

// ref is what events name: the owner as its own kind (a converted
// ReplicationController is not a ReplicaSet).
func (c *Controller) ref(rs *appsv1.ReplicaSet) *corev1.ObjectReference {
	kind := c.owners.kind()
	return &corev1.ObjectReference{Kind: kind.Kind, APIVersion: kind.GroupVersion().String(),
		Namespace: rs.Namespace, Name: rs.Name, UID: rs.UID, ResourceVersion: rs.ResourceVersion}
}

// patchOwners replaces a pod's ownerReferences, conditional on the
// resourceVersion the decision was made on.
func (c *Controller) patchOwners(ctx context.Context, p *corev1.Pod, refs []metav1.OwnerReference) error {
	if refs == nil {
		refs = []metav1.OwnerReference{}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": refs, "uid": p.UID, "resourceVersion": p.ResourceVersion,
	}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

func (c *Controller) adopt(ctx context.Context, rs *appsv1.ReplicaSet, p *corev1.Pod) error {
	refs := append(append([]metav1.OwnerReference(nil), p.OwnerReferences...), c.controllerRef(rs))
	if err := c.patchOwners(ctx, p, refs); err != nil {
		return fmt.Errorf("adopting pod %s: %w", podKey(p), err)
	}
	c.log.Debug("adopted pod", "replicaset", rsKey(rs), "pod", p.Name)
	return nil
}

func (c *Controller) release(ctx context.Context, rs *appsv1.ReplicaSet, p *corev1.Pod) error {
	var refs []metav1.OwnerReference
	for _, r := range p.OwnerReferences {
		if r.UID != rs.UID {
			refs = append(refs, r)
		}
	}
	if err := c.patchOwners(ctx, p, refs); err != nil {
		return fmt.Errorf("releasing pod %s: %w", podKey(p), err)
	}
	c.log.Debug("released pod", "replicaset", rsKey(rs), "pod", p.Name)
	return nil
}

// manage creates or deletes pods toward spec.replicas, at most burst per
// sync, setting expectations first.
func (c *Controller) manage(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	want := int(1)
	if rs.Spec.Replicas != nil {
		want = int(*rs.Spec.Replicas)
	}
	diff := len(pods) - want
	switch {
	case diff < 0:
		n := min(-diff, c.burst)
		c.exp.expectCreations(key, n)
		created, err := slowStartBatch(n, 1, func() error { return c.createPod(ctx, key, rs) })
		// Creations not issued will never be observed.
		for range n - created {
			c.exp.creationObserved(key)
		}
		return err
	case diff > 0:
		n := min(diff, c.burst)
		doomed := podsToDelete(pods, n)
		keys := make([]string, len(doomed))
		for i, p := range doomed {
			keys[i] = podKey(p)
		}
		c.exp.expectDeletions(key, keys)
		errCh := make(chan error, len(doomed))
		var wg sync.WaitGroup
		for _, p := range doomed {
			wg.Go(func() {
				if err := c.deletePodFor(ctx, rs, p); err != nil {
					c.exp.deletionObserved(key, podKey(p))
					if !apierrors.IsNotFound(err) {
						errCh <- err
					}
				}
			})
		}
		wg.Wait()
		close(errCh)
		var errs []error
		for err := range errCh {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	return nil
}

// slowStartBatch calls fn count times in batches of 1, 2, 4, ... (from
// initial), the calls of a batch in parallel, stopping after the first
// batch with an error; it returns how many calls succeeded, as
// Kubernetes' slowStartBatch.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining := count
	ok := 0
	for size := min(remaining, initial); size > 0; size = min(2*size, remaining) {
		errCh := make(chan error, size)
		var wg sync.WaitGroup
		for range size {
			wg.Go(func() {
				if err := fn(); err != nil {
					errCh <- err
				}
			})
		}
		wg.Wait()
		close(errCh)
		ok += size - len(errCh)
		if len(errCh) > 0 {
			return ok, <-errCh
		}
		remaining -= size
	}
	return ok, nil
}

// podFromTemplate is Kubernetes' GetPodFromTemplate.
func podFromTemplate(rs *appsv1.ReplicaSet, owner metav1.OwnerReference) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       rs.Namespace,
			GenerateName:    rs.Name + "-",
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		Spec: t.Spec,
	}
}

func (c *Controller) createPod(ctx context.Context, key string, rs *appsv1.ReplicaSet) error {
	p, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, podFromTemplate(rs, c.controllerRef(rs)), metav1.CreateOptions{})
	if err != nil {
		// A timed-out create may still happen; the informer will tell,
		// and the expectations expire otherwise (as Kubernetes).
		if apierrors.IsTimeout(err) {
			return nil
		}
		c.recorder.Eventf(c.ref(rs), corev1.EventTypeWarning, FailedCreate, "Error creating: %v", err)
		return err
	}
	c.log.Debug("created pod", "replicaset", key, "pod", p.Name)
	c.recorder.Eventf(c.ref(rs), corev1.EventTypeNormal, SuccessfulCreate, "Created pod: %v", p.Name)
	return nil
}

func (c *Controller) deletePodFor(ctx context.Context, rs *appsv1.ReplicaSet, p *corev1.Pod) error {
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			c.recorder.Eventf(c.ref(rs), corev1.EventTypeWarning, FailedDelete, "Error deleting: %v", err)
		}
		return err
	}
	c.recorder.Eventf(c.ref(rs), corev1.EventTypeNormal, SuccessfulDelete, "Deleted pod: %v", p.Name)
	return nil
}
