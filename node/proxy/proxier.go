package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-iptables/iptables"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Runner runs one command with stdin and returns its combined output. It
// is the only way the Proxier touches the host, so that tests can record
// the commands or run them in another network namespace.
type Runner func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)

// ExecRunner runs commands on the host with os/exec.
func ExecRunner(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Options configures a Proxier. Zero values take the defaults documented
// on each field.
type Options struct {
	// Exec runs iptables-restore and iptables-save; default ExecRunner.
	Exec Runner
	// Tables creates the top-level chains and the jumps into them from the
	// built-in chains; default go-iptables running Iptables.
	Tables Tables
	// Iptables, IptablesRestore and IptablesSave name the commands;
	// defaults "iptables", "iptables-restore" and "iptables-save" from PATH.
	Iptables        string
	IptablesRestore string
	IptablesSave    string
	// ClusterCIDR is the pod network; see RuleOptions.ClusterCIDR.
	ClusterCIDR string
	// MasqueradeAll masquerades all traffic to ClusterIPs.
	MasqueradeAll bool
	// NodeIPs are the addresses NodePorts answer on; empty means every
	// local address.
	NodeIPs []string
	// MinSyncPeriod is the least time between two syncs, so that a burst
	// of changes costs one sync; default 1s.
	MinSyncPeriod time.Duration
	// SyncPeriod is the most time between two syncs; default 30s.
	SyncPeriod time.Duration
	// FullSyncPeriod is the most time between two full syncs, which
	// rewrite every chain and so repair rules changed behind the proxy's
	// back; default 1h, as kube-proxy's (a full sync of 10,000 Services
	// takes seconds with legacy iptables and minutes with nf_tables).
	FullSyncPeriod time.Duration
	// Logger receives sync results; default discards.
	Logger *slog.Logger

	// The fields below are for the userspace mode only.

	// IPCommand names the iproute2 command, run through Exec; default "ip".
	IPCommand string
	// ServiceInterface is the dummy interface ClusterIPs are added to;
	// default DefaultServiceInterface.
	ServiceInterface string
	// UDPIdleTimeout ends a UDP session without traffic; default 250ms,
	// kube-proxy's userspace default.
	UDPIdleTimeout time.Duration
	// DialTimeout bounds a connection attempt to an endpoint; default 1s.
	DialTimeout time.Duration

	// procDir is where Start looks for IPVS; default /proc.
	procDir string
}

// Proxier keeps the node's iptables rules equal to the Services and
// Endpoints it is given. Each sync is one iptables-restore transaction, so
// the rules never show a half-applied state.
type Proxier struct {
	opts Options

	mu        sync.Mutex // guards services and endpoints
	services  []*corev1.Service
	endpoints []*corev1.Endpoints

	syncMu  sync.Mutex // serializes syncs and guards the fields below
	applied *Applied   // what the last successful sync left; nil means unknown
	cache   *ruleCache // each Service's rules at the last sync
}

// New returns a Proxier with the defaults filled in. It does not touch the
// host until the first sync.
func New(opts Options) (*Proxier, error) {
	if opts.Exec == nil {
		opts.Exec = ExecRunner
	}
	if opts.Iptables == "" {
		opts.Iptables = "iptables"
	}
	if opts.IptablesRestore == "" {
		opts.IptablesRestore = "iptables-restore"
	}
	if opts.IptablesSave == "" {
		opts.IptablesSave = "iptables-save"
	}
	if opts.MinSyncPeriod <= 0 {
		opts.MinSyncPeriod = time.Second
	}
	if opts.SyncPeriod <= 0 {
		opts.SyncPeriod = 30 * time.Second
	}
	if opts.FullSyncPeriod <= 0 {
		opts.FullSyncPeriod = time.Hour
	}
	if opts.SyncPeriod < opts.MinSyncPeriod {
		return nil, fmt.Errorf("proxy options: sync period %s is shorter than min sync period %s", opts.SyncPeriod, opts.MinSyncPeriod)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Proxier{opts: opts}, nil
}

// OnServices replaces the Services the next sync proxies.
func (p *Proxier) OnServices(services []*corev1.Service) {
	p.mu.Lock()
	p.services = services
	p.mu.Unlock()
}

// OnEndpoints replaces the Endpoints the next sync uses.
func (p *Proxier) OnEndpoints(endpoints []*corev1.Endpoints) {
	p.mu.Lock()
	p.endpoints = endpoints
	p.mu.Unlock()
}

// Sync writes the rules for the current state now. A full sync (the
// first one, one after a failure, or any with force set) reads the nat
// table's chains if they are not known from the last sync, makes sure the proxy's chains and the jumps into them
// from the built-in chains exist, and rewrites every chain; the others are
// partial: they rewrite the top-level chains and only the service and
// endpoint chains that changed since the last successful sync, and write
// nothing when nothing changed. Run forces a full sync once per
// FullSyncPeriod, to repair rules changed by others.
func (p *Proxier) Sync(ctx context.Context, force bool) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	start := time.Now()

	full := force || p.applied == nil
	var existing []string
	if full {
		// The chains in the table are known after a successful sync;
		// otherwise (first sync, after a failure) they are read.
		existing = p.applied.Chains()
		if p.applied == nil {
			chains, err := p.natChains(ctx)
			if err != nil {
				return err
			}
			existing = chains
		}
		// The jumps go in before the restore fills the chains, which
		// they create if missing: a half-done sync sends traffic into
		// empty chains, which leaves it alone.
		if err := p.ensureJumps(); err != nil {
			p.applied = nil
			return err
		}
	}
	p.mu.Lock()
	services, endpoints := p.services, p.endpoints
	p.mu.Unlock()
	rs, cache := cachedChains(services, endpoints, p.opts.NodeIPs, RuleOptions{
		ClusterCIDR:   p.opts.ClusterCIDR,
		MasqueradeAll: p.opts.MasqueradeAll,
	}, p.cache)
	p.cache = cache
	prev := p.applied
	if full {
		prev = nil
	}
	plan := Plan(&rs, prev, existing)
	if plan.Noop {
		return nil
	}
	generated := time.Since(start)

	if _, err := p.opts.Exec(ctx, plan.Text, p.opts.IptablesRestore, "-w", "--noflush", "--counters"); err != nil {
		// What is in the tables is unknown now: the next sync is full.
		p.applied = nil
		return fmt.Errorf("apply %d iptables rules: %w", plan.Rules, err)
	}
	p.applied = plan.Next
	p.opts.Logger.Info("proxy rules synced", "full", plan.Full, "services", len(services),
		"rules", rs.Rules, "written", plan.Rules, "chainsWritten", len(plan.Written), "chainsDeleted", len(plan.Deleted),
		"generate", generated.Round(time.Microsecond), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// natChains lists the chains of the nat table.
func (p *Proxier) natChains(ctx context.Context) ([]string, error) {
	out, err := p.opts.Exec(ctx, nil, p.opts.IptablesSave, "-t", "nat")
	if err != nil {
		return nil, fmt.Errorf("list nat chains: %w", err)
	}
	return parseChains(out), nil
}

// parseChains returns the KUBE-* chains declared in iptables-save output.
func parseChains(save []byte) []string {
	var chains []string
	sc := bufio.NewScanner(bytes.NewReader(save))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, ":KUBE-"); ok {
			if i := strings.IndexByte(name, ' '); i >= 0 {
				name = name[:i]
			}
			chains = append(chains, "KUBE-"+name)
		}
	}
	return chains
}

// Tables is what the Proxier needs of go-iptables' *iptables.IPTables to
// keep its top-level chains and the jumps into them in place. The bulk of
// the rules goes through iptables-restore instead.
type Tables interface {
	ChainExists(table, chain string) (bool, error)
	NewChain(table, chain string) error
	Exists(table, chain string, rulespec ...string) (bool, error)
	Insert(table, chain string, pos int, rulespec ...string) error
}

// jump is one rule in a built-in chain that sends traffic into ours.
type jump struct {
	table, chain string
	rule         []string
}

// jumps are the rules in built-in chains that lead into the proxy's chains:
// kube-proxy's, minus the ones for features this package does not have.
var jumps = []jump{
	{"nat", "PREROUTING", []string{"-m", "comment", "--comment", "kubernetes service portals", "-j", ChainServices}},
	{"nat", "OUTPUT", []string{"-m", "comment", "--comment", "kubernetes service portals", "-j", ChainServices}},
	{"nat", "POSTROUTING", []string{"-m", "comment", "--comment", "kubernetes postrouting rules", "-j", ChainPostrouting}},
	{"filter", "INPUT", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes externally-visible service portals", "-j", ChainExternalServices}},
	{"filter", "FORWARD", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", ChainServices}},
	{"filter", "OUTPUT", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", ChainServices}},
}

// tables returns Options.Tables, or go-iptables for Options.Iptables,
// created on first use because creating it runs iptables.
func (p *Proxier) tables() (Tables, error) {
	if p.opts.Tables != nil {
		return p.opts.Tables, nil
	}
	ipt, err := iptables.New(iptables.Path(p.opts.Iptables))
	if err != nil {
		return nil, fmt.Errorf("use %s: %w", p.opts.Iptables, err)
	}
	p.opts.Tables = ipt
	return ipt, nil
}

// ensureJumps inserts each jump that is missing at the top of its chain,
// so that it runs before rules others may have appended, creating the
// chain it leads to first if that is missing too. In the steady state this
// is one `iptables -C` per jump: with the legacy backend each iptables run
// reads the whole table from the kernel.
func (p *Proxier) ensureJumps() error {
	t, err := p.tables()
	if err != nil {
		return err
	}
	for _, j := range jumps {
		target := j.rule[len(j.rule)-1]
		// The check fails with an error rather than false when the
		// target chain is missing.
		if ok, err := t.Exists(j.table, j.chain, j.rule...); err == nil && ok {
			continue
		}
		ok, err := t.ChainExists(j.table, target)
		if err != nil {
			return fmt.Errorf("look for chain %s %s: %w", j.table, target, err)
		}
		if !ok {
			if err := t.NewChain(j.table, target); err != nil {
				return fmt.Errorf("create chain %s %s: %w", j.table, target, err)
			}
		}
		ok, err = t.Exists(j.table, j.chain, j.rule...)
		if err != nil {
			return fmt.Errorf("look for jump from %s %s to %s: %w", j.table, j.chain, target, err)
		}
		if ok {
			continue
		}
		if err := t.Insert(j.table, j.chain, 1, j.rule...); err != nil {
			return fmt.Errorf("add jump from %s %s to %s: %w", j.table, j.chain, target, err)
		}
	}
	return nil
}

// Run watches Services and Endpoints through client and syncs on every
// change, at most once per MinSyncPeriod and at least once per SyncPeriod,
// until ctx ends. A failed sync is retried after MinSyncPeriod.
func (p *Proxier) Run(ctx context.Context, client kubernetes.Interface) error {
	return watchServices(ctx, client, p.opts, func(ctx context.Context, services []*corev1.Service, endpoints []*corev1.Endpoints, force bool) error {
		p.OnServices(services)
		p.OnEndpoints(endpoints)
		return p.Sync(ctx, force)
	})
}

// syncFunc brings the node to the given state; force asks to repair
// whatever may have drifted since the last sync.
type syncFunc func(ctx context.Context, services []*corev1.Service, endpoints []*corev1.Endpoints, force bool) error

// watchServices watches Services and Endpoints through client and calls
// sync with the whole state on every change, at most once per
// opts.MinSyncPeriod and with force at least once per opts.SyncPeriod,
// until ctx ends. A failed sync is retried after MinSyncPeriod, forced.
func watchServices(ctx context.Context, client kubernetes.Interface, opts Options, sync syncFunc) error {
	factory := informers.NewSharedInformerFactory(client, 0)
	svcInf := factory.Core().V1().Services()
	epInf := factory.Core().V1().Endpoints() //nolint:staticcheck // Endpoints is what the controller manager writes.
	kick := make(chan struct{}, 1)
	notify := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	if _, err := svcInf.Informer().AddEventHandler(handler); err != nil {
		return fmt.Errorf("watch services: %w", err)
	}
	if _, err := epInf.Informer().AddEventHandler(handler); err != nil {
		return fmt.Errorf("watch endpoints: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sync %v informer cache", typ)
		}
	}

	periodic := time.NewTicker(opts.SyncPeriod)
	defer periodic.Stop()
	var last, lastFull time.Time
	force := true
	for {
		// Wait out the rest of MinSyncPeriod; changes that arrive meanwhile
		// are coalesced in kick and served by this sync.
		if wait := opts.MinSyncPeriod - time.Since(last); !last.IsZero() && wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		select {
		case <-kick:
		default:
		}
		services, err := svcInf.Lister().List(labels.Everything())
		if err != nil {
			return fmt.Errorf("list services: %w", err)
		}
		endpoints, err := epInf.Lister().List(labels.Everything())
		if err != nil {
			return fmt.Errorf("list endpoints: %w", err)
		}
		last = time.Now()
		if force {
			lastFull = last
		}
		if err := sync(ctx, services, endpoints, force); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			opts.Logger.Error("proxy sync failed", "err", err)
			force = true
			notify()
		} else {
			force = false
		}

		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-periodic.C:
			force = force || time.Since(lastFull) >= opts.FullSyncPeriod
		}
	}
}
