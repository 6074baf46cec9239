package manifest

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// stdin is read for the path "-"; a variable for tests.
var stdin io.Reader = os.Stdin

// Load reads files and directories. Directories are walked recursively in
// lexical order and only *.yaml, *.yml and *.json files are read; entries
// whose name starts with "." (.git, .github, editor files) are skipped. A file
// named explicitly is read whatever its extension. "-" reads standard input
// (Object.File "-"). A path given twice is read once. Object.File is the path
// as given joined with the path below it, with forward slashes.
func Load(paths []string, opts Options) ([]*Object, []error) {
	opts = opts.withDefaults()
	// Walk first, in order; then read and parse the files in parallel,
	// keeping the walk's order in the result.
	var jobs []loadJob
	seen := map[string]bool{}
	errs := &jobErrs{jobs: &jobs}
	read := func(name string, data []byte) {
		jobs = append(jobs, loadJob{name: name, data: data})
	}
	file := func(path, name string) {
		if seen[path] {
			return
		}
		seen[path] = true
		jobs = append(jobs, loadJob{name: name, path: path})
	}
	for _, p := range paths {
		if p == "-" {
			if seen["-"] {
				continue
			}
			seen["-"] = true
			data, err := io.ReadAll(io.LimitReader(stdin, opts.MaxFileBytes+1))
			if err != nil {
				errs.add(&Error{File: "-", Msg: err.Error()})
				continue
			}
			read("-", data)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			errs.add(&Error{File: filepath.ToSlash(p), Msg: errMsg(err)})
			continue
		}
		if !st.IsDir() {
			file(filepath.Clean(p), filepath.ToSlash(p))
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				errs.add(&Error{File: filepath.ToSlash(path), Msg: errMsg(err)})
				if d != nil && d.IsDir() && path != p {
					return fs.SkipDir
				}
				return nil
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() || !isManifestName(d.Name()) {
				return nil
			}
			if !d.Type().IsRegular() {
				// symlink etc.: follow it only if it is a regular file
				if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
					return nil
				}
			}
			file(filepath.Clean(path), filepath.ToSlash(path))
			return nil
		})
		if err != nil {
			errs.add(&Error{File: filepath.ToSlash(p), Msg: errMsg(err)})
		}
	}
	return runJobs(jobs, opts)
}

// loadJob is one file to parse, or one error met while walking.
type loadJob struct {
	name, path string // path: read it; else data is the content
	data       []byte
	err        error
}

type jobErrs struct{ jobs *[]loadJob }

func (e *jobErrs) add(err error) { *e.jobs = append(*e.jobs, loadJob{err: err}) }

// runJobs parses the files with one worker per CPU and returns objects and
// errors in the jobs' order.
func runJobs(jobs []loadJob, opts Options) ([]*Object, []error) {
	type result struct {
		objs []*Object
		errs []error
	}
	results := make([]result, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := jobs[i]
				if j.err != nil {
					results[i].errs = []error{j.err}
					continue
				}
				data := j.data
				if j.path != "" {
					var err error
					if data, err = readFile(j.path, j.name, opts.MaxFileBytes); err != nil {
						results[i].errs = []error{err}
						continue
					}
				}
				results[i].objs, results[i].errs = Parse(j.name, data, opts)
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	var objs []*Object
	var errs []error
	for _, r := range results {
		objs = append(objs, r.objs...)
		errs = append(errs, r.errs...)
	}
	return objs, errs
}

func isManifestName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func readFile(path, name string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: name, Msg: errMsg(err)}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > max {
		return nil, &Error{File: name, Msg: fmt.Sprintf("file is %d bytes, larger than the limit of %d bytes", st.Size(), max)}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &Error{File: name, Msg: errMsg(err)}
	}
	return data, nil
}

// errMsg strips the path that *PathError repeats.
func errMsg(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}
