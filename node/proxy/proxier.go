package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

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
	// Exec runs iptables commands; default ExecRunner.
	Exec Runner
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
	// SyncPeriod is the most time between two syncs, which repairs rules
	// changed behind the proxy's back; default 30s.
	SyncPeriod time.Duration
	// Logger receives sync results; default discards.
	Logger *slog.Logger
}

// Proxier keeps the node's iptables rules equal to the Services and
// Endpoints it is given. Each sync is one iptables-restore transaction, so
// the rules never show a half-applied state.
type Proxier struct {
	opts Options

	mu        sync.Mutex // guards services and endpoints
	services  []*corev1.Service
	endpoints []*corev1.Endpoints

	syncMu      sync.Mutex // serializes syncs and guards the fields below
	chains      []string   // nat chains after the last sync; valid if chainsKnown
	chainsKnown bool
	jumpsOK     bool
	last        [sha256.Size]byte // state of the last successful restore
	lastOK      bool
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

// Sync writes the rules for the current state now. A state that gives the
// same rules as the last successful sync is not written again unless force
// is set; the periodic sync forces, to repair rules changed by others.
func (p *Proxier) Sync(ctx context.Context, force bool) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	start := time.Now()

	if !p.chainsKnown {
		chains, err := p.natChains(ctx)
		if err != nil {
			return err
		}
		p.chains, p.chainsKnown = chains, true
	}
	p.mu.Lock()
	services, endpoints := p.services, p.endpoints
	p.mu.Unlock()
	rs := Rules(services, endpoints, p.opts.NodeIPs, RuleOptions{
		ClusterCIDR:    p.opts.ClusterCIDR,
		MasqueradeAll:  p.opts.MasqueradeAll,
		ExistingChains: p.chains,
	})
	if !force && p.jumpsOK && p.lastOK && len(rs.Deleted) == 0 && rs.state == p.last {
		return nil
	}
	generated := time.Since(start)

	if _, err := p.opts.Exec(ctx, rs.Text, p.opts.IptablesRestore, "-w", "--noflush", "--counters"); err != nil {
		// What is in the tables is unknown now: read it again next time.
		p.chainsKnown, p.lastOK = false, false
		return fmt.Errorf("apply %d iptables rules: %w", rs.Rules, err)
	}
	p.chains, p.last, p.lastOK = rs.NATChains, rs.state, true
	// The jumps need the chains, which the restore has just created.
	if force || !p.jumpsOK {
		if err := p.ensureJumps(ctx); err != nil {
			p.jumpsOK = false
			return err
		}
		p.jumpsOK = true
	}
	p.opts.Logger.Info("proxy rules synced", "services", len(services), "rules", rs.Rules,
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

// ensureJumps inserts each jump that is missing at the top of its chain,
// so that it runs before rules others may have appended.
func (p *Proxier) ensureJumps(ctx context.Context) error {
	for _, j := range jumps {
		check := append([]string{"-w", "-t", j.table, "-C", j.chain}, j.rule...)
		if _, err := p.opts.Exec(ctx, nil, p.opts.Iptables, check...); err == nil {
			continue
		}
		insert := append([]string{"-w", "-t", j.table, "-I", j.chain}, j.rule...)
		if _, err := p.opts.Exec(ctx, nil, p.opts.Iptables, insert...); err != nil {
			return fmt.Errorf("add jump from %s %s to %s: %w", j.table, j.chain, j.rule[len(j.rule)-1], err)
		}
	}
	return nil
}

// Run watches Services and Endpoints through client and syncs on every
// change, at most once per MinSyncPeriod and at least once per SyncPeriod,
// until ctx ends. A failed sync is retried after MinSyncPeriod.
func (p *Proxier) Run(ctx context.Context, client kubernetes.Interface) error {
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

	periodic := time.NewTicker(p.opts.SyncPeriod)
	defer periodic.Stop()
	var last time.Time
	force := true
	for {
		// Wait out the rest of MinSyncPeriod; changes that arrive meanwhile
		// are coalesced in kick and served by this sync.
		if wait := p.opts.MinSyncPeriod - time.Since(last); !last.IsZero() && wait > 0 {
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
		p.OnServices(services)
		p.OnEndpoints(endpoints)
		last = time.Now()
		if err := p.Sync(ctx, force); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.opts.Logger.Error("proxy sync failed", "err", err)
			notify()
		} else {
			force = false
		}

		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-periodic.C:
			force = true
		}
	}
}
