package auth

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestWriteKubeconfig(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir())
	must(t, err)
	certPEM, keyPEM, err := ca.IssueClient(User{Name: "cairn:admin", Groups: []string{GroupMasters}}, time.Hour)
	must(t, err)

	tests := []struct {
		name    string
		k       Kubeconfig
		wantErr bool
	}{
		{name: "client certificate", k: Kubeconfig{Server: "https://127.0.0.1:6443", CAPEM: ca.CertPEM(), UserName: "cairn:admin", CertPEM: certPEM, KeyPEM: keyPEM}},
		{name: "token", k: Kubeconfig{Server: "https://cairn.example:6443", CAPEM: ca.CertPEM(), Token: "s3cret", Context: "prod"}},
		{name: "no server", k: Kubeconfig{Token: "x"}, wantErr: true},
		{name: "cert without key", k: Kubeconfig{Server: "https://x", CertPEM: certPEM}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "x.kubeconfig")
			err := WriteKubeconfig(path, tt.k)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidKubeconfig) {
					t.Fatalf("err = %v, want ErrInvalidKubeconfig", err)
				}
				return
			}
			must(t, err)
			st, err := os.Stat(path)
			must(t, err)
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", st.Mode().Perm())
			}
			cfg, err := clientcmd.BuildConfigFromFlags("", path)
			must(t, err)
			if cfg.Host != tt.k.Server {
				t.Errorf("Host = %q, want %q", cfg.Host, tt.k.Server)
			}
			if !bytes.Equal(cfg.TLSClientConfig.CAData, tt.k.CAPEM) {
				t.Error("CA data differs")
			}
			if !bytes.Equal(cfg.TLSClientConfig.CertData, tt.k.CertPEM) || !bytes.Equal(cfg.TLSClientConfig.KeyData, tt.k.KeyPEM) {
				t.Error("client cert/key differ")
			}
			if cfg.BearerToken != tt.k.Token {
				t.Errorf("BearerToken = %q, want %q", cfg.BearerToken, tt.k.Token)
			}
			raw, err := clientcmd.LoadFromFile(path)
			must(t, err)
			wantCtx := tt.k.Context
			if wantCtx == "" {
				wantCtx = DefaultContext
			}
			if raw.CurrentContext != wantCtx {
				t.Errorf("current-context %q, want %q", raw.CurrentContext, wantCtx)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("temporary files left behind: %v", entries)
			}
		})
	}
}

// TestKubeconfigAgainstServer: a client built from a written kubeconfig
// authenticates to a server using the package's TLS material.
func TestKubeconfigAgainstServer(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir())
	must(t, err)
	a := NewAuthenticator(map[string]User{"tok": {Name: "tokenuser"}}, ca.Pool())
	srv := authServer(t, ca, a)
	certPEM, keyPEM, err := ca.IssueClient(User{Name: "cairn:viewer", Groups: []string{GroupViewers}}, time.Hour)
	must(t, err)

	tests := []struct {
		name string
		k    Kubeconfig
		want string
	}{
		{"certificate", Kubeconfig{Server: srv.URL, CAPEM: ca.CertPEM(), CertPEM: certPEM, KeyPEM: keyPEM}, "cairn:viewer"},
		{"token", Kubeconfig{Server: srv.URL, CAPEM: ca.CertPEM(), Token: "tok"}, "tokenuser"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kubeconfig")
			must(t, WriteKubeconfig(path, tt.k))
			cfg, err := clientcmd.BuildConfigFromFlags("", path)
			must(t, err)
			body := restGet(t, cfg)
			if !bytes.Contains(body, []byte(`"Name":"`+tt.want+`"`)) {
				t.Fatalf("server saw %s, want user %s", body, tt.want)
			}
		})
	}
}

func restGet(t *testing.T, cfg *rest.Config) []byte {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	must(t, err)
	hc.Timeout = 10 * time.Second
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(cfg.Host)
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return body
}
