// Package join joins a machine to a cairn cluster as a node: with a join
// token it verifies the server against the CA hash the token carries,
// sends certificate requests for keys made here (private keys never leave
// the node), and writes the node's credentials and kubeconfig into a
// directory. A later join with valid credentials in that directory reuses
// them without contacting the server.
package join

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/cairn-dev/cairn/atomicfile"
	"github.com/cairn-dev/cairn/jointoken"
)

// Files written into Options.Dir.
const (
	CAFile          = "ca.crt"
	KeyFile         = "node.key" // the client key, mode 0600
	CertFile        = "node.crt" // the client certificate, system:node:<name>
	ServingCertFile = "kubelet-serving.crt"
	ServingKeyFile  = "kubelet-serving.key" // mode 0600
	KubeconfigFile  = "node.kubeconfig"     // mode 0600
)

const (
	// DefaultTimeout of each HTTP request of a join.
	DefaultTimeout = 30 * time.Second
	// RenewBefore: credentials expiring within this window are not reused.
	RenewBefore = 30 * 24 * time.Hour

	maxResponseBody    = 1 << 20
	kubeconfigUserName = "node"
	// nodeUserPrefix names a node's user, system:node:<name>, as NodeRestriction expects.
	nodeUserPrefix = "system:node:"
)

var (
	// ErrImpostor: the server's CA is not the one the join token names.
	ErrImpostor = errors.New("the server's CA does not match the join token: refusing to join an impostor")
	// ErrRefused: the server refused the join; errors.As to *RefusedError
	// for the status code and message.
	ErrRefused = errors.New("join refused")
)

