package kubelet

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/node/runtime"
)

// containerIDPrefix is how container IDs appear in pod status, as
// "<runtime>://<id>".
const containerIDPrefix = "containerd://"

// podStatus computes a pod's status from the pod, its state and the plan
// just made for it. Like the kubelet's generateAPIPodStatus it is pure:
// times come from the containers and from the pod's previous status, so
// the same inputs give the same status and an unchanged pod is not
// written.
func podStatus(pod *corev1.Pod, s *podState, plan *podPlan) corev1.PodStatus {
	old := pod.Status
	st := corev1.PodStatus{
		HostIP:            s.hostIP,
		StartTime:         old.StartTime,
		QOSClass:          old.QOSClass,
		NominatedNodeName: old.NominatedNodeName,
	}
	if st.StartTime == nil {
		t := metav1.NewTime(s.now.Truncate(time.Second))
		st.StartTime = &t
	}
	if s.hostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: s.hostIP}}
	}
	if s.podIP != "" {
		st.PodIP = s.podIP
		st.PodIPs = []corev1.PodIP{{IP: s.podIP}}
	}
	for i := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses,
			containerStatus(pod, &pod.Spec.InitContainers[i], s, plan, true))
	}
	for i := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses,
			containerStatus(pod, &pod.Spec.Containers[i], s, plan, false))
	}
	st.Phase = podPhase(pod, &st, plan)
	if terminal(old.Phase) {
		st.Phase = old.Phase // a finished pod never runs again
	}
	st.Conditions = podConditions(pod, &st, s, plan)
	return st
}

func terminal(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }

// containerStatus is one container's status: its newest attempt's state,
// the one before as lastState, and whether it is ready.
func containerStatus(pod *corev1.Pod, c *corev1.Container, s *podState, plan *podPlan, init bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	attempts := s.attempts(c.Name)
	if len(attempts) == 0 {
		w := plan.waiting[c.Name]
		if w.reason == "" {
			w.reason = "ContainerCreating"
			if init || !plan.initDone && len(pod.Spec.InitContainers) > 0 {
				w.reason = "PodInitializing"
			}
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.reason, Message: w.message}
		return cs
	}
	last := attempts[0]
	cs.ContainerID = containerIDPrefix + last.ID
	cs.ImageID = last.ImageID
	cs.RestartCount = int32(last.Attempt)
	if len(attempts) > 1 {
		if t := terminated(&attempts[1]); t != nil {
			cs.LastTerminationState.Terminated = t
		}
	}
	switch last.State {
	case runtime.StateRunning:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(last.StartedAt.Truncate(time.Second))}
		started := c.StartupProbe == nil || s.probeOf(last.ID, probeStartup) == probeSuccess
		cs.Started = &started
		cs.Ready = started && !init && (c.ReadinessProbe == nil || s.probeOf(last.ID, probeReadiness) == probeSuccess)
	case runtime.StateExited:
		f := false
		cs.Started = &f
		if w, ok := plan.waiting[c.Name]; ok {
			// Waiting to restart: the exit becomes the last state.
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.reason, Message: w.message}
			cs.LastTerminationState.Terminated = terminated(&last)
		} else if restarting(plan, c.Name) {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
			cs.LastTerminationState.Terminated = terminated(&last)
		} else {
			cs.State.Terminated = terminated(&last)
		}
	default:
		f := false
		cs.Started = &f
		w := plan.waiting[c.Name]
		if w.reason == "" {
			w.reason = "ContainerCreating"
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.reason, Message: w.message}
	}
	return cs
}

func restarting(plan *podPlan, name string) bool {
	for _, a := range plan.start {
		if a.container.Name == name {
			return true
		}
	}
	return false
}

