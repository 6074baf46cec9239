package logserver_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/apiserver/auth"
	"github.com/cairn-dev/cairn/node/logserver"
	"github.com/cairn-dev/cairn/node/logserver/logservertest"
)

// node is a log server with one pod's files and clients of several
// identities.
type node struct {
	ca    *auth.CA
	files *logservertest.Files
	srv   *logserver.Server
}

func startNode(t *testing.T) *node {
	t.Helper()
	ca, err := auth.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := logservertest.NewFiles(t)
	files.Write(t, "default", "web", "app", "one\ntwo\nthree\n")
	files.Write(t, "default", "web", "sidecar", "side\n")
	return &node{ca: ca, files: files, srv: logservertest.Start(t, ca, files, logserver.APIServerUser, "cairn:debugger")}
}

// client of user u in groups; an empty name: no client certificate.
func (n *node) client(t *testing.T, u auth.User) *http.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: n.ca.Pool(), MinVersion: tls.VersionTLS12}
	if u.Name != "" {
		certPEM, keyPEM, err := n.ca.IssueClient(u, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func (n *node) get(t *testing.T, c *http.Client, path string) (int, string) {
	t.Helper()
	resp, err := c.Get("https://" + n.srv.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestContainerLogs(t *testing.T) {
	n := startNode(t)
	n.files.Restart(t, "default", "web", "app", "four\n")
	c := n.client(t, auth.User{Name: logserver.APIServerUser})
	for _, tc := range []struct {
		name, path string
		code       int
		body       string
	}{
		{"whole log", "/containerLogs/default/web/app", 200, "four\n"},
		{"previous attempt", "/containerLogs/default/web/app?previous=true", 200, "one\ntwo\nthree\n"},
		{"previous tail", "/containerLogs/default/web/app?previous=true&tailLines=2", 200, "two\nthree\n"},
		{"limit", "/containerLogs/default/web/app?previous=true&limitBytes=5", 200, "one\nt"},
		{"other container", "/containerLogs/default/web/sidecar", 200, "side\n"},
		{"no previous attempt", "/containerLogs/default/web/sidecar?previous=true", 404, "previous terminated container \"sidecar\" in pod default/web"},
		{"no such container", "/containerLogs/default/web/nope", 404, "container \"nope\" in pod default/web"},
		{"no such pod", "/containerLogs/default/db/app", 404, "container \"app\" in pod default/db"},
		{"timestamps", "/containerLogs/default/web/app?timestamps=true", 400, "timestamps are not supported: this node keeps container logs as raw bytes without per-line timestamps"},
		{"timestamps false is fine", "/containerLogs/default/web/app?timestamps=false", 200, "four\n"},
		{"sinceSeconds", "/containerLogs/default/web/app?sinceSeconds=10", 400, "sinceSeconds is not supported"},
		{"sinceTime", "/containerLogs/default/web/app?sinceTime=2026-01-01T00:00:00Z", 400, "sinceTime is not supported"},
		{"negative tail", "/containerLogs/default/web/app?tailLines=-1", 400, "tailLines: invalid value \"-1\""},
		{"zero limit", "/containerLogs/default/web/app?limitBytes=0", 400, "limitBytes: invalid value \"0\""},
		{"bad follow", "/containerLogs/default/web/app?follow=maybe", 400, "follow: invalid value \"maybe\""},
		{"unknown path", "/containerLogs/default/web", 404, ""},
		{"health", "/healthz", 200, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := n.get(t, c, tc.path)
			if code != tc.code || !strings.HasPrefix(body, tc.body) {
				t.Fatalf("got %d %q, want %d %q", code, body, tc.code, tc.body)
			}
		})
	}
}

func TestContainerLogsNeedAnAllowedCertificate(t *testing.T) {
	n := startNode(t)
	for _, tc := range []struct {
		name string
		user auth.User
		code int
		body string
	}{
		{"API server", auth.User{Name: logserver.APIServerUser}, 200, "one\n"},
		{"another allowed user", auth.User{Name: "cairn:debugger"}, 200, "one\n"},
		{"no certificate", auth.User{}, 401, "Unauthorized"},
		{"another user", auth.User{Name: auth.UserViewer, Groups: []string{auth.GroupViewers}}, 403, "Forbidden (user=cairn:viewer"},
		{"a node", auth.NodeUser("n1"), 403, "Forbidden (user=system:node:n1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := n.get(t, n.client(t, tc.user), "/containerLogs/default/web/app")
			if code != tc.code || !strings.HasPrefix(body, tc.body) {
				t.Fatalf("got %d %q, want %d %q", code, body, tc.code, tc.body)
			}
		})
	}
	// Health needs no certificate.
	if code, _ := n.get(t, n.client(t, auth.User{}), "/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
}

func TestContainerLogsByGroup(t *testing.T) {
	ca, err := auth.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	files := logservertest.NewFiles(t)
	files.Write(t, "default", "web", "app", "one\n")
	certPEM, keyPEM, err := ca.IssueServing(nil, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := logserver.New(logserver.Config{Addr: "127.0.0.1:0", Locator: files, ServingCert: cert, ClientCAs: ca.Pool(), AllowedGroups: []string{"cairn:log-readers"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	n := &node{ca: ca, files: files, srv: srv}
	if code, body := n.get(t, n.client(t, auth.User{Name: "ada", Groups: []string{"cairn:log-readers"}}), "/containerLogs/default/web/app"); code != 200 || body != "one\n" {
		t.Fatalf("member of an allowed group: %d %q", code, body)
	}
	if code, _ := n.get(t, n.client(t, auth.User{Name: logserver.APIServerUser}), "/containerLogs/default/web/app"); code != 403 {
		t.Fatalf("the API server's user when only a group is allowed: %d, want 403", code)
	}
}

func TestFollowOverHTTP(t *testing.T) {
	n := startNode(t)
	c := n.client(t, auth.User{Name: logserver.APIServerUser})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+n.srv.Addr()+"/containerLogs/default/web/app?follow=true&tailLines=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	lines := bufio.NewReader(resp.Body)
	readLine := func(want string) {
		t.Helper()
		got, err := lines.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	readLine("three\n")
	n.files.Append(t, "default", "web", "app", "four\n")
	readLine("four\n")
	// A restart ends the follow once the old attempt's bytes are sent.
	n.files.Append(t, "default", "web", "app", "last words\n")
	n.files.Restart(t, "default", "web", "app", "new attempt\n")
	readLine("last words\n")
	if rest, err := io.ReadAll(lines); err != nil || len(rest) != 0 {
		t.Fatalf("after the restart: %q, %v; want the end of the stream", rest, err)
	}
}
