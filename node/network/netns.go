package network

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// CreateNetNS creates a network namespace and keeps it alive as a bind
// mount at dir/name, which is the path it returns. A namespace already
// mounted at that path is returned as is, so calling it again for the same
// pod is harmless. dir is created if needed and made a shared mount point,
// so the namespace mounts propagate into mount namespaces copied from the
// host's.
func CreateNetNS(dir, name string) (string, error) {
	if name == "" || name != filepath.Base(name) {
		return "", fmt.Errorf("create netns: invalid name %q", name)
	}
	path := filepath.Join(dir, name)
	if isNetNS(path) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create netns dir: %w", err)
	}
	if err := makeShared(dir); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return "", fmt.Errorf("create netns mount point: %w", err)
	}
	_ = f.Close()

	// The namespace is made on a thread of its own: the goroutine locks
	// it, unshares, bind-mounts the thread's namespace onto the file and
	// exits still locked, so the runtime discards the thread instead of
	// reusing it in the wrong namespace.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- func() error {
			orig, err := os.Open(threadNetNSPath())
			if err != nil {
				return fmt.Errorf("open current netns: %w", err)
			}
			defer orig.Close()
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare netns: %w", err)
			}
			mountErr := unix.Mount(threadNetNSPath(), path, "none", unix.MS_BIND, "")
			if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
				return errors.Join(mountErr, fmt.Errorf("restore netns: %w", err))
			}
			if mountErr != nil {
				return fmt.Errorf("bind-mount netns at %s: %w", path, mountErr)
			}
			return nil
		}()
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("create netns %s: %w", path, err)
	}
	return path, nil
}

// DeleteNetNS unmounts the namespace at path and removes the file. A
// missing path is not an error.
func DeleteNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}

// Do runs fn on an OS thread that has entered the network namespace at
// path. Sockets fn opens and processes it starts (os/exec forks from the
// calling thread) live in that namespace; goroutines fn starts do not. The
// thread is returned to its namespace afterwards, or discarded if that
// fails.
func Do(path string, fn func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open netns: %w", err)
	}
	defer target.Close()
	if !isNetNS(path) {
		return fmt.Errorf("%s is not a network namespace", path)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(threadNetNSPath())
		if err != nil {
			errc <- fmt.Errorf("open current netns: %w", err)
			return // the locked thread exits with the goroutine
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		defer func() {
			if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
				runtime.UnlockOSThread()
			}
		}()
		errc <- fn()
	}()
	return <-errc
}

// isNetNS reports whether path is a mounted namespace file.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

func threadNetNSPath() string {
	return fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
}

// makeShared makes dir a shared mount point, bind-mounting it onto itself
// first if it is not a mount point yet.
func makeShared(dir string) error {
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("make %s a shared mount: %w", dir, err)
	}
	if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mount %s onto itself: %w", dir, err)
	}
	if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s a shared mount: %w", dir, err)
	}
	return nil
}
