package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cairn-dev/cairn/atomicfile"
)

// Certificate lifetimes and file names.
const (
	CAValidity      = 10 * 365 * 24 * time.Hour
	ServingValidity = 365 * 24 * time.Hour
	// ServingRenewBefore: a serving certificate expiring within this window
	// is reissued by LoadOrCreateServing.
	ServingRenewBefore = 30 * 24 * time.Hour

	caCertFile      = "ca.crt"
	caKeyFile       = "ca.key"
	servingCertFile = "serving.crt"
	servingKeyFile  = "serving.key"

	// backdate absorbs clock skew between the issuer and verifiers.
	backdate = 5 * time.Minute
)

var oidOrganization = asn1.ObjectIdentifier{2, 5, 4, 10}

// DefaultServingHosts are always included in the API server's serving
// certificate, as kube-apiserver does for the in-cluster service names.
var DefaultServingHosts = []string{
	"localhost",
	"kubernetes",
	"kubernetes.default",
	"kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
}

// DefaultServingIPs are always included in the API server's serving
// certificate.
var DefaultServingIPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}

// CA is the cluster certificate authority: it signs the API server's serving
// certificate and every client certificate. Safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	pool    *x509.CertPool
}

// LoadOrCreateCA loads dir/ca.crt and dir/ca.key, or, when neither exists,
// creates a new ECDSA P-256 CA valid for ten years and writes them (the key
// with mode 0600). Exactly one of the two files existing is an error: cairn
// never silently replaces a CA whose certificates may be in use.
func LoadOrCreateCA(dir string) (*CA, error) {
	certPath := filepath.Join(dir, caCertFile)
	keyPath := filepath.Join(dir, caKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		return parseCA(certPEM, keyPEM)
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		// First start: create below.
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("auth: read CA certificate: %w", certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("auth: read CA key: %w", keyErr)
	default:
		return nil, fmt.Errorf("%w: only one of %s and %s exists", ErrPKI, certPath, keyPath)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("cairn-ca@%d", now.Unix())},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("auth: create CA certificate: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: create PKI directory: %w", err)
	}
	// Key first: a crash in between leaves only the key, which the next
	// start reports instead of pairing it with a fresh certificate.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	return parseCA(certPEM, keyPEM)
}

func parseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCertPEM(certPEM, "CA certificate")
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%w: CA certificate is not a CA certificate", ErrPKI)
	}
	key, err := parseKeyPEM(keyPEM, "CA key")
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%w: CA key does not match CA certificate", ErrPKI)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		pool:    pool,
	}, nil
}

// CertPEM returns the CA certificate, PEM encoded.
func (ca *CA) CertPEM() []byte { return bytes.Clone(ca.certPEM) }

// Certificate returns the parsed CA certificate. Callers must not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Pool returns a new pool holding only the CA certificate, for use as
// tls.Config.ClientCAs or RootCAs.
func (ca *CA) Pool() *x509.CertPool { return ca.pool.Clone() }

// IssueClient issues a client certificate for u: CN=u.Name, O=u.Groups,
// extended key usage client auth. Groups added by the authenticator
// (system:authenticated) need not be included.
func (ca *CA) IssueClient(u User, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	tmpl, err := clientTemplate(u)
	if err != nil {
		return nil, nil, err
	}
	return ca.issue(tmpl, validity)
}

// SignClient is IssueClient for a key the caller holds: it signs pub (from
// a verified certificate request; the private key stays with its owner).
func (ca *CA) SignClient(u User, pub crypto.PublicKey, validity time.Duration) (certPEM []byte, err error) {
	tmpl, err := clientTemplate(u)
	if err != nil {
		return nil, err
	}
	return ca.sign(tmpl, pub, validity)
}

