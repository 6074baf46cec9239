package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// viewerFlags are how the read-only commands find the cluster, as
// kubectl: --kubeconfig, then $KUBECONFIG, then the viewer kubeconfig of
// a local appliance (./.cairn, then /var/lib/cairn); --context picks a
// context.
type viewerFlags struct {
	Kubeconfig string
	Context    string
}

func (f *viewerFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.Kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, else the viewer kubeconfig in ./.cairn or /var/lib/cairn)")
	fs.StringVar(&f.Context, "context", "", "kubeconfig context to use")
}

// defaultViewerKubeconfigs are tried in order when neither --kubeconfig
// nor $KUBECONFIG names one.
var defaultViewerKubeconfigs = []string{filepath.Join(".cairn", "viewer.kubeconfig"), "/var/lib/cairn/viewer.kubeconfig"}

// restConfig loads the configuration the read-only commands use.
func (f *viewerFlags) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	switch {
	case f.Kubeconfig != "":
		rules.ExplicitPath = f.Kubeconfig
	case os.Getenv("KUBECONFIG") != "":
	default:
		found := ""
		for _, p := range defaultViewerKubeconfigs {
			if _, err := os.Stat(p); err == nil {
				found = p
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run where %s exists", strings.Join(defaultViewerKubeconfigs, " or "))
		}
		rules.ExplicitPath = found
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: f.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// explain turns the errors people meet talking to a cluster into
// messages that say what is wrong and what to do.
func explain(err error, server string) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	var opErr *net.OpError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknownAuthority), strings.Contains(err.Error(), "certificate signed by unknown authority"):
		return fmt.Errorf("the server at %s presented a certificate this kubeconfig's CA does not trust: is the kubeconfig from this cluster? (%v)", server, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("the server's certificate is not valid for %s: use the address the server advertises (%v)", server, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the server at %s refused the kubeconfig's credentials (401): the token or certificate is wrong or expired", server)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("not allowed (this CLI only reads; changes go through git): %w", err)
	case errors.As(err, &opErr), errors.As(err, &ue) && strings.Contains(err.Error(), "connection refused"):
		return fmt.Errorf("cannot reach the API server at %s: is cairn running? (%v)", server, err)
	}
	return err
}
