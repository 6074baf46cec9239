package gitsync

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// The keys a GitRepository's Secret may hold.
const (
	// SecretUsername is the user for https basic auth.
	SecretUsername = "username"
	// SecretPassword is the https password or token, or the passphrase of
	// an ssh identity.
	SecretPassword = "password"
	// SecretBearerToken is sent as "Authorization: Bearer" over https.
	SecretBearerToken = "bearerToken"
	// SecretIdentity is the PEM private key for ssh URLs.
	SecretIdentity = "identity"
	// SecretKnownHosts lists the ssh server's host keys in known_hosts
	// format.
	SecretKnownHosts = "known_hosts"
	// SecretCAFile is a PEM bundle of CAs an https server's certificate
	// may chain to, besides the system's.
	SecretCAFile = "caFile"
	// SecretInsecure, when "true", skips https certificate checks.
	SecretInsecure = "insecure"
)

// defaultGitUser is the user git hosts expect when the URL names none.
const defaultGitUser = "git"

// Credentials are what a fetch presents to a remote: how it
// authenticates and, for https, which certificates it trusts.
type Credentials struct {
	// Auth is nil for anonymous fetches.
	Auth transport.AuthMethod
	// CABundle is trusted besides the system's roots.
	CABundle []byte
	// InsecureSkipTLS skips certificate verification.
	InsecureSkipTLS bool
}

// CredentialsFromSecret reads a whole Secret for a fetch of url: the auth
// method (AuthFromSecret) and the https trust settings (TLSFromSecret).
// data may be nil when the GitRepository names no Secret.
func CredentialsFromSecret(url string, data map[string][]byte) (*Credentials, error) {
	auth, err := AuthFromSecret(url, data)
	if err != nil {
		return nil, err
	}
	ca, insecure, err := TLSFromSecret(data)
	if err != nil {
		return nil, err
	}
	return &Credentials{Auth: auth, CABundle: ca, InsecureSkipTLS: insecure}, nil
}

// AuthFromSecret builds the go-git auth method for url from a Secret's
// data: basic auth or a bearer token for http(s), a key checked against
// known_hosts for ssh, nothing for local repositories. data may be nil
// when the GitRepository names no Secret; that is an error only for ssh,
// which cannot check the server without known_hosts.
func AuthFromSecret(url string, data map[string][]byte) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("git URL is not a URL, an scp-like address or a path: %w", err)
	}
	switch ep.Protocol {
	case "http", "https":
		return httpAuth(ep.Protocol, data)
	case "ssh":
		return sshAuth(ep, data)
	case "file":
		// Local repositories are read in process, with the appliance's
		// own file permissions.
		return nil, nil
	default:
		if len(data) > 0 {
			return nil, fmt.Errorf("the %s:// protocol carries no credentials: use an https:// or ssh:// URL, or remove the secretRef", ep.Protocol)
		}
		return nil, nil
	}
}

func httpAuth(scheme string, data map[string][]byte) (transport.AuthMethod, error) {
	if _, ok := data[SecretIdentity]; ok {
		return nil, fmt.Errorf("secret key %q is an ssh key but the URL is %s: use an ssh:// URL, or %q and %q, or %q",
			SecretIdentity, scheme, SecretUsername, SecretPassword, SecretBearerToken)
	}
	user, hasUser := data[SecretUsername]
	pass, hasPass := data[SecretPassword]
	token, hasToken := data[SecretBearerToken]
	switch {
	case hasToken && (hasUser || hasPass):
		return nil, fmt.Errorf("secret has both %q and %q/%q: keep only the one the server expects",
			SecretBearerToken, SecretUsername, SecretPassword)
	case hasToken:
		// Tokens never hold whitespace; a trailing newline comes from
		// the file the Secret was made from.
		t := strings.TrimSpace(string(token))
		if t == "" {
			return nil, fmt.Errorf("secret key %q is empty: put the token in it", SecretBearerToken)
		}
		return &githttp.TokenAuth{Token: t}, nil
	case hasUser && !hasPass:
		return nil, fmt.Errorf("secret key %q is missing: %q needs a password or an access token as %q",
			SecretPassword, SecretUsername, SecretPassword)
	case hasPass:
		p := strings.TrimRight(string(pass), "\r\n")
		if p == "" {
			return nil, fmt.Errorf("secret key %q is empty: put the password or access token in it", SecretPassword)
		}
		u := strings.TrimSpace(string(user))
		if u == "" {
			// Hosts that take access tokens as passwords ignore the
			// user, but basic auth needs one.
			u = defaultGitUser
		}
		return &githttp.BasicAuth{Username: u, Password: p}, nil
	}
	return nil, nil
}

