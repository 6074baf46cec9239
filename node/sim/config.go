package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// Annotations a pod carries to steer its simulated run.
const (
	// AnnotationRunFor ("30s", "2m") makes a pod whose restartPolicy is
	// Never or OnFailure finish that long after it started.
	AnnotationRunFor = "sim.cairn.dev/run-for"
	// AnnotationFail ("true") makes such a pod end Failed (exit code 1)
	// instead of Succeeded; without run-for it fails as soon as it starts.
	AnnotationFail = "sim.cairn.dev/fail"
	// AnnotationNotReady ("true") keeps a running pod's containers unready.
	AnnotationNotReady = "sim.cairn.dev/not-ready"
)

// LabelSimulated is set to "true" on every simulated node.
const LabelSimulated = "sim.cairn.dev/simulated"

// Versions the simulated nodes report in status.nodeInfo.
const (
	KubeletVersion = "v1.37.0-cairn-sim"
	RuntimeVersion = "sim://1"
)

// Defaults of a NodeSpec's zero fields.
var (
	DefaultCPU              = resource.MustParse("4")
	DefaultMemory           = resource.MustParse("16Gi")
	DefaultEphemeralStorage = resource.MustParse("100Gi")
)

// DefaultPods is the pod capacity of a NodeSpec with Pods == 0, the
// kubelet's --max-pods default.
const DefaultPods = 110

// MaxNodes is how many nodes one Cluster can address: each gets a /24 of
// pod IPs from 10.128.0.0/9.
const MaxNodes = 1 << 15

// NodeSpec describes one simulated node.
type NodeSpec struct {
	Name string
	// Capacity; zero values take DefaultCPU, DefaultMemory,
	// DefaultEphemeralStorage and DefaultPods.
	CPU, Memory, EphemeralStorage resource.Quantity
	Pods                          int64
	// Extended resources (nvidia.com/gpu, ...) added to capacity.
	Extended corev1.ResourceList
	// Reserved is subtracted from capacity to give allocatable (the
	// kubelet's kube-reserved, system-reserved and eviction threshold).
	Reserved corev1.ResourceList
	// Zone and Region become topology.kubernetes.io/{zone,region} when set;
	// InstanceType becomes node.kubernetes.io/instance-type (default
	// "sim-<cpu>cpu-<memory>").
	Zone, Region, InstanceType string
	// Labels are added to the well-known ones and win over them.
	Labels map[string]string
	// Taints and Unschedulable are set when the Node is created, as the
	// kubelet's --register-with-taints; an adopted Node keeps its own.
	Taints        []corev1.Taint
	Unschedulable bool
}

// Config configures a Cluster. Zero values take the defaults noted.
type Config struct {
	// Client talks to the API server; give it a generous QPS (see
	// NewClient).
	Client kubernetes.Interface
	Nodes  []NodeSpec
	// RenewInterval of each node's Lease (default 10s), StatusInterval of
	// its NodeStatus posts when nothing changed (default 5m, the kubelet's
	// nodeStatusReportFrequency) and
	// LeaseDuration written in the Lease (default 40s).
	RenewInterval, StatusInterval, LeaseDuration time.Duration
	// StartDelay is how long a pod bound to a node stays Pending before it
	// runs; StopDelay how long a deleted pod takes to stop (default 0:
	// at once, whatever its grace period).
	StartDelay, StopDelay time.Duration
	// NoPods leaves pods alone: nodes only register and heartbeat.
	NoPods bool
	// Workers write pod status (default 8); HeartbeatWorkers renew leases
	// and post node status (default 8); RegisterWorkers create Nodes and
	// Leases at start (default 32).
	Workers, HeartbeatWorkers, RegisterWorkers int
	Logger                                     *slog.Logger
}

func (c *Config) setDefaults() {
	if c.RenewInterval <= 0 {
		c.RenewInterval = 10 * time.Second
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 5 * time.Minute
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 40 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.HeartbeatWorkers <= 0 {
		c.HeartbeatWorkers = 8
	}
	if c.RegisterWorkers <= 0 {
		c.RegisterWorkers = 32
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// withDefaults fills a spec's zero capacity fields.
func (s NodeSpec) withDefaults() NodeSpec {
	if s.CPU.IsZero() {
		s.CPU = DefaultCPU.DeepCopy()
	}
	if s.Memory.IsZero() {
		s.Memory = DefaultMemory.DeepCopy()
	}
	if s.EphemeralStorage.IsZero() {
		s.EphemeralStorage = DefaultEphemeralStorage.DeepCopy()
	}
	if s.Pods <= 0 {
		s.Pods = DefaultPods
	}
	if s.InstanceType == "" {
		s.InstanceType = fmt.Sprintf("sim-%scpu-%s", s.CPU.String(), s.Memory.String())
	}
	return s
}

// validate checks what the API server would refuse late, after other nodes
// registered, or would accept but the simulation cannot serve.
func (s NodeSpec) validate() error {
	if s.Name == "" {
		return errors.New("sim: a node needs a name")
	}
	if msgs := validation.IsDNS1123Subdomain(s.Name); len(msgs) > 0 {
		return fmt.Errorf("sim: node %q: invalid name: %s", s.Name, strings.Join(msgs, "; "))
	}
	for _, t := range s.Taints {
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			return fmt.Errorf("sim: node %q: taint %q has effect %q, not NoSchedule, PreferNoSchedule or NoExecute", s.Name, t.Key, t.Effect)
		}
	}
	return nil
}
