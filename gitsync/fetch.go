package gitsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
)

// Local repositories (paths and file:// URLs) are read in process, so the
// appliance needs no git binary.
var installFile sync.Once

// Ref picks a revision: a branch, a tag or a commit (a commit wins, then
// a tag; default branch "main").
type Ref struct {
	Branch, Tag, Commit string
}

// Revision is one fetched commit.
type Revision struct {
	Hash    string
	Author  string
	Message string
	Time    time.Time
	Commit  *object.Commit
}

// Short is the first 12 hex digits of the hash, as people quote it.
func (r *Revision) Short() string {
	if len(r.Hash) > 12 {
		return r.Hash[:12]
	}
	return r.Hash
}

// Fetcher keeps one bare clone per URL under Dir and brings it up to date.
type Fetcher struct {
	Dir string
	mu  sync.Mutex
}

// Fetch fetches ref from url (shallow where the transport allows) with
// creds (nil: none) and returns the commit it names.
func (f *Fetcher) Fetch(ctx context.Context, url string, ref Ref, creds *Credentials) (*Revision, error) {
	installFile.Do(func() { client.InstallProtocol("file", server.DefaultServer) })
	url = normalizeURL(url)
	f.mu.Lock()
	defer f.mu.Unlock()
	sum := sha256.Sum256([]byte(url))
	dir := filepath.Join(f.Dir, hex.EncodeToString(sum[:8]))
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		repo, err = git.PlainInit(dir, true)
		if err == nil {
			_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("local clone of %s: %w", url, err)
	}
	var spec config.RefSpec
	var local plumbing.ReferenceName
	switch {
	case ref.Commit != "":
		// Fetch every branch, then look the commit up.
		spec = "+refs/heads/*:refs/remotes/origin/*"
	case ref.Tag != "":
		local = plumbing.NewTagReferenceName(ref.Tag)
		spec = config.RefSpec("+" + local.String() + ":" + local.String())
	default:
		branch := ref.Branch
		if branch == "" {
			branch = "main"
		}
		local = plumbing.NewRemoteReferenceName("origin", branch)
		spec = config.RefSpec("+" + plumbing.NewBranchReferenceName(branch).String() + ":" + local.String())
	}
	opts := &git.FetchOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Tags: git.NoTags, Force: true}
	if creds != nil {
		opts.Auth, opts.CABundle, opts.InsecureSkipTLS = creds.Auth, creds.CABundle, creds.InsecureSkipTLS
	}
	// A shallow fetch where the server can do one (the in-process server
	// for local repositories cannot; it reads local files anyway).
	if ref.Commit == "" && !strings.HasPrefix(url, "file://") {
		opts.Depth = 1
	}
	err = repo.FetchContext(ctx, opts)
	if err != nil && opts.Depth > 0 && strings.Contains(err.Error(), "shallow") {
		// Servers built on go-git's server refuse shallow fetches.
		opts.Depth = 0
		err = repo.FetchContext(ctx, opts)
	}
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("fetching %s from %s: %w", describe(ref), url, err)
	}
	var hash plumbing.Hash
	if ref.Commit != "" {
		hash = plumbing.NewHash(ref.Commit)
	} else {
		r, err := repo.Reference(local, true)
		if err != nil {
			return nil, fmt.Errorf("%s not found in %s: %w", describe(ref), url, err)
		}
		hash = r.Hash()
		if ref.Tag != "" {
			// An annotated tag points at a tag object.
			if tag, err := repo.TagObject(hash); err == nil {
				c, err := tag.Commit()
				if err != nil {
					return nil, fmt.Errorf("tag %s: %w", ref.Tag, err)
				}
				hash = c.Hash
			}
		}
	}
	c, err := repo.CommitObject(hash)
	if err != nil {
		return nil, fmt.Errorf("commit %s of %s: %w", hash, url, err)
	}
	return &Revision{Hash: c.Hash.String(), Author: c.Author.Name + " <" + c.Author.Email + ">",
		Message: strings.TrimSpace(c.Message), Time: c.Committer.When, Commit: c}, nil
}

func describe(r Ref) string {
	switch {
	case r.Commit != "":
		return "commit " + r.Commit
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Branch != "":
		return "branch " + r.Branch
	}
	return "branch main"
}

// normalizeURL turns a local path into a file:// URL, naming the .git
// directory of a repository with a work tree (the in-process server reads
// the repository's storage).
func normalizeURL(u string) string {
	if strings.HasPrefix(u, "file://") {
		u = strings.TrimPrefix(u, "file://")
	} else if ep, err := transport.NewEndpoint(u); err == nil && ep.Protocol != "file" {
		// https://, ssh://, git:// and scp-like user@host:path.
		return u
	}
	if abs, err := filepath.Abs(u); err == nil {
		u = abs
	}
	if st, err := os.Stat(filepath.Join(u, ".git")); err == nil && st.IsDir() {
		u = filepath.Join(u, ".git")
	}
	return "file://" + filepath.ToSlash(u)
}
