package kubelet

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/node/runtime"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func testPod(policy corev1.RestartPolicy, init []string, names ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{RestartPolicy: policy, NodeName: "n1"}}
	for _, n := range init {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n, Image: "img"})
	}
	for _, n := range names {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "img"})
	}
	return p
}

func running(name string, attempt int) runtime.Container {
	return runtime.Container{ID: name + "-" + string(rune('0'+attempt)), Name: name, Attempt: attempt,
		State: runtime.StateRunning, StartedAt: t0.Add(-time.Minute)}
}

func exited(name string, attempt, code int, finished time.Time) runtime.Container {
	return runtime.Container{ID: name + "-" + string(rune('0'+attempt)), Name: name, Attempt: attempt,
		State: runtime.StateExited, ExitCode: code, StartedAt: finished.Add(-time.Second), FinishedAt: finished}
}

func state(cs ...runtime.Container) *podState {
	return &podState{now: t0, containers: cs, podIP: "10.0.0.5", hostIP: "192.168.1.1",
		backoff: func(string) (backoffEntry, bool) { return backoffEntry{}, false }}
}

func starts(p podPlan) []string {
	var out []string
	for _, a := range p.start {
		out = append(out, a.container.Name+"#"+string(rune('0'+a.attempt)))
	}
	return out
}

func TestPlanPod(t *testing.T) {
	withBackoff := func(s *podState, d time.Duration, last time.Time) *podState {
		s.backoff = func(string) (backoffEntry, bool) { return backoffEntry{delay: d, lastUpdate: last}, true }
		return s
	}
	liveness := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.Containers[0].LivenessProbe = &corev1.Probe{}
		return p
	}
	failing := func(s *podState) *podState {
		s.probe = func(string, probeKind) probeResult { return probeFailure }
		return s
	}
	tests := []struct {
		name      string
		pod       *corev1.Pod
		state     *podState
		starts    []string
		kills     int
		waiting   map[string]string
		initDone  bool
		initFail  bool
		requeueGT time.Duration
	}{
		{name: "new pod starts every container", pod: testPod("Always", nil, "a", "b"), state: state(),
			starts: []string{"a#0", "b#0"}, initDone: true},
		{name: "no sandbox yet: nothing starts", pod: testPod("Always", nil, "a"),
			state:   func() *podState { s := state(); s.podIP = ""; return s }(),
			waiting: map[string]string{"a": "ContainerCreating"}},
		{name: "running containers are left alone", pod: testPod("Always", nil, "a"), state: state(running("a", 0)), initDone: true},
		{name: "first init container runs first", pod: testPod("Always", []string{"i1", "i2"}, "a"), state: state(),
			starts: []string{"i1#0"}, waiting: map[string]string{"i2": "PodInitializing", "a": "PodInitializing"}},
		{name: "second init after the first succeeded", pod: testPod("Always", []string{"i1", "i2"}, "a"),
			state: state(exited("i1", 0, 0, t0.Add(-time.Second))), starts: []string{"i2#0"}},
		{name: "app containers after all init succeeded", pod: testPod("Always", []string{"i1"}, "a"),
			state: state(exited("i1", 0, 0, t0.Add(-time.Second))), starts: []string{"a#0"}, initDone: true},
		{name: "failed init container with Never fails the pod", pod: testPod("Never", []string{"i1"}, "a"),
			state: state(exited("i1", 0, 1, t0.Add(-time.Second))), initFail: true},
		{name: "failed init container with Always restarts it", pod: testPod("Always", []string{"i1"}, "a"),
			state: state(exited("i1", 0, 1, t0.Add(-time.Second))), starts: []string{"i1#1"}},
		{name: "Always restarts a clean exit", pod: testPod("Always", nil, "a"),
			state: state(exited("a", 0, 0, t0.Add(-time.Second))), starts: []string{"a#1"}, initDone: true},
		{name: "OnFailure keeps a clean exit", pod: testPod("OnFailure", nil, "a"),
			state: state(exited("a", 0, 0, t0.Add(-time.Second))), initDone: true},
		{name: "OnFailure restarts a failure", pod: testPod("OnFailure", nil, "a"),
			state: state(exited("a", 0, 2, t0.Add(-time.Second))), starts: []string{"a#1"}, initDone: true},
		{name: "Never keeps a failure", pod: testPod("Never", nil, "a"),
			state: state(exited("a", 0, 2, t0.Add(-time.Second))), initDone: true},
		{name: "in back-off: CrashLoopBackOff and a requeue", pod: testPod("Always", nil, "a"),
			state:   withBackoff(state(exited("a", 1, 1, t0.Add(-3*time.Second))), 10*time.Second, t0.Add(-20*time.Second)),
			waiting: map[string]string{"a": "CrashLoopBackOff"}, initDone: true, requeueGT: 6 * time.Second},
		{name: "back-off over: restart", pod: testPod("Always", nil, "a"),
			state:  withBackoff(state(exited("a", 1, 1, t0.Add(-11*time.Second))), 10*time.Second, t0.Add(-30*time.Second)),
			starts: []string{"a#2"}, initDone: true},
		{name: "failed liveness kills", pod: liveness(testPod("Always", nil, "a")), state: failing(state(running("a", 0))),
			kills: 1, initDone: true},
		{name: "image pull error waits until its retry", pod: testPod("Always", nil, "a"),
			state: func() *podState {
				s := state()
				s.startErrors = map[string]startError{"a": {reason: "ErrImagePull", message: "nope", retryAt: t0.Add(5 * time.Second)}}
				return s
			}(), waiting: map[string]string{"a": "ErrImagePull"}, initDone: true, requeueGT: 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planPod(tt.pod, tt.state)
			if got := strings.Join(starts(p), ","); got != strings.Join(tt.starts, ",") {
				t.Errorf("starts %q, want %q", got, strings.Join(tt.starts, ","))
			}
			if len(p.kill) != tt.kills {
				t.Errorf("kills %v, want %d", p.kill, tt.kills)
			}
			for name, reason := range tt.waiting {
				if p.waiting[name].reason != reason {
					t.Errorf("%s waits for %q, want %q", name, p.waiting[name].reason, reason)
				}
			}
			if p.initDone != tt.initDone || p.initFailed != tt.initFail {
				t.Errorf("initDone %v initFailed %v, want %v %v", p.initDone, p.initFailed, tt.initDone, tt.initFail)
			}
			if tt.requeueGT > 0 && (p.requeue <= tt.requeueGT || p.requeue > backoffMax) {
				t.Errorf("requeue %v, want more than %v", p.requeue, tt.requeueGT)
			}
		})
	}
}

