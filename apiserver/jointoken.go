package apiserver

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cairn-dev/cairn/apiserver/auth"
	"github.com/cairn-dev/cairn/apiserver/storage"
	"github.com/cairn-dev/cairn/jointoken"
)

// Joining nodes: the server keeps at least one join token (a bootstrap-
// token Secret) and writes the current one to <data-dir>/join-token; the
// two join endpoints answer without credentials, before authentication.
const (
	// JoinTokenFile is the file in the data dir holding the current join token.
	JoinTokenFile = "join-token"
	// NodeCertValidity is the lifetime of the certificates a join issues.
	NodeCertValidity = 365 * 24 * time.Hour

	maxJoinBody         = 64 << 10
	maxJoinServingNames = 32
	// Failed joins allowed per client IP and window before 429.
	joinFailuresAllowed = 5
	joinFailureWindow   = time.Minute
)

// ensureJoinToken makes sure a usable join token exists, creating one
// without expiry when none does, and writes the current one to the data
// dir. Servers sharing the store pick the same current token.
func (s *Server) ensureJoinToken(ctx context.Context) error {
	tokens, err := s.joinTokens(ctx)
	if err != nil {
		return err
	}
	cur, ok := auth.CurrentBootstrapToken(tokens, time.Now())
	if !ok {
		tok, err := jointoken.Generate(s.ca.CertPEM())
		if err != nil {
			return err
		}
		cur = auth.BootstrapToken{ID: tok.ID, Secret: tok.Secret, Authentication: true,
			Description: "created by cairn server on first start"}
		if err := s.createIfMissing(ctx, auth.BootstrapTokenSecret(cur)); err != nil {
			return fmt.Errorf("apiserver: create join token: %w", err)
		}
		s.log.Info("created a join token", "id", cur.ID)
	}
	data := []byte(cur.Token(s.ca.CertPEM()).String() + "\n")
	if err := writeFileAtomic(filepath.Join(s.cfg.DataDir, JoinTokenFile), data, 0o600); err != nil {
		return fmt.Errorf("apiserver: write join token: %w", err)
	}
	return nil
}

// joinTokens reads every well-formed bootstrap token from the store.
func (s *Server) joinTokens(ctx context.Context) ([]auth.BootstrapToken, error) {
	res := s.reg.lookup("", "v1", "secrets")
	list, err := s.stores[res].List(ctx, res.ListPrefix(auth.JoinTokenNamespace), storage.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("apiserver: list join tokens: %w", err)
	}
	var out []auth.BootstrapToken
	for _, it := range list.Items {
		sec, ok := it.(*corev1.Secret)
		if !ok || sec.Type != auth.JoinTokenSecretType {
			continue
		}
		b, err := auth.BootstrapTokenFromSecret(sec)
		if err != nil {
			s.log.Warn("ignoring a malformed bootstrap token", "secret", sec.Name, "err", err)
			continue
		}
		out = append(out, b)
	}
	return out, nil
}

// withJoin serves the join endpoints, which need no credentials, and
// passes every other request to next.
func (s *Server) withJoin(next http.Handler) http.Handler {
	j := &joinHandler{s: s, limiter: newFailureLimiter(joinFailuresAllowed, joinFailureWindow)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case jointoken.CACertsPath:
			j.serveCACerts(w, r)
		case jointoken.JoinPath:
			j.serveJoin(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

type joinHandler struct {
	s       *Server
	limiter *failureLimiter
}

func (j *joinHandler) serveCACerts(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, apierrors.NewMethodNotSupported(emptyGR, r.Method))
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(j.s.ca.CertPEM())
	}
}

// joinError is a refused join: the status to answer and what to log.
type joinError struct {
	status  error
	tokenID string
}

func (e *joinError) Error() string { return e.status.Error() }

func refuse(status error, tokenID string) *joinError {
	return &joinError{status: status, tokenID: tokenID}
}

func (j *joinHandler) serveJoin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeStatus(w, apierrors.NewMethodNotSupported(emptyGR, r.Method))
		return
	}
	ip := clientIP(r)
	if wait := j.limiter.retryAfter(ip); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeStatus(w, apierrors.NewTooManyRequests(fmt.Sprintf("too many failed join attempts from %s: retry in %ds", ip, secs), secs))
		j.s.log.Warn("join refused: rate limited", "remote", r.RemoteAddr)
		return
	}
	var req jointoken.Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJoinBody))
	if err := dec.Decode(&req); err != nil {
		j.fail(w, r, ip, "", refuse(apierrors.NewBadRequest(fmt.Sprintf("join request: %v", err)), ""))
		return
	}
	resp, jerr := j.join(r.Context(), &req)
	if jerr != nil {
		j.fail(w, r, ip, req.NodeName, jerr)
		return
	}
	tokID := tokenIDOf(req.Token)
	j.s.log.Info("node joined", "node", req.NodeName, "tokenID", tokID, "remote", r.RemoteAddr)
	j.recordJoined(r.Context(), req.NodeName, tokID, r.RemoteAddr)
	writeJSON(w, http.StatusOK, resp)
}

