package kubelet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cairn-dev/cairn/node/runtime"
)

// Lifecycle hooks, as the kubelet runs them: postStart right after a
// container starts (a failure kills it, and restartPolicy decides what
// next), preStop before SIGTERM, within the grace period.
const (
	// minGraceAfterPreStop is what SIGTERM still gets after a preStop hook
	// used up the grace period, as the kubelet's minimum.
	minGraceAfterPreStop = 2 * time.Second
	// postStartTimeout bounds a postStart hook, which Kubernetes leaves
	// unbounded.
	postStartTimeout = 2 * time.Minute
)

// runHook runs a lifecycle handler against a running container.
func (k *Kubelet) runHook(ctx context.Context, c *corev1.Container, id, podIP string, h *corev1.LifecycleHandler, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		out, code, err := k.rt.Exec(ctx, id, h.Exec.Command, timeout)
		if err != nil {
			return fmt.Errorf("command %q: %w", strings.Join(h.Exec.Command, " "), err)
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", strings.Join(h.Exec.Command, " "), code, strings.TrimSpace(string(out)))
		}
		return nil
	case h.HTTPGet != nil:
		if ok, msg := httpProbe(ctx, c, h.HTTPGet, podIP, timeout); !ok {
			return errors.New(msg)
		}
		return nil
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return nil
	}
	return errors.New("the hook has no handler cairn supports (exec, httpGet, sleep)")
}

// killContainer stops a container as the kubelet does: its preStop hook
// first, within the grace period, then SIGTERM with what is left of it
// (at least 2 s), then SIGKILL. spec is nil for a container whose pod is
// unknown (no hook then).
func (k *Kubelet) killContainer(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, c runtime.Container, grace time.Duration) error {
	if spec != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil && c.State == runtime.StateRunning && grace > 0 {
		start := time.Now()
		if err := k.runHook(ctx, spec, c.ID, k.podIP(pod), spec.Lifecycle.PreStop, grace); err != nil {
			k.record.Eventf(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
		}
		grace = max(grace-time.Since(start), minGraceAfterPreStop)
	}
	return k.rt.StopContainer(ctx, c.ID, grace)
}

// postStart runs a started container's postStart hook; on failure the
// container is killed, as the kubelet does.
func (k *Kubelet) postStart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string) error {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		return nil
	}
	err := k.runHook(ctx, c, id, k.podIP(pod), c.Lifecycle.PostStart, postStartTimeout)
	if err == nil {
		return nil
	}
	k.record.Eventf(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
	if serr := k.rt.StopContainer(ctx, id, gracePeriod(pod)); serr != nil {
		return errors.Join(err, serr)
	}
	return fmt.Errorf("postStart hook: %w", err)
}

func (k *Kubelet) podIP(pod *corev1.Pod) string {
	if pod == nil {
		return ""
	}
	if pod.Spec.HostNetwork {
		return k.cfg.NodeIP
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sandboxes[string(pod.UID)].ip
}
