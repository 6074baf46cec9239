// Package fake is an in-memory runtime.Runtime for the kubelet's unit tests
// and for simulated nodes. Containers start at once and, unless a Behavior
// says otherwise, run until stopped; every state change is reported on
// Events; tests read what happened through Created, Started, Stopped,
// Removed, Execs and Pulled.
package fake

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/distribution/reference"

	"github.com/cairn-dev/cairn/node/runtime"
)

// Outcome is what a container does once started.
type Outcome struct {
	// ExitAfter is how long the container runs before exiting by itself
	// with ExitCode. Zero: it runs until stopped. Negative: it exits as
	// soon as it starts.
	ExitAfter time.Duration
	ExitCode  int
	// Reason overrides the exit reason ("OOMKilled", say); by default it is
	// "Completed" for code 0 and "Error" otherwise.
	Reason string
	// IgnoreTerm makes StopContainer wait the whole grace period and then
	// kill the container (exit code 137).
	IgnoreTerm bool
	// TermDelay is how long the container takes to exit after SIGTERM;
	// longer than the grace period, it is killed (137).
	TermDelay time.Duration
	// TermExitCode is the exit code after a SIGTERM it obeys.
	TermExitCode int
	// StartError, if set, makes StartContainer fail: the container ends
	// Exited with code 128.
	StartError error
}

// Options configure a Runtime. Every field is optional.
type Options struct {
	// Images are the references present from the start.
	Images []string
	// Behavior decides each container's Outcome from its config; nil: every
	// container runs until stopped.
	Behavior func(runtime.ContainerConfig) Outcome
	// Exec answers Exec for a running container; nil: empty output, code 0.
	Exec func(c runtime.Container, cfg runtime.ContainerConfig, cmd []string) ([]byte, int, error)
	// Pull is called when EnsureImage pulls a missing image (or with
	// PullAlways); an error fails the pull. nil: pulls succeed.
	Pull func(ctx context.Context, ref string) error
	// Fail, if set, is called at the start of every operation with its
	// name ("CreateContainer", "StartContainer", ...) and the container id
	// or image reference; an error it returns is the operation's.
	Fail func(op, id string) error
	// Now is the clock for timestamps; default time.Now.
	Now func() time.Time
	// AfterFunc schedules exits and grace periods; default time.AfterFunc.
	// It must not call f before it returns.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// Version is what Version reports; default "fake://1.0.0".
	Version string
}

// ExecCall is one call of Exec.
type ExecCall struct {
	ID  string
	Cmd []string
}

// Runtime is an in-memory runtime.Runtime, safe for concurrent use.
type Runtime struct {
	opts Options

	mu         sync.Mutex
	images     map[string]runtime.Image // by normalized reference
	containers map[string]*container
	seq        int
	pid        int
	subs       map[*subscriber]struct{}

	created, started, stopped, removed, pulled []string
	execs                                      []ExecCall
}

