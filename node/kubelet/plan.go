package kubelet

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cairn-dev/cairn/node/runtime"
)

// Container restart back-off, as the kubelet's: the first restart is
// immediate, then 10 s doubling up to 5 min; a container that ran for
// longer than twice the maximum starts over.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
)

// backoffEntry is one container's restart back-off.
type backoffEntry struct {
	delay      time.Duration
	lastUpdate time.Time // the finish time of the exit that set delay
}

// backoffKey names a container of a pod across its attempts.
func backoffKey(uid, container string) string { return uid + "/" + container }

// inBackoff reports whether a container that finished at finished must
// still wait before it restarts, and how long.
func inBackoff(e backoffEntry, ok bool, finished, now time.Time) (bool, time.Duration) {
	if !ok || expired(e, finished) {
		return false, 0
	}
	if wait := e.delay - now.Sub(finished); wait > 0 {
		return true, wait
	}
	return false, 0
}

// nextBackoff is the entry after a restart of a container that finished at
// finished.
func nextBackoff(e backoffEntry, ok bool, finished time.Time) backoffEntry {
	if !ok || expired(e, finished) {
		return backoffEntry{delay: backoffInitial, lastUpdate: finished}
	}
	return backoffEntry{delay: min(e.delay*2, backoffMax), lastUpdate: finished}
}

func expired(e backoffEntry, finished time.Time) bool {
	return finished.Sub(e.lastUpdate) > 2*backoffMax
}

// probeResult is what the prober last concluded for one probe.
type probeResult int

const (
	probeUnknown probeResult = iota // not yet decided, or no probe
	probeSuccess
	probeFailure
)

// probeKind names the three container probes.
type probeKind string

const (
	probeLiveness  probeKind = "Liveness"
	probeReadiness probeKind = "Readiness"
	probeStartup   probeKind = "Startup"
)

// podState is everything a pod's plan and status depend on besides the pod
// itself: what the runtime runs for it, what the probes say, the restart
// back-offs, and the pod's sandbox.
type podState struct {
	now        time.Time
	containers []runtime.Container // every attempt of every container of the pod
	probe      func(containerID string, kind probeKind) probeResult
	backoff    func(key string) (backoffEntry, bool)
	// Failures of the last attempt to start a container, by container
	// name (image pull, config errors): reason and message.
	startErrors map[string]startError
	sandboxErr  error  // setting up the pod's network failed
	podIP       string // empty until the sandbox is ready
	hostIP      string
}

type startError struct {
	reason, message string
	// retryAt: when the next attempt may be made (image pull back-off).
	retryAt time.Time
}

// attempts returns a container's attempts, newest first.
func (s *podState) attempts(name string) []runtime.Container {
	var out []runtime.Container
	for _, c := range s.containers {
		if c.Name == name {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Attempt != out[j].Attempt {
			return out[i].Attempt > out[j].Attempt
		}
		return out[i].CreatedAt.After(out[j].CreatedAt)
	})
	return out
}

func (s *podState) latest(name string) *runtime.Container {
	if a := s.attempts(name); len(a) > 0 {
		return &a[0]
	}
	return nil
}

func (s *podState) probeOf(id string, kind probeKind) probeResult {
	if s.probe == nil {
		return probeUnknown
	}
	return s.probe(id, kind)
}

// startAction starts a new attempt of a container.
type startAction struct {
	container *corev1.Container
	init      bool
	attempt   int
	// restartOf is the finish time of the attempt this one replaces, for
	// the back-off; zero for a first start.
	restartOf time.Time
}

// killAction stops a running container.
type killAction struct {
	id, name string
	reason   string // for the event: "Unhealthy", "Terminating", ...
	message  string
}

// waiting is why a container is not running, for its status.
type waiting struct{ reason, message string }

// podPlan is what syncPod must do for a pod now.
type podPlan struct {
	kill  []killAction
	start []startAction
	// waiting reasons of containers that wait, by name.
	waiting map[string]waiting
	// requeue: sync again after this long even if nothing happens (a
	// back-off expires); 0 means only on events.
	requeue time.Duration
	// initDone: every init container has succeeded.
	initDone bool
	// initFailed: an init container failed and will not be restarted.
	initFailed bool
}

func (p *podPlan) wait(name, reason, message string) {
	if p.waiting == nil {
		p.waiting = map[string]waiting{}
	}
	p.waiting[name] = waiting{reason, message}
}

func (p *podPlan) requeueIn(d time.Duration) {
	if d > 0 && (p.requeue == 0 || d < p.requeue) {
		p.requeue = d
	}
}

