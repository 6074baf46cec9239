// Package scheduler is cairn's scheduler: it watches pods that have no
// node, filters the nodes that can run each one, ranks the rest and binds
// the pod to the best through the API server, as the seed's scheduler
// does. The decisions are made by the pure plugins of package framework
// on a snapshot of the cluster; this package holds the parts with state
// and side effects: the queue, the cache of nodes and assumed pods, the
// informers, the binder, events, leader election and metrics.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-dev/cairn/reconciler/controller"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/cairn-dev/cairn/reconciler/scheduler/framework"
)

// DefaultSchedulerName is the profile pods get when they name none.
const DefaultSchedulerName = corev1.DefaultSchedulerName

// Config configures a Scheduler. Zero values take the defaults noted.
type Config struct {
	Client kubernetes.Interface
	// Profiles by schedulerName; default one profile, default-scheduler,
	// with Kubernetes' default plugins and weights.
	Profiles []*framework.Profile
	// LeaderElect makes the scheduler campaign for the Lease
	// kube-system/kube-scheduler and schedule only while it holds it.
	LeaderElect bool
	// Identity in the lease; default hostname_uuid.
	Identity                                     string
	LeaseDuration, RenewDeadline, RetryPeriod    time.Duration // 15s, 10s, 2s
	InitialBackoff, MaxBackoff, MaxUnschedulable time.Duration
	// Registerer for metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	Clock      clock.WithTicker
	Logger     *slog.Logger
	// ResyncPeriod of the informers; 0 = none.
	ResyncPeriod time.Duration
}

// Scheduler is a running scheduler.
type Scheduler struct {
	cfg      Config
	log      *slog.Logger
	client   kubernetes.Interface
	clock    clock.WithTicker
	profiles map[string]*framework.Profile
	queue    *Queue
	cache    *Cache
	snap     *Snapshot
	factory  informers.SharedInformerFactory
	// objectsGen counts changes of the objects other than nodes and pods
	// that plugins read: claims, volumes, storage classes, namespaces.
	objectsGen atomic.Int64
	// bound counts accepted bindings; lastBind is when the last one
	// was accepted (unix nanoseconds).
	bound, lastBind atomic.Int64
	recorder        record.EventRecorder
	events          record.EventBroadcaster
	metrics         *metrics

	binding sync.WaitGroup
	synced  chan struct{}
}

// New builds a scheduler; Run starts it.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Client == nil {
		return nil, errors.New("scheduler: no API client")
	}
	if len(cfg.Profiles) == 0 {
		cfg.Profiles = []*framework.Profile{framework.DefaultProfile(DefaultSchedulerName)}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Identity == "" {
		host, _ := os.Hostname()
		cfg.Identity = host + "_" + uuid.NewString()
	}
	s := &Scheduler{
		cfg: cfg, log: cfg.Logger.With("component", "scheduler"), client: cfg.Client, clock: cfg.Clock,
		profiles: map[string]*framework.Profile{},
		queue:    NewQueue(cfg.Clock, cfg.InitialBackoff, cfg.MaxBackoff, cfg.MaxUnschedulable),
		cache:    NewCache(),
		snap:     NewSnapshot(),
		factory:  informers.NewSharedInformerFactory(cfg.Client, cfg.ResyncPeriod),
		synced:   make(chan struct{}),
	}
	for _, p := range cfg.Profiles {
		if _, dup := s.profiles[p.SchedulerName]; dup {
			return nil, fmt.Errorf("scheduler: two profiles named %q", p.SchedulerName)
		}
		s.profiles[p.SchedulerName] = p
	}
	s.metrics = newMetrics(cfg.Registerer, s.queue)
	s.events = record.NewBroadcaster()
	s.recorder = s.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: DefaultSchedulerName})
	s.addHandlers()
	return s, nil
}

// Synced is closed once the informers have synced and scheduling may
// start.
func (s *Scheduler) Synced() <-chan struct{} { return s.synced }

// Pending reports the sizes of the scheduling queues.
func (s *Scheduler) Pending() (active, backoff, unschedulable int) { return s.queue.Lens() }

// Bound reports how many bindings the API server has accepted from this
// scheduler, and when it accepted the last.
func (s *Scheduler) Bound() (int64, time.Time) {
	return s.bound.Load(), time.Unix(0, s.lastBind.Load())
}

// Cache is the scheduler's cache, for tests.
func (s *Scheduler) Cache() *Cache { return s.cache }

// Run starts the informers and schedules until ctx ends: at once, or,
// with LeaderElect, whenever this instance holds the lease.
func (s *Scheduler) Run(ctx context.Context) error {
	s.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
	defer s.events.Shutdown()
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	for typ, ok := range s.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("scheduler: informer for %v did not sync", typ)
		}
	}
	close(s.synced)
	go s.queue.Run(ctx)
	if !s.cfg.LeaderElect {
		s.loop(ctx)
		s.binding.Wait()
		return nil
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-scheduler"},
		Client:     s.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: s.cfg.Identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   orDefault(s.cfg.LeaseDuration, 15*time.Second),
			RenewDeadline:   orDefault(s.cfg.RenewDeadline, 10*time.Second),
			RetryPeriod:     orDefault(s.cfg.RetryPeriod, 2*time.Second),
			ReleaseOnCancel: true,
			Name:            "kube-scheduler",
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					s.log.Info("leading: scheduling", "identity", s.cfg.Identity)
					s.loop(ctx)
				},
				OnStoppedLeading: func() { s.log.Info("lost the lease: scheduling stopped", "identity", s.cfg.Identity) },
			},
		})
		if err != nil {
			return fmt.Errorf("scheduler: %w", err)
		}
		le.Run(ctx)
		s.binding.Wait()
	}
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (s *Scheduler) loop(ctx context.Context) {
	for ctx.Err() == nil {
		s.scheduleOne(ctx)
	}
}

