package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServerCommand runs `cairn server --secure-port 0` as a user would and
// checks that it writes server.addr and the kubeconfigs and serves /healthz.
func TestServerCommand(t *testing.T) {
	dir := t.TempDir()
	root := NewRoot()
	root.SetArgs([]string{"server", "--data-dir", dir, "--secure-port", "0", "--bind-address", "127.0.0.1", "--log-level", "error"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	addrFile := filepath.Join(dir, "server.addr")
	var addr []byte
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		if addr, err = os.ReadFile(addrFile); err == nil && len(addr) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no server.addr after 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, f := range []string{"admin", "viewer", "gitsync", "controller-manager", "scheduler"} {
		if _, err := os.Stat(filepath.Join(dir, f+".kubeconfig")); err != nil {
			t.Errorf("kubeconfig %s: %v", f, err)
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := c.Get("https://" + strings.TrimSpace(string(addr)) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}
}

func TestVersionCommand(t *testing.T) {
	root := NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "cairn v") {
		t.Fatalf("version output %q", out.String())
	}
}
