// Package containerd is cairn's container runtime on a containerd daemon:
// images imported from archives or pulled, containers run by runc through
// containerd's shims, each carrying the labels that name its pod so that a
// restarted agent finds what is running.
package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	ctrd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"github.com/cairn-dev/cairn/node/runtime"
)

// Labels the runtime keeps on containers besides runtime's pod labels.
const (
	labelImage      = "io.cairn.image"
	labelLogPath    = "io.cairn.log-path"
	labelCgroupPath = "io.cairn.cgroup-path"
	labelStartedAt  = "io.cairn.started-at"
	labelOOM        = "io.cairn.oom-killed"
)

// Options configure a Runtime.
type Options struct {
	// Address is containerd's socket.
	Address string
	// Namespace is the containerd namespace cairn's containers and images
	// live in; default "cairn".
	Namespace string
	// Snapshotter unpacks images and holds root filesystems; default
	// overlayfs, or native where overlayfs is unavailable.
	Snapshotter string
	// ImageDir, when set, holds image archives (*.tar) that New imports.
	ImageDir string
	// CgroupParent is the cgroup under which every pod gets its own;
	// default "/cairn".
	CgroupParent string
	// Logger receives the runtime's logs; default slog.Default().
	Logger *slog.Logger
}

// Runtime is a runtime.Runtime on containerd.
type Runtime struct {
	client       *ctrd.Client
	ns           string
	snapshotter  string
	cgroupParent string
	log          *slog.Logger

	stop context.CancelFunc
	done chan struct{}

	mu  sync.Mutex
	oom map[string]bool // container IDs containerd reported an OOM kill for
}

var _ runtime.Runtime = (*Runtime)(nil)

// New connects to containerd, picks the snapshotter, imports the archives
// of opts.ImageDir and starts watching for OOM kills. Close releases it.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	if opts.Address == "" {
		return nil, errors.New("containerd: no address")
	}
	if opts.Namespace == "" {
		opts.Namespace = "cairn"
	}
	if opts.CgroupParent == "" {
		opts.CgroupParent = "/cairn"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	client, err := ctrd.New(opts.Address, ctrd.WithDefaultNamespace(opts.Namespace), ctrd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("containerd: connect %s: %w", opts.Address, err)
	}
	r := &Runtime{
		client:       client,
		ns:           opts.Namespace,
		cgroupParent: "/" + strings.Trim(opts.CgroupParent, "/"),
		log:          opts.Logger,
		oom:          map[string]bool{},
	}
	ctx = r.nsctx(ctx)
	if _, err := client.Version(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("containerd: version from %s: %w", opts.Address, err)
	}
	r.snapshotter, err = r.pickSnapshotter(ctx, opts.Snapshotter)
	if err != nil {
		client.Close()
		return nil, err
	}

	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop, r.done = stop, make(chan struct{})
	ready := make(chan struct{})
	go r.watchOOM(wctx, ready)
	<-ready

	if opts.ImageDir != "" {
		if err := r.importDir(ctx, opts.ImageDir); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// Close stops the runtime's background work and closes its connection. It
// leaves containers running.
func (r *Runtime) Close() error {
	r.stop()
	<-r.done
	return r.client.Close()
}

// Snapshotter names the snapshotter in use.
func (r *Runtime) Snapshotter() string { return r.snapshotter }

// Namespace names the containerd namespace in use.
func (r *Runtime) Namespace() string { return r.ns }

// Client is the underlying containerd client, for tests and diagnostics.
func (r *Runtime) Client() *ctrd.Client { return r.client }

func (r *Runtime) nsctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.ns)
}

// pickSnapshotter returns want if set, else overlayfs when containerd
// loaded it, else native.
func (r *Runtime) pickSnapshotter(ctx context.Context, want string) (string, error) {
	if want != "" {
		return want, nil
	}
	resp, err := r.client.IntrospectionService().Plugins(ctx, `type=="io.containerd.snapshotter.v1"`)
	if err != nil {
		return "", fmt.Errorf("containerd: list snapshotters: %w", err)
	}
	usable := map[string]bool{}
	for _, p := range resp.Plugins {
		usable[p.ID] = p.InitErr == nil
	}
	for _, name := range []string{"overlayfs", "native"} {
		if usable[name] {
			return name, nil
		}
	}
	return "", errors.New("containerd: neither the overlayfs nor the native snapshotter is available")
}

// Version implements runtime.Runtime.
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.client.Version(r.nsctx(ctx))
	if err != nil {
		return "", fmt.Errorf("containerd: version: %w", err)
	}
	return "containerd://" + strings.TrimPrefix(v.Version, "v"), nil
}

// NormalizeRef names an image the way docker does: "busybox" is
// "docker.io/library/busybox:latest".
func NormalizeRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("containerd: image reference %q: %w", ref, err)
	}
	return named.String(), nil
}

