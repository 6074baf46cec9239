package apiserver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/apiserver"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/jointoken"
)

// TestJoinTokenOnStart: the server makes a join token on first start,
// writes it (mode 0600) and keeps it across restarts.
func TestJoinTokenOnStart(t *testing.T) {
	dir := t.TempDir()
	s := apiservertest.Start(t, dir, nil)
	path := filepath.Join(dir, apiserver.JoinTokenFile)
	read := func() string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	first := read()
	tok, err := jointoken.Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	if tok.CAHash != jointoken.CAHash(s.Srv.CA().CertPEM()) {
		t.Error("the token's CA hash is not the cluster CA's")
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("join-token file: %v, mode %v", err, info.Mode())
	}
	sec, err := s.Client("admin").CoreV1().Secrets("kube-system").Get(t.Context(), "bootstrap-token-"+tok.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != "bootstrap.kubernetes.io/token" || string(sec.Data["usage-bootstrap-authentication"]) != "true" || sec.Data["expiration"] != nil {
		t.Errorf("secret: type %s data %v", sec.Type, sec.Data)
	}
	s.Stop()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	apiservertest.Start(t, dir, nil)
	if got := read(); got != first {
		t.Errorf("after a restart the join token is %q, want %q", got, first)
	}
}
