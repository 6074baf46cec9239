package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/logserver/logservertest"
)

// logsCluster is an API server with node n1, whose log server serves
// files, and pods web (container app) and multi (containers a and b)
// bound to it.
func logsCluster(t *testing.T) (*apiservertest.Server, *logservertest.Files) {
	t.Helper()
	s := apiservertest.Start(t, "", nil)
	files := logservertest.NewFiles(t)
	files.Write(t, "default", "web", "app", "one\ntwo\nthree\n")
	files.Restart(t, "default", "web", "app", "four\nfive\n")
	files.Write(t, "default", "multi", "a", "from a\n")
	files.Write(t, "default", "multi", "b", "from b\n")
	node := logservertest.Start(t, s.Srv.CA(), files)
	ctx := context.Background()
	admin := s.Client("admin")
	n := logservertest.Node(t, "n1", node)
	created := must[*corev1.Node](t)(admin.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}))
	created.Status = n.Status
	must[*corev1.Node](t)(admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}))
	for name, containers := range map[string][]string{"web": {"app"}, "multi": {"a", "b"}} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: "n1"}}
		for _, c := range containers {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "cairn.test/app:1"})
		}
		must[*corev1.Pod](t)(admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}))
	}
	return s, files
}

func TestLogs(t *testing.T) {
	s, _ := logsCluster(t)
	kc := s.Kubeconfig("viewer")
	for _, tc := range []struct {
		name   string
		args   []string
		stdout string
		stderr string
		code   int
	}{
		{"the only container", []string{"web"}, "four\nfive\n", "", 0},
		{"tail", []string{"web", "--tail", "1"}, "five\n", "", 0},
		{"limit bytes", []string{"web", "--limit-bytes", "6"}, "four\nf", "", 0},
		{"previous", []string{"web", "--previous"}, "one\ntwo\nthree\n", "", 0},
		{"previous, tail", []string{"web", "-p", "--tail=2"}, "two\nthree\n", "", 0},
		{"named container", []string{"multi", "-c", "b"}, "from b\n", "", 0},
		{"namespace", []string{"web", "-n", "default", "--tail", "1"}, "five\n", "", 0},
		{"ambiguous container", []string{"multi"}, "", "a container name must be specified for pod multi, choose one of: [a b]", 1},
		{"unknown container", []string{"multi", "-c", "z"}, "", "container z is not valid for pod multi", 1},
		{"no previous attempt", []string{"multi", "-c", "a", "--previous"}, "", `previous terminated container "a" in pod default/multi`, 1},
		{"pod not found", []string{"nope"}, "", `pod "nope" not found in namespace "default"`, 1},
		{"pod not found in another namespace", []string{"web", "-n", "kube-system"}, "", `pod "web" not found in namespace "kube-system"`, 1},
		{"bad tail", []string{"web", "--tail", "-2"}, "", "--tail -2: want -1 (all) or a number of lines", 2},
		{"bad limit", []string{"web", "--limit-bytes", "-1"}, "", "--limit-bytes -1: want 0 (no limit) or a number of bytes", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runRead(t, newLogsCmd(), append([]string{"logs", "--kubeconfig", kc}, tc.args...)...)
			if stdout != tc.stdout || code != tc.code || !strings.Contains(stderr, tc.stderr) || (tc.stderr == "") != (stderr == "") {
				t.Fatalf("got stdout %q, stderr %q, exit %d; want %q, %q, %d", stdout, stderr, code, tc.stdout, tc.stderr, tc.code)
			}
		})
	}
}

// TestLogsFollow: -f prints lines as the container writes them and ends
// when the container restarts; interrupted, it ends cleanly.
func TestLogsFollow(t *testing.T) {
	s, files := logsCluster(t)
	follow := func(ctx context.Context, out *syncBuffer) chan error {
		root := &cobra.Command{Use: "cairn", SilenceUsage: true, SilenceErrors: true}
		root.AddCommand(newLogsCmd())
		root.SetOut(out)
		root.SetErr(out)
		root.SetArgs([]string{"logs", "--kubeconfig", s.Kubeconfig("viewer"), "web", "-f", "--tail", "1"})
		done := make(chan error, 1)
		go func() { done <- root.ExecuteContext(ctx) }()
		return done
	}
	wait := func(done chan error) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("logs -f ended with %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("logs -f did not end")
		}
	}

	var out syncBuffer
	done := follow(context.Background(), &out)
	apiservertest.Eventually(t, 20*time.Second, "the tail", func() bool { return out.String() == "five\n" })
	files.Append(t, "default", "web", "app", "six\n")
	apiservertest.Eventually(t, 20*time.Second, "the appended line", func() bool { return out.String() == "five\nsix\n" })
	files.Restart(t, "default", "web", "app", "seven\n")
	wait(done)
	if out.String() != "five\nsix\n" {
		t.Fatalf("output %q", out.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var again syncBuffer
	done = follow(ctx, &again)
	apiservertest.Eventually(t, 20*time.Second, "the new attempt's tail", func() bool { return again.String() == "seven\n" })
	cancel()
	wait(done)
}
