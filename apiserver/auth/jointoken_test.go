package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cairn-dev/cairn/jointoken"
)

const testHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestJoinTokenSecretName(t *testing.T) {
	if got := JoinTokenSecretName("abcdef"); got != "bootstrap-token-abcdef" {
		t.Errorf("JoinTokenSecretName = %s", got)
	}
}

func TestBootstrapTokenSecretRoundTrip(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, b := range []BootstrapToken{
		{ID: "abcdef", Secret: "0123456789abcdef", Authentication: true},
		{ID: "a1b2c3", Secret: "zzzzzzzzzzzzzzzz", Authentication: true, Expires: exp, Description: "for rack 4"},
		{ID: "a1b2c4", Secret: "zzzzzzzzzzzzzzzz"},
	} {
		sec := BootstrapTokenSecret(b)
		if sec.Name != "bootstrap-token-"+b.ID || sec.Namespace != "kube-system" || sec.Type != "bootstrap.kubernetes.io/token" {
			t.Errorf("secret %s/%s type %s", sec.Namespace, sec.Name, sec.Type)
		}
		if string(sec.Data["token-id"]) != b.ID || string(sec.Data["token-secret"]) != b.Secret {
			t.Errorf("secret data %v", sec.Data)
		}
		if b.Authentication && string(sec.Data["usage-bootstrap-authentication"]) != "true" {
			t.Errorf("usage missing: %v", sec.Data)
		}
		back, err := BootstrapTokenFromSecret(sec)
		if err != nil {
			t.Fatal(err)
		}
		if back.ID != b.ID || back.Secret != b.Secret || !back.Expires.Equal(b.Expires) ||
			back.Authentication != b.Authentication || back.Description != b.Description {
			t.Errorf("round trip: %+v, want %+v", back, b)
		}
	}
}

func TestBootstrapTokenFromSecretRejects(t *testing.T) {
	good := func() *corev1.Secret {
		return BootstrapTokenSecret(BootstrapToken{ID: "abcdef", Secret: "0123456789abcdef", Authentication: true})
	}
	cases := []struct {
		name   string
		mutate func(*corev1.Secret)
	}{
		{"other type", func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }},
		{"other namespace", func(s *corev1.Secret) { s.Namespace = "default" }},
		{"name and id differ", func(s *corev1.Secret) { s.Name = "bootstrap-token-zzzzzz" }},
		{"bad id", func(s *corev1.Secret) { s.Data["token-id"] = []byte("ABCDEF") }},
		{"short secret", func(s *corev1.Secret) { s.Data["token-secret"] = []byte("short") }},
		{"bad expiration", func(s *corev1.Secret) { s.Data["expiration"] = []byte("tomorrow") }},
	}
	for _, tc := range cases {
		s := good()
		tc.mutate(s)
		if _, err := BootstrapTokenFromSecret(s); !errors.Is(err, jointoken.ErrInvalid) {
			t.Errorf("%s: err = %v, want jointoken.ErrInvalid", tc.name, err)
		}
	}
	// stringData (as written by hand) is read too.
	s := good()
	s.Data = nil
	s.StringData = map[string]string{"token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-authentication": "true"}
	if b, err := BootstrapTokenFromSecret(s); err != nil || !b.Authentication {
		t.Errorf("stringData: %+v, %v", b, err)
	}
}

