package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Join tokens let a machine join the cluster as a node. A token as people
// see it has k3s's secure format,
//
//	K10<sha256 of the cluster CA certificate PEM, hex>::<id>.<secret>
//
// where id is 6 and secret 16 characters of [a-z0-9], as kubeadm's
// bootstrap tokens. The CA hash lets the joining node verify the server
// before it trusts it; the id and secret are checked by the server against
// a Kubernetes bootstrap-token Secret, kube-system/bootstrap-token-<id>, so
// every API server sharing the store agrees on the valid tokens.
const (
	// JoinTokenPrefix starts a token in the secure format.
	JoinTokenPrefix = "K10"
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

	joinTokenIDLen     = 6
	joinTokenSecretLen = 16
	caHashLen          = 64 // hex sha256
	joinTokenAlphabet  = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// Join token errors.
var (
	// ErrInvalidJoinToken: a token string is malformed.
	ErrInvalidJoinToken = errors.New("auth: invalid join token")
	// ErrJoinTokenRejected: a well-formed token does not match a valid
	// bootstrap-token Secret (unknown id, wrong secret, expired, or not
	// usable for authentication).
	ErrJoinTokenRejected = errors.New("auth: join token rejected")
)

// JoinToken is a parsed join token.
type JoinToken struct {
	// CAHash is the hex sha256 of the cluster CA certificate PEM (see
	// CAHash); empty for a token given without it ("<id>.<secret>").
	CAHash string
	ID     string
	Secret string
}

// String renders t in the secure format when it carries a CA hash, else as
// "<id>.<secret>".
func (t JoinToken) String() string {
	if t.CAHash == "" {
		return t.ID + "." + t.Secret
	}
	return JoinTokenPrefix + t.CAHash + "::" + t.ID + "." + t.Secret
}

// SecretName is the name of the token's bootstrap-token Secret.
func (t JoinToken) SecretName() string { return JoinTokenSecretPrefix + t.ID }

// ParseJoinToken parses a token in the secure format
// "K10<hash>::<id>.<secret>". Surrounding whitespace (a trailing newline
// of a token file) is ignored; the hash is accepted in either case and
// returned lower case.
func ParseJoinToken(s string) (JoinToken, error) {
	return parseJoinToken(s, true)
}

// ParseJoinTokenOrBare parses a token in the secure format or a bare
// "<id>.<secret>" (CAHash empty), which is all the server needs to check.
func ParseJoinTokenOrBare(s string) (JoinToken, error) {
	return parseJoinToken(s, false)
}

func parseJoinToken(s string, needHash bool) (JoinToken, error) {
	s = strings.TrimSpace(s)
	var t JoinToken
	rest := s
	if strings.HasPrefix(s, JoinTokenPrefix) {
		hash, creds, ok := strings.Cut(s[len(JoinTokenPrefix):], "::")
		if !ok {
			return JoinToken{}, fmt.Errorf("%w: missing \"::\" after the CA hash", ErrInvalidJoinToken)
		}
		hash = strings.ToLower(hash)
		if len(hash) != caHashLen || !isHex(hash) {
			return JoinToken{}, fmt.Errorf("%w: the CA hash must be %d hex characters", ErrInvalidJoinToken, caHashLen)
		}
		t.CAHash, rest = hash, creds
	} else if needHash {
		return JoinToken{}, fmt.Errorf("%w: want %s<CA hash>::<id>.<secret>", ErrInvalidJoinToken, JoinTokenPrefix)
	}
	id, secret, ok := strings.Cut(rest, ".")
	if !ok {
		return JoinToken{}, fmt.Errorf("%w: want <id>.<secret> after the CA hash", ErrInvalidJoinToken)
	}
	if err := ValidateJoinTokenID(id); err != nil {
		return JoinToken{}, err
	}
	if len(secret) != joinTokenSecretLen || !inAlphabet(secret) {
		return JoinToken{}, fmt.Errorf("%w: the secret must be %d characters of [a-z0-9]", ErrInvalidJoinToken, joinTokenSecretLen)
	}
	t.ID, t.Secret = id, secret
	return t, nil
}

// ValidateJoinTokenID checks that id is 6 characters of [a-z0-9].
func ValidateJoinTokenID(id string) error {
	if len(id) != joinTokenIDLen || !inAlphabet(id) {
		return fmt.Errorf("%w: the id must be %d characters of [a-z0-9]", ErrInvalidJoinToken, joinTokenIDLen)
	}
	return nil
}

func inAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// CAHash returns the hex sha256 of a CA certificate PEM. The PEM is first
// put in canonical form (its CERTIFICATE blocks re-encoded, other text
// dropped), so line endings or comments around the certificate do not
// change the hash; the canonical form is what the API server serves on
// /cacerts.
func CAHash(caPEM []byte) string {
	sum := sha256.Sum256(canonicalPEM(caPEM))
	return hex.EncodeToString(sum[:])
}

// CAHashMatches reports whether caPEM hashes to hash (hex, any case), in
// constant time.
func CAHashMatches(caPEM []byte, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(CAHash(caPEM)), []byte(strings.ToLower(hash))) == 1
}

