package auth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Well-known user and group names.
const (
	GroupAuthenticated   = "system:authenticated"
	GroupUnauthenticated = "system:unauthenticated"
	GroupMasters         = "system:masters"
	GroupNodes           = "system:nodes"
	UserAnonymous        = "system:anonymous"
	// ServiceAccountUsernamePrefix prefixes "<namespace>:<name>" to form a
	// service account's user name.
	ServiceAccountUsernamePrefix = "system:serviceaccount:"
)

// User is an authenticated (or anonymous) identity. Values returned by this
// package may share their Groups slice: treat it as read-only (appending is
// safe, the slices are clipped).
type User struct {
	Name   string
	UID    string
	Groups []string
}

// Anonymous is the user of requests without credentials.
var Anonymous = User{Name: UserAnonymous, Groups: []string{GroupUnauthenticated}}

// InGroup reports whether u is a member of group.
func (u User) InGroup(group string) bool { return slices.Contains(u.Groups, group) }

// ServiceAccountUsername returns the user name of service account
// namespace/name: "system:serviceaccount:<namespace>:<name>".
func ServiceAccountUsername(namespace, name string) string {
	return ServiceAccountUsernamePrefix + namespace + ":" + name
}

// Authenticator authenticates API requests like kube-apiserver with
// --client-ca-file, --token-auth-file and anonymous auth enabled. Safe for
// concurrent use; the token set can be replaced at any time with SetTokens.
type Authenticator struct {
	tokens    atomic.Pointer[map[string]User]
	clientCAs *x509.CertPool
	now       func() time.Time
}

// NewAuthenticator returns an authenticator accepting the given bearer
// tokens (as returned by LoadTokenFile) and client certificates signed by
// clientCAs (nil: client certificates are accepted only when the TLS layer
// verified them).
func NewAuthenticator(tokens map[string]User, clientCAs *x509.CertPool) *Authenticator {
	a := &Authenticator{clientCAs: clientCAs, now: time.Now}
	a.SetTokens(tokens)
	return a
}

// SetTokens atomically replaces the accepted bearer tokens. The map is
// copied; users gain the group system:authenticated.
func (a *Authenticator) SetTokens(tokens map[string]User) {
	m := make(map[string]User, len(tokens))
	for token, u := range tokens {
		if token == "" {
			continue
		}
		m[token] = User{Name: u.Name, UID: u.UID, Groups: withAuthenticated(u.Groups)}
	}
	a.tokens.Store(&m)
}

// Authenticate identifies the user making r, in kube-apiserver's order:
//
//   - a client certificate verified against the client CA (by the TLS layer,
//     r.TLS.VerifiedChains, or here when the server only requested
//     certificates) authenticates as CN with groups O;
//   - otherwise "Authorization: Bearer <token>" authenticates as the token's
//     user;
//   - a request with neither is Anonymous.
//
// Presented but invalid credentials (an unknown token, a certificate not
// signed by the client CA) fail with an error wrapping ErrUnauthorized and
// never fall back to Anonymous. A certificate without a CN is ignored, as in
// Kubernetes.
func (a *Authenticator) Authenticate(r *http.Request) (User, error) {
	var certErr error
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		u, ok, err := a.authenticateCert(r.TLS)
		if ok {
			return u, nil
		}
		certErr = err
	}
	if token, ok := bearerToken(r.Header); ok {
		if u, found := (*a.tokens.Load())[token]; found {
			return u, nil
		}
		return User{}, fmt.Errorf("%w: invalid bearer token", ErrUnauthorized)
	}
	if certErr != nil {
		return User{}, certErr
	}
	return Anonymous, nil
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// header. Other schemes and empty tokens are ignored, as in Kubernetes.
func bearerToken(h http.Header) (string, bool) {
	auth := h.Get("Authorization")
	if auth == "" {
		return "", false
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(auth), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (a *Authenticator) authenticateCert(cs *tls.ConnectionState) (User, bool, error) {
	var leaf *x509.Certificate
	now := a.now()
	if len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
		leaf = cs.VerifiedChains[0][0]
		// The handshake verified it, but connections outlive certificates.
		if now.After(leaf.NotAfter) {
			return User{}, false, fmt.Errorf("%w: client certificate %q expired at %s", ErrUnauthorized, leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	} else {
		leaf = cs.PeerCertificates[0]
		if a.clientCAs == nil {
			return User{}, false, fmt.Errorf("%w: client certificate %q not verified: no client CA configured", ErrUnauthorized, leaf.Subject.CommonName)
		}
		opts := x509.VerifyOptions{
			Roots:       a.clientCAs,
			CurrentTime: now,
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if len(cs.PeerCertificates) > 1 {
			opts.Intermediates = x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
		}
		if _, err := leaf.Verify(opts); err != nil {
			return User{}, false, fmt.Errorf("%w: client certificate %q: %w", ErrUnauthorized, leaf.Subject.CommonName, err)
		}
	}
	if leaf.Subject.CommonName == "" {
		return User{}, false, nil
	}
	return User{Name: leaf.Subject.CommonName, Groups: withAuthenticated(leaf.Subject.Organization)}, true, nil
}

// withAuthenticated returns a clipped copy of groups that includes
// system:authenticated.
func withAuthenticated(groups []string) []string {
	out := make([]string, 0, len(groups)+1)
	out = append(out, groups...)
	if !slices.Contains(out, GroupAuthenticated) {
		out = append(out, GroupAuthenticated)
	}
	return slices.Clip(out)
}
