package kubelet

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/runtime"
	"github.com/cairn-dev/cairn/node/runtime/fake"
)

// fakeNetwork hands out 10.1.0.x addresses.
type fakeNetwork struct {
	mu   sync.Mutex
	ips  map[string]string
	down []string
}

func (n *fakeNetwork) SetUp(_ context.Context, pod *corev1.Pod) (string, string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ips == nil {
		n.ips = map[string]string{}
	}
	ip, ok := n.ips[string(pod.UID)]
	if !ok {
		ip = fmt.Sprintf("10.1.0.%d", len(n.ips)+2)
		n.ips[string(pod.UID)] = ip
	}
	return "/run/netns/" + string(pod.UID), ip, nil
}

func (n *fakeNetwork) TearDown(_ context.Context, pod *corev1.Pod) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = append(n.down, string(pod.UID))
	return nil
}

type harness struct {
	t   *testing.T
	cs  kubernetes.Interface
	rt  *fake.Runtime
	net *fakeNetwork
	dir string
}

func newHarness(t *testing.T, opts fake.Options) *harness {
	s := apiservertest.Start(t, "", nil)
	opts.Images = append(opts.Images, "img")
	return &harness{t: t, cs: s.Client("admin"), rt: fake.New(opts), net: &fakeNetwork{}, dir: t.TempDir()}
}

// run starts a kubelet and returns a function stopping it.
func (h *harness) run() func() {
	k, err := New(Config{Client: h.cs, NodeName: "n1", NodeIP: "192.168.1.1", Runtime: h.rt, Network: h.net,
		DataDir: h.dir, RelistPeriod: 100 * time.Millisecond})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := k.Run(ctx); err != nil {
			h.t.Errorf("kubelet: %v", err)
		}
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	h.t.Cleanup(stop)
	return stop
}

func (h *harness) create(p *corev1.Pod) *corev1.Pod {
	h.t.Helper()
	p.Namespace = "default"
	p.Spec.NodeName = "n1"
	out, err := h.cs.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) get(name string) *corev1.Pod {
	p, err := h.cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return p
}

func (h *harness) wait(name, what string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	h.t.Helper()
	var last *corev1.Pod
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if last = h.get(name); last != nil && cond(last) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	if last != nil {
		h.t.Fatalf("pod %s: %s: not within %v; status %+v", name, what, timeout, last.Status)
	}
	h.t.Fatalf("pod %s: %s: not within %v; pod missing", name, what, timeout)
	return nil
}

func podReady(p *corev1.Pod) bool { return cond(p.Status, corev1.PodReady) == corev1.ConditionTrue }

func simplePod(name string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img", ImagePullPolicy: corev1.PullNever})
	}
	return p
}

func TestKubeletRunsPods(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fake.Options{Behavior: func(cfg runtime.ContainerConfig) fake.Outcome {
		if cfg.Name == "setup" {
			return fake.Outcome{ExitAfter: -1}
		}
		return fake.Outcome{}
	}})
	h.run()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"greeting": "hi"}}
	if _, err := h.cs.CoreV1().ConfigMaps("default").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := simplePod("web", "app", "sidecar")
	p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "img", Command: []string{"init"}}}
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{
		ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}}}
	p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: mustQ("64Mi")}
	created := h.create(p)
	p = h.wait("web", "Running and Ready", 10*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && podReady(p) })
	if p.Status.PodIP != "10.1.0.2" || p.Status.HostIP != "192.168.1.1" || p.Status.StartTime == nil {
		t.Errorf("addresses: %+v", p.Status)
	}
	for _, c := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodScheduled} {
		if cond(p.Status, c) != corev1.ConditionTrue {
			t.Errorf("condition %s: %+v", c, p.Status.Conditions)
		}
	}
	if st := p.Status.InitContainerStatuses; len(st) != 1 || st[0].State.Terminated == nil || st[0].State.Terminated.Reason != "Completed" {
		t.Errorf("init status %+v", st)
	}
	var appID string
	for _, cs := range p.Status.ContainerStatuses {
		if !cs.Ready || cs.State.Running == nil || !strings.HasPrefix(cs.ContainerID, "containerd://") {
			t.Errorf("container status %+v", cs)
		}
		if cs.Name == "app" {
			appID = strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
	}
	cfg, ok := h.rt.Config(appID)
	if !ok {
		t.Fatalf("no config for %s", appID)
	}
	if cfg.Pod.UID != string(created.UID) || cfg.NetNSPath != "/run/netns/"+string(created.UID) || cfg.Resources.MemoryLimit != 64<<20 {
		t.Errorf("config %+v", cfg)
	}
	if !strings.Contains(strings.Join(cfg.Env, " "), "GREETING=hi") || !strings.Contains(strings.Join(cfg.Env, " "), "KUBERNETES_SERVICE_HOST=") {
		t.Errorf("env %v", cfg.Env)
	}
	if !strings.HasSuffix(cfg.LogPath, "/logs/app/0.log") {
		t.Errorf("log path %s", cfg.LogPath)
	}
}

func TestKubeletCrashLoopBackOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fake.Options{Behavior: func(cfg runtime.ContainerConfig) fake.Outcome {
		return fake.Outcome{ExitAfter: 50 * time.Millisecond, ExitCode: 2}
	}})
	h.run()
	h.create(simplePod("crash", "app"))
	// The first restart is immediate; the second waits 10 s.
	p := h.wait("crash", "CrashLoopBackOff", 10*time.Second, func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
	})
	cs := p.Status.ContainerStatuses[0]
	if cs.RestartCount != 1 || !strings.Contains(cs.State.Waiting.Message, "back-off 10s") ||
		cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 2 {
		t.Errorf("status %+v", cs)
	}
	if p.Status.Phase != corev1.PodRunning || podReady(p) {
		t.Errorf("phase %s ready %v", p.Status.Phase, podReady(p))
	}
	start := time.Now()
	p = h.wait("crash", "the back-off to double", 20*time.Second, func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && strings.Contains(cs[0].State.Waiting.Message, "back-off 20s")
	})
	if d := time.Since(start); d < 8*time.Second {
		t.Errorf("second restart after %v, want about 10s", d)
	}
	if rc := p.Status.ContainerStatuses[0].RestartCount; rc != 2 {
		t.Errorf("restart count %d, want 2", rc)
	}
	// Only the current attempt and the one before it are kept.
	apiservertest.Eventually(t, 5*time.Second, "the first attempt removed", func() bool { return len(h.rt.Removed()) == 1 })
	if got, want := h.rt.Removed()[0], h.rt.Created()[0]; got != want {
		t.Errorf("removed %s, want the first attempt %s", got, want)
	}
}

func TestKubeletRestartPolicyNever(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fake.Options{Behavior: func(cfg runtime.ContainerConfig) fake.Outcome {
		if cfg.Name == "fails" {
			return fake.Outcome{ExitAfter: 50 * time.Millisecond, ExitCode: 1}
		}
		return fake.Outcome{ExitAfter: 50 * time.Millisecond}
	}})
	h.run()
	ok := simplePod("job", "works")
	ok.Spec.RestartPolicy = corev1.RestartPolicyNever
	h.create(ok)
	bad := simplePod("bad", "works", "fails")
	bad.Spec.RestartPolicy = corev1.RestartPolicyNever
	h.create(bad)
	h.wait("job", "Succeeded", 10*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	p := h.wait("bad", "Failed", 10*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if cond(p.Status, corev1.PodReady) != corev1.ConditionFalse {
		t.Errorf("failed pod ready: %+v", p.Status.Conditions)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(h.rt.Created()); n != 3 {
		t.Errorf("%d containers created, want 3 (no restarts)", n)
	}
}

func TestKubeletLivenessRestarts(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	healthy := true
	h := newHarness(t, fake.Options{Exec: func(c runtime.Container, _ runtime.ContainerConfig, cmd []string) ([]byte, int, error) {
		mu.Lock()
		defer mu.Unlock()
		if healthy || c.Attempt > 0 {
			return []byte("ok"), 0, nil
		}
		return []byte("unhealthy"), 1, nil
	}})
	h.run()
	p := simplePod("live", "app")
	p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}},
		PeriodSeconds: 1, FailureThreshold: 2}
	h.create(p)
	h.wait("live", "Running", 10*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	mu.Lock()
	healthy = false
	mu.Unlock()
	p = h.wait("live", "a restart after the liveness probe failed", 15*time.Second, func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount == 1 && cs[0].State.Running != nil
	})
	if len(h.rt.Stopped()) != 1 {
		t.Errorf("stopped %v, want the first attempt", h.rt.Stopped())
	}
}

