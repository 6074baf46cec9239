package join

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/apiserver"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/apiserver/auth"
	"github.com/cairn-dev/cairn/jointoken"
)

func serverToken(t *testing.T, s *apiservertest.Server) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.Dir, apiserver.JoinTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func urlOf(s *apiservertest.Server) string { return "https://" + s.Srv.Addr() }

func nodeClient(t *testing.T, kubeconfig string) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestJoin: a node joins with the server's token; its kubeconfig
// authenticates as system:node:<name> in system:nodes, which may create
// its own Node and Lease but not touch another node's Node.
func TestJoin(t *testing.T) {
	ctx := context.Background()
	s := apiservertest.Start(t, "", nil)
	token := serverToken(t, s)
	if info, err := os.Stat(filepath.Join(s.Dir, apiserver.JoinTokenFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("join-token file: %v, mode %v", err, info.Mode())
	}
	dir := filepath.Join(t.TempDir(), "node")
	creds, err := Join(ctx, Options{
		Server: urlOf(s), Token: token, NodeName: "worker-1", Dir: dir,
		ServingHosts: []string{"worker-1.example.com"}, ServingIPs: []net.IP{net.ParseIP("10.0.0.7")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if creds.Reused {
		t.Error("first join reported reused credentials")
	}
	for name, mode := range map[string]os.FileMode{
		CAFile: 0o644, KeyFile: 0o600, CertFile: 0o644, ServingCertFile: 0o644, ServingKeyFile: 0o600, KubeconfigFile: 0o600,
	} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if info.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, info.Mode().Perm(), mode)
		}
	}
	if creds.KubeconfigPath != filepath.Join(dir, KubeconfigFile) {
		t.Errorf("KubeconfigPath = %s", creds.KubeconfigPath)
	}
	if string(creds.CAPEM) != string(s.Srv.CA().CertPEM()) {
		t.Error("CAPEM is not the cluster CA")
	}

	// The client certificate: CN system:node:worker-1, O system:nodes, ~1 year.
	leaf := creds.ClientCert.Leaf
	if leaf.Subject.CommonName != "system:node:worker-1" || !slices.Equal(leaf.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("client subject = %v", leaf.Subject)
	}
	if d := time.Until(leaf.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("client certificate valid for %v, want a year", d)
	}
	// The serving certificate covers the node name and the given names.
	sv := creds.ServingCert.Leaf
	for _, h := range []string{"worker-1", "worker-1.example.com", "10.0.0.7"} {
		if err := sv.VerifyHostname(h); err != nil {
			t.Errorf("serving certificate: %v", err)
		}
	}
	if _, err := sv.Verify(x509.VerifyOptions{Roots: s.Srv.CA().Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("serving certificate does not chain to the CA: %v", err)
	}
	// The private keys were made here: the two keys differ.
	if string(readFile(t, dir, KeyFile)) == string(readFile(t, dir, ServingKeyFile)) {
		t.Error("the client and serving keys are the same")
	}

	c := nodeClient(t, creds.KubeconfigPath)
	if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node creates its own Node: %v", err)
	}
	holder := "worker-1"
	if _, err := c.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "worker-1"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node creates its own Lease: %v", err)
	}
	admin := s.Client("admin")
	if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CoreV1().Nodes().Patch(ctx, "worker-2", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("patching another node's Node: err = %v, want forbidden", err)
	}
	_, err = c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-3"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("creating another node's Node: err = %v, want forbidden", err)
	}

	// The join was recorded as an Event.
	apiservertest.Eventually(t, 10*time.Second, "a NodeJoined event", func() bool {
		evs, err := admin.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, ev := range evs.Items {
			if ev.Reason == "NodeJoined" && ev.InvolvedObject.Name == "worker-1" {
				return true
			}
		}
		return false
	})
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCACerts: /cacerts serves the CA whose hash the token carries, to
// anonymous clients; the join endpoint takes only POST; other paths still
// go through authentication and authorization.
func TestCACerts(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	caPEM, err := fetchCA(context.Background(), mustURL(t, urlOf(s)), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(caPEM) != string(s.Srv.CA().CertPEM()) {
		t.Error("/cacerts is not the cluster CA")
	}
	if got, want := jointoken.CAHash(caPEM), strings.TrimPrefix(strings.Split(serverToken(t, s), "::")[0], "K10"); got != want {
		t.Errorf("CA hash %s, token carries %s", got, want)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	for path, want := range map[string]int{
		"/cacerts":                               http.StatusOK,
		"/v1-cairn/join":                         http.StatusMethodNotAllowed,
		"/api/v1/namespaces/kube-system/secrets": http.StatusForbidden,
		"/cacerts/x":                             http.StatusForbidden,
	} {
		resp, err := c.Get(urlOf(s) + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("anonymous GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := serverURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestImpostor: a server with another CA, given the first server's token,
// is refused before anything is sent or written.
func TestImpostor(t *testing.T) {
	s1 := apiservertest.Start(t, "", nil)
	s2 := apiservertest.Start(t, "", nil)
	dir := filepath.Join(t.TempDir(), "node")
	_, err := Join(context.Background(), Options{Server: urlOf(s2), Token: serverToken(t, s1), NodeName: "worker-1", Dir: dir})
	if !errors.Is(err, ErrImpostor) {
		t.Fatalf("err = %v, want ErrImpostor", err)
	}
	if !strings.Contains(err.Error(), "the server's CA does not match the join token: refusing to join an impostor") {
		t.Errorf("message %q", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("node dir: %v, want nothing written", err)
	}
}

// TestRefusedTokens: a wrong secret, an unknown id and an expired token are
// 401s; the sixth failure within a minute is a 429 with Retry-After.
func TestRefusedTokens(t *testing.T) {
	ctx := context.Background()
	s := apiservertest.Start(t, "", nil)
	good, err := jointoken.Parse(serverToken(t, s))
	if err != nil {
		t.Fatal(err)
	}
	expired := auth.BootstrapToken{ID: "exp123", Secret: "0123456789abcdef", Authentication: true, Expires: time.Now().Add(-time.Hour)}
	if _, err := s.Client("admin").CoreV1().Secrets(auth.JoinTokenNamespace).Create(ctx, auth.BootstrapTokenSecret(expired), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wrongSecret := good
	wrongSecret.Secret = "zzzzzzzzzzzzzzzz"
	unknown := good
	unknown.ID = "nosuch"
	cases := []struct {
		name    string
		token   jointoken.Token
		code    int
		message string
	}{
		{"wrong secret", wrongSecret, 401, "wrong secret"},
		{"unknown id", unknown, 401, `unknown join token id "nosuch"`},
		{"expired", expired.Token(s.Srv.CA().CertPEM()), 401, "expired"},
		{"wrong secret again", wrongSecret, 401, "wrong secret"},
		{"unknown id again", unknown, 401, "unknown"},
		{"sixth failure", wrongSecret, 429, "too many failed join attempts"},
		{"even the right token", good, 429, "too many failed join attempts"},
	}
	for _, tc := range cases {
		dir := filepath.Join(t.TempDir(), "node")
		_, err := Join(ctx, Options{Server: urlOf(s), Token: tc.token.String(), NodeName: "worker-1", Dir: dir})
		var re *RefusedError
		if !errors.As(err, &re) || !errors.Is(err, ErrRefused) {
			t.Fatalf("%s: err = %v, want a RefusedError", tc.name, err)
		}
		if re.StatusCode != tc.code || !strings.Contains(re.Message, tc.message) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, re.StatusCode, re.Message, tc.code, tc.message)
		}
		if tc.code == http.StatusTooManyRequests && (re.RetryAfter <= 0 || re.RetryAfter > time.Minute) {
			t.Errorf("%s: Retry-After %v", tc.name, re.RetryAfter)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: node dir written", tc.name)
		}
	}
}

// TestRejoinReuses: with valid credentials in the directory a second join
// needs no server; credentials too close to expiry are not reused.
func TestRejoinReuses(t *testing.T) {
	ctx := context.Background()
	s := apiservertest.Start(t, "", nil)
	token := serverToken(t, s)
	addr := urlOf(s)
	dir := filepath.Join(t.TempDir(), "node")
	first, err := Join(ctx, Options{Server: addr, Token: token, NodeName: "worker-1", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	again, err := Join(ctx, Options{Server: addr, Token: token, NodeName: "worker-1", Dir: dir, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("re-join against a stopped server: %v", err)
	}
	if !again.Reused || !again.ClientCert.Leaf.Equal(first.ClientCert.Leaf) || !again.ServingCert.Leaf.Equal(first.ServingCert.Leaf) {
		t.Error("re-join did not reuse the credentials")
	}
	// Another node name needs the server.
	if _, err := Join(ctx, Options{Server: addr, Token: token, NodeName: "worker-2", Dir: dir, Timeout: 2 * time.Second}); err == nil {
		t.Error("joining as another node reused worker-1's credentials")
	}
}

// TestNoReuseNearExpiry: a client certificate valid for less than 30 more
// days sends the node back to the server.
func TestNoReuseNearExpiry(t *testing.T) {
	ca, err := auth.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jointoken.Generate(ca.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		validity time.Duration
		reused   bool
	}{
		{"a year", 365 * 24 * time.Hour, true},
		{"31 days", 31 * 24 * time.Hour, true},
		{"29 days", 29 * 24 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			key, keyPEM, _, err := newKeyAndCSR("x")
			if err != nil {
				t.Fatal(err)
			}
			certPEM, err := ca.SignClient(auth.NodeUser("worker-1"), key.Public(), tc.validity)
			if err != nil {
				t.Fatal(err)
			}
			skey, skeyPEM, _, _ := newKeyAndCSR("worker-1")
			scertPEM, err := ca.SignServing([]string{"worker-1"}, nil, skey.Public(), 365*24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range map[string][]byte{CAFile: ca.CertPEM(), KeyFile: keyPEM, CertFile: certPEM, ServingKeyFile: skeyPEM, ServingCertFile: scertPEM} {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			creds, err := Join(context.Background(), Options{Server: "https://127.0.0.1:1", Token: tok.String(), NodeName: "worker-1", Dir: dir, Timeout: time.Second})
			if tc.reused {
				if err != nil || !creds.Reused {
					t.Fatalf("not reused: %v", err)
				}
				if _, err := os.Stat(filepath.Join(dir, KubeconfigFile)); err != nil {
					t.Errorf("kubeconfig not rewritten: %v", err)
				}
			} else if err == nil {
				t.Fatal("reused a certificate expiring within 30 days")
			}
		})
	}
}

// TestJoinBadRequests: the server checks the node name, the requests'
// signatures and the serving names before signing anything.
func TestJoinBadRequests(t *testing.T) {
	ctx := context.Background()
	s := apiservertest.Start(t, "", nil)
	token := serverToken(t, s)
	base := mustURL(t, urlOf(s))
	_, _, csr, err := newKeyAndCSR("x")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(csr)
	tampered := slices.Clone(block.Bytes)
	tampered[len(tampered)-3] ^= 0xff // inside the signature
	badSig := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}))
	cases := []struct {
		name    string
		req     jointoken.Request
		message string
	}{
		{"bad node name", jointoken.Request{NodeName: "Worker_1", CSR: string(csr)}, "invalid node name"},
		{"no csr", jointoken.Request{NodeName: "worker-1", CSR: "hello"}, "no PEM CERTIFICATE REQUEST"},
		{"bad signature", jointoken.Request{NodeName: "worker-1", CSR: badSig}, "csr: bad signature"},
		{"API server name", jointoken.Request{NodeName: "worker-1", CSR: string(csr), ServingHosts: []string{"kubernetes.default.svc"}}, "names the API server"},
	}
	for _, tc := range cases {
		tc.req.Token = token
		_, err := postJoin(ctx, base, s.Srv.CA().Pool(), &tc.req, 10*time.Second)
		var re *RefusedError
		if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || !strings.Contains(re.Message, tc.message) {
			t.Errorf("%s: %v, want 400 containing %q", tc.name, err, tc.message)
		}
	}
}
