// Package kubelet runs the pods bound to one node on a container runtime,
// as the seed's kubelet: it watches its node's pods through the API server,
// gives each a network namespace wired by the pod network, prepares its
// volumes, runs its init containers to completion and then its containers,
// restarts them as restartPolicy says with CrashLoopBackOff, probes them,
// reports their status, and on deletion stops them within the grace period
// and removes the pod for good.
//
// The decisions are pure (planPod, podStatus: a pod and what the runtime
// runs for it in, actions and status out); Kubelet is the edge that lists
// containers, performs the actions and writes the status. A restarted agent
// lists the runtime's containers, whose labels name their pods, and adopts
// them: nothing running is restarted or started twice.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/cairn-dev/cairn/node/runtime"
)

// Network gives pods their network. SetUp is idempotent: for a pod already
// set up it returns the same namespace and IP.
type Network interface {
	SetUp(ctx context.Context, pod *corev1.Pod) (netnsPath, ip string, err error)
	// TearDown releases the pod's network; a pod never set up, or already
	// torn down, is not an error.
	TearDown(ctx context.Context, pod *corev1.Pod) error
}

// Config configures a Kubelet.
type Config struct {
	Client   kubernetes.Interface
	NodeName string
	// NodeIP is the node's InternalIP: status.hostIP of its pods and the
	// pod IP of hostNetwork pods.
	NodeIP  string
	Runtime runtime.Runtime
	Network Network
	// DataDir holds pods' volumes and logs (see podDirs).
	DataDir string
	Logger  *slog.Logger
	// Workers sync that many pods at once; default 10.
	Workers int
	// RelistPeriod is how often the runtime's containers are listed to
	// notice changes its events missed; default 1s.
	RelistPeriod time.Duration
	// ResyncPeriod is how often a running pod is synced with nothing
	// happening, which refreshes its ConfigMap and Secret volumes; default
	// 30s.
	ResyncPeriod time.Duration
	// EventClient records Events; default Client. A client of its own
	// keeps Events from using up Client's rate limit, as the kubelet's
	// separate event QPS does.
	EventClient kubernetes.Interface
	// Allocatable is the node's allocatable resources, for
	// resourceFieldRef limits a container leaves unset; may be nil.
	Allocatable func() corev1.ResourceList
}

// Kubelet runs the pods bound to one node.
type Kubelet struct {
	cfg     Config
	log     *slog.Logger
	dirs    podDirs
	rt      runtime.Runtime
	queue   workqueue.TypedRateLimitingInterface[string]
	pods    cache.SharedIndexInformer
	svcs    listerscorev1.ServiceLister
	synced  []cache.InformerSynced
	prober  *prober
	events  record.EventBroadcaster
	record  record.EventRecorder
	objects apiObjects
	// factories start the informers in Run.
	factories []interface{ Start(<-chan struct{}) }

	mu sync.Mutex
	// byPod: the containers of each pod UID, as last listed or created.
	byPod map[string][]runtime.Container
	// known: the last version of each pod seen, kept after its deletion
	// from the API until its containers are cleaned up.
	known     map[string]*corev1.Pod
	sandboxes map[string]sandbox
	backoffs  map[string]backoffEntry
	starts    map[string]map[string]startError // pod UID → container → error
	pulls     map[string]backoffEntry          // image pull back-off, by pod/container
	written   map[string]writtenStatus         // the status last written, by UID
	relisted  bool

	// admitMu serialises admission decisions; admittedPods holds the
	// pods admitted to this node.
	admitMu      sync.Mutex
	admittedPods map[string]bool
}

type sandbox struct {
	netns, ip string
}

