package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

type verbSet map[string]bool

// deleter deletes the content of namespaces, as Kubernetes'
// namespacedResourcesDeleter.
type deleter struct {
	client  kubernetes.Interface
	dynamic dynamic.Interface
	log     *slog.Logger
	clock   clock.PassiveClock
	// discover lists the namespaced resources; default the server's
	// preferred versions through discovery.
	discover func() ([]*metav1.APIResourceList, error)

	mu    sync.Mutex
	verbs map[string]verbSet // by GVR string, from the last discovery
}

// result of one pass over a namespace's content.
type result struct {
	discoveryErr error
	// failed: resources whose deletion failed, with the errors.
	failed map[string]error
	// remaining instances by resource ("pods", "widgets.example.com"),
	// and by finalizer of the remaining ones.
	remaining, finalizers map[string]int
	// estimate of how long the remaining pods take to go.
	estimate time.Duration
	// err, when set, fails the pass: it is retried with backoff.
	err error
}

func (r *result) contentRemains() bool { return len(r.remaining) > 0 }

// deleteAll deletes every namespaced object in ns through the resources
// discovery reports, and counts what is left.
func (d *deleter) deleteAll(ctx context.Context, ns string) *result {
	res := &result{failed: map[string]error{}, remaining: map[string]int{}, finalizers: map[string]int{}}
	discover := d.discover
	if discover == nil {
		discover = d.client.Discovery().ServerPreferredNamespacedResources
	}
	lists, err := discover()
	if err != nil {
		// Partial discovery: delete what was found, but do not finalize.
		res.discoveryErr = err
		if !discovery.IsGroupDiscoveryFailedError(err) {
			res.err = fmt.Errorf("discovering namespaced resources: %w", err)
			return res
		}
	}
	deletable := discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"delete"}}, lists)
	verbs := map[string]verbSet{}
	var gvrs []schema.GroupVersionResource
	for _, l := range deletable {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			gvr := gv.WithResource(r.Name)
			vs := verbSet{}
			for _, v := range r.Verbs {
				vs[v] = true
			}
			verbs[gvr.String()] = vs
			gvrs = append(gvrs, gvr)
		}
	}
	d.mu.Lock()
	d.verbs = verbs
	d.mu.Unlock()
	slices.SortFunc(gvrs, func(a, b schema.GroupVersionResource) int { return strings.Compare(a.String(), b.String()) })
	for _, gvr := range gvrs {
		if ctx.Err() != nil {
			res.err = ctx.Err()
			return res
		}
		d.deleteResource(ctx, ns, gvr, verbs[gvr.String()], res)
	}
	switch {
	case len(res.failed) > 0:
		keys := sortedKeys(res.failed)
		res.err = fmt.Errorf("failed to delete all resource types, %d remaining: %v", len(keys), res.failed[keys[0]])
	case res.discoveryErr != nil:
		res.err = fmt.Errorf("discovery failed for some groups: %w", res.discoveryErr)
	}
	return res
}

// deleteResource deletes the instances of one resource in ns, with
// deletecollection when the resource supports it, else one by one, then
// lists what is left.
func (d *deleter) deleteResource(ctx context.Context, ns string, gvr schema.GroupVersionResource, verbs verbSet, res *result) {
	name := resourceName(gvr)
	client := d.dynamic.Resource(gvr).Namespace(ns)
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	if verbs["deletecollection"] {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case err == nil:
		case apierrors.IsMethodNotSupported(err), apierrors.IsNotFound(err):
			// fall back to list and delete
			verbs = verbSet{"list": verbs["list"], "delete": true}
		default:
			res.failed[name] = fmt.Errorf("%s: deletecollection: %w", name, err)
			return
		}
	}
	if !verbs["list"] {
		if !verbs["deletecollection"] {
			d.log.Debug("resource can be neither listed nor collection-deleted; skipped", "resource", name)
		}
		return // cannot tell what remains
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return
	}
	if err != nil {
		res.failed[name] = fmt.Errorf("%s: list: %w", name, err)
		return
	}
	if !verbs["deletecollection"] {
		var errs []error
		for i := range list.Items {
			it := &list.Items[i]
			if it.GetDeletionTimestamp() != nil {
				continue
			}
			uid := it.GetUID()
			o := opts
			o.Preconditions = &metav1.Preconditions{UID: &uid}
			err := client.Delete(ctx, it.GetName(), o)
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			res.failed[name] = fmt.Errorf("%s: delete: %w", name, errors.Join(errs...))
			return
		}
		if list, err = client.List(ctx, metav1.ListOptions{}); err != nil {
			res.failed[name] = fmt.Errorf("%s: list: %w", name, err)
			return
		}
	}
	if len(list.Items) == 0 {
		return
	}
	res.remaining[name] += len(list.Items)
	now := d.clock.Now()
	for i := range list.Items {
		it := &list.Items[i]
		for _, f := range it.GetFinalizers() {
			res.finalizers[f]++
		}
		if gvr.Group == "" && gvr.Resource == "pods" {
			// Estimate as Kubernetes: the pod goes when its grace
			// period ends.
			est := time.Duration(0)
			if ts := it.GetDeletionTimestamp(); ts != nil {
				est = ts.Sub(now)
			} else if g := it.GetDeletionGracePeriodSeconds(); g != nil {
				est = time.Duration(*g) * time.Second
			}
			if est > res.estimate {
				res.estimate = est
			}
		}
	}
}

