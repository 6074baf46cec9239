package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/cairn-dev/cairn/view"
)

// nodeLeaseNamespace holds the Leases nodes renew as their heartbeat.
const nodeLeaseNamespace = "kube-node-lease"

func newDescribeCmd() *cobra.Command { return newDescribeCmdAt(time.Now) }

// newDescribeCmdAt is describe with its clock, so that ages in tests
// are fixed.
func newDescribeCmdAt(now func() time.Time) *cobra.Command {
	var (
		viewer    viewerFlags
		namespace string
	)
	cmd := &cobra.Command{
		Use:   "describe KIND NAME...",
		Short: "Show an object in detail with its events (read-only), as kubectl describe",
		Long: "describe shows nodes, pods, deployments, replicasets, statefulsets and daemonsets in kubectl's layout,\n" +
			"and any other kind as an outline of its fields, each followed by its events.",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if namespace == "" {
				namespace = "default"
			}
			c, err := viewer.clients()
			if err != nil {
				return userError(err)
			}
			k, err := c.resolve(args[0])
			if err != nil {
				return userError(err)
			}
			ns := namespace
			if !k.namespaced {
				ns = ""
			}
			out := cmd.OutOrStdout()
			for i, name := range args[1:] {
				if i > 0 {
					fmt.Fprintln(out)
				}
				text, err := describe(cmd.Context(), c, k, ns, name, now())
				if err != nil {
					return userError(explain(err, c.server))
				}
				if _, err := io.WriteString(out, text); err != nil {
					return err
				}
			}
			return nil
		},
	}
	viewer.bind(cmd.Flags())
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace (default \"default\")")
	return cmd
}

// describe reads an object and what its description shows besides it,
// and renders it.
func describe(ctx context.Context, c *readClients, k kindRef, ns, name string, now time.Time) (string, error) {
	get := metav1.GetOptions{}
	switch k.gvk.GroupKind().String() {
	case "Node":
		n, err := c.cs.CoreV1().Nodes().Get(ctx, name, get)
		if err != nil {
			return "", err
		}
		in := view.NodeDescription{Node: n}
		in.Lease, in.LeaseErr = c.cs.CoordinationV1().Leases(nodeLeaseNamespace).Get(ctx, name, get)
		if in.LeaseErr != nil {
			// A node without a Lease is worth showing (it stopped
			// heartbeating); any other failure is the command's.
			if !apierrors.IsNotFound(in.LeaseErr) && !apierrors.IsForbidden(in.LeaseErr) {
				return "", in.LeaseErr
			}
			in.Lease = nil
		}
		pods, err := c.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + name})
		if err != nil {
			return "", err
		}
		in.Pods = pods.Items
		// The kubelet reports a node's events with the node's name as
		// its uid, so only the kind and name identify them.
		if in.Events, err = eventsFor(ctx, c, "Node", "", name, ""); err != nil {
			return "", err
		}
		return view.DescribeNode(in, now), nil
	case "Pod":
		p, err := c.cs.CoreV1().Pods(ns).Get(ctx, name, get)
		if err != nil {
			return "", err
		}
		evs, err := eventsFor(ctx, c, "Pod", ns, name, string(p.UID))
		if err != nil {
			return "", err
		}
		return view.DescribePod(p, evs, now), nil
	case "Deployment.apps":
		d, err := c.cs.AppsV1().Deployments(ns).Get(ctx, name, get)
		if err != nil {
			return "", err
		}
		rss, err := c.cs.AppsV1().ReplicaSets(ns).List(ctx, selectorList(d.Spec.Selector))
		if err != nil {
			return "", err
		}
		old, cur := view.OwnedReplicaSets(d, rss.Items)
		evs, err := eventsFor(ctx, c, "Deployment", ns, name, string(d.UID))
		if err != nil {
			return "", err
		}
		return view.DescribeDeployment(d, old, cur, evs, now), nil
	case "ReplicaSet.apps":
		rs, err := c.cs.AppsV1().ReplicaSets(ns).Get(ctx, name, get)
		if err != nil {
			return "", err
		}
		pods, evs, err := podsAndEvents(ctx, c, ns, rs.Spec.Selector, string(rs.UID), "ReplicaSet", name)
		if err != nil {
			return "", err
		}
		return view.DescribeReplicaSet(rs, pods, evs, now), nil
	case "StatefulSet.apps":
		ss, err := c.cs.AppsV1().StatefulSets(ns).Get(ctx, name, get)
		if err != nil {
			return "", err
		}
		pods, evs, err := podsAndEvents(ctx, c, ns, ss.Spec.Selector, string(ss.UID), "StatefulSet", name)
		if err != nil {
			return "", err
		}
		return view.DescribeStatefulSet(ss, pods, evs, now), nil
	case "DaemonSet.apps":
		ds, err := c.cs.AppsV1().DaemonSets(ns).Get(ctx, name, get)
		if err != nil {
			return "", err
		}
		pods, evs, err := podsAndEvents(ctx, c, ns, ds.Spec.Selector, string(ds.UID), "DaemonSet", name)
		if err != nil {
			return "", err
		}
		return view.DescribeDaemonSet(ds, pods, evs, now), nil
	}
	obj, err := k.resource(c.dyn, ns).Get(ctx, name, get)
	if err != nil {
		return "", err
	}
	evs, err := eventsFor(ctx, c, k.gvk.Kind, ns, name, string(obj.GetUID()))
	if err != nil {
		return "", err
	}
	return view.DescribeObject(obj.Object, evs, now), nil
}

func selectorList(s *metav1.LabelSelector) metav1.ListOptions {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil || s == nil {
		return metav1.ListOptions{}
	}
	return metav1.ListOptions{LabelSelector: sel.String()}
}

// podsAndEvents are the pods a workload controls (selected and owned by
// it) and its events.
func podsAndEvents(ctx context.Context, c *readClients, ns string, sel *metav1.LabelSelector, uid, kind, name string) ([]corev1.Pod, []corev1.Event, error) {
	list, err := c.cs.CoreV1().Pods(ns).List(ctx, selectorList(sel))
	if err != nil {
		return nil, nil, err
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if ref := metav1.GetControllerOfNoCopy(&p); ref != nil && string(ref.UID) == uid {
			pods = append(pods, p)
		}
	}
	evs, err := eventsFor(ctx, c, kind, ns, name, uid)
	return pods, evs, err
}

// eventsFor lists the events about one object, selected on the server by
// involvedObject fields; uid "" leaves the uid out.
func eventsFor(ctx context.Context, c *readClients, kind, ns, name, uid string) ([]corev1.Event, error) {
	sel := fields.Set{"involvedObject.kind": kind, "involvedObject.name": name}
	if ns != "" {
		sel["involvedObject.namespace"] = ns
	}
	if uid != "" {
		sel["involvedObject.uid"] = uid
	}
	list, err := c.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.SelectorFromSet(sel).String()})
	if apierrors.IsForbidden(err) {
		// Events are a courtesy: an identity that cannot read them still
		// sees the object.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	return list.Items, nil
}
