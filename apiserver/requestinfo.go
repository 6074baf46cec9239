package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
)

// requestInfo is what a request addresses, as kube-apiserver's RequestInfo.
type requestInfo struct {
	IsResourceRequest bool
	Path              string
	Verb              string // get list watch create update patch delete deletecollection; or lowercase HTTP method
	APIPrefix         string // "api" or "apis"
	APIGroup          string
	APIVersion        string
	Namespace         string
	Resource          string
	Subresource       string
	Name              string
	Parts             []string
}

// parseRequestInfo decodes a request path such as
// /apis/apps/v1/namespaces/default/deployments/web/scale.
func parseRequestInfo(r *http.Request) requestInfo {
	info := requestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	parts := splitPath(r.URL.Path)
	if len(parts) < 1 || (parts[0] != "api" && parts[0] != "apis") {
		return info
	}
	info.APIPrefix = parts[0]
	parts = parts[1:]
	if info.APIPrefix == "api" {
		if len(parts) < 1 {
			return info
		}
		info.APIVersion, parts = parts[0], parts[1:]
	} else {
		if len(parts) < 2 {
			if len(parts) == 1 {
				info.APIGroup = parts[0]
			}
			return info
		}
		info.APIGroup, info.APIVersion, parts = parts[0], parts[1], parts[2:]
	}
	if len(parts) == 0 {
		return info // discovery of one group version
	}
	info.IsResourceRequest = true
	watchPath := false
	if parts[0] == "watch" { // deprecated /api/v1/watch/... form
		watchPath, parts = true, parts[1:]
	}
	// As kube-apiserver: namespaces/{ns}/{resource}..., except the
	// namespace's own subresources (namespaces/{name}/status|finalize).
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.Namespace = parts[1]
		if len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		}
	}
	info.Parts = parts
	info.Resource = parts[0]
	if len(parts) >= 2 {
		info.Name = parts[1]
	}
	if len(parts) >= 3 {
		info.Subresource = strings.Join(parts[2:], "/")
	}
	if info.Resource == "namespaces" && info.Name != "" {
		info.Namespace = info.Name
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watchPath || (info.Name == "" && isTrue(q.Get("watch"))):
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		if info.Name == "" {
			info.Verb = "deletecollection"
		} else {
			info.Verb = "delete"
		}
	}
	// A named watch (.../pods/web?watch=true) is a watch with a name field selector.
	return info
}

// nameFromSelector returns X of a field selector requiring metadata.name=X.
func nameFromSelector(s string) string {
	if s == "" {
		return ""
	}
	sel, err := fields.ParseSelector(s)
	if err != nil {
		return ""
	}
	name, _ := sel.RequiresExactMatch("metadata.name")
	return name
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func isTrue(s string) bool { return s == "true" || s == "1" }
