package gitsync

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"
)

// Errors VerifyCommit wraps, one per way a revision's signature can be
// refused. An error wrapping none of them is a problem with the keys, not
// with the revision.
var (
	// ErrUnsigned: the commit carries no signature.
	ErrUnsigned = errors.New("revision is not signed")
	// ErrUnknownSigner: the signature was made by a key that is not trusted.
	ErrUnknownSigner = errors.New("revision is signed by an untrusted key")
	// ErrBadSignature: a trusted key's signature that does not cover this
	// commit as it is (altered content, another namespace, a revoked or
	// expired key).
	ErrBadSignature = errors.New("revision's signature does not verify")
	// ErrMalformedSignature: the signature cannot be read, or is of a kind
	// (X.509, several signatures at once) that is not supported.
	ErrMalformedSignature = errors.New("revision's signature is malformed")
)

// Keys are the public keys a revision may be signed with.
type Keys struct {
	// OpenPGP holds public key rings, each one ASCII-armored block.
	OpenPGP []string
	// SSH holds public keys in authorized_keys format ("ssh-ed25519
	// AAAA... comment"). The one option understood is namespaces="...";
	// a key whose namespaces do not admit "git" signs no revision.
	SSH []string
}

// KeysFromSecret reads Keys from a Secret's data. Every key named "pgp"
// or ending in ".asc" or ".gpg" holds OpenPGP public keys (armored, or
// binary as `gpg --export` writes them); a key named "allowed_signers" or
// ending in ".pub" holds SSH public keys, one a line, in git's
// allowed_signers format ("principal[,principal] [options] keytype key")
// or authorized_keys format ("[options] keytype key comment"). Other
// keys are ignored, so the Secret may hold more; a Secret without a
// single public key is an error, as verification could only ever refuse.
func KeysFromSecret(data map[string][]byte) (Keys, error) {
	names := make([]string, 0, len(data))
	for name := range data {
		names = append(names, name)
	}
	sort.Strings(names)
	var keys Keys
	for _, name := range names {
		switch {
		case name == "pgp" || strings.HasSuffix(name, ".asc") || strings.HasSuffix(name, ".gpg"):
			rings, err := openPGPRings(data[name])
			if err != nil {
				return Keys{}, fmt.Errorf("Secret key %q: %v; store the output of `gpg --export --armor KEYID` there", name, err)
			}
			keys.OpenPGP = append(keys.OpenPGP, rings...)
		case name == "allowed_signers" || strings.HasSuffix(name, ".pub"):
			lines, err := sshKeyLines(data[name])
			if err != nil {
				return Keys{}, fmt.Errorf("Secret key %q: %v", name, err)
			}
			keys.SSH = append(keys.SSH, lines...)
		}
	}
	if len(keys.OpenPGP) == 0 && len(keys.SSH) == 0 {
		return Keys{}, errors.New("the Secret holds no public keys: add OpenPGP keys under a key ending in .asc, or SSH keys under allowed_signers or a key ending in .pub")
	}
	return keys, nil
}

// openPGPRings splits data into armored key rings, checking each parses;
// binary data is armored, as Keys.OpenPGP holds text.
func openPGPRings(data []byte) ([]string, error) {
	if !bytes.Contains(data, []byte("-----BEGIN PGP")) {
		ents, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("neither an armored nor a binary OpenPGP key ring: %v", err)
		}
		if err := publicOnly(ents); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
		if err == nil {
			_, err = w.Write(data)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			return nil, err
		}
		return []string{buf.String()}, nil
	}
	var rings []string
	// armor.Decode reads ahead past its block, so each block is cut out
	// before it is decoded.
	for i, block := range splitArmor(data) {
		ents, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(block))
		if err != nil {
			return nil, fmt.Errorf("armored block %d: %v", i+1, err)
		}
		if err := publicOnly(ents); err != nil {
			return nil, fmt.Errorf("armored block %d: %v", i+1, err)
		}
		rings = append(rings, string(block))
	}
	return rings, nil
}

