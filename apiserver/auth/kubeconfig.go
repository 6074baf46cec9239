package auth

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// DefaultContext names the cluster, user and context of a kubeconfig whose
// Kubeconfig.Context is empty.
const DefaultContext = "cairn"

// Kubeconfig describes a single-cluster, single-user kubeconfig file.
type Kubeconfig struct {
	// Server is the API server URL, e.g. "https://127.0.0.1:6443".
	Server string
	// CAPEM is the PEM CA bundle for verifying the server.
	CAPEM []byte
	// UserName names the user entry (default: Context).
	UserName string
	// CertPEM and KeyPEM: client certificate credentials (both or neither).
	CertPEM, KeyPEM []byte
	// Token: bearer token credentials.
	Token string
	// Context names the cluster and context entries (default "cairn").
	Context string
}

// The kubeconfig v1 schema (k8s.io/client-go/tools/clientcmd/api/v1), the
// subset written here. []byte fields marshal as base64, as kubectl expects.
type kubeconfigFile struct {
	APIVersion     string          `json:"apiVersion"`
	Kind           string          `json:"kind"`
	Clusters       []namedCluster  `json:"clusters"`
	Users          []namedAuthInfo `json:"users"`
	Contexts       []namedContext  `json:"contexts"`
	CurrentContext string          `json:"current-context"`
	Preferences    struct{}        `json:"preferences"`
}

type namedCluster struct {
	Name    string      `json:"name"`
	Cluster clusterInfo `json:"cluster"`
}

type clusterInfo struct {
	Server                   string `json:"server"`
	CertificateAuthorityData []byte `json:"certificate-authority-data,omitempty"`
}

type namedAuthInfo struct {
	Name string   `json:"name"`
	User authInfo `json:"user"`
}

type authInfo struct {
	ClientCertificateData []byte `json:"client-certificate-data,omitempty"`
	ClientKeyData         []byte `json:"client-key-data,omitempty"`
	Token                 string `json:"token,omitempty"`
}

type namedContext struct {
	Name    string      `json:"name"`
	Context contextInfo `json:"context"`
}

type contextInfo struct {
	Cluster string `json:"cluster"`
	User    string `json:"user"`
}

// MarshalKubeconfig renders k as kubeconfig YAML.
func MarshalKubeconfig(k Kubeconfig) ([]byte, error) {
	if k.Server == "" {
		return nil, fmt.Errorf("%w: empty server URL", ErrInvalidKubeconfig)
	}
	if (len(k.CertPEM) == 0) != (len(k.KeyPEM) == 0) {
		return nil, fmt.Errorf("%w: client certificate and key must be given together", ErrInvalidKubeconfig)
	}
	ctx := k.Context
	if ctx == "" {
		ctx = DefaultContext
	}
	userName := k.UserName
	if userName == "" {
		userName = ctx
	}
	out, err := yaml.Marshal(kubeconfigFile{
		APIVersion: "v1",
		Kind:       "Config",
		Clusters: []namedCluster{{Name: ctx, Cluster: clusterInfo{
			Server: k.Server, CertificateAuthorityData: k.CAPEM,
		}}},
		Users: []namedAuthInfo{{Name: userName, User: authInfo{
			ClientCertificateData: k.CertPEM, ClientKeyData: k.KeyPEM, Token: k.Token,
		}}},
		Contexts:       []namedContext{{Name: ctx, Context: contextInfo{Cluster: ctx, User: userName}}},
		CurrentContext: ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: marshal kubeconfig: %w", err)
	}
	return out, nil
}

// WriteKubeconfig writes k to path as a kubeconfig that kubectl and
// client-go load unchanged, with mode 0600, atomically (temporary file and
// rename). The parent directory is created if needed.
func WriteKubeconfig(path string, k Kubeconfig) error {
	data, err := MarshalKubeconfig(k)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("auth: write kubeconfig: %w", err)
	}
	return writeFileAtomic(path, data, 0o600)
}