func terminated(c *runtime.Container) *corev1.ContainerStateTerminated {
	if c.State != runtime.StateExited {
		return nil
	}
	reason := c.Reason
	if reason == "" {
		reason = "Error"
		if c.ExitCode == 0 {
			reason = "Completed"
		}
	}
	return &corev1.ContainerStateTerminated{
		ExitCode:    int32(c.ExitCode),
		Reason:      reason,
		StartedAt:   metav1.NewTime(c.StartedAt.Truncate(time.Second)),
		FinishedAt:  metav1.NewTime(c.FinishedAt.Truncate(time.Second)),
		ContainerID: containerIDPrefix + c.ID,
	}
}

// podPhase is the kubelet's getPhase: Pending while initialising or while
// a container waits for its first start, Running while any runs (or all
// stopped but will restart), Succeeded or Failed once every container has
// stopped for good.
func podPhase(pod *corev1.Pod, st *corev1.PodStatus, plan *podPlan) corev1.PodPhase {
	if plan.initFailed {
		return corev1.PodFailed
	}
	if len(pod.Spec.InitContainers) > 0 && !plan.initDone {
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, cs := range st.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch {
		case pod.Spec.RestartPolicy == corev1.RestartPolicyAlways || pod.Spec.RestartPolicy == "":
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		default:
			return corev1.PodRunning
		}
	}
	return corev1.PodPending
}

// podConditions are PodReadyToStartContainers, Initialized,
// ContainersReady, Ready and PodScheduled, with transition times kept from
// the previous status while a condition's status stays.
func podConditions(pod *corev1.Pod, st *corev1.PodStatus, s *podState, plan *podPlan) []corev1.PodCondition {
	now := metav1.NewTime(s.now.Truncate(time.Second))
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg, LastTransitionTime: now}
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
		}
		for _, o := range pod.Status.Conditions {
			if o.Type == t && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
				c.LastProbeTime = o.LastProbeTime
			}
		}
		return c
	}
	finished := terminal(st.Phase)
	sandbox := (s.podIP != "" || pod.Spec.HostNetwork) && !finished
	var notReady, notInit []string
	for _, cs := range st.ContainerStatuses {
		if !cs.Ready {
			notReady = append(notReady, cs.Name)
		}
	}
	for _, cs := range st.InitContainerStatuses {
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			notInit = append(notInit, cs.Name)
		}
	}
	initialized := plan.initDone || len(notInit) == 0
	if finished && st.Phase == corev1.PodSucceeded {
		initialized = true
	}
	readyReason, readyMsg := "", ""
	if len(notReady) > 0 {
		readyReason, readyMsg = "ContainersNotReady", "containers with unready status: ["+strings.Join(notReady, " ")+"]"
	}
	if finished {
		readyReason = "PodCompleted"
		if st.Phase == corev1.PodFailed {
			readyReason = "PodFailed"
		}
		readyMsg = ""
	}
	initReason, initMsg := "", ""
	if !initialized {
		initReason, initMsg = "ContainersNotInitialized", "containers with incomplete status: ["+strings.Join(notInit, " ")+"]"
	}
	ready := len(notReady) == 0 && !finished && initialized
	conds := []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandbox, "", ""),
		cond(corev1.PodInitialized, initialized, initReason, initMsg),
		cond(corev1.ContainersReady, ready, readyReason, readyMsg),
		cond(corev1.PodReady, ready && readinessGatesPass(pod), readyReason, readyMsg),
	}
	scheduled := false
	for _, o := range pod.Status.Conditions {
		scheduled = scheduled || o.Type == corev1.PodScheduled
	}
	if !scheduled {
		// A pod bound by its spec, not by a scheduler: the kubelet says it
		// is scheduled, as Kubernetes' does.
		conds = append(conds, cond(corev1.PodScheduled, true, "", ""))
	}
	for _, o := range pod.Status.Conditions {
		switch o.Type {
		case corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady:
		default: // PodScheduled, readiness gates, DisruptionTarget: others own them
			conds = append(conds, o)
		}
	}
	return conds
}

// readinessGatesPass: every spec.readinessGates condition is True in the
// pod's status (set by whoever owns the gate).
func readinessGatesPass(pod *corev1.Pod) bool {
	for _, g := range pod.Spec.ReadinessGates {
		ok := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