// publicOnly refuses private keys: a verification Secret has no use for
// them, and one there is probably a leak.
func publicOnly(ents openpgp.EntityList) error {
	for _, e := range ents {
		if e.PrivateKey != nil {
			return errors.New("holds a private key; store only the public key")
		}
	}
	return nil
}

// splitArmor cuts data at every line that opens an armored block.
func splitArmor(data []byte) [][]byte {
	var starts []int
	for i := 0; i < len(data); {
		if bytes.HasPrefix(data[i:], []byte("-----BEGIN ")) {
			starts = append(starts, i)
		}
		nl := bytes.IndexByte(data[i:], '\n')
		if nl < 0 {
			break
		}
		i += nl + 1
	}
	blocks := make([][]byte, len(starts))
	for j, s := range starts {
		end := len(data)
		if j+1 < len(starts) {
			end = starts[j+1]
		}
		blocks[j] = data[s:end]
	}
	return blocks
}

// sshKeyLines turns an allowed_signers or authorized_keys file into
// Keys.SSH lines, the principals becoming the comment.
func sshKeyLines(data []byte) ([]string, error) {
	var lines []string
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseTrustedSSHKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n+1, err)
		}
		lines = append(lines, k.String())
	}
	if len(lines) == 0 {
		return nil, errors.New("holds no SSH public key")
	}
	return lines, nil
}

// trustedSSHKey is one parsed Keys.SSH line.
type trustedSSHKey struct {
	key ssh.PublicKey
	// label names the key's owner: allowed_signers principals or the
	// authorized_keys comment.
	label string
	// namespaces restricts what the key may sign ("" admits all).
	namespaces string
}

// String is the key as a Keys.SSH line.
func (k trustedSSHKey) String() string {
	var b strings.Builder
	if k.namespaces != "" {
		b.WriteString("namespaces=" + strconv.Quote(k.namespaces) + " ")
	}
	b.Write(bytes.TrimSpace(ssh.MarshalAuthorizedKey(k.key)))
	if k.label != "" {
		b.WriteString(" " + k.label)
	}
	return b.String()
}

// sshKeyTypes are the algorithms an authorized_keys line may open with.
var sshKeyTypes = map[string]bool{
	ssh.KeyAlgoRSA: true, ssh.KeyAlgoED25519: true, ssh.KeyAlgoSKED25519: true,
	ssh.KeyAlgoECDSA256: true, ssh.KeyAlgoECDSA384: true, ssh.KeyAlgoECDSA521: true,
	ssh.KeyAlgoSKECDSA256: true,
}

// parseTrustedSSHKey reads an allowed_signers or authorized_keys line.
// The two differ in their first field: a key type or options (which hold
// "=" or are cert-authority) in authorized_keys, principals — which hold
// neither — in allowed_signers.
func parseTrustedSSHKey(line string) (trustedSSHKey, error) {
	line = strings.TrimSpace(line)
	first, rest := line, ""
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		first, rest = line[:i], line[i+1:]
	}
	var principals string
	if !sshKeyTypes[first] && !strings.Contains(first, "=") && !strings.Contains(first, "cert-authority") {
		principals, line = first, rest
	}
	key, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return trustedSSHKey{}, fmt.Errorf("not an SSH public key (%v); write \"keytype base64-key comment\" or an allowed_signers line \"principals [options] keytype base64-key\"", err)
	}
	k := trustedSSHKey{key: key, label: comment}
	if principals != "" {
		k.label = principals
	}
	for _, o := range options {
		name, value, _ := strings.Cut(o, "=")
		switch strings.ToLower(name) {
		case "namespaces":
			if v, err := strconv.Unquote(value); err == nil {
				value = v
			}
			k.namespaces = value
		default:
			return trustedSSHKey{}, fmt.Errorf("option %q is not supported (certificate authorities and validity periods are not checked); list the signing keys themselves, optionally with namespaces=\"git\"", o)
		}
	}
	return k, nil
}

