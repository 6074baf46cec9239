package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/cairn-dev/cairn/node/runtime"
	"github.com/cairn-dev/cairn/node/runtime/imagetest"
)

// refDocker names the test image as its docker archive imports it.
const refDocker = "cairn.local/testapp-docker:1"

var (
	imagesOnce sync.Once
	imagesDir  string
	imagesErr  error
)

// imageDir holds the test image as both archive kinds, built once.
func imageDir(t *testing.T) string {
	t.Helper()
	imagesOnce.Do(func() {
		imagesDir = filepath.Join(env.root, "images")
		if _, imagesErr = imagetest.Build(imagesDir, imagetest.Ref); imagesErr != nil {
			return
		}
		_, imagesErr = imagetest.BuildDocker(imagesDir, refDocker)
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	return imagesDir
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cgroupParent keeps the tests' cgroups apart from a real agent's.
var cgroupParent = "/cairn-test-" + randHex(4)

// newRuntime returns a runtime on the private daemon in a namespace of the
// test's own, with the test image imported (through ImageDir), and removes
// the namespace's containers at the end.
func newRuntime(t *testing.T) *Runtime {
	t.Helper()
	needDaemon(t)
	ns := "t-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	ctx := context.Background()
	r, err := New(ctx, Options{Address: env.address, Namespace: ns, ImageDir: imageDir(t), CgroupParent: cgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cs, err := r.ListContainers(ctx)
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, c := range cs {
			if err := r.StopContainer(ctx, c.ID, 0); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			if err := r.RemoveContainer(ctx, c.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		r.Close()
	})
	return r
}

func podConfig(t *testing.T, name string, args ...string) runtime.ContainerConfig {
	return runtime.ContainerConfig{
		Pod:     runtime.PodRef{UID: "pod-" + randHex(8), Namespace: "default", Name: "web"},
		Name:    name,
		Image:   imagetest.Ref,
		Args:    args,
		LogPath: filepath.Join(t.TempDir(), "logs", name, "0.log"),
	}
}

func createStart(t *testing.T, r *Runtime, cfg runtime.ContainerConfig) string {
	t.Helper()
	ctx := context.Background()
	id, err := r.CreateContainer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

func waitState(t *testing.T, r *Runtime, id string, want runtime.State, within time.Duration) runtime.Container {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := r.ContainerStatus(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State == want {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %s after %s, want %s", id, c.State, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog waits for the container's log file to hold want.
func waitLog(t *testing.T, path, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %s = %q, want it to contain %q", path, b, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestVersion(t *testing.T) {
	r := newRuntime(t)
	v, err := r.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "containerd://") || len(v) <= len("containerd://") {
		t.Errorf("Version = %q", v)
	}
	t.Logf("version %s, snapshotter %s", v, r.Snapshotter())
}

func TestStartDaemonFindsRunning(t *testing.T) {
	needDaemon(t)
	d, err := StartDaemon(context.Background(), DaemonOptions{Address: env.address})
	if err != nil {
		t.Fatal(err)
	}
	if d.Started() {
		t.Error("StartDaemon started a second daemon on an address that answers")
	}
	if err := d.Stop(); err != nil {
		t.Error(err)
	}
	if !answers(env.address) {
		t.Error("Stop of a handle that owns nothing stopped the daemon")
	}
	if !env.daemon.Started() || env.daemon.PID() == 0 {
		t.Error("the test daemon's handle does not own it")
	}
}

func TestImages(t *testing.T) {
	r := newRuntime(t) // imports both archives of imageDir through ImageDir
	ctx := context.Background()
	imgs, err := r.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, img := range imgs {
		names = append(names, img.Names...)
		if !strings.HasPrefix(img.ID, "sha256:") || img.Size <= 0 {
			t.Errorf("image %+v: want a sha256 ID and a size", img)
		}
	}
	sort.Strings(names)
	if want := []string{refDocker, imagetest.Ref}; !slices.Equal(names, want) { // sorted
		t.Errorf("ListImages names = %v, want %v", names, want)
	}
	for _, ref := range []string{imagetest.Ref, refDocker} {
		img, err := r.EnsureImage(ctx, ref, runtime.PullNever)
		if err != nil {
			t.Errorf("EnsureImage(%s, Never): %v", ref, err)
			continue
		}
		if !slices.Contains(img.Names, ref) {
			t.Errorf("EnsureImage(%s) = %+v", ref, img)
		}
		if _, err := r.EnsureImage(ctx, ref, runtime.PullIfNotPresent); err != nil {
			t.Errorf("EnsureImage(%s, IfNotPresent): %v", ref, err)
		}
	}
	if _, err := r.EnsureImage(ctx, "cairn.local/absent:1", runtime.PullNever); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("EnsureImage(absent, Never) = %v, want ErrNotFound", err)
	}
	if _, err := r.CreateContainer(ctx, runtime.ContainerConfig{Pod: runtime.PodRef{UID: "u"}, Name: "c", Image: "cairn.local/absent:1"}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("CreateContainer from an absent image = %v, want ErrNotFound", err)
	}

	// Importing again through the API returns the same image.
	p, err := imagetest.Build(imageDir(t), imagetest.Ref)
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.ImportArchive(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || !slices.Contains(again[0].Names, imagetest.Ref) {
		t.Errorf("ImportArchive = %+v", again)
	}
}

func TestNormalizeRef(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"busybox", "docker.io/library/busybox:latest"},
		{"nginx:1.27", "docker.io/library/nginx:1.27"},
		{"quay.io/x/y", "quay.io/x/y:latest"},
		{"cairn.local/testapp:1", "cairn.local/testapp:1"},
		{"localhost:5000/app:2", "localhost:5000/app:2"},
	} {
		got, err := NormalizeRef(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeRef(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := NormalizeRef("not a reference"); err == nil {
		t.Error("NormalizeRef accepted an invalid reference")
	}
}

// netns creates a network namespace for the test, or returns "" (the
// host's) when ip is missing.
func netns(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		return ""
	}
	name := "cairn-rt-" + randHex(4)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Logf("no network namespace (%v: %s); using the host's", err, out)
		return ""
	}
	_ = exec.Command("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up").Run()
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	return "/var/run/netns/" + name
}

func TestContainer(t *testing.T) {
	r := newRuntime(t)
	ctx := context.Background()
	ro, rw := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "x"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := podConfig(t, "app")
	cfg.Command = []string{"/testapp"}
	cfg.Args = []string{"serve", "--port", "18080"}
	cfg.Env = []string{"GREETING=hello", "PATH=/:/bin"}
	cfg.WorkingDir = "/tmp"
	cfg.Mounts = []runtime.Mount{
		{HostPath: ro, ContainerPath: "/mnt", ReadOnly: true},
		{HostPath: rw, ContainerPath: "/data"},
	}
	cfg.Resources = runtime.Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 << 20}
	cfg.NetNSPath = netns(t)
	cfg.Hostname = "web-0"
	cfg.Labels = map[string]string{"example.com/team": "a"}
	cfg.Attempt = 2
	id := createStart(t, r, cfg)

	c := waitState(t, r, id, runtime.StateRunning, 5*time.Second)
	if c.Pod != cfg.Pod || c.Name != "app" || c.Attempt != 2 || c.Image != imagetest.Ref || !strings.HasPrefix(c.ImageID, "sha256:") ||
		c.PID == 0 || c.StartedAt.IsZero() || c.CreatedAt.IsZero() || c.LogPath != cfg.LogPath || c.Labels["example.com/team"] != "a" {
		t.Errorf("status = %+v", c)
	}
	if want := cgroupParent + "/" + cfg.Pod.UID + "/" + id; c.CgroupPath != want {
		t.Errorf("CgroupPath = %q, want %q", c.CgroupPath, want)
	}
	log := waitLog(t, cfg.LogPath, "serving on :18080")
	if !strings.Contains(log, "args: serve --port 18080") {
		t.Errorf("log = %q, want the args", log)
	}

	// Limits, read back from the cgroup on the host.
	memFile, memWant := filepath.Join(cgroupRoot, "memory", c.CgroupPath, "memory.limit_in_bytes"), "67108864"
	cpuFile, cpuWant := filepath.Join(cgroupRoot, "cpu", c.CgroupPath, "cpu.cfs_quota_us"), "50000"
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		memFile = filepath.Join(cgroupRoot, c.CgroupPath, "memory.max")
		cpuFile, cpuWant = filepath.Join(cgroupRoot, c.CgroupPath, "cpu.max"), "50000 100000"
	}
	for file, want := range map[string]string{memFile: memWant, cpuFile: cpuWant} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("read cgroup: %v", err)
		} else if got := strings.TrimSpace(string(b)); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}

	exec := func(cmd ...string) (string, int) {
		t.Helper()
		out, code, err := r.Exec(ctx, id, cmd, 10*time.Second)
		if err != nil {
			t.Fatalf("Exec %q: %v", cmd, err)
		}
		return string(out), code
	}
	if out, code := exec("/testapp", "cat", "/mnt/x"); code != 0 || out != "from the host" {
		t.Errorf("cat /mnt/x = %q, %d", out, code)
	}
	if out, code := exec("/testapp", "write", "/mnt/y", "no"); code == 0 {
		t.Errorf("writing to the read-only mount succeeded: %q", out)
	}
	if out, code := exec("/testapp", "write", "/data/out", "written"); code != 0 {
		t.Errorf("write /data/out = %q, %d", out, code)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(b) != "written" {
		t.Errorf("host file = %q, %v", b, err)
	}
	if out, code := exec("/testapp", "write", "rel", "cwd"); code != 0 {
		t.Errorf("write rel = %q, %d", out, code)
	}
	if out, code := exec("/testapp", "cat", "/tmp/rel"); code != 0 || out != "cwd" {
		t.Errorf("the working dir is not /tmp: %q, %d", out, code)
	}
	out, _ := exec("/testapp", "env")
	for _, want := range []string{"GREETING=hello", "PATH=/:/bin"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("env = %q, want %s", out, want)
		}
	}
	if out, code := exec("/testapp", "get", "http://127.0.0.1:18080/"); code != 0 || strings.TrimSpace(out) != "web-0" {
		t.Errorf("GET / = %q, %d; want the hostname web-0", out, code)
	}
	if out, code := exec("/testapp", "exit", "--code", "7"); code != 7 || !strings.Contains(out, "exiting with 7") {
		t.Errorf("exit --code 7 = %q, %d", out, code)
	}

	start := time.Now()
	_, _, err := r.Exec(ctx, id, []string{"/testapp", "sleep", "30s"}, 500*time.Millisecond)
	if took := time.Since(start); err == nil || took > 5*time.Second {
		t.Errorf("Exec past its timeout = %v after %s, want an error after about 500ms", err, took)
	}
	if _, _, err := r.Exec(ctx, "absent", []string{"/testapp", "env"}, time.Second); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Exec in an absent container = %v, want ErrNotFound", err)
	}
}

func TestImageCommandRules(t *testing.T) {
	r := newRuntime(t)
	for _, tc := range []struct {
		name    string
		command []string
		args    []string
		wantLog string
	}{
		// The image's entrypoint is /testapp and its cmd "serve".
		{name: "image-defaults", wantLog: "serving on :8080"},
		{name: "args-only", args: []string{"exit", "--code", "0"}, wantLog: "exiting with 0"},
		{name: "command-only", command: []string{"/testapp", "env"}, wantLog: "PATH=/"},
		{name: "command-and-args", command: []string{"/testapp"}, args: []string{"exit", "--code", "0"}, wantLog: "exiting with 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := podConfig(t, tc.name)
			cfg.Command, cfg.Args = tc.command, tc.args
			cfg.NetNSPath = netns(t)
			id := createStart(t, r, cfg)
			waitLog(t, cfg.LogPath, tc.wantLog)
			if err := r.StopContainer(context.Background(), id, time.Second); err != nil {
				t.Fatal(err)
			}
			if err := r.RemoveContainer(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestExit(t *testing.T) {
	r := newRuntime(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, err := r.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 100)
	go func() {
		for id := range evs {
			seen <- id
		}
	}()
	id := createStart(t, r, podConfig(t, "job", "exit", "--code", "3", "--after", "200ms"))
	c := waitState(t, r, id, runtime.StateExited, 10*time.Second)
	if c.ExitCode != 3 || c.Reason != "Error" || c.FinishedAt.IsZero() || c.FinishedAt.Before(c.StartedAt) {
		t.Errorf("exited: %+v", c)
	}
	timeout := time.After(5 * time.Second)
	for n := 0; n < 2; {
		select {
		case got := <-seen:
			if got == id {
				n++ // its start and its exit
			}
		case <-timeout:
			t.Fatalf("saw %d events for %s, want its start and exit", n, id)
		}
	}

	ok := createStart(t, r, podConfig(t, "ok", "exit", "--code", "0"))
	if c := waitState(t, r, ok, runtime.StateExited, 10*time.Second); c.ExitCode != 0 || c.Reason != "Completed" {
		t.Errorf("exited: %+v", c)
	}
}

func TestStop(t *testing.T) {
	r := newRuntime(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		args     []string
		grace    time.Duration
		min, max time.Duration
		wantCode int
	}{
		{name: "ignore-term", args: []string{"ignore-term"}, grace: time.Second, min: time.Second, max: 3 * time.Second, wantCode: 137},
		{name: "serve", args: []string{"serve", "--port", "18081"}, grace: 10 * time.Second, max: 2 * time.Second, wantCode: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := podConfig(t, tc.name, tc.args...)
			cfg.NetNSPath = netns(t)
			id := createStart(t, r, cfg)
			// Let the program install its signal handling first.
			waitLog(t, cfg.LogPath, map[string]string{"ignore-term": "ignoring SIGTERM", "serve": "serving on"}[tc.name])
			start := time.Now()
			if err := r.StopContainer(ctx, id, tc.grace); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			t.Logf("StopContainer took %s", took)
			if took < tc.min || took >= tc.max {
				t.Errorf("StopContainer took %s, want [%s, %s)", took, tc.min, tc.max)
			}
			c, err := r.ContainerStatus(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if c.State != runtime.StateExited || c.ExitCode != tc.wantCode {
				t.Errorf("after stop: %s with %d, want Exited with %d", c.State, c.ExitCode, tc.wantCode)
			}
			// Stopping an exited container leaves it as it is.
			if err := r.StopContainer(ctx, id, time.Second); err != nil {
				t.Errorf("stop again: %v", err)
			}
		})
	}
}

func TestAgentRestart(t *testing.T) {
	r := newRuntime(t)
	ctx := context.Background()
	cfg := podConfig(t, "long", "sleep", "1h")
	id := createStart(t, r, cfg)
	before := waitState(t, r, id, runtime.StateRunning, 5*time.Second)

	// A second runtime on the same daemon, as a restarted agent makes.
	r2, err := New(ctx, Options{Address: env.address, Namespace: r.Namespace(), CgroupParent: cgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	cs, err := r2.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("the restarted runtime lists %d containers, want 1", len(cs))
	}
	c := cs[0]
	if c.ID != id || c.State != runtime.StateRunning || c.Pod != cfg.Pod || c.Name != cfg.Name ||
		!c.StartedAt.Equal(before.StartedAt) || c.PID != before.PID || c.LogPath != cfg.LogPath {
		t.Errorf("after restart: %+v\nbefore: %+v", c, before)
	}
	// The restarted runtime can drive it.
	if out, code, err := r2.Exec(ctx, id, []string{"/testapp", "cat", "/etc/hostname-absent"}, 5*time.Second); err != nil || code != 1 {
		t.Errorf("Exec after restart = %q, %d, %v", out, code, err)
	}
	if err := r2.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	if c, _ := r.ContainerStatus(ctx, id); c.State != runtime.StateExited {
		t.Errorf("after stop through the second runtime: %s", c.State)
	}
}

func TestRemove(t *testing.T) {
	r := newRuntime(t)
	ctx := context.Background()
	id := createStart(t, r, podConfig(t, "gone", "sleep", "1h"))
	if err := r.RemoveContainer(ctx, id); err == nil {
		t.Error("removing a running container succeeded")
	}
	if err := r.StopContainer(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	created, err := r.CreateContainer(ctx, podConfig(t, "never-started"))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r.ContainerStatus(ctx, created); err != nil || c.State != runtime.StateCreated {
		t.Errorf("created container: %+v, %v", c, err)
	}
	for _, id := range []string{id, created} {
		if err := r.RemoveContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Client().SnapshotService(r.Snapshotter()).Stat(r.nsctx(ctx), id); !errdefs.IsNotFound(err) {
			t.Errorf("snapshot %s after remove: %v, want not found", id, err)
		}
		if _, err := r.ContainerStatus(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("ContainerStatus after remove = %v, want ErrNotFound", err)
		}
		if err := r.RemoveContainer(ctx, id); err != nil {
			t.Errorf("removing again: %v", err)
		}
	}
	cs, err := r.ListContainers(ctx)
	if err != nil || len(cs) != 0 {
		t.Errorf("ListContainers after remove = %v, %v", cs, err)
	}
	if err := r.StartContainer(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("StartContainer of a removed container = %v, want ErrNotFound", err)
	}
}

// TestCreateStartLatency measures CreateContainer+StartContainer with the
// image present, against the pod-startup target (p99 <= 1s for 50 pods).
func TestCreateStartLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	r := newRuntime(t)
	ctx := context.Background()
	const n = 20
	var took []time.Duration
	for i := range n {
		cfg := podConfig(t, fmt.Sprintf("c%d", i), "sleep", "1h")
		start := time.Now()
		id := createStart(t, r, cfg)
		took = append(took, time.Since(start))
		if err := r.StopContainer(ctx, id, 0); err != nil {
			t.Fatal(err)
		}
		if err := r.RemoveContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(took)
	t.Logf("create+start of %d containers, one at a time: min %s, median %s, p90 %s, max %s",
		n, took[0].Round(time.Millisecond), took[n/2].Round(time.Millisecond), took[n*9/10].Round(time.Millisecond), took[n-1].Round(time.Millisecond))
	if took[n/2] > time.Second {
		t.Errorf("median create+start %s is over 1s", took[n/2])
	}
}

func TestOOMKilled(t *testing.T) {
	r := newRuntime(t)
	cfg := podConfig(t, "hog", "alloc", "--mb", "256")
	cfg.Resources.MemoryLimit = 32 << 20
	start := time.Now()
	id := createStart(t, r, cfg)
	c := waitState(t, r, id, runtime.StateExited, 20*time.Second)
	t.Logf("OOM-killed after %s", time.Since(start))
	if c.ExitCode != 137 || c.Reason != "OOMKilled" {
		t.Errorf("exited with %d %q, want 137 OOMKilled", c.ExitCode, c.Reason)
	}
	// A restarted agent knows it too.
	r2, err := New(context.Background(), Options{Address: env.address, Namespace: r.Namespace(), CgroupParent: cgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if c, err := r2.ContainerStatus(context.Background(), id); err != nil || c.Reason != "OOMKilled" {
		t.Errorf("after restart: %q, %v; want OOMKilled", c.Reason, err)
	}
}

// TestCreateStartConcurrent measures 50 containers created and started at
// once, as a node does when 50 pods land on it together.
func TestCreateStartConcurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	r := newRuntime(t)
	const n = 50
	took := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		cfg := podConfig(t, fmt.Sprintf("c%d", i), "sleep", "1h")
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := time.Now()
			id, err := r.CreateContainer(context.Background(), cfg)
			if err == nil {
				err = r.StartContainer(context.Background(), id)
			}
			if err != nil {
				t.Error(err)
			}
			took[i] = time.Since(s)
		}()
	}
	wg.Wait()
	total := time.Since(start)
	slices.Sort(took)
	t.Logf("create+start of %d containers at once: median %s, p99 %s, max %s, all in %s",
		n, took[n/2].Round(time.Millisecond), took[n*99/100].Round(time.Millisecond), took[n-1].Round(time.Millisecond), total.Round(time.Millisecond))
	cs, err := r.ListContainers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, c := range cs {
		if c.State == runtime.StateRunning {
			running++
		}
	}
	if running != n {
		t.Errorf("%d of %d containers are running", running, n)
	}
}
