package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
)

// statusNow is the instant the seeded cluster is seen from: every
// timestamp the screen shows is written relative to it.
var statusNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// runStatus runs `cairn status` in-process at statusNow.
func runStatus(ctx context.Context, args ...string) (string, int, error) {
	cmd := newStatusCmdAt(func() time.Time { return statusNow })
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return out.String(), ee.code, nil
	case err != nil:
		return out.String(), 2, err
	}
	return out.String(), 0, nil
}

// statusMust takes a call's two results and fails the test on the error:
// statusMust(f())(t).
func statusMust[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func statusSeedNode(t *testing.T, c kubernetes.Interface, name string, mutate func(*corev1.Node)) {
	t.Helper()
	ctx := context.Background()
	n := statusMust(c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}))(t)
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
	n.Status.Capacity, n.Status.Allocatable = res, res
	n.Status.Conditions = []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure"},
	}
	if mutate != nil {
		mutate(n)
	}
	cordon := n.Spec.Unschedulable
	n = statusMust(c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}))(t)
	if cordon {
		n.Spec.Unschedulable = true
		statusMust(c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}))(t)
	}
}

// statusSeedPod creates a pod (bound when node is set) and writes its status:
// Running and ready, Running and not ready, or left Pending.
func statusSeedPod(t *testing.T, c kubernetes.Interface, ns, name, node, cpu, mem string, phase corev1.PodPhase, ready bool) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	p := statusMust(c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "web", Image: "web:1", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}},
	}, metav1.CreateOptions{}))(t)
	if phase == corev1.PodPending {
		return p
	}
	return statusSetPodReady(t, c, p, ready)
}

func statusSetPodReady(t *testing.T, c kubernetes.Interface, p *corev1.Pod, ready bool) *corev1.Pod {
	t.Helper()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: st}}
	return statusMust(c.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}))(t)
}

func statusSeedNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	statusMust(c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}))(t)
}

