package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podPlan is how a pod's simulated run goes, from its annotations.
type podPlan struct {
	notReady bool
	// finishes after finishAfter, with exitCode.
	finishes    bool
	finishAfter time.Duration
	exitCode    int32
}

// planFor reads a pod's sim.cairn.dev annotations. run-for and fail apply
// to pods that may end (restartPolicy Never or OnFailure) only; a bad
// run-for is reported and ignored.
func planFor(pod *corev1.Pod) (podPlan, error) {
	var p podPlan
	a := pod.Annotations
	p.notReady = isTrue(a[AnnotationNotReady])
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure:
	default:
		return p, nil
	}
	var err error
	if v, ok := a[AnnotationRunFor]; ok {
		d, perr := time.ParseDuration(v)
		if perr != nil || d < 0 {
			err = fmt.Errorf("annotation %s: %q is not a non-negative duration", AnnotationRunFor, v)
		} else {
			p.finishes, p.finishAfter = true, d
		}
	}
	if isTrue(a[AnnotationFail]) {
		p.finishes, p.exitCode = true, 1
	}
	return p, err
}

func isTrue(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// podRun is what a pod's status depends on besides the pod.
type podRun struct {
	now time.Time
	// started is when this process started the pod, finer than the
	// status' startTime (whole seconds); zero after a restart.
	started       time.Time
	hostIP, podIP string
	failure       *podFailure // FailPod
	stopped       bool        // deleted: containers stopped
}

// desiredPodStatus is the status of a pod started on its node: Running,
// or Succeeded/Failed once its plan says it ended. Everything derives from
// the pod's current status and its times, so computing it again gives the
// same status: a pod is written only when something changed. The duration
// is how long until the status changes by itself (0: never).
func desiredPodStatus(pod *corev1.Pod, plan podPlan, r podRun) (corev1.PodStatus, time.Duration) {
	now := metav1.NewTime(r.now.Truncate(time.Second))
	s := *pod.Status.DeepCopy()
	start := now
	if s.StartTime != nil {
		start = *s.StartTime
	}
	s.StartTime = &start
	s.HostIP, s.HostIPs = r.hostIP, []corev1.HostIP{{IP: r.hostIP}}
	s.ObservedGeneration = pod.Generation
	s.PodIP, s.PodIPs = r.podIP, []corev1.PodIP{{IP: r.podIP}}

	phase := corev1.PodRunning
	var end metav1.Time
	var exit int32
	var after time.Duration
	switch {
	case r.failure != nil:
		phase, end, exit = corev1.PodFailed, metav1.NewTime(r.failure.at), 137
		s.Reason, s.Message = r.failure.reason, r.failure.message
	case r.stopped:
		phase, end = corev1.PodSucceeded, now
	case plan.finishes:
		begin := start.Time
		if !r.started.IsZero() && r.started.After(begin) {
			begin = r.started
		}
		finish := begin.Add(plan.finishAfter)
		if r.now.Before(finish) {
			after = finish.Sub(r.now)
			break
		}
		phase, end, exit = corev1.PodSucceeded, metav1.NewTime(finish.Truncate(time.Second)), plan.exitCode
		if exit != 0 {
			phase = corev1.PodFailed
		}
	}
	s.Phase = phase
	running := phase == corev1.PodRunning
	ready := running && !plan.notReady

	s.InitContainerStatuses = make([]corev1.ContainerStatus, 0, len(pod.Spec.InitContainers))
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			// A sidecar runs along the main containers.
			s.InitContainerStatuses = append(s.InitContainerStatuses, containerStatus(pod.UID, c, start, running, ready, end, 0))
			continue
		}
		cs := containerStatus(pod.UID, c, start, false, true, start, 0)
		s.InitContainerStatuses = append(s.InitContainerStatuses, cs)
	}
	s.ContainerStatuses = make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	var unready []string
	for _, c := range pod.Spec.Containers {
		s.ContainerStatuses = append(s.ContainerStatuses, containerStatus(pod.UID, c, start, running, ready, end, exit))
		if !ready {
			unready = append(unready, c.Name)
		}
	}
	sort.Slice(s.ContainerStatuses, func(i, j int) bool { return s.ContainerStatuses[i].Name < s.ContainerStatuses[j].Name })
	sort.Strings(unready)

	readyStatus, readyReason, readyMsg := corev1.ConditionTrue, "", ""
	initReason := ""
	switch {
	case phase == corev1.PodSucceeded:
		readyStatus, readyReason, initReason = corev1.ConditionFalse, "PodCompleted", "PodCompleted"
	case phase == corev1.PodFailed:
		readyStatus, readyReason = corev1.ConditionFalse, "PodFailed"
	case !ready:
		readyStatus, readyReason = corev1.ConditionFalse, "ContainersNotReady"
		readyMsg = "containers with unready status: [" + strings.Join(unready, " ") + "]"
	}
	sandbox := corev1.ConditionTrue
	if !running {
		sandbox = corev1.ConditionFalse
	}
	conds := s.Conditions
	conds = setPodCondition(conds, corev1.PodReadyToStartContainers, sandbox, "", "", now)
	conds = setPodCondition(conds, corev1.PodInitialized, corev1.ConditionTrue, initReason, "", now)
	conds = setPodCondition(conds, corev1.PodReady, readyStatus, readyReason, readyMsg, now)
	conds = setPodCondition(conds, corev1.ContainersReady, readyStatus, readyReason, readyMsg, now)
	conds = setPodCondition(conds, corev1.PodScheduled, corev1.ConditionTrue, "", "", now)
	s.Conditions = conds
	return s, after
}

// containerStatus is a container's status: running since start, or
// terminated at end with the exit code.
func containerStatus(uid types.UID, c corev1.Container, start metav1.Time, running, ready bool, end metav1.Time, exit int32) corev1.ContainerStatus {
	id := containerID(uid, c.Name)
	cs := corev1.ContainerStatus{
		Name: c.Name, Image: c.Image, ImageID: imageID(c.Image), ContainerID: id,
		Ready: ready, Started: &running,
	}
	if running {
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: start}
		return cs
	}
	reason := "Completed"
	if exit != 0 {
		reason = "Error"
	}
	cs.State.Terminated = &corev1.ContainerStateTerminated{
		ExitCode: exit, Reason: reason, StartedAt: start, FinishedAt: end, ContainerID: id,
	}
	return cs
}

// setPodCondition sets a condition in place, keeping its transition time
// while its status holds.
func setPodCondition(conds []corev1.PodCondition, t corev1.PodConditionType, s corev1.ConditionStatus, reason, msg string, now metav1.Time) []corev1.PodCondition {
	for i := range conds {
		if conds[i].Type != t {
			continue
		}
		if conds[i].Status != s {
			conds[i].Status, conds[i].LastTransitionTime = s, now
		}
		conds[i].Reason, conds[i].Message = reason, msg
		return conds
	}
	return append(conds, corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: now})
}

func containerID(uid types.UID, name string) string {
	sum := sha256.Sum256([]byte(string(uid) + "/" + name))
	return "sim://" + hex.EncodeToString(sum[:])
}

func imageID(image string) string {
	sum := sha256.Sum256([]byte(image))
	return "sim://sha256:" + hex.EncodeToString(sum[:])
}
