package apiserver

import (
	"fmt"
	"net/http"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cairn-dev/cairn/apiserver/storage"
)

// listOptions parses the list and watch query parameters.
func listOptions(r *http.Request) (metav1.ListOptions, error) {
	q := r.URL.Query()
	opts := metav1.ListOptions{
		LabelSelector:        q.Get("labelSelector"),
		FieldSelector:        q.Get("fieldSelector"),
		ResourceVersion:      q.Get("resourceVersion"),
		ResourceVersionMatch: metav1.ResourceVersionMatch(q.Get("resourceVersionMatch")),
		Continue:             q.Get("continue"),
		Watch:                isTrue(q.Get("watch")),
		AllowWatchBookmarks:  isTrue(q.Get("allowWatchBookmarks")),
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return opts, badRequest(fmt.Sprintf("limit must be a non-negative integer, not %q", v))
		}
		opts.Limit = n
	}
	if v := q.Get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return opts, badRequest(fmt.Sprintf("timeoutSeconds must be a non-negative integer, not %q", v))
		}
		opts.TimeoutSeconds = &n
	}
	if v := q.Get("sendInitialEvents"); v != "" {
		b := isTrue(v)
		opts.SendInitialEvents = &b
	}
	switch opts.ResourceVersionMatch {
	case "", metav1.ResourceVersionMatchExact, metav1.ResourceVersionMatchNotOlderThan:
	default:
		return opts, badRequest(fmt.Sprintf("resourceVersionMatch %q is not one of Exact, NotOlderThan", opts.ResourceVersionMatch))
	}
	if opts.ResourceVersionMatch != "" && opts.ResourceVersion == "" && opts.SendInitialEvents == nil {
		return opts, badRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	if opts.Continue != "" && opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		return opts, badRequest("specifying resourceVersion is not allowed when using continue")
	}
	if opts.SendInitialEvents != nil && !opts.Watch {
		return opts, badRequest("sendInitialEvents is only supported for watch requests")
	}
	return opts, nil
}

// selection parses a list or watch request's options and selectors.
func selection(r *http.Request, res *Resource) (metav1.ListOptions, storage.Predicate, error) {
	opts, err := listOptions(r)
	if err != nil {
		return opts, storage.Predicate{}, err
	}
	pred, err := predicate(opts, res)
	return opts, pred, err
}

// predicate parses the selectors, checking that field selectors name
// fields the resource can select on.
func predicate(opts metav1.ListOptions, res *Resource) (storage.Predicate, error) {
	var p storage.Predicate
	if opts.LabelSelector != "" {
		sel, err := labels.Parse(opts.LabelSelector)
		if err != nil {
			return p, badRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		p.Label = sel
	}
	if opts.FieldSelector != "" {
		sel, err := fields.ParseSelector(opts.FieldSelector)
		if err != nil {
			return p, badRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
		allowed := selectableFields(res)
		for _, req := range sel.Requirements() {
			if !allowed[req.Field] {
				return p, badRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
		p.Field = sel
	}
	return p, nil
}

// selectableFields lists the field selector keys of a resource, found by
// asking its field function about an empty object.
func selectableFields(res *Resource) map[string]bool {
	allowed := map[string]bool{"metadata.name": true}
	if res.Namespaced {
		allowed["metadata.namespace"] = true
	}
	if res.Fields != nil && res.New != nil {
		for k := range res.Fields(res.New()) {
			allowed[k] = true
		}
	}
	return allowed
}