// statusSeedCluster writes a small cluster with one of each kind of
// trouble the status screen reports, through the admin identity.
func statusSeedCluster(t *testing.T, s *apiservertest.Server) {
	ctx := context.Background()
	admin := s.Client("admin")
	for _, ns := range []string{"shop", "cairn-system"} {
		statusSeedNamespace(t, admin, ns)
	}

	statusSeedNode(t, admin, "node-a", nil)
	statusSeedNode(t, admin, "node-b", func(n *corev1.Node) {
		n.Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady"}
	})
	statusSeedNode(t, admin, "node-c", func(n *corev1.Node) { n.Spec.Unschedulable = true })
	statusSeedNode(t, admin, "node-d", func(n *corev1.Node) {
		n.Status.Conditions[1] = corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue, Reason: "KubeletHasInsufficientMemory"}
	})

	statusSeedPod(t, admin, "shop", "web-1", "node-a", "1", "2Gi", corev1.PodRunning, true)
	statusSeedPod(t, admin, "shop", "web-2", "node-a", "1", "2Gi", corev1.PodRunning, true)
	statusSeedPod(t, admin, "shop", "web-3", "node-d", "500m", "7Gi", corev1.PodRunning, false)
	statusSeedPod(t, admin, "shop", "web-4", "", "500m", "1Gi", corev1.PodPending, false)

	// A Deployment mid-rollout: no controller runs here, so its status is
	// written as the controller would.
	d := statusMust(admin.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:2"}}}}},
	}, metav1.CreateOptions{}))(t)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3}
	statusMust(admin.AppsV1().Deployments("shop").UpdateStatus(ctx, d, metav1.UpdateOptions{}))(t)

	// The GitRepository's status as gitsync writes it when a revision
	// does not validate.
	dyn := statusMust(dynamic.NewForConfig(s.RestConfig("admin")))(t)
	res := dyn.Resource(gitopsv1.SchemeGroupVersion.WithResource("gitrepositories")).Namespace("cairn-system")
	repo := &gitopsv1.GitRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: gitopsv1.SchemeGroupVersion.String(), Kind: "GitRepository"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "cairn-system", Name: "cluster"},
		Spec:       gitopsv1.GitRepositorySpec{URL: "https://git.example.com/ops/cluster.git", Ref: gitopsv1.GitRef{Branch: "main"}},
	}
	u := statusMust(runtime.DefaultUnstructuredConverter.ToUnstructured(repo))(t)
	created := statusMust(res.Create(ctx, &unstructured.Unstructured{Object: u}, metav1.CreateOptions{}))(t)
	applied := metav1.NewTime(statusNow.Add(-42 * time.Minute))
	st := gitopsv1.GitRepositoryStatus{
		ObservedGeneration:    created.GetGeneration(),
		LastAttemptedRevision: "9e1d0c2b4a3f00112233445566778899aabbccdd",
		LastAppliedRevision:   "3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345",
		LastAppliedTime:       &applied,
		Commit:                &gitopsv1.CommitInfo{Author: "Ada Lovelace", Message: "Scale the web tier\n\nFor the launch.", Time: &applied},
		Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "ValidationFailed",
			Message: "revision 9e1d0c2b4a3f has 4 errors", LastTransitionTime: metav1.NewTime(statusNow.Add(-5 * time.Minute))}},
		Errors: []gitopsv1.SyncError{
			{File: "apps/web.yaml", Line: 7, Object: "Deployment/shop/web", Field: "spec.replicas", Message: `Invalid value: "three": must be an integer`},
			{File: "apps/web.yaml", Line: 25, Object: "Service/shop/web", Message: "spec.selectr: unknown field"},
			{File: "apps/db.yaml", Line: 3, Message: "metadata.name: Required value"},
			{File: "apps/db.yaml", Line: 40, Message: "spec.ports[0].port: Invalid value: 0"},
		},
	}
	stu := statusMust(runtime.DefaultUnstructuredConverter.ToUnstructured(&st))(t)
	created.Object["status"] = stu
	statusMust(res.UpdateStatus(ctx, created, metav1.UpdateOptions{}))(t)

	event := func(name, kind, obj, typ, reason, msg string, ago time.Duration, n int32) {
		ns := "shop"
		if kind == "Node" {
			ns = "default"
		}
		ref := corev1.ObjectReference{Kind: kind, Namespace: ns, Name: obj}
		if kind == "Node" {
			ref.Namespace = ""
		}
		ts := metav1.NewTime(statusNow.Add(-ago))
		statusMust(admin.CoreV1().Events(ns).Create(ctx, &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, InvolvedObject: ref, Type: typ, Reason: reason, Message: msg,
			Count: n, FirstTimestamp: ts, LastTimestamp: ts, Source: corev1.EventSource{Component: "test"},
		}, metav1.CreateOptions{}))(t)
	}
	event("web-4.a", "Pod", "web-4", corev1.EventTypeWarning, "FailedScheduling", "0/4 nodes are available: 1 node(s) were unschedulable.", 30*time.Second, 3)
	event("web-4.b", "Pod", "web-4", corev1.EventTypeWarning, "FailedScheduling", "0/4 nodes are available: 1 node(s) were unschedulable.", 4*time.Minute, 2)
	event("node-b.a", "Node", "node-b", corev1.EventTypeWarning, "NodeNotReady", "Node node-b status is now: NodeNotReady", 6*time.Minute, 1)
	event("web-old.a", "Pod", "web-old", corev1.EventTypeWarning, "BackOff", "too old to show", 20*time.Minute, 1)
	event("web-1.a", "Pod", "web-1", corev1.EventTypeNormal, "Scheduled", "normal events are not shown", time.Minute, 1)

	// The scheduler holds a fresh lease; the controller manager has none.
	renewed := metav1.NewMicroTime(time.Now())
	statusMust(admin.CoordinationV1().Leases("kube-system").Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-scheduler"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("sched-1"), LeaseDurationSeconds: ptr.To[int32](15),
			RenewTime: &renewed, AcquireTime: &renewed},
	}, metav1.CreateOptions{}))(t)
}

// statusNormalize replaces what changes from run to run: the server's
// port and the ages of objects whose creation time the server sets.
func statusNormalize(out, server string) string {
	out = strings.ReplaceAll(out, server, "https://SERVER")
	out = regexp.MustCompile(`"created": "[^"]*"`).ReplaceAllString(out, `"created": "CREATED"`)
	return regexp.MustCompile(`\b\d[\dsmhdy]* old`).ReplaceAllString(out, "AGE old")
}

