package apiserver_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cairn-dev/cairn/apiserver"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/logserver"
	"github.com/cairn-dev/cairn/node/logserver/logservertest"
)

// logCluster is an API server and one node whose log server serves
// files: pod web (container app, bound to node n1), pod multi
// (containers a and b, on n1), pod pending (not bound) and pod lost (on
// a node that does not exist).
type logCluster struct {
	srv   *apiservertest.Server
	files *logservertest.Files
	node  *logserver.Server
}

func startLogCluster(t *testing.T) *logCluster {
	t.Helper()
	if apiserver.KubeletClientUser != logserver.APIServerUser {
		t.Fatalf("the API server's kubelet client user %q is not the one log servers allow by default, %q", apiserver.KubeletClientUser, logserver.APIServerUser)
	}
	s := apiservertest.Start(t, "", nil)
	files := logservertest.NewFiles(t)
	files.Write(t, "default", "web", "app", "one\ntwo\nthree\n")
	files.Write(t, "default", "multi", "a", "from a\n")
	files.Write(t, "default", "multi", "b", "from b\n")
	node := logservertest.Start(t, s.Srv.CA(), files)

	ctx := context.Background()
	admin := s.Client("admin")
	n := logservertest.Node(t, "n1", node)
	created, err := admin.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status = n.Status
	if _, err := admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name, node string
		containers []string
	}{{"web", "n1", []string{"app"}}, {"multi", "n1", []string{"a", "b"}}, {"pending", "", []string{"app"}}, {"lost", "gone", []string{"app"}}} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name}, Spec: corev1.PodSpec{NodeName: p.node}}
		for _, c := range p.containers {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "cairn.test/app:1"})
		}
		if _, err := admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return &logCluster{srv: s, files: files, node: node}
}

func ptr[T any](v T) *T { return &v }

