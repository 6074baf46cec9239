package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// kubectlResult is one finished kubectl run.
type kubectlResult struct {
	args           []string
	stdout, stderr string
	exitCode       int
}

// kubectlRunner runs the kubectl binary against a test server with a
// private HOME (so its discovery cache starts empty).
type kubectlRunner struct {
	bin  string
	home string
	ts   *testServer
}

// kubectlOrSkip finds kubectl on PATH. Without it the test is skipped,
// except under CI, where a missing prerequisite is a failure.
func kubectlOrSkip(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kubectl not on PATH (%v): CI must provide the kubectl binary for this test", err)
		}
		t.Skip("kubectl not on PATH: skipped outside CI only (under CI=true this fails)")
	}
	return bin
}

func (k *kubectlRunner) env() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "KUBECACHEDIR=")
	})
	return append(env, "HOME="+k.home)
}

func (k *kubectlRunner) command(ctx context.Context, identity string, args ...string) *exec.Cmd {
	full := append([]string{"--kubeconfig", k.ts.kubeconfig(identity), "--request-timeout=20s"}, args...)
	cmd := exec.CommandContext(ctx, k.bin, full...)
	cmd.Env = k.env()
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs kubectl to completion as identity (a kubeconfig name).
func (k *kubectlRunner) run(t *testing.T, identity string, args ...string) kubectlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := k.command(ctx, identity, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := kubectlResult{args: append([]string{identity + ":"}, args...), stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.exitCode = exitErr.ExitCode()
	default:
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, res.stdout, res.stderr)
	}
	return res
}

func (r kubectlResult) String() string {
	return "kubectl " + strings.Join(r.args, " ") + "\n--- stdout:\n" + r.stdout + "--- stderr:\n" + r.stderr
}

// tableRows splits kubectl's column output into whitespace-separated
// fields per non-empty line.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows = append(rows, f)
		}
	}
	return rows
}

// findRow returns the first row whose column col is one of names.
func findRow(rows [][]string, col int, names ...string) []string {
	for _, r := range rows {
		if len(r) > col && slices.Contains(names, r[col]) {
			return r
		}
	}
	return nil
}

func hasHeader(rows [][]string, header ...string) bool {
	return slices.ContainsFunc(rows, func(r []string) bool { return slices.Equal(r, header) })
}

// columnValue reads column name of a kubectl table line whose header line is
// header: kubectl aligns every value under its column's title.
func columnValue(header, line, name string) string {
	loc := regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(name) + `(\s|$)`).FindStringIndex(header)
	if loc == nil {
		return ""
	}
	start := loc[0]
	if header[start] == ' ' || header[start] == '\t' {
		start++
	}
	if start >= len(line) {
		return ""
	}
	if f := strings.Fields(line[start:]); len(f) > 0 {
		return f[0]
	}
	return ""
}