// scheduleOne runs one scheduling cycle for the next pod: filter and
// score on a fresh snapshot, assume the pod onto the chosen node, and
// hand the binding to a goroutine.
func (s *Scheduler) scheduleOne(ctx context.Context) {
	qp := s.queue.Pop(ctx)
	if qp == nil {
		return
	}
	pod := qp.Pod
	prof := s.profiles[pod.Spec.SchedulerName]
	if prof == nil || pod.DeletionTimestamp != nil || pod.Spec.NodeName != "" || s.cache.IsAssumed(pod.UID) {
		s.queue.Done(pod.UID)
		return
	}
	start := s.clock.Now()
	s.cache.UpdateSnapshot(s.snap, s.objectsGen.Load(), s.snapshotObjects)
	res, err := prof.Schedule(ctx, pod, s.snap.Framework())
	if err != nil {
		var fit *framework.FitError
		if errors.As(err, &fit) {
			s.metrics.attempt(prof.SchedulerName, resultUnschedulable, s.clock.Since(start))
			s.queue.Unschedulable(qp, fit.Diagnosis.UnschedulablePlugins, false)
			s.failed(ctx, pod, corev1.PodReasonUnschedulable, fit.Error())
			return
		}
		s.metrics.attempt(prof.SchedulerName, resultError, s.clock.Since(start))
		s.queue.Unschedulable(qp, nil, true)
		s.failed(ctx, pod, corev1.PodReasonSchedulerError, err.Error())
		return
	}
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = res.SuggestedHost
	if err := s.cache.AssumePod(assumed); err != nil {
		s.metrics.attempt(prof.SchedulerName, resultError, s.clock.Since(start))
		s.queue.Unschedulable(qp, nil, true)
		s.failed(ctx, pod, corev1.PodReasonSchedulerError, err.Error())
		return
	}
	s.metrics.attempt(prof.SchedulerName, resultScheduled, s.clock.Since(start))
	s.binding.Add(1)
	go func() {
		defer s.binding.Done()
		s.bind(ctx, qp, assumed)
	}()
}

// bind posts the binding; on failure the pod is un-assumed and retried
// after its backoff.
func (s *Scheduler) bind(ctx context.Context, qp *QueuedPod, assumed *corev1.Pod) {
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: assumed.Namespace, Name: assumed.Name, UID: assumed.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: assumed.Spec.NodeName},
	}
	err := s.client.CoreV1().Pods(assumed.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	if err != nil {
		s.cache.ForgetPod(assumed)
		s.queue.Unschedulable(qp, nil, true)
		if ctx.Err() == nil {
			s.log.Info("binding rejected", "pod", klogRef(assumed), "node", assumed.Spec.NodeName, "err", err)
			s.failed(ctx, qp.Pod, corev1.PodReasonSchedulerError, "Binding rejected: "+err.Error())
		}
		return
	}
	s.cache.FinishBinding(assumed)
	s.queue.Done(assumed.UID)
	s.lastBind.Store(s.clock.Now().UnixNano())
	s.bound.Add(1)
	s.metrics.scheduled(qp.Attempts, s.clock.Since(qp.InitialAttempt))
	s.recorder.Eventf(assumed, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", assumed.Namespace, assumed.Name, assumed.Spec.NodeName)
}

// failed reports a pod that could not be scheduled: a FailedScheduling
// event and the PodScheduled=False condition, written only when it
// changed.
func (s *Scheduler) failed(ctx context.Context, pod *corev1.Pod, reason, msg string) {
	s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == reason && c.Message == msg {
			return
		}
	}
	s.binding.Add(1)
	go func() {
		defer s.binding.Done()
		cond := corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: reason, Message: msg,
			LastTransitionTime: metav1.NewTime(s.clock.Now()),
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{cond}}})
		_, err := s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		if err != nil && ctx.Err() == nil {
			s.log.Debug("could not set PodScheduled=False", "pod", klogRef(pod), "err", err)
		}
	}()
}

// snapshotObjects lists what the volume and affinity plugins look up, for
// a snapshot being rebuilt.
func (s *Scheduler) snapshotObjects() []framework.SnapshotOption {
	pvcs, _ := s.factory.Core().V1().PersistentVolumeClaims().Lister().List(labels.Everything())
	pvs, _ := s.factory.Core().V1().PersistentVolumes().Lister().List(labels.Everything())
	classes, _ := s.factory.Storage().V1().StorageClasses().Lister().List(labels.Everything())
	namespaces, _ := s.factory.Core().V1().Namespaces().Lister().List(labels.Everything())
	return []framework.SnapshotOption{framework.WithVolumes(pvcs, pvs, classes), framework.WithNamespaces(namespaces)}
}

func klogRef(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

// podOf and nodeOf unwrap informer tombstones.
func podOf(obj any) *corev1.Pod {
	o, _ := controller.Object[*corev1.Pod](obj)
	return o
}

func nodeOf(obj any) *corev1.Node {
	o, _ := controller.Object[*corev1.Node](obj)
	return o
}
