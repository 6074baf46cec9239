package gitsync_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"golang.org/x/crypto/ssh"

	"github.com/cairn-dev/cairn/gitsync"
)

// sshsigSigner makes OpenSSH SSHSIG signatures (PROTOCOL.sshsig) as
// `ssh-keygen -Y sign` does. It is written from the specification, apart
// from the code under test, and is checked against OpenSSH itself by
// TestVerifySSHSigAgainstGit. It satisfies go-git's Signer, so commits are
// signed through the same path as OpenPGP ones.
type sshsigSigner struct {
	key ssh.AlgorithmSigner
	// algo is the signature algorithm ("" picks the key's default);
	// RSA keys need rsa-sha2-512 or rsa-sha2-256.
	algo      string
	namespace string
	hashAlg   string
}

func newSSHSigSigner(t *testing.T, key any, algo string) sshsigSigner {
	t.Helper()
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return sshsigSigner{key: s.(ssh.AlgorithmSigner), algo: algo, namespace: "git", hashAlg: "sha512"}
}

func (s sshsigSigner) Sign(message io.Reader) ([]byte, error) {
	msg, err := io.ReadAll(message)
	if err != nil {
		return nil, err
	}
	var h []byte
	switch s.hashAlg {
	case "sha256":
		sum := sha256.Sum256(msg)
		h = sum[:]
	case "sha512":
		sum := sha512.Sum512(msg)
		h = sum[:]
	default:
		h = []byte("no such hash")
	}
	signed := append([]byte("SSHSIG"), ssh.Marshal(struct {
		Namespace string
		Reserved  []byte
		HashAlg   string
		Hash      []byte
	}{s.namespace, nil, s.hashAlg, h})...)
	sig, err := s.key.SignWithAlgorithm(rand.Reader, signed, s.algo)
	if err != nil {
		return nil, err
	}
	blob := append([]byte("SSHSIG"), ssh.Marshal(struct {
		Version   uint32
		PublicKey []byte
		Namespace string
		Reserved  []byte
		HashAlg   string
		Signature []byte
	}{1, s.key.PublicKey().Marshal(), s.namespace, nil, s.hashAlg, ssh.Marshal(*sig)})...)
	return []byte(sshsigArmor(blob)), nil
}

// sshsigArmor wraps a blob as ssh-keygen does, 70 columns wide.
func sshsigArmor(blob []byte) string {
	b64 := base64.StdEncoding.EncodeToString(blob)
	var b strings.Builder
	b.WriteString("-----BEGIN SSH SIGNATURE-----\n")
	for len(b64) > 70 {
		b.WriteString(b64[:70] + "\n")
		b64 = b64[70:]
	}
	b.WriteString(b64 + "\n-----END SSH SIGNATURE-----\n")
	return b.String()
}

func authorizedKey(pub ssh.PublicKey, comment string) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + comment
}

// TestSSHSigMalformed feeds VerifyCommit SSH signatures that are broken in
// one field each; every one must be refused as malformed, not crash or
// pass.
func TestSSHSigMalformed(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := newSSHSigSigner(t, priv, "")
	keys := gitsync.Keys{SSH: []string{authorizedKey(s.key.PublicKey(), "alice@example.com")}}
	r := newSigRepo(t)
	base := r.commit(t, &git.CommitOptions{Signer: s})
	if _, err := gitsync.VerifyCommit(base, keys); err != nil {
		t.Fatalf("the unaltered commit must verify: %v", err)
	}
	pub := s.key.PublicKey().Marshal()
	field := func(version uint32, key []byte, hashAlg string, sig []byte) string {
		return sshsigArmor(append([]byte("SSHSIG"), ssh.Marshal(struct {
			Version   uint32
			PublicKey []byte
			Namespace string
			Reserved  []byte
			HashAlg   string
			Signature []byte
		}{version, key, "git", nil, hashAlg, sig})...))
	}
	good := ssh.Marshal(ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: make([]byte, 64)})
	for _, tc := range []struct{ name, sig, want string }{
		{"no end line", "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n", "not enclosed"},
		{"not base64", "-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n", "not base64"},
		{"wrong magic", sshsigArmor([]byte("SSHSIX\x00\x00\x00\x01")), `does not start with "SSHSIG"`},
		{"truncated", sshsigArmor([]byte("SSHSIG\x00\x00\x00\x01\x00\x00\x00\xff")), "blob"},
		{"version 2", field(2, pub, "sha512", good), "version 2"},
		{"sha1", field(1, pub, "sha1", good), `"sha1" is not sha512 or sha256`},
		{"garbage key", field(1, []byte("\x00\x00\x00\x07ssh-foo"), "sha512", good), "public key"},
		{"garbage signature", field(1, pub, "sha512", []byte{0, 0, 0, 9}), "signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := r.withSignature(t, base, tc.sig)
			_, err := gitsync.VerifyCommit(c, keys)
			if !errors.Is(err, gitsync.ErrMalformedSignature) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrMalformedSignature mentioning %q", err, tc.want)
			}
		})
	}
}

// TestSSHSigAlgorithms signs with every supported key type and hash, and
// shows SHA-1 RSA signatures, which OpenSSH never makes for SSHSIG, are
// refused even though the x/crypto verifier would accept them.
func TestSSHSigAlgorithms(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	r := newSigRepo(t)
	for _, tc := range []struct {
		name    string
		key     any
		algo    string
		hashAlg string
		wantErr error
	}{
		{"ed25519 sha512", ed, "", "sha512", nil},
		{"ed25519 sha256", ed, "", "sha256", nil},
		{"ecdsa p256", p256, "", "sha512", nil},
		{"ecdsa p384 sha256", p384, "", "sha256", nil},
		{"rsa-sha2-512", rk, ssh.KeyAlgoRSASHA512, "sha512", nil},
		{"rsa-sha2-256", rk, ssh.KeyAlgoRSASHA256, "sha512", nil},
		{"rsa sha1", rk, ssh.KeyAlgoRSA, "sha512", gitsync.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSSHSigSigner(t, tc.key, tc.algo)
			s.hashAlg = tc.hashAlg
			c := r.commit(t, &git.CommitOptions{Signer: s})
			signer, err := gitsync.VerifyCommit(c, gitsync.Keys{SSH: []string{authorizedKey(s.key.PublicKey(), "ops")}})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("%s ops", ssh.FingerprintSHA256(s.key.PublicKey())); signer != want {
				t.Fatalf("signer %q, want %q", signer, want)
			}
		})
	}
}
