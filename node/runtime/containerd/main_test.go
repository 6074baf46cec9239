package containerd

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// env is the private containerd every test of this package shares.
var env struct {
	root    string // temp dir holding everything below
	address string
	daemon  *Daemon
	skip    string // why the tests cannot run, if they cannot
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if reason := prerequisites(); reason != "" {
		env.skip = reason
		return m.Run()
	}
	root, err := os.MkdirTemp("", "cairn-containerd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.root = root
	env.address = filepath.Join(root, "run", "containerd.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	d, err := StartDaemon(ctx, DaemonOptions{
		Root:    filepath.Join(root, "root"),
		State:   filepath.Join(root, "state"),
		Address: env.address,
		LogPath: filepath.Join(root, "containerd.log"),
	})
	cancel()
	if err != nil {
		env.skip = fmt.Sprintf("start containerd: %v", err)
		code := m.Run()
		cleanupRoot(root)
		return code
	}
	env.daemon = d
	code := m.Run()
	if err := cleanupContainers(); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup:", err)
	}
	removeCgroup(cgroupParent)
	if err := d.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop containerd:", err)
	}
	if code != 0 {
		if b, err := os.ReadFile(filepath.Join(root, "containerd.log")); err == nil && len(b) > 0 {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			fmt.Fprintln(os.Stderr, "last lines of containerd's log:\n"+strings.Join(lines, "\n"))
		}
	}
	cleanupRoot(root)
	return code
}

// prerequisites returns why the tests cannot run here, or "".
func prerequisites() string {
	if os.Geteuid() != 0 {
		return "containerd tests need root"
	}
	for _, bin := range []string{"containerd", "runc", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Sprintf("%s is not installed: %v", bin, err)
		}
	}
	return ""
}

// needDaemon skips the test when the daemon is not there, or fails it
// under CI=true.
func needDaemon(t testing.TB) {
	t.Helper()
	if env.skip == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(env.skip)
	}
	t.Skip(env.skip)
}

// cleanupContainers stops and removes every container of every namespace
// in the private daemon.
func cleanupContainers() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := New(ctx, Options{Address: env.address})
	if err != nil {
		return err
	}
	defer r.Close()
	nss, err := r.client.NamespaceService().List(ctx)
	if err != nil {
		return err
	}
	for _, ns := range nss {
		rr, err := New(ctx, Options{Address: env.address, Namespace: ns})
		if err != nil {
			return err
		}
		cs, err := rr.ListContainers(ctx)
		if err == nil {
			for _, c := range cs {
				_ = rr.StopContainer(ctx, c.ID, 0)
				if err := rr.RemoveContainer(ctx, c.ID); err != nil {
					fmt.Fprintln(os.Stderr, "cleanup:", err)
				}
			}
		}
		rr.Close()
	}
	return nil
}

// cleanupRoot unmounts whatever is still mounted under root, deepest
// first, and removes it.
func cleanupRoot(root string) {
	var mounts []string
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 4 && (fields[4] == root || strings.HasPrefix(fields[4], root+"/")) {
				mounts = append(mounts, fields[4])
			}
		}
		f.Close()
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			fmt.Fprintln(os.Stderr, "unmount", m, err)
		}
	}
	if err := os.RemoveAll(root); err != nil {
		fmt.Fprintln(os.Stderr, "remove", root, err)
	}
}
