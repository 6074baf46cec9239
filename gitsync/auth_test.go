package gitsync

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// fetchTimeout bounds one fetch from a loopback server; a fetch takes
// milliseconds, so hitting it means a hang.
const fetchTimeout = 20 * time.Second

// fetch fetches main from url with the auth a Secret with data gives,
// through the Fetcher the controller uses.
func fetch(t *testing.T, url string, data map[string][]byte) (*Revision, error) {
	t.Helper()
	creds, err := CredentialsFromSecret(url, data)
	if err != nil {
		t.Fatalf("CredentialsFromSecret: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), fetchTimeout)
	defer cancel()
	return (&Fetcher{Dir: t.TempDir()}).Fetch(ctx, url, Ref{Branch: "main"}, creds)
}

// wantFetched checks that the fetch got the head of repo, and only it.
func wantFetched(t *testing.T, rev *Revision, err error, repo *testRepo) {
	t.Helper()
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if rev.Hash != repo.head {
		t.Fatalf("fetched %s, want %s", rev.Hash, repo.head)
	}
	if _, err := rev.Commit.Parent(0); !errors.Is(err, plumbing.ErrObjectNotFound) {
		t.Fatalf("the parent of the fetched commit is there (err %v): the fetch was not shallow", err)
	}
}

// wantRefused checks that a fetch failed and that its error contains want.
func wantRefused(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatal("fetch succeeded, want it refused")
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestAuthHTTPBasic(t *testing.T) {
	repo := newTestRepo(t)
	url := serveHTTP(t, repo, basicAuth("alice", "s3cret"))

	t.Run("right", func(t *testing.T) {
		rev, err := fetch(t, url, map[string][]byte{"username": []byte("alice"), "password": []byte("s3cret\n")})
		wantFetched(t, rev, err, repo)
	})
	t.Run("wrong password", func(t *testing.T) {
		_, err := fetch(t, url, map[string][]byte{"username": []byte("alice"), "password": []byte("guess")})
		if !errors.Is(err, transport.ErrAuthenticationRequired) {
			t.Fatalf("error %v, want %v", err, transport.ErrAuthenticationRequired)
		}
	})
	t.Run("none", func(t *testing.T) {
		_, err := fetch(t, url, nil)
		if !errors.Is(err, transport.ErrAuthenticationRequired) {
			t.Fatalf("error %v, want %v", err, transport.ErrAuthenticationRequired)
		}
	})
	t.Run("token as password", func(t *testing.T) {
		url := serveHTTP(t, repo, basicAuth("git", "ghp_token"))
		rev, err := fetch(t, url, map[string][]byte{"password": []byte("ghp_token")})
		wantFetched(t, rev, err, repo)
	})
}

func TestAuthHTTPToken(t *testing.T) {
	repo := newTestRepo(t)
	url := serveHTTP(t, repo, bearerAuth("tok-123"))

	t.Run("right", func(t *testing.T) {
		rev, err := fetch(t, url, map[string][]byte{"bearerToken": []byte("tok-123\n")})
		wantFetched(t, rev, err, repo)
	})
	for name, data := range map[string]map[string][]byte{
		"wrong token":      {"bearerToken": []byte("tok-456")},
		"token as basic":   {"password": []byte("tok-123")},
		"no credentials":   nil,
		"empty secret":     {},
		"other basic ones": {"username": []byte("tok-123"), "password": []byte("tok-123")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := fetch(t, url, data)
			if !errors.Is(err, transport.ErrAuthenticationRequired) {
				t.Fatalf("error %v, want %v", err, transport.ErrAuthenticationRequired)
			}
		})
	}
}

// TestAuthHTTPSCABundle fetches over TLS from a server whose certificate
// only the Secret's caFile vouches for, through the Fetcher.
func TestAuthHTTPSCABundle(t *testing.T) {
	repo := newTestRepo(t)
	srv := serveHTTPS(t, repo, basicAuth("alice", "s3cret"))
	url := srv.URL + repoPath
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	creds, err := CredentialsFromSecret(url, map[string][]byte{
		"username": []byte("alice"), "password": []byte("s3cret"), "caFile": ca,
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(creds.CABundle) != string(ca) || creds.InsecureSkipTLS {
		t.Fatalf("credentials %+v, want the CA bundle and verification on", creds)
	}

	rev, err := fetch(t, url, map[string][]byte{"username": []byte("alice"), "password": []byte("s3cret"), "caFile": ca})
	wantFetched(t, rev, err, repo)
	_, err = fetch(t, url, map[string][]byte{"username": []byte("alice"), "password": []byte("s3cret")})
	wantRefused(t, err, "certificate signed by unknown authority")
}

func TestAuthSSH(t *testing.T) {
	repo := newTestRepo(t)
	host, _ := newEd25519(t)
	client, clientPEM := newEd25519(t)
	addr := serveSSH(t, repo, client.PublicKey(), host)
	url := "ssh://git@" + addr + repoPath
	knownHosts := []byte(knownHostsLine(addr, host.PublicKey()))

	t.Run("right", func(t *testing.T) {
		rev, err := fetch(t, url, map[string][]byte{"identity": clientPEM, "known_hosts": knownHosts})
		wantFetched(t, rev, err, repo)
	})
	t.Run("user defaults to git", func(t *testing.T) {
		rev, err := fetch(t, "ssh://"+addr+repoPath, map[string][]byte{"identity": clientPEM, "known_hosts": knownHosts})
		wantFetched(t, rev, err, repo)
	})
	t.Run("encrypted identity", func(t *testing.T) {
		client, clientPEM := encryptedEd25519(t, "open sesame")
		addr := serveSSH(t, repo, client.PublicKey(), host)
		rev, err := fetch(t, "ssh://git@"+addr+repoPath, map[string][]byte{
			"identity": clientPEM, "password": []byte("open sesame\n"), "known_hosts": []byte(knownHostsLine(addr, host.PublicKey())),
		})
		wantFetched(t, rev, err, repo)
	})
	t.Run("unknown host key", func(t *testing.T) {
		impostor, _ := newEd25519(t)
		_, err := fetch(t, url, map[string][]byte{"identity": clientPEM, "known_hosts": []byte(knownHostsLine(addr, impostor.PublicKey()))})
		var keyErr *knownhosts.KeyError
		if !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
			t.Fatalf("error %v, want a host key mismatch", err)
		}
	})
	t.Run("wrong client key", func(t *testing.T) {
		_, otherPEM := newEd25519(t)
		_, err := fetch(t, url, map[string][]byte{"identity": otherPEM, "known_hosts": knownHosts})
		wantRefused(t, err, "unable to authenticate")
	})
	t.Run("wrong user", func(t *testing.T) {
		_, err := fetch(t, "ssh://deploy@"+addr+repoPath, map[string][]byte{"identity": clientPEM, "known_hosts": knownHosts})
		wantRefused(t, err, "unable to authenticate")
	})
}

// TestAuthSSHHostKeyAlgorithms: a server with an ECDSA and an ed25519
// host key, and known_hosts listing only the ed25519 one. The client
// prefers ECDSA, so without the algorithms known_hosts implies it would
// get a key it cannot check.
func TestAuthSSHHostKeyAlgorithms(t *testing.T) {
	repo := newTestRepo(t)
	hostEC, _ := newECDSA(t)
	hostED, _ := newEd25519(t)
	client, clientPEM := newEd25519(t)
	addr := serveSSH(t, repo, client.PublicKey(), hostEC, hostED)
	url := "ssh://git@" + addr + repoPath
	data := map[string][]byte{"identity": clientPEM, "known_hosts": []byte(knownHostsLine(addr, hostED.PublicKey()))}

	rev, err := fetch(t, url, data)
	wantFetched(t, rev, err, repo)

	auth, err := AuthFromSecret(url, data)
	if err != nil {
		t.Fatal(err)
	}
	keys := auth.(*gitssh.PublicKeys)
	if !slices.Equal(keys.HostKeyAlgorithms, []string{ssh.KeyAlgoED25519}) {
		t.Fatalf("host key algorithms %v, want [%s]", keys.HostKeyAlgorithms, ssh.KeyAlgoED25519)
	}
	keys.HostKeyAlgorithms = nil
	ctx, cancel := context.WithTimeout(t.Context(), fetchTimeout)
	defer cancel()
	_, err = (&Fetcher{Dir: t.TempDir()}).Fetch(ctx, url, Ref{Branch: "main"}, &Credentials{Auth: keys})
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		t.Fatalf("without host key algorithms: error %v, want the ECDSA key refused", err)
	}
}

// encryptedEd25519 makes an ed25519 client key whose PEM form needs the
// passphrase.
func encryptedEd25519(t *testing.T, passphrase string) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signerAndPEM(t, priv, passphrase)
}

func TestAuthFromSecret(t *testing.T) {
	host, _ := newEd25519(t)
	_, identity := newEd25519(t)
	ecClient, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, encrypted := signerAndPEM(t, ecClient, "pass phrase")
	rsaHost, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := ssh.NewPublicKey(&rsaHost.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	line := func(addr string, key ssh.PublicKey) []byte { return []byte(knownHostsLine(addr, key)) }
	hashed := []byte(knownhosts.Line([]string{knownhosts.HashHostname("git.example.com")}, host.PublicKey()) + "\n")
	withComments := append([]byte("# scanned\n\n"), line("other.example.com:22", rsaPub)...)
	withComments = append(withComments, line("git.example.com:22", host.PublicKey())...)

	type want struct {
		basic *githttp.BasicAuth
		token *githttp.TokenAuth
		// ssh: user and host key algorithms
		user  string
		algos []string
		none  bool
		err   string
	}
	const httpsURL = "https://git.example.com/org/repo.git"
	const sshURL = "ssh://git@git.example.com/org/repo.git"
	for _, tc := range []struct {
		name string
		url  string
		data map[string][]byte
		want want
	}{
		{"https no secret", httpsURL, nil, want{none: true}},
		{"https empty secret", httpsURL, map[string][]byte{}, want{none: true}},
		{"https basic", httpsURL, map[string][]byte{"username": []byte("alice\n"), "password": []byte("s3cret\n")},
			want{basic: &githttp.BasicAuth{Username: "alice", Password: "s3cret"}}},
		{"http basic", "http://127.0.0.1:8080/repo.git", map[string][]byte{"username": []byte("alice"), "password": []byte("s3cret")},
			want{basic: &githttp.BasicAuth{Username: "alice", Password: "s3cret"}}},
		{"https password alone", httpsURL, map[string][]byte{"password": []byte("ghp_x")},
			want{basic: &githttp.BasicAuth{Username: "git", Password: "ghp_x"}}},
		{"https bearer token", httpsURL, map[string][]byte{"bearerToken": []byte(" tok\n")},
			want{token: &githttp.TokenAuth{Token: "tok"}}},
		{"https with CA only", httpsURL, map[string][]byte{"caFile": []byte("x")}, want{none: true}},
		{"https username alone", httpsURL, map[string][]byte{"username": []byte("alice")},
			want{err: `secret key "password" is missing`}},
		{"https empty password", httpsURL, map[string][]byte{"username": []byte("alice"), "password": []byte("\n")},
			want{err: `secret key "password" is empty`}},
		{"https token and password", httpsURL, map[string][]byte{"bearerToken": []byte("t"), "password": []byte("p")},
			want{err: `both "bearerToken" and "username"/"password"`}},
		{"https empty token", httpsURL, map[string][]byte{"bearerToken": []byte("\n")},
			want{err: `secret key "bearerToken" is empty`}},
		{"https with ssh key", httpsURL, map[string][]byte{"identity": identity},
			want{err: `secret key "identity" is an ssh key but the URL is https`}},

		{"ssh", sshURL, map[string][]byte{"identity": identity, "known_hosts": line("git.example.com:22", host.PublicKey())},
			want{user: "git", algos: []string{ssh.KeyAlgoED25519}}},
		{"ssh other user and port", "ssh://deploy@git.example.com:2222/org/repo.git",
			map[string][]byte{"identity": identity, "known_hosts": line("git.example.com:2222", host.PublicKey())},
			want{user: "deploy", algos: []string{ssh.KeyAlgoED25519}}},
		{"scp-like", "deploy@git.example.com:org/repo.git",
			map[string][]byte{"identity": identity, "known_hosts": line("git.example.com:22", host.PublicKey())},
			want{user: "deploy", algos: []string{ssh.KeyAlgoED25519}}},
		{"scp-like without user", "git.example.com:org/repo.git",
			map[string][]byte{"identity": identity, "known_hosts": line("git.example.com:22", host.PublicKey())},
			want{user: "git", algos: []string{ssh.KeyAlgoED25519}}},
		{"ssh hashed known_hosts", sshURL, map[string][]byte{"identity": identity, "known_hosts": hashed},
			want{user: "git", algos: []string{ssh.KeyAlgoED25519}}},
		{"ssh known_hosts with comments and other hosts", sshURL, map[string][]byte{"identity": identity, "known_hosts": withComments},
			want{user: "git", algos: []string{ssh.KeyAlgoED25519}}},
		{"ssh RSA host key", sshURL, map[string][]byte{"identity": identity, "known_hosts": line("git.example.com:22", rsaPub)},
			want{user: "git", algos: []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}}},
		{"ssh encrypted identity", sshURL, map[string][]byte{"identity": encrypted, "password": []byte("pass phrase"),
			"known_hosts": line("git.example.com:22", host.PublicKey())},
			want{user: "git", algos: []string{ssh.KeyAlgoED25519}}},
		{"ssh no secret", sshURL, nil, want{err: `secret key "identity" is missing`}},
		{"ssh no known_hosts", sshURL, map[string][]byte{"identity": identity},
			want{err: `secret key "known_hosts" is missing: add the server's host keys as ssh-keyscan -p 22 git.example.com prints them`}},
		{"ssh blank known_hosts", sshURL, map[string][]byte{"identity": identity, "known_hosts": []byte("\n")},
			want{err: `secret key "known_hosts" is missing`}},
		{"ssh known_hosts for another host", sshURL,
			map[string][]byte{"identity": identity, "known_hosts": line("other.example.com:22", host.PublicKey())},
			want{err: `secret key "known_hosts" lists no key for git.example.com`}},
		{"ssh known_hosts for another port", sshURL,
			map[string][]byte{"identity": identity, "known_hosts": line("git.example.com:2222", host.PublicKey())},
			want{err: `secret key "known_hosts" lists no key for git.example.com`}},
		{"ssh garbled known_hosts", sshURL, map[string][]byte{"identity": identity, "known_hosts": []byte("# ok\ngit.example.com ssh-ed25519 !!!\n")},
			want{err: `secret key "known_hosts" is not in known_hosts format (knownhosts: line 2:`}},
		{"ssh garbled identity", sshURL, map[string][]byte{"identity": []byte("not a key"), "known_hosts": line("git.example.com:22", host.PublicKey())},
			want{err: `secret key "identity" is not a PEM private key`}},
		{"ssh encrypted identity without passphrase", sshURL, map[string][]byte{"identity": encrypted, "known_hosts": line("git.example.com:22", host.PublicKey())},
			want{err: `secret key "identity" is encrypted: add its passphrase as "password"`}},
		{"ssh wrong passphrase", sshURL, map[string][]byte{"identity": encrypted, "password": []byte("guess"), "known_hosts": line("git.example.com:22", host.PublicKey())},
			want{err: `secret key "password" does not decrypt "identity"`}},
		{"ssh with username", sshURL, map[string][]byte{"username": []byte("git"), "identity": identity},
			want{err: `secret key "username" does not apply to ssh URLs`}},
		{"ssh with token", sshURL, map[string][]byte{"bearerToken": []byte("t")},
			want{err: `secret key "bearerToken" applies only to https URLs`}},

		{"local path", "/srv/git/repo", map[string][]byte{"username": []byte("ignored")}, want{none: true}},
		{"file URL", "file:///srv/git/repo", nil, want{none: true}},
		{"git protocol", "git://git.example.com/repo.git", nil, want{none: true}},
		{"git protocol with secret", "git://git.example.com/repo.git", map[string][]byte{"password": []byte("p")},
			want{err: "the git:// protocol carries no credentials"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AuthFromSecret(tc.url, tc.data)
			if tc.want.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want.none:
				if got != nil {
					t.Fatalf("auth %v, want none", got)
				}
			case tc.want.basic != nil:
				if b, ok := got.(*githttp.BasicAuth); !ok || *b != *tc.want.basic {
					t.Fatalf("auth %#v, want %#v", got, tc.want.basic)
				}
			case tc.want.token != nil:
				if b, ok := got.(*githttp.TokenAuth); !ok || *b != *tc.want.token {
					t.Fatalf("auth %#v, want %#v", got, tc.want.token)
				}
			default:
				k, ok := got.(*gitssh.PublicKeys)
				if !ok {
					t.Fatalf("auth %T, want *ssh.PublicKeys", got)
				}
				if k.User != tc.want.user || !slices.Equal(k.HostKeyAlgorithms, tc.want.algos) || k.HostKeyCallback == nil {
					t.Fatalf("ssh auth for %s with algorithms %v (callback set: %t), want %s with %v",
						k.User, k.HostKeyAlgorithms, k.HostKeyCallback != nil, tc.want.user, tc.want.algos)
				}
			}
		})
	}
}

