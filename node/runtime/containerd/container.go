package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cairn-dev/cairn/node/runtime"
)

// labelImageID keeps the image digest a container was created from.
const labelImageID = "io.cairn.image-id"

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// CreateContainer implements runtime.Runtime.
func (r *Runtime) CreateContainer(ctx context.Context, cfg runtime.ContainerConfig) (string, error) {
	ctx = r.nsctx(ctx)
	if cfg.Pod.UID == "" || cfg.Name == "" {
		return "", errors.New("containerd: create container: the pod uid and the container name are required")
	}
	name, err := NormalizeRef(cfg.Image)
	if err != nil {
		return "", err
	}
	img, err := r.client.GetImage(ctx, name)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return "", fmt.Errorf("containerd: create container %s: image %s: %w", cfg.Name, name, runtime.ErrNotFound)
		}
		return "", fmt.Errorf("containerd: create container %s: image %s: %w", cfg.Name, name, err)
	}
	if err := r.unpack(ctx, img); err != nil {
		return "", err
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	if cfg.LogPath != "" {
		if !filepath.IsAbs(cfg.LogPath) {
			return "", fmt.Errorf("containerd: create container %s: log path %q is not absolute", cfg.Name, cfg.LogPath)
		}
		if err := os.MkdirAll(filepath.Dir(cfg.LogPath), 0o755); err != nil {
			return "", fmt.Errorf("containerd: create container %s: %w", cfg.Name, err)
		}
	}
	cgroupPath := path.Join(r.cgroupParent, cfg.Pod.UID, id)

	labels := make(map[string]string, len(cfg.Labels)+9)
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	labels[runtime.LabelPodUID] = cfg.Pod.UID
	labels[runtime.LabelPodNamespace] = cfg.Pod.Namespace
	labels[runtime.LabelPodName] = cfg.Pod.Name
	labels[runtime.LabelContainerName] = cfg.Name
	labels[runtime.LabelAttempt] = strconv.Itoa(cfg.Attempt)
	labels[labelImage] = cfg.Image
	labels[labelImageID] = img.Target().Digest.String()
	labels[labelCgroupPath] = cgroupPath
	if cfg.LogPath != "" {
		labels[labelLogPath] = cfg.LogPath
	}

	_, err = r.client.NewContainer(ctx, id,
		ctrd.WithImage(img),
		ctrd.WithSnapshotter(r.snapshotter),
		ctrd.WithNewSnapshot(id, img),
		ctrd.WithNewSpec(specOpts(img, cfg, cgroupPath)...),
		ctrd.WithContainerLabels(labels),
	)
	if err != nil {
		return "", fmt.Errorf("containerd: create container %s of pod %s/%s: %w", cfg.Name, cfg.Pod.Namespace, cfg.Pod.Name, err)
	}
	return id, nil
}

// specOpts builds the container's OCI spec from the image's config and
// cfg, following Kubernetes' rules for command and args.
func specOpts(img ctrd.Image, cfg runtime.ContainerConfig, cgroupPath string) []oci.SpecOpts {
	opts := []oci.SpecOpts{oci.WithImageConfig(img)}
	switch {
	case len(cfg.Command) > 0:
		opts = append(opts, oci.WithProcessArgs(append(append([]string{}, cfg.Command...), cfg.Args...)...))
	case len(cfg.Args) > 0:
		opts = append(opts, oci.WithImageConfigArgs(img, cfg.Args))
	}
	if len(cfg.Env) > 0 {
		opts = append(opts, oci.WithEnv(cfg.Env))
	}
	if cfg.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(cfg.WorkingDir))
	}
	if len(cfg.Mounts) > 0 {
		mounts := make([]specs.Mount, 0, len(cfg.Mounts))
		for _, m := range cfg.Mounts {
			o := []string{"rbind", "rprivate"}
			if m.ReadOnly {
				o = append(o, "ro")
			} else {
				o = append(o, "rw")
			}
			mounts = append(mounts, specs.Mount{Destination: m.ContainerPath, Type: "bind", Source: m.HostPath, Options: o})
		}
		opts = append(opts, oci.WithMounts(mounts))
	}
	if cfg.NetNSPath != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: cfg.NetNSPath}))
	} else {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	}
	if cfg.Hostname != "" {
		opts = append(opts, oci.WithHostname(cfg.Hostname))
	}
	res := cfg.Resources
	if res.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(res.CPUShares))
	}
	if res.CPUQuota > 0 {
		period := res.CPUPeriod
		if period == 0 {
			period = 100000
		}
		opts = append(opts, oci.WithCPUCFS(res.CPUQuota, period))
	}
	if res.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(res.MemoryLimit)))
		if swapAccounted() {
			// No swap beyond the limit, as Kubernetes does.
			opts = append(opts, oci.WithMemorySwap(res.MemoryLimit))
		}
	}
	opts = append(opts, oci.WithCgroup(cgroupPath))
	return opts
}