// TestKubectl drives the real kubectl binary against a server: table
// output for nodes and pods (plain, -A, -o wide), a watch, the viewer's
// forbidden writes and secrets, and the admin's write path, component
// statuses, api-resources and YAML output.
func TestKubectl(t *testing.T) {
	bin := kubectlOrSkip(t)
	ts := startServer(t, t.TempDir(), nil)
	k := &kubectlRunner{bin: bin, home: t.TempDir(), ts: ts}
	ctx := ctxT(t)
	admin := ts.client("admin")
	kubectlSeed(t, ctx, admin)

	for _, tc := range []struct {
		name     string
		identity string
		args     []string
		wantFail bool
		check    func(t *testing.T, r kubectlResult)
	}{
		{
			name: "viewer get nodes,pods -A", identity: "viewer", args: []string{"get", "nodes,pods", "-A"},
			check: func(t *testing.T, r kubectlResult) {
				rows := tableRows(r.stdout)
				if !hasHeader(rows, "NAME", "STATUS", "ROLES", "AGE", "VERSION") {
					t.Errorf("no nodes header NAME STATUS ROLES AGE VERSION")
				}
				if !hasHeader(rows, "NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE") {
					t.Errorf("no pods header NAMESPACE NAME READY STATUS RESTARTS AGE")
				}
				if n := findRow(rows, 0, "kn1", "node/kn1"); n == nil {
					t.Errorf("no row for node kn1")
				} else if len(n) != 5 || n[1] != "Ready" || n[2] != "<none>" || n[4] != "v1.32.0" {
					t.Errorf("node row: got %q, want [node/kn1 Ready <none> <age> v1.32.0]", n)
				}
				for _, want := range []struct{ name, ready, status string }{
					{"web-0", "1/1", "Running"}, {"pending-0", "0/1", "Pending"},
				} {
					p := findRow(rows, 1, want.name, "pod/"+want.name)
					if p == nil {
						t.Errorf("no row for pod %s", want.name)
						continue
					}
					if len(p) != 6 || p[0] != "default" || p[2] != want.ready || p[3] != want.status || p[4] != "0" {
						t.Errorf("pod row: got %q, want [default pod/%s %s %s 0 <age>]", p, want.name, want.ready, want.status)
					}
				}
			},
		},
		{
			name: "viewer get pods -o wide", identity: "viewer", args: []string{"get", "pods", "-o", "wide"},
			check: func(t *testing.T, r kubectlResult) {
				lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
				header := lines[0]
				if f := strings.Fields(header); !slices.Contains(f, "IP") || !slices.Contains(f, "NODE") {
					t.Fatalf("header %q has no IP and NODE columns", header)
				}
				want := map[string][2]string{"web-0": {"10.244.1.7", "kn1"}, "pending-0": {"<none>", "<none>"}}
				for _, line := range lines[1:] {
					f := strings.Fields(line)
					if len(f) == 0 {
						continue
					}
					w, ok := want[f[0]]
					if !ok {
						continue
					}
					delete(want, f[0])
					if ip, node := columnValue(header, line, "IP"), columnValue(header, line, "NODE"); ip != w[0] || node != w[1] {
						t.Errorf("pod %s: got IP %q NODE %q, want %q %q (line %q)", f[0], ip, node, w[0], w[1], line)
					}
				}
				for name := range want {
					t.Errorf("no row for pod %s", name)
				}
			},
		},
		{
			name: "viewer create configmap is forbidden", identity: "viewer", wantFail: true,
			args: []string{"create", "configmap", "x", "--from-literal=a=b"},
			check: func(t *testing.T, r kubectlResult) {
				for _, want := range []string{"forbidden", "cairn:viewer",
					`configmaps is forbidden: User "cairn:viewer" cannot create resource "configmaps" in API group "" in the namespace "default"`} {
					if !strings.Contains(r.stderr, want) {
						t.Errorf("stderr does not contain %q", want)
					}
				}
			},
		},
		{
			name: "viewer get secrets is forbidden", identity: "viewer", wantFail: true, args: []string{"get", "secrets"},
			check: func(t *testing.T, r kubectlResult) {
				want := `Error from server (Forbidden): secrets is forbidden: User "cairn:viewer" cannot list resource "secrets" in API group "" in the namespace "default"`
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not contain %q", want)
				}
			},
		},
		{
			name: "admin create configmap", identity: "admin", args: []string{"create", "configmap", "y", "--from-literal=a=b"},
			check: func(t *testing.T, r kubectlResult) {
				if strings.TrimSpace(r.stdout) != "configmap/y created" {
					t.Errorf("stdout: got %q, want %q", strings.TrimSpace(r.stdout), "configmap/y created")
				}
				cm, err := admin.CoreV1().ConfigMaps("default").Get(ctx, "y", metav1.GetOptions{})
				if err != nil {
					t.Fatalf("reading back configmap y: %v", err)
				}
				if cm.Data["a"] != "b" {
					t.Errorf("configmap y data: got %v, want a=b", cm.Data)
				}
			},
		},
		{
			name: "admin get componentstatuses", identity: "admin", args: []string{"get", "componentstatuses"},
			check: func(t *testing.T, r kubectlResult) {
				rows := tableRows(r.stdout)
				if len(rows) == 0 || len(rows[0]) < 2 || !slices.Equal(rows[0][:2], []string{"NAME", "STATUS"}) {
					t.Errorf("no NAME STATUS header")
				}
				if e := findRow(rows, 0, "etcd-0"); e == nil || len(e) < 2 || e[1] != "Healthy" {
					t.Errorf("etcd-0 row: got %q, want etcd-0 Healthy", e)
				}
			},
		},
		{
			name: "admin api-resources", identity: "admin", args: []string{"api-resources"},
			check: func(t *testing.T, r kubectlResult) {
				rows := tableRows(r.stdout)
				if !hasHeader(rows, "NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND") {
					t.Errorf("no header NAME SHORTNAMES APIVERSION NAMESPACED KIND")
				}
				for _, want := range [][]string{
					{"deployments", "deploy", "apps/v1", "true", "Deployment"},
					{"gitrepositories", "gitrepo,repo", "gitops.cairn.dev/v1", "true", "GitRepository"},
				} {
					if got := findRow(rows, 0, want[0]); !slices.Equal(got, want) {
						t.Errorf("%s row: got %q, want %q", want[0], got, want)
					}
				}
			},
		},
		{
			name: "admin get deploy -o yaml", identity: "admin", args: []string{"get", "deploy", "-o", "yaml"},
			check: func(t *testing.T, r kubectlResult) {
				var list struct {
					APIVersion string `json:"apiVersion"`
					Kind       string `json:"kind"`
					Items      []appsv1.Deployment
				}
				if err := yaml.Unmarshal([]byte(r.stdout), &list); err != nil {
					t.Fatalf("output is not YAML: %v", err)
				}
				if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != 1 {
					t.Fatalf("got apiVersion %q kind %q with %d items, want a v1 List of 1 deployment", list.APIVersion, list.Kind, len(list.Items))
				}
				d := list.Items[0]
				if d.APIVersion != "apps/v1" || d.Kind != "Deployment" || d.Name != "web" || d.Namespace != "default" ||
					d.UID == "" || d.ResourceVersion == "" || d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
					t.Errorf("deployment: got %s %s %s/%s uid=%q rv=%q replicas=%v", d.APIVersion, d.Kind, d.Namespace, d.Name, d.UID, d.ResourceVersion, d.Spec.Replicas)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := k.run(t, tc.identity, tc.args...)
			if failed := r.exitCode != 0; failed != tc.wantFail {
				t.Fatalf("exit code %d, want failure=%v\n%s", r.exitCode, tc.wantFail, r)
			}
			tc.check(t, r)
			if t.Failed() {
				t.Logf("%s", r)
			}
		})
	}

	t.Run("viewer get pods --watch", func(t *testing.T) {
		kubectlWatch(t, ctx, k, admin)
	})
}

