package nodee2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cairn-dev/cairn/node/runtime/containerd"
	"github.com/cairn-dev/cairn/node/runtime/imagetest"
)

func testapp(name string, args ...string) corev1.Container {
	return corev1.Container{Name: name, Image: imagetest.Ref, ImagePullPolicy: corev1.PullNever, Args: args}
}

func podOn(node, name string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"test": name}},
		Spec: corev1.PodSpec{NodeName: node, Containers: containers}}
}

func create(t *testing.T, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := shared.client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		zero := int64(0)
		_ = shared.client.CoreV1().Pods(p.Namespace).Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	return out
}

func getPod(name string) (*corev1.Pod, error) {
	return shared.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
}

func waitPod(t *testing.T, name, what string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		p, err := getPod(name)
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pod %s: %s: not within %v; last status: %+v", name, what, timeout, last.Status)
	return nil
}

func running(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return p.Status.Phase == corev1.PodRunning
		}
	}
	return false
}

func containerID(p *corev1.Pod, name string) string {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == name {
			return strings.TrimPrefix(c.ContainerID, "containerd://")
		}
	}
	return ""
}

// TestPodRuns: a pod of the locally built image runs with its command,
// env, memory limit and volumes, as the node's runtime and cgroups show.
func TestPodRuns(t *testing.T) {
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "runs-config"}, Data: map[string]string{"greeting": "hello from git"}}
	if _, err := shared.client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	c := testapp("app", "serve", "--port", "8080")
	c.Env = []corev1.EnvVar{
		{Name: "PLAIN", Value: "v1"},
		{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "runs-config"}, Key: "greeting"}}},
		{Name: "MY_POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("500m")}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/config", ReadOnly: true}, {Name: "scratch", MountPath: "/scratch"}}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intOrStr(8080)}},
		PeriodSeconds: 1}
	p := podOn("e2e-a", "runs", c)
	p.Spec.Volumes = []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "runs-config"}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	created := create(t, p)
	p = waitPod(t, "runs", "Running and Ready", 60*time.Second, running)
	if p.Status.PodIP == "" || !strings.HasPrefix(p.Status.PodIP, "10.244.") || p.Status.HostIP != "192.168.231.11" {
		t.Errorf("addresses: pod %q host %q", p.Status.PodIP, p.Status.HostIP)
	}
	a := shared.nodes["e2e-a"]
	env, err := a.get("http://" + p.Status.PodIP + ":8080/env")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PLAIN=v1", "GREETING=hello from git", "MY_POD=runs", "KUBERNETES_SERVICE_HOST="} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q:\n%s", want, env)
		}
	}
	if body, err := a.get("http://" + p.Status.PodIP + ":8080/file?path=/config/greeting"); err != nil || body != "hello from git" {
		t.Errorf("configMap volume: %q %v", body, err)
	}
	// The memory limit, read back from the container's cgroup.
	id := containerID(p, "app")
	limit, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", "/"+netnsPrefix+"e2e-a", string(created.UID), id, "memory.limit_in_bytes"))
	if err != nil {
		t.Fatalf("reading the container's cgroup: %v", err)
	}
	if got := strings.TrimSpace(string(limit)); got != fmt.Sprint(64<<20) {
		t.Errorf("memory.limit_in_bytes %s, want %d", got, 64<<20)
	}
	quota, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpu", "/"+netnsPrefix+"e2e-a", string(created.UID), id, "cpu.cfs_quota_us"))
	if got := strings.TrimSpace(string(quota)); got != "50000" {
		t.Errorf("cpu.cfs_quota_us %s, want 50000", got)
	}
	// The container's output reaches cairn logs / kubectl logs through the
	// API server and the node's log server.
	logs, err := shared.client.CoreV1().Pods("default").GetLogs("runs", &corev1.PodLogOptions{}).Do(ctx).Raw()
	if err != nil || !strings.Contains(string(logs), "serving on :8080") {
		t.Errorf("logs %q %v", logs, err)
	}
}

func intOrStr(port int32) intstr.IntOrString { return intstr.FromInt32(port) }

// TestCrashLoopBackOff: a crashing container restarts at once, then waits
// 10 s, then 20 s.
func TestCrashLoopBackOff(t *testing.T) {
	t.Parallel()
	create(t, podOn("e2e-b", "crash", testapp("app", "exit", "--code", "3", "--after", "100ms")))
	p := waitPod(t, "crash", "CrashLoopBackOff", 60*time.Second, func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
	})
	cs := p.Status.ContainerStatuses[0]
	if !strings.Contains(cs.State.Waiting.Message, "back-off 10s") || cs.LastTerminationState.Terminated == nil ||
		cs.LastTerminationState.Terminated.ExitCode != 3 {
		t.Errorf("first back-off: %+v", cs)
	}
	first := time.Now()
	p = waitPod(t, "crash", "the back-off to double", 40*time.Second, func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && strings.Contains(cs[0].State.Waiting.Message, "back-off 20s")
	})
	if d := time.Since(first); d < 8*time.Second {
		t.Errorf("restarted after %v in a 10s back-off", d)
	}
	if rc := p.Status.ContainerStatuses[0].RestartCount; rc < 2 {
		t.Errorf("restart count %d", rc)
	}
	prev, err := shared.client.CoreV1().Pods("default").GetLogs("crash", &corev1.PodLogOptions{Previous: true}).Do(context.Background()).Raw()
	if err != nil || !strings.Contains(string(prev), "exiting with 3") {
		t.Errorf("previous logs %q %v", prev, err)
	}
}