func sshAuth(ep *transport.Endpoint, data map[string][]byte) (transport.AuthMethod, error) {
	if _, ok := data[SecretUsername]; ok {
		return nil, fmt.Errorf("secret key %q does not apply to ssh URLs: put the user in the URL (ssh://user@host/path or user@host:path)", SecretUsername)
	}
	if _, ok := data[SecretBearerToken]; ok {
		return nil, fmt.Errorf("secret key %q applies only to https URLs: for ssh put a private key in %q", SecretBearerToken, SecretIdentity)
	}
	port := ep.Port
	if port == 0 {
		port = gitssh.DefaultPort
	}
	scan := fmt.Sprintf("ssh-keyscan -p %d %s", port, ep.Host)
	identity, ok := data[SecretIdentity]
	if !ok || len(identity) == 0 {
		return nil, fmt.Errorf("secret key %q is missing: ssh URLs need a Secret with a PEM private key in %q and the server's host keys (%s) in %q",
			SecretIdentity, SecretIdentity, scan, SecretKnownHosts)
	}
	hosts, ok := data[SecretKnownHosts]
	if !ok || len(strings.TrimSpace(string(hosts))) == 0 {
		// Without the server's keys anyone on the path could pose as
		// the server and serve manifests of their choosing.
		return nil, fmt.Errorf("secret key %q is missing: add the server's host keys as %s prints them, so that no other server can pose as it",
			SecretKnownHosts, scan)
	}
	user := ep.User
	if user == "" {
		user = defaultGitUser
	}
	signer, err := parseIdentity(identity, strings.TrimRight(string(data[SecretPassword]), "\r\n"))
	if err != nil {
		return nil, err
	}
	cb, algos, err := hostKeyCheck(hosts, ep.Host, port)
	if err != nil {
		return nil, err
	}
	keys := &gitssh.PublicKeys{User: user, Signer: signer}
	keys.HostKeyCallback = cb
	keys.HostKeyAlgorithms = algos
	return keys, nil
}

// parseIdentity reads the PEM private key, decrypting it with passphrase
// when it is encrypted.
func parseIdentity(identity []byte, passphrase string) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey(identity)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, fmt.Errorf("secret key %q is encrypted: add its passphrase as %q", SecretIdentity, SecretPassword)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(identity, []byte(passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("secret key %q does not decrypt %q: put the key's passphrase in it", SecretPassword, SecretIdentity)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("secret key %q is not a PEM private key: %w", SecretIdentity, err)
	}
	return signer, nil
}

// hostKeyCheck turns known_hosts content into a callback that accepts only
// the keys listed for host:port, and the host key algorithms of those
// keys: the ssh client otherwise asks for the type it prefers, and a
// server that has several keys answers with one known_hosts may not list.
func hostKeyCheck(content []byte, host string, port int) (ssh.HostKeyCallback, []string, error) {
	// knownhosts reads only files; it keeps nothing open once New returns.
	f, err := os.CreateTemp("", "known_hosts-")
	if err != nil {
		return nil, nil, fmt.Errorf("writing Secret key %q for the ssh client: %w", SecretKnownHosts, err)
	}
	name := f.Name()
	defer os.Remove(name)
	_, err = f.Write(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("writing Secret key %q for the ssh client: %w", SecretKnownHosts, err)
	}
	cb, err := knownhosts.New(name)
	if err != nil {
		// The file name means nothing to whoever wrote the Secret; the
		// line number does.
		msg := strings.ReplaceAll(err.Error(), name+":", "line ")
		return nil, nil, fmt.Errorf("secret key %q is not in known_hosts format (%s): fix the line or regenerate it with ssh-keyscan", SecretKnownHosts, msg)
	}
	algos, certs := hostKeyAlgorithms(cb, content, host, port)
	if len(algos) == 0 && !certs {
		return nil, nil, fmt.Errorf("secret key %q lists no key for %s: add the server's host keys as ssh-keyscan -p %d %s prints them",
			SecretKnownHosts, knownhosts.Normalize(net.JoinHostPort(host, strconv.Itoa(port))), port, host)
	}
	if certs {
		// A certificate authority vouches for keys of any type.
		algos = nil
	}
	return cb, algos, nil
}

// hostKeyAlgorithms asks cb which of the keys in content it accepts for
// host:port (so hashed and wildcard host patterns match as they will
// when connecting) and returns their algorithms; certs reports a
// @cert-authority line, whose keys sign host certificates of any type.
func hostKeyAlgorithms(cb ssh.HostKeyCallback, content []byte, host string, port int) (algos []string, certs bool) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	remote := &net.TCPAddr{IP: net.ParseIP(host), Port: port}
	seen := map[string]bool{}
	for rest := content; len(rest) > 0; {
		marker, _, key, _, next, err := ssh.ParseKnownHosts(rest)
		if err != nil {
			break
		}
		rest = next
		if marker == "cert-authority" {
			certs = true
			continue
		}
		if cb(addr, remote, key) != nil {
			continue
		}
		for _, a := range algorithmsFor(key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos, certs
}

// algorithmsFor maps a key type to the signature algorithms a server
// holding such a key can use; RSA keys sign with SHA-2, as SHA-1 is no
// longer accepted.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return []string{keyType}
}

// TLSFromSecret reads the https trust settings from a Secret's data: a
// PEM CA bundle to trust besides the system's roots ("caFile") and
// whether to skip certificate checks ("insecure": "true"). Both go to
// go-git's FetchOptions (CABundle, InsecureSkipTLS).
func TLSFromSecret(data map[string][]byte) (caBundle []byte, insecure bool, err error) {
	if v, ok := data[SecretInsecure]; ok {
		insecure, err = strconv.ParseBool(strings.TrimSpace(string(v)))
		if err != nil {
			return nil, false, fmt.Errorf("secret key %q is %q: use \"true\" or \"false\"", SecretInsecure, v)
		}
	}
	ca, ok := data[SecretCAFile]
	if !ok {
		return nil, insecure, nil
	}
	// go-git ignores a bundle it cannot parse, and the fetch then fails
	// with an unknown authority that does not point here.
	if !containsCertificate(ca) {
		return nil, false, fmt.Errorf("secret key %q holds no PEM certificate: put the CA certificates (-----BEGIN CERTIFICATE-----) in it", SecretCAFile)
	}
	return ca, insecure, nil
}

func containsCertificate(bundle []byte) bool {
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return false
		}
		if block.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(block.Bytes); err == nil {
				return true
			}
		}
	}
}