// New builds a Kubelet; Run starts it.
func New(cfg Config) (*Kubelet, error) {
	if cfg.Client == nil || cfg.Runtime == nil || cfg.NodeName == "" || cfg.DataDir == "" {
		return nil, errors.New("kubelet: Client, Runtime, NodeName and DataDir are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 10
	}
	if cfg.RelistPeriod <= 0 {
		cfg.RelistPeriod = time.Second
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	k := &Kubelet{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "kubelet", "node", cfg.NodeName),
		dirs: podDirs{root: cfg.DataDir},
		rt:   cfg.Runtime,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "kubelet"}),
		objects:   apiObjects{client: cfg.Client},
		byPod:     map[string][]runtime.Container{},
		known:     map[string]*corev1.Pod{},
		sandboxes: map[string]sandbox{},
		backoffs:  map[string]backoffEntry{},
		starts:    map[string]map[string]startError{},
		pulls:     map[string]backoffEntry{},
		written:   map[string]writtenStatus{},

		admittedPods: map[string]bool{},
	}
	k.prober = newProber(cfg.Runtime.Exec, func(uid string) { k.queue.Add(uid) }, k.probeFailed)
	k.events = record.NewBroadcaster()
	k.record = k.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})

	podFactory := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
		}))
	k.pods = podFactory.Core().V1().Pods().Informer()
	_, _ = k.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.observe(obj) },
		UpdateFunc: func(_, obj any) { k.observe(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				k.queue.Add(string(p.UID))
			}
		},
	})
	svcFactory := informers.NewSharedInformerFactory(cfg.Client, 0)
	svcInformer := svcFactory.Core().V1().Services()
	k.svcs = svcInformer.Lister()
	k.synced = []cache.InformerSynced{k.pods.HasSynced, svcInformer.Informer().HasSynced}
	k.factories = []interface{ Start(<-chan struct{}) }{podFactory, svcFactory}
	return k, nil
}

func (k *Kubelet) observe(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	k.mu.Lock()
	k.known[string(p.UID)] = p
	k.mu.Unlock()
	k.queue.Add(string(p.UID))
}

// Run runs the kubelet until ctx ends. Containers keep running when it
// returns: a restarted kubelet adopts them.
func (k *Kubelet) Run(ctx context.Context) error {
	defer k.queue.ShutDown()
	sink := k.cfg.EventClient
	if sink == nil {
		sink = k.cfg.Client
	}
	k.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: sink.CoreV1().Events("")})
	defer k.events.Shutdown()
	for _, f := range k.factories {
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), k.synced...) {
		return ctx.Err()
	}
	if err := k.relist(ctx); err != nil {
		k.log.Warn("listing containers", "err", err)
	}
	events, err := k.rt.Events(ctx)
	if err != nil {
		k.log.Warn("runtime events unavailable; relying on relisting", "err", err)
	}
	var wg sync.WaitGroup
	for range k.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k.work(ctx) {
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		k.watchRuntime(ctx, events)
	}()
	k.log.Info("kubelet running", "workers", k.cfg.Workers)
	<-ctx.Done()
	k.queue.ShutDown()
	wg.Wait()
	return nil
}

// watchRuntime relists the runtime every RelistPeriod and on every runtime
// event, and queues the pods whose containers changed.
func (k *Kubelet) watchRuntime(ctx context.Context, events <-chan string) {
	t := time.NewTicker(k.cfg.RelistPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case id, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if uid := k.podOfContainer(id); uid != "" {
				k.queue.Add(uid)
				continue
			}
		case <-t.C:
		}
		if err := k.relist(ctx); err != nil && ctx.Err() == nil {
			k.log.Warn("listing containers", "err", err)
		}
	}
}

func (k *Kubelet) podOfContainer(id string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	for uid, cs := range k.byPod {
		for _, c := range cs {
			if c.ID == id {
				return uid
			}
		}
	}
	return ""
}

// relist lists every container and queues the pods whose containers
// changed since the last list, and pods with containers but no pod object
// (deleted while the agent was down).
func (k *Kubelet) relist(ctx context.Context) error {
	all, err := k.rt.ListContainers(ctx)
	if err != nil {
		return err
	}
	now := map[string][]runtime.Container{}
	for _, c := range all {
		now[c.Pod.UID] = append(now[c.Pod.UID], c)
	}
	k.mu.Lock()
	var changed []string
	for uid, cs := range now {
		if !sameContainers(k.byPod[uid], cs) {
			changed = append(changed, uid)
		}
		if _, ok := k.known[uid]; !ok && !k.relisted {
			changed = append(changed, uid) // an orphan found at start
		}
	}
	for uid := range k.byPod {
		if _, ok := now[uid]; !ok {
			changed = append(changed, uid)
		}
	}
	k.byPod = now
	k.relisted = true
	k.mu.Unlock()
	for _, uid := range changed {
		k.queue.Add(uid)
	}
	return nil
}

