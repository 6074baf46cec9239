package network

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// missing skips the test for a missing prerequisite, or fails it under
// CI=true, where every prerequisite must be present.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}

// requireRoot checks the prerequisites of the tests that build network
// namespaces; withPlugins also wants the CNI plugins.
func requireRoot(tb testing.TB, withPlugins bool) {
	tb.Helper()
	if os.Geteuid() != 0 {
		missing(tb, "network namespaces need root")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(tb, "%s is not installed: %v", tool, err)
		}
	}
	if withPlugins {
		if err := findPlugins([]string{"/usr/lib/cni", "/opt/cni/bin"}); err != nil {
			missing(tb, "CNI plugins: %v", err)
		}
	}
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// nodeNS creates a network namespace with `ip netns add` that stands for
// one node's host, with lo up, and returns its name and path.
func nodeNS(tb testing.TB) (name, path string) {
	tb.Helper()
	name = randomName("cairn-net-")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		missing(tb, "create network namespace %s: %v: %s", name, err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			tb.Errorf("delete network namespace %s: %v: %s", name, err, out)
		}
	})
	run(tb, name, "ip", "link", "set", "lo", "up")
	return name, "/run/netns/" + name
}

// run runs a command inside the namespace ns (from `ip netns add`), or on
// the host if ns is empty, and returns its output.
func run(tb testing.TB, ns string, args ...string) string {
	tb.Helper()
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netnsDir returns a directory for pod namespaces; CreateNetNS turns it
// into a mount point, which is undone at cleanup.
func netnsDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	tb.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			tb.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// podNS creates a pod network namespace in dir, deleted at cleanup.
func podNS(tb testing.TB, dir, name string) string {
	tb.Helper()
	path, err := CreateNetNS(dir, name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := DeleteNetNS(path); err != nil {
			tb.Error(err)
		}
	})
	if err := Do(path, func() error {
		lo, err := net.InterfaceByName("lo")
		if err != nil {
			return err
		}
		if lo.Flags&net.FlagUp == 0 {
			return exec.Command("ip", "link", "set", "lo", "up").Run()
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return path
}

// nsInode identifies the network namespace at path (or the calling
// thread's, for the /proc path).
func nsInode(tb testing.TB, path string) uint64 {
	tb.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		tb.Fatal(err)
	}
	return st.Ino
}

// serve listens on addr inside the namespace at nsPath and answers each
// connection with the client address it sees. It stops at cleanup.
func serve(tb testing.TB, nsPath, addr string) {
	tb.Helper()
	var l net.Listener
	if err := Do(nsPath, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "%s\n", c.RemoteAddr().(*net.TCPAddr).IP)
			_ = c.Close()
		}
	}()
}

// dial connects from the namespace at nsPath to addr and returns the
// client address the server saw.
func dial(nsPath, addr string) (string, error) {
	var conn net.Conn
	if err := Do(nsPath, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, 3*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read from %s: %w", addr, err)
	}
	return strings.TrimSpace(line), nil
}

func TestNetNS(t *testing.T) {
	requireRoot(t, false)
	dir := netnsDir(t)
	path, err := CreateNetNS(dir, "pod-a")
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "pod-a") {
		t.Errorf("path %s, want %s", path, filepath.Join(dir, "pod-a"))
	}
	ino := nsInode(t, path)
	if host := nsInode(t, "/proc/self/ns/net"); ino == host {
		t.Fatal("the new namespace is the host's")
	}

	again, err := CreateNetNS(dir, "pod-a")
	if err != nil {
		t.Fatal(err)
	}
	if again != path || nsInode(t, again) != ino {
		t.Errorf("second CreateNetNS gave another namespace")
	}

	var inside uint64
	var links []net.Interface
	if err := Do(path, func() error {
		inside = nsInode(t, fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		links, err = net.Interfaces()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside != ino {
		t.Errorf("Do ran in namespace %d, want %d", inside, ino)
	}
	if len(links) != 1 || links[0].Name != "lo" {
		t.Errorf("new namespace has interfaces %v, want only lo", links)
	}
	wantErr := errors.New("from fn")
	if err := Do(path, func() error { return wantErr }); !errors.Is(err, wantErr) {
		t.Errorf("Do returned %v, want fn's error", err)
	}

	if err := DeleteNetNS(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("namespace file still there after DeleteNetNS: %v", err)
	}
	if err := DeleteNetNS(path); err != nil {
		t.Errorf("second DeleteNetNS: %v", err)
	}
	if err := Do(path, func() error { return nil }); err == nil {
		t.Error("Do in a deleted namespace succeeded")
	}
	if _, err := CreateNetNS(dir, "../x"); err == nil {
		t.Error("CreateNetNS accepted a name with a slash")
	}
}
