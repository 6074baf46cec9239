package nodestatus

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults, as the kubelet's.
const (
	DefaultMaxPods     = 110
	DefaultKubeletPort = 10250
	// MaxImages is how many images the status lists, largest first.
	MaxImages = 50
	// MaxNamesPerImage is how many names of one image the status lists.
	MaxNamesPerImage = 5
)

// Condition reasons cairn posts.
const (
	ReasonReady                = "KubeletReady"
	ReasonNotReady             = "KubeletNotReady"
	ReasonSufficientMemory     = "KubeletHasSufficientMemory"
	ReasonInsufficientMemory   = "KubeletHasInsufficientMemory"
	ReasonNoDiskPressure       = "KubeletHasNoDiskPressure"
	ReasonDiskPressure         = "KubeletHasDiskPressure"
	ReasonSufficientPID        = "KubeletHasSufficientPID"
	ReasonInsufficientPID      = "KubeletHasInsufficientPID"
	ReasonRouteCreated         = "RouteCreated"
	ReasonNoRouteCreated       = "NoRouteCreated"
	messageReady               = "kubelet is posting ready status"
	messageSufficientMemory    = "kubelet has sufficient memory available"
	messageInsufficientMemory  = "kubelet has insufficient memory available"
	messageNoDiskPressure      = "kubelet has no disk pressure"
	messageDiskPressure        = "kubelet has disk pressure"
	messageSufficientPID       = "kubelet has sufficient PID available"
	messageInsufficientPID     = "kubelet has insufficient PID available"
	messageRouteCreated        = "cairn pod network is ready"
	messageRuntimeDownPrefix   = "container runtime is down: "
	messageNetworkNotReadyPref = "container runtime network not ready: "
)

// Threshold is an eviction-hard threshold: a signal below it is pressure.
// It is a percentage of the capacity when Percent is set, else the
// Quantity. A zero Threshold is the default for its signal; Disabled
// turns it off.
type Threshold struct {
	Quantity resource.Quantity
	Percent  float64 // 0 < Percent <= 100
	Disabled bool
}

// Percent is a Threshold of p percent of the capacity.
func Percent(p float64) Threshold { return Threshold{Percent: p} }

// Quantity is a Threshold of an absolute amount; it panics when q is not
// a quantity, as resource.MustParse.
func Quantity(q string) Threshold { return Threshold{Quantity: resource.MustParse(q)} }

func (t Threshold) isZero() bool { return !t.Disabled && t.Percent == 0 && t.Quantity.IsZero() }

// amount is the threshold for a capacity; ok is false when it is off.
func (t Threshold) amount(capacity int64) (int64, bool) {
	switch {
	case t.Disabled:
		return 0, false
	case t.Percent > 0:
		return int64(float64(capacity) * t.Percent / 100), true
	case !t.Quantity.IsZero():
		return t.Quantity.Value(), true
	}
	return 0, false
}

func (t Threshold) String() string {
	switch {
	case t.Disabled:
		return "off"
	case t.Percent > 0:
		return fmt.Sprintf("%g%%", t.Percent)
	}
	return t.Quantity.String()
}

// Eviction are the eviction-hard thresholds. The zero value is
// Kubernetes' defaults on Linux: memory.available<100Mi,
// nodefs.available<10%, nodefs.inodesFree<5%, and no pid.available
// threshold (Kubernetes sets none).
type Eviction struct {
	MemoryAvailable  Threshold
	NodeFSAvailable  Threshold
	NodeFSInodesFree Threshold
	PIDAvailable     Threshold
}

// DefaultEviction is Kubernetes' default eviction-hard.
func DefaultEviction() Eviction {
	return Eviction{
		MemoryAvailable:  Quantity("100Mi"),
		NodeFSAvailable:  Percent(10),
		NodeFSInodesFree: Percent(5),
	}
}

func (e Eviction) withDefaults() Eviction {
	d := DefaultEviction()
	if e.MemoryAvailable.isZero() {
		e.MemoryAvailable = d.MemoryAvailable
	}
	if e.NodeFSAvailable.isZero() {
		e.NodeFSAvailable = d.NodeFSAvailable
	}
	if e.NodeFSInodesFree.isZero() {
		e.NodeFSInodesFree = d.NodeFSInodesFree
	}
	return e
}

// Config is what the node is configured with, as the kubelet's flags.
type Config struct {
	SystemReserved corev1.ResourceList
	KubeReserved   corev1.ResourceList
	MaxPods        int64 // DefaultMaxPods when 0
	EvictionHard   Eviction

	NodeIP     string // InternalIP address; none when empty
	ExternalIP string // ExternalIP address; none when empty
	Hostname   string // the Hostname address; the machine's when empty

	KubeletPort      int32 // DefaultKubeletPort when 0
	KubeletVersion   string
	KubeProxyVersion string
}

// WithDefaults is c with its zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.MaxPods == 0 {
		c.MaxPods = DefaultMaxPods
	}
	if c.KubeletPort == 0 {
		c.KubeletPort = DefaultKubeletPort
	}
	c.EvictionHard = c.EvictionHard.withDefaults()
	return c
}

