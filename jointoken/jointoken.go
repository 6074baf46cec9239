// Package jointoken is the join protocol shared by the API server and the
// node agent: the join token's format, the CA hash that lets a joining
// node verify the server, and the two endpoints' paths and bodies. It is a
// leaf: the agent uses it without importing the API server.
package jointoken

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
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
	// Prefix starts a token in the secure format.
	Prefix    = "K10"
	idLen     = 6
	secretLen = 16
	caHashLen = 64 // hex sha256
	alphabet  = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// Join token errors.
// ErrInvalid: a token string is malformed.
var ErrInvalid = errors.New("jointoken: invalid join token")

// Token is a parsed join token.
type Token struct {
	// CAHash is the hex sha256 of the cluster CA certificate PEM (see
	// CAHash); empty for a token given without it ("<id>.<secret>").
	CAHash string
	ID     string
	Secret string
}

// String renders t in the secure format when it carries a CA hash, else as
// "<id>.<secret>".
func (t Token) String() string {
	if t.CAHash == "" {
		return t.ID + "." + t.Secret
	}
	return Prefix + t.CAHash + "::" + t.ID + "." + t.Secret
}

// Parse parses a token in the secure format
// "K10<hash>::<id>.<secret>". Surrounding whitespace (a trailing newline
// of a token file) is ignored; the hash is accepted in either case and
// returned lower case.
func Parse(s string) (Token, error) {
	return parse(s, true)
}

// ParseOrBare parses a token in the secure format or a bare
// "<id>.<secret>" (CAHash empty), which is all the server needs to check.
func ParseOrBare(s string) (Token, error) {
	return parse(s, false)
}

func parse(s string, needHash bool) (Token, error) {
	s = strings.TrimSpace(s)
	var t Token
	rest := s
	if strings.HasPrefix(s, Prefix) {
		hash, creds, ok := strings.Cut(s[len(Prefix):], "::")
		if !ok {
			return Token{}, fmt.Errorf("%w: missing \"::\" after the CA hash", ErrInvalid)
		}
		hash = strings.ToLower(hash)
		if len(hash) != caHashLen || !isHex(hash) {
			return Token{}, fmt.Errorf("%w: the CA hash must be %d hex characters", ErrInvalid, caHashLen)
		}
		t.CAHash, rest = hash, creds
	} else if needHash {
		return Token{}, fmt.Errorf("%w: want %s<CA hash>::<id>.<secret>", ErrInvalid, Prefix)
	}
	id, secret, ok := strings.Cut(rest, ".")
	if !ok {
		return Token{}, fmt.Errorf("%w: want <id>.<secret> after the CA hash", ErrInvalid)
	}
	if err := ValidateID(id); err != nil {
		return Token{}, err
	}
	if len(secret) != secretLen || !inAlphabet(secret) {
		return Token{}, fmt.Errorf("%w: the secret must be %d characters of [a-z0-9]", ErrInvalid, secretLen)
	}
	t.ID, t.Secret = id, secret
	return t, nil
}

// ValidateSecret checks that secret is 16 characters of [a-z0-9].
func ValidateSecret(secret string) error {
	if len(secret) != secretLen || !inAlphabet(secret) {
		return fmt.Errorf("%w: the secret must be %d characters of [a-z0-9]", ErrInvalid, secretLen)
	}
	return nil
}

// ValidateID checks that id is 6 characters of [a-z0-9].
func ValidateID(id string) error {
	if len(id) != idLen || !inAlphabet(id) {
		return fmt.Errorf("%w: the id must be %d characters of [a-z0-9]", ErrInvalid, idLen)
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

// Generate returns a new random token for the CA whose
// certificate PEM is caPEM.
func Generate(caPEM []byte) (Token, error) {
	id, err := randomString(idLen)
	if err != nil {
		return Token{}, err
	}
	secret, err := randomString(secretLen)
	if err != nil {
		return Token{}, err
	}
	return Token{CAHash: CAHash(caPEM), ID: id, Secret: secret}, nil
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("jointoken: generate: %w", err)
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b), nil
}

// The join protocol: two endpoints of the API server that answer without
// credentials.
const (
	// CACertsPath serves the cluster CA certificate PEM (GET).
	CACertsPath = "/cacerts"
	// JoinPath exchanges a join token and certificate requests for a
	// node's certificates (POST, Request in, Response out).
	JoinPath = "/v1-cairn/join"
)

// Request is the body of a POST to JoinPath.
type Request struct {
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

// Response answers a successful Request.
type Response struct {
	CAPEM string `json:"caPEM"`
	// ClientCertPEM: CN system:node:<name>, O system:nodes.
	ClientCertPEM string `json:"clientCertPEM"`
	// ServingCertPEM: the kubelet's HTTPS server certificate.
	ServingCertPEM string `json:"servingCertPEM"`
}
