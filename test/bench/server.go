package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/apiserver"
)

// benchServer is one cairn API server running in this process on a data
// dir, with its embedded etcd.
type benchServer struct {
	srv    *apiserver.Server
	reg    *prometheus.Registry // the server's metrics
	dir    string
	ownDir bool
	cancel context.CancelFunc
	done   chan error
}

// startServer starts a server on dir (a new temporary directory when dir is
// "") on a free loopback port and waits until it serves.
//
// Every goroutine of the server (HTTP, storage, embedded etcd) carries the
// pprof label side=server, inherited from the goroutine that starts Run, so
// a CPU profile of the whole process can tell the server's cost from the
// load generator's (which runs under side=client).
func startServer(ctx context.Context, dir string, logger *slog.Logger) (*benchServer, error) {
	bs := &benchServer{dir: dir, done: make(chan error, 1), reg: prometheus.NewRegistry()}
	if dir == "" {
		d, err := os.MkdirTemp("", "cairn-bench-")
		if err != nil {
			return nil, err
		}
		bs.dir, bs.ownDir = d, true
	}
	srv, err := apiserver.New(apiserver.Config{
		DataDir: bs.dir, BindAddress: "127.0.0.1", SecurePort: 0, Logger: logger, Registry: bs.reg,
	})
	if err != nil {
		bs.removeDir()
		return nil, err
	}
	bs.srv = srv
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	bs.cancel = cancel
	pprof.Do(runCtx, pprof.Labels("side", "server"), func(ctx context.Context) {
		go func() { bs.done <- srv.Run(ctx) }()
	})
	timer := time.NewTimer(90 * time.Second)
	defer timer.Stop()
	select {
	case <-srv.Ready():
		return bs, nil
	case err := <-bs.done:
		cancel()
		bs.removeDir()
		return nil, fmt.Errorf("server stopped before serving: %w", err)
	case <-timer.C:
		err = errors.New("server did not become ready in 90s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	cancel()
	<-bs.done
	bs.removeDir()
	return nil, err
}

// stop shuts the server down, waits for it and removes a temporary data dir.
func (bs *benchServer) stop() error {
	if bs.cancel == nil {
		return nil
	}
	bs.cancel()
	bs.cancel = nil
	var err error
	select {
	case err = <-bs.done:
	case <-time.After(30 * time.Second):
		err = errors.New("server did not stop in 30s")
	}
	bs.removeDir()
	return err
}

func (bs *benchServer) removeDir() {
	if bs.ownDir {
		_ = os.RemoveAll(bs.dir)
	}
}

// restConfig is the admin kubeconfig the server wrote, without client-side
// rate limiting (QPS -1), as a load generator needs.
func (bs *benchServer) restConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(bs.dir, "admin.kubeconfig"))
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0
	cfg.UserAgent = "cairn-bench"
	return cfg, nil
}
