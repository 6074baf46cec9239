package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-dev/cairn/apiserver/auth"
)

// maxBodyBytes is the largest request body accepted (as kube-apiserver: 3 MiB).
const maxBodyBytes = 3 << 20

type ctxKey int

const (
	userKey ctxKey = iota
	infoKey
)

func userFrom(ctx context.Context) auth.User {
	u, _ := ctx.Value(userKey).(auth.User)
	return u
}

// Handler is the server's HTTP handler: authentication, then authorization,
// then the request itself.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.serveHealth)
	mux.HandleFunc("/livez", s.serveHealth)
	mux.HandleFunc("/readyz", s.serveHealth)
	mux.HandleFunc("/healthz/", s.serveHealth)
	mux.HandleFunc("/livez/", s.serveHealth)
	mux.HandleFunc("/readyz/", s.serveHealth)
	mux.HandleFunc("/version", s.serveVersion)
	mux.Handle("/metrics", s.metrics.handler(s.cfg.Registry))
	mux.HandleFunc("/openapi/", s.serveOpenAPI)
	mux.HandleFunc("/api", s.serveAPI)
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/apis", s.serveAPI)
	mux.HandleFunc("/apis/", s.serveAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			s.serveRootPaths(w, r)
			return
		}
		writeStatus(w, apierrors.NewNotFound(emptyGR, r.URL.Path))
	})
	return s.withJoin(s.withAuth(mux))
}

// withAuth authenticates and authorizes every request before mux sees it.
func (s *Server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		info := parseRequestInfo(r)
		defer func() { s.metrics.observe(r, &info, rec.code(), time.Since(start)) }()

		user, err := s.authn.Authenticate(r)
		if err != nil {
			writeStatus(rec, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		attrs := auth.Attributes{
			User: user, Verb: info.Verb, ResourceRequest: info.IsResourceRequest,
			APIGroup: info.APIGroup, APIVersion: info.APIVersion, Resource: info.Resource,
			Subresource: info.Subresource, Namespace: info.Namespace, Name: info.Name, Path: r.URL.Path,
		}
		if (info.Verb == "list" || info.Verb == "watch") && info.Name == "" {
			// As kube-apiserver: a list or watch of one name (a
			// metadata.name field selector) is authorized for that name,
			// so resourceNames rules apply to it.
			attrs.Name = nameFromSelector(r.URL.Query().Get("fieldSelector"))
		}
		if info.IsResourceRequest && info.Resource == "namespaces" && info.Name != "" {
			// A namespace object is cluster-scoped: authorize it without a namespace.
			attrs.Namespace = ""
		}
		if ok, reason := s.authz.Authorize(attrs); !ok {
			writeStatus(rec, forbidden(attrs, reason))
			return
		}
		ctx := context.WithValue(r.Context(), userKey, user)
		ctx = context.WithValue(ctx, infoKey, &info)
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

// forbidden is kube-apiserver's 403: `<resource> "<name>" is forbidden:
// User "u" cannot <verb> ...`, the message coming from the authorizer.
func forbidden(a auth.Attributes, reason string) error {
	if reason == "" {
		reason = fmt.Sprintf("User %q cannot %s path %q", a.User.Name, a.Verb, a.Path)
	}
	if !a.ResourceRequest {
		err := apierrors.NewForbidden(emptyGR, "", errors.New(reason))
		err.ErrStatus.Message = "forbidden: " + reason
		return err
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}, a.Name, errors.New(reason))
}

// statusRecorder remembers the response code for metrics and passes
// flushes through for watch streams.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// serveAPI dispatches discovery and resource requests under /api and /apis.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	info, _ := r.Context().Value(infoKey).(*requestInfo)
	if info == nil {
		i := parseRequestInfo(r)
		info = &i
	}
	if !info.IsResourceRequest {
		s.serveDiscovery(w, r, info)
		return
	}
	res := s.reg.lookup(info.APIGroup, info.APIVersion, info.Resource)
	if res == nil {
		writeStatus(w, apierrors.NewNotFound(emptyGR, strings.TrimPrefix(r.URL.Path, "/")))
		return
	}
	if res.Namespaced && info.Namespace == "" && info.Name != "" {
		writeStatus(w, apierrors.NewNotFound(res.GR(), info.Name))
		return
	}
	if !res.Namespaced && info.Namespace != "" && res.Resource != "namespaces" {
		writeStatus(w, apierrors.NewNotFound(emptyGR, strings.TrimPrefix(r.URL.Path, "/")))
		return
	}
	if r.ContentLength > maxBodyBytes {
		writeStatus(w, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes)))
		return
	}
	s.serveResource(w, r, info, res)
}
