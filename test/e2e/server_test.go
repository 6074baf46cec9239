package e2e

import (
	"context"
	"net"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cairn-dev/cairn/apiserver"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
)

// testServer is one `cairn server` running in this process on a data dir.
type testServer struct {
	*apiservertest.Server
	t   testing.TB
	srv *apiserver.Server
	dir string
}

// startServer starts an API server on dir (embedded etcd unless cfg says
// otherwise) on a free loopback port and waits until it serves.
func startServer(t testing.TB, dir string, tweak func(*apiserver.Config)) *testServer {
	t.Helper()
	s := apiservertest.Start(t, dir, tweak)
	return &testServer{Server: s, t: t, srv: s.Srv, dir: s.Dir}
}

func (ts *testServer) stop() { ts.Stop() }

func (ts *testServer) kubeconfig(name string) string { return ts.Kubeconfig(name) }

func (ts *testServer) restConfig(name string) *rest.Config { return ts.RestConfig(name) }

func (ts *testServer) client(name string) *kubernetes.Clientset { return ts.Client(name) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	apiservertest.Eventually(t, timeout, what, cond)
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