// TestStatusGolden reads a real server seeded with a NotReady node, a
// cordoned one, one under memory pressure, a Deployment mid-rollout, a
// failing GitRepository and warnings, through the viewer identity: the
// screen names each problem and the command exits 1.
func TestStatusGolden(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	statusSeedCluster(t, s)
	server := s.RestConfig("viewer").Host

	out, code, err := runStatus(context.Background(), "--kubeconfig", s.Kubeconfig("viewer"))
	if err != nil || code != 1 {
		t.Fatalf("exit %d, err %v, want exit 1 (the cluster is not OK)\n%s", code, err, out)
	}
	checkGolden(t, "status/screen.golden", statusNormalize(out, server))

	out, code, err = runStatus(context.Background(), "--kubeconfig", s.Kubeconfig("viewer"), "-o", "json")
	if err != nil || code != 1 {
		t.Fatalf("-o json: exit %d, err %v\n%s", code, err, out)
	}
	checkGolden(t, "status/json.golden", statusNormalize(out, server))
}

// TestStatusUnreachable: a server that is not there is an error that
// says so, exit 2.
func TestStatusUnreachable(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	kubeconfig := s.Kubeconfig("viewer")
	s.Stop()
	out, code, err := runStatus(context.Background(), "--kubeconfig", kubeconfig)
	if code != 2 || err == nil || !strings.Contains(err.Error(), "cannot reach the API server") {
		t.Fatalf("exit %d, err %v, want 2 and a 'cannot reach' error\n%s", code, err, out)
	}
}

// TestStatusHelperProcess is not a test: TestStatusTerminal runs the test
// binary through it to get `cairn status` on a real terminal without
// building the cairn binary.
func TestStatusHelperProcess(t *testing.T) {
	if os.Getenv("CAIRN_STATUS_HELPER") != "1" {
		return // only TestStatusTerminal's child does anything
	}
	os.Exit(Main(flag.Args()))
}