// kubectlSeed creates what the kubectl test lists: a ready node kn1, a pod
// running on it with an IP, a pending pod and a deployment.
func kubectlSeed(t *testing.T, ctx context.Context, admin *kubernetes.Clientset) {
	t.Helper()
	node, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "kn1",
		Labels: map[string]string{"kubernetes.io/hostname": "kn1", "kubernetes.io/os": "linux"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	node.Status = corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.11"}, {Type: corev1.NodeHostName, Address: "kn1"}},
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.32.0", KubeProxyVersion: "v1.32.0", OSImage: "Debian GNU/Linux 12",
			KernelVersion: "6.1.0", ContainerRuntimeVersion: "containerd://1.7.22", OperatingSystem: "linux", Architecture: "amd64"},
		Capacity:    corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")},
		Allocatable: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")},
	}
	if _, err := admin.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	web, err := admin.CoreV1().Pods("default").Create(ctx, kubectlPod("web-0", "kn1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, HostIP: "10.0.0.11", PodIP: "10.244.1.7", PodIPs: []corev1.PodIP{{IP: "10.244.1.7"}},
		StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Image: "registry.k8s.io/pause:3.10", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
	}
	if _, err := admin.CoreV1().Pods("default").UpdateStatus(ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, kubectlPod("pending-0", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	replicas := int32(2)
	labels := map[string]string{"app": "web"}
	if _, err := admin.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: kubectlPod("", "").Spec}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func kubectlPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: node,
			Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}
}

// kubectlWatch runs `kubectl get pods --watch` as the viewer, waits for the
// existing pods, creates one and waits for it to show up.
func kubectlWatch(t *testing.T, ctx context.Context, k *kubectlRunner, admin *kubernetes.Clientset) {
	wctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	cmd := k.command(wctx, "viewer", "get", "pods", "--watch")
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		stdout strings.Builder
	)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdoutPipe)
		for sc.Scan() {
			mu.Lock()
			stdout.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return stdout.String()
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Kill()
		<-readDone
		_ = cmd.Wait()
	}
	defer stop()
	waitFor := func(what string, timeout time.Duration, names ...string) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			rows := tableRows(output())
			missing := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return findRow(rows, 0, n, "pod/"+n) != nil })
			if len(missing) == 0 {
				return
			}
			if time.Now().After(deadline) {
				stop()
				t.Fatalf("kubectl get pods --watch: %s: %v not printed within %s\n--- stdout:\n%s--- stderr:\n%s",
					what, missing, timeout, output(), stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the existing pods", 20*time.Second, "web-0", "pending-0")
	if !hasHeader(tableRows(output()), "NAME", "READY", "STATUS", "RESTARTS", "AGE") {
		t.Errorf("no header NAME READY STATUS RESTARTS AGE in the watch output:\n%s", output())
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, kubectlPod("watched-0", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the pod created during the watch", 10*time.Second, "watched-0")
	if row := findRow(tableRows(output()), 0, "watched-0"); row != nil && (len(row) != 5 || row[2] != "Pending") {
		t.Errorf("watched-0 row: got %q, want [watched-0 0/1 Pending 0 <age>]", row)
	}
	stop()
	if s := stderr.String(); s != "" {
		t.Logf("kubectl get pods --watch stderr:\n%s", s)
	}
}
