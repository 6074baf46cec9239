// Package logservertest runs a node log server over plain files inside a
// test, for the tests of the API server's pods/log and of `cairn logs`.
package logservertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/node/logserver"
)

// Files is a logserver.Locator over a directory: each container attempt
// is a file <dir>/<namespace>_<pod>_<container>/<attempt>.log, and the
// current attempt is the last one written with Write or Restart.
type Files struct {
	dir string

	mu      sync.Mutex
	current map[string]int // container directory → current attempt
}

// NewFiles returns an empty Files over a temporary directory.
func NewFiles(t testing.TB) *Files {
	return &Files{dir: t.TempDir(), current: map[string]int{}}
}

func (f *Files) containerDir(namespace, pod, container string) string {
	return filepath.Join(f.dir, namespace+"_"+pod+"_"+container)
}

func (f *Files) attemptPath(namespace, pod, container string, attempt int) string {
	return filepath.Join(f.containerDir(namespace, pod, container), fmt.Sprintf("%d.log", attempt))
}

// Write sets the log of the container's current attempt (the first,
// attempt 0, when the container has none yet) to data.
func (f *Files) Write(t testing.TB, namespace, pod, container, data string) {
	t.Helper()
	f.mu.Lock()
	key := f.containerDir(namespace, pod, container)
	attempt, ok := f.current[key]
	if !ok {
		f.current[key] = 0
	}
	f.mu.Unlock()
	f.writeAttempt(t, namespace, pod, container, attempt, data)
}

// Append appends data to the log of the container's current attempt.
func (f *Files) Append(t testing.TB, namespace, pod, container, data string) {
	t.Helper()
	path, err := f.LogPath(namespace, pod, container, false)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := io.WriteString(file, data); err != nil {
		t.Fatal(err)
	}
}

// Restart starts a new attempt of the container whose log is data; the
// attempt before it becomes the previous one.
func (f *Files) Restart(t testing.TB, namespace, pod, container, data string) {
	t.Helper()
	f.mu.Lock()
	key := f.containerDir(namespace, pod, container)
	attempt, ok := f.current[key]
	if ok {
		attempt++
	}
	f.mu.Unlock()
	// The file exists before the locator names it.
	f.writeAttempt(t, namespace, pod, container, attempt, data)
	f.mu.Lock()
	f.current[key] = attempt
	f.mu.Unlock()
}

func (f *Files) writeAttempt(t testing.TB, namespace, pod, container string, attempt int, data string) {
	t.Helper()
	path := f.attemptPath(namespace, pod, container, attempt)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// LogPath implements logserver.Locator.
func (f *Files) LogPath(namespace, pod, container string, previous bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	attempt, ok := f.current[f.containerDir(namespace, pod, container)]
	if !ok {
		return "", fmt.Errorf("container %q in pod %s/%s: %w", container, namespace, pod, logserver.ErrNotFound)
	}
	if previous {
		if attempt == 0 {
			return "", fmt.Errorf("previous terminated container %q in pod %s/%s: %w", container, namespace, pod, logserver.ErrNotFound)
		}
		attempt--
	}
	return f.attemptPath(namespace, pod, container, attempt), nil
}

// Issuer is a certificate authority that can issue the server's serving
// certificate (the API server's auth.CA is one).
type Issuer interface {
	IssueServing(hosts []string, ips []net.IP, validity time.Duration) (certPEM, keyPEM []byte, err error)
	Pool() *x509.CertPool
}

// Start runs a log server on 127.0.0.1 at a free port, serving loc with
// a serving certificate for 127.0.0.1 from ca, verifying clients against
// ca and allowing the given users (none: logserver.APIServerUser). It
// polls follows every 20ms and stops when the test ends.
func Start(t testing.TB, ca Issuer, loc logserver.Locator, users ...string) *logserver.Server {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueServing([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := logserver.New(logserver.Config{
		Addr: "127.0.0.1:0", Locator: loc, ServingCert: cert, ClientCAs: ca.Pool(),
		AllowedUsers: users, PollInterval: 20 * time.Millisecond, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("log server did not stop in 10s")
		}
	})
	return srv
}

// Node is a Node object whose kubelet is srv: InternalIP 127.0.0.1 and
// kubeletEndpoint port srv's.
func Node(t testing.TB, name string, srv *logserver.Server) *corev1.Node {
	t.Helper()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: name}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: Port(t, srv)}},
		},
	}
}

// Port is the port a started server listens on.
func Port(t testing.TB, srv *logserver.Server) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		t.Fatalf("port of %s: %v", srv.Addr(), err)
	}
	return int32(port)
}
