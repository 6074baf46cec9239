package auth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

type authResult struct {
	User  User
	Error string
}

// authServer serves the authentication result of each request as JSON over
// TLS that verifies client certificates if given.
func authServer(t *testing.T, ca *CA, a *Authenticator) *httptest.Server {
	t.Helper()
	serving, err := LoadOrCreateServing(t.TempDir(), ca, nil, nil)
	must(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := a.Authenticate(r)
		res := authResult{User: u}
		if err != nil {
			res.Error = err.Error()
			if !errors.Is(err, ErrUnauthorized) {
				res.Error = "NOT ErrUnauthorized: " + res.Error
			}
		}
		_ = json.NewEncoder(w).Encode(res)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.Pool(),
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func clientCert(t *testing.T, ca *CA, u User) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueClient(u, time.Hour)
	must(t, err)
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	must(t, err)
	return c
}

func TestAuthenticateHTTPS(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir())
	must(t, err)
	otherCA, err := LoadOrCreateCA(t.TempDir())
	must(t, err)
	a := NewAuthenticator(map[string]User{
		"tok-alice": {Name: "alice", UID: "1", Groups: []string{"devs"}},
	}, ca.Pool())
	srv := authServer(t, ca, a)

	tests := []struct {
		name       string
		cert       *tls.Certificate
		header     string
		wantUser   string
		wantGroups []string
		wantErr    bool // ErrUnauthorized from Authenticate
		wantTLSErr bool // rejected during the handshake
	}{
		{name: "no credentials is anonymous", wantUser: "system:anonymous", wantGroups: []string{"system:unauthenticated"}},
		{name: "good token", header: "Bearer tok-alice", wantUser: "alice", wantGroups: []string{"devs", "system:authenticated"}},
		{name: "bearer scheme is case-insensitive", header: "bearer tok-alice", wantUser: "alice", wantGroups: []string{"devs", "system:authenticated"}},
		{name: "bad token", header: "Bearer nope", wantErr: true},
		{name: "non-bearer scheme ignored", header: "Basic YWxpY2U6cHc=", wantUser: "system:anonymous", wantGroups: []string{"system:unauthenticated"}},
		{
			name:       "client certificate",
			cert:       ptr(clientCert(t, ca, User{Name: "bob", Groups: []string{"ops", "dba"}})),
			wantUser:   "bob",
			wantGroups: []string{"ops", "dba", "system:authenticated"},
		},
		{
			name:       "client certificate without groups",
			cert:       ptr(clientCert(t, ca, User{Name: "carol"})),
			wantUser:   "carol",
			wantGroups: []string{"system:authenticated"},
		},
		{
			name:       "client certificate wins over a bad token (Kubernetes order)",
			cert:       ptr(clientCert(t, ca, User{Name: "bob"})),
			header:     "Bearer nope",
			wantUser:   "bob",
			wantGroups: []string{"system:authenticated"},
		},
		{
			name:       "certificate from another CA rejected",
			cert:       ptr(clientCert(t, otherCA, User{Name: "mallory", Groups: []string{"system:masters"}})),
			wantTLSErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
			if tt.cert != nil {
				tr.TLSClientConfig.Certificates = []tls.Certificate{*tt.cert}
			}
			defer tr.CloseIdleConnections()
			req, err := http.NewRequest("GET", srv.URL, nil)
			must(t, err)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
			if tt.wantTLSErr {
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					t.Fatalf("request succeeded: %s", body)
				}
				return
			}
			must(t, err)
			defer resp.Body.Close()
			var got authResult
			must(t, json.NewDecoder(resp.Body).Decode(&got))
			if tt.wantErr {
				if got.Error == "" || !strings.Contains(got.Error, "unauthorized") || strings.HasPrefix(got.Error, "NOT") {
					t.Fatalf("got %+v, want ErrUnauthorized", got)
				}
				return
			}
			if got.Error != "" {
				t.Fatalf("error %s", got.Error)
			}
			if got.User.Name != tt.wantUser || !slices.Equal(got.User.Groups, tt.wantGroups) {
				t.Fatalf("user %+v, want %s %v", got.User, tt.wantUser, tt.wantGroups)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestAuthenticateConnectionState covers certificates the TLS layer did not
// verify (tls.RequestClientCert): Authenticate verifies them itself.
func TestAuthenticateConnectionState(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir())
	must(t, err)
	otherCA, err := LoadOrCreateCA(t.TempDir())
	must(t, err)
	leaf := func(ca *CA, u User) *x509.Certificate {
		c := clientCert(t, ca, u)
		l, err := x509.ParseCertificate(c.Certificate[0])
		must(t, err)
		return l
	}
	good := leaf(ca, User{Name: "bob", Groups: []string{"ops"}})
	bad := leaf(otherCA, User{Name: "mallory", Groups: []string{"system:masters"}})
	noCN := leaf(ca, User{Name: "x"})
	noCN.Subject.CommonName = ""

	serving, err := LoadOrCreateServing(t.TempDir(), ca, nil, nil)
	must(t, err)
	servingLeaf, err := x509.ParseCertificate(serving.Certificate[0])
	must(t, err)

	tests := []struct {
		name     string
		pool     *x509.CertPool
		state    *tls.ConnectionState
		token    string
		wantUser string
		wantErr  bool
	}{
		{name: "unverified good certificate", pool: ca.Pool(), state: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{good}}, wantUser: "bob"},
		{name: "unverified foreign certificate", pool: ca.Pool(), state: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{bad}}, wantErr: true},
		{name: "foreign certificate with good token uses token", pool: ca.Pool(), state: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{bad}}, token: "t", wantUser: "alice"},
		{name: "serving certificate is not a client certificate", pool: ca.Pool(), state: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{servingLeaf}}, wantErr: true},
		{name: "no client CA configured", pool: nil, state: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{good}}, wantErr: true},
		{name: "verified chain trusted", pool: nil, state: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{good}, VerifiedChains: [][]*x509.Certificate{{good, ca.Certificate()}}}, wantUser: "bob"},
		{name: "certificate without CN ignored", pool: ca.Pool(), state: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{noCN}, VerifiedChains: [][]*x509.Certificate{{noCN}}}, wantUser: "system:anonymous"},
		{name: "TLS without certificate", pool: ca.Pool(), state: &tls.ConnectionState{}, wantUser: "system:anonymous"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAuthenticator(map[string]User{"t": {Name: "alice"}}, tt.pool)
			r := httptest.NewRequest("GET", "https://cairn/api", nil)
			r.TLS = tt.state
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			u, err := a.Authenticate(r)
			if tt.wantErr {
				if !errors.Is(err, ErrUnauthorized) {
					t.Fatalf("Authenticate = %+v, %v; want ErrUnauthorized", u, err)
				}
				return
			}
			if err != nil || u.Name != tt.wantUser {
				t.Fatalf("Authenticate = %+v, %v; want %s", u, err, tt.wantUser)
			}
		})
	}
}

