package containerd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"syscall"
	"time"

	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
)

// Exec implements runtime.Runtime: cmd runs in the container's running
// task with the container's process settings (env, user, cwd), its stdout
// and stderr captured together. After timeout the process is killed and
// Exec returns what it printed with an error.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int, error) {
	ctx = r.nsctx(ctx)
	if len(cmd) == 0 {
		return nil, -1, fmt.Errorf("containerd: exec in %s: no command", id)
	}
	c, err := r.load(ctx, id)
	if err != nil {
		return nil, -1, err
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, -1, fmt.Errorf("containerd: exec in %s: the container is not running", id)
		}
		return nil, -1, fmt.Errorf("containerd: exec in %s: %w", id, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return nil, -1, fmt.Errorf("containerd: exec in %s: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = false

	b := make([]byte, 8)
	_, _ = rand.Read(b)
	execID := "exec-" + hex.EncodeToString(b)
	out := &syncBuffer{}
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return nil, -1, fmt.Errorf("containerd: exec in %s: %w", id, err)
	}
	// Delete the exec process whatever happens, on a context that outlives
	// a cancelled ctx.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := proc.Delete(dctx, ctrd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("delete exec process", "container", id, "exec", execID, "err", err)
		}
	}()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, err := proc.Wait(wctx)
	if err != nil {
		return nil, -1, fmt.Errorf("containerd: exec in %s: %w", id, err)
	}
	if err := proc.Start(ctx); err != nil {
		return nil, -1, fmt.Errorf("containerd: exec in %s: start: %w", id, err)
	}

	var timedOut <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timedOut = t.C
	}
	var st ctrd.ExitStatus
	select {
	case st = <-exited:
	case <-timedOut:
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		return out.Bytes(), -1, fmt.Errorf("containerd: exec %q in %s: timed out after %s: %w", cmd, id, timeout, context.DeadlineExceeded)
	case <-ctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return out.Bytes(), -1, fmt.Errorf("containerd: exec %q in %s: %w", cmd, id, ctx.Err())
	}
	code, _, err := st.Result()
	if err != nil {
		return out.Bytes(), -1, fmt.Errorf("containerd: exec %q in %s: %w", cmd, id, err)
	}
	// Let the output copy finish before reading it.
	waitIO(proc.IO(), 5*time.Second)
	return out.Bytes(), int(code), nil
}

// waitIO waits, at most d, for io's copies to finish.
func waitIO(io cio.IO, d time.Duration) {
	if io == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		io.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// syncBuffer is a bytes.Buffer that stdout and stderr copy into at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
