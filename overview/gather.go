package overview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
)

// fromCache lists from the API server's watch cache: a status screen
// does not need a quorum read, and on a large cluster the cache answers
// several times faster than etcd.
var fromCache = metav1.ListOptions{ResourceVersion: "0"}

// Gather reads the objects a Snapshot needs, all lists at once. c should
// speak protobuf (the pods list dominates the time). It fails only when
// the API server does not answer or refuses the credentials; a list that
// fails alone is recorded in Objects.Unreadable.
func Gather(ctx context.Context, c kubernetes.Interface, server string) (Objects, error) {
	o := Objects{Server: server}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		fatal    error
		readyErr error
	)
	// list runs one read alongside the others; its time is logged at
	// debug level, to see which list a slow screen waits for.
	list := func(what string, read func() error) {
		wg.Go(func() {
			start := time.Now()
			err := read()
			slog.Debug("status read", "what", what, "took", time.Since(start).Round(time.Millisecond), "err", err)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if apierrors.IsUnauthorized(err) {
				fatal = err
				return
			}
			o.Unreadable = append(o.Unreadable, fmt.Sprintf("%s: %s", what, shortError(err)))
		})
	}
	list("readyz", func() error {
		o.Readyz, readyErr = readyz(ctx, c)
		return nil
	})
	list("componentstatuses", func() error {
		l, err := c.CoreV1().ComponentStatuses().List(ctx, metav1.ListOptions{})
		if err == nil {
			o.ComponentStatuses = l.Items
		}
		return err
	})
	list("gitrepositories", func() (err error) {
		o.GitRepositories, err = gitRepositories(ctx, c)
		return err
	})
	list("nodes", func() error {
		l, err := c.CoreV1().Nodes().List(ctx, fromCache)
		if err == nil {
			o.Nodes = l.Items
		}
		return err
	})
	list("pods", func() error {
		opts := fromCache
		// Finished pods hold no resources and need no attention; on a
		// cluster running jobs they can outnumber the live ones.
		opts.FieldSelector = "status.phase!=Succeeded,status.phase!=Failed"
		l, err := c.CoreV1().Pods("").List(ctx, opts)
		if err == nil {
			o.Pods = l.Items
		}
		return err
	})
	list("deployments", func() error {
		l, err := c.AppsV1().Deployments("").List(ctx, fromCache)
		if err == nil {
			o.Deployments = l.Items
		}
		return err
	})
	list("statefulsets", func() error {
		l, err := c.AppsV1().StatefulSets("").List(ctx, fromCache)
		if err == nil {
			o.StatefulSets = l.Items
		}
		return err
	})
	list("daemonsets", func() error {
		l, err := c.AppsV1().DaemonSets("").List(ctx, fromCache)
		if err == nil {
			o.DaemonSets = l.Items
		}
		return err
	})
	list("events", func() error {
		opts := fromCache
		opts.FieldSelector = "type=Warning"
		l, err := c.CoreV1().Events("").List(ctx, opts)
		if err == nil {
			o.Events = l.Items
		}
		return err
	})
	wg.Wait()
	if readyErr != nil {
		return Objects{}, readyErr
	}
	if fatal != nil {
		return Objects{}, fatal
	}
	// Lists finish in any order; the screen should not shuffle.
	slices.Sort(o.Unreadable)
	return o, nil
}

// readyz asks the API server whether it is ready. A server that answers
// "not ready" is a result; one that does not answer is an error.
func readyz(ctx context.Context, c kubernetes.Interface) (string, error) {
	body, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err == nil {
		return strings.TrimSpace(string(body)), nil
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || apierrors.IsUnauthorized(err) {
		return "", err
	}
	var failedChecks []string
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "[-]") {
			failedChecks = append(failedChecks, strings.TrimSpace(strings.TrimPrefix(line, "[-]")))
		}
	}
	if len(failedChecks) == 0 {
		return "not ready: " + shortError(err), nil
	}
	return "not ready: " + strings.Join(failedChecks, "; "), nil
}

// gitRepositories lists cairn's own kind, which has no protobuf form, as
// JSON through the clientset's REST client.
func gitRepositories(ctx context.Context, c kubernetes.Interface) ([]gitopsv1.GitRepository, error) {
	body, err := c.Discovery().RESTClient().Get().
		AbsPath("/apis", gitopsv1.GroupName, gitopsv1.SchemeGroupVersion.Version, "gitrepositories").
		Param("resourceVersion", "0").SetHeader("Accept", "application/json").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var l gitopsv1.GitRepositoryList
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("decoding the list: %w", err)
	}
	return l.Items, nil
}

func shortError(err error) string {
	switch {
	case apierrors.IsForbidden(err):
		return "forbidden"
	case apierrors.IsNotFound(err):
		return "not served by this server"
	}
	return err.Error()
}