// admits tells whether the key may sign in namespace, with OpenSSH's
// pattern-list rules: any matching negated pattern refuses.
func (k trustedSSHKey) admits(namespace string) bool {
	if k.namespaces == "" {
		return true
	}
	ok := false
	for _, p := range strings.Split(k.namespaces, ",") {
		p = strings.TrimSpace(p)
		negated := strings.HasPrefix(p, "!")
		if m, _ := path.Match(strings.TrimPrefix(p, "!"), namespace); m {
			if negated {
				return false
			}
			ok = true
		}
	}
	return ok
}

// VerifyCommit checks the commit's signature (its gpgsig header, OpenPGP
// or SSH) against keys and returns who signed: the key's fingerprint and
// the OpenPGP identity, the allowed_signers principals or the
// authorized_keys comment. A refused commit's error wraps ErrUnsigned,
// ErrUnknownSigner, ErrBadSignature or ErrMalformedSignature and says why.
func VerifyCommit(c *object.Commit, keys Keys) (signer string, err error) {
	if c == nil {
		return "", errors.New("no commit to verify")
	}
	rings, sshKeys, err := parseKeys(keys)
	if err != nil {
		return "", err
	}
	short := c.Hash.String()[:12]
	sig := strings.TrimSpace(c.PGPSignature)
	if sig == "" {
		return "", fmt.Errorf("commit %s: %w; sign it with `git commit -S` using a trusted key", short, ErrUnsigned)
	}
	if n := strings.Count("\n"+sig, "\n-----BEGIN "); n > 1 {
		return "", fmt.Errorf("commit %s: %w: it carries %d signatures; sign it once", short, ErrMalformedSignature, n)
	}
	payload, err := signedPayload(c)
	if err != nil {
		return "", fmt.Errorf("commit %s: encoding it for verification: %v", short, err)
	}
	switch {
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		signer, err = verifyOpenPGP(sig, payload, rings)
	case strings.HasPrefix(sig, sshsigArmorBegin):
		signer, err = verifySSH(sig, payload, sshKeys)
	default:
		first, _, _ := strings.Cut(sig, "\n")
		err = fmt.Errorf("%w: it is neither OpenPGP nor SSH (it opens with %q); X.509 signatures are not supported", ErrMalformedSignature, first)
	}
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", short, err)
	}
	return signer, nil
}

// parseKeys reads every key, so a bad one is found whatever the commit.
func parseKeys(keys Keys) (openpgp.EntityList, []trustedSSHKey, error) {
	if len(keys.OpenPGP) == 0 && len(keys.SSH) == 0 {
		return nil, nil, errors.New("no public keys to verify the revision with; list OpenPGP or SSH keys")
	}
	var rings openpgp.EntityList
	for i, r := range keys.OpenPGP {
		ents, err := openpgp.ReadArmoredKeyRing(strings.NewReader(r))
		if err != nil {
			return nil, nil, fmt.Errorf("OpenPGP key ring %d: %v", i+1, err)
		}
		rings = append(rings, ents...)
	}
	var sshKeys []trustedSSHKey
	for i, line := range keys.SSH {
		k, err := parseTrustedSSHKey(line)
		if err != nil {
			return nil, nil, fmt.Errorf("SSH key %d: %v", i+1, err)
		}
		sshKeys = append(sshKeys, k)
	}
	return rings, sshKeys, nil
}

