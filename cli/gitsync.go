package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
	"github.com/cairn-dev/cairn/gitsync"
)

// The GitRepository --git-repo declares.
const (
	gitSourceNamespace = "cairn-system"
	gitSourceName      = "cluster"
)

// newGitSync builds the gitsync component and, with --git-repo, makes
// sure the GitRepository it names exists as the flags say.
func newGitSync(ctx context.Context, cfg *rest.Config, c componentsConfig, reg prometheus.Registerer) (*gitsync.Controller, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cache := filepath.Join(c.DataDir, "gitsync")
	if c.DataDir == "" {
		if cache, err = os.MkdirTemp("", "cairn-gitsync-"); err != nil {
			return nil, err
		}
	}
	if c.GitRepo != "" {
		if err := declareSource(ctx, client, dyn, c); err != nil {
			return nil, err
		}
	}
	return gitsync.New(gitsync.Config{Client: client, Dynamic: dyn, Discovery: disc, CacheDir: cache, Logger: slog.Default(), Registerer: reg,
		LeaderElect: c.LeaderElect})
}

// declareSource creates or updates cairn-system/cluster from the flags.
func declareSource(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, c componentsConfig) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gitSourceNamespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", gitSourceNamespace, err)
	}
	want := gitopsv1.GitRepositorySpec{URL: c.GitRepo, Ref: gitopsv1.GitRef{Branch: c.GitBranch}, Path: c.GitPath,
		Interval: &metav1.Duration{Duration: c.GitInterval}, DefaultNamespace: "default", Prune: true}
	res := dyn.Resource(gitopsv1.SchemeGroupVersion.WithResource("gitrepositories")).Namespace(gitSourceNamespace)
	cur, err := res.Get(ctx, gitSourceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r := &gitopsv1.GitRepository{
			TypeMeta:   metav1.TypeMeta{APIVersion: gitopsv1.SchemeGroupVersion.String(), Kind: "GitRepository"},
			ObjectMeta: metav1.ObjectMeta{Namespace: gitSourceNamespace, Name: gitSourceName},
			Spec:       want,
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(r)
		if err != nil {
			return err
		}
		_, err = res.Create(ctx, &unstructured.Unstructured{Object: u}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	spec, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&want)
	if err != nil {
		return err
	}
	cur.Object["spec"] = spec
	_, err = res.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}
