// Package runtime is the node agent's container runtime: a small interface
// the kubelet drives, with two implementations, containerd (real containers
// under runc) and fake (in memory, for tests and simulated nodes).
//
// The kubelet resolves everything Kubernetes-specific (env values, volume
// paths, resource limits, log paths) and hands the runtime a plain
// ContainerConfig; the runtime knows nothing of the API. Every container
// carries labels naming its pod (uid, namespace, name) and its container
// name and attempt, so a restarted agent finds what is running with
// ListContainers and adopts it instead of starting a duplicate.
package runtime

import (
	"context"
	"errors"
	"time"
)

// Label keys set on every container, so that ListContainers can map a
// container back to its pod after an agent restart.
const (
	LabelPodUID        = "io.cairn.pod.uid"
	LabelPodNamespace  = "io.cairn.pod.namespace"
	LabelPodName       = "io.cairn.pod.name"
	LabelContainerName = "io.cairn.container.name"
	LabelAttempt       = "io.cairn.container.attempt"
)

// ErrNotFound is returned (wrapped) for a container or image that does not
// exist.
var ErrNotFound = errors.New("runtime: not found")

// PodRef names the pod a container belongs to.
type PodRef struct {
	UID       string
	Namespace string
	Name      string
}

// Mount is a bind mount of a host path into a container.
type Mount struct {
	HostPath      string
	ContainerPath string
	ReadOnly      bool
}

// Resources are a container's cgroup limits, already converted from the
// pod spec by the kubelet (as Kubernetes does: shares from the cpu request,
// quota from the cpu limit over a 100ms period). Zero means unset.
type Resources struct {
	CPUShares   uint64
	CPUQuota    int64
	CPUPeriod   uint64
	MemoryLimit int64
}

// ContainerConfig is everything a runtime needs to create one container.
type ContainerConfig struct {
	Pod     PodRef
	Name    string // the container's name in the pod spec
	Attempt int    // 0 for the first start, then the restart count

	Image string // reference as the pod spec names it
	// Command and Args follow Kubernetes' rules: an empty Command means the
	// image's entrypoint; an empty Args with an empty Command means the
	// image's cmd; an empty Args with a Command means no arguments.
	Command    []string
	Args       []string
	Env        []string // KEY=VALUE, appended to the image's env
	WorkingDir string   // empty: the image's
	Mounts     []Mount
	Resources  Resources

	// NetNSPath is the pod's network namespace; empty means the host's.
	NetNSPath string
	Hostname  string
	// LogPath receives the container's stdout and stderr.
	LogPath string
	// Labels are added to the runtime's own labels.
	Labels map[string]string
}

// State is a container's lifecycle state.
type State string

// Container states.
const (
	StateCreated State = "Created"
	StateRunning State = "Running"
	StateExited  State = "Exited"
	StateUnknown State = "Unknown"
)

// Container is what the runtime reports about one container.
type Container struct {
	ID      string
	Pod     PodRef
	Name    string
	Attempt int
	Image   string // the reference it was created from
	ImageID string // the image's digest, "sha256:..."

	State      State
	PID        int
	ExitCode   int
	Reason     string // "Completed", "Error", "OOMKilled" for exited ones
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	LogPath    string
	// CgroupPath is the container's cgroup path relative to each
	// hierarchy's root (cgroup v1) or to /sys/fs/cgroup (v2).
	CgroupPath string
	Labels     map[string]string
}

// Image is one image the runtime holds.
type Image struct {
	ID    string   // digest of the image's config or manifest, "sha256:..."
	Names []string // references
	Size  int64
}

// PullPolicy mirrors the pod spec's imagePullPolicy.
type PullPolicy string

// Pull policies.
const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// Runtime runs containers. Implementations are safe for concurrent use.
type Runtime interface {
	// Version names the runtime and its version, for nodeInfo's
	// containerRuntimeVersion ("containerd://1.6.20").
	Version(ctx context.Context) (string, error)

	// EnsureImage makes the image present according to policy and returns
	// it. With PullNever a missing image is an error wrapping ErrNotFound.
	EnsureImage(ctx context.Context, ref string, policy PullPolicy) (Image, error)
	// ImportArchive imports every image of an OCI or docker archive (a
	// tar file, as `docker save` or an OCI image layout writes) and returns
	// them.
	ImportArchive(ctx context.Context, path string) ([]Image, error)
	// ListImages lists the images present, for the node's status.images.
	ListImages(ctx context.Context) ([]Image, error)

	// CreateContainer creates a container and returns its ID; it does not
	// start it.
	CreateContainer(ctx context.Context, cfg ContainerConfig) (string, error)
	// StartContainer starts a created container.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends SIGTERM, waits up to grace for the container to
	// exit, then sends SIGKILL and waits for it. A container that is not
	// running is left as it is.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer removes a container that is not running, and its
	// runtime state (not its log file). Removing a container that does not
	// exist is not an error, so that a removal can be retried.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers lists every container this runtime manages (those
	// carrying LabelPodUID), in any state.
	ListContainers(ctx context.Context) ([]Container, error)
	// ContainerStatus reports one container.
	ContainerStatus(ctx context.Context, id string) (Container, error)
	// Exec runs cmd inside a running container and returns its combined
	// output and exit code; it gives up after timeout.
	Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (output []byte, exitCode int, err error)
	// Events reports the IDs of containers whose state changed (started,
	// exited), until ctx ends. A kubelet also relists periodically, so a
	// lost event costs latency, not correctness.
	Events(ctx context.Context) (<-chan string, error)
}
