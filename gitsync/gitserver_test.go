package gitsync

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// repoPath is where the test servers serve their repository.
const repoPath = "/repo.git"

// testRepo is a bare repository with two commits on main, so that a
// shallow fetch has a parent to leave out.
type testRepo struct {
	sto  storer.Storer
	head string
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	bare, err := git.PlainInitWithOptions(t.TempDir(), &git.PlainInitOptions{
		Bare: true, InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
	})
	if err != nil {
		t.Fatal(err)
	}
	// An in-memory work tree over the bare storage commits straight into it.
	repo, err := git.Open(bare.Storer, memfs.New())
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	var head plumbing.Hash
	for i, body := range []string{"replicas: 1\n", "replicas: 2\n"} {
		f, err := wt.Filesystem.Create("apps/web.yaml")
		if err == nil {
			_, err = f.Write([]byte(body))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err == nil {
			_, err = wt.Add("apps/web.yaml")
		}
		if err == nil {
			head, err = wt.Commit(fmt.Sprintf("change %d", i), &git.CommitOptions{
				Author: &object.Signature{Name: "Dev", Email: "dev@example.com", When: time.Unix(1700000000+int64(i), 0)},
			})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &testRepo{sto: bare.Storer, head: head.String()}
}

// storerLoader hands go-git's server the one repository.
type storerLoader struct{ sto storer.Storer }

func (l storerLoader) Load(*transport.Endpoint) (storer.Storer, error) { return l.sto, nil }

// advertise lists the repository's references as upload-pack does, adding
// the shallow capability that uploadPack implements.
func (r *testRepo) advertise() (*packp.AdvRefs, error) {
	s, err := server.NewServer(storerLoader{r.sto}).NewUploadPackSession(&transport.Endpoint{}, nil)
	if err != nil {
		return nil, err
	}
	ar, err := s.AdvertisedReferences()
	if err != nil {
		return nil, err
	}
	return ar, ar.Capabilities.Set(capability.Shallow)
}

// uploadPack answers one upload-pack request read from in. go-git's
// server refuses "deepen", which every fetch of a remote URL sends, so
// this one serves depth 1 itself: the wanted commits with their trees,
// reported as shallow when they have parents. Haves are ignored, as in
// go-git's server; the client only asks when it lacks the wants.
func (r *testRepo) uploadPack(in io.Reader, out io.Writer) error {
	req := packp.NewUploadPackRequest()
	if err := req.UploadRequest.Decode(in); err != nil {
		return err
	}
	if err := skipHaves(in); err != nil {
		return err
	}
	depth, ok := req.Depth.(packp.DepthCommits)
	if !ok || depth > 1 {
		return fmt.Errorf("only full and depth 1 fetches are served, not %v", req.Depth)
	}
	var objs, shallows []plumbing.Hash
	var err error
	if depth == 0 {
		objs, err = revlist.Objects(r.sto, req.Wants, nil)
	} else {
		objs, shallows, err = r.shallowObjects(req.Wants)
	}
	if err != nil {
		return err
	}
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, r.sto, false).Encode(objs, 10); err != nil {
		return err
	}
	resp := packp.NewUploadPackResponseWithPackfile(req, io.NopCloser(&pack))
	resp.Shallows = shallows
	return resp.Encode(out)
}

// skipHaves reads the client's haves up to "done": answering earlier
// would close the connection under a client still writing them.
func skipHaves(in io.Reader) error {
	sc := pktline.NewScanner(in)
	for sc.Scan() {
		if string(bytes.TrimSpace(sc.Bytes())) == "done" {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New(`the request ends before "done"`)
}

func (r *testRepo) shallowObjects(wants []plumbing.Hash) (objs, shallows []plumbing.Hash, err error) {
	seen := map[plumbing.Hash]bool{}
	add := func(h plumbing.Hash) {
		if !seen[h] {
			seen[h] = true
			objs = append(objs, h)
		}
	}
	for _, want := range wants {
		c, err := object.GetCommit(r.sto, want)
		if err != nil {
			return nil, nil, err
		}
		add(c.Hash)
		add(c.TreeHash)
		if c.NumParents() > 0 {
			shallows = append(shallows, c.Hash)
		}
		tree, err := c.Tree()
		if err != nil {
			return nil, nil, err
		}
		w := object.NewTreeWalker(tree, true, nil)
		for {
			_, e, err := w.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				w.Close()
				return nil, nil, err
			}
			if e.Mode != filemode.Submodule {
				add(e.Hash)
			}
		}
		w.Close()
	}
	return objs, shallows, nil
}

// gitHTTP serves the repository over smart HTTP (the stateless protocol
// git and go-git speak to https remotes) to requests authorized allows.
type gitHTTP struct {
	repo       *testRepo
	authorized func(*http.Request) bool
}

func (g *gitHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		http.Error(w, "invalid credentials", http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == repoPath+"/info/refs" &&
		r.URL.Query().Get("service") == transport.UploadPackServiceName:
		ar, err := g.repo.advertise()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		ar.Prefix = [][]byte{[]byte("# service=" + transport.UploadPackServiceName), pktline.Flush}
		w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
		w.Header().Set("Cache-Control", "no-cache")
		_ = ar.Encode(w)
	case r.Method == http.MethodPost && r.URL.Path == repoPath+"/"+transport.UploadPackServiceName:
		var out bytes.Buffer
		if err := g.repo.uploadPack(r.Body, &out); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
		_, _ = w.Write(out.Bytes())
	default:
		http.NotFound(w, r)
	}
}

// serveHTTP starts a plain HTTP server on loopback and returns the
// repository's URL.
func serveHTTP(t *testing.T, repo *testRepo, authorized func(*http.Request) bool) string {
	t.Helper()
	srv := httptest.NewServer(&gitHTTP{repo: repo, authorized: authorized})
	t.Cleanup(srv.Close)
	return srv.URL + repoPath
}

// serveHTTPS is serveHTTP over TLS with a certificate of its own CA.
func serveHTTPS(t *testing.T, repo *testRepo, authorized func(*http.Request) bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(&gitHTTP{repo: repo, authorized: authorized})
	// Clients that do not trust the certificate are expected; their
	// handshake errors are not news.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// basicAuth accepts one user and password.
func basicAuth(user, pass string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == user && p == pass
	}
}

// bearerAuth accepts one token.
func bearerAuth(token string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+token }
}

// gitSSH serves the repository's upload-pack over ssh to one client key.
type gitSSH struct {
	repo   *testRepo
	config *ssh.ServerConfig
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

// serveSSH starts an ssh server on loopback with the given host keys that
// lets in user "git" with the client key and runs git-upload-pack for
// repoPath. It returns host:port.
func serveSSH(t *testing.T, repo *testRepo, client ssh.PublicKey, hostKeys ...ssh.Signer) string {
	t.Helper()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == defaultGitUser && bytes.Equal(key.Marshal(), client.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("key %s of %s is not authorized", ssh.FingerprintSHA256(key), c.User())
		},
	}
	for _, k := range hostKeys {
		cfg.AddHostKey(k)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &gitSSH{repo: repo, config: cfg, ln: ln}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return ln.Addr().String()
}

func (s *gitSSH) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *gitSSH) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *gitSSH) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		s.session(ch, creqs)
	}
}