func resourceName(gvr schema.GroupVersionResource) string {
	if gvr.Group == "" {
		return gvr.Resource
	}
	return gvr.Resource + "." + gvr.Group
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// --- status conditions, as Kubernetes' namespaceConditionUpdater ---

var conditionTypes = []corev1.NamespaceConditionType{
	corev1.NamespaceDeletionDiscoveryFailure,
	corev1.NamespaceDeletionGVParsingFailure,
	corev1.NamespaceDeletionContentFailure,
	corev1.NamespaceContentRemaining,
	corev1.NamespaceFinalizersRemaining,
}

var okReasons = map[corev1.NamespaceConditionType]string{
	corev1.NamespaceDeletionDiscoveryFailure: "ResourcesDiscovered",
	corev1.NamespaceDeletionGVParsingFailure: "ParsedGroupVersions",
	corev1.NamespaceDeletionContentFailure:   "ContentDeleted",
	corev1.NamespaceContentRemaining:         "ContentRemoved",
	corev1.NamespaceFinalizersRemaining:      "ContentHasNoFinalizers",
}

var okMessages = map[corev1.NamespaceConditionType]string{
	corev1.NamespaceDeletionDiscoveryFailure: "All resources successfully discovered",
	corev1.NamespaceDeletionGVParsingFailure: "All legacy kube types successfully parsed",
	corev1.NamespaceDeletionContentFailure:   "All content successfully deleted, may be waiting on finalization",
	corev1.NamespaceContentRemaining:         "All content successfully removed",
	corev1.NamespaceFinalizersRemaining:      "All content-preserving finalizers finished",
}

// Reasons of the conditions when they hold, as Kubernetes'.
const (
	ReasonDiscoveryFailed       = "DiscoveryFailed"
	ReasonContentDeletionFailed = "ContentDeletionFailed"
	ReasonSomeResourcesRemain   = "SomeResourcesRemain"
	ReasonSomeFinalizersRemain  = "SomeFinalizersRemain"
)

// conditions computes the five deletion conditions from a pass.
func (r *result) conditions() []corev1.NamespaceCondition {
	failing := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
	if r.discoveryErr != nil {
		failing[corev1.NamespaceDeletionDiscoveryFailure] = corev1.NamespaceCondition{Reason: ReasonDiscoveryFailed,
			Message: fmt.Sprintf("Discovery failed for some groups: %v", r.discoveryErr)}
	}
	if len(r.failed) > 0 {
		var msgs []string
		for _, k := range sortedKeys(r.failed) {
			msgs = append(msgs, r.failed[k].Error())
		}
		failing[corev1.NamespaceDeletionContentFailure] = corev1.NamespaceCondition{Reason: ReasonContentDeletionFailed,
			Message: fmt.Sprintf("Failed to delete all resource types, %d remaining: %s", len(msgs), strings.Join(msgs, ", "))}
	}
	if len(r.remaining) > 0 {
		var msgs []string
		for _, k := range sortedKeys(r.remaining) {
			msgs = append(msgs, fmt.Sprintf("%s has %d resource instances", k, r.remaining[k]))
		}
		failing[corev1.NamespaceContentRemaining] = corev1.NamespaceCondition{Reason: ReasonSomeResourcesRemain,
			Message: "Some resources are remaining: " + strings.Join(msgs, ", ")}
	}
	if len(r.finalizers) > 0 {
		var msgs []string
		for _, k := range sortedKeys(r.finalizers) {
			msgs = append(msgs, fmt.Sprintf("%s in %d resource instances", k, r.finalizers[k]))
		}
		failing[corev1.NamespaceFinalizersRemaining] = corev1.NamespaceCondition{Reason: ReasonSomeFinalizersRemain,
			Message: "Some content in the namespace has finalizers remaining: " + strings.Join(msgs, ", ")}
	}
	out := make([]corev1.NamespaceCondition, 0, len(conditionTypes))
	for _, t := range conditionTypes {
		c, bad := failing[t]
		c.Type = t
		if bad {
			c.Status = corev1.ConditionTrue
		} else {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, okReasons[t], okMessages[t]
		}
		out = append(out, c)
	}
	return out
}

// updateConditions writes the deletion conditions into the namespace's
// status when they changed, keeping the transition times of those whose
// status did not.
func (c *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, res *result) (*corev1.Namespace, error) {
	want := res.conditions()
	changed := false
	now := metav1.NewTime(c.clock.Now())
	next := ns.DeepCopy()
	for _, w := range want {
		i := slices.IndexFunc(next.Status.Conditions, func(c corev1.NamespaceCondition) bool { return c.Type == w.Type })
		if i < 0 {
			w.LastTransitionTime = now
			next.Status.Conditions = append(next.Status.Conditions, w)
			changed = true
			continue
		}
		cur := next.Status.Conditions[i]
		if cur.Status == w.Status && cur.Reason == w.Reason && cur.Message == w.Message {
			continue
		}
		w.LastTransitionTime = cur.LastTransitionTime
		if cur.Status != w.Status {
			w.LastTransitionTime = now
		}
		next.Status.Conditions[i] = w
		changed = true
	}
	if !changed {
		return ns, nil
	}
	out, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("updating the status of namespace %s: %w", ns.Name, err)
	}
	return out, err
}
