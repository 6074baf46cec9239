package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/cairn-dev/cairn/view"
)

// eventsOptions are `cairn events`' flags.
type eventsOptions struct {
	viewer        viewerFlags
	namespace     string
	allNamespaces bool
	forObject     string
	watch         bool
	types         []string
	noHeaders     bool
}

func newEventsCmd() *cobra.Command { return newEventsCmdAt(time.Now) }

// newEventsCmdAt is events with its clock, so that ages in tests are
// fixed.
func newEventsCmdAt(now func() time.Time) *cobra.Command {
	o := &eventsOptions{}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List events oldest first (read-only), as kubectl events",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), now)
		},
	}
	fs := cmd.Flags()
	o.viewer.bind(fs)
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace (default \"default\")")
	fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "events of every namespace")
	fs.StringVar(&o.forObject, "for", "", "only events about this object, KIND/NAME (e.g. pod/web-1, node/node-1)")
	fs.BoolVarP(&o.watch, "watch", "w", false, "after listing, stream new events")
	fs.StringSliceVar(&o.types, "types", nil, "only these event types: Normal, Warning")
	fs.BoolVar(&o.noHeaders, "no-headers", false, "leave the header line out")
	return cmd
}

func (o *eventsOptions) run(ctx context.Context, stdout, stderr io.Writer, now func() time.Time) error {
	for i, t := range o.types {
		switch strings.ToLower(t) {
		case "normal":
			o.types[i] = corev1.EventTypeNormal
		case "warning":
			o.types[i] = corev1.EventTypeWarning
		default:
			return &exitError{code: 2, err: fmt.Errorf("--types %s: want Normal or Warning", t)}
		}
	}
	c, err := o.viewer.clients()
	if err != nil {
		return userError(err)
	}
	ns := o.namespace
	if ns == "" {
		ns = "default"
	}
	if o.allNamespaces {
		ns = ""
	}
	sel := fields.Set{}
	if o.forObject != "" {
		kind, name, ok := strings.Cut(o.forObject, "/")
		if !ok || name == "" {
			return &exitError{code: 2, err: fmt.Errorf("--for %s: want KIND/NAME", o.forObject)}
		}
		k, err := c.resolve(kind)
		if err != nil {
			return userError(err)
		}
		sel["involvedObject.kind"] = k.gvk.Kind
		sel["involvedObject.name"] = name
	}
	opts := metav1.ListOptions{}
	if len(sel) > 0 {
		opts.FieldSelector = fields.SelectorFromSet(sel).String()
	}
	list, err := c.cs.CoreV1().Events(ns).List(ctx, opts)
	if err != nil {
		return userError(explain(err, c.server))
	}
	events := o.filter(list.Items)
	color := isTerminal(stdout)
	if len(events) == 0 {
		if o.allNamespaces {
			fmt.Fprintln(stderr, "No events found.")
		} else {
			fmt.Fprintf(stderr, "No events found in %s namespace.\n", ns)
		}
	} else if err := view.WriteEvents(stdout, events, o.allNamespaces, o.noHeaders, color, now()); err != nil {
		return err
	}
	if !o.watch {
		return nil
	}
	opts.ResourceVersion = list.ResourceVersion
	w, err := c.cs.CoreV1().Events(ns).Watch(ctx, opts)
	if err != nil {
		return userError(explain(err, c.server))
	}
	defer w.Stop()
	headerDue := len(events) == 0 && !o.noHeaders
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			e, isEvent := ev.Object.(*corev1.Event)
			if !isEvent || ev.Type == "DELETED" || len(o.filter([]corev1.Event{*e})) == 0 {
				continue
			}
			if err := view.WriteEvents(stdout, []corev1.Event{*e}, o.allNamespaces, !headerDue, color, now()); err != nil {
				return err
			}
			headerDue = false
		}
	}
}

func (o *eventsOptions) filter(events []corev1.Event) []corev1.Event {
	if len(o.types) == 0 {
		return events
	}
	var out []corev1.Event
	for _, e := range events {
		if slices.Contains(o.types, e.Type) {
			out = append(out, e)
		}
	}
	return out
}
