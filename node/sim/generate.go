package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// DefaultTaint is the taint of GenOptions.TaintedFraction when no Taints
// are given.
var DefaultTaint = corev1.Taint{Key: "sim.cairn.dev/tainted", Value: "true", Effect: corev1.TaintEffectNoSchedule}

// DefaultSizes are the size presets of mixed clusters: small, medium,
// large and xlarge machines.
func DefaultSizes() []NodeSpec {
	size := func(name, cpu, mem, disk string, pods int64) NodeSpec {
		return NodeSpec{InstanceType: name, CPU: resource.MustParse(cpu), Memory: resource.MustParse(mem),
			EphemeralStorage: resource.MustParse(disk), Pods: pods}
	}
	return []NodeSpec{
		size("sim.small", "2", "8Gi", "50Gi", 110),
		size("sim.medium", "4", "16Gi", "100Gi", 110),
		size("sim.large", "8", "32Gi", "200Gi", 110),
		size("sim.xlarge", "16", "64Gi", "400Gi", 250),
	}
}

// GenOptions shape the nodes Generate makes.
type GenOptions struct {
	// Prefix of the node names (default "sim-").
	Prefix string
	// Zones are dealt round-robin, so they stay balanced; none: no zone
	// label. Region labels every node when set.
	Zones  []string
	Region string
	// Sizes are templates picked at random for each node: capacity,
	// instance type, labels and taints (default: one DefaultCPU,
	// DefaultMemory... size). DefaultSizes gives a mixed cluster.
	Sizes []NodeSpec
	// Labels go on every node.
	Labels map[string]string
	// TaintedFraction of the nodes (0 to 1, rounded to a whole count,
	// picked at random) get Taints (default DefaultTaint).
	TaintedFraction float64
	Taints          []corev1.Taint
	// Seed makes the sizes and the tainted nodes reproducible.
	Seed int64
}

// Generate returns n node specs named <prefix>0000, <prefix>0001, ... with
// sizes, zones and taints chosen from o, the same for the same seed.
func Generate(n int, o GenOptions) []NodeSpec {
	if n <= 0 {
		return nil
	}
	if o.Prefix == "" {
		o.Prefix = "sim-"
	}
	sizes := o.Sizes
	if len(sizes) == 0 {
		sizes = []NodeSpec{{}}
	}
	taints := o.Taints
	if len(taints) == 0 {
		taints = []corev1.Taint{DefaultTaint}
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed))
	tainted := make([]bool, n)
	k := int(math.Round(math.Max(0, math.Min(1, o.TaintedFraction)) * float64(n)))
	for _, i := range rng.Perm(n)[:k] {
		tainted[i] = true
	}
	width := max(4, len(strconv.Itoa(n-1)))
	out := make([]NodeSpec, n)
	for i := range out {
		t := sizes[0]
		if len(sizes) > 1 {
			t = sizes[rng.IntN(len(sizes))]
		}
		s := NodeSpec{
			Name: fmt.Sprintf("%s%0*d", o.Prefix, width, i),
			CPU:  t.CPU.DeepCopy(), Memory: t.Memory.DeepCopy(), EphemeralStorage: t.EphemeralStorage.DeepCopy(),
			Pods: t.Pods, Extended: t.Extended.DeepCopy(), Reserved: t.Reserved.DeepCopy(),
			Zone: t.Zone, Region: t.Region, InstanceType: t.InstanceType,
			Taints:        append([]corev1.Taint(nil), t.Taints...),
			Unschedulable: t.Unschedulable,
		}
		if len(o.Zones) > 0 {
			s.Zone = o.Zones[i%len(o.Zones)]
		}
		if o.Region != "" {
			s.Region = o.Region
		}
		if len(t.Labels)+len(o.Labels) > 0 {
			s.Labels = make(map[string]string, len(t.Labels)+len(o.Labels))
			for k, v := range t.Labels {
				s.Labels[k] = v
			}
			for k, v := range o.Labels {
				s.Labels[k] = v
			}
		}
		if tainted[i] {
			s.Taints = append(s.Taints, taints...)
		}
		out[i] = s
	}
	return out
}
