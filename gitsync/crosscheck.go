package gitsync

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/cairn-dev/cairn/check"
	"github.com/cairn-dev/cairn/manifest"
)

// crossCheck looks across a revision's objects for mistakes no single
// object shows, as warnings: a Service whose selector matches no pod
// template of the revision, and a claim (or claim template) naming a
// StorageClass that is neither in the revision nor in the cluster.
// storageClassExists answers for the cluster.
func crossCheck(objs []*manifest.Object, storageClassExists func(name string) bool) []check.Finding {
	type template struct {
		ns     string
		labels labels.Set
	}
	var templates []template
	classes := map[string]bool{}
	for _, o := range objs {
		switch o.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
			if l := stringMap(dig(o.Value, "spec", "template", "metadata", "labels")); l != nil {
				templates = append(templates, template{o.Namespace, l})
			}
		case "ReplicationController":
			if l := stringMap(dig(o.Value, "spec", "template", "metadata", "labels")); l != nil {
				templates = append(templates, template{o.Namespace, l})
			}
		case "Pod":
			if l := stringMap(dig(o.Value, "metadata", "labels")); l != nil {
				templates = append(templates, template{o.Namespace, l})
			}
		case "StorageClass":
			classes[o.Name] = true
		}
	}
	var out []check.Finding
	warn := func(o *manifest.Object, path, format string, args ...any) {
		out = append(out, check.Finding{File: o.File, Line: o.LineOf(path), Object: o.Ref(), Path: path,
			Message: fmt.Sprintf(format, args...), Severity: check.Warning})
	}
	checkClass := func(o *manifest.Object, path string, v any) {
		name, ok := v.(string)
		if !ok || name == "" || classes[name] || storageClassExists == nil || storageClassExists(name) {
			return
		}
		warn(o, path, "StorageClass %q is neither in this revision nor in the cluster: the claim will stay Pending", name)
	}
	for _, o := range objs {
		switch o.Kind {
		case "Service":
			sel := stringMap(dig(o.Value, "spec", "selector"))
			if len(sel) == 0 {
				continue // no selector: Endpoints are managed by hand
			}
			matched := false
			for _, t := range templates {
				if t.ns == o.Namespace && labels.SelectorFromSet(sel).Matches(t.labels) {
					matched = true
					break
				}
			}
			if !matched {
				warn(o, "spec.selector", "selects no pod template of this revision in namespace %s: the Service will have no endpoints unless pods come from elsewhere", o.Namespace)
			}
		case "PersistentVolumeClaim":
			checkClass(o, "spec.storageClassName", dig(o.Value, "spec", "storageClassName"))
		case "StatefulSet":
			vcts, _ := dig(o.Value, "spec", "volumeClaimTemplates").([]any)
			for i, v := range vcts {
				m, _ := v.(map[string]any)
				checkClass(o, fmt.Sprintf("spec.volumeClaimTemplates[%d].spec.storageClassName", i), dig(m, "spec", "storageClassName"))
			}
		}
	}
	return out
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func stringMap(v any) labels.Set {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := labels.Set{}
	for k, val := range m {
		if s, ok := val.(string); ok {
			out[k] = s
		}
	}
	return out
}