// swapAccounted reports whether the memory cgroup (v1) limits swap, so
// that a memory limit can also bound memory plus swap.
func swapAccounted() bool {
	_, err := os.Stat(filepath.Join(cgroupRoot, "memory", "memory.memsw.limit_in_bytes"))
	return err == nil
}

// StartContainer implements runtime.Runtime. The container's stdout and
// stderr go to its log path, written by containerd's shim, so they keep
// flowing while the agent is down.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	ctx = r.nsctx(ctx)
	c, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("containerd: start %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	switch {
	case err == nil:
		st, err := task.Status(ctx)
		if err != nil {
			return fmt.Errorf("containerd: start %s: %w", id, err)
		}
		if st.Status != ctrd.Created {
			return fmt.Errorf("containerd: start %s: the container is %s, not created", id, st.Status)
		}
	case errdefs.IsNotFound(err):
		creator := cio.NullIO
		if p := labels[labelLogPath]; p != "" {
			creator = cio.LogFile(p)
		}
		task, err = c.NewTask(ctx, creator)
		if err != nil {
			return fmt.Errorf("containerd: start %s: create task: %w", id, err)
		}
	default:
		return fmt.Errorf("containerd: start %s: %w", id, err)
	}
	if err := task.Start(ctx); err != nil {
		if _, derr := task.Delete(ctx, ctrd.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) {
			r.log.Warn("delete task that failed to start", "container", id, "err", derr)
		}
		return fmt.Errorf("containerd: start %s: %w", id, err)
	}
	if _, err := c.SetLabels(ctx, map[string]string{labelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
		return fmt.Errorf("containerd: start %s: record start time: %w", id, err)
	}
	return nil
}

// StopContainer implements runtime.Runtime.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.nsctx(ctx)
	c, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("containerd: stop %s: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("containerd: stop %s: %w", id, err)
	}
	switch st.Status {
	case ctrd.Running, ctrd.Paused, ctrd.Pausing:
	default:
		return nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, err := task.Wait(wctx)
	if err != nil {
		return fmt.Errorf("containerd: stop %s: wait: %w", id, err)
	}
	if grace > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("containerd: stop %s: SIGTERM: %w", id, err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exited:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("containerd: stop %s: %w", id, ctx.Err())
		case <-timer.C:
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, ctrd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("containerd: stop %s: SIGKILL: %w", id, err)
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("containerd: stop %s: wait after SIGKILL: %w", id, ctx.Err())
	}
}

// RemoveContainer implements runtime.Runtime. Removing a container that
// does not exist is not an error, so that removal can be retried.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.nsctx(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("containerd: remove %s: %w", id, err)
	}
	labels, err := c.Labels(ctx)
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("containerd: remove %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	switch {
	case err == nil:
		st, err := task.Status(ctx)
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("containerd: remove %s: %w", id, err)
		}
		switch st.Status {
		case ctrd.Running, ctrd.Paused, ctrd.Pausing:
			return fmt.Errorf("containerd: remove %s: the container is running", id)
		}
		if _, err := task.Delete(ctx, ctrd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("containerd: remove %s: delete task: %w", id, err)
		}
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("containerd: remove %s: %w", id, err)
	}
	if err := c.Delete(ctx, ctrd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("containerd: remove %s: %w", id, err)
	}
	r.mu.Lock()
	delete(r.oom, id)
	r.mu.Unlock()
	if cg := labels[labelCgroupPath]; cg != "" {
		removeCgroup(path.Dir(cg))
	}
	return nil
}

// removeCgroup removes the pod's cgroup in every hierarchy once it is
// empty; a cgroup still in use stays.
func removeCgroup(cg string) {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		_ = os.Remove(filepath.Join(cgroupRoot, cg))
		return
	}
	hier, _ := os.ReadDir(cgroupRoot)
	for _, h := range hier {
		_ = os.Remove(filepath.Join(cgroupRoot, h.Name(), cg))
	}
}