// TestStatusTerminal runs `cairn status --watch` on a tmux terminal,
// sees the screen, makes a pod ready and sees the screen redraw.
func TestStatusTerminal(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is required in CI")
		}
		t.Skip("tmux is not installed")
	}
	s := apiservertest.Start(t, "", nil)
	admin := s.Client("admin")
	statusSeedNamespace(t, admin, "shop")
	statusSeedNode(t, admin, "node-a", nil)
	statusSeedPod(t, admin, "shop", "web-1", "node-a", "1", "1Gi", corev1.PodRunning, true)
	slow := statusSeedPod(t, admin, "shop", "web-2", "node-a", "1", "1Gi", corev1.PodRunning, false)

	// A socket of its own keeps this test away from anyone's tmux server.
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-S", sock, "-u"}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = tm("kill-server") })
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The shell keeps the pane open after the command ends, so a crash
	// stays on the screen for the failure message.
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	command := fmt.Sprintf("env CAIRN_STATUS_HELPER=1 LANG=C.UTF-8 %s -test.run='^TestStatusHelperProcess$' -- status --watch --interval 200ms --kubeconfig %s; echo exited $?; sleep 60",
		quote(self), quote(s.Kubeconfig("viewer")))
	if out, err := tm("new-session", "-d", "-x", "120", "-y", "40", "sh", "-c", command); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	screen := ""
	waitScreen := func(what string, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			out, err := tm("capture-pane", "-p")
			if err == nil {
				screen = out
				if cond(screen) {
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("the screen never showed %s; last screen:\n%s", what, screen)
	}
	podsLine := func(sc string) string {
		for line := range strings.Lines(sc) {
			if strings.HasPrefix(line, "PODS") {
				return strings.TrimSpace(line)
			}
		}
		return ""
	}

	waitScreen("the pod that is not ready", func(sc string) bool {
		return strings.Contains(podsLine(sc), "1 not ready") && strings.Contains(sc, "shop/web-2")
	})
	if !strings.HasPrefix(screen, "cairn status") {
		t.Errorf("the screen does not start at the top left:\n%s", screen)
	}
	if !strings.Contains(screen, "✓") || !strings.Contains(screen, "█") {
		t.Errorf("a terminal should get Unicode marks and bars:\n%s", screen)
	}

	statusSetPodReady(t, admin, slow, true)
	waitScreen("every pod ready", func(sc string) bool {
		return strings.Contains(podsLine(sc), "all ready") && !strings.Contains(sc, "shop/web-2")
	})
	t.Logf("the screen after the pod became ready:\n%s", screen)
	// Redrawn in place: one screen, not a second one scrolled below.
	if n := strings.Count(screen, "cairn status"); n != 1 {
		t.Errorf("the screen shows %d headers, want 1:\n%s", n, screen)
	}
}

// TestStatusDisplay: output that is not a terminal is plain ASCII as
// wide as $COLUMNS, --color forces colour and Unicode, and bad flags are
// usage errors.
func TestStatusDisplay(t *testing.T) {
	t.Setenv("COLUMNS", "80")
	var b bytes.Buffer
	if got := statusDisplay(&b, "auto"); got.Color || got.Unicode || got.Width != 80 {
		t.Errorf("piped, auto: %+v, want plain ASCII 80 wide", got)
	}
	if got := statusDisplay(&b, "always"); !got.Color || !got.Unicode {
		t.Errorf("piped, always: %+v, want colour and Unicode", got)
	}
	for _, args := range [][]string{{"-o", "yaml"}, {"--color", "sometimes"}, {"--interval", "0s"}, {"extra"}} {
		if _, code, err := runStatus(context.Background(), args...); code != 2 || err == nil {
			t.Errorf("cairn status %s: exit %d, err %v; want a usage error", strings.Join(args, " "), code, err)
		}
	}
}

// TestStatusScale times `cairn status` against 1,000 simulated nodes and
// 10,000 pods bound to them: it must answer within a second.
func TestStatusScale(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 1,000-node cluster")
	}
	const nodes, pods = 1000, 10000
	s := apiservertest.Start(t, "", nil)
	admin := statusMust(sim.NewClient(s.RestConfig("admin")))(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })

	start := time.Now()
	cluster := statusMust(sim.New(sim.Config{Client: admin, Nodes: sim.Generate(nodes, sim.GenOptions{}), NoPods: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))(t)
	wg.Go(func() { _ = cluster.Run(ctx) })
	select {
	case <-cluster.Registered():
	case <-time.After(60 * time.Second):
		t.Fatal("the simulated nodes did not register in 60s")
	}
	names := cluster.Nodes()
	t.Logf("%d nodes registered in %s", nodes, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	statusSeedNamespace(t, admin, "load")
	var (
		next    = make(chan int)
		errOnce sync.Once
		seedErr error
		writers sync.WaitGroup
	)
	for range 32 {
		writers.Go(func() {
			for i := range next {
				_, err := admin.CoreV1().Pods("load").Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Namespace: "load", Name: fmt.Sprintf("p-%05d", i)},
					Spec: corev1.PodSpec{NodeName: names[i%len(names)], Containers: []corev1.Container{{Name: "c", Image: "app:1",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")}}}}},
				}, metav1.CreateOptions{})
				if err != nil {
					errOnce.Do(func() { seedErr = err })
				}
			}
		})
	}
	for i := range pods {
		next <- i
	}
	close(next)
	writers.Wait()
	if seedErr != nil {
		t.Fatal(seedErr)
	}
	t.Logf("%d pods created in %s", pods, time.Since(start).Round(time.Millisecond))

	// The first read after the writes may find the watch cache a little
	// behind; the timed runs are the ones a person would see.
	// The per-read times go to the test log, to show what a slow run
	// waited for.
	var reads bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&reads, &slog.HandlerOptions{Level: slog.LevelDebug})))
	var best, worst time.Duration
	for i := range 3 {
		reads.Reset()
		start = time.Now()
		out, code, err := runStatus(context.Background(), "--kubeconfig", s.Kubeconfig("viewer"))
		took := time.Since(start)
		if err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		if !strings.Contains(out, fmt.Sprintf("%s of %s ready", statusCount(nodes), statusCount(nodes))) || !strings.Contains(out, "10,000 pods") {
			t.Fatalf("exit %d; the screen does not show the whole cluster:\n%s", code, out)
		}
		if i == 0 || took < best {
			best = took
		}
		worst = max(worst, took)
		t.Logf("run %d: %s\n%s", i+1, took.Round(time.Millisecond), reads.String())
	}
	t.Logf("cairn status on %d nodes and %d pods: best %s, worst %s", nodes, pods, best.Round(time.Millisecond), worst.Round(time.Millisecond))
	if worst > time.Second {
		t.Errorf("cairn status took %s, want under 1s", worst)
	}
}

// statusCount formats n as the screen does.
func statusCount(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