// RefusedError is the server's answer to a refused join.
type RefusedError struct {
	// StatusCode is the HTTP status: 401 for a bad or expired token, 429
	// after too many failures, 400 for a bad request.
	StatusCode int
	Message    string
	// RetryAfter is the server's Retry-After on a 429.
	RetryAfter time.Duration
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("join refused (%d %s): %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

func (e *RefusedError) Unwrap() error { return ErrRefused }

// Options of a join.
type Options struct {
	// Server is the API server URL, "https://host:port".
	Server string
	// Token is the join token, "K10<CA hash>::<id>.<secret>".
	Token string
	// NodeName is the node's name (a DNS-1123 subdomain).
	NodeName string
	// Dir receives the credentials (see the *File constants).
	Dir string
	// ServingHosts and ServingIPs go into the kubelet's serving
	// certificate, with the node name.
	ServingHosts []string
	ServingIPs   []net.IP
	// Timeout of each HTTP request; default DefaultTimeout.
	Timeout time.Duration
}

// Credentials are a joined node's credentials, as written in Dir.
type Credentials struct {
	// KubeconfigPath authenticates as system:node:<name>.
	KubeconfigPath string
	// CAPEM is the cluster CA certificate.
	CAPEM []byte
	// ClientCert is the node's client certificate and key.
	ClientCert tls.Certificate
	// ServingCert is the kubelet's HTTPS serving certificate and key.
	ServingCert tls.Certificate
	// Reused: the credentials already in Dir were still valid and the
	// server was not contacted.
	Reused bool
}

// Join joins the cluster, or reuses the credentials in o.Dir when they are
// for this node and this token's CA, chain to that CA and stay valid for
// more than RenewBefore. Nothing is written unless the join succeeds.
func Join(ctx context.Context, o Options) (Credentials, error) {
	tok, err := jointoken.Parse(o.Token)
	if err != nil {
		return Credentials{}, err
	}
	if o.NodeName == "" {
		return Credentials{}, errors.New("join: a node name is required")
	}
	if o.Dir == "" {
		return Credentials{}, errors.New("join: a directory for the credentials is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if creds, ok := reuse(o, tok, time.Now()); ok {
		return creds, nil
	}
	base, err := serverURL(o.Server)
	if err != nil {
		return Credentials{}, err
	}

	caPEM, err := fetchCA(ctx, base, o.Timeout)
	if err != nil {
		return Credentials{}, err
	}
	if !jointoken.CAHashMatches(caPEM, tok.CAHash) {
		return Credentials{}, fmt.Errorf("%w (server %s, CA hash %s, token expects %s)", ErrImpostor, base.Host, jointoken.CAHash(caPEM), tok.CAHash)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return Credentials{}, fmt.Errorf("join: %s: no certificate in the CA PEM", jointoken.CACertsPath)
	}

	clientKey, clientKeyPEM, clientCSR, err := newKeyAndCSR(nodeUserPrefix + o.NodeName)
	if err != nil {
		return Credentials{}, err
	}
	servingKey, servingKeyPEM, servingCSR, err := newKeyAndCSR(o.NodeName)
	if err != nil {
		return Credentials{}, err
	}
	req := jointoken.Request{
		Token: tok.String(), NodeName: o.NodeName,
		CSR: string(clientCSR), ServingCSR: string(servingCSR),
		ServingHosts: o.ServingHosts,
	}
	for _, ip := range o.ServingIPs {
		req.ServingIPs = append(req.ServingIPs, ip.String())
	}
	resp, err := postJoin(ctx, base, pool, &req, o.Timeout)
	if err != nil {
		return Credentials{}, err
	}
	if !jointoken.CAHashMatches([]byte(resp.CAPEM), tok.CAHash) {
		return Credentials{}, fmt.Errorf("%w: the join answer carries another CA", ErrImpostor)
	}
	clientCert, err := checkIssued([]byte(resp.ClientCertPEM), clientKeyPEM, clientKey.Public(), pool, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return Credentials{}, fmt.Errorf("join: client certificate: %w", err)
	}
	if cn := clientCert.Leaf.Subject.CommonName; cn != nodeUserPrefix+o.NodeName {
		return Credentials{}, fmt.Errorf("join: client certificate is for %q, not %q", cn, nodeUserPrefix+o.NodeName)
	}
	servingCert, err := checkIssued([]byte(resp.ServingCertPEM), servingKeyPEM, servingKey.Public(), pool, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return Credentials{}, fmt.Errorf("join: serving certificate: %w", err)
	}

	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return Credentials{}, fmt.Errorf("join: %w", err)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{CAFile, caPEM, 0o644},
		{KeyFile, clientKeyPEM, 0o600},
		{CertFile, []byte(resp.ClientCertPEM), 0o644},
		{ServingKeyFile, servingKeyPEM, 0o600},
		{ServingCertFile, []byte(resp.ServingCertPEM), 0o644},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(o.Dir, f.name), f.data, f.mode); err != nil {
			return Credentials{}, err
		}
	}
	kubeconfig := filepath.Join(o.Dir, KubeconfigFile)
	if err := writeKubeconfig(kubeconfig, base.String(), caPEM, []byte(resp.ClientCertPEM), clientKeyPEM); err != nil {
		return Credentials{}, err
	}
	return Credentials{KubeconfigPath: kubeconfig, CAPEM: caPEM, ClientCert: clientCert, ServingCert: servingCert}, nil
}

// reuse returns the credentials in o.Dir when they can be used as they
// are: the CA matches the token's hash, the client certificate names this
// node, both certificates chain to the CA and stay valid past
// now+RenewBefore. A missing kubeconfig is rewritten (that needs no
// server).
func reuse(o Options, tok jointoken.Token, now time.Time) (Credentials, bool) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(o.Dir, name))
		if err != nil {
			return nil
		}
		return b
	}
	caPEM := read(CAFile)
	if caPEM == nil || !jointoken.CAHashMatches(caPEM, tok.CAHash) {
		return Credentials{}, false
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return Credentials{}, false
	}
	certPEM, keyPEM := read(CertFile), read(KeyFile)
	client, ok := validPair(certPEM, keyPEM, pool, x509.ExtKeyUsageClientAuth, now)
	if !ok || client.Leaf.Subject.CommonName != nodeUserPrefix+o.NodeName {
		return Credentials{}, false
	}
	serving, ok := validPair(read(ServingCertFile), read(ServingKeyFile), pool, x509.ExtKeyUsageServerAuth, now)
	if !ok || serving.Leaf.VerifyHostname(o.NodeName) != nil {
		return Credentials{}, false
	}
	kubeconfig := filepath.Join(o.Dir, KubeconfigFile)
	if _, err := os.Stat(kubeconfig); err != nil {
		base, err := serverURL(o.Server)
		if err != nil {
			return Credentials{}, false
		}
		if err := writeKubeconfig(kubeconfig, base.String(), caPEM, certPEM, keyPEM); err != nil {
			return Credentials{}, false
		}
	}
	return Credentials{KubeconfigPath: kubeconfig, CAPEM: caPEM, ClientCert: client, ServingCert: serving, Reused: true}, true
}

