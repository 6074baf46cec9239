package apiserver

import (
	"net/http"
	"runtime"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
)

// Version is cairn's version, reported by /version.
var Version = "v0.1.0"

// kubeMajor.kubeMinor is the Kubernetes API level cairn speaks: that of
// the k8s.io/api types it serves (v0.37 = Kubernetes 1.37).
const kubeMajor, kubeMinor = "1", "37"

func (s *Server) serveVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, version.Info{
		Major: kubeMajor, Minor: kubeMinor, GitVersion: "v" + kubeMajor + "." + kubeMinor + ".0-cairn-" + Version,
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	})
}

func (s *Server) serveRootPaths(w http.ResponseWriter, _ *http.Request) {
	paths := []string{"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/metrics", "/openapi/v3", "/version"}
	for _, g := range s.reg.groups {
		if g != "" {
			paths = append(paths, "/apis/"+g, "/apis/"+g+"/v1")
		}
	}
	sort.Strings(paths)
	writeJSON(w, http.StatusOK, metav1.RootPaths{Paths: paths})
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, info *requestInfo) {
	switch {
	case info.APIPrefix == "api" && info.APIVersion == "":
		writeJSON(w, http.StatusOK, &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: s.addr}}})
	case info.APIPrefix == "api":
		s.serveResourceList(w, r, "", info.APIVersion)
	case info.APIGroup == "":
		list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, g := range s.reg.groups {
			if g != "" {
				list.Groups = append(list.Groups, s.apiGroup(g))
			}
		}
		writeJSON(w, http.StatusOK, list)
	case info.APIVersion == "":
		for _, g := range s.reg.groups {
			if g == info.APIGroup && g != "" {
				grp := s.apiGroup(g)
				grp.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
				writeJSON(w, http.StatusOK, &grp)
				return
			}
		}
		writeStatus(w, apierrors.NewNotFound(emptyGR, r.URL.Path))
	default:
		s.serveResourceList(w, r, info.APIGroup, info.APIVersion)
	}
}

func (s *Server) apiGroup(g string) metav1.APIGroup {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: g + "/v1", Version: "v1"}
	return metav1.APIGroup{Name: g, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv}
}

func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request, group, ver string) {
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}}
	if group == "" {
		list.GroupVersion = ver
	} else {
		list.GroupVersion = group + "/" + ver
	}
	for _, res := range s.reg.all {
		if res.Group != group || res.Version != ver {
			continue
		}
		list.APIResources = append(list.APIResources, discoveryEntries(res)...)
	}
	if len(list.APIResources) == 0 {
		writeStatus(w, apierrors.NewNotFound(emptyGR, r.URL.Path))
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func discoveryEntries(res *Resource) []metav1.APIResource {
	verbs := metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	if res.ReadOnly {
		verbs = metav1.Verbs{"get", "list"}
	}
	out := []metav1.APIResource{{
		Name: res.Resource, SingularName: res.Singular, Namespaced: res.Namespaced, Kind: res.Kind,
		Verbs: verbs, ShortNames: res.ShortNames, Categories: res.Categories,
	}}
	sub := func(name, kind, group, version string, verbs ...string) {
		out = append(out, metav1.APIResource{Name: res.Resource + "/" + name, Namespaced: res.Namespaced,
			Kind: kind, Group: group, Version: version, Verbs: verbs})
	}
	if res.Status {
		sub("status", res.Kind, "", "", "get", "patch", "update")
	}
	if res.Scale {
		sub("scale", "Scale", "autoscaling", "v1", "get", "patch", "update")
	}
	if res.Binding {
		sub("binding", "Binding", "", "", "create")
	}
	if res.Log {
		sub("log", "Pod", "", "", "get")
	}
	if res.Finalize {
		sub("finalize", res.Kind, "", "", "update")
	}
	return out
}