func clientTemplate(u User) (*x509.Certificate, error) {
	if u.Name == "" {
		return nil, fmt.Errorf("auth: issue client certificate: empty user name")
	}
	// Each group is its own RDN so that the order survives encoding (a
	// multi-valued RDN is a DER SET, which sorts its members).
	subject := pkix.Name{CommonName: u.Name}
	for _, g := range u.Groups {
		subject.ExtraNames = append(subject.ExtraNames, pkix.AttributeTypeAndValue{Type: oidOrganization, Value: g})
	}
	return &x509.Certificate{
		Subject:     subject,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, nil
}

// IssueServing issues a TLS server certificate valid for exactly the given
// DNS names and IP addresses (see LoadOrCreateServing for the defaults the
// API server adds). Host entries that parse as IP addresses are treated as
// IPs.
func (ca *CA) IssueServing(hosts []string, ips []net.IP, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	tmpl, err := servingTemplate(hosts, ips)
	if err != nil {
		return nil, nil, err
	}
	return ca.issue(tmpl, validity)
}

// SignServing is IssueServing for a key the caller holds: it signs pub
// (from a verified certificate request; the private key stays with its
// owner).
func (ca *CA) SignServing(hosts []string, ips []net.IP, pub crypto.PublicKey, validity time.Duration) (certPEM []byte, err error) {
	tmpl, err := servingTemplate(hosts, ips)
	if err != nil {
		return nil, err
	}
	return ca.sign(tmpl, pub, validity)
}

func servingTemplate(hosts []string, ips []net.IP) (*x509.Certificate, error) {
	dns, ipList := splitHosts(hosts, ips)
	if len(dns) == 0 && len(ipList) == 0 {
		return nil, fmt.Errorf("auth: issue serving certificate: no hosts or IPs")
	}
	cn := "cairn-apiserver"
	if len(dns) > 0 {
		cn = dns[0]
	}
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    dns,
		IPAddresses: ipList,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, nil
}

func (ca *CA) issue(tmpl *x509.Certificate, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if validity <= 0 {
		return nil, nil, fmt.Errorf("auth: issue certificate: non-positive validity %v", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: generate key: %w", err)
	}
	certPEM, err = ca.sign(tmpl, key.Public(), validity)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// sign signs tmpl for pub, valid from now (backdated) for validity, capped
// at the CA's own expiry.
func (ca *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey, validity time.Duration) ([]byte, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("auth: issue certificate: non-positive validity %v", validity)
	}
	if pub == nil {
		return nil, fmt.Errorf("auth: issue certificate: no public key")
	}
	var err error
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl.NotBefore = now.Add(-backdate)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		// A leaf outliving its issuer fails verification anyway; be honest.
		tmpl.NotAfter = ca.cert.NotAfter
	}
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("auth: sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// LoadOrCreateServing returns the API server's serving certificate from
// dir/serving.crt and dir/serving.key, issuing and writing a new one (valid
// one year) when they are missing or unreadable, not signed by ca, expiring
// within 30 days, or not covering every requested host and IP. The
// certificate always covers DefaultServingHosts and DefaultServingIPs in
// addition to hosts and ips.
func LoadOrCreateServing(dir string, ca *CA, hosts []string, ips []net.IP) (tls.Certificate, error) {
	wantDNS, wantIPs := splitHosts(append(slices.Clone(DefaultServingHosts), hosts...), append(slices.Clone(DefaultServingIPs), ips...))
	certPath := filepath.Join(dir, servingCertFile)
	keyPath := filepath.Join(dir, servingKeyFile)

	if pair, ok := loadServing(certPath, keyPath, ca, wantDNS, wantIPs); ok {
		return pair, nil
	}
	certPEM, keyPEM, err := ca.IssueServing(wantDNS, wantIPs, ServingValidity)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("auth: create PKI directory: %w", err)
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("auth: load issued serving certificate: %w", err)
	}
	return pair, nil
}

// loadServing reports whether the serving pair on disk is usable as is.
func loadServing(certPath, keyPath string, ca *CA, wantDNS []string, wantIPs []net.IP) (tls.Certificate, bool) {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil || len(pair.Certificate) == 0 {
		return tls.Certificate{}, false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return tls.Certificate{}, false
	}
	now := time.Now()
	if now.Add(ServingRenewBefore).After(leaf.NotAfter) {
		return tls.Certificate{}, false
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:       ca.pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return tls.Certificate{}, false
	}
	for _, h := range wantDNS {
		if !slices.Contains(leaf.DNSNames, h) {
			return tls.Certificate{}, false
		}
	}
	for _, ip := range wantIPs {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return tls.Certificate{}, false
		}
	}
	pair.Leaf = leaf
	return pair, true
}

// splitHosts merges hosts and ips into de-duplicated DNS names and IPs,
// moving host entries that are IP literals to the IP list.
func splitHosts(hosts []string, ips []net.IP) ([]string, []net.IP) {
	var dns []string
	var out []net.IP
	addIP := func(ip net.IP) {
		if ip == nil || slices.ContainsFunc(out, ip.Equal) {
			return
		}
		out = append(out, ip)
	}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			addIP(ip)
			continue
		}
		if !slices.Contains(dns, h) {
			dns = append(dns, h)
		}
	}
	for _, ip := range ips {
		addIP(ip)
	}
	return dns, out
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("auth: generate serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func parseCertPEM(data []byte, what string) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: %s: no PEM CERTIFICATE block", ErrPKI, what)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPKI, what, err)
	}
	return cert, nil
}

// parseKeyPEM accepts SEC1 ("EC PRIVATE KEY"), PKCS#8 ("PRIVATE KEY") and
// PKCS#1 ("RSA PRIVATE KEY") keys, so an operator-provided CA works too.
func parseKeyPEM(data []byte, what string) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%w: %s: no PEM private key block", ErrPKI, what)
		}
		var key any
		var err error
		switch block.Type {
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue // e.g. "EC PARAMETERS" preceding the key
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrPKI, what, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%w: %s: unsupported private key type %T", ErrPKI, what, key)
		}
		return signer, nil
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// writeFileAtomic writes a file so that readers never see a partial one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := atomicfile.Write(path, data, perm); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}