func TestPodLogs(t *testing.T) {
	lc := startLogCluster(t)
	viewer := lc.srv.Client("viewer")
	ctx := context.Background()
	logs := func(pod string, opts *corev1.PodLogOptions) (string, error) {
		// As kubectl: Stream, whose errors carry the server's Status.
		stream, err := viewer.CoreV1().Pods("default").GetLogs(pod, opts).Stream(ctx)
		if err != nil {
			return "", err
		}
		defer stream.Close()
		data, err := io.ReadAll(stream)
		return string(data), err
	}

	t.Run("content", func(t *testing.T) {
		for _, tc := range []struct {
			name, pod string
			opts      corev1.PodLogOptions
			want      string
		}{
			{"the only container", "web", corev1.PodLogOptions{}, "one\ntwo\nthree\n"},
			{"named container", "multi", corev1.PodLogOptions{Container: "b"}, "from b\n"},
			{"tailLines", "web", corev1.PodLogOptions{TailLines: ptr[int64](2)}, "two\nthree\n"},
			{"tailLines 0", "web", corev1.PodLogOptions{TailLines: ptr[int64](0)}, ""},
			{"limitBytes", "web", corev1.PodLogOptions{LimitBytes: ptr[int64](6)}, "one\ntw"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := logs(tc.pod, &tc.opts)
				if err != nil || got != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
			})
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, pod string
			opts      corev1.PodLogOptions
			code      int32
			msg       string
		}{
			{"several containers", "multi", corev1.PodLogOptions{}, 400, "a container name must be specified for pod multi, choose one of: [a b]"},
			{"unknown container", "multi", corev1.PodLogOptions{Container: "c"}, 400, "container c is not valid for pod multi"},
			{"not bound", "pending", corev1.PodLogOptions{}, 400, "pod pending does not have a host assigned"},
			{"no such pod", "nope", corev1.PodLogOptions{}, 404, `pods "nope" not found`},
			{"no such node", "lost", corev1.PodLogOptions{}, 404, `nodes "gone" not found`},
			{"no previous attempt (the kubelet's 404)", "web", corev1.PodLogOptions{Previous: true}, 404, `previous terminated container "app" in pod default/web: logserver: not found`},
			{"timestamps (the kubelet's 400)", "web", corev1.PodLogOptions{Timestamps: true}, 400, "timestamps are not supported: this node keeps container logs as raw bytes without per-line timestamps"},
			{"sinceSeconds (the kubelet's 400)", "web", corev1.PodLogOptions{SinceSeconds: ptr[int64](5)}, 400, "sinceSeconds is not supported"},
			{"negative tailLines", "web", corev1.PodLogOptions{TailLines: ptr[int64](-1)}, 422, `PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := logs(tc.pod, &tc.opts)
				var status apierrors.APIStatus
				if !errorsAs(err, &status) || status.Status().Code != tc.code || !strings.HasPrefix(status.Status().Message, tc.msg) {
					t.Fatalf("got %v (%#v), want %d %q", err, err, tc.code, tc.msg)
				}
			})
		}
	})

	t.Run("previous", func(t *testing.T) {
		lc.files.Write(t, "default", "multi", "a", "first attempt\n")
		lc.files.Restart(t, "default", "multi", "a", "second attempt\n")
		if got, err := logs("multi", &corev1.PodLogOptions{Container: "a", Previous: true}); err != nil || got != "first attempt\n" {
			t.Fatalf("previous: %q, %v", got, err)
		}
		if got, err := logs("multi", &corev1.PodLogOptions{Container: "a"}); err != nil || got != "second attempt\n" {
			t.Fatalf("current: %q, %v", got, err)
		}
	})

	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		stream, err := viewer.CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{Follow: true, TailLines: ptr[int64](1)}).Stream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		lines := bufio.NewReader(stream)
		readLine := func(want string) {
			t.Helper()
			if got, err := lines.ReadString('\n'); err != nil || got != want {
				t.Fatalf("got %q, %v; want %q", got, err, want)
			}
		}
		readLine("three\n")
		lc.files.Append(t, "default", "web", "app", "four\n")
		readLine("four\n")
		lc.files.Append(t, "default", "web", "app", "five\n")
		readLine("five\n")
		// The container restarts: the follow ends after the old attempt.
		lc.files.Restart(t, "default", "web", "app", "again\n")
		if rest, err := io.ReadAll(lines); err != nil || len(rest) != 0 {
			t.Fatalf("after the restart: %q, %v; want the end", rest, err)
		}
	})
}

func errorsAs(err error, status *apierrors.APIStatus) bool {
	s, ok := err.(apierrors.APIStatus)
	if ok {
		*status = s
	}
	return ok
}

// TestPodLogsAuthorization: the viewer may read logs; an identity
// without pods/log may not; the node refuses any client certificate but
// the API server's, so the viewer cannot go around the API server; and a
// node refusing the API server is the server's error, with the node's
// message.
func TestPodLogsAuthorization(t *testing.T) {
	lc := startLogCluster(t)
	ctx := context.Background()
	if err := lc.srv.Client("viewer").CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{}).Do(ctx).Error(); err != nil {
		t.Fatalf("viewer: %v", err)
	}
	err := lc.srv.Client("scheduler").CoreV1().Pods("default").GetLogs("web", &corev1.PodLogOptions{}).Do(ctx).Error()
	if !apierrors.IsForbidden(err) {
		t.Fatalf("scheduler: got %v, want Forbidden", err)
	}

	// The viewer's own certificate, straight to the node: 403.
	cfg := lc.srv.RestConfig("viewer")
	cert, err := tls.X509KeyPair(cfg.CertData, cfg.KeyData)
	if err != nil {
		t.Fatalf("viewer kubeconfig has no client certificate: %v", err)
	}
	direct := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: lc.srv.Srv.CA().Pool(), Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}
	defer direct.CloseIdleConnections()
	resp, err := direct.Get("https://" + lc.node.Addr() + "/containerLogs/default/web/app")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "user=cairn:viewer") {
		t.Fatalf("viewer straight to the node: %d %q, want 403", resp.StatusCode, body)
	}

	// A node that allows someone else only.
	strict := logservertest.Start(t, lc.srv.Srv.CA(), lc.files, "someone-else")
	admin := lc.srv.Client("admin")
	n := logservertest.Node(t, "n2", strict)
	created, err := admin.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status = n.Status
	if _, err := admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{NodeName: "n2",
		Containers: []corev1.Container{{Name: "app", Image: "cairn.test/app:1"}}}}
	if _, err := admin.CoreV1().Pods("kube-system").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = lc.srv.Client("viewer").CoreV1().Pods("kube-system").GetLogs("web", &corev1.PodLogOptions{}).Do(ctx).Error()
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "the kubelet of node n2 refused the API server's client certificate (403): Forbidden (user=system:kube-apiserver-kubelet-client") {
		t.Fatalf("node refusing the API server: %v", err)
	}
}

// TestPodLogsPlainText: a log is served whatever the Accept header
// asks, as text, like kube-apiserver (kubectl and curl ask differently).
func TestPodLogsPlainText(t *testing.T) {
	lc := startLogCluster(t)
	cfg := rest.CopyConfig(lc.srv.RestConfig("viewer"))
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, accept := range []string{"text/plain", "application/json, */*", "application/vnd.kubernetes.protobuf"} {
		req := c.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name("web").SubResource("log").SetHeader("Accept", accept)
		res := req.Do(context.Background())
		var ct string
		data, err := res.ContentType(&ct).Raw()
		if err != nil || string(data) != "one\ntwo\nthree\n" || !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("Accept %s: %q %q, %v", accept, ct, data, err)
		}
	}
}