func sameContainers(a, b []runtime.Container) bool {
	if len(a) != len(b) {
		return false
	}
	state := map[string]runtime.State{}
	for _, c := range a {
		state[c.ID] = c.State
	}
	for _, c := range b {
		if s, ok := state[c.ID]; !ok || s != c.State {
			return false
		}
	}
	return true
}

func (k *Kubelet) work(ctx context.Context) bool {
	uid, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(uid)
	requeue, err := k.sync(ctx, uid)
	switch {
	case err != nil && ctx.Err() == nil:
		k.log.Warn("syncing pod", "uid", uid, "err", err)
		k.queue.AddRateLimited(uid)
	case requeue > 0:
		k.queue.Forget(uid)
		k.queue.AddAfter(uid, requeue)
	default:
		k.queue.Forget(uid)
	}
	return true
}

// sync brings one pod's containers to what its spec and phase ask, and
// returns when to sync it again with nothing happening.
func (k *Kubelet) sync(ctx context.Context, uid string) (time.Duration, error) {
	pod := k.current(uid)
	switch {
	case pod == nil || pod.Spec.NodeName != k.cfg.NodeName:
		return 0, k.cleanUp(ctx, uid, pod)
	case pod.DeletionTimestamp != nil:
		return 0, k.terminate(ctx, pod)
	case terminal(pod.Status.Phase):
		return 0, k.finish(ctx, pod)
	}
	k.mu.Lock()
	hasContainers := len(k.byPod[uid]) > 0
	k.mu.Unlock()
	if ok, err := k.admitted(ctx, pod, hasContainers); !ok || err != nil {
		return 0, err
	}
	return k.syncLive(ctx, pod)
}

// current is the pod's live version from the informer, or nil once it is
// gone from the API.
func (k *Kubelet) current(uid string) *corev1.Pod {
	k.mu.Lock()
	last := k.known[uid]
	k.mu.Unlock()
	if last == nil {
		return nil
	}
	obj, ok, err := k.pods.GetStore().GetByKey(last.Namespace + "/" + last.Name)
	if err != nil || !ok {
		return nil
	}
	p := obj.(*corev1.Pod)
	if string(p.UID) != uid {
		return nil // a new pod of the same name
	}
	return p
}

