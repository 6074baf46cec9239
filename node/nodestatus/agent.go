package nodestatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// Defaults of Options, as the kubelet's.
const (
	DefaultStatusUpdateFrequency = 10 * time.Second
	DefaultLeaseDuration         = 40 * time.Second
	// DefaultCheckFrequency is how often the status is recomputed to post
	// a change before the next status period.
	DefaultCheckFrequency = time.Second
)

// ErrNoClient and ErrNoNodeName are returned by New for incomplete Options.
var (
	ErrNoClient   = errors.New("nodestatus: no client")
	ErrNoNodeName = errors.New("nodestatus: no node name")
)

// Options configure an Agent.
type Options struct {
	Client   kubernetes.Interface
	NodeName string
	// Labels are added to the well-known labels at registration, and to
	// an existing Node that lacks them (an existing value is kept).
	Labels map[string]string
	// Taints are the Node's taints at registration; an existing Node's
	// taints are never changed.
	Taints []corev1.Taint
	// Register creates the Node (or adopts an existing one). When false
	// the agent waits until an administrator creates it, and never changes
	// its metadata or spec.
	Register bool

	// StatusUpdateFrequency is the status period: the status is posted at
	// least this often (DefaultStatusUpdateFrequency when 0).
	StatusUpdateFrequency time.Duration
	// CheckFrequency is how often the status is recomputed; a change is
	// posted at once (when 0, DefaultCheckFrequency or half the status
	// period, whichever is shorter). Readings and Inputs are called this
	// often.
	CheckFrequency time.Duration
	// LeaseDuration is the Lease's leaseDurationSeconds; it is renewed
	// every quarter of it (DefaultLeaseDuration when 0).
	LeaseDuration time.Duration

	// DataDir is the directory whose filesystem is the node's
	// ephemeral-storage, for the default Readings ("/" when empty).
	DataDir string
	// Readings reads the machine (ReadMachine(nil, DataDir) when nil).
	Readings func() (Machine, error)
	// Inputs are the runtime's and the network's reports (all ready, no
	// images, when nil).
	Inputs func(ctx context.Context) Inputs
	Config Config

	Clock  clock.Clock  // clock.RealClock when nil
	Logger *slog.Logger // slog.Default() when nil
	// OnNode is called with every version of the Node the agent sees (its
	// pod CIDR, whether it is cordoned), one call at a time. It must not
	// modify the Node.
	OnNode func(*corev1.Node)
}

// Stats count the agent's writes.
type Stats struct {
	Registrations int64 // Nodes created or adopted
	LeaseRenewals int64 // Lease creates and updates
	StatusUpdates int64 // node status writes
	Errors        int64 // failed readings and writes
}

// Agent registers a Node, renews its Lease and posts its status.
type Agent struct {
	opts  Options
	clock clock.Clock
	log   *slog.Logger

	mu         sync.Mutex
	node       *corev1.Node // the newest version seen
	lastPostAt time.Time
	lease      *coordinationv1.Lease

	seen       chan struct{} // signalled when the informer sees the Node
	registered chan struct{}
	regOnce    sync.Once

	registrations, leaseRenewals, statusUpdates, errs atomic.Int64
}

