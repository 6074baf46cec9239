package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
)

// logsOptions are `cairn logs`' flags.
type logsOptions struct {
	viewer     viewerFlags
	namespace  string
	container  string
	follow     bool
	previous   bool
	tail       int64
	limitBytes int64
}

func newLogsCmd() *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs POD",
		Short: "Print a container's log (read-only), as kubectl logs",
		Long: "logs prints the log of one container of a pod, read through the API server from the pod's node.\n" +
			"A pod with several containers needs -c.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), args[0])
		},
	}
	fs := cmd.Flags()
	o.viewer.bind(fs)
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace (default \"default\")")
	fs.StringVarP(&o.container, "container", "c", "", "container (default: the pod's only container)")
	fs.BoolVarP(&o.follow, "follow", "f", false, "keep printing the log as the container writes it")
	fs.BoolVarP(&o.previous, "previous", "p", false, "print the log of the container's previous attempt")
	fs.Int64Var(&o.tail, "tail", -1, "print only the last N lines (-1: all)")
	fs.Int64Var(&o.limitBytes, "limit-bytes", 0, "print at most N bytes (0: no limit)")
	return cmd
}

// podLogOptions are the request's options, checked.
func (o *logsOptions) podLogOptions() (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{Container: o.container, Follow: o.follow, Previous: o.previous}
	switch {
	case o.tail < -1:
		return nil, fmt.Errorf("--tail %d: want -1 (all) or a number of lines", o.tail)
	case o.tail >= 0:
		opts.TailLines = &o.tail
	}
	switch {
	case o.limitBytes < 0:
		return nil, fmt.Errorf("--limit-bytes %d: want 0 (no limit) or a number of bytes", o.limitBytes)
	case o.limitBytes > 0:
		opts.LimitBytes = &o.limitBytes
	}
	return opts, nil
}

func (o *logsOptions) run(ctx context.Context, stdout io.Writer, pod string) error {
	opts, err := o.podLogOptions()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	ns := o.namespace
	if ns == "" {
		ns = "default"
	}
	cfg, err := o.viewer.restConfig()
	if err != nil {
		return userError(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return userError(err)
	}
	stream, err := cs.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return userError(explainLogs(err, cfg.Host, ns, pod))
	}
	defer stream.Close()
	if _, err := io.Copy(stdout, stream); err != nil && ctx.Err() == nil {
		return userError(fmt.Errorf("reading the log of pod %s/%s: %w", ns, pod, err))
	}
	return nil
}

// explainLogs says what went wrong with a log request: a missing pod by
// name and namespace; the server's own message (an ambiguous or unknown
// container, a pod not yet on a node, what the node said) otherwise.
func explainLogs(err error, server, ns, pod string) error {
	var status apierrors.APIStatus
	if apierrors.IsNotFound(err) && errors.As(err, &status) {
		if d := status.Status().Details; d != nil && d.Kind == "pods" && d.Name == pod && strings.HasPrefix(status.Status().Message, "pods ") {
			return fmt.Errorf("pod %q not found in namespace %q", pod, ns)
		}
	}
	return explain(err, server)
}