// containersOf refreshes and returns the pod's containers: those last
// listed, each asked again for its state.
func (k *Kubelet) containersOf(ctx context.Context, uid string) ([]runtime.Container, error) {
	k.mu.Lock()
	ids := make([]string, 0, len(k.byPod[uid]))
	for _, c := range k.byPod[uid] {
		ids = append(ids, c.ID)
	}
	k.mu.Unlock()
	out := make([]runtime.Container, 0, len(ids))
	for _, id := range ids {
		c, err := k.rt.ContainerStatus(ctx, id)
		if errors.Is(err, runtime.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	k.mu.Lock()
	k.byPod[uid] = out
	k.mu.Unlock()
	return out, nil
}

func (k *Kubelet) addContainer(uid string, c runtime.Container) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.byPod[uid] = append(k.byPod[uid], c)
}

// state gathers what the pod's plan and status depend on.
func (k *Kubelet) state(pod *corev1.Pod, cs []runtime.Container) *podState {
	uid := string(pod.UID)
	k.mu.Lock()
	defer k.mu.Unlock()
	sb := k.sandboxes[uid]
	starts := map[string]startError{}
	for n, e := range k.starts[uid] {
		starts[n] = e
	}
	backoffs := map[string]backoffEntry{}
	for n, e := range k.backoffs {
		if strings.HasPrefix(n, uid+"/") {
			backoffs[n] = e
		}
	}
	s := &podState{
		now:         time.Now(),
		containers:  cs,
		probe:       k.prober.result,
		backoff:     func(key string) (backoffEntry, bool) { e, ok := backoffs[key]; return e, ok },
		startErrors: starts,
		podIP:       sb.ip,
		hostIP:      k.cfg.NodeIP,
	}
	if pod.Spec.HostNetwork {
		s.podIP = k.cfg.NodeIP
	}
	return s
}

// syncLive runs a pod that is neither deleted nor finished.
func (k *Kubelet) syncLive(ctx context.Context, pod *corev1.Pod) (time.Duration, error) {
	uid := string(pod.UID)
	t0 := time.Now()
	cs, err := k.containersOf(ctx, uid)
	if err != nil {
		return 0, err
	}
	var sandboxErr error
	if !pod.Spec.HostNetwork {
		sandboxErr = k.ensureSandbox(ctx, pod)
	}
	tSandbox := time.Since(t0)
	in := k.envInput(pod)
	volumes, volErr := setUpVolumes(ctx, pod, k.dirs, k.objects, in)
	tVolumes := time.Since(t0)
	if volErr != nil {
		k.record.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: %v", volErr)
	}
	s := k.state(pod, cs)
	s.sandboxErr = sandboxErr
	plan := planPod(pod, s)

	for _, a := range plan.kill {
		k.record.Eventf(pod, corev1.EventTypeNormal, "Killing", "%s", a.message)
		if err := k.killContainer(ctx, pod, containerNamed(pod, a.name), runtime.Container{ID: a.id, State: runtime.StateRunning}, gracePeriod(pod)); err != nil {
			return 0, fmt.Errorf("stopping container %s: %w", a.name, err)
		}
	}
	for _, a := range plan.start {
		if volErr != nil {
			k.startFailed(pod, a.container.Name, "ContainerCreating", "MountVolume.SetUp failed: "+volErr.Error(), 2*time.Second)
			continue
		}
		if err := k.start(ctx, pod, a, volumes, in, s.podIP); err != nil {
			if ctx.Err() != nil {
				return 0, err
			}
			k.log.Info("starting container", "pod", pod.Namespace+"/"+pod.Name, "container", a.container.Name, "err", err)
		}
	}
	if len(plan.kill) > 0 || len(plan.start) > 0 {
		if cs, err = k.containersOf(ctx, uid); err != nil {
			return 0, err
		}
		s = k.state(pod, cs)
		s.sandboxErr = sandboxErr
		plan = planPod(pod, s)
	}
	k.removeOldAttempts(ctx, pod, s)
	live := map[string]bool{}
	for _, c := range cs {
		if c.State != runtime.StateRunning {
			continue
		}
		live[c.ID] = true
		if spec := containerNamed(pod, c.Name); spec != nil {
			k.prober.ensure(ctx, pod, spec, c, s.podIP)
		}
	}
	k.prober.forgetPod(cs, live)
	tStarted := time.Since(t0)
	if err := k.writeStatus(ctx, pod, podStatus(pod, s, &plan)); err != nil {
		return 0, err
	}
	if len(plan.start) > 0 || len(plan.kill) > 0 || k.log.Enabled(ctx, slog.LevelDebug) {
		k.log.Debug("pod synced", "pod", pod.Namespace+"/"+pod.Name, "sandbox", tSandbox, "volumes", tVolumes,
			"containers", tStarted, "status", time.Since(t0), "sinceCreated", time.Since(pod.CreationTimestamp.Time))
	}
	requeue := k.cfg.ResyncPeriod
	if plan.requeue > 0 && plan.requeue < requeue {
		requeue = plan.requeue
	}
	if sandboxErr != nil || volErr != nil {
		requeue = min(requeue, 2*time.Second)
	}
	return requeue, nil
}

// removeOldAttempts removes exited attempts of a container older than the
// one before the current, with their logs, as the kubelet's container
// garbage collection keeps one dead container per container: a container
// crash-looping for a day leaves two, not hundreds.
func (k *Kubelet) removeOldAttempts(ctx context.Context, pod *corev1.Pod, s *podState) {
	for _, c := range allContainers(pod) {
		for _, old := range dropFirst(s.attempts(c.Name), 2) {
			if old.State != runtime.StateExited {
				continue
			}
			if err := k.rt.RemoveContainer(ctx, old.ID); err != nil {
				k.log.Warn("removing an old container attempt", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "attempt", old.Attempt, "err", err)
				continue
			}
			_ = os.Remove(k.dirs.log(string(pod.UID), c.Name, old.Attempt))
			k.forgetContainer(string(pod.UID), old.ID)
		}
	}
}

func dropFirst(cs []runtime.Container, n int) []runtime.Container {
	if len(cs) <= n {
		return nil
	}
	return cs[n:]
}

func (k *Kubelet) forgetContainer(uid, id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.byPod[uid] = slices.DeleteFunc(k.byPod[uid], func(c runtime.Container) bool { return c.ID == id })
}

func (k *Kubelet) ensureSandbox(ctx context.Context, pod *corev1.Pod) error {
	uid := string(pod.UID)
	k.mu.Lock()
	sb, ok := k.sandboxes[uid]
	k.mu.Unlock()
	if ok && sb.ip != "" {
		return nil
	}
	if k.cfg.Network == nil {
		return errors.New("no pod network configured")
	}
	netns, ip, err := k.cfg.Network.SetUp(ctx, pod)
	if err != nil {
		k.record.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		return fmt.Errorf("setting up the pod network: %w", err)
	}
	k.mu.Lock()
	k.sandboxes[uid] = sandbox{netns: netns, ip: ip}
	k.mu.Unlock()
	return nil
}

func (k *Kubelet) envInput(pod *corev1.Pod) envInput {
	in := envInput{hostIP: k.cfg.NodeIP}
	k.mu.Lock()
	in.podIP = k.sandboxes[string(pod.UID)].ip
	k.mu.Unlock()
	if pod.Spec.HostNetwork {
		in.podIP = k.cfg.NodeIP
	}
	if k.cfg.Allocatable != nil {
		in.allocatable = k.cfg.Allocatable()
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		svcs, _ := k.svcs.Services(pod.Namespace).List(labels.Everything())
		if pod.Namespace != metav1.NamespaceDefault {
			if kube, err := k.svcs.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
				svcs = append(svcs, kube)
			}
		}
		in.services = serviceEnv(svcs)
	} else if kube, err := k.svcs.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
		in.services = serviceEnv([]*corev1.Service{kube})
	}
	return in
}

