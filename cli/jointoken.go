package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/apiserver"
	"github.com/cairn-dev/cairn/apiserver/auth"
	"github.com/cairn-dev/cairn/jointoken"
)

// joinTokenConfig is where `cairn server token` finds the cluster: the
// admin kubeconfig in the data dir unless --kubeconfig names another.
type joinTokenConfig struct {
	DataDir    string
	Kubeconfig string
	// WriteFile: rewrite <data-dir>/join-token after a rotate (the data
	// dir is in use: no --kubeconfig, or --data-dir given explicitly).
	WriteFile bool
}

func (c joinTokenConfig) kubeconfigPath() string {
	if c.Kubeconfig != "" {
		return c.Kubeconfig
	}
	return filepath.Join(c.DataDir, "admin.kubeconfig")
}

// tokenClient talks to the API as the admin and knows the cluster CA the
// tokens' hashes are made of.
type tokenClient struct {
	secrets interface {
		List(ctx context.Context, opts metav1.ListOptions) (*corev1.SecretList, error)
		Create(ctx context.Context, s *corev1.Secret, opts metav1.CreateOptions) (*corev1.Secret, error)
		Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	}
	caPEM  []byte
	server string
}

func (c joinTokenConfig) client() (*tokenClient, error) {
	path := c.kubeconfigPath()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading the admin kubeconfig %s: %w", path, err)
	}
	caPEM := cfg.TLSClientConfig.CAData
	if len(caPEM) == 0 && cfg.TLSClientConfig.CAFile != "" {
		if caPEM, err = os.ReadFile(cfg.TLSClientConfig.CAFile); err != nil {
			return nil, fmt.Errorf("reading the cluster CA: %w", err)
		}
	}
	if len(caPEM) == 0 {
		return nil, fmt.Errorf("the kubeconfig %s names no cluster CA: join tokens carry its hash", path)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &tokenClient{secrets: cs.CoreV1().Secrets(auth.JoinTokenNamespace), caPEM: caPEM, server: cfg.Host}, nil
}

// list returns the bootstrap tokens, oldest first.
func (c *tokenClient) list(ctx context.Context) ([]auth.BootstrapToken, error) {
	l, err := c.secrets.List(ctx, metav1.ListOptions{FieldSelector: "type=" + string(auth.JoinTokenSecretType)})
	if err != nil {
		return nil, explain(err, c.server)
	}
	var out []auth.BootstrapToken
	for i := range l.Items {
		if l.Items[i].Type != auth.JoinTokenSecretType {
			continue
		}
		b, err := auth.BootstrapTokenFromSecret(&l.Items[i])
		if err != nil {
			continue
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (c *tokenClient) create(ctx context.Context, ttl time.Duration, description string) (jointoken.Token, error) {
	tok, err := jointoken.Generate(c.caPEM)
	if err != nil {
		return jointoken.Token{}, err
	}
	b := auth.BootstrapToken{ID: tok.ID, Secret: tok.Secret, Authentication: true, Description: description}
	if ttl > 0 {
		b.Expires = time.Now().Add(ttl).Truncate(time.Second)
	}
	if _, err := c.secrets.Create(ctx, auth.BootstrapTokenSecret(b), metav1.CreateOptions{}); err != nil {
		return jointoken.Token{}, fmt.Errorf("creating the join token: %w", explainAdmin(err, c.server))
	}
	return tok, nil
}

func (c *tokenClient) delete(ctx context.Context, id string) error {
	err := c.secrets.Delete(ctx, auth.JoinTokenSecretPrefix+id, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no join token %q", id)
	}
	if err != nil {
		return fmt.Errorf("deleting join token %s: %w", id, explainAdmin(err, c.server))
	}
	return nil
}

// explainAdmin is explain for commands that write: a 403 is not about
// the CLI being read-only.
func explainAdmin(err error, server string) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("not allowed: use the admin kubeconfig: %w", err)
	}
	return explain(err, server)
}

// newJoinTokenCmd is `cairn server token`: the join tokens nodes join the
// cluster with (node/join).
func newJoinTokenCmd() *cobra.Command {
	var cfg joinTokenConfig
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the join tokens nodes join the cluster with",
		Long: "Join tokens are bootstrap-token Secrets in kube-system, shown in the secure format\n" +
			"K10<sha256 of the cluster CA>::<id>.<secret>. The commands talk to the API as the admin:\n" +
			"the admin kubeconfig in --data-dir unless --kubeconfig names another.",
		Args: cobra.NoArgs,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if root := cmd.Root(); root.PersistentPreRunE != nil && root != cmd {
				if err := root.PersistentPreRunE(cmd, nil); err != nil {
					return err
				}
			}
			cfg.WriteFile = cfg.Kubeconfig == "" || cmd.Flags().Changed("data-dir")
			return nil
		},
	}
	cmd.PersistentFlags().StringVar(&cfg.DataDir, "data-dir", "/var/lib/cairn", "the server's data dir (admin kubeconfig, join-token file)")
	cmd.PersistentFlags().StringVar(&cfg.Kubeconfig, "kubeconfig", "", "an admin kubeconfig (default <data-dir>/admin.kubeconfig)")
	cmd.AddCommand(newTokenListCmd(&cfg), newTokenCreateCmd(&cfg), newTokenRotateCmd(&cfg), newTokenDeleteCmd(&cfg))
	return cmd
}