func canonicalPEM(data []byte) []byte {
	var out []byte
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})...)
		}
	}
	if out == nil {
		return data
	}
	return out
}

// GenerateJoinToken returns a new random token for the CA whose
// certificate PEM is caPEM.
func GenerateJoinToken(caPEM []byte) (JoinToken, error) {
	id, err := randomString(joinTokenIDLen)
	if err != nil {
		return JoinToken{}, err
	}
	secret, err := randomString(joinTokenSecretLen)
	if err != nil {
		return JoinToken{}, err
	}
	return JoinToken{CAHash: CAHash(caPEM), ID: id, Secret: secret}, nil
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(joinTokenAlphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("auth: generate join token: %w", err)
		}
		b[i] = joinTokenAlphabet[v.Int64()]
	}
	return string(b), nil
}

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
func (b BootstrapToken) Token(caPEM []byte) JoinToken {
	return JoinToken{CAHash: CAHash(caPEM), ID: b.ID, Secret: b.Secret}
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
		return BootstrapToken{}, fmt.Errorf("%w: secret %s/%s has type %q, not %q", ErrInvalidJoinToken, s.Namespace, s.Name, s.Type, JoinTokenSecretType)
	}
	if s.Namespace != JoinTokenNamespace {
		return BootstrapToken{}, fmt.Errorf("%w: secret %s/%s is not in %s", ErrInvalidJoinToken, s.Namespace, s.Name, JoinTokenNamespace)
	}
	b := BootstrapToken{
		ID:             secretValue(s, BootstrapTokenIDKey),
		Secret:         secretValue(s, BootstrapTokenSecretKey),
		Description:    secretValue(s, BootstrapTokenDescriptionKey),
		Authentication: secretValue(s, BootstrapTokenUsageAuthnKey) == "true",
		Created:        s.CreationTimestamp.Time,
	}
	if err := ValidateJoinTokenID(b.ID); err != nil {
		return BootstrapToken{}, fmt.Errorf("secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	if s.Name != JoinTokenSecretPrefix+b.ID {
		return BootstrapToken{}, fmt.Errorf("%w: secret %s/%s holds token id %q", ErrInvalidJoinToken, s.Namespace, s.Name, b.ID)
	}
	if len(b.Secret) != joinTokenSecretLen || !inAlphabet(b.Secret) {
		return BootstrapToken{}, fmt.Errorf("%w: secret %s/%s: malformed token-secret", ErrInvalidJoinToken, s.Namespace, s.Name)
	}
	if exp := secretValue(s, BootstrapTokenExpirationKey); exp != "" {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil {
			return BootstrapToken{}, fmt.Errorf("%w: secret %s/%s: expiration: %w", ErrInvalidJoinToken, s.Namespace, s.Name, err)
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
func CheckJoinToken(stored BootstrapToken, presented JoinToken, now time.Time) error {
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

// The join protocol: two endpoints of the API server that answer without
// credentials.
const (
	// CACertsPath serves the cluster CA certificate PEM (GET).
	CACertsPath = "/cacerts"
	// JoinPath exchanges a join token and certificate requests for a
	// node's certificates (POST, JoinRequest in, JoinResponse out).
	JoinPath = "/v1-cairn/join"
)

// JoinRequest is the body of a POST to JoinPath.
type JoinRequest struct {
	// Token is the join token, secure format or "<id>.<secret>".
	Token string `json:"token"`
	// NodeName is the node's name (a DNS-1123 subdomain).
	NodeName string `json:"nodeName"`
	// CSR is a PEM PKCS#10 certificate request signed by the node's key,
	// for its client certificate (the subject is set by the server).
	CSR string `json:"csr"`
	// ServingCSR optionally carries a second key's request for the
	// kubelet's serving certificate; without it the CSR's key is used.
	ServingCSR string `json:"servingCSR,omitempty"`
	// ServingHosts and ServingIPs the kubelet serves on; the node name is
	// always added.
	ServingHosts []string `json:"servingHosts,omitempty"`
	ServingIPs   []string `json:"servingIPs,omitempty"`
}

// JoinResponse answers a successful JoinRequest.
type JoinResponse struct {
	CAPEM string `json:"caPEM"`
	// ClientCertPEM: CN system:node:<name>, O system:nodes.
	ClientCertPEM string `json:"clientCertPEM"`
	// ServingCertPEM: the kubelet's HTTPS server certificate.
	ServingCertPEM string `json:"servingCertPEM"`
}