// EnsureImage implements runtime.Runtime.
func (r *Runtime) EnsureImage(ctx context.Context, ref string, policy runtime.PullPolicy) (runtime.Image, error) {
	ctx = r.nsctx(ctx)
	name, err := NormalizeRef(ref)
	if err != nil {
		return runtime.Image{}, err
	}
	if policy != runtime.PullAlways {
		img, err := r.client.GetImage(ctx, name)
		switch {
		case err == nil:
			if err := r.unpack(ctx, img); err != nil {
				return runtime.Image{}, err
			}
			return r.toImage(ctx, img.Metadata(), []string{name}), nil
		case !errdefs.IsNotFound(err):
			return runtime.Image{}, fmt.Errorf("containerd: image %s: %w", name, err)
		case policy == runtime.PullNever:
			return runtime.Image{}, fmt.Errorf("containerd: image %s is not present and the pull policy is Never: %w", name, runtime.ErrNotFound)
		}
	}
	start := time.Now()
	img, err := r.client.Pull(ctx, name, ctrd.WithPullUnpack, ctrd.WithPullSnapshotter(r.snapshotter))
	if err != nil {
		return runtime.Image{}, fmt.Errorf("containerd: pull %s: %w", name, err)
	}
	r.log.Info("pulled image", "image", name, "digest", img.Target().Digest, "took", time.Since(start))
	return r.toImage(ctx, img.Metadata(), []string{name}), nil
}

// unpack unpacks img into the snapshotter unless it already is.
func (r *Runtime) unpack(ctx context.Context, img ctrd.Image) error {
	ok, err := img.IsUnpacked(ctx, r.snapshotter)
	if err != nil {
		return fmt.Errorf("containerd: image %s: %w", img.Name(), err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, r.snapshotter); err != nil {
		return fmt.Errorf("containerd: unpack %s: %w", img.Name(), err)
	}
	return nil
}

// ImportArchive implements runtime.Runtime.
func (r *Runtime) ImportArchive(ctx context.Context, path string) ([]runtime.Image, error) {
	ctx = r.nsctx(ctx)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("containerd: import: %w", err)
	}
	defer f.Close()
	imgs, err := r.client.Import(ctx, f, ctrd.WithImageRefTranslator(func(name string) string {
		// An OCI layout's ref.name is often a bare tag; only full
		// references name an image.
		if !strings.Contains(name, "/") {
			return ""
		}
		if n, err := NormalizeRef(name); err == nil {
			return n
		}
		return ""
	}))
	if err != nil {
		return nil, fmt.Errorf("containerd: import %s: %w", path, err)
	}
	byDigest := map[string]*runtime.Image{}
	var out []runtime.Image
	for _, m := range imgs {
		img := ctrd.NewImage(r.client, m)
		if err := r.unpack(ctx, img); err != nil {
			return nil, fmt.Errorf("containerd: import %s: %w", path, err)
		}
		d := m.Target.Digest.String()
		if prev := byDigest[d]; prev != nil {
			prev.Names = append(prev.Names, m.Name)
			continue
		}
		out = append(out, r.toImage(ctx, m, []string{m.Name}))
		byDigest[d] = &out[len(out)-1]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("containerd: import %s: the archive names no image", path)
	}
	return out, nil
}

// importDir imports every *.tar archive in dir.
func (r *Runtime) importDir(ctx context.Context, dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		return fmt.Errorf("containerd: image dir %s: %w", dir, err)
	}
	for _, p := range paths {
		start := time.Now()
		imgs, err := r.ImportArchive(ctx, p)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			r.log.Info("imported image", "archive", p, "names", img.Names, "id", img.ID, "took", time.Since(start))
		}
	}
	return nil
}

// ListImages implements runtime.Runtime. Images are grouped by target
// digest, so one image with several references is listed once.
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	ctx = r.nsctx(ctx)
	imgs, err := r.client.ImageService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("containerd: list images: %w", err)
	}
	byDigest := map[string]int{}
	var out []runtime.Image
	for _, m := range imgs {
		d := m.Target.Digest.String()
		if i, ok := byDigest[d]; ok {
			out[i].Names = append(out[i].Names, m.Name)
			continue
		}
		byDigest[d] = len(out)
		out = append(out, r.toImage(ctx, m, []string{m.Name}))
	}
	for i := range out {
		sort.Strings(out[i].Names)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Names[0] < out[j].Names[0] })
	return out, nil
}

func (r *Runtime) toImage(ctx context.Context, m images.Image, names []string) runtime.Image {
	img := runtime.Image{ID: m.Target.Digest.String(), Names: names}
	if size, err := ctrd.NewImage(r.client, m).Size(ctx); err == nil {
		img.Size = size
	} else {
		img.Size = m.Target.Size
	}
	return img
}