func (j *joinHandler) fail(w http.ResponseWriter, r *http.Request, ip, node string, jerr *joinError) {
	j.limiter.fail(ip)
	j.s.log.Warn("join refused", "node", node, "tokenID", jerr.tokenID, "remote", r.RemoteAddr, "err", jerr.status)
	writeStatus(w, jerr.status)
}

// join checks a request and signs the node's certificates.
func (j *joinHandler) join(ctx context.Context, req *jointoken.Request) (*jointoken.Response, *joinError) {
	tok, err := jointoken.ParseOrBare(req.Token)
	if err != nil {
		return nil, refuse(apierrors.NewUnauthorized(strings.TrimPrefix(err.Error(), "auth: ")), "")
	}
	caPEM := j.s.ca.CertPEM()
	if tok.CAHash != "" && !jointoken.CAHashMatches(caPEM, tok.CAHash) {
		return nil, refuse(apierrors.NewUnauthorized("the join token is for another cluster: its CA hash does not match this server's CA"), tok.ID)
	}
	if err := j.checkToken(ctx, tok); err != nil {
		return nil, err
	}
	if msgs := validation.IsDNS1123Subdomain(req.NodeName); len(msgs) > 0 {
		return nil, refuse(apierrors.NewBadRequest(fmt.Sprintf("invalid node name %q: %s", req.NodeName, strings.Join(msgs, "; "))), tok.ID)
	}
	clientKey, err := parseCSR(req.CSR)
	if err != nil {
		return nil, refuse(apierrors.NewBadRequest(fmt.Sprintf("csr: %v", err)), tok.ID)
	}
	servingKey := clientKey
	if req.ServingCSR != "" {
		if servingKey, err = parseCSR(req.ServingCSR); err != nil {
			return nil, refuse(apierrors.NewBadRequest(fmt.Sprintf("servingCSR: %v", err)), tok.ID)
		}
	}
	hosts, ips, err := j.servingNames(req)
	if err != nil {
		return nil, refuse(apierrors.NewBadRequest(err.Error()), tok.ID)
	}
	clientPEM, err := j.s.ca.SignClient(auth.NodeUser(req.NodeName), clientKey, NodeCertValidity)
	if err != nil {
		return nil, refuse(apierrors.NewInternalError(err), tok.ID)
	}
	servingPEM, err := j.s.ca.SignServing(hosts, ips, servingKey, NodeCertValidity)
	if err != nil {
		return nil, refuse(apierrors.NewInternalError(err), tok.ID)
	}
	return &jointoken.Response{CAPEM: string(caPEM), ClientCertPEM: string(clientPEM), ServingCertPEM: string(servingPEM)}, nil
}

// checkToken compares a token with its Secret, read from etcd so that a
// token deleted through any server stops working at once.
func (j *joinHandler) checkToken(ctx context.Context, tok jointoken.Token) *joinError {
	res := j.s.reg.lookup("", "v1", "secrets")
	obj, err := j.s.stores[res].Get(ctx, res.Key(auth.JoinTokenNamespace, auth.JoinTokenSecretName(tok.ID)), "")
	if errors.Is(err, storage.ErrNotFound) {
		return refuse(apierrors.NewUnauthorized(fmt.Sprintf("unknown join token id %q", tok.ID)), tok.ID)
	}
	if err != nil {
		return refuse(apierrors.NewInternalError(err), tok.ID)
	}
	sec, _ := obj.(*corev1.Secret)
	if sec == nil {
		return refuse(apierrors.NewInternalError(errors.New("not a secret")), tok.ID)
	}
	stored, err := auth.BootstrapTokenFromSecret(sec)
	if err != nil {
		return refuse(apierrors.NewUnauthorized(fmt.Sprintf("join token %s is not a valid bootstrap token", tok.ID)), tok.ID)
	}
	if err := auth.CheckJoinToken(stored, tok, time.Now()); err != nil {
		msg := strings.TrimPrefix(err.Error(), auth.ErrJoinTokenRejected.Error()+": ")
		return refuse(apierrors.NewUnauthorized("join token rejected: "+msg), tok.ID)
	}
	return nil
}

