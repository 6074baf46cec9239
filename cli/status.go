package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cairn-dev/cairn/overview"
)

// statusOptions are `cairn status`'s flags.
type statusOptions struct {
	viewer   viewerFlags
	output   string
	color    string
	watch    bool
	interval time.Duration
	// now is the clock ages are measured against; tests fix it.
	now func() time.Time
}

func newStatusCmd() *cobra.Command { return newStatusCmdAt(time.Now) }

// newStatusCmdAt is `cairn status` reading the time from now.
func newStatusCmdAt(now func() time.Time) *cobra.Command {
	o := &statusOptions{now: now}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show on one screen whether the cluster is OK",
		Long: `Show the control plane, the git sources, the nodes, the pods, the
workloads and the recent warnings of the cluster, and a verdict: OK, or
what is wrong.

Colour and Unicode are used when the output is a terminal; piped output is
plain ASCII. -o json prints the same snapshot for scripts. --watch redraws
the screen every --interval until interrupted.

Exit code: 0 OK, 1 something is wrong, 2 the cluster could not be read.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	o.viewer.bind(cmd.Flags())
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "text or json")
	cmd.Flags().StringVar(&o.color, "color", "auto", "auto (colour and Unicode on a terminal), always or never")
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "redraw until interrupted")
	cmd.Flags().DurationVar(&o.interval, "interval", 2*time.Second, "time between redraws with --watch")
	return cmd
}

func (o *statusOptions) run(ctx context.Context, out io.Writer) error {
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("--output: %q is not text or json", o.output)
	}
	if o.color != "auto" && o.color != "always" && o.color != "never" {
		return fmt.Errorf("--color: %q is not auto, always or never", o.color)
	}
	if o.interval <= 0 {
		return fmt.Errorf("--interval: must be positive, not %s", o.interval)
	}
	cfg, err := o.viewer.restConfig()
	if err != nil {
		return err
	}
	client, err := statusClient(cfg)
	if err != nil {
		return err
	}
	if o.watch {
		return o.watchLoop(ctx, out, client, cfg.Host)
	}
	snap, err := o.snapshot(ctx, client, cfg.Host)
	if err != nil {
		return err
	}
	if o.output == "json" {
		err = overview.JSON(out, snap)
	} else {
		err = overview.Render(out, snap, statusDisplay(out, o.color))
	}
	if err != nil {
		return err
	}
	if !snap.Verdict.OK {
		// The screen already says what is wrong; the code is for scripts.
		return &exitError{code: 1}
	}
	return nil
}

// statusClient speaks protobuf: the pod list is most of what status
// reads, and protobuf decodes several times faster than JSON.
func statusClient(cfg *rest.Config) (kubernetes.Interface, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	// ComponentStatus is deprecated upstream, but it is how cairn reports
	// its components; the warning would only confuse.
	cfg.WarningHandler = rest.NoWarnings{}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	return kubernetes.NewForConfig(cfg)
}

func (o *statusOptions) snapshot(ctx context.Context, c kubernetes.Interface, server string) (overview.Snapshot, error) {
	objs, err := overview.Gather(ctx, c, server)
	if err != nil {
		return overview.Snapshot{}, explain(err, server)
	}
	return overview.Build(objs, o.now()), nil
}

// watchLoop redraws until ctx ends. An unreachable server is shown on
// the screen rather than ending the loop: it may come back.
func (o *statusOptions) watchLoop(ctx context.Context, out io.Writer, c kubernetes.Interface, server string) error {
	tty := statusIsTerminal(out)
	first := true
	for {
		var frame bytes.Buffer
		snap, err := o.snapshot(ctx, c, server)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case o.output == "json" && err == nil:
			// One compact object per line, for programs that read a stream.
			err = json.NewEncoder(&frame).Encode(snap)
		case err == nil:
			err = overview.Render(&frame, snap, statusDisplay(out, o.color))
		}
		if err != nil {
			frame.Reset()
			fmt.Fprintf(&frame, "cairn status - %s - %s\n\nerror: %v\n", server, o.now().UTC().Format("2006-01-02 15:04:05 MST"), err)
		}
		if _, err := out.Write(statusFrame(frame.Bytes(), tty && o.output == "text", first)); err != nil {
			return err
		}
		first = false
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
	}
}

// statusFrame prepares one redraw. On a terminal the cursor goes home and
// each line clears what was left of the previous frame, then everything
// below is cleared: the screen is replaced without flashing blank.
// Elsewhere frames simply follow each other.
func statusFrame(frame []byte, inPlace, first bool) []byte {
	if !inPlace {
		if first {
			return frame
		}
		return append([]byte("\n"), frame...)
	}
	var b bytes.Buffer
	if first {
		b.WriteString("\x1b[2J")
	}
	b.WriteString("\x1b[H")
	b.Write(bytes.ReplaceAll(frame, []byte("\n"), []byte("\x1b[K\n")))
	b.WriteString("\x1b[J")
	return b.Bytes()
}

// statusDisplay decides how the screen is drawn on out: colour and
// Unicode on a terminal (colour off with NO_COLOR or TERM=dumb), plain
// ASCII elsewhere, as wide as the terminal or $COLUMNS.
func statusDisplay(out io.Writer, color string) overview.Options {
	tty := statusIsTerminal(out)
	opt := overview.Options{Width: 100}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		opt.Width = n
	}
	if f, ok := out.(*os.File); ok && tty {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			opt.Width = w
		}
	}
	switch color {
	case "always":
		opt.Color, opt.Unicode = true, true
	case "auto":
		opt.Unicode = tty
		opt.Color = tty && os.Getenv("NO_COLOR") == "" && !strings.EqualFold(os.Getenv("TERM"), "dumb")
	}
	return opt
}

func statusIsTerminal(out io.Writer) bool {
	f, ok := out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
