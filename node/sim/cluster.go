package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Cluster is a set of simulated nodes sharing one API client, one pod
// informer, one heartbeat loop and bounded worker pools.
type Cluster struct {
	cfg    Config
	client kubernetes.Interface
	log    *slog.Logger

	mu     sync.RWMutex
	byName map[string]*simNode
	order  []*simNode // by index; nil where a node was removed
	// initial are the nodes Registered waits for.
	initial []*simNode

	started    atomic.Bool
	registered chan struct{}

	// Heartbeats: the tick loop walks a slice of the nodes every tick so
	// that each node comes up once per interval, and queues its work.
	hb                      workqueue.TypedDelayingInterface[hbKey]
	tick                    time.Duration
	leaseSlots, statusSlots int

	// Pods (nil with NoPods). podSelector is set before the informer runs.
	podInformer cache.SharedIndexInformer
	podSelector string
	podQueue    workqueue.TypedRateLimitingInterface[string]
	podMu       sync.Mutex
	podStates   map[types.UID]*podState

	stats counters
}

type hbKind uint8

const (
	hbLease hbKind = iota
	hbStatus
)

// hbKey is one heartbeat job: renew a node's lease or post its status.
type hbKey struct {
	node string
	kind hbKind
}

type counters struct {
	nodeStatus, leaseRenewals, podStatus, podDeletes, conflicts, errors atomic.Int64
}

// Stats counts what a Cluster wrote since it was made.
type Stats struct {
	NodeStatusUpdates int64 // nodes/status writes
	LeaseRenewals     int64 // Lease creates and updates
	PodStatusUpdates  int64 // pods/status writes
	PodDeletes        int64 // final pod deletes (grace period 0)
	Conflicts         int64 // writes that met a newer version and were retried
	Errors            int64 // failed heartbeats and pod syncs
}

// New checks the configuration and prepares the nodes; Run starts them.
func New(cfg Config) (*Cluster, error) {
	if cfg.Client == nil {
		return nil, errors.New("sim: Config.Client is required")
	}
	if len(cfg.Nodes) > MaxNodes {
		return nil, fmt.Errorf("sim: %d nodes asked for, at most %d", len(cfg.Nodes), MaxNodes)
	}
	cfg.setDefaults()
	seen := make(map[string]bool, len(cfg.Nodes))
	for _, spec := range cfg.Nodes {
		if err := spec.validate(); err != nil {
			return nil, err
		}
		if seen[spec.Name] {
			return nil, fmt.Errorf("sim: node %q is listed twice", spec.Name)
		}
		seen[spec.Name] = true
	}
	c := &Cluster{
		cfg: cfg, client: cfg.Client, log: cfg.Logger.With("component", "sim"),
		byName:     make(map[string]*simNode, len(cfg.Nodes)),
		registered: make(chan struct{}),
		hb:         workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[hbKey]{}),
		podStates:  map[types.UID]*podState{},
	}
	for i, spec := range cfg.Nodes {
		n := newSimNode(spec, i)
		c.byName[spec.Name] = n
		c.order = append(c.order, n)
	}
	c.initial = append([]*simNode(nil), c.order...)
	// A tick of a fiftieth of the shorter interval (10ms to 1s) spreads the
	// nodes over fifty or more slots.
	c.tick = min(cfg.RenewInterval, cfg.StatusInterval) / 50
	c.tick = max(10*time.Millisecond, min(time.Second, c.tick))
	c.leaseSlots = max(1, int((cfg.RenewInterval+c.tick/2)/c.tick))
	c.statusSlots = max(1, int((cfg.StatusInterval+c.tick/2)/c.tick))
	if !cfg.NoPods {
		c.podQueue = workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{})
		c.newPodInformer()
	}
	return c, nil
}

// Registered is closed once every node given to New has its Node and Lease.
func (c *Cluster) Registered() <-chan struct{} { return c.registered }

// Nodes lists the names of the nodes the Cluster manages.
func (c *Cluster) Nodes() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.byName))
	for _, n := range c.order {
		if n != nil {
			out = append(out, n.name())
		}
	}
	return out
}

// Stats returns the write counters.
func (c *Cluster) Stats() Stats {
	return Stats{
		NodeStatusUpdates: c.stats.nodeStatus.Load(), LeaseRenewals: c.stats.leaseRenewals.Load(),
		PodStatusUpdates: c.stats.podStatus.Load(), PodDeletes: c.stats.podDeletes.Load(),
		Conflicts: c.stats.conflicts.Load(), Errors: c.stats.errors.Load(),
	}
}

