package gitsync_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"

	"github.com/cairn-dev/cairn/gitsync"
)

// sigRepo makes commits in a real repository in a temporary directory.
type sigRepo struct {
	r   *git.Repository
	dir string
	n   int
}

func newSigRepo(t *testing.T) *sigRepo {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return &sigRepo{r: r, dir: dir}
}

// commit changes a file and commits it with opts (signed or not).
func (s *sigRepo) commit(t *testing.T, opts *git.CommitOptions) *object.Commit {
	t.Helper()
	s.n++
	if err := os.WriteFile(filepath.Join(s.dir, "app.yaml"), fmt.Appendf(nil, "revision: %d\n", s.n), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, err := s.r.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("app.yaml"); err != nil {
		t.Fatal(err)
	}
	opts.Author = &object.Signature{Name: "Alice", Email: "alice@example.com", When: time.Unix(1700000000+int64(s.n), 0).UTC()}
	h, err := wt.Commit(fmt.Sprintf("change %d\n", s.n), opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.r.CommitObject(h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// forge stores a copy of c changed by edit, keeping its signature, and
// reads it back as a fetched commit would be.
func (s *sigRepo) forge(t *testing.T, c *object.Commit, edit func(*object.Commit)) *object.Commit {
	t.Helper()
	f := &object.Commit{
		Author: c.Author, Committer: c.Committer, PGPSignature: c.PGPSignature,
		Message: c.Message, TreeHash: c.TreeHash, ParentHashes: c.ParentHashes,
	}
	edit(f)
	o := s.r.Storer.NewEncodedObject()
	if err := f.Encode(o); err != nil {
		t.Fatal(err)
	}
	h, err := s.r.Storer.SetEncodedObject(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.r.CommitObject(h)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (s *sigRepo) withSignature(t *testing.T, c *object.Commit, sig string) *object.Commit {
	return s.forge(t, c, func(f *object.Commit) { f.PGPSignature = sig })
}

func newPGPEntity(t *testing.T, name, email string) *openpgp.Entity {
	t.Helper()
	// EdDSA keeps key generation instant, where RSA would take seconds.
	e, err := openpgp.NewEntity(name, "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func armoredPublicKey(t *testing.T, e *openpgp.Entity) string {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func pgpFingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// TestVerifyCommit verifies real signed commits against keys read from a
// Secret: good signatures name their signer, every other case is refused
// with the error that says why.
func TestVerifyCommit(t *testing.T) {
	alice := newPGPEntity(t, "Alice", "alice@example.com")
	mallory := newPGPEntity(t, "Mallory", "mallory@example.com")
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	ed := newSSHSigSigner(t, edKey, "")
	ec := newSSHSigSigner(t, ecKey, "")
	ec.hashAlg = "sha256"
	other := newSSHSigSigner(t, otherKey, "")
	fileNS := ed
	fileNS.namespace = "file"

	keys, err := gitsync.KeysFromSecret(map[string][]byte{
		"alice.asc":       []byte(armoredPublicKey(t, alice)),
		"allowed_signers": []byte("# the team\nalice@example.com,admin@example.com namespaces=\"git\" " + authorizedKey(ed.key.PublicKey(), "laptop") + "\n"),
		"ci.pub":          []byte(authorizedKey(ec.key.PublicKey(), "ci@build") + "\n"),
		"webhook-secret":  []byte("not a key"),
	})
	if err != nil {
		t.Fatal(err)
	}
	withMallory := keys
	withMallory.OpenPGP = append([]string{armoredPublicKey(t, mallory)}, keys.OpenPGP...)
	sshOnly := gitsync.Keys{SSH: keys.SSH}
	pgpOnly := gitsync.Keys{OpenPGP: keys.OpenPGP}
	restricted := gitsync.Keys{SSH: []string{`namespaces="file,!git" ` + authorizedKey(ed.key.PublicKey(), "alice")}}

	r := newSigRepo(t)
	pgpSigned := r.commit(t, &git.CommitOptions{SignKey: alice})
	edSigned := r.commit(t, &git.CommitOptions{Signer: ed})
	ecSigned := r.commit(t, &git.CommitOptions{Signer: ec})
	edSigned2 := r.commit(t, &git.CommitOptions{Signer: ed})
	reword := func(c *object.Commit) { c.Message = "change approved by nobody\n" }

	for _, tc := range []struct {
		name       string
		commit     *object.Commit
		keys       gitsync.Keys
		wantSigner string
		wantErr    error
		wantText   string
	}{
		{name: "OpenPGP", commit: pgpSigned, keys: keys,
			wantSigner: pgpFingerprint(alice) + " Alice <alice@example.com>"},
		{name: "OpenPGP, signer's ring after another", commit: pgpSigned, keys: withMallory,
			wantSigner: pgpFingerprint(alice) + " Alice <alice@example.com>"},
		{name: "OpenPGP by an untrusted key", commit: r.commit(t, &git.CommitOptions{SignKey: mallory}), keys: keys,
			wantErr: gitsync.ErrUnknownSigner, wantText: pgpFingerprint(mallory)},
		{name: "OpenPGP, message altered", commit: r.forge(t, pgpSigned, reword), keys: keys,
			wantErr: gitsync.ErrBadSignature},
		{name: "OpenPGP, no OpenPGP key trusted", commit: pgpSigned, keys: sshOnly,
			wantErr: gitsync.ErrUnknownSigner, wantText: "no OpenPGP key is trusted"},
		{name: "unsigned", commit: r.commit(t, &git.CommitOptions{}), keys: keys,
			wantErr: gitsync.ErrUnsigned, wantText: "git commit -S"},
		{name: "SSH ed25519 from allowed_signers", commit: edSigned, keys: keys,
			wantSigner: ssh.FingerprintSHA256(ed.key.PublicKey()) + " alice@example.com,admin@example.com"},
		{name: "SSH ecdsa from authorized_keys", commit: ecSigned, keys: keys,
			wantSigner: ssh.FingerprintSHA256(ec.key.PublicKey()) + " ci@build"},
		{name: "SSH by an untrusted key", commit: r.commit(t, &git.CommitOptions{Signer: other}), keys: keys,
			wantErr: gitsync.ErrUnknownSigner, wantText: ssh.FingerprintSHA256(other.key.PublicKey())},
		{name: "SSH, no SSH key trusted", commit: edSigned, keys: pgpOnly,
			wantErr: gitsync.ErrUnknownSigner},
		{name: "SSH in namespace file", commit: r.commit(t, &git.CommitOptions{Signer: fileNS}), keys: keys,
			wantErr: gitsync.ErrBadSignature, wantText: `namespace "file"`},
		{name: "SSH key restricted to other namespaces", commit: edSigned, keys: restricted,
			wantErr: gitsync.ErrUnknownSigner, wantText: "may not sign"},
		{name: "SSH, message altered", commit: r.forge(t, edSigned, reword), keys: keys,
			wantErr: gitsync.ErrBadSignature},
		{name: "SSH, tree swapped", commit: r.forge(t, edSigned2, func(c *object.Commit) { c.TreeHash = ecSigned.TreeHash }), keys: keys,
			wantErr: gitsync.ErrBadSignature},
		{name: "SSH signature of another commit", commit: r.withSignature(t, edSigned, edSigned2.PGPSignature), keys: keys,
			wantErr: gitsync.ErrBadSignature},
		{name: "two signatures", commit: r.withSignature(t, edSigned, edSigned.PGPSignature+ecSigned.PGPSignature), keys: keys,
			wantErr: gitsync.ErrMalformedSignature, wantText: "2 signatures"},
		{name: "X.509", commit: r.withSignature(t, edSigned, "-----BEGIN SIGNED MESSAGE-----\nMIAG\n-----END SIGNED MESSAGE-----\n"), keys: keys,
			wantErr: gitsync.ErrMalformedSignature, wantText: "X.509"},
		{name: "OpenPGP armor around garbage", commit: r.withSignature(t, pgpSigned, "-----BEGIN PGP SIGNATURE-----\n\nbm90IGEgc2lnbmF0dXJl\n-----END PGP SIGNATURE-----\n"), keys: keys,
			wantErr: gitsync.ErrMalformedSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signer, err := gitsync.VerifyCommit(tc.commit, tc.keys)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if signer != tc.wantSigner {
					t.Fatalf("signer %q, want %q", signer, tc.wantSigner)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got signer %q, error %v; want %v", signer, err, tc.wantErr)
			}
			t.Log(err)
			if signer != "" {
				t.Fatalf("refused commit still names signer %q", signer)
			}
			if !strings.Contains(err.Error(), tc.commit.Hash.String()[:12]) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("error %q should name the commit and say %q", err, tc.wantText)
			}
		})
	}

	t.Run("no keys", func(t *testing.T) {
		_, err := gitsync.VerifyCommit(pgpSigned, gitsync.Keys{})
		if err == nil || errors.Is(err, gitsync.ErrUnknownSigner) || !strings.Contains(err.Error(), "no public keys") {
			t.Fatalf("got %v, want a configuration error", err)
		}
	})
	t.Run("bad key line", func(t *testing.T) {
		_, err := gitsync.VerifyCommit(edSigned, gitsync.Keys{SSH: append(keys.SSH, "ssh-ed25519 AAAAnope")})
		if err == nil || errors.Is(err, gitsync.ErrUnknownSigner) || !strings.Contains(err.Error(), "SSH key 3") {
			t.Fatalf("got %v, want an error naming SSH key 3", err)
		}
	})
}

// TestVerifyKeysFromSecret reads the Secret layouts people write, and
// refuses bad entries naming the Secret key (and line) at fault.
func TestVerifyKeysFromSecret(t *testing.T) {
	alice := newPGPEntity(t, "Alice", "alice@example.com")
	bob := newPGPEntity(t, "Bob", "bob@example.com")
	var binary bytes.Buffer
	if err := bob.Serialize(&binary); err != nil {
		t.Fatal(err)
	}
	var private bytes.Buffer
	pw, _ := armor.Encode(&private, openpgp.PrivateKeyType, nil)
	if err := alice.SerializePrivate(pw, nil); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edPub, _ := ssh.NewPublicKey(edKey.Public())
	edLine := authorizedKey(edPub, "laptop")
	edBare := strings.TrimSuffix(edLine, " laptop")

	for _, tc := range []struct {
		name    string
		data    map[string][]byte
		openpgp int
		ssh     []string
		wantErr string
	}{
		{name: "armored ring", data: map[string][]byte{"alice.asc": []byte(armoredPublicKey(t, alice))}, openpgp: 1},
		{name: "binary ring, armored", data: map[string][]byte{"bob.gpg": binary.Bytes()}, openpgp: 1},
		{name: "two blocks in one key", data: map[string][]byte{"pgp": []byte(armoredPublicKey(t, alice) + "\n" + armoredPublicKey(t, bob))}, openpgp: 2},
		{name: "allowed_signers with principals and options",
			data: map[string][]byte{"allowed_signers": []byte("# comment\n\nalice@example.com,ops@example.com namespaces=\"git\" " + edBare + "\n")},
			ssh:  []string{`namespaces="git" ` + edBare + " alice@example.com,ops@example.com"}},
		{name: "allowed_signers without options",
			data: map[string][]byte{"allowed_signers": []byte("alice@example.com\t" + edLine + "\n")},
			ssh:  []string{edBare + " alice@example.com"}},
		{name: "authorized_keys line", data: map[string][]byte{"alice.pub": []byte(edLine + "\n")}, ssh: []string{edLine}},
		{name: "authorized_keys line with options", data: map[string][]byte{"alice.pub": []byte(`namespaces="git" ` + edLine)},
			ssh: []string{`namespaces="git" ` + edLine}},
		{name: "other Secret keys ignored", data: map[string][]byte{"alice.pub": []byte(edLine), "identity": []byte("-----BEGIN OPENSSH PRIVATE KEY-----"), "webhook-secret": []byte("x")},
			ssh: []string{edLine}},
		{name: "garbage SSH line", data: map[string][]byte{"team.pub": []byte(edLine + "\nnot a key at all\n")}, wantErr: `Secret key "team.pub": line 2: not an SSH public key`},
		{name: "certificate authority", data: map[string][]byte{"allowed_signers": []byte("*@example.com cert-authority " + edBare)}, wantErr: `option "cert-authority" is not supported`},
		{name: "empty .pub", data: map[string][]byte{"x.pub": []byte("# nobody yet\n")}, wantErr: `Secret key "x.pub": holds no SSH public key`},
		{name: "garbage ring", data: map[string][]byte{"alice.asc": []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n")}, wantErr: `Secret key "alice.asc": armored block 1`},
		{name: "binary garbage", data: map[string][]byte{"bob.gpg": []byte("\x00\x01\x02")}, wantErr: `Secret key "bob.gpg": neither an armored nor a binary`},
		{name: "private key", data: map[string][]byte{"alice.asc": private.Bytes()}, wantErr: "private key"},
		{name: "no public keys", data: map[string][]byte{"webhook-secret": []byte("x")}, wantErr: "holds no public keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := gitsync.KeysFromSecret(tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys.OpenPGP) != tc.openpgp {
				t.Fatalf("%d OpenPGP rings, want %d", len(keys.OpenPGP), tc.openpgp)
			}
			for i, ring := range keys.OpenPGP {
				if _, err := openpgp.ReadArmoredKeyRing(strings.NewReader(ring)); err != nil {
					t.Fatalf("ring %d does not read back: %v", i, err)
				}
			}
			if strings.Join(keys.SSH, "\n") != strings.Join(tc.ssh, "\n") {
				t.Fatalf("SSH keys %q, want %q", keys.SSH, tc.ssh)
			}
		})
	}
}

// TestVerifySSHSigAgainstGit checks both directions against OpenSSH: a
// commit `git commit -S` signed with ssh-keygen's keys verifies, and
// OpenSSH accepts the signatures the other tests make.
func TestVerifySSHSigAgainstGit(t *testing.T) {
	for _, tool := range []string{"git", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI: %v", tool, err)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	dir := t.TempDir()
	run := func(t *testing.T, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+filepath.Join(dir, "no-gitconfig"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(t, "git", "init", "-q", "repo")
	gitCmd := func(t *testing.T, args ...string) string {
		return run(t, "git", append([]string{"-C", "repo", "-c", "user.name=Alice", "-c", "user.email=alice@example.com", "-c", "gpg.format=ssh",
			"-c", "gpg.ssh.allowedSignersFile=" + filepath.Join(dir, "allowed_signers")}, args...)...)
	}

	for _, kt := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run("git commit -S with "+kt, func(t *testing.T) {
			key := filepath.Join(dir, kt)
			args := []string{"-q", "-t", kt, "-N", "", "-C", kt + "@example.com", "-f", key}
			if kt == "rsa" {
				args = append(args, "-b", "2048") // the default 3072 bits take seconds to generate
			}
			run(t, "ssh-keygen", args...)
			pub, err := os.ReadFile(key + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			gitCmd(t, "-c", "user.signingkey="+key, "commit", "-q", "--allow-empty", "-S", "-m", "signed with "+kt)
			repo, err := git.PlainOpen(filepath.Join(dir, "repo"))
			if err != nil {
				t.Fatal(err)
			}
			head, err := repo.Head()
			if err != nil {
				t.Fatal(err)
			}
			c, err := repo.CommitObject(head.Hash())
			if err != nil {
				t.Fatal(err)
			}
			keys, err := gitsync.KeysFromSecret(map[string][]byte{"allowed_signers": []byte("alice@example.com " + string(pub))})
			if err != nil {
				t.Fatal(err)
			}
			signer, err := gitsync.VerifyCommit(c, keys)
			if err != nil {
				t.Fatal(err)
			}
			fp := strings.Fields(run(t, "ssh-keygen", "-l", "-f", key+".pub"))[1]
			if signer != fp+" alice@example.com" {
				t.Fatalf("signer %q, want %q", signer, fp+" alice@example.com")
			}
			if _, err := gitsync.VerifyCommit(c, gitsync.Keys{SSH: []string{"namespaces=\"file\" " + string(pub)}}); !errors.Is(err, gitsync.ErrUnknownSigner) {
				t.Fatalf("key not allowed for git: got %v", err)
			}
		})
	}

	t.Run("git verify-commit accepts the test signatures", func(t *testing.T) {
		_, edKey, _ := ed25519.GenerateKey(rand.Reader)
		ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		repo, err := git.PlainOpen(filepath.Join(dir, "repo"))
		if err != nil {
			t.Fatal(err)
		}
		wt, err := repo.Worktree()
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range []sshsigSigner{newSSHSigSigner(t, edKey, ""), newSSHSigSigner(t, ecKey, "")} {
			if i == 1 {
				s.hashAlg = "sha256"
			}
			allowed := "alice@example.com " + authorizedKey(s.key.PublicKey(), "") + "\n"
			if err := os.WriteFile(filepath.Join(dir, "allowed_signers"), []byte(allowed), 0o644); err != nil {
				t.Fatal(err)
			}
			h, err := wt.Commit(fmt.Sprintf("signed by the test signer %d\n", i), &git.CommitOptions{AllowEmptyCommits: true, Signer: s,
				Author: &object.Signature{Name: "Alice", Email: "alice@example.com", When: time.Unix(1700000000, 0).UTC()}})
			if err != nil {
				t.Fatal(err)
			}
			out := gitCmd(t, "verify-commit", "-v", h.String())
			if !strings.Contains(out, `Good "git" signature for alice@example.com`) {
				t.Fatalf("git verify-commit says:\n%s", out)
			}
		}
	})
}