func newTokenListCmd(cfg *joinTokenConfig) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the join tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cfg.client()
			if err != nil {
				return err
			}
			tokens, err := c.list(cmd.Context())
			if err != nil {
				return err
			}
			return printTokens(cmd.OutOrStdout(), tokens, c.caPEM, time.Now())
		},
	}
}

func printTokens(w io.Writer, tokens []auth.BootstrapToken, caPEM []byte, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tTOKEN\tEXPIRES\tDESCRIPTION")
	for _, b := range tokens {
		exp := "never"
		if !b.Expires.IsZero() {
			exp = b.Expires.UTC().Format(time.RFC3339)
			if b.Expired(now) {
				exp += " (expired)"
			}
		}
		if !b.Authentication {
			exp += " (not for authentication)"
		}
		desc := b.Description
		if desc == "" {
			desc = "<none>"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.ID, b.Token(caPEM), exp, desc)
	}
	return tw.Flush()
}

func newTokenCreateCmd(cfg *joinTokenConfig) *cobra.Command {
	var ttl time.Duration
	var description string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a join token and print it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cfg.client()
			if err != nil {
				return err
			}
			tok, err := c.create(cmd.Context(), ttl, description)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "how long the token is valid (0: no expiry)")
	cmd.Flags().StringVar(&description, "description", "", "what the token is for")
	return cmd
}

func newTokenRotateCmd(cfg *joinTokenConfig) *cobra.Command {
	var ttl time.Duration
	var description string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Replace every join token with a new one and write it to <data-dir>/join-token",
		Long: "rotate creates a new join token, deletes all the others (nodes already joined keep\n" +
			"their certificates) and writes the new one to <data-dir>/join-token.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := cfg.client()
			if err != nil {
				return err
			}
			old, err := c.list(ctx)
			if err != nil {
				return err
			}
			if description == "" {
				description = "rotated " + time.Now().UTC().Format(time.RFC3339)
			}
			tok, err := c.create(ctx, ttl, description)
			if err != nil {
				return err
			}
			var errs []error
			for _, b := range old {
				if err := c.delete(ctx, b.ID); err != nil {
					errs = append(errs, err)
				}
			}
			if cfg.WriteFile {
				path := filepath.Join(cfg.DataDir, apiserver.JoinTokenFile)
				if err := writeTokenFile(path, tok.String()); err != nil {
					errs = append(errs, err)
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return errors.Join(errs...)
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "how long the new token is valid (0: no expiry)")
	cmd.Flags().StringVar(&description, "description", "", "what the new token is for")
	return cmd
}

func newTokenDeleteCmd(cfg *joinTokenConfig) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID|TOKEN...",
		Short: "Delete join tokens, given by id or whole",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cfg.client()
			if err != nil {
				return err
			}
			var errs []error
			for _, a := range args {
				id := a
				if tok, err := jointoken.ParseOrBare(a); err == nil {
					id = tok.ID
				} else if err := jointoken.ValidateID(a); err != nil {
					errs = append(errs, fmt.Errorf("%q is neither a token nor a token id", a))
					continue
				}
				if err := c.delete(cmd.Context(), id); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "join token %s deleted\n", id)
			}
			return errors.Join(errs...)
		},
	}
}

// writeTokenFile replaces a join-token file (mode 0600) atomically.
func writeTokenFile(path, token string) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp) // a leftover would keep its mode
	if err := os.WriteFile(tmp, []byte(strings.TrimSpace(token)+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
