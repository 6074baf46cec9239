package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/apiserver"
)

// testServer is one `cairn server` running in this process on a data dir.
type testServer struct {
	t      testing.TB
	srv    *apiserver.Server
	dir    string
	cancel context.CancelFunc
	done   chan error
}

// startServer starts an API server on dir (embedded etcd unless cfg says
// otherwise) on a free loopback port and waits until it serves.
func startServer(t testing.TB, dir string, tweak func(*apiserver.Config)) *testServer {
	t.Helper()
	cfg := apiserver.Config{
		DataDir: dir, BindAddress: "127.0.0.1", SecurePort: 0,
		CompactionInterval: time.Hour,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := apiserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{t: t, srv: srv, dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-ts.done:
		cancel()
		t.Fatalf("server stopped before serving: %v", err)
	case <-time.After(90 * time.Second):
		cancel()
		t.Fatal("server did not become ready in 90s")
	}
	t.Cleanup(ts.stop)
	return ts
}

// stop shuts the server down and waits for it (safe to call twice).
func (ts *testServer) stop() {
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	ts.cancel = nil
	select {
	case err := <-ts.done:
		if err != nil {
			ts.t.Errorf("server exited: %v", err)
		}
	case <-time.After(30 * time.Second):
		ts.t.Error("server did not stop in 30s")
	}
}

func (ts *testServer) kubeconfig(name string) string {
	return filepath.Join(ts.dir, name+".kubeconfig")
}

// restConfig loads one of the kubeconfigs the server wrote, without
// client-side rate limits.
func (ts *testServer) restConfig(name string) *rest.Config {
	ts.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", ts.kubeconfig(name))
	if err != nil {
		ts.t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	return cfg
}

func (ts *testServer) client(name string) *kubernetes.Clientset {
	ts.t.Helper()
	c, err := kubernetes.NewForConfig(ts.restConfig(name))
	if err != nil {
		ts.t.Fatal(err)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