// writeKubeconfig writes the node's kubeconfig (mode 0600).
func writeKubeconfig(path, server string, caPEM, certPEM, keyPEM []byte) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cairn"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[kubeconfigUserName] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["cairn"] = &clientcmdapi.Context{Cluster: "cairn", AuthInfo: kubeconfigUserName}
	cfg.CurrentContext = "cairn"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("join: kubeconfig: %w", err)
	}
	return writeFileAtomic(path, data, 0o600)
}

func validPair(certPEM, keyPEM []byte, pool *x509.CertPool, usage x509.ExtKeyUsage, now time.Time) (tls.Certificate, bool) {
	if certPEM == nil || keyPEM == nil {
		return tls.Certificate{}, false
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil || pair.Leaf == nil {
		return tls.Certificate{}, false
	}
	if !now.Add(RenewBefore).Before(pair.Leaf.NotAfter) {
		return tls.Certificate{}, false
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return tls.Certificate{}, false
	}
	return pair, true
}

// checkIssued checks that an issued certificate is for our key and chains
// to the CA, and pairs it with the key.
func checkIssued(certPEM, keyPEM []byte, pub crypto.PublicKey, pool *x509.CertPool, usage x509.ExtKeyUsage) (tls.Certificate, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("does not match the key made for it: %w", err)
	}
	if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pair.Leaf.PublicKey) {
		return tls.Certificate{}, errors.New("not issued for the key made for it")
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return tls.Certificate{}, fmt.Errorf("does not chain to the cluster CA: %w", err)
	}
	return pair, nil
}

// newKeyAndCSR makes an ECDSA P-256 key and a certificate request for it.
func newKeyAndCSR(cn string) (*ecdsa.PrivateKey, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("join: generate key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("join: encode key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("join: certificate request: %w", err)
	}
	return key,
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), nil
}

func serverURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		return nil, fmt.Errorf("join: server URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("join: server URL %q: want https://host:port", s)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// fetchCA reads the server's CA without verifying the server: the CA is
// trusted only once its hash matches the token's.
func fetchCA(ctx context.Context, base *url.URL, timeout time.Duration) ([]byte, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // checked against the token's CA hash
		Proxy:           http.ProxyFromEnvironment,
	}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+jointoken.CACertsPath, nil)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("join: fetch the server's CA: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return nil, fmt.Errorf("join: fetch the server's CA: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("join: fetch the server's CA: %s", resp.Status)
	}
	return body, nil
}

func postJoin(ctx context.Context, base *url.URL, pool *x509.CertPool, jr *jointoken.Request, timeout time.Duration) (*jointoken.Response, error) {
	body, err := json.Marshal(jr)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Proxy:           http.ProxyFromEnvironment,
	}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+jointoken.JoinPath, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return nil, fmt.Errorf("join: read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, refused(resp, data)
	}
	var out jointoken.Response
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("join: decode the answer: %w", err)
	}
	return &out, nil
}

// refused turns an error answer (a metav1.Status) into a RefusedError.
func refused(resp *http.Response, data []byte) error {
	e := &RefusedError{StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(data))}
	var st metav1.Status
	if json.Unmarshal(data, &st) == nil && st.Message != "" {
		e.Message = st.Message
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	return e
}

// writeFileAtomic writes a file so that readers never see a partial one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	return nil
}