// servingNames returns the kubelet serving certificate's names: the node
// name plus the requested hosts and IPs. Names of the API server itself
// (the kubernetes Service) are refused: the cluster CA also vouches for the
// API server.
func (j *joinHandler) servingNames(req *jointoken.Request) ([]string, []net.IP, error) {
	if len(req.ServingHosts) > maxJoinServingNames || len(req.ServingIPs) > maxJoinServingNames {
		return nil, nil, fmt.Errorf("at most %d serving hosts and %d serving IPs", maxJoinServingNames, maxJoinServingNames)
	}
	hosts := []string{req.NodeName}
	var ips []net.IP
	for _, h := range req.ServingHosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(h); len(msgs) > 0 {
			return nil, nil, fmt.Errorf("invalid serving host %q: %s", h, strings.Join(msgs, "; "))
		}
		if h == "kubernetes" || strings.HasPrefix(h, "kubernetes.default") {
			return nil, nil, fmt.Errorf("serving host %q names the API server", h)
		}
		hosts = append(hosts, h)
	}
	for _, s := range req.ServingIPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, nil, fmt.Errorf("invalid serving IP %q", s)
		}
		ips = append(ips, ip)
	}
	svc := j.s.alloc.first()
	for _, ip := range ips {
		if ip.Equal(svc) {
			return nil, nil, fmt.Errorf("serving IP %s is the kubernetes Service's", ip)
		}
	}
	return hosts, ips, nil
}

// parseCSR decodes a PEM certificate request and checks its signature,
// which proves the requester holds the key; it returns the public key.
func parseCSR(data string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(data))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("no PEM CERTIFICATE REQUEST block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("bad signature: %w", err)
	}
	if k, ok := csr.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		return nil, fmt.Errorf("RSA key of %d bits: at least 2048 required", k.N.BitLen())
	}
	return csr.PublicKey, nil
}

// recordJoined records a NodeJoined Event in the default namespace; a
// failure is only logged.
func (j *joinHandler) recordJoined(ctx context.Context, node, tokenID, remote string) {
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", node, now.UnixNano()),
			Namespace: metav1.NamespaceDefault,
		},
		InvolvedObject:      corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: node},
		Reason:              "NodeJoined",
		Message:             fmt.Sprintf("Node %s joined the cluster with join token %s from %s", node, tokenID, remote),
		Type:                corev1.EventTypeNormal,
		Source:              corev1.EventSource{Component: "cairn-apiserver"},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: "cairn-apiserver",
	}
	if err := j.s.createIfMissing(ctx, ev); err != nil {
		j.s.log.Warn("recording a NodeJoined event", "node", node, "err", err)
	}
}

func tokenIDOf(token string) string {
	if t, err := jointoken.ParseOrBare(token); err == nil {
		return t.ID
	}
	return ""
}

// clientIP is the address a request came from (proxies are not trusted).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// failureLimiter counts failures per key in a sliding window: once max
// failures fall within the window, further attempts wait until the oldest
// leaves it.
type failureLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	fails map[string][]time.Time
}

func newFailureLimiter(max int, window time.Duration) *failureLimiter {
	return &failureLimiter{max: max, window: window, now: time.Now, fails: map[string][]time.Time{}}
}

// retryAfter is how long key must wait before its next attempt (0: go ahead).
func (l *failureLimiter) retryAfter(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	recent := l.prune(key, now)
	if len(recent) < l.max {
		return 0
	}
	return recent[len(recent)-l.max].Add(l.window).Sub(now)
}

// fail records a failure of key.
func (l *failureLimiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.fails[key] = append(l.prune(key, now), now)
	if len(l.fails) > 10000 {
		for k := range l.fails {
			l.prune(k, now)
		}
	}
}

// prune drops key's failures older than the window; l.mu is held.
func (l *failureLimiter) prune(key string, now time.Time) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && !ts[i].After(now.Add(-l.window)) {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = ts
	return ts
}
