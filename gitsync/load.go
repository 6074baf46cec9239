package gitsync

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/cairn-dev/cairn/check"
	"github.com/cairn-dev/cairn/manifest"
)

// IgnoreFile holds gitignore-style patterns of files gitsync skips; it is
// read at the root of the repository and in every directory below the
// source's path, each applying to its own directory, as .gitignore does.
const IgnoreFile = ".cairnignore"

// LoadOptions limit what a revision may hold.
type LoadOptions struct {
	// MaxFileBytes: a larger manifest file is an error (default 10 MiB).
	MaxFileBytes int64
	// DefaultNamespace is given to namespaced objects without one.
	DefaultNamespace string
	// Namespaced tells whether a kind is namespaced; objects of unknown
	// kinds count as namespaced.
	Namespaced func(apiVersion, kind string) (namespaced, known bool)
}

// Load reads every .yaml, .yml and .json file under dir of a commit's tree
// (multi-document YAML included), skipping dot-files and what .cairnignore
// files exclude. Symlinks are followed when they stay inside the
// repository; one that leaves it, a file over the size limit, a file that
// does not parse and an object declared twice are findings naming the file
// and line. Objects come back in file order, namespaced objects with their
// namespace filled in.
func Load(c *object.Commit, dir string, opts LoadOptions) ([]*manifest.Object, []check.Finding) {
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = manifest.DefaultMaxFileBytes
	}
	dir = strings.Trim(path.Clean("/"+dir), "/")
	root, err := c.Tree()
	if err != nil {
		return nil, []check.Finding{{Message: fmt.Sprintf("reading the commit's tree: %v", err), Severity: check.Error}}
	}
	l := &loader{root: root, opts: opts}
	l.ignores = l.patterns("", nil)
	start := root
	if dir != "" {
		for _, seg := range strings.Split(dir, "/") {
			l.ignores = l.patterns(path.Dir(path.Join(dir, seg)), l.ignores)
		}
		start, err = root.Tree(dir)
		if err != nil {
			return nil, []check.Finding{{File: dir, Message: fmt.Sprintf("path %q is not a directory of the revision", dir), Severity: check.Error}}
		}
	}
	l.walk(start, dir, l.ignores)
	l.duplicates()
	return l.objs, l.findings
}

type loader struct {
	root     *object.Tree
	opts     LoadOptions
	ignores  []gitignore.Pattern
	objs     []*manifest.Object
	findings []check.Finding
}

func (l *loader) fail(file string, line int, format string, args ...any) {
	l.findings = append(l.findings, check.Finding{File: file, Line: line, Message: fmt.Sprintf(format, args...), Severity: check.Error})
}

// patterns adds the .cairnignore of directory dir (repository-relative)
// to ps.
func (l *loader) patterns(dir string, ps []gitignore.Pattern) []gitignore.Pattern {
	name := path.Join(dir, IgnoreFile)
	f, err := l.root.File(name)
	if err != nil {
		return ps
	}
	text, err := f.Contents()
	if err != nil {
		l.fail(name, 0, "reading: %v", err)
		return ps
	}
	var domain []string
	if dir != "" && dir != "." {
		domain = strings.Split(dir, "/")
	}
	out := append([]gitignore.Pattern(nil), ps...)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, gitignore.ParsePattern(line, domain))
	}
	return out
}

func (l *loader) walk(t *object.Tree, dir string, ps []gitignore.Pattern) {
	entries := append([]object.TreeEntry(nil), t.Entries...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	for _, e := range entries {
		if strings.HasPrefix(e.Name, ".") {
			continue
		}
		p := path.Join(dir, e.Name)
		isDir := e.Mode == filemode.Dir
		if gitignore.NewMatcher(ps).Match(strings.Split(p, "/"), isDir) {
			continue
		}
		switch e.Mode {
		case filemode.Dir:
			sub, err := t.Tree(e.Name)
			if err != nil {
				l.fail(p, 0, "reading directory: %v", err)
				continue
			}
			l.walk(sub, p, l.patterns(p, ps))
		case filemode.Submodule:
			// Submodules are not fetched.
		default:
			if !isManifest(e.Name) {
				continue
			}
			data, err := l.read(p, e, 0)
			if err != nil {
				l.fail(p, 0, "%v", err)
				continue
			}
			objs, errs := manifest.Parse(p, data, manifest.Options{MaxFileBytes: l.opts.MaxFileBytes})
			for _, err := range errs {
				var me *manifest.Error
				if errors.As(err, &me) {
					l.findings = append(l.findings, check.Finding{File: me.File, Line: me.Line, Message: me.Msg, Severity: check.Error})
				} else {
					l.fail(p, 0, "%v", err)
				}
			}
			for _, o := range objs {
				l.defaultNamespace(o)
			}
			l.objs = append(l.objs, objs...)
		}
	}
}

// read returns a file's content, following a symlink that stays inside
// the repository (at most 8 links deep).
func (l *loader) read(p string, e object.TreeEntry, depth int) ([]byte, error) {
	f, err := l.root.TreeEntryFile(&e)
	if err != nil {
		return nil, err
	}
	if f.Size > l.opts.MaxFileBytes {
		return nil, fmt.Errorf("file is %d bytes, larger than the limit of %d bytes", f.Size, l.opts.MaxFileBytes)
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil || e.Mode != filemode.Symlink {
		return data, err
	}
	if depth >= 8 {
		return nil, errors.New("too many levels of symbolic links")
	}
	target := string(data)
	if path.IsAbs(target) {
		return nil, fmt.Errorf("symbolic link to %s leaves the repository", target)
	}
	resolved := path.Join(path.Dir(p), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return nil, fmt.Errorf("symbolic link to %s leaves the repository", target)
	}
	te, err := l.root.FindEntry(resolved)
	if err != nil {
		return nil, fmt.Errorf("symbolic link to %s: target not in the revision", target)
	}
	if te.Mode == filemode.Dir {
		return nil, fmt.Errorf("symbolic link to %s: a directory", target)
	}
	return l.read(resolved, *te, depth+1)
}

func isManifest(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func (l *loader) defaultNamespace(o *manifest.Object) {
	if o.Namespace != "" || l.opts.DefaultNamespace == "" {
		return
	}
	namespaced := true
	if l.opts.Namespaced != nil {
		namespaced, _ = l.opts.Namespaced(o.APIVersion, o.Kind)
	}
	if !namespaced {
		return
	}
	o.Namespace = l.opts.DefaultNamespace
	md, _ := o.Value["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		o.Value["metadata"] = md
	}
	md["namespace"] = o.Namespace
	if data, err := json.Marshal(o.Value); err == nil {
		o.JSON = data
	}
}

// duplicates reports every object declared again: same group, kind,
// namespace and name.
func (l *loader) duplicates() {
	first := map[string]*manifest.Object{}
	for _, o := range l.objs {
		if o.Name == "" {
			continue
		}
		k := key(o)
		if prev, ok := first[k]; ok {
			l.findings = append(l.findings, check.Finding{File: o.File, Line: o.Line, Object: o.Ref(), Severity: check.Error,
				Message: fmt.Sprintf("declared twice: first at %s:%d", prev.File, prev.Line)})
			continue
		}
		first[k] = o
	}
}

// key identifies an object: group/Kind/namespace/name (the version does
// not matter: two versions of one object are one object).
func key(o *manifest.Object) string {
	group := ""
	if i := strings.Index(o.APIVersion, "/"); i >= 0 {
		group = o.APIVersion[:i]
	}
	return group + "/" + o.Kind + "/" + o.Namespace + "/" + o.Name
}
