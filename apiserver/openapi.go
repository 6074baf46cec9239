package apiserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// OpenAPI v3: one small document per group version, generated from the
// resource table. It lists each resource's paths and operations with their
// query parameters and group-version-kind, which is what kubectl reads to
// learn that the server validates fields itself (fieldValidation), so it
// sends fieldValidation=Strict and skips client-side schema checks. Full
// schemas come with the schema package.

type openAPIRoot struct {
	Paths map[string]openAPIRootPath `json:"paths"`
}

type openAPIRootPath struct {
	ServerRelativeURL string `json:"serverRelativeURL"`
}

func (s *Server) openAPIDocs() map[string][]byte {
	s.openapiOnce.Do(func() {
		docs := map[string][]byte{}
		byGV := map[string][]*Resource{}
		for _, r := range s.reg.all {
			gv := "api/v1"
			if r.Group != "" {
				gv = "apis/" + r.Group + "/" + r.Version
			}
			byGV[gv] = append(byGV[gv], r)
		}
		for gv, rs := range byGV {
			docs[gv] = openAPIDoc(gv, rs)
		}
		s.openapi = docs
	})
	return s.openapi
}

func openAPIDoc(gv string, rs []*Resource) []byte {
	paths := map[string]any{}
	queryParam := func(name string) map[string]any {
		return map[string]any{"name": name, "in": "query", "schema": map[string]any{"type": "string"}, "uniqueItems": true}
	}
	for _, r := range rs {
		gvk := map[string]string{"group": r.Group, "version": r.Version, "kind": r.Kind}
		base := "/" + gv + "/"
		if r.Namespaced {
			base += "namespaces/{namespace}/"
		}
		op := func(id string, params ...string) map[string]any {
			ps := []any{}
			for _, p := range params {
				ps = append(ps, queryParam(p))
			}
			return map[string]any{"operationId": id + r.Kind, "parameters": ps,
				"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": id,
				"responses": map[string]any{"200": map[string]any{"description": "OK"}}}
		}
		collection := map[string]any{
			"get": op("list", "labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch", "watch", "allowWatchBookmarks", "sendInitialEvents", "timeoutSeconds"),
		}
		item := map[string]any{"get": op("get", "resourceVersion")}
		if !r.ReadOnly {
			collection["post"] = op("create", "dryRun", "fieldManager", "fieldValidation")
			collection["delete"] = op("deletecollection", "dryRun", "gracePeriodSeconds", "propagationPolicy", "labelSelector", "fieldSelector")
			item["put"] = op("replace", "dryRun", "fieldManager", "fieldValidation")
			item["patch"] = op("patch", "dryRun", "fieldManager", "fieldValidation", "force")
			item["delete"] = op("delete", "dryRun", "gracePeriodSeconds", "propagationPolicy")
		}
		paths[base+r.Resource] = collection
		paths[base+r.Resource+"/{name}"] = item
	}
	doc := map[string]any{
		"openapi":    "3.0.0",
		"info":       map[string]any{"title": "cairn", "version": Version},
		"paths":      paths,
		"components": map[string]any{"schemas": map[string]any{}},
	}
	data, _ := json.Marshal(doc)
	return data
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	docs := s.openAPIDocs()
	switch p := strings.TrimPrefix(r.URL.Path, "/openapi/v3"); {
	case r.URL.Path == "/openapi/v3" || r.URL.Path == "/openapi/v3/":
		root := openAPIRoot{Paths: map[string]openAPIRootPath{}}
		for gv, doc := range docs {
			sum := sha256.Sum256(doc)
			root.Paths[gv] = openAPIRootPath{ServerRelativeURL: "/openapi/v3/" + gv + "?hash=" + strings.ToUpper(hex.EncodeToString(sum[:8]))}
		}
		writeJSON(w, http.StatusOK, root)
	case strings.HasPrefix(r.URL.Path, "/openapi/v3/"):
		doc, ok := docs[strings.TrimPrefix(p, "/")]
		if !ok {
			writeStatus(w, apierrors.NewNotFound(emptyGR, r.URL.Path))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("hash") != "" {
			w.Header().Set("Cache-Control", "public, immutable")
		}
		_, _ = w.Write(doc)
	default:
		writeStatus(w, apierrors.NewNotFound(emptyGR, r.URL.Path))
	}
}