// New checks opts and fills in their defaults.
func New(opts Options) (*Agent, error) {
	if opts.Client == nil {
		return nil, ErrNoClient
	}
	if opts.NodeName == "" {
		return nil, ErrNoNodeName
	}
	if opts.StatusUpdateFrequency <= 0 {
		opts.StatusUpdateFrequency = DefaultStatusUpdateFrequency
	}
	if opts.CheckFrequency <= 0 {
		opts.CheckFrequency = min(DefaultCheckFrequency, opts.StatusUpdateFrequency/2)
	}
	opts.CheckFrequency = min(opts.CheckFrequency, opts.StatusUpdateFrequency)
	if opts.LeaseDuration <= 0 {
		opts.LeaseDuration = DefaultLeaseDuration
	}
	if opts.DataDir == "" {
		opts.DataDir = "/"
	}
	if opts.Readings == nil {
		dir := opts.DataDir
		opts.Readings = func() (Machine, error) { return ReadMachine(nil, dir) }
	}
	if opts.Inputs == nil {
		opts.Inputs = func(context.Context) Inputs { return Inputs{} }
	}
	opts.Config = opts.Config.WithDefaults()
	a := &Agent{
		opts: opts, clock: opts.Clock, log: opts.Logger,
		seen: make(chan struct{}, 1), registered: make(chan struct{}),
	}
	if a.clock == nil {
		a.clock = clock.RealClock{}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With("node", opts.NodeName)
	return a, nil
}

// Run is New followed by Agent.Run.
func Run(ctx context.Context, opts Options) error {
	a, err := New(opts)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// Stats are the agent's counters so far.
func (a *Agent) Stats() Stats {
	return Stats{
		Registrations: a.registrations.Load(),
		LeaseRenewals: a.leaseRenewals.Load(),
		StatusUpdates: a.statusUpdates.Load(),
		Errors:        a.errs.Load(),
	}
}

// Registered is closed once the Node exists (registered, adopted or
// created by an administrator) and the agent runs its loops.
func (a *Agent) Registered() <-chan struct{} { return a.registered }

// Node is a copy of the newest version of the Node the agent has seen;
// nil before it exists.
func (a *Agent) Node() *corev1.Node {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.node == nil {
		return nil
	}
	return a.node.DeepCopy()
}

// Run registers the Node (or waits for it), then renews the Lease and
// posts the status until ctx ends. It returns nil when ctx ends, and an
// error only when the Node's informer cannot start.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	factory := informers.NewSharedInformerFactoryWithOptions(a.opts.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", a.opts.NodeName).String()
		}))
	inf := factory.Core().V1().Nodes().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.observed(obj) },
		UpdateFunc: func(_, obj any) { a.observed(obj) },
		DeleteFunc: func(obj any) { a.deleted(obj) },
	}); err != nil {
		return fmt.Errorf("nodestatus: watching node %s: %w", a.opts.NodeName, err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil // ctx ended
	}

	if !a.ensureNode(ctx) {
		return nil
	}
	a.regOnce.Do(func() { close(a.registered) })

	var wg sync.WaitGroup
	wg.Go(func() { a.leaseLoop(ctx) })
	a.statusLoop(ctx)
	wg.Wait()
	return nil
}

// observed records a version of the Node from the informer.
func (a *Agent) observed(obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok || n.Name != a.opts.NodeName {
		return
	}
	a.setNode(n)
	select {
	case a.seen <- struct{}{}:
	default:
	}
	if a.opts.OnNode != nil {
		a.opts.OnNode(n)
	}
}

func (a *Agent) deleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if n, ok := obj.(*corev1.Node); ok && n.Name == a.opts.NodeName {
		a.log.Warn("node was deleted")
		a.mu.Lock()
		a.node = nil
		a.mu.Unlock()
	}
}

// setNode keeps n when it is newer than the Node known so far.
func (a *Agent) setNode(n *corev1.Node) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.node != nil && a.node.UID == n.UID && !newerRV(n.ResourceVersion, a.node.ResourceVersion) {
		return
	}
	a.node = n
}

// newerRV reports whether resource version a is newer than b. Versions are
// opaque to clients; cairn's (and Kubernetes') are store revisions, and
// one that does not parse is taken as newer.
func newerRV(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return a != b
	}
	return x > y
}

func (a *Agent) current() *corev1.Node {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.node
}

// ensureNode registers the Node or waits for it; false when ctx ended.
func (a *Agent) ensureNode(ctx context.Context) bool {
	if a.opts.Register {
		return a.registerWithRetry(ctx)
	}
	if a.current() != nil {
		return true
	}
	a.log.Info("waiting for an administrator to create the Node (registration is off)")
	last := a.clock.Now()
	for a.current() == nil {
		t := a.clock.NewTimer(time.Minute)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-a.seen:
		case <-t.C():
		}
		t.Stop()
		if a.current() == nil && a.clock.Since(last) >= time.Minute {
			a.log.Info("still waiting for the Node to be created")
			last = a.clock.Now()
		}
	}
	a.log.Info("node exists; starting its status and lease")
	return true
}

// backoff is the kubelet's: 200ms doubling up to max.
type backoff struct{ cur, max time.Duration }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = 200 * time.Millisecond
	} else if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	return b.cur
}