func TestBackoffGrows(t *testing.T) {
	var e backoffEntry
	ok := false
	finished := t0
	var delays []time.Duration
	for range 7 {
		if wait, _ := inBackoff(e, ok, finished, finished); ok && !wait {
			t.Fatalf("restart right after an exit not held back: %+v", e)
		}
		e, ok = nextBackoff(e, ok, finished), true
		delays = append(delays, e.delay)
		finished = finished.Add(e.delay + time.Second)
	}
	want := []time.Duration{10, 20, 40, 80, 160, 300, 300}
	for i, d := range delays {
		if d != want[i]*time.Second {
			t.Fatalf("delays %v, want %v s", delays, want)
		}
	}
	// A container that ran long enough starts over at 10s.
	if n := nextBackoff(e, true, finished.Add(11*time.Minute)); n.delay != backoffInitial {
		t.Errorf("after a long run: %v, want %v", n.delay, backoffInitial)
	}
}

func TestPodStatusPhases(t *testing.T) {
	tests := []struct {
		name  string
		pod   *corev1.Pod
		state *podState
		phase corev1.PodPhase
		ready corev1.ConditionStatus
	}{
		{"all running", testPod("Always", nil, "a", "b"), state(running("a", 0), running("b", 0)), corev1.PodRunning, corev1.ConditionTrue},
		{"one waiting to start", testPod("Always", nil, "a", "b"), state(running("a", 0)), corev1.PodPending, corev1.ConditionFalse},
		{"all succeeded, Never", testPod("Never", nil, "a"), state(exited("a", 0, 0, t0)), corev1.PodSucceeded, corev1.ConditionFalse},
		{"one failed, Never", testPod("Never", nil, "a", "b"), state(exited("a", 0, 0, t0), exited("b", 0, 1, t0)), corev1.PodFailed, corev1.ConditionFalse},
		{"all succeeded, OnFailure", testPod("OnFailure", nil, "a"), state(exited("a", 0, 0, t0)), corev1.PodSucceeded, corev1.ConditionFalse},
		{"crash looping stays Running", testPod("Always", nil, "a"),
			func() *podState {
				s := state(exited("a", 1, 1, t0.Add(-time.Second)))
				s.backoff = func(string) (backoffEntry, bool) {
					return backoffEntry{delay: 10 * time.Second, lastUpdate: t0.Add(-20 * time.Second)}, true
				}
				return s
			}(), corev1.PodRunning, corev1.ConditionFalse},
		{"initialising", testPod("Always", []string{"i"}, "a"), state(running("i", 0)), corev1.PodPending, corev1.ConditionFalse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := planPod(tt.pod, tt.state)
			st := podStatus(tt.pod, tt.state, &plan)
			if st.Phase != tt.phase {
				t.Errorf("phase %s, want %s (statuses %+v)", st.Phase, tt.phase, st.ContainerStatuses)
			}
			if got := cond(st, corev1.PodReady); got != tt.ready {
				t.Errorf("Ready %s, want %s", got, tt.ready)
			}
			if st.PodIP != "10.0.0.5" || st.HostIP != "192.168.1.1" || st.StartTime == nil {
				t.Errorf("ips/start: %q %q %v", st.PodIP, st.HostIP, st.StartTime)
			}
		})
	}
}

