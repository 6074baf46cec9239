// Package apiservertest starts a real cairn API server with embedded etcd
// inside a test process, for the tests of every component that talks to
// the API: the scheduler, the controllers, the simulated nodes, the CLI.
package apiservertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/apiserver"
)

// Server is one API server running in this process on a data dir.
type Server struct {
	T   testing.TB
	Srv *apiserver.Server
	Dir string

	cancel context.CancelFunc
	done   chan error
}

// Start starts an API server on dir (a fresh temporary directory when
// empty; embedded etcd unless tweak says otherwise) on a free loopback
// port, waits until it serves, and stops it when the test ends. Set
// CAIRN_TEST_LOG=1 to see its log.
func Start(t testing.TB, dir string, tweak func(*apiserver.Config)) *Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := Launch(dir, tweak)
	if err != nil {
		t.Fatal(err)
	}
	s.T = t
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Launch is Start for programs that are not tests (benchmarks): the
// caller closes the server.
func Launch(dir string, tweak func(*apiserver.Config)) (*Server, error) {
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
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Srv: srv, Dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
		return s, nil
	case err := <-s.done:
		cancel()
		return nil, fmt.Errorf("server stopped before serving: %w", err)
	case <-time.After(90 * time.Second):
		cancel()
		<-s.done
		return nil, errors.New("server did not become ready in 90s")
	}
}

// Stop shuts the server down and waits for it (safe to call twice),
// failing the test if it does not stop cleanly.
func (s *Server) Stop() {
	if err := s.Close(); err != nil && s.T != nil {
		s.T.Error(err)
	}
}

// Close shuts the server down and waits for it (safe to call twice).
func (s *Server) Close() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("server exited: %w", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("server did not stop in 30s")
	}
}

// Kubeconfig is the path of the kubeconfig the server wrote for an
// identity: admin, viewer, gitsync, controller-manager or scheduler.
func (s *Server) Kubeconfig(identity string) string {
	return filepath.Join(s.Dir, identity+".kubeconfig")
}

// RestConfig loads an identity's kubeconfig, without client-side rate
// limits.
func (s *Server) RestConfig(identity string) *rest.Config {
	s.T.Helper()
	cfg, err := s.Config(identity)
	if err != nil {
		s.T.Fatal(err)
	}
	return cfg
}

// Config is RestConfig returning its error.
func (s *Server) Config(identity string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig(identity))
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0
	return cfg, nil
}

// Client is a typed clientset for an identity.
func (s *Server) Client(identity string) *kubernetes.Clientset {
	s.T.Helper()
	c, err := kubernetes.NewForConfig(s.RestConfig(identity))
	if err != nil {
		s.T.Fatal(err)
	}
	return c
}

// Eventually polls cond until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
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