// Inputs are what the node's other parts report.
type Inputs struct {
	// RuntimeVersion is the container runtime's name and version, as
	// "containerd://1.6.20".
	RuntimeVersion string
	// RuntimeErr is why the container runtime is not usable; nil when it
	// is.
	RuntimeErr error
	// NetworkErr is why pod networking is not ready; nil when it is.
	NetworkErr error
	// Images are the images the runtime holds.
	Images []corev1.ContainerImage
}

// Compute is the node status to post over prev: the fields the agent owns
// recomputed from the machine, the inputs and the config; heartbeat times
// at now (to the second); each condition's transition time kept from
// prev while its status holds; everything else kept from prev (conditions
// and extended resources others maintain, volumes).
//
// Conditions, in the kubelet's order: MemoryPressure, DiskPressure,
// PIDPressure, Ready, then NetworkUnavailable. NetworkUnavailable is
// posted True (NoRouteCreated) while in.NetworkErr is set, and False
// (RouteCreated) afterwards; a node whose network was always ready does
// not carry it.
func Compute(prev corev1.NodeStatus, m Machine, in Inputs, cfg Config, now time.Time) corev1.NodeStatus {
	cfg = cfg.WithDefaults()
	t := metav1.NewTime(now.Truncate(time.Second))
	st := *prev.DeepCopy()

	st.Addresses = addresses(m, cfg)
	st.Capacity, st.Allocatable = resources(prev, m, cfg)
	st.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: cfg.KubeletPort}}
	st.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               m.MachineID,
		SystemUUID:              m.SystemUUID,
		BootID:                  m.BootID,
		KernelVersion:           m.KernelVersion,
		OSImage:                 m.OSImage,
		ContainerRuntimeVersion: in.RuntimeVersion,
		KubeletVersion:          cfg.KubeletVersion,
		KubeProxyVersion:        cfg.KubeProxyVersion,
		OperatingSystem:         m.OperatingSystem,
		Architecture:            m.Architecture,
	}
	st.Images = images(in.Images)
	st.Conditions = conditions(prev.Conditions, m, in, cfg, t)
	return st
}

func addresses(m Machine, cfg Config) []corev1.NodeAddress {
	var out []corev1.NodeAddress
	if cfg.NodeIP != "" {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: cfg.NodeIP})
	}
	if cfg.ExternalIP != "" {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: cfg.ExternalIP})
	}
	host := cfg.Hostname
	if host == "" {
		host = m.Hostname
	}
	if host != "" {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeHostName, Address: host})
	}
	return out
}

// resources are capacity and allocatable. Allocatable is capacity less
// system-reserved, kube-reserved and the hard eviction threshold of memory
// and ephemeral-storage, never below zero, as Kubernetes' node allocatable.
// Resources the agent does not own (extended resources others advertise)
// are kept from prev.
func resources(prev corev1.NodeStatus, m Machine, cfg Config) (capacity, allocatable corev1.ResourceList) {
	capacity = corev1.ResourceList{}
	for k, v := range prev.Capacity {
		capacity[k] = v.DeepCopy()
	}
	capacity[corev1.ResourceCPU] = *resource.NewQuantity(int64(m.CPUs), resource.DecimalSI)
	capacity[corev1.ResourceMemory] = *resource.NewQuantity(m.MemTotal, resource.BinarySI)
	capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(m.FS.Capacity, resource.BinarySI)
	capacity[corev1.ResourcePods] = *resource.NewQuantity(cfg.MaxPods, resource.DecimalSI)

	reserved := corev1.ResourceList{}
	add := func(name corev1.ResourceName, q resource.Quantity) {
		r := reserved[name]
		r.Add(q)
		reserved[name] = r
	}
	for k, v := range cfg.SystemReserved {
		add(k, v)
	}
	for k, v := range cfg.KubeReserved {
		add(k, v)
	}
	if n, ok := cfg.EvictionHard.MemoryAvailable.amount(m.MemTotal); ok {
		add(corev1.ResourceMemory, *resource.NewQuantity(n, resource.BinarySI))
	}
	if n, ok := cfg.EvictionHard.NodeFSAvailable.amount(m.FS.Capacity); ok {
		add(corev1.ResourceEphemeralStorage, *resource.NewQuantity(n, resource.BinarySI))
	}

	allocatable = corev1.ResourceList{}
	for k, c := range capacity {
		v := c.DeepCopy()
		if r, ok := reserved[k]; ok {
			v.Sub(r)
			if v.Sign() < 0 {
				v = *resource.NewQuantity(0, c.Format)
			}
		} else if p, ok := prev.Allocatable[k]; ok && !owned(k) {
			v = p.DeepCopy()
		}
		allocatable[k] = v
	}
	return capacity, allocatable
}

// owned reports whether the agent computes a resource itself.
func owned(k corev1.ResourceName) bool {
	switch k {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourcePods:
		return true
	}
	return false
}