func TestCheckJoinToken(t *testing.T) {
	now := time.Date(2027, 5, 1, 12, 0, 0, 0, time.UTC)
	stored := BootstrapToken{ID: "abcdef", Secret: "0123456789abcdef", Authentication: true}
	presented := jointoken.Token{CAHash: testHash, ID: "abcdef", Secret: "0123456789abcdef"}
	cases := []struct {
		name      string
		stored    BootstrapToken
		presented jointoken.Token
		wantErr   string
	}{
		{"valid", stored, presented, ""},
		{"valid until later", with(stored, func(b *BootstrapToken) { b.Expires = now.Add(time.Second) }), presented, ""},
		{"wrong secret", stored, jointoken.Token{ID: "abcdef", Secret: "0123456789abcdeg"}, "wrong secret"},
		{"other id", stored, jointoken.Token{ID: "abcdeg", Secret: "0123456789abcdef"}, "wrong secret"},
		{"expired", with(stored, func(b *BootstrapToken) { b.Expires = now.Add(-time.Second) }), presented, "expired at 2027-05-01T11:59:59Z"},
		{"expires now", with(stored, func(b *BootstrapToken) { b.Expires = now }), presented, "expired"},
		{"not for authentication", with(stored, func(b *BootstrapToken) { b.Authentication = false }), presented, "not usable for authentication"},
	}
	for _, tc := range cases {
		err := CheckJoinToken(tc.stored, tc.presented, now)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrJoinTokenRejected) || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err = %v, want ErrJoinTokenRejected containing %q", tc.name, err, tc.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), tc.stored.Secret) {
			t.Errorf("%s: the error reveals the stored secret", tc.name)
		}
	}
}

func with(b BootstrapToken, f func(*BootstrapToken)) BootstrapToken {
	f(&b)
	return b
}

func TestCurrentBootstrapToken(t *testing.T) {
	now := time.Date(2027, 5, 1, 12, 0, 0, 0, time.UTC)
	t0 := now.Add(-time.Hour)
	tok := func(id string, created time.Time, expires time.Time, authn bool) BootstrapToken {
		return BootstrapToken{ID: id, Secret: "0123456789abcdef", Created: created, Expires: expires, Authentication: authn}
	}
	cases := []struct {
		name   string
		tokens []BootstrapToken
		want   string // "" = none
	}{
		{"none", nil, ""},
		{"only expired", []BootstrapToken{tok("aaaaaa", t0, now.Add(-time.Minute), true)}, ""},
		{"only unusable", []BootstrapToken{tok("aaaaaa", t0, time.Time{}, false)}, ""},
		{"newest", []BootstrapToken{tok("aaaaaa", t0, time.Time{}, true), tok("bbbbbb", t0.Add(time.Minute), time.Time{}, true)}, "bbbbbb"},
		{"never-expiring first", []BootstrapToken{tok("aaaaaa", t0, time.Time{}, true), tok("bbbbbb", t0.Add(time.Minute), now.Add(time.Hour), true)}, "aaaaaa"},
		{"tie on id", []BootstrapToken{tok("bbbbbb", t0, time.Time{}, true), tok("aaaaaa", t0, time.Time{}, true)}, "bbbbbb"},
	}
	for _, tc := range cases {
		got, ok := CurrentBootstrapToken(tc.tokens, now)
		if ok != (tc.want != "") || got.ID != tc.want {
			t.Errorf("%s: got %q (%v), want %q", tc.name, got.ID, ok, tc.want)
		}
	}
}

// TestSignWithCallerKey: SignClient and SignServing certify the given key
// with the same subjects IssueClient and IssueServing use.
func TestSignWithCallerKey(t *testing.T) {
	ca := newTestCA(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignClient(NodeUser("n1"), key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertPEM(certPEM, "client")
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Error("client certificate is not for the given key")
	}
	if cert.Subject.CommonName != "system:node:n1" || !slices.Equal(cert.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("subject %v", cert.Subject)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Error(err)
	}
	servPEM, err := ca.SignServing([]string{"n1", "10.1.2.3"}, []net.IP{net.ParseIP("fd00::1")}, key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serv, err := parseCertPEM(servPEM, "serving")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"n1", "10.1.2.3", "fd00::1"} {
		if err := serv.VerifyHostname(h); err != nil {
			t.Error(err)
		}
	}
	if _, err := ca.SignClient(NodeUser("n1"), nil, time.Hour); err == nil {
		t.Error("signed without a key")
	}
	if _, err := ca.SignServing(nil, nil, key.Public(), time.Hour); err == nil {
		t.Error("signed a serving certificate without names")
	}
	if _, err := ca.SignClient(User{}, key.Public(), time.Hour); err == nil {
		t.Error("signed a client certificate without a name")
	}
}

func newTestCA(t *testing.T) *CA {
	t.Helper()
	ca, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}