// signedPayload is the commit as encoded without its signature header,
// the bytes both OpenPGP and SSH signatures cover.
func signedPayload(c *object.Commit) ([]byte, error) {
	o := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(o); err != nil {
		return nil, err
	}
	r, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// verifyOpenPGP checks an armored detached signature against every ring
// at once, so which key signed does not depend on the order of the rings.
func verifyOpenPGP(sig string, payload []byte, rings openpgp.EntityList) (string, error) {
	if len(rings) == 0 {
		return "", fmt.Errorf("%w: it has an OpenPGP signature but no OpenPGP key is trusted", ErrUnknownSigner)
	}
	e, err := openpgp.CheckArmoredDetachedSignature(rings, bytes.NewReader(payload), strings.NewReader(sig), nil)
	if err != nil {
		return "", classifyOpenPGP(err, sig)
	}
	fp := strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
	if id := e.PrimaryIdentity(); id != nil && id.Name != "" {
		return fp + " " + id.Name, nil
	}
	return fp, nil
}

// classifyOpenPGP maps go-crypto's errors onto VerifyCommit's.
func classifyOpenPGP(err error, sig string) error {
	var sigErr pgperrors.SignatureError
	var weak pgperrors.WeakAlgorithmError
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return fmt.Errorf("%w: OpenPGP key %s is not among the trusted keys; add its public key or sign with a trusted one", ErrUnknownSigner, pgpIssuer(sig))
	case errors.Is(err, pgperrors.ErrKeyRevoked), errors.Is(err, pgperrors.ErrKeyExpired),
		errors.Is(err, pgperrors.ErrSignatureExpired), errors.Is(err, pgperrors.ErrSignatureOlderThanKey):
		return fmt.Errorf("%w: %v; sign again with a valid key", ErrBadSignature, err)
	case errors.As(err, &sigErr), errors.As(err, &weak):
		return fmt.Errorf("%w: the OpenPGP signature does not match the commit's content (%v)", ErrBadSignature, err)
	}
	return fmt.Errorf("%w: the OpenPGP signature cannot be read: %v", ErrMalformedSignature, err)
}

// pgpIssuer names the key an armored signature says made it, so that an
// untrusted signer can be told apart from a mistake in the keys.
func pgpIssuer(sig string) string {
	const unknown = "(unnamed in the signature)"
	block, err := armor.Decode(strings.NewReader(sig))
	if err != nil {
		return unknown
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return unknown
	}
	s, ok := p.(*packet.Signature)
	switch {
	case !ok:
		return unknown
	case len(s.IssuerFingerprint) > 0:
		return strings.ToUpper(hex.EncodeToString(s.IssuerFingerprint))
	case s.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *s.IssuerKeyId)
	}
	return unknown
}

// verifySSH checks an SSHSIG in the "git" namespace by a trusted key.
func verifySSH(sig string, payload []byte, trusted []trustedSSHKey) (string, error) {
	s, err := parseSSHSignature([]byte(sig))
	if err != nil {
		return "", fmt.Errorf("%w: the SSH signature cannot be read: %v", ErrMalformedSignature, err)
	}
	if s.namespace != gitNamespace {
		return "", fmt.Errorf("%w: the SSH signature was made for namespace %q, not %q; sign with `git commit -S`", ErrBadSignature, s.namespace, gitNamespace)
	}
	fp := ssh.FingerprintSHA256(s.key)
	var match *trustedSSHKey
	restricted := false
	for i := range trusted {
		if !bytes.Equal(trusted[i].key.Marshal(), s.key.Marshal()) {
			continue
		}
		if trusted[i].admits(gitNamespace) {
			match = &trusted[i]
			break
		}
		restricted = true
	}
	switch {
	case match == nil && restricted:
		return "", fmt.Errorf("%w: SSH key %s may not sign in namespace %q; add git to its namespaces option", ErrUnknownSigner, fp, gitNamespace)
	case match == nil:
		return "", fmt.Errorf("%w: SSH key %s (%s) is not among the trusted keys; add its public key or sign with a trusted one", ErrUnknownSigner, fp, s.key.Type())
	}
	if err := s.verify(payload); err != nil {
		return "", fmt.Errorf("%w: the SSH signature by %s does not match the commit's content (%v)", ErrBadSignature, fp, err)
	}
	if match.label != "" {
		return fp + " " + match.label, nil
	}
	return fp, nil
}
