// Package logserver is the node agent's HTTPS endpoint for container
// logs, on the kubelet's port: the API server's pods/log calls
// GET /containerLogs/{namespace}/{pod}/{container} here, with the
// kubelet's query parameters, and streams the answer back to its client.
//
// Containers' stdout and stderr are kept as raw bytes, one file per
// container attempt, found through a Locator the kubelet implements. The
// file reading (tail, byte limit, follow) is Stream, free of HTTP.
package logserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"
)

// DefaultPort is the kubelet's port, where the log server listens unless
// Config.Addr says otherwise.
const DefaultPort = 10250

// APIServerUser is the user the API server's client certificate names
// when it reads logs from a node ("system:kube-apiserver-kubelet-client",
// as in Kubernetes). It is the only user allowed when Config names
// neither users nor groups.
const APIServerUser = "system:kube-apiserver-kubelet-client"

// ErrNotFound is wrapped by a Locator's errors when the pod, the
// container or the asked-for attempt does not exist on this node.
var ErrNotFound = errors.New("logserver: not found")

// Locator finds a container's log file on this node.
type Locator interface {
	// LogPath returns the log file of the container's current attempt, or
	// of the one before it when previous is true. Errors wrap
	// ErrNotFound when the pod, the container or the previous attempt
	// does not exist on this node.
	LogPath(namespace, pod, container string, previous bool) (string, error)
}

// Config configures a Server.
type Config struct {
	// Addr to listen on; default ":10250" (DefaultPort).
	Addr    string
	Locator Locator
	// ServingCert is the node's TLS serving certificate.
	ServingCert tls.Certificate
	// ClientCAs verify client certificates; a client without a verified
	// certificate gets 401.
	ClientCAs *x509.CertPool
	// AllowedUsers (certificate CN) and AllowedGroups (certificate O) may
	// read logs; others get 403. Both empty: only APIServerUser.
	AllowedUsers  []string
	AllowedGroups []string
	// PollInterval of follows; default DefaultPollInterval.
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Server is the log server. New opens its listening socket, so Addr is
// known at once; Run serves on it.
type Server struct {
	cfg Config
	log *slog.Logger
	ln  net.Listener
}

// New checks cfg and listens on cfg.Addr.
func New(cfg Config) (*Server, error) {
	if cfg.Locator == nil {
		return nil, errors.New("logserver: a Locator is required")
	}
	if len(cfg.ServingCert.Certificate) == 0 {
		return nil, errors.New("logserver: a serving certificate is required")
	}
	if cfg.ClientCAs == nil {
		return nil, errors.New("logserver: client CAs are required")
	}
	if cfg.Addr == "" {
		cfg.Addr = ":" + strconv.Itoa(DefaultPort)
	}
	if len(cfg.AllowedUsers) == 0 && len(cfg.AllowedGroups) == 0 {
		cfg.AllowedUsers = []string{APIServerUser}
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("logserver: listen: %w", err)
	}
	return &Server{cfg: cfg, log: cfg.Logger, ln: ln}, nil
}

// Addr is the address the server listens on (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves HTTPS until ctx ends, then shuts down, ending open follows,
// and closes the listener.
func (s *Server) Run(ctx context.Context) error {
	srv := &http.Server{
		Handler: s.Handler(),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{s.cfg.ServingCert},
			// Requests without a certificate reach the handler, which
			// answers 401; a certificate that does not verify fails the
			// handshake.
			ClientAuth: tls.VerifyClientCertIfGiven,
			ClientCAs:  s.cfg.ClientCAs,
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"},
		},
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(s.ln, "", "") }()
	s.log.Info("log server serving", "addr", s.Addr())
	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		return nil
	case err := <-errc:
		return fmt.Errorf("logserver: serve: %w", err)
	}
}

// Handler serves /healthz and, to allowed clients, /containerLogs.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.Handle("GET /containerLogs/{namespace}/{pod}/{container}", s.authorized(http.HandlerFunc(s.serveContainerLogs)))
	return mux
}

