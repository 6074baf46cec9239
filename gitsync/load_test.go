package gitsync

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// commitTree commits files (a value starting with "->" makes a symlink to
// the rest) in a new repository and returns the commit.
func commitTree(t *testing.T, files map[string]string) *object.Commit {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Worktree()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	h, err := wt.Commit("test", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.CommitObject(h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cm(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
}

func TestLoad(t *testing.T) {
	clusterScoped := func(_, kind string) (bool, bool) { return kind != "Namespace", true }
	for _, tc := range []struct {
		name     string
		files    map[string]string
		path     string
		opts     LoadOptions
		objects  []string // Ref() of each object, in order
		findings []string // substrings, in order
	}{
		{name: "every manifest under the path, dot-files and other files skipped, in order",
			files: map[string]string{"a.yaml": cm("a"), "b/c.yml": cm("c"), "b/d.json": `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"}}`,
				"README.md": "# no", ".github/ci.yaml": cm("hidden"), "b/.draft.yaml": cm("draft")},
			objects: []string{"ConfigMap/a", "ConfigMap/c", "ConfigMap/d"}},
		{name: "multi-document files",
			files:   map[string]string{"all.yaml": cm("one") + "---\n" + cm("two")},
			objects: []string{"ConfigMap/one", "ConfigMap/two"}},
		{name: "only under the path",
			files: map[string]string{"prod/a.yaml": cm("a"), "staging/b.yaml": cm("b")}, path: "prod",
			objects: []string{"ConfigMap/a"}},
		{name: "a path that is not a directory",
			files: map[string]string{"a.yaml": cm("a")}, path: "nope",
			findings: []string{`path "nope" is not a directory of the revision`}},
		{name: ".cairnignore at the root and below",
			files: map[string]string{".cairnignore": "*.tmpl.yaml\ndrafts/\n", "a.yaml": cm("a"), "b.tmpl.yaml": cm("b"),
				"drafts/c.yaml": cm("c"), "sub/.cairnignore": "local.yaml\n", "sub/local.yaml": cm("local"), "sub/kept.yaml": cm("kept"),
				"other/local.yaml": cm("other-local")},
			objects: []string{"ConfigMap/a", "ConfigMap/other-local", "ConfigMap/kept"}},
		{name: "a symlink inside the repository is followed",
			files:   map[string]string{"real/a.yaml": cm("a"), "link.yaml": "->real/a.yaml", ".cairnignore": "real/\n"},
			objects: []string{"ConfigMap/a"}},
		{name: "a symlink leaving the repository is an error",
			files:    map[string]string{"escape.yaml": "->../../etc/passwd.yaml", "abs.yaml": "->/etc/hosts.yaml", "ok.yaml": cm("ok")},
			objects:  []string{"ConfigMap/ok"},
			findings: []string{"abs.yaml", "leaves the repository", "escape.yaml", "leaves the repository"}},
		{name: "a file over the size limit",
			files:    map[string]string{"big.yaml": cm("big") + "data:\n  x: \"" + strings.Repeat("x", 200) + "\"\n", "small.yaml": cm("s")},
			opts:     LoadOptions{MaxFileBytes: 100},
			objects:  []string{"ConfigMap/s"},
			findings: []string{"big.yaml", "larger than the limit of 100 bytes"}},
		{name: "an object declared twice",
			files:    map[string]string{"a.yaml": cm("same"), "b/b.yaml": "\n\n" + cm("same")},
			objects:  []string{"ConfigMap/same", "ConfigMap/same"},
			findings: []string{"b/b.yaml:3", "declared twice: first at a.yaml:1"}},
		{name: "the default namespace goes to namespaced kinds only",
			files: map[string]string{"a.yaml": cm("a") + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n" +
				"---\n" + cm("b") + "  namespace: other\n"},
			opts:    LoadOptions{DefaultNamespace: "apps", Namespaced: clusterScoped},
			objects: []string{"ConfigMap/apps/a", "Namespace/shop", "ConfigMap/other/b"}},
		{name: "a file that does not parse names its line",
			files:    map[string]string{"bad.yaml": cm("a") + "data: [\n"},
			findings: []string{"bad.yaml:6", "did not find expected node content"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, fs := Load(commitTree(t, tc.files), tc.path, tc.opts)
			var refs []string
			for _, o := range objs {
				refs = append(refs, o.Ref())
			}
			if strings.Join(refs, ",") != strings.Join(tc.objects, ",") {
				t.Errorf("objects %v, want %v", refs, tc.objects)
			}
			var all []string
			for _, f := range fs {
				all = append(all, f.String())
			}
			text := strings.Join(all, "\n")
			rest := text
			for _, want := range tc.findings {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("findings lack %q (in order):\n%s", want, text)
				}
				rest = rest[i+len(want):]
			}
			if len(tc.findings) == 0 && len(fs) > 0 {
				t.Errorf("unexpected findings:\n%s", text)
			}
		})
	}
}