// session runs the one command a git client execs, answering other
// requests (env, pty) with a refusal as git hosts do.
func (s *gitSSH) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var p struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			_ = req.Reply(false, nil)
			continue
		}
		_ = req.Reply(true, nil)
		status := s.exec(p.Command, ch)
		// The client closes its side once it has written everything;
		// closing the channel before that fails its last write.
		_, _ = io.Copy(io.Discard, ch)
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

func (s *gitSSH) exec(cmd string, ch ssh.Channel) uint32 {
	if cmd != transport.UploadPackServiceName+" '"+repoPath+"'" {
		fmt.Fprintf(ch.Stderr(), "fatal: %q: only %s of %s is served\n", cmd, transport.UploadPackServiceName, repoPath)
		return 128
	}
	ar, err := s.repo.advertise()
	if err == nil {
		err = ar.Encode(ch)
	}
	if err == nil {
		err = s.repo.uploadPack(ch, ch)
	}
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "fatal: %v\n", err)
		return 128
	}
	return 0
}

// newEd25519 makes a fresh ed25519 signer and its PEM private key.
func newEd25519(t *testing.T) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signerAndPEM(t, priv, "")
}

// newECDSA makes a fresh P-256 signer and its PEM private key.
func newECDSA(t *testing.T) (ssh.Signer, []byte) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signerAndPEM(t, priv, "")
}

// signerAndPEM encodes priv in OpenSSH's PEM format, encrypted when
// passphrase is set.
func signerAndPEM(t *testing.T, priv any, passphrase string) (ssh.Signer, []byte) {
	t.Helper()
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

// knownHostsLine lists key for the server at addr (host:port) as
// ssh-keyscan would.
func knownHostsLine(addr string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
}