func TestKubeletGracefulDeletion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fake.Options{Behavior: func(cfg runtime.ContainerConfig) fake.Outcome {
		return fake.Outcome{IgnoreTerm: cfg.Name == "stubborn"}
	}})
	h.run()
	h.create(simplePod("del", "stubborn"))
	h.wait("del", "Running", 10*time.Second, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	grace := int64(2)
	start := time.Now()
	if err := h.cs.CoreV1().Pods("default").Delete(context.Background(), "del", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	for h.get("del") != nil {
		if time.Since(start) > 10*time.Second {
			t.Fatal("pod not deleted within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(start); d < 2*time.Second || d > 5*time.Second {
		t.Errorf("deleted after %v, want the 2s grace period", d)
	}
	apiservertest.Eventually(t, 5*time.Second, "containers removed", func() bool { return len(h.rt.Removed()) == 1 })
	h.net.mu.Lock()
	down := len(h.net.down)
	h.net.mu.Unlock()
	if down == 0 {
		t.Error("network not torn down")
	}
}

func TestKubeletAdoptsAfterRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fake.Options{})
	stop := h.run()
	h.create(simplePod("keep", "app"))
	h.create(simplePod("gone", "app"))
	p := h.wait("keep", "Ready", 10*time.Second, podReady)
	h.wait("gone", "Ready", 10*time.Second, podReady)
	id := p.Status.ContainerStatuses[0].ContainerID
	stop()
	// While the agent is down, a pod is force-deleted: the next agent
	// removes what ran for it, and adopts the other.
	zero := int64(0)
	if err := h.cs.CoreV1().Pods("default").Delete(context.Background(), "gone", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	h.run()
	apiservertest.Eventually(t, 5*time.Second, "the force-deleted pod's container removed", func() bool { return len(h.rt.Removed()) == 1 })
	time.Sleep(500 * time.Millisecond)
	p = h.get("keep")
	if got := p.Status.ContainerStatuses[0].ContainerID; got != id || p.Status.ContainerStatuses[0].RestartCount != 0 || !podReady(p) {
		t.Errorf("after restart: %s restarts %d ready %v, want %s, 0, true", got, p.Status.ContainerStatuses[0].RestartCount, podReady(p), id)
	}
	if n := len(h.rt.Created()); n != 2 {
		t.Errorf("%d containers created, want 2 (no duplicate)", n)
	}
	if st := h.rt.Stopped(); len(st) != 1 {
		t.Errorf("stopped %v, want only the deleted pod's container", st)
	}
}

// TestKubeletLifecycleHooks: postStart runs after the start, and its
// failure kills the container; preStop runs before SIGTERM on deletion,
// within the grace period.
func TestKubeletLifecycleHooks(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls []string
	h := newHarness(t, fake.Options{Exec: func(c runtime.Container, _ runtime.ContainerConfig, cmd []string) ([]byte, int, error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, c.Pod.Name+":"+strings.Join(cmd, " "))
		if cmd[0] == "fail" && c.Attempt == 0 {
			return []byte("no"), 1, nil
		}
		return nil, 0, nil
	}})
	h.run()
	hooked := simplePod("hooked", "app")
	hooked.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{
		PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"post"}}},
		PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"pre"}}},
	}
	h.create(hooked)
	bad := simplePod("badhook", "app")
	bad.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"fail"}}}}
	h.create(bad)

	h.wait("hooked", "Ready", 10*time.Second, podReady)
	// A failed postStart kills the first attempt; the second one runs.
	p := h.wait("badhook", "a restart after the failed postStart hook", 10*time.Second, func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount == 1 && cs[0].State.Running != nil
	})
	if lt := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; lt == nil {
		t.Errorf("no last state after the failed hook: %+v", p.Status.ContainerStatuses[0])
	}
	grace := int64(1)
	if err := h.cs.CoreV1().Pods("default").Delete(context.Background(), "hooked", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 10*time.Second, "the hooked pod deleted", func() bool { return h.get("hooked") == nil })
	mu.Lock()
	defer mu.Unlock()
	var hookedCalls []string
	for _, c := range calls {
		if strings.HasPrefix(c, "hooked:") {
			hookedCalls = append(hookedCalls, c)
		}
	}
	if strings.Join(hookedCalls, ",") != "hooked:post,hooked:pre" {
		t.Errorf("hook calls %v, want postStart then preStop", hookedCalls)
	}
	events, _ := h.cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=badhook"})
	found := false
	for _, e := range events.Items {
		found = found || e.Reason == "FailedPostStartHook"
	}
	if !found {
		t.Error("no FailedPostStartHook event")
	}
}
