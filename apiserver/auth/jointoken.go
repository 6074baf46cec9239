package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/jointoken"
)

// Join tokens (see package jointoken) are checked by the server against a
// Kubernetes bootstrap-token Secret, kube-system/bootstrap-token-<id>, so
// every API server sharing the store agrees on the valid tokens.
const (
	// JoinTokenNamespace holds the bootstrap-token Secrets.
	JoinTokenNamespace = "kube-system"
	// JoinTokenSecretPrefix prefixes the token id to name its Secret.
	JoinTokenSecretPrefix = "bootstrap-token-"
	// JoinTokenSecretType is the type of bootstrap-token Secrets.
	JoinTokenSecretType corev1.SecretType = "bootstrap.kubernetes.io/token"

	// Data keys of a bootstrap-token Secret, as in Kubernetes.
	BootstrapTokenIDKey          = "token-id"
	BootstrapTokenSecretKey      = "token-secret"
	BootstrapTokenExpirationKey  = "expiration"
	BootstrapTokenDescriptionKey = "description"
	BootstrapTokenUsageAuthnKey  = "usage-bootstrap-authentication"
)

// ErrJoinTokenRejected: a well-formed token does not match a valid
// bootstrap-token Secret (unknown id, wrong secret, expired, or not usable
// for authentication).
var ErrJoinTokenRejected = errors.New("auth: join token rejected")

// JoinTokenSecretName is the name of the bootstrap-token Secret of token id.
func JoinTokenSecretName(id string) string { return JoinTokenSecretPrefix + id }

// BootstrapToken is the content of a bootstrap-token Secret.
type BootstrapToken struct {
	ID, Secret  string
	Description string
	// Expires is zero for a token that never expires.
	Expires time.Time
	// Authentication: usage-bootstrap-authentication is "true".
	Authentication bool
	// Created is the Secret's creation time (zero when not stored yet).
	Created time.Time
}

// Token returns the join token of b for the CA whose PEM is caPEM.
func (b BootstrapToken) Token(caPEM []byte) jointoken.Token {
	return jointoken.Token{CAHash: jointoken.CAHash(caPEM), ID: b.ID, Secret: b.Secret}
}

// Expired reports whether b has expired at now.
func (b BootstrapToken) Expired(now time.Time) bool {
	return !b.Expires.IsZero() && !now.Before(b.Expires)
}

// Usable reports whether b authenticates joins at now.
func (b BootstrapToken) Usable(now time.Time) bool { return b.Authentication && !b.Expired(now) }

// BootstrapTokenSecret returns the bootstrap-token Secret holding b.
func BootstrapTokenSecret(b BootstrapToken) *corev1.Secret {
	data := map[string][]byte{
		BootstrapTokenIDKey:     []byte(b.ID),
		BootstrapTokenSecretKey: []byte(b.Secret),
	}
	if b.Authentication {
		data[BootstrapTokenUsageAuthnKey] = []byte("true")
	}
	if !b.Expires.IsZero() {
		data[BootstrapTokenExpirationKey] = []byte(b.Expires.UTC().Format(time.RFC3339))
	}
	if b.Description != "" {
		data[BootstrapTokenDescriptionKey] = []byte(b.Description)
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: JoinTokenSecretPrefix + b.ID, Namespace: JoinTokenNamespace},
		Type:       JoinTokenSecretType,
		Data:       data,
	}
}

// BootstrapTokenFromSecret reads a bootstrap-token Secret. It fails for a
// Secret of another type or namespace, one whose name does not match its
// token-id, or one with a malformed id, secret or expiration.
func BootstrapTokenFromSecret(s *corev1.Secret) (BootstrapToken, error) {
	if s.Type != JoinTokenSecretType {
		return BootstrapToken{}, fmt.Errorf("%w: secret %s/%s has type %q, not %q", jointoken.ErrInvalid, s.Namespace, s.Name, s.Type, JoinTokenSecretType)
	}
	if s.Namespace != JoinTokenNamespace {
		return BootstrapToken{}, fmt.Errorf("%w: secret %s/%s is not in %s", jointoken.ErrInvalid, s.Namespace, s.Name, JoinTokenNamespace)
	}
	b := BootstrapToken{
		ID:             secretValue(s, BootstrapTokenIDKey),
		Secret:         secretValue(s, BootstrapTokenSecretKey),
		Description:    secretValue(s, BootstrapTokenDescriptionKey),
		Authentication: secretValue(s, BootstrapTokenUsageAuthnKey) == "true",
		Created:        s.CreationTimestamp.Time,
	}
	if err := jointoken.ValidateID(b.ID); err != nil {
		return BootstrapToken{}, fmt.Errorf("secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	if s.Name != JoinTokenSecretPrefix+b.ID {
		return BootstrapToken{}, fmt.Errorf("%w: secret %s/%s holds token id %q", jointoken.ErrInvalid, s.Namespace, s.Name, b.ID)
	}
	if err := jointoken.ValidateSecret(b.Secret); err != nil {
		return BootstrapToken{}, fmt.Errorf("secret %s/%s: malformed token-secret: %w", s.Namespace, s.Name, err)
	}
	if exp := secretValue(s, BootstrapTokenExpirationKey); exp != "" {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil {
			return BootstrapToken{}, fmt.Errorf("%w: secret %s/%s: expiration: %w", jointoken.ErrInvalid, s.Namespace, s.Name, err)
		}
		b.Expires = t
	}
	return b, nil
}

func secretValue(s *corev1.Secret, key string) string {
	if v, ok := s.Data[key]; ok {
		return string(v)
	}
	return s.StringData[key]
}

// CheckJoinToken checks a presented token against the bootstrap token
// stored for its id: the secrets must match (compared in constant time),
// the stored token must be usable for authentication and not expired at
// now. Errors wrap ErrJoinTokenRejected and say why, without revealing the
// stored secret.
func CheckJoinToken(stored BootstrapToken, presented jointoken.Token, now time.Time) error {
	idOK := subtle.ConstantTimeCompare([]byte(stored.ID), []byte(presented.ID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(stored.Secret), []byte(presented.Secret)) == 1
	switch {
	case !idOK || !secretOK:
		return fmt.Errorf("%w: token %s: wrong secret", ErrJoinTokenRejected, presented.ID)
	case !stored.Authentication:
		return fmt.Errorf("%w: token %s is not usable for authentication", ErrJoinTokenRejected, presented.ID)
	case stored.Expired(now):
		return fmt.Errorf("%w: token %s expired at %s", ErrJoinTokenRejected, presented.ID, stored.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// CurrentBootstrapToken picks the token to hand out among tokens: the
// usable one created last (the latest id on a tie), never-expiring ones
// preferred over expiring ones. ok is false when none is usable.
func CurrentBootstrapToken(tokens []BootstrapToken, now time.Time) (BootstrapToken, bool) {
	var usable []BootstrapToken
	for _, b := range tokens {
		if b.Usable(now) {
			usable = append(usable, b)
		}
	}
	if len(usable) == 0 {
		return BootstrapToken{}, false
	}
	sort.Slice(usable, func(i, j int) bool {
		a, b := usable[i], usable[j]
		if a.Expires.IsZero() != b.Expires.IsZero() {
			return a.Expires.IsZero()
		}
		if !a.Created.Equal(b.Created) {
			return a.Created.After(b.Created)
		}
		return a.ID > b.ID
	})
	return usable[0], true
}