// start pulls a container's image if needed, creates and starts it.
func (k *Kubelet) start(ctx context.Context, pod *corev1.Pod, a startAction, volumes map[string]string, in envInput, podIP string) error {
	c := a.container
	uid := string(pod.UID)
	key := backoffKey(uid, c.Name)
	policy := runtime.PullPolicy(c.ImagePullPolicy)
	if policy == "" {
		policy = runtime.PullIfNotPresent
	}
	if _, err := k.rt.EnsureImage(ctx, c.Image, policy); err != nil {
		reason := "ErrImagePull"
		if errors.Is(err, runtime.ErrNotFound) && policy == runtime.PullNever {
			reason = "ErrImageNeverPull"
		}
		k.mu.Lock()
		e, ok := k.pulls[key]
		e = nextBackoff(e, ok, time.Now())
		k.pulls[key] = e
		k.mu.Unlock()
		k.record.Eventf(pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		k.startFailed(pod, c.Name, reason, err.Error(), e.delay)
		return err
	}
	env, err := containerEnv(ctx, pod, c, in, k.objects)
	var mounts []runtime.Mount
	if err == nil {
		mounts, err = containerMounts(c, volumes)
	}
	if err != nil {
		k.record.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		k.startFailed(pod, c.Name, "CreateContainerConfigError", err.Error(), 2*time.Second)
		return err
	}
	k.mu.Lock()
	delete(k.pulls, key)
	if k.starts[uid] != nil {
		delete(k.starts[uid], c.Name)
	}
	if !a.restartOf.IsZero() {
		e, ok := k.backoffs[key]
		k.backoffs[key] = nextBackoff(e, ok, a.restartOf)
	}
	k.mu.Unlock()
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if pod.Spec.HostNetwork {
		hostname, _ = os.Hostname()
	}
	k.mu.Lock()
	netns := k.sandboxes[uid].netns
	k.mu.Unlock()
	logPath := k.dirs.log(uid, c.Name, a.attempt)
	cfg := runtime.ContainerConfig{
		Pod:        runtime.PodRef{UID: uid, Namespace: pod.Namespace, Name: pod.Name},
		Name:       c.Name,
		Attempt:    a.attempt,
		Image:      c.Image,
		Command:    c.Command,
		Args:       c.Args,
		Env:        env,
		WorkingDir: c.WorkingDir,
		Mounts:     append(mounts, k.hostsMounts(pod, podIP, hostname)...),
		Resources:  containerResources(c),
		NetNSPath:  netns,
		Hostname:   hostname,
		LogPath:    logPath,
	}
	id, err := k.rt.CreateContainer(ctx, cfg)
	if err != nil {
		k.record.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		k.startFailed(pod, c.Name, "CreateContainerError", err.Error(), 2*time.Second)
		return err
	}
	k.addContainer(uid, runtime.Container{ID: id, Pod: cfg.Pod, Name: c.Name, Attempt: a.attempt, State: runtime.StateCreated})
	k.record.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container %s", c.Name)
	if err := k.rt.StartContainer(ctx, id); err != nil {
		k.record.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		k.startFailed(pod, c.Name, "RunContainerError", err.Error(), 2*time.Second)
		return err
	}
	k.record.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	return k.postStart(ctx, pod, c, id)
}

// hostsMounts gives a pod an /etc/hosts naming itself, as the kubelet
// does, unless it shares the host's network.
func (k *Kubelet) hostsMounts(pod *corev1.Pod, podIP, hostname string) []runtime.Mount {
	if pod.Spec.HostNetwork || podIP == "" {
		return nil
	}
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file (cairn).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	fmt.Fprintf(&b, "%s\t%s\n", podIP, hostname)
	for _, h := range pod.Spec.HostAliases {
		fmt.Fprintf(&b, "%s\t%s\n", h.IP, strings.Join(h.Hostnames, "\t"))
	}
	p := k.dirs.volume(string(pod.UID), "etc", "hosts")
	if err := os.MkdirAll(p, 0o755); err != nil {
		return nil
	}
	file := p + "/hosts"
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return nil
	}
	return []runtime.Mount{{HostPath: file, ContainerPath: "/etc/hosts"}}
}

