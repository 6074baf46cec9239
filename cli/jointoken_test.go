package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/apiserver"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/jointoken"
	"github.com/cairn-dev/cairn/node/join"
)

func runTokenCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"server", "token"}, append(args, "--log-level", "error")...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func readJoinToken(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, apiserver.JoinTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestJoinTokenCommands: list, create, rotate and delete join tokens as the
// admin; after a rotate the old token stops working, the new one works and
// the join-token file holds it.
func TestJoinTokenCommands(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	server := "https://" + s.Srv.Addr()
	first := readJoinToken(t, s.Dir)
	firstTok, err := jointoken.Parse(first)
	if err != nil {
		t.Fatalf("the server's join-token file: %v", err)
	}

	out, err := runTokenCmd(t, "list", "--data-dir", s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, first) || !strings.Contains(out, "never") || !strings.HasPrefix(out, "ID") {
		t.Errorf("list:\n%s", out)
	}

	out, err = runTokenCmd(t, "create", "--kubeconfig", s.Kubeconfig("admin"), "--ttl", "1h", "--description", "rack 4")
	if err != nil {
		t.Fatal(err)
	}
	created, err := jointoken.Parse(out)
	if err != nil {
		t.Fatalf("create printed %q: %v", out, err)
	}
	if created.CAHash != firstTok.CAHash {
		t.Errorf("created token's CA hash %s, want %s", created.CAHash, firstTok.CAHash)
	}
	out, err = runTokenCmd(t, "list", "--data-dir", s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, created.String()) || !strings.Contains(out, "rack 4") || strings.Count(out, "\n") != 3 {
		t.Errorf("list after create:\n%s", out)
	}
	if readJoinToken(t, s.Dir) != first {
		t.Error("create changed the join-token file")
	}

	// The viewer may not manage tokens.
	if _, err := runTokenCmd(t, "list", "--kubeconfig", s.Kubeconfig("viewer")); err == nil {
		t.Error("the viewer listed join tokens")
	}

	out, err = runTokenCmd(t, "rotate", "--data-dir", s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	rotated := strings.TrimSpace(out)
	if _, err := jointoken.Parse(rotated); err != nil || rotated == first {
		t.Fatalf("rotate printed %q: %v", rotated, err)
	}
	if got := readJoinToken(t, s.Dir); got != rotated {
		t.Errorf("join-token file holds %q, want %q", got, rotated)
	}
	if info, err := os.Stat(filepath.Join(s.Dir, apiserver.JoinTokenFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("join-token file mode: %v %v", info.Mode(), err)
	}
	out, err = runTokenCmd(t, "list", "--data-dir", s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, rotated) {
		t.Errorf("list after rotate:\n%s", out)
	}

	ctx := context.Background()
	for _, old := range []string{first, created.String()} {
		_, err := join.Join(ctx, join.Options{Server: server, Token: old, NodeName: "worker-1", Dir: filepath.Join(t.TempDir(), "n")})
		var re *join.RefusedError
		if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
			t.Errorf("join with a rotated-out token: %v, want 401", err)
		}
	}
	if _, err := join.Join(ctx, join.Options{Server: server, Token: rotated, NodeName: "worker-1", Dir: filepath.Join(t.TempDir(), "n")}); err != nil {
		t.Fatalf("join with the rotated token: %v", err)
	}

	// delete by whole token; the token stops working.
	out, err = runTokenCmd(t, "delete", rotated, "--data-dir", s.Dir)
	if err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %q %v", out, err)
	}
	_, err = join.Join(ctx, join.Options{Server: server, Token: rotated, NodeName: "worker-2", Dir: filepath.Join(t.TempDir(), "n"), Timeout: 10 * time.Second})
	var re *join.RefusedError
	if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
		t.Errorf("join with a deleted token: %v, want 401", err)
	}
	if _, err := runTokenCmd(t, "delete", "nosuch", "--data-dir", s.Dir); err == nil || !strings.Contains(err.Error(), `no join token "nosuch"`) {
		t.Errorf("deleting an unknown token: %v", err)
	}
}