type container struct {
	cfg     runtime.ContainerConfig
	status  runtime.Container
	outcome Outcome
	exited  chan struct{} // closed when it exits
	cancel  func() bool   // stops the scheduled exit
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns an empty runtime holding opts.Images.
func New(opts Options) *Runtime {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AfterFunc == nil {
		opts.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if opts.Version == "" {
		opts.Version = "fake://1.0.0"
	}
	r := &Runtime{
		opts:       opts,
		images:     map[string]runtime.Image{},
		containers: map[string]*container{},
		subs:       map[*subscriber]struct{}{},
	}
	for _, ref := range opts.Images {
		r.AddImage(ref)
	}
	return r
}

// normalize names an image as docker does; a reference that does not
// parse is kept as it is.
func normalize(ref string) string {
	if named, err := reference.ParseDockerRef(ref); err == nil {
		return named.String()
	}
	return ref
}

func imageID(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// AddImage makes an image present.
func (r *Runtime) AddImage(ref string) runtime.Image {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addImageLocked(ref)
}

func (r *Runtime) addImageLocked(ref string) runtime.Image {
	name := normalize(ref)
	img, ok := r.images[name]
	if !ok {
		img = runtime.Image{ID: imageID(name), Names: []string{name}, Size: 1 << 20}
		r.images[name] = img
	}
	return img
}

// RemoveImage makes an image absent.
func (r *Runtime) RemoveImage(ref string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.images, normalize(ref))
}

func (r *Runtime) fail(op, id string) error {
	if r.opts.Fail == nil {
		return nil
	}
	if err := r.opts.Fail(op, id); err != nil {
		return fmt.Errorf("fake: %s %s: %w", op, id, err)
	}
	return nil
}

// Version implements runtime.Runtime.
func (r *Runtime) Version(ctx context.Context) (string, error) {
	if err := r.fail("Version", ""); err != nil {
		return "", err
	}
	return r.opts.Version, nil
}

// EnsureImage implements runtime.Runtime.
func (r *Runtime) EnsureImage(ctx context.Context, ref string, policy runtime.PullPolicy) (runtime.Image, error) {
	if err := r.fail("EnsureImage", ref); err != nil {
		return runtime.Image{}, err
	}
	name := normalize(ref)
	r.mu.Lock()
	img, ok := r.images[name]
	r.mu.Unlock()
	if ok && policy != runtime.PullAlways {
		return img, nil
	}
	if !ok && policy == runtime.PullNever {
		return runtime.Image{}, fmt.Errorf("fake: image %s is not present and the pull policy is Never: %w", name, runtime.ErrNotFound)
	}
	if r.opts.Pull != nil {
		if err := r.opts.Pull(ctx, name); err != nil {
			return runtime.Image{}, fmt.Errorf("fake: pull %s: %w", name, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pulled = append(r.pulled, name)
	return r.addImageLocked(name), nil
}

// ImportArchive implements runtime.Runtime: it reads the image names from
// the archive's manifest.json (docker) or index.json (OCI) and makes them
// present.
func (r *Runtime) ImportArchive(ctx context.Context, path string) ([]runtime.Image, error) {
	if err := r.fail("ImportArchive", path); err != nil {
		return nil, err
	}
	names, err := archiveNames(path)
	if err != nil {
		return nil, fmt.Errorf("fake: import %s: %w", path, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("fake: import %s: the archive names no image", path)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]runtime.Image, 0, len(names))
	for _, n := range names {
		out = append(out, r.addImageLocked(n))
	}
	return out, nil
}

// archiveNames returns the references a docker or OCI archive names.
func archiveNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		switch h.Name {
		case "manifest.json":
			var m []struct{ RepoTags []string }
			if err := json.NewDecoder(tr).Decode(&m); err != nil {
				return nil, fmt.Errorf("manifest.json: %w", err)
			}
			for _, e := range m {
				names = append(names, e.RepoTags...)
			}
		case "index.json":
			var idx struct {
				Manifests []struct{ Annotations map[string]string }
			}
			if err := json.NewDecoder(tr).Decode(&idx); err != nil {
				return nil, fmt.Errorf("index.json: %w", err)
			}
			for _, m := range idx.Manifests {
				if n := m.Annotations["io.containerd.image.name"]; n != "" {
					names = append(names, n)
				}
			}
		}
	}
}

// ListImages implements runtime.Runtime.
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	if err := r.fail("ListImages", ""); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]runtime.Image, 0, len(r.images))
	for _, img := range r.images {
		img.Names = slices.Clone(img.Names)
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Names[0] < out[j].Names[0] })
	return out, nil
}

// CreateContainer implements runtime.Runtime. The image must be present.
func (r *Runtime) CreateContainer(ctx context.Context, cfg runtime.ContainerConfig) (string, error) {
	if err := r.fail("CreateContainer", cfg.Name); err != nil {
		return "", err
	}
	if cfg.Pod.UID == "" || cfg.Name == "" {
		return "", errors.New("fake: create container: the pod uid and the container name are required")
	}
	name := normalize(cfg.Image)
	r.mu.Lock()
	img, ok := r.images[name]
	if !ok {
		r.mu.Unlock()
		return "", fmt.Errorf("fake: create container %s: image %s: %w", cfg.Name, name, runtime.ErrNotFound)
	}
	r.seq++
	sum := sha256.Sum256([]byte(strconv.Itoa(r.seq) + "/" + cfg.Pod.UID + "/" + cfg.Name))
	id := hex.EncodeToString(sum[:])
	cfg = cloneConfig(cfg)
	labels := make(map[string]string, len(cfg.Labels)+5)
	maps.Copy(labels, cfg.Labels)
	labels[runtime.LabelPodUID] = cfg.Pod.UID
	labels[runtime.LabelPodNamespace] = cfg.Pod.Namespace
	labels[runtime.LabelPodName] = cfg.Pod.Name
	labels[runtime.LabelContainerName] = cfg.Name
	labels[runtime.LabelAttempt] = strconv.Itoa(cfg.Attempt)
	r.containers[id] = &container{
		cfg: cfg,
		status: runtime.Container{
			ID:         id,
			Pod:        cfg.Pod,
			Name:       cfg.Name,
			Attempt:    cfg.Attempt,
			Image:      cfg.Image,
			ImageID:    img.ID,
			State:      runtime.StateCreated,
			CreatedAt:  r.opts.Now(),
			LogPath:    cfg.LogPath,
			CgroupPath: "/cairn/" + cfg.Pod.UID + "/" + id,
			Labels:     labels,
		},
		exited: make(chan struct{}),
	}
	r.created = append(r.created, id)
	r.notifyLocked(id)
	r.mu.Unlock()
	return id, nil
}