// ListContainers implements runtime.Runtime.
func (r *Runtime) ListContainers(ctx context.Context) ([]runtime.Container, error) {
	ctx = r.nsctx(ctx)
	cs, err := r.client.ContainerService().List(ctx, fmt.Sprintf("labels.%q", runtime.LabelPodUID))
	if err != nil {
		return nil, fmt.Errorf("containerd: list containers: %w", err)
	}
	resp, err := r.client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("containerd: list tasks: %w", errgrpc.ToNative(err))
	}
	tasks := make(map[string]*tasktypes.Process, len(resp.Tasks))
	for _, t := range resp.Tasks {
		// containerd 1.6 leaves ContainerID empty here: a task's ID is its
		// container's.
		id := t.ContainerID
		if id == "" {
			id = t.ID
		}
		tasks[id] = t
	}
	out := make([]runtime.Container, 0, len(cs))
	for _, c := range cs {
		out = append(out, r.toContainer(c, tasks[c.ID]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// ContainerStatus implements runtime.Runtime.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (runtime.Container, error) {
	ctx = r.nsctx(ctx)
	c, err := r.client.ContainerService().Get(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return runtime.Container{}, fmt.Errorf("containerd: container %s: %w", id, runtime.ErrNotFound)
		}
		return runtime.Container{}, fmt.Errorf("containerd: container %s: %w", id, err)
	}
	if _, ok := c.Labels[runtime.LabelPodUID]; !ok {
		return runtime.Container{}, fmt.Errorf("containerd: container %s is not cairn's: %w", id, runtime.ErrNotFound)
	}
	var proc *tasktypes.Process
	resp, err := r.client.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: id})
	switch err = errgrpc.ToNative(err); {
	case err == nil:
		proc = resp.Process
	case !errdefs.IsNotFound(err):
		return runtime.Container{}, fmt.Errorf("containerd: task of %s: %w", id, err)
	}
	return r.toContainer(c, proc), nil
}

// toContainer reports container c whose task is p (nil: no task).
func (r *Runtime) toContainer(c containers.Container, p *tasktypes.Process) runtime.Container {
	l := c.Labels
	out := runtime.Container{
		ID: c.ID,
		Pod: runtime.PodRef{
			UID:       l[runtime.LabelPodUID],
			Namespace: l[runtime.LabelPodNamespace],
			Name:      l[runtime.LabelPodName],
		},
		Name:       l[runtime.LabelContainerName],
		Image:      l[labelImage],
		ImageID:    l[labelImageID],
		CreatedAt:  c.CreatedAt,
		LogPath:    l[labelLogPath],
		CgroupPath: l[labelCgroupPath],
		Labels:     make(map[string]string, len(l)),
	}
	for k, v := range l {
		out.Labels[k] = v
	}
	out.Attempt, _ = strconv.Atoi(l[runtime.LabelAttempt])
	if out.Image == "" {
		out.Image = c.Image
	}
	if s := l[labelStartedAt]; s != "" {
		out.StartedAt, _ = time.Parse(time.RFC3339Nano, s)
	}
	switch {
	case p == nil && out.StartedAt.IsZero():
		out.State = runtime.StateCreated
	case p == nil:
		// Started, but its task is gone: its exit status is lost.
		out.State = runtime.StateExited
		out.ExitCode = 255
		out.Reason = "Error"
	default:
		switch p.Status {
		case tasktypes.Status_CREATED:
			out.State = runtime.StateCreated
		case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
			out.State = runtime.StateRunning
			out.PID = int(p.Pid)
		case tasktypes.Status_STOPPED:
			out.State = runtime.StateExited
			out.ExitCode = int(p.ExitStatus)
			if p.ExitedAt != nil {
				out.FinishedAt = p.ExitedAt.AsTime()
			}
			out.Reason = r.exitReason(c.ID, l, out.ExitCode, out.CgroupPath)
		default:
			out.State = runtime.StateUnknown
		}
	}
	return out
}

// exitReason tells why an exited container ended: OOMKilled when
// containerd reported an OOM kill for it or its memory cgroup counted one,
// else Completed or Error by exit code.
func (r *Runtime) exitReason(id string, labels map[string]string, code int, cgroupPath string) string {
	r.mu.Lock()
	oom := r.oom[id]
	r.mu.Unlock()
	if oom || labels[labelOOM] == "true" || (code == 137 && cgroupOOMKilled(cgroupPath)) {
		return "OOMKilled"
	}
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

// cgroupOOMKilled reads the container's memory cgroup (which outlives the
// process until its task is deleted) for an OOM kill.
func cgroupOOMKilled(cg string) bool {
	if cg == "" {
		return false
	}
	file, key := filepath.Join(cgroupRoot, "memory", cg, "memory.oom_control"), "oom_kill"
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		file = filepath.Join(cgroupRoot, cg, "memory.events")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == key {
			n, _ := strconv.Atoi(f[1])
			return n > 0
		}
	}
	return false
}

// load loads a container cairn manages, or fails wrapping ErrNotFound.
func (r *Runtime) load(ctx context.Context, id string) (ctrd.Container, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("containerd: container %s: %w", id, runtime.ErrNotFound)
		}
		return nil, fmt.Errorf("containerd: container %s: %w", id, err)
	}
	return c, nil
}

// newID returns a container id like Kubernetes': 64 hex digits.
func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("containerd: container id: %w", err)
	}
	return hex.EncodeToString(b), nil
}
