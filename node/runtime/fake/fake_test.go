package fake

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cairn-dev/cairn/node/runtime"
	"github.com/cairn-dev/cairn/node/runtime/imagetest"
)

func config(name string, args ...string) runtime.ContainerConfig {
	return runtime.ContainerConfig{
		Pod:   runtime.PodRef{UID: "uid-1", Namespace: "default", Name: "web"},
		Name:  name,
		Image: "busybox",
		Args:  args,
	}
}

// behaviorByName gives each container the Outcome named after it.
func behaviorByName(m map[string]Outcome) func(runtime.ContainerConfig) Outcome {
	return func(cfg runtime.ContainerConfig) Outcome { return m[cfg.Name] }
}

func run(t *testing.T, r *Runtime, cfg runtime.ContainerConfig) string {
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

func waitState(t *testing.T, r *Runtime, id string, want runtime.State) runtime.Container {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := r.ContainerStatus(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State == want {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %s, want %s", id, c.State, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLifecycle(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := New(Options{Images: []string{"busybox"}, Now: func() time.Time { return now }})
	ctx := context.Background()
	cfg := config("app")
	cfg.Labels = map[string]string{"extra": "1"}
	id, err := r.CreateContainer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.ContainerStatus(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != runtime.StateCreated || !c.CreatedAt.Equal(now) {
		t.Errorf("after create: %+v", c)
	}
	for k, v := range map[string]string{
		runtime.LabelPodUID: "uid-1", runtime.LabelPodNamespace: "default", runtime.LabelPodName: "web",
		runtime.LabelContainerName: "app", runtime.LabelAttempt: "0", "extra": "1",
	} {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err == nil {
		t.Error("starting a running container succeeded")
	}
	c, _ = r.ContainerStatus(ctx, id)
	if c.State != runtime.StateRunning || c.PID == 0 || !c.StartedAt.Equal(now) {
		t.Errorf("after start: %+v", c)
	}
	if err := r.RemoveContainer(ctx, id); err == nil {
		t.Error("removing a running container succeeded")
	}
	if err := r.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	c, _ = r.ContainerStatus(ctx, id)
	if c.State != runtime.StateExited || c.ExitCode != 0 || c.Reason != "Completed" {
		t.Errorf("after stop: %+v", c)
	}
	if err := r.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ContainerStatus(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("status of a removed container: %v, want ErrNotFound", err)
	}
	if err := r.RemoveContainer(ctx, id); err != nil {
		t.Errorf("removing again: %v", err)
	}
	for name, got := range map[string][]string{"Created": r.Created(), "Started": r.Started(), "Stopped": r.Stopped(), "Removed": r.Removed()} {
		if !slices.Equal(got, []string{id}) {
			t.Errorf("%s() = %v, want [%s]", name, got, id)
		}
	}
}

func TestOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		outcome    Outcome
		stopGrace  time.Duration // <0: do not stop
		wantCode   int
		wantReason string
		minStop    time.Duration
	}{
		{name: "exits-at-once", outcome: Outcome{ExitAfter: -1, ExitCode: 0}, stopGrace: -1, wantCode: 0, wantReason: "Completed"},
		{name: "exits-later", outcome: Outcome{ExitAfter: 20 * time.Millisecond, ExitCode: 3}, stopGrace: -1, wantCode: 3, wantReason: "Error"},
		{name: "oom", outcome: Outcome{ExitAfter: time.Millisecond, ExitCode: 137, Reason: "OOMKilled"}, stopGrace: -1, wantCode: 137, wantReason: "OOMKilled"},
		{name: "obeys-term", outcome: Outcome{TermExitCode: 143}, stopGrace: time.Second, wantCode: 143, wantReason: "Error"},
		{name: "slow-term", outcome: Outcome{TermDelay: 50 * time.Millisecond}, stopGrace: time.Second, wantCode: 0, wantReason: "Completed", minStop: 50 * time.Millisecond},
		{name: "ignores-term", outcome: Outcome{IgnoreTerm: true}, stopGrace: 100 * time.Millisecond, wantCode: 137, wantReason: "Error", minStop: 100 * time.Millisecond},
		{name: "too-slow-term", outcome: Outcome{TermDelay: time.Hour}, stopGrace: 50 * time.Millisecond, wantCode: 137, wantReason: "Error", minStop: 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{
				Images:   []string{"busybox"},
				Behavior: behaviorByName(map[string]Outcome{tc.name: tc.outcome}),
			})
			id := run(t, r, config(tc.name))
			if tc.stopGrace >= 0 {
				start := time.Now()
				if err := r.StopContainer(context.Background(), id, tc.stopGrace); err != nil {
					t.Fatal(err)
				}
				if took := time.Since(start); took < tc.minStop || took > tc.minStop+time.Second {
					t.Errorf("StopContainer took %s, want about %s", took, tc.minStop)
				}
			}
			c := waitState(t, r, id, runtime.StateExited)
			if c.ExitCode != tc.wantCode || c.Reason != tc.wantReason || c.FinishedAt.IsZero() {
				t.Errorf("exited with %d %q at %s, want %d %q", c.ExitCode, c.Reason, c.FinishedAt, tc.wantCode, tc.wantReason)
			}
		})
	}
}

func TestStartError(t *testing.T) {
	r := New(Options{Images: []string{"busybox"}, Behavior: func(runtime.ContainerConfig) Outcome {
		return Outcome{StartError: errors.New("exec format error")}
	}})
	ctx := context.Background()
	id, err := r.CreateContainer(ctx, config("bad"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err == nil {
		t.Fatal("start succeeded")
	}
	c, _ := r.ContainerStatus(ctx, id)
	if c.State != runtime.StateExited || c.ExitCode != 128 {
		t.Errorf("after a failed start: %+v", c)
	}
}

func TestImages(t *testing.T) {
	var pulls []string
	r := New(Options{Images: []string{"busybox"}, Pull: func(_ context.Context, ref string) error {
		pulls = append(pulls, ref)
		if ref == "docker.io/library/broken:latest" {
			return errors.New("no such image")
		}
		return nil
	}})
	ctx := context.Background()
	for _, tc := range []struct {
		ref      string
		policy   runtime.PullPolicy
		wantErr  error // nil: success
		anyErr   bool
		wantName string
	}{
		{ref: "busybox", policy: runtime.PullNever, wantName: "docker.io/library/busybox:latest"},
		{ref: "docker.io/library/busybox", policy: runtime.PullIfNotPresent, wantName: "docker.io/library/busybox:latest"},
		{ref: "nginx:1", policy: runtime.PullNever, wantErr: runtime.ErrNotFound},
		{ref: "nginx:1", policy: runtime.PullIfNotPresent, wantName: "docker.io/library/nginx:1"},
		{ref: "nginx:1", policy: runtime.PullNever, wantName: "docker.io/library/nginx:1"},
		{ref: "broken", policy: runtime.PullAlways, anyErr: true},
	} {
		img, err := r.EnsureImage(ctx, tc.ref, tc.policy)
		switch {
		case tc.wantErr != nil || tc.anyErr:
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("EnsureImage(%s, %s) = %v, want error %v", tc.ref, tc.policy, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("EnsureImage(%s, %s): %v", tc.ref, tc.policy, err)
		case !slices.Equal(img.Names, []string{tc.wantName}) || img.ID == "":
			t.Errorf("EnsureImage(%s, %s) = %+v, want %s", tc.ref, tc.policy, img, tc.wantName)
		}
	}
	if want := []string{"docker.io/library/nginx:1", "docker.io/library/broken:latest"}; !slices.Equal(pulls, want) {
		t.Errorf("pulls = %v, want %v", pulls, want)
	}
	if got := r.Pulled(); !slices.Equal(got, []string{"docker.io/library/nginx:1"}) {
		t.Errorf("Pulled() = %v", got)
	}
	imgs, _ := r.ListImages(ctx)
	if len(imgs) != 2 {
		t.Errorf("ListImages = %+v, want busybox and nginx", imgs)
	}
	cfg := config("x")
	cfg.Image = "missing"
	if _, err := r.CreateContainer(ctx, cfg); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("create from a missing image: %v, want ErrNotFound", err)
	}
}

func TestImportArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the test image")
	}
	dir := t.TempDir()
	oci, err := imagetest.Build(dir, imagetest.Ref)
	if err != nil {
		t.Fatal(err)
	}
	docker, err := imagetest.BuildDocker(dir, "cairn.local/other:2")
	if err != nil {
		t.Fatal(err)
	}
	r := New(Options{})
	ctx := context.Background()
	for _, p := range []string{oci, docker} {
		if _, err := r.ImportArchive(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, ref := range []string{imagetest.Ref, "cairn.local/other:2"} {
		if _, err := r.EnsureImage(ctx, ref, runtime.PullNever); err != nil {
			t.Errorf("after import: %v", err)
		}
	}
}

func TestExec(t *testing.T) {
	r := New(Options{Images: []string{"busybox"}, Exec: func(c runtime.Container, cfg runtime.ContainerConfig, cmd []string) ([]byte, int, error) {
		if cmd[0] == "fail" {
			return []byte("no"), 1, nil
		}
		return []byte(cfg.Name + ":" + cmd[0]), 0, nil
	}})
	ctx := context.Background()
	id := run(t, r, config("app"))
	out, code, err := r.Exec(ctx, id, []string{"ok"}, time.Second)
	if err != nil || code != 0 || string(out) != "app:ok" {
		t.Errorf("Exec ok = %q %d %v", out, code, err)
	}
	if _, code, _ := r.Exec(ctx, id, []string{"fail"}, time.Second); code != 1 {
		t.Errorf("Exec fail code = %d, want 1", code)
	}
	if len(r.Execs()) != 2 {
		t.Errorf("Execs() = %v", r.Execs())
	}
	_ = r.StopContainer(ctx, id, 0)
	if _, _, err := r.Exec(ctx, id, []string{"ok"}, time.Second); err == nil {
		t.Error("Exec in a stopped container succeeded")
	}
}

func TestEvents(t *testing.T) {
	r := New(Options{Images: []string{"busybox"}, Behavior: func(runtime.ContainerConfig) Outcome {
		return Outcome{ExitAfter: 10 * time.Millisecond, ExitCode: 1}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, err := r.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := run(t, r, config("app"))
	waitState(t, r, id, runtime.StateExited)
	if err := r.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	// created, started, exited, removed
	for i := range 4 {
		select {
		case got := <-evs:
			if got != id {
				t.Fatalf("event %d = %s, want %s", i, got, id)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d did not arrive", i)
		}
	}
	cancel()
	for range evs {
	}
}

func TestFailHook(t *testing.T) {
	boom := errors.New("boom")
	r := New(Options{Images: []string{"busybox"}, Fail: func(op, id string) error {
		if op == "StartContainer" {
			return boom
		}
		return nil
	}})
	ctx := context.Background()
	id, err := r.CreateContainer(ctx, config("app"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); !errors.Is(err, boom) {
		t.Errorf("StartContainer = %v, want boom", err)
	}
}

func TestConcurrent(t *testing.T) {
	r := New(Options{Images: []string{"busybox"}, Behavior: func(cfg runtime.ContainerConfig) Outcome {
		if cfg.Attempt%2 == 0 {
			return Outcome{ExitAfter: time.Millisecond}
		}
		return Outcome{}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, _ := r.Events(ctx)
	go func() {
		for range evs {
		}
	}()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := config("c")
			cfg.Attempt = i
			id, err := r.CreateContainer(ctx, cfg)
			if err != nil {
				t.Error(err)
				return
			}
			if err := r.StartContainer(ctx, id); err != nil {
				t.Error(err)
			}
			if _, err := r.ListContainers(ctx); err != nil {
				t.Error(err)
			}
			if err := r.StopContainer(ctx, id, 10*time.Millisecond); err != nil {
				t.Error(err)
			}
			if err := r.RemoveContainer(ctx, id); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if cs, _ := r.ListContainers(ctx); len(cs) != 0 || len(r.Removed()) != 50 {
		t.Errorf("left %d containers, removed %d", len(cs), len(r.Removed()))
	}
}