func cloneConfig(cfg runtime.ContainerConfig) runtime.ContainerConfig {
	cfg.Command = slices.Clone(cfg.Command)
	cfg.Args = slices.Clone(cfg.Args)
	cfg.Env = slices.Clone(cfg.Env)
	cfg.Mounts = slices.Clone(cfg.Mounts)
	cfg.Labels = maps.Clone(cfg.Labels)
	return cfg
}

// StartContainer implements runtime.Runtime.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if err := r.fail("StartContainer", id); err != nil {
		return err
	}
	r.mu.Lock()
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("fake: start %s: %w", id, runtime.ErrNotFound)
	}
	if c.status.State != runtime.StateCreated {
		r.mu.Unlock()
		return fmt.Errorf("fake: start %s: the container is %s, not created", id, c.status.State)
	}
	var out Outcome
	if r.opts.Behavior != nil {
		cfg := cloneConfig(c.cfg)
		r.mu.Unlock()
		out = r.opts.Behavior(cfg)
		r.mu.Lock()
		if c.status.State != runtime.StateCreated {
			r.mu.Unlock()
			return fmt.Errorf("fake: start %s: the container is %s, not created", id, c.status.State)
		}
	}
	defer r.mu.Unlock()
	c.outcome = out
	r.started = append(r.started, id)
	now := r.opts.Now()
	if out.StartError != nil {
		c.status.State = runtime.StateExited
		c.status.ExitCode = 128
		c.status.Reason = "Error"
		c.status.FinishedAt = now
		close(c.exited)
		r.notifyLocked(id)
		return fmt.Errorf("fake: start %s: %w", id, out.StartError)
	}
	r.pid++
	c.status.State = runtime.StateRunning
	c.status.PID = 1000 + r.pid
	c.status.StartedAt = now
	r.notifyLocked(id)
	switch {
	case out.ExitAfter < 0:
		r.exitLocked(c, out.ExitCode, out.Reason)
	case out.ExitAfter > 0:
		c.cancel = r.opts.AfterFunc(out.ExitAfter, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.exitLocked(c, out.ExitCode, out.Reason)
		})
	}
	return nil
}

// exitLocked makes a running container exit; an exited one stays as it is.
func (r *Runtime) exitLocked(c *container, code int, reason string) {
	if c.status.State != runtime.StateRunning {
		return
	}
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	if reason == "" {
		reason = "Completed"
		if code != 0 {
			reason = "Error"
		}
	}
	c.status.State = runtime.StateExited
	c.status.PID = 0
	c.status.ExitCode = code
	c.status.Reason = reason
	c.status.FinishedAt = r.opts.Now()
	close(c.exited)
	r.notifyLocked(c.status.ID)
}

// Exit makes a running container exit now with code (reason "" picks
// Completed or Error), as a crash would.
func (r *Runtime) Exit(id string, code int, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("fake: exit %s: %w", id, runtime.ErrNotFound)
	}
	r.exitLocked(c, code, reason)
	return nil
}

// StopContainer implements runtime.Runtime. It blocks for as long as the
// container's Outcome takes to obey SIGTERM, at most grace.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	if err := r.fail("StopContainer", id); err != nil {
		return err
	}
	r.mu.Lock()
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("fake: stop %s: %w", id, runtime.ErrNotFound)
	}
	if c.status.State != runtime.StateRunning {
		r.mu.Unlock()
		return nil
	}
	r.stopped = append(r.stopped, id)
	out := c.outcome
	obeys := !out.IgnoreTerm && out.TermDelay <= grace
	if obeys && out.TermDelay <= 0 {
		r.exitLocked(c, out.TermExitCode, "")
		r.mu.Unlock()
		return nil
	}
	wait, code := grace, 137
	if obeys {
		wait, code = out.TermDelay, out.TermExitCode
	}
	exited := c.exited
	r.mu.Unlock()

	elapsed := make(chan struct{})
	cancel := r.opts.AfterFunc(wait, func() { close(elapsed) })
	defer cancel()
	select {
	case <-exited:
		return nil
	case <-elapsed:
	case <-ctx.Done():
		return fmt.Errorf("fake: stop %s: %w", id, ctx.Err())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exitLocked(c, code, "")
	return nil
}

// RemoveContainer implements runtime.Runtime. Removing a container that
// does not exist is not an error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if err := r.fail("RemoveContainer", id); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil
	}
	if c.status.State == runtime.StateRunning {
		return fmt.Errorf("fake: remove %s: the container is running", id)
	}
	delete(r.containers, id)
	r.removed = append(r.removed, id)
	r.notifyLocked(id)
	return nil
}

// ListContainers implements runtime.Runtime, oldest first.
func (r *Runtime) ListContainers(ctx context.Context) ([]runtime.Container, error) {
	if err := r.fail("ListContainers", ""); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]runtime.Container, 0, len(r.containers))
	for _, c := range r.containers {
		out = append(out, c.snapshot())
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (c *container) snapshot() runtime.Container {
	s := c.status
	s.Labels = maps.Clone(s.Labels)
	return s
}

// ContainerStatus implements runtime.Runtime.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (runtime.Container, error) {
	if err := r.fail("ContainerStatus", id); err != nil {
		return runtime.Container{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return runtime.Container{}, fmt.Errorf("fake: container %s: %w", id, runtime.ErrNotFound)
	}
	return c.snapshot(), nil
}

// Exec implements runtime.Runtime with Options.Exec.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int, error) {
	if err := r.fail("Exec", id); err != nil {
		return nil, -1, err
	}
	r.mu.Lock()
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return nil, -1, fmt.Errorf("fake: exec in %s: %w", id, runtime.ErrNotFound)
	}
	if c.status.State != runtime.StateRunning {
		r.mu.Unlock()
		return nil, -1, fmt.Errorf("fake: exec in %s: the container is not running", id)
	}
	r.execs = append(r.execs, ExecCall{ID: id, Cmd: slices.Clone(cmd)})
	snap, cfg := c.snapshot(), cloneConfig(c.cfg)
	r.mu.Unlock()
	if r.opts.Exec == nil {
		return nil, 0, nil
	}
	return r.opts.Exec(snap, cfg, slices.Clone(cmd))
}

// Config returns the config a container was created with.
func (r *Runtime) Config(id string) (runtime.ContainerConfig, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return runtime.ContainerConfig{}, false
	}
	return cloneConfig(c.cfg), true
}

// Created lists the IDs of the containers created, in order.
func (r *Runtime) Created() []string { return r.list(&r.created) }

// Started lists the IDs of the containers started, in order.
func (r *Runtime) Started() []string { return r.list(&r.started) }

// Stopped lists the IDs of the running containers StopContainer was
// called on, in order.
func (r *Runtime) Stopped() []string { return r.list(&r.stopped) }

// Removed lists the IDs of the containers removed, in order.
func (r *Runtime) Removed() []string { return r.list(&r.removed) }

// Pulled lists the references pulled, in order.
func (r *Runtime) Pulled() []string { return r.list(&r.pulled) }

// Execs lists the Exec calls on running containers, in order.
func (r *Runtime) Execs() []ExecCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ExecCall, len(r.execs))
	for i, e := range r.execs {
		out[i] = ExecCall{ID: e.ID, Cmd: slices.Clone(e.Cmd)}
	}
	return out
}

// Running counts the running containers.
func (r *Runtime) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.containers {
		if c.status.State == runtime.StateRunning {
			n++
		}
	}
	return n
}

func (r *Runtime) list(l *[]string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(*l)
}

// Events implements runtime.Runtime. Each subscriber gets every event, in
// order, however slowly it reads.
func (r *Runtime) Events(ctx context.Context) (<-chan string, error) {
	if err := r.fail("Events", ""); err != nil {
		return nil, err
	}
	s := &subscriber{wake: make(chan struct{}, 1)}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	out := make(chan string)
	go func() {
		defer close(out)
		defer func() {
			r.mu.Lock()
			delete(r.subs, s)
			r.mu.Unlock()
		}()
		for {
			id, ok := s.pop()
			if !ok {
				select {
				case <-s.wake:
					continue
				case <-ctx.Done():
					return
				}
			}
			select {
			case out <- id:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func (r *Runtime) notifyLocked(id string) {
	for s := range r.subs {
		s.push(id)
	}
}

// subscriber queues events for one Events channel.
type subscriber struct {
	mu    sync.Mutex
	queue []string
	wake  chan struct{}
}

func (s *subscriber) push(id string) {
	s.mu.Lock()
	s.queue = append(s.queue, id)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) pop() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return "", false
	}
	id := s.queue[0]
	s.queue = s.queue[1:]
	return id, true
}