func (c *Cluster) lookup(name string) *simNode {
	if name == "" {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byName[name]
}

// Run registers every node (in parallel, RegisterWorkers at a time), then
// keeps them alive and runs their pods until ctx ends. It returns nil when
// ctx ends and an error when a node cannot be registered for good (the API
// server refused it); unreachable servers are waited for.
func (c *Cluster) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("sim: a Cluster runs only once")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		c.hb.ShutDown()
		if c.podQueue != nil {
			c.podQueue.ShutDown()
		}
		wg.Wait()
	}()

	if !c.cfg.NoPods {
		if err := c.startPodInformer(ctx, &wg); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}

	start := time.Now()
	if err := c.registerAll(ctx, c.initial); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	elapsed := time.Since(start)
	c.log.Info("simulated nodes registered", "nodes", len(c.initial), "elapsed", elapsed.Round(time.Millisecond),
		"perSecond", int(float64(len(c.initial))/max(elapsed.Seconds(), 1e-3)))
	close(c.registered)

	for range c.cfg.HeartbeatWorkers {
		wg.Go(func() { c.heartbeatWorker(ctx) })
	}
	wg.Go(func() { c.tickLoop(ctx) })

	if !c.cfg.NoPods {
		if !cache.WaitForCacheSync(ctx.Done(), c.podInformer.HasSynced) {
			return nil
		}
		c.reservePodIPs()
		for range c.cfg.Workers {
			wg.Go(func() { c.podWorker(ctx) })
		}
	}
	<-ctx.Done()
	return nil
}

// registerAll registers nodes with RegisterWorkers goroutines, stopping at
// the first node that cannot be registered.
func (c *Cluster) registerAll(ctx context.Context, nodes []*simNode) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *simNode)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(c.cfg.RegisterWorkers, max(1, len(nodes))) {
		wg.Go(func() {
			for n := range work {
				if err := c.register(ctx, n); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
				}
			}
		})
	}
feed:
	for _, n := range nodes {
		select {
		case work <- n:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// register creates or adopts a node's Node and Lease.
func (c *Cluster) register(ctx context.Context, n *simNode) error {
	if err := c.registerNode(ctx, n); err != nil {
		return err
	}
	if err := retryTransient(ctx, func() error { return c.syncLease(ctx, n) }); err != nil {
		return err
	}
	n.ready.Store(true)
	return nil
}

// tickLoop is the one loop behind every heartbeat: each tick it queues the
// lease renewals and status posts of the nodes in that tick's slot, so
// each node comes up once per interval and the nodes spread over it.
func (c *Cluster) tickLoop(ctx context.Context) {
	t := time.NewTicker(c.tick)
	defer t.Stop()
	for k := 0; ; k++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.RLock()
		for i := k % c.leaseSlots; i < len(c.order); i += c.leaseSlots {
			if n := c.order[i]; n != nil && n.ready.Load() && !n.isPaused() {
				c.hb.Add(hbKey{n.name(), hbLease})
			}
		}
		for i := k % c.statusSlots; i < len(c.order); i += c.statusSlots {
			if n := c.order[i]; n != nil && n.ready.Load() && !n.isPaused() {
				c.hb.Add(hbKey{n.name(), hbStatus})
			}
		}
		c.mu.RUnlock()
	}
}

func (c *Cluster) heartbeatWorker(ctx context.Context) {
	for {
		k, quit := c.hb.Get()
		if quit {
			return
		}
		c.heartbeat(ctx, k)
		c.hb.Done(k)
	}
}

func (c *Cluster) heartbeat(ctx context.Context, k hbKey) {
	n := c.lookup(k.node)
	if n == nil {
		return
	}
	n.writing.RLock()
	defer n.writing.RUnlock()
	if !n.ready.Load() || n.isPaused() {
		return
	}
	var err error
	switch k.kind {
	case hbLease:
		err = c.syncLease(ctx, n)
	case hbStatus:
		err = c.postStatus(ctx, n)
	}
	if err != nil && ctx.Err() == nil {
		c.stats.errors.Add(1)
		c.log.Warn("heartbeat failed", "node", k.node, "err", err)
		c.hb.AddAfter(k, min(time.Second, c.cfg.RenewInterval))
	}
}

// queueHeartbeat asks for a lease renewal and a status post now.
func (c *Cluster) queueHeartbeat(n *simNode) {
	c.hb.Add(hbKey{n.name(), hbLease})
	c.hb.Add(hbKey{n.name(), hbStatus})
}

// node returns a managed node or an error naming it.
func (c *Cluster) node(name string) (*simNode, error) {
	if n := c.lookup(name); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("sim: no simulated node %q", name)
}
