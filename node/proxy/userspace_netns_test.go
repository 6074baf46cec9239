package proxy

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestUserspaceInNetns runs the dummy-interface path for real: the
// userspace proxy creates cairn-svc0 in a fresh network namespace, puts the
// ClusterIP on it, listens there, and removes the address with the
// Service. The proxy's sockets are made on a thread inside the namespace;
// the backend runs on the host's loopback, where the proxy's goroutines
// dial it from.
func TestUserspaceInNetns(t *testing.T) {
	ns := netns(t)
	nsRun(t, ns, "ip", "link", "set", "lo", "up")
	backend := "127.0.0.2"
	epPortN := freePort(t, backend)
	tcpBackends(t, epPortN, backend)

	u, err := NewUserspace(Options{Exec: nsRunner(ns)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	const clusterIP = "172.30.9.1"
	web := svc("ns", "web", clusterIP, port("http", 80))
	endpoints := []*corev1.Endpoints{eps("ns", "web", []string{backend}, epPort("http", epPortN))}
	sync := func(services []*corev1.Service) {
		t.Helper()
		var err error
		inNetns(t, ns, func() { err = u.Sync(context.Background(), services, endpoints, false) })
		if err != nil {
			t.Fatal(err)
		}
	}
	sync([]*corev1.Service{web})

	if addrs := nsRun(t, ns, "ip", "-o", "-4", "addr", "show", "dev", DefaultServiceInterface); !strings.Contains(addrs, "inet "+clusterIP+"/32") {
		t.Errorf("%s in the namespace lacks the ClusterIP: %s", DefaultServiceInterface, addrs)
	}
	kind := "dummy"
	if strings.Contains(nsRun(t, ns, "ip", "-d", "link", "show", "dev", DefaultServiceInterface), "bridge") {
		kind = "bridge (the kernel has no dummy driver)"
	}
	t.Logf("%s is a %s", DefaultServiceInterface, kind)
	if out, err := exec.Command("ip", "link", "show", "dev", DefaultServiceInterface).CombinedOutput(); err == nil {
		t.Errorf("%s exists on the host: %s", DefaultServiceInterface, out)
	}
	dial := func() (string, error) {
		var reply string
		var err error
		inNetns(t, ns, func() { reply, err = dialTCP(net.JoinHostPort(clusterIP, "80"), "") })
		return reply, err
	}
	for range 3 {
		if reply, err := dial(); err != nil || reply != backend {
			t.Fatalf("dial the ClusterIP in the namespace: %q, %v", reply, err)
		}
	}

	sync(nil)
	if addrs := nsRun(t, ns, "ip", "-o", "-4", "addr", "show", "dev", DefaultServiceInterface); strings.Contains(addrs, clusterIP) {
		t.Errorf("ClusterIP still on %s after the Service went: %s", DefaultServiceInterface, addrs)
	}
	if reply, err := dial(); err == nil {
		t.Errorf("removed Service still answers %q", reply)
	}
}