func cond(st corev1.PodStatus, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func TestContainerStatusDetails(t *testing.T) {
	pod := testPod("Always", nil, "a")
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
	s := state(exited("a", 0, 1, t0.Add(-time.Minute)), running("a", 1))
	s.containers[1].ImageID = "sha256:abc"
	plan := planPod(pod, s)
	st := podStatus(pod, s, &plan)
	cs := st.ContainerStatuses[0]
	if cs.RestartCount != 1 || cs.ContainerID != "containerd://a-1" || cs.ImageID != "sha256:abc" || cs.State.Running == nil {
		t.Errorf("status %+v", cs)
	}
	if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 || cs.LastTerminationState.Terminated.Reason != "Error" {
		t.Errorf("last state %+v", cs.LastTerminationState)
	}
	if cs.Ready {
		t.Error("ready before its readiness probe succeeded")
	}
	s.probe = func(string, probeKind) probeResult { return probeSuccess }
	st = podStatus(pod, s, &plan)
	if !st.ContainerStatuses[0].Ready || cond(st, corev1.PodReady) != corev1.ConditionTrue {
		t.Errorf("not ready after the probe succeeded: %+v", st)
	}
	// Transition times stay while the condition does.
	pod.Status = st
	s.now = t0.Add(time.Hour)
	again := podStatus(pod, s, &plan)
	for i := range again.Conditions {
		if !again.Conditions[i].LastTransitionTime.Equal(&st.Conditions[i].LastTransitionTime) {
			t.Errorf("condition %s moved its transition time", again.Conditions[i].Type)
		}
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "B": "y"}
	for in, want := range map[string]string{
		"plain":       "plain",
		"$(A)-$(B)":   "x-y",
		"$$(A)":       "$(A)",
		"$(MISSING)":  "$(MISSING)",
		"$(A":         "$(A",
		"cost $5":     "cost $5",
		"end$":        "end$",
		"$(A)$(A)$$$": "xx$$",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainerResources(t *testing.T) {
	c := &corev1.Container{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: mustQ("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: mustQ("500m"), corev1.ResourceMemory: mustQ("64Mi")},
	}}
	r := containerResources(c)
	if r.CPUShares != 256 || r.CPUQuota != 50000 || r.CPUPeriod != 100000 || r.MemoryLimit != 64<<20 {
		t.Errorf("resources %+v", r)
	}
	if r := containerResources(&corev1.Container{}); r.CPUShares != 2 || r.CPUQuota != 0 || r.MemoryLimit != 0 {
		t.Errorf("best effort %+v", r)
	}
}

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }
