package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// serveHealth answers /healthz, /livez and /readyz (and their /etcd and
// /ping checks) as kube-apiserver does: "ok", or the failing checks with
// ?verbose.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	type check struct {
		name string
		err  error
	}
	checks := []check{{name: "ping"}}
	if !strings.HasSuffix(r.URL.Path, "/ping") {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		_, err := s.store.CurrentRevision(ctx)
		cancel()
		checks = append(checks, check{name: "etcd", err: err})
		if strings.HasPrefix(r.URL.Path, "/readyz") {
			var notReady error
			select {
			case <-s.ready:
			default:
				notReady = fmt.Errorf("not serving yet")
			}
			checks = append(checks, check{name: "bootstrap", err: notReady})
		}
	}
	failed := false
	var b strings.Builder
	for _, c := range checks {
		if c.err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, c.err)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "%s%s check failed\n", b.String(), strings.TrimPrefix(strings.SplitN(r.URL.Path, "/", 3)[1], "/"))
		return
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		fmt.Fprintf(w, "%s%s check passed\n", b.String(), strings.SplitN(r.URL.Path, "/", 3)[1])
		return
	}
	fmt.Fprint(w, "ok")
}