func (k *Kubelet) startFailed(pod *corev1.Pod, container, reason, msg string, retry time.Duration) {
	uid := string(pod.UID)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.starts[uid] == nil {
		k.starts[uid] = map[string]startError{}
	}
	k.starts[uid][container] = startError{reason: reason, message: msg, retryAt: time.Now().Add(retry)}
}

// containerResources converts requests and limits to cgroup settings as
// the kubelet does: cpu shares from the request (limit when no request,
// at least 2), a CFS quota from the limit over a 100ms period, the memory
// limit in bytes.
func containerResources(c *corev1.Container) runtime.Resources {
	var r runtime.Resources
	cpuReq, hasReq := c.Resources.Requests[corev1.ResourceCPU]
	cpuLim, hasLim := c.Resources.Limits[corev1.ResourceCPU]
	if !hasReq && hasLim {
		cpuReq, hasReq = cpuLim, true
	}
	r.CPUShares = 2
	if hasReq {
		if s := uint64(cpuReq.MilliValue()) * 1024 / 1000; s > 2 {
			r.CPUShares = s
		}
	}
	if hasLim && !cpuLim.IsZero() {
		r.CPUPeriod = 100000
		r.CPUQuota = max(cpuLim.MilliValue()*100000/1000, 1000)
	}
	if mem, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimit = mem.Value()
	}
	return r
}

