package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "bad", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "body")
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "f")
	t.Setenv("TESTAPP_VAR", "v")

	for _, tc := range []struct {
		name     string
		cmd      string
		args     []string
		wantCode int
		wantOut  string
	}{
		{name: "exit", cmd: "exit", args: []string{"--code", "3"}, wantCode: 3, wantOut: "exiting with 3\n"},
		{name: "exit-after", cmd: "exit", args: []string{"--after", "1ms"}, wantCode: 0, wantOut: "exiting with 0\n"},
		{name: "write", cmd: "write", args: []string{file, "hello"}, wantCode: 0},
		{name: "cat", cmd: "cat", args: []string{file}, wantCode: 0, wantOut: "hello"},
		{name: "cat-missing", cmd: "cat", args: []string{file + ".absent"}, wantCode: 1},
		{name: "env", cmd: "env", wantCode: 0, wantOut: "TESTAPP_VAR=v\n"},
		{name: "get", cmd: "get", args: []string{srv.URL + "/"}, wantCode: 0, wantOut: "body"},
		{name: "get-flag-first", cmd: "get", args: []string{"--timeout", "1s", srv.URL}, wantCode: 0, wantOut: "body"},
		{name: "get-500", cmd: "get", args: []string{srv.URL + "/bad"}, wantCode: 1},
		{name: "sleep", cmd: "sleep", args: []string{"1ms"}, wantCode: 0},
		{name: "unknown", cmd: "nope", wantCode: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tc.cmd, tc.args, &out, &errOut)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.wantCode, errOut.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout %q, want it to contain %q", out.String(), tc.wantOut)
			}
		})
	}
}