func TestAuthenticatorSetTokens(t *testing.T) {
	tokens := map[string]User{"a": {Name: "alice", Groups: []string{"devs"}}}
	a := NewAuthenticator(tokens, nil)
	tokens["b"] = User{Name: "bob"} // the authenticator copied the map

	auth := func(token string) (User, error) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return a.Authenticate(r)
	}
	tests := []struct {
		name    string
		set     map[string]User
		token   string
		want    string
		wantErr bool
	}{
		{name: "initial token", token: "a", want: "alice"},
		{name: "caller's later map change ignored", token: "b", wantErr: true},
		{name: "replaced token set", set: map[string]User{"b": {Name: "bob"}}, token: "b", want: "bob"},
		{name: "old token gone", set: map[string]User{"b": {Name: "bob"}}, token: "a", wantErr: true},
		{name: "empty set", set: map[string]User{}, token: "b", wantErr: true},
		{name: "group already present not duplicated", set: map[string]User{"c": {Name: "c", Groups: []string{GroupAuthenticated}}}, token: "c", want: "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.set != nil {
				a.SetTokens(tt.set)
			}
			u, err := auth(tt.token)
			if tt.wantErr {
				if !errors.Is(err, ErrUnauthorized) {
					t.Fatalf("got %+v, %v; want ErrUnauthorized", u, err)
				}
				return
			}
			if err != nil || u.Name != tt.want {
				t.Fatalf("got %+v, %v; want %s", u, err, tt.want)
			}
			if n := strings.Count(strings.Join(u.Groups, ","), GroupAuthenticated); n != 1 {
				t.Errorf("groups %v: %s appears %d times", u.Groups, GroupAuthenticated, n)
			}
		})
	}
}

func BenchmarkAuthenticateToken(b *testing.B) {
	tokens := map[string]User{}
	for i := range 1000 {
		tokens["token-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String()] = User{Name: "u"}
	}
	tokens["good"] = User{Name: "alice", Groups: []string{"devs"}}
	a := NewAuthenticator(tokens, nil)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer good")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}