// authorized lets through clients whose verified certificate names an
// allowed user or group.
func (s *Server) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			textError(w, http.StatusUnauthorized, "Unauthorized: a client certificate signed by the cluster CA is required")
			return
		}
		subject := r.TLS.VerifiedChains[0][0].Subject
		allowed := slices.Contains(s.cfg.AllowedUsers, subject.CommonName)
		for _, g := range subject.Organization {
			allowed = allowed || slices.Contains(s.cfg.AllowedGroups, g)
		}
		if !allowed {
			s.log.Debug("log request refused", "user", subject.CommonName, "groups", subject.Organization, "path", r.URL.Path)
			textError(w, http.StatusForbidden, fmt.Sprintf("Forbidden (user=%s, verb=get, resource=nodes, subresource=log): only the API server may read container logs", subject.CommonName))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// logRequest is a parsed /containerLogs request.
type logRequest struct {
	namespace, pod, container string
	previous                  bool
	opts                      StreamOptions
}

// parseLogRequest reads the kubelet's query parameters. Those needing
// per-line timestamps are refused: the raw files have none.
func parseLogRequest(r *http.Request) (logRequest, error) {
	q := r.URL.Query()
	req := logRequest{
		namespace: r.PathValue("namespace"), pod: r.PathValue("pod"), container: r.PathValue("container"),
		opts: StreamOptions{TailLines: -1},
	}
	for _, p := range []string{"sinceSeconds", "sinceTime"} {
		if q.Has(p) {
			return req, fmt.Errorf("%s is not supported: this node keeps container logs as raw bytes without per-line timestamps", p)
		}
	}
	boolParam := func(name string) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("%s: invalid value %q: want true or false", name, v)
		}
		return b, nil
	}
	timestamps, err := boolParam("timestamps")
	if err != nil {
		return req, err
	}
	if timestamps {
		return req, errors.New("timestamps are not supported: this node keeps container logs as raw bytes without per-line timestamps")
	}
	if req.opts.Follow, err = boolParam("follow"); err != nil {
		return req, err
	}
	if req.previous, err = boolParam("previous"); err != nil {
		return req, err
	}
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return req, fmt.Errorf("tailLines: invalid value %q: must be a number >= 0", v)
		}
		req.opts.TailLines = n
	}
	if v := q.Get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return req, fmt.Errorf("limitBytes: invalid value %q: must be a number >= 1", v)
		}
		req.opts.LimitBytes = n
	}
	return req, nil
}

func (s *Server) serveContainerLogs(w http.ResponseWriter, r *http.Request) {
	req, err := parseLogRequest(r)
	if err != nil {
		textError(w, http.StatusBadRequest, err.Error())
		return
	}
	path, err := s.cfg.Locator.LogPath(req.namespace, req.pod, req.container, req.previous)
	if errors.Is(err, ErrNotFound) {
		textError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		s.log.Error("locating a container log", "namespace", req.namespace, "pod", req.pod, "container", req.container, "err", err)
		textError(w, http.StatusInternalServerError, err.Error())
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		textError(w, http.StatusNotFound, fmt.Sprintf("the log of container %q in pod %s/%s is gone", req.container, req.namespace, req.pod))
		return
	}
	if err != nil {
		s.log.Error("opening a container log", "path", path, "err", err)
		textError(w, http.StatusInternalServerError, fmt.Sprintf("opening the log of container %q in pod %s/%s: %v", req.container, req.namespace, req.pod, err))
		return
	}
	defer f.Close()
	req.opts.PollInterval = s.cfg.PollInterval
	if req.previous {
		// A finished attempt's log does not grow.
		req.opts.Follow = false
	} else {
		req.opts.Current = func() bool {
			p, err := s.cfg.Locator.LogPath(req.namespace, req.pod, req.container, false)
			return err == nil && p == path
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	if req.opts.Follow {
		// Let the client see the answer before the first new byte.
		_ = fw.rc.Flush()
	}
	if err := Stream(r.Context(), fw, f, req.opts); err != nil && r.Context().Err() == nil {
		s.log.Debug("streaming a container log", "path", path, "err", err)
	}
}

// flushWriter flushes every write, so followers see bytes as they come.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.rc.Flush()
}

func textError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}
