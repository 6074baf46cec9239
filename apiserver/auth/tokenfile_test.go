package auth

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadTokenFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    map[string]User
		errLine string // substring of the expected error; "" means success
	}{
		{
			name:    "basic",
			content: "tok1,alice,uid-1\ntok2,bob,uid-2,devs\n",
			want: map[string]User{
				"tok1": {Name: "alice", UID: "uid-1"},
				"tok2": {Name: "bob", UID: "uid-2", Groups: []string{"devs"}},
			},
		},
		{
			name:    "quoted groups",
			content: `tok,alice,1,"system:masters,devs, ops"` + "\n",
			want:    map[string]User{"tok": {Name: "alice", UID: "1", Groups: []string{"system:masters", "devs", "ops"}}},
		},
		{
			name:    "blank and comment lines ignored",
			content: "# static tokens\n\n   \ntok,alice,1\n# tok2,bob,2\n",
			want:    map[string]User{"tok": {Name: "alice", UID: "1"}},
		},
		{
			name:    "spaces trimmed, CRLF, BOM, extra columns",
			content: "\ufefftok , alice , 1 , \"a,b\",extra\r\n",
			want:    map[string]User{"tok": {Name: "alice", UID: "1", Groups: []string{"a", "b"}}},
		},
		{name: "empty uid allowed", content: "tok,alice,\n", want: map[string]User{"tok": {Name: "alice"}}},
		{name: "empty file", content: "", want: map[string]User{}},
		{name: "too few columns", content: "tok1,alice,1\n\ntok2,bob\n", errLine: "line 3: want at least 3 columns"},
		{name: "empty token", content: "# c\n,alice,1\n", errLine: "line 2: empty token"},
		{name: "empty user", content: "tok,,1\n", errLine: "line 1: empty user name"},
		{name: "duplicate token", content: "tok,alice,1\ntok,bob,2\n", errLine: "line 2: duplicate token (first on line 1)"},
		{name: "bad quoting", content: "tok,alice,1\ntok2,bob,2,\"a,b\n", errLine: "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.csv")
			must(t, os.WriteFile(path, []byte(tt.content), 0o600))
			got, err := LoadTokenFile(path)
			if tt.errLine != "" {
				if !errors.Is(err, ErrInvalidTokenFile) || !strings.Contains(err.Error(), tt.errLine) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want ErrInvalidTokenFile naming %s and %q", err, path, tt.errLine)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := LoadTokenFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: no error")
	}
}
