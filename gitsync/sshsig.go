package gitsync

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// The SSHSIG format is OpenSSH's detached signature (PROTOCOL.sshsig), the
// one `git commit -S` writes with gpg.format=ssh. The magic opens both the
// signature blob and the data the signature covers, so a signature made
// for another purpose can never be replayed as an SSH session signature.
const (
	sshsigMagic      = "SSHSIG"
	sshsigVersion    = 1
	sshsigArmorBegin = "-----BEGIN SSH SIGNATURE-----"
	sshsigArmorEnd   = "-----END SSH SIGNATURE-----"
	// gitNamespace is the namespace git signs commits and tags in; a
	// signature in any other one (say "file") was made for something else.
	gitNamespace = "git"
)

// sshSignature is a parsed SSHSIG blob.
type sshSignature struct {
	key       ssh.PublicKey
	namespace string
	reserved  []byte
	hashAlg   string
	sig       *ssh.Signature
}

// sshsigBlob is the SSHSIG blob after its magic, in wire order.
type sshsigBlob struct {
	Version   uint32
	PublicKey []byte
	Namespace string
	Reserved  []byte
	HashAlg   string
	Signature []byte
}

// sshsigSigned is what the signature covers, after the magic; the message
// enters only through its hash.
type sshsigSigned struct {
	Namespace string
	Reserved  []byte
	HashAlg   string
	Hash      []byte
}

// parseSSHSignature decodes an armored SSHSIG. Errors describe what is
// wrong with the text; they are not wrapped, the caller classifies them.
func parseSSHSignature(armored []byte) (*sshSignature, error) {
	text := bytes.TrimSpace(armored)
	if !bytes.HasPrefix(text, []byte(sshsigArmorBegin)) || !bytes.HasSuffix(text, []byte(sshsigArmorEnd)) {
		return nil, fmt.Errorf("not enclosed in %s and %s", sshsigArmorBegin, sshsigArmorEnd)
	}
	body := text[len(sshsigArmorBegin) : len(text)-len(sshsigArmorEnd)]
	if bytes.Contains(body, []byte("-----")) {
		return nil, fmt.Errorf("more than one armored block")
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(body), nil)))
	if err != nil {
		return nil, fmt.Errorf("armored body is not base64: %v", err)
	}
	if !bytes.HasPrefix(raw, []byte(sshsigMagic)) {
		return nil, fmt.Errorf("blob does not start with %q", sshsigMagic)
	}
	var b sshsigBlob
	if err := ssh.Unmarshal(raw[len(sshsigMagic):], &b); err != nil {
		return nil, fmt.Errorf("blob: %v", err)
	}
	if b.Version != sshsigVersion {
		return nil, fmt.Errorf("version %d, only %d is known", b.Version, sshsigVersion)
	}
	if _, err := sshsigHash(b.HashAlg, nil); err != nil {
		return nil, err
	}
	key, err := ssh.ParsePublicKey(b.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("public key: %v", err)
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(b.Signature, sig); err != nil {
		return nil, fmt.Errorf("signature: %v", err)
	}
	return &sshSignature{key: key, namespace: b.Namespace, reserved: b.Reserved, hashAlg: b.HashAlg, sig: sig}, nil
}

// sshsigHash hashes message with one of the two algorithms PROTOCOL.sshsig
// allows.
func sshsigHash(alg string, message []byte) ([]byte, error) {
	switch alg {
	case "sha512":
		h := sha512.Sum512(message)
		return h[:], nil
	case "sha256":
		h := sha256.Sum256(message)
		return h[:], nil
	}
	return nil, fmt.Errorf("hash algorithm %q is not sha512 or sha256", alg)
}

// sshsigSignedData is the byte string an SSHSIG signature is made over.
func sshsigSignedData(namespace string, reserved []byte, hashAlg string, message []byte) ([]byte, error) {
	h, err := sshsigHash(hashAlg, message)
	if err != nil {
		return nil, err
	}
	return append([]byte(sshsigMagic), ssh.Marshal(sshsigSigned{Namespace: namespace, Reserved: reserved, HashAlg: hashAlg, Hash: h})...), nil
}

// verify checks the signature over message with the key the blob carries;
// whether that key is trusted is the caller's decision.
func (s *sshSignature) verify(message []byte) error {
	// ssh.PublicKey.Verify still accepts SHA-1 RSA signatures for old
	// servers; OpenSSH never makes SSHSIGs with them and refuses them.
	if s.sig.Format == ssh.KeyAlgoRSA {
		return fmt.Errorf("RSA signature uses SHA-1 (ssh-rsa); sign with rsa-sha2-512 or rsa-sha2-256")
	}
	data, err := sshsigSignedData(s.namespace, s.reserved, s.hashAlg, message)
	if err != nil {
		return err
	}
	return s.key.Verify(data, s.sig)
}