// restartWanted reports whether restartPolicy restarts a container that
// exited with code.
func restartWanted(policy corev1.RestartPolicy, exitCode int) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	default:
		return true
	}
}

// planPod is the kubelet's core decision for a live (not terminating, not
// finished) pod: run the init containers one at a time to completion, then
// start every app container, restart exited ones as restartPolicy says with
// CrashLoopBackOff, and kill containers whose liveness or startup probe
// failed. It is pure: the pod and its state in, actions out.
func planPod(pod *corev1.Pod, s *podState) podPlan {
	var p podPlan
	if s.podIP == "" && !pod.Spec.HostNetwork {
		for _, c := range allContainers(pod) {
			if s.sandboxErr != nil {
				p.wait(c.Name, "ContainerCreating", s.sandboxErr.Error())
			} else {
				p.wait(c.Name, "ContainerCreating", "")
			}
		}
		return p
	}
	p.initDone = planInit(pod, s, &p)
	if !p.initDone {
		for i := range pod.Spec.Containers {
			p.wait(pod.Spec.Containers[i].Name, "PodInitializing", "")
		}
		return p
	}
	for i := range pod.Spec.Containers {
		planContainer(pod, &pod.Spec.Containers[i], false, s, &p)
	}
	return p
}

// planInit plans the init containers and reports whether all succeeded.
func planInit(pod *corev1.Pod, s *podState, p *podPlan) bool {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		last := s.latest(c.Name)
		if last != nil && last.State == runtime.StateExited && last.ExitCode == 0 {
			continue
		}
		if last != nil && last.State == runtime.StateExited && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			p.initFailed = true
			return false
		}
		planContainer(pod, c, true, s, p)
		for j := i + 1; j < len(pod.Spec.InitContainers); j++ {
			p.wait(pod.Spec.InitContainers[j].Name, "PodInitializing", "")
		}
		return false
	}
	return true
}

// planContainer plans one container: start it, restart it, kill it, or
// leave it.
func planContainer(pod *corev1.Pod, c *corev1.Container, init bool, s *podState, p *podPlan) {
	if e, ok := s.startErrors[c.Name]; ok {
		if wait := e.retryAt.Sub(s.now); wait > 0 {
			p.wait(c.Name, e.reason, e.message)
			p.requeueIn(wait)
			return
		}
	}
	last := s.latest(c.Name)
	switch {
	case last == nil:
		p.start = append(p.start, startAction{container: c, init: init})
		p.wait(c.Name, "ContainerCreating", "")
		return
	case last.State == runtime.StateCreated:
		// Created but not started (the agent stopped in between): start
		// a fresh attempt; the stale one is removed.
		p.start = append(p.start, startAction{container: c, init: init, attempt: last.Attempt + 1})
		return
	case last.State == runtime.StateRunning:
		if reason, msg, failed := probeKill(c, last, s); failed {
			p.kill = append(p.kill, killAction{id: last.ID, name: c.Name, reason: reason, message: msg})
		}
		return
	case last.State == runtime.StateUnknown:
		return
	}
	// Exited.
	policy := pod.Spec.RestartPolicy
	if init && policy == corev1.RestartPolicyAlways {
		policy = corev1.RestartPolicyOnFailure // init containers rerun only on failure
	}
	if !restartWanted(policy, last.ExitCode) {
		return
	}
	e, ok := s.backoff(backoffKey(string(pod.UID), c.Name))
	if wait, d := inBackoff(e, ok, last.FinishedAt, s.now); wait {
		p.wait(c.Name, "CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
			e.delay, c.Name, pod.Name, pod.Namespace, pod.UID))
		p.requeueIn(d)
		return
	}
	p.start = append(p.start, startAction{container: c, init: init, attempt: last.Attempt + 1, restartOf: last.FinishedAt})
}

// probeKill reports whether a running container must be killed because its
// startup or liveness probe failed.
func probeKill(c *corev1.Container, last *runtime.Container, s *podState) (reason, message string, kill bool) {
	if c.StartupProbe != nil && s.probeOf(last.ID, probeStartup) == probeFailure {
		return "Unhealthy", fmt.Sprintf("Container %s failed startup probe, will be restarted", c.Name), true
	}
	if c.LivenessProbe != nil && s.probeOf(last.ID, probeLiveness) == probeFailure {
		return "Unhealthy", fmt.Sprintf("Container %s failed liveness probe, will be restarted", c.Name), true
	}
	return "", "", false
}

func allContainers(pod *corev1.Pod) []*corev1.Container {
	out := make([]*corev1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for i := range pod.Spec.InitContainers {
		out = append(out, &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}