// gracePeriod is how long a pod's containers get between SIGTERM and
// SIGKILL: the deletion's grace period, else the spec's, else 30 s.
func gracePeriod(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// stopAll stops the pod's running containers in parallel within grace.
func (k *Kubelet) stopAll(ctx context.Context, pod *corev1.Pod, cs []runtime.Container, grace time.Duration, reason string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		if c.State != runtime.StateRunning && c.State != runtime.StateCreated {
			continue
		}
		if pod != nil && reason != "" {
			k.record.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
		}
		var spec *corev1.Container
		if pod != nil {
			spec = containerNamed(pod, c.Name)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = k.killContainer(ctx, pod, spec, c, grace)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// terminate stops a deleted pod within its grace period, writes its final
// status, releases its network and deletes it for good (grace period 0,
// with its UID as precondition, as the kubelet).
func (k *Kubelet) terminate(ctx context.Context, pod *corev1.Pod) error {
	uid := string(pod.UID)
	cs, err := k.containersOf(ctx, uid)
	if err != nil {
		return err
	}
	if err := k.stopAll(ctx, pod, cs, gracePeriod(pod), "Terminating"); err != nil {
		return err
	}
	if cs, err = k.containersOf(ctx, uid); err != nil {
		return err
	}
	if err := k.writeStatus(ctx, pod, k.finalStatus(pod, cs)); err != nil {
		return err
	}
	if err := k.release(ctx, pod, cs); err != nil {
		return err
	}
	zero := int64(0)
	puid := pod.UID
	err = k.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &puid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod: %w", err)
	}
	k.log.Info("pod terminated", "pod", pod.Namespace+"/"+pod.Name, "uid", uid)
	return nil
}

// finalStatus is the status of a pod whose containers all stopped: each
// container terminated, the phase Succeeded when all exited 0, else
// Failed.
func (k *Kubelet) finalStatus(pod *corev1.Pod, cs []runtime.Container) corev1.PodStatus {
	s := k.state(pod, cs)
	plan := podPlan{initDone: true}
	st := podStatus(pod, s, &plan)
	if !terminal(st.Phase) {
		st.Phase = corev1.PodSucceeded
		for _, c := range st.ContainerStatuses {
			if c.State.Terminated == nil || c.State.Terminated.ExitCode != 0 {
				st.Phase = corev1.PodFailed
			}
		}
		st.Conditions = podConditions(pod, &st, s, &plan)
	}
	return st
}

// finish stops what still runs of a pod that reached Succeeded or Failed
// and releases its network; its exited containers stay, for their logs,
// until the pod is deleted.
func (k *Kubelet) finish(ctx context.Context, pod *corev1.Pod) error {
	uid := string(pod.UID)
	cs, err := k.containersOf(ctx, uid)
	if err != nil {
		return err
	}
	if err := k.stopAll(ctx, pod, cs, gracePeriod(pod), "Completed"); err != nil {
		return err
	}
	k.prober.forgetPod(cs, nil)
	k.mu.Lock()
	_, hasSandbox := k.sandboxes[uid]
	k.mu.Unlock()
	if hasSandbox && k.cfg.Network != nil && !pod.Spec.HostNetwork {
		if err := k.cfg.Network.TearDown(ctx, pod); err != nil {
			return fmt.Errorf("tearing down the pod network: %w", err)
		}
		k.mu.Lock()
		delete(k.sandboxes, uid)
		k.mu.Unlock()
	}
	return nil
}

// release removes a stopped pod's containers, network, volumes and state.
func (k *Kubelet) release(ctx context.Context, pod *corev1.Pod, cs []runtime.Container) error {
	uid := string(pod.UID)
	k.prober.forgetPod(cs, nil)
	for _, c := range cs {
		if err := k.rt.RemoveContainer(ctx, c.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("removing container %s: %w", c.Name, err)
		}
	}
	if k.cfg.Network != nil && !pod.Spec.HostNetwork {
		if err := k.cfg.Network.TearDown(ctx, pod); err != nil {
			return fmt.Errorf("tearing down the pod network: %w", err)
		}
	}
	if err := removePodDir(k.dirs.pod(uid)); err != nil {
		return err
	}
	k.admitMu.Lock()
	delete(k.admittedPods, uid)
	k.admitMu.Unlock()
	k.mu.Lock()
	delete(k.byPod, uid)
	delete(k.sandboxes, uid)
	delete(k.starts, uid)
	delete(k.written, uid)
	for key := range k.backoffs {
		if strings.HasPrefix(key, uid+"/") {
			delete(k.backoffs, key)
		}
	}
	for key := range k.pulls {
		if strings.HasPrefix(key, uid+"/") {
			delete(k.pulls, key)
		}
	}
	k.mu.Unlock()
	return nil
}

// cleanUp stops and removes what runs for a pod gone from the API (force
// deleted, or deleted while the agent was down).
func (k *Kubelet) cleanUp(ctx context.Context, uid string, pod *corev1.Pod) error {
	k.mu.Lock()
	last := k.known[uid]
	k.mu.Unlock()
	cs, err := k.containersOf(ctx, uid)
	if err != nil {
		return err
	}
	if last == nil {
		if len(cs) == 0 {
			return nil
		}
		c := cs[0]
		last = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Namespace: c.Pod.Namespace, Name: c.Pod.Name}}
	}
	if err := k.stopAll(ctx, nil, cs, 2*time.Second, ""); err != nil {
		return err
	}
	if cs, err = k.containersOf(ctx, uid); err != nil {
		return err
	}
	if err := k.release(ctx, last, cs); err != nil {
		return err
	}
	if pod == nil {
		k.mu.Lock()
		delete(k.known, uid)
		k.mu.Unlock()
	}
	return nil
}

