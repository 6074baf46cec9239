package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// Mode is how the node proxies Services, as kube-proxy's --proxy-mode.
type Mode string

const (
	// ModeIPTables is kube-proxy's iptables mode: Proxier.
	ModeIPTables Mode = "iptables"
	// ModeUserspace proxies connections in Go, for machines without
	// iptables: Userspace.
	ModeUserspace Mode = "userspace"
	// ModeIPVS is kube-proxy's IPVS mode, which cairn does not implement.
	ModeIPVS Mode = "ipvs"
	// ModeNone runs no proxy, for clusters where something else does it.
	ModeNone Mode = "none"
)

// Start runs the proxy of the given mode with opts, watching Services and
// Endpoints through client, until ctx ends. An empty mode is iptables.
// ModeNone logs and returns nil at once. ModeIPVS is refused, saying
// whether the kernel could have done it. ModeIPTables first checks that
// iptables works here and says to use userspace if it does not.
func Start(ctx context.Context, client kubernetes.Interface, mode Mode, opts Options) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch mode {
	case ModeNone:
		logger.Info("service proxy disabled", "mode", string(mode))
		return nil
	case ModeIPVS:
		procDir := opts.procDir
		if procDir == "" {
			procDir = "/proc"
		}
		return ipvsError(procDir)
	case ModeIPTables, "":
		p, err := New(opts)
		if err != nil {
			return fmt.Errorf("proxy mode iptables: %w", err)
		}
		if err := p.check(ctx); err != nil {
			return fmt.Errorf("proxy mode iptables: iptables does not work on this machine: %w; use userspace", err)
		}
		logger.Info("service proxy starting", "mode", string(ModeIPTables))
		return p.Run(ctx, client)
	case ModeUserspace:
		u, err := NewUserspace(opts)
		if err != nil {
			return fmt.Errorf("proxy mode userspace: %w", err)
		}
		logger.Info("service proxy starting", "mode", string(mode))
		return u.Run(ctx, client)
	default:
		return fmt.Errorf("unknown proxy mode %q: use %s, %s, %s or %s", mode, ModeIPTables, ModeUserspace, ModeIPVS, ModeNone)
	}
}

// ipvsError is why ModeIPVS cannot run: the kernel has no IPVS, or it
// has and cairn does not implement the mode.
func ipvsError(procDir string) error {
	if !ipvsSupported(procDir) {
		return errors.New("proxy mode ipvs: the kernel has no IPVS support (no /proc/net/ip_vs); use iptables or userspace")
	}
	return errors.New("proxy mode ipvs is not implemented by cairn; use iptables or userspace")
}

// ipvsSupported reports whether the kernel has IPVS: procDir/net/ip_vs
// exists, or procDir/modules lists the ip_vs module.
func ipvsSupported(procDir string) bool {
	if _, err := os.Stat(filepath.Join(procDir, "net", "ip_vs")); err == nil {
		return true
	}
	modules, err := os.ReadFile(filepath.Join(procDir, "modules"))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(modules))
	for sc.Scan() {
		if name, _, _ := strings.Cut(sc.Text(), " "); name == "ip_vs" {
			return true
		}
	}
	return false
}

// check makes sure that go-iptables finds iptables, that iptables-save can
// read the nat table and that iptables-restore accepts input.
func (p *Proxier) check(ctx context.Context) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	if p.opts.Tables == nil {
		if _, err := p.tables(); err != nil {
			return err
		}
	}
	if _, err := p.natChains(ctx); err != nil {
		return err
	}
	// --test parses and checks without committing.
	_, err := p.opts.Exec(ctx, []byte("*nat\nCOMMIT\n"), p.opts.IptablesRestore, "-w", "--noflush", "--test")
	return err
}