// TestAuthSSHHostKeyCallback checks the callback AuthFromSecret builds:
// the listed key passes, any other key for the host fails.
func TestAuthSSHHostKeyCallback(t *testing.T) {
	host, _ := newEd25519(t)
	other, _ := newEd25519(t)
	_, identity := newEd25519(t)
	auth, err := AuthFromSecret("ssh://git@git.example.com:2222/repo.git", map[string][]byte{
		"identity": identity, "known_hosts": []byte(knownHostsLine("git.example.com:2222", host.PublicKey())),
	})
	if err != nil {
		t.Fatal(err)
	}
	cb := auth.(*gitssh.PublicKeys).HostKeyCallback
	remote := fakeAddr("192.0.2.1:2222")
	if err := cb("git.example.com:2222", remote, host.PublicKey()); err != nil {
		t.Fatalf("listed key refused: %v", err)
	}
	if err := cb("git.example.com:2222", remote, other.PublicKey()); err == nil {
		t.Fatal("a key known_hosts does not list was accepted")
	}
	if err := cb("git.example.com:22", remote, host.PublicKey()); err == nil {
		t.Fatal("the key was accepted for a port known_hosts does not list it for")
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

func TestAuthTLSFromSecret(t *testing.T) {
	srv := serveHTTPS(t, newTestRepo(t), func(*http.Request) bool { return true })
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for _, tc := range []struct {
		name     string
		data     map[string][]byte
		ca       []byte
		insecure bool
		err      string
	}{
		{name: "nothing", data: nil},
		{name: "CA", data: map[string][]byte{"caFile": ca}, ca: ca},
		{name: "CA after other blocks", data: map[string][]byte{"caFile": append([]byte("-----BEGIN JUNK-----\nAAAA\n-----END JUNK-----\n"), ca...)},
			ca: append([]byte("-----BEGIN JUNK-----\nAAAA\n-----END JUNK-----\n"), ca...)},
		{name: "insecure", data: map[string][]byte{"insecure": []byte("true\n")}, insecure: true},
		{name: "secure", data: map[string][]byte{"insecure": []byte("false")}},
		{name: "garbled CA", data: map[string][]byte{"caFile": []byte("not PEM")}, err: `secret key "caFile" holds no PEM certificate`},
		{name: "garbled insecure", data: map[string][]byte{"insecure": []byte("yes please")}, err: `secret key "insecure" is "yes please": use "true" or "false"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, insecure, err := TLSFromSecret(tc.data)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(ca) != string(tc.ca) || insecure != tc.insecure {
				t.Fatalf("got CA %q insecure %t, want %q %t", ca, insecure, tc.ca, tc.insecure)
			}
		})
	}
}