// writeStatus writes the pod's status if it differs from what the API
// holds. A sync that runs before the informer has seen this kubelet's last
// write compares with that write instead, so a status is written once.
func (k *Kubelet) writeStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	if equality.Semantic.DeepEqual(pod.Status, st) {
		return nil
	}
	uid := string(pod.UID)
	k.mu.Lock()
	last, ok := k.written[uid]
	k.mu.Unlock()
	if ok && olderRV(pod.ResourceVersion, last.rv) && equality.Semantic.DeepEqual(last.status, st) {
		return nil
	}
	next := pod.DeepCopy()
	next.Status = st
	out, err := k.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		fresh, gerr := k.cfg.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if fresh.UID != pod.UID {
			return nil
		}
		fresh.Status = st
		out, err = k.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing pod status: %w", err)
	}
	k.mu.Lock()
	k.written[uid] = writtenStatus{rv: out.ResourceVersion, status: st}
	k.mu.Unlock()
	return nil
}

// writtenStatus is the status this kubelet last wrote for a pod and the
// resourceVersion the write made.
type writtenStatus struct {
	rv     string
	status corev1.PodStatus
}

// olderRV reports whether resourceVersion a is older than b; both are
// etcd revisions, but a server may use any string, so what does not parse
// is "not older".
func olderRV(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}

func (k *Kubelet) probeFailed(pod *corev1.Pod, container string, kind probeKind, msg string) {
	k.record.Eventf(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, msg)
}

// LogPath returns the log file of a container's current attempt, or of the
// one before it, for the node's log server.
func (k *Kubelet) LogPath(namespace, pod, container string, previous bool) (string, error) {
	obj, ok, err := k.pods.GetStore().GetByKey(namespace + "/" + pod)
	if err != nil || !ok {
		return "", fmt.Errorf("pod %s/%s: %w", namespace, pod, ErrNotFound)
	}
	p := obj.(*corev1.Pod)
	uid := string(p.UID)
	k.mu.Lock()
	attempts := -1
	for _, c := range k.byPod[uid] {
		if c.Name == container && c.Attempt > attempts {
			attempts = c.Attempt
		}
	}
	k.mu.Unlock()
	if attempts < 0 {
		return "", fmt.Errorf("container %s of pod %s/%s has not started: %w", container, namespace, pod, ErrNotFound)
	}
	n := attempts
	if previous {
		n--
		if n < 0 {
			return "", fmt.Errorf("previous terminated container %q in pod %q not found: %w", container, pod, ErrNotFound)
		}
	}
	path := k.dirs.log(uid, container, n)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("log of container %s attempt %d: %w", container, n, ErrNotFound)
	}
	return path, nil
}

// ErrNotFound is wrapped by LogPath for what does not exist on this node.
var ErrNotFound = errors.New("kubelet: not found")
