package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := 0
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case err != nil:
		code = 2
	}
	return out.String(), code
}

// TestValidateGolden: `cairn validate` reports every problem as
// file:line: Kind/name: path: message, and exits 1 when anything is invalid.
func TestValidateGolden(t *testing.T) {
	out, code := runCLI(t, "validate", "testdata/validate", "--policies", "../examples/policies", "--summary")
	if code != 1 {
		t.Fatalf("exit code %d, want 1\n%s", code, out)
	}
	checkGolden(t, "validate.golden", out)
}

func TestValidateOutputsAndCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, "validate", good); code != 0 || out != "" {
		t.Fatalf("valid file: exit %d, output %q", code, out)
	}
	if _, code := runCLI(t, "validate", filepath.Join(dir, "missing.yaml")); code != 2 {
		t.Fatalf("missing file: exit %d, want 2", code)
	}
	if _, code := runCLI(t, "validate", "-o", "xml", good); code != 2 {
		t.Fatalf("bad -o: exit %d, want 2", code)
	}
	out, code := runCLI(t, "validate", "-o", "json", "testdata/validate")
	var doc struct {
		Resources []objectResult
		Summary   validateSummary
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 || doc.Summary.Resources != 4 || doc.Summary.Invalid < 2 {
		t.Fatalf("json: exit %d, %v, %+v", code, err, doc.Summary)
	}
	out, _ = runCLI(t, "validate", "-o", "tap", "testdata/validate")
	if !strings.HasPrefix(out, "TAP version 13\n1..4\n") || !strings.Contains(out, "not ok 1 - testdata/validate/app.yaml:1 Deployment/shop/web") {
		t.Fatalf("tap:\n%s", out)
	}
	out, _ = runCLI(t, "validate", "-o", "junit", "testdata/validate")
	if !strings.Contains(out, `<testsuite name="cairn validate" tests="4"`) {
		t.Fatalf("junit:\n%s", out)
	}
}

// TestValidateEveryKind: valid and invalid manifests of every served kind
// (the schema package's corpus), with the exact file:line, path and message
// of every problem, through the whole offline pipeline.
func TestValidateEveryKind(t *testing.T) {
	out, code := runCLI(t, "validate", "../schema/testdata/manifests", "--summary")
	if code != 1 {
		t.Fatalf("exit code %d, want 1 (the corpus holds invalid manifests)\n%s", code, out)
	}
	checkGolden(t, "validate-kinds.golden", out)
}

// checkGolden compares out with testdata/name, rewriting it with -update.
func checkGolden(t *testing.T, name, out string) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Fatalf("output differs from %s (run with -update):\n--- got\n%s--- want\n%s", golden, out, want)
	}
}

// TestValidateInterrupted: an interrupt (a cancelled context) stops
// `cairn validate` with exit code 2 instead of reporting verdicts cut
// short, and the same run without one gives the golden verdicts.
func TestValidateInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"validate", "testdata/validate", "--policies", "../examples/policies"})
	err := root.ExecuteContext(ctx)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !errors.Is(ee.err, context.Canceled) {
		t.Fatalf("err = %v, want exit 2 with context.Canceled", err)
	}
	if strings.Contains(out.String(), "Deployment/") {
		t.Fatalf("verdicts printed after an interrupt:\n%s", out.String())
	}
}