func (a *Agent) sleep(ctx context.Context, d time.Duration) bool {
	t := a.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

func (a *Agent) registerWithRetry(ctx context.Context) bool {
	b := backoff{max: 7 * time.Second}
	for {
		err := a.register(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		a.errs.Add(1)
		d := b.next()
		a.log.Warn("registering node failed; retrying", "err", err, "in", d)
		if !a.sleep(ctx, d) {
			return false
		}
	}
}

// wellKnownLabels are the labels the kubelet sets on its Node.
func (a *Agent) wellKnownLabels() map[string]string {
	return map[string]string{
		corev1.LabelHostname:      a.opts.NodeName,
		corev1.LabelOSStable:      runtime.GOOS,
		corev1.LabelArchStable:    runtime.GOARCH,
		"beta.kubernetes.io/os":   runtime.GOOS,
		"beta.kubernetes.io/arch": runtime.GOARCH,
	}
}

// register creates the Node, or adopts an existing one: it sets the
// well-known labels and adds the given labels it lacks, leaving every
// other label and the taints as they are.
func (a *Agent) register(ctx context.Context) error {
	m, err := a.opts.Readings()
	if err != nil {
		return fmt.Errorf("nodestatus: reading the machine: %w", err)
	}
	labels := a.wellKnownLabels()
	maps.Copy(labels, a.opts.Labels)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.opts.NodeName, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: append([]corev1.Taint(nil), a.opts.Taints...)},
		Status:     Compute(corev1.NodeStatus{}, m, a.opts.Inputs(ctx), a.opts.Config, a.clock.Now()),
	}
	nodes := a.opts.Client.CoreV1().Nodes()
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if err == nil {
		a.setNode(created)
		a.mu.Lock()
		a.lastPostAt = a.clock.Now() // the status came with the Node
		a.mu.Unlock()
		a.registrations.Add(1)
		a.log.Info("registered node")
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("nodestatus: creating node %s: %w", a.opts.NodeName, err)
	}
	for attempt := 0; ; attempt++ {
		cur, err := nodes.Get(ctx, a.opts.NodeName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("nodestatus: reading node %s: %w", a.opts.NodeName, err)
		}
		next := cur.DeepCopy()
		if next.Labels == nil {
			next.Labels = map[string]string{}
		}
		changed := false
		for k, v := range a.wellKnownLabels() {
			if next.Labels[k] != v {
				next.Labels[k], changed = v, true
			}
		}
		for k, v := range a.opts.Labels {
			if _, ok := next.Labels[k]; !ok {
				next.Labels[k], changed = v, true
			}
		}
		if changed {
			out, err := nodes.Update(ctx, next, metav1.UpdateOptions{})
			if apierrors.IsConflict(err) && attempt < 5 {
				continue
			}
			if err != nil {
				return fmt.Errorf("nodestatus: adding labels to node %s: %w", a.opts.NodeName, err)
			}
			cur = out
		}
		a.setNode(cur)
		a.registrations.Add(1)
		a.log.Info("adopted existing node", "labelsAdded", changed)
		return nil
	}
}

// statusLoop recomputes the status every CheckFrequency and posts it when
// it changed or the status period passed.
func (a *Agent) statusLoop(ctx context.Context) {
	for {
		began := a.clock.Now()
		if err := a.syncStatus(ctx); err != nil && ctx.Err() == nil {
			a.errs.Add(1)
			a.log.Warn("node status not posted", "err", err)
		}
		if !a.sleep(ctx, max(a.opts.CheckFrequency-a.clock.Since(began), 0)) {
			return
		}
	}
}

