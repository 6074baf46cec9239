package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// DaemonOptions say where a containerd started by the agent keeps its data
// and where it listens.
type DaemonOptions struct {
	// Binary is the containerd executable; default "containerd" from PATH.
	Binary string
	// Root is containerd's persistent data directory (images, snapshots).
	Root string
	// State is containerd's state directory (sockets, task bundles).
	State string
	// Address is the gRPC socket path.
	Address string
	// LogPath receives the daemon's output; default <Root>/containerd.log.
	LogPath string
	// Timeout bounds the wait for the daemon to answer; default 20s.
	Timeout time.Duration
}

// Daemon is a handle on the containerd serving DaemonOptions.Address.
type Daemon struct {
	// Address is the socket the daemon answers on.
	Address string

	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// Started reports whether StartDaemon started the daemon (and so Stop
// stops it), rather than finding one already answering.
func (d *Daemon) Started() bool { return d.cmd != nil }

// PID is the started daemon's process id, or 0.
func (d *Daemon) PID() int {
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Stop stops a daemon StartDaemon started: SIGTERM, then SIGKILL after 10
// seconds. It leaves running containers' shims alone (they outlive the
// daemon); a handle that owns nothing does nothing.
func (d *Daemon) Stop() error {
	if d.cmd == nil {
		return nil
	}
	var err error
	d.once.Do(func() {
		select {
		case <-d.exited:
			return
		default:
		}
		if e := d.cmd.Process.Signal(syscall.SIGTERM); e != nil && !errors.Is(e, os.ErrProcessDone) {
			err = fmt.Errorf("containerd: stop daemon: %w", e)
			return
		}
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	return err
}

// StartDaemon makes sure a containerd answers on opts.Address. If one
// already does, it returns a handle that owns nothing. Otherwise it writes a
// configuration (the CRI plugin disabled) under opts.Root and starts the
// binary in its own session, so that the agent can exit and restart without
// taking the daemon, and the containers, with it.
func StartDaemon(ctx context.Context, opts DaemonOptions) (*Daemon, error) {
	if opts.Address == "" {
		return nil, errors.New("containerd: StartDaemon: no address")
	}
	if answers(opts.Address) {
		return &Daemon{Address: opts.Address}, nil
	}
	if opts.Root == "" || opts.State == "" {
		return nil, errors.New("containerd: StartDaemon: root and state are required")
	}
	bin := opts.Binary
	if bin == "" {
		bin = "containerd"
	}
	bin, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("containerd: StartDaemon: %w", err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 20 * time.Second
	}
	if opts.LogPath == "" {
		opts.LogPath = filepath.Join(opts.Root, "containerd.log")
	}
	for _, dir := range []string{opts.Root, opts.State, filepath.Dir(opts.Address), filepath.Dir(opts.LogPath)} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, fmt.Errorf("containerd: StartDaemon: %w", err)
		}
	}
	// A socket left by a daemon that died would make the new one fail.
	_ = os.Remove(opts.Address)

	cfgPath := filepath.Join(opts.Root, "cairn-containerd.toml")
	if err := os.WriteFile(cfgPath, []byte(daemonConfig(opts)), 0o600); err != nil {
		return nil, fmt.Errorf("containerd: StartDaemon: %w", err)
	}
	logf, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("containerd: StartDaemon: %w", err)
	}
	defer logf.Close()

	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = opts.Root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("containerd: start %s: %w", bin, err)
	}
	d := &Daemon{Address: opts.Address, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(d.exited)
	}()

	deadline := time.NewTimer(opts.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !answers(opts.Address) {
		select {
		case <-d.exited:
			return nil, fmt.Errorf("containerd: daemon exited at start (%s); see %s", cmd.ProcessState, opts.LogPath)
		case <-ctx.Done():
			_ = d.Stop()
			return nil, fmt.Errorf("containerd: wait for daemon: %w", ctx.Err())
		case <-deadline.C:
			_ = d.Stop()
			return nil, fmt.Errorf("containerd: daemon did not answer on %s within %s; see %s", opts.Address, opts.Timeout, opts.LogPath)
		case <-tick.C:
		}
	}
	return d, nil
}

// daemonConfig is containerd's configuration (version 2, as containerd 1.6
// and 1.7 read it) for opts.
func daemonConfig(opts DaemonOptions) string {
	q := strconv.Quote
	return "version = 2\n" +
		"root = " + q(opts.Root) + "\n" +
		"state = " + q(opts.State) + "\n" +
		"disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n" +
		"\n[grpc]\n" +
		"  address = " + q(opts.Address) + "\n" +
		"\n[ttrpc]\n" +
		"  address = " + q(opts.Address+".ttrpc") + "\n"
}

// answers reports whether something accepts connections on the socket.
func answers(address string) bool {
	c, err := net.DialTimeout("unix", address, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