// TestLivenessRestart: a container whose liveness probe fails is restarted.
func TestLivenessRestart(t *testing.T) {
	t.Parallel()
	c := testapp("app", "serve", "--port", "8080", "--fail-liveness-after", "2s")
	c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intOrStr(8080)}},
		PeriodSeconds: 1, FailureThreshold: 2}
	create(t, podOn("e2e-b", "liveness", c))
	first := waitPod(t, "liveness", "Running", 60*time.Second, running)
	id := containerID(first, "app")
	p := waitPod(t, "liveness", "a restart", 30*time.Second, func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 1
	})
	if containerID(p, "app") == id {
		t.Errorf("restarted but the container ID is the same")
	}
	events, _ := shared.client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=liveness"})
	var reasons []string
	for _, e := range events.Items {
		reasons = append(reasons, e.Reason)
	}
	if !strings.Contains(strings.Join(reasons, ","), "Unhealthy") || !strings.Contains(strings.Join(reasons, ","), "Killing") {
		t.Errorf("events %v, want Unhealthy and Killing", reasons)
	}
}

// TestGracefulDeletion: a container ignoring SIGTERM holds its pod for the
// grace period, then is killed and the pod removed.
func TestGracefulDeletion(t *testing.T) {
	t.Parallel()
	p := podOn("e2e-b", "graceful", testapp("app", "ignore-term"))
	grace := int64(3)
	p.Spec.TerminationGracePeriodSeconds = &grace
	create(t, p)
	waitPod(t, "graceful", "Running", 60*time.Second, running)
	start := time.Now()
	if err := shared.client.CoreV1().Pods("default").Delete(context.Background(), "graceful", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := getPod("graceful"); apierrors.IsNotFound(err) {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("pod not gone 20s after its delete")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(start); d < 3*time.Second || d > 8*time.Second {
		t.Errorf("pod gone %v after its delete, want just after the 3s grace period", d)
	}
}

// TestAgentRestartAdopts: an agent killed and started again adopts the
// running container: no restart, no duplicate.
func TestAgentRestartAdopts(t *testing.T) {
	create(t, podOn("e2e-a", "adopted", testapp("app", "serve", "--port", "8080")))
	before := waitPod(t, "adopted", "Running", 60*time.Second, running)
	id := containerID(before, "app")
	shared.restartAgent(t, "e2e-a")
	if err := shared.waitNodesReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // a few relists and syncs of the new agent
	after, err := getPod("adopted")
	if err != nil {
		t.Fatal(err)
	}
	if got := containerID(after, "app"); got != id || after.Status.ContainerStatuses[0].RestartCount != 0 || !running(after) {
		t.Errorf("after the agent's restart: container %s restarts %d running %v; want %s, 0, true",
			got, after.Status.ContainerStatuses[0].RestartCount, running(after), id)
	}
	rt, err := containerd.New(context.Background(), containerd.Options{Address: filepath.Join(shared.nodes["e2e-a"].dir, "containerd.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	all, err := rt.ListContainers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range all {
		if c.Pod.UID == string(after.UID) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d containers for the pod, want 1", n)
	}
}

// TestInitContainerAndMemoryVolume: an init container runs to completion
// before the app, and what it writes into a memory-backed emptyDir (a
// tmpfs on the node) is there for the app.
func TestInitContainerAndMemoryVolume(t *testing.T) {
	t.Parallel()
	p := podOn("e2e-b", "initialised", testapp("app", "serve", "--port", "8080"))
	p.Spec.InitContainers = []corev1.Container{testapp("setup", "write", "/work/greeting", "written by init")}
	p.Spec.InitContainers[0].VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	p.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}
	create(t, p)
	p = waitPod(t, "initialised", "Running", 60*time.Second, running)
	if st := p.Status.InitContainerStatuses; len(st) != 1 || st[0].State.Terminated == nil || st[0].State.Terminated.Reason != "Completed" {
		t.Errorf("init container status %+v", st)
	}
	body, err := shared.nodes["e2e-b"].get("http://" + p.Status.PodIP + ":8080/file?path=/work/greeting")
	if err != nil || body != "written by init" {
		t.Errorf("the app read %q, %v", body, err)
	}
}

// TestHostNetworkPod: a hostNetwork pod runs in the node's namespace, with
// the node's IP as its own.
func TestHostNetworkPod(t *testing.T) {
	t.Parallel()
	p := podOn("e2e-b", "on-host", testapp("app", "serve", "--port", "18080"))
	p.Spec.HostNetwork = true
	create(t, p)
	p = waitPod(t, "on-host", "Running", 60*time.Second, running)
	if p.Status.PodIP != "192.168.231.12" {
		t.Errorf("pod IP %q, want the node's", p.Status.PodIP)
	}
	if _, err := shared.nodes["e2e-a"].get("http://192.168.231.12:18080/"); err != nil {
		t.Errorf("reaching the hostNetwork pod on the node's address: %v", err)
	}
}