// images are the largest MaxImages images, each with at most
// MaxNamesPerImage names.
func images(in []corev1.ContainerImage) []corev1.ContainerImage {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerImage, 0, len(in))
	for _, img := range in {
		if len(img.Names) == 0 {
			continue
		}
		names := img.Names
		if len(names) > MaxNamesPerImage {
			names = names[:MaxNamesPerImage]
		}
		out = append(out, corev1.ContainerImage{Names: append([]string(nil), names...), SizeBytes: img.SizeBytes})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].SizeBytes > out[j].SizeBytes })
	if len(out) > MaxImages {
		out = out[:MaxImages]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Pressure reports which eviction signals are below their thresholds.
type Pressure struct {
	Memory, Disk, PID bool
}

// Pressures are the eviction signals of m against the thresholds.
func Pressures(m Machine, e Eviction) Pressure {
	e = e.withDefaults()
	var p Pressure
	if n, ok := e.MemoryAvailable.amount(m.MemTotal); ok && m.MemAvailable < n {
		p.Memory = true
	}
	if m.FS.Capacity > 0 {
		if n, ok := e.NodeFSAvailable.amount(m.FS.Capacity); ok && m.FS.Available < n {
			p.Disk = true
		}
	}
	if m.FS.Inodes > 0 {
		if n, ok := e.NodeFSInodesFree.amount(m.FS.Inodes); ok && m.FS.InodesFree < n {
			p.Disk = true
		}
	}
	if m.PIDMax > 0 {
		if n, ok := e.PIDAvailable.amount(m.PIDMax); ok && m.PIDMax-m.Processes < n {
			p.PID = true
		}
	}
	return p
}

func conditions(prev []corev1.NodeCondition, m Machine, in Inputs, cfg Config, t metav1.Time) []corev1.NodeCondition {
	p := Pressures(m, cfg.EvictionHard)
	pick := func(ty corev1.NodeConditionType, bad bool, goodReason, goodMsg, badReason, badMsg string) corev1.NodeCondition {
		if bad {
			return corev1.NodeCondition{Type: ty, Status: corev1.ConditionTrue, Reason: badReason, Message: badMsg}
		}
		return corev1.NodeCondition{Type: ty, Status: corev1.ConditionFalse, Reason: goodReason, Message: goodMsg}
	}
	want := []corev1.NodeCondition{
		pick(corev1.NodeMemoryPressure, p.Memory, ReasonSufficientMemory, messageSufficientMemory, ReasonInsufficientMemory, messageInsufficientMemory),
		pick(corev1.NodeDiskPressure, p.Disk, ReasonNoDiskPressure, messageNoDiskPressure, ReasonDiskPressure, messageDiskPressure),
		pick(corev1.NodePIDPressure, p.PID, ReasonSufficientPID, messageSufficientPID, ReasonInsufficientPID, messageInsufficientPID),
	}
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: ReasonReady, Message: messageReady}
	var why []string
	if in.RuntimeErr != nil {
		why = append(why, messageRuntimeDownPrefix+in.RuntimeErr.Error())
	}
	if in.NetworkErr != nil {
		why = append(why, messageNetworkNotReadyPref+in.NetworkErr.Error())
	}
	if len(why) > 0 {
		ready.Status, ready.Reason, ready.Message = corev1.ConditionFalse, ReasonNotReady, strings.Join(why, ", ")
	}
	want = append(want, ready)
	hadNetwork := false
	for _, c := range prev {
		if c.Type == corev1.NodeNetworkUnavailable {
			hadNetwork = true
		}
	}
	if in.NetworkErr != nil {
		want = append(want, corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue,
			Reason: ReasonNoRouteCreated, Message: in.NetworkErr.Error()})
	} else if hadNetwork {
		want = append(want, corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse,
			Reason: ReasonRouteCreated, Message: messageRouteCreated})
	}

	mine := map[corev1.NodeConditionType]bool{}
	for i := range want {
		c := &want[i]
		mine[c.Type] = true
		c.LastHeartbeatTime, c.LastTransitionTime = t, t
		for _, old := range prev {
			if old.Type == c.Type && old.Status == c.Status && !old.LastTransitionTime.IsZero() {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	// Conditions others maintain (a node problem detector) stay as they are.
	for _, old := range prev {
		if !mine[old.Type] {
			want = append(want, *old.DeepCopy())
		}
	}
	return want
}

// SameStatus reports whether a and b differ in nothing but the conditions'
// heartbeat times: whether posting b over a would say nothing new.
func SameStatus(a, b corev1.NodeStatus) bool {
	return equality.Semantic.DeepEqual(withoutHeartbeats(a), withoutHeartbeats(b))
}

func withoutHeartbeats(s corev1.NodeStatus) corev1.NodeStatus {
	s = *s.DeepCopy()
	for i := range s.Conditions {
		s.Conditions[i].LastHeartbeatTime = metav1.Time{}
	}
	return s
}