// syncStatus posts the status when it differs from the Node's in more
// than heartbeat times, or when the status period has passed since the
// last post.
func (a *Agent) syncStatus(ctx context.Context) error {
	cur := a.current()
	if cur == nil {
		if !a.opts.Register {
			return nil // deleted; the informer tells when it is back
		}
		a.log.Info("registering the node again")
		if err := a.register(ctx); err != nil {
			return err
		}
		cur = a.current()
	}
	m, err := a.opts.Readings()
	if err != nil {
		return fmt.Errorf("nodestatus: reading the machine: %w", err)
	}
	in := a.opts.Inputs(ctx)
	now := a.clock.Now()
	next := Compute(cur.Status, m, in, a.opts.Config, now)
	a.mu.Lock()
	due := a.lastPostAt.IsZero() || now.Sub(a.lastPostAt) >= a.opts.StatusUpdateFrequency-a.opts.CheckFrequency/2
	a.mu.Unlock()
	if !due && SameStatus(next, cur.Status) {
		return nil
	}
	nodes := a.opts.Client.CoreV1().Nodes()
	for attempt := 0; ; attempt++ {
		upd := cur.DeepCopy()
		upd.Status = next
		out, err := nodes.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		switch {
		case err == nil:
			a.setNode(out)
			a.mu.Lock()
			a.lastPostAt = now
			a.mu.Unlock()
			a.statusUpdates.Add(1)
			return nil
		case apierrors.IsConflict(err) && attempt < 5:
			if cur, err = nodes.Get(ctx, a.opts.NodeName, metav1.GetOptions{}); err != nil {
				return fmt.Errorf("nodestatus: reading node %s: %w", a.opts.NodeName, err)
			}
			a.setNode(cur)
			next = Compute(cur.Status, m, in, a.opts.Config, now)
			continue
		case apierrors.IsNotFound(err):
			a.mu.Lock()
			if a.node != nil && a.node.UID == cur.UID {
				a.node = nil
			}
			a.mu.Unlock()
		}
		return fmt.Errorf("nodestatus: posting status of node %s: %w", a.opts.NodeName, err)
	}
}

// leaseLoop renews the Lease every quarter of its duration, retrying
// failures with a backoff capped at that interval.
func (a *Agent) leaseLoop(ctx context.Context) {
	interval := a.opts.LeaseDuration / 4
	b := backoff{max: interval}
	for {
		wait := interval
		if err := a.renewLease(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			a.errs.Add(1)
			wait = b.next()
			a.log.Warn("renewing lease failed; retrying", "err", err, "in", wait)
		} else {
			b = backoff{max: interval}
		}
		if !a.sleep(ctx, wait) {
			return
		}
	}
}

// renewed is l held by the node, renewed now and owned by the Node.
func (a *Agent) renewed(l *coordinationv1.Lease) *coordinationv1.Lease {
	l = l.DeepCopy()
	l.Name, l.Namespace = a.opts.NodeName, corev1.NamespaceNodeLease
	holder := a.opts.NodeName
	secs := int32(max(a.opts.LeaseDuration.Round(time.Second)/time.Second, 1))
	now := metav1.NewMicroTime(a.clock.Now())
	l.Spec.HolderIdentity = &holder
	l.Spec.LeaseDurationSeconds = &secs
	l.Spec.RenewTime = &now
	if n := a.current(); n != nil && n.UID != "" {
		owned := false
		for _, ref := range l.OwnerReferences {
			if ref.Kind == "Node" && ref.UID == n.UID {
				owned = true
			}
		}
		if !owned {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}}
		}
	}
	return l
}

// renewLease updates the Lease, creating it when it is missing and
// reading it again when someone else wrote it since.
func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.opts.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	for attempt := 0; ; attempt++ {
		a.mu.Lock()
		cur := a.lease
		a.mu.Unlock()
		var out *coordinationv1.Lease
		var err error
		if cur == nil {
			cur, err = leases.Get(ctx, a.opts.NodeName, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				out, err = leases.Create(ctx, a.renewed(&coordinationv1.Lease{}), metav1.CreateOptions{})
			case err == nil:
				out, err = leases.Update(ctx, a.renewed(cur), metav1.UpdateOptions{})
			}
		} else {
			out, err = leases.Update(ctx, a.renewed(cur), metav1.UpdateOptions{})
		}
		if err == nil {
			a.mu.Lock()
			a.lease = out
			a.mu.Unlock()
			a.leaseRenewals.Add(1)
			return nil
		}
		a.mu.Lock()
		a.lease = nil
		a.mu.Unlock()
		if (apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err)) && attempt < 5 {
			continue
		}
		return fmt.Errorf("nodestatus: renewing lease %s/%s: %w", corev1.NamespaceNodeLease, a.opts.NodeName, err)
	}
}
