package framework

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// nodeB builds a test node: by default 4 cpu, 8Gi memory, 100Gi
// ephemeral storage and 110 pods allocatable.
type nodeB struct{ n *corev1.Node }

func newNode(name string) nodeB {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}}
	n.Status.Allocatable = corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
	}
	return nodeB{n}
}

func (b nodeB) alloc(name corev1.ResourceName, q string) nodeB {
	b.n.Status.Allocatable[name] = resource.MustParse(q)
	return b
}

func (b nodeB) label(k, v string) nodeB {
	b.n.Labels[k] = v
	return b
}

func (b nodeB) zone(z string) nodeB { return b.label(corev1.LabelTopologyZone, z) }

func (b nodeB) taint(k, v string, e corev1.TaintEffect) nodeB {
	b.n.Spec.Taints = append(b.n.Spec.Taints, corev1.Taint{Key: k, Value: v, Effect: e})
	return b
}

func (b nodeB) cordon() nodeB {
	b.n.Spec.Unschedulable = true
	return b
}

func (b nodeB) image(size int64, names ...string) nodeB {
	b.n.Status.Images = append(b.n.Status.Images, corev1.ContainerImage{Names: names, SizeBytes: size})
	return b
}

func (b nodeB) obj() *corev1.Node { return b.n }

// podB builds a test pod in namespace "default" with UID = name.
type podB struct{ p *corev1.Pod }

func newPod(name string) podB {
	return podB{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name), Labels: map[string]string{}}}}
}

func resList(kv ...string) corev1.ResourceList {
	rl := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		rl[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return rl
}

// req adds a container requesting the given resources ("cpu", "500m",
// "memory", "1Gi", ...); with none it requests nothing.
func (b podB) req(kv ...string) podB {
	b.p.Spec.Containers = append(b.p.Spec.Containers, corev1.Container{
		Name: "c" + string(rune('0'+len(b.p.Spec.Containers))), Image: "busybox",
		Resources: corev1.ResourceRequirements{Requests: resList(kv...)},
	})
	return b
}

func (b podB) initReq(sidecar bool, kv ...string) podB {
	c := corev1.Container{Name: "i" + string(rune('0'+len(b.p.Spec.InitContainers))), Resources: corev1.ResourceRequirements{Requests: resList(kv...)}}
	if sidecar {
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
	}
	b.p.Spec.InitContainers = append(b.p.Spec.InitContainers, c)
	return b
}

func (b podB) overhead(kv ...string) podB {
	b.p.Spec.Overhead = resList(kv...)
	return b
}

func (b podB) label(k, v string) podB {
	b.p.Labels[k] = v
	return b
}

func (b podB) ns(ns string) podB {
	b.p.Namespace = ns
	return b
}

func (b podB) on(node string) podB {
	b.p.Spec.NodeName = node
	return b
}

func (b podB) nodeSelector(k, v string) podB {
	if b.p.Spec.NodeSelector == nil {
		b.p.Spec.NodeSelector = map[string]string{}
	}
	b.p.Spec.NodeSelector[k] = v
	return b
}

func (b podB) tolerate(t corev1.Toleration) podB {
	b.p.Spec.Tolerations = append(b.p.Spec.Tolerations, t)
	return b
}

func (b podB) hostPort(port int32, proto corev1.Protocol, ip string) podB {
	if len(b.p.Spec.Containers) == 0 {
		b = b.req()
	}
	c := &b.p.Spec.Containers[0]
	c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: port, HostPort: port, Protocol: proto, HostIP: ip})
	return b
}

func (b podB) claim(name string) podB {
	b.p.Spec.Volumes = append(b.p.Spec.Volumes, corev1.Volume{
		Name:         "v" + name,
		VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}},
	})
	return b
}

func (b podB) affinity() *corev1.Affinity {
	if b.p.Spec.Affinity == nil {
		b.p.Spec.Affinity = &corev1.Affinity{}
	}
	return b.p.Spec.Affinity
}

// requiredNodeTerms sets the required node affinity terms.
func (b podB) requiredNodeTerms(terms ...corev1.NodeSelectorTerm) podB {
	b.affinity().NodeAffinity = &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
	}
	return b
}

func (b podB) podAffinity(terms ...corev1.PodAffinityTerm) podB {
	a := b.affinity()
	if a.PodAffinity == nil {
		a.PodAffinity = &corev1.PodAffinity{}
	}
	a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, terms...)
	return b
}

func (b podB) podAntiAffinity(terms ...corev1.PodAffinityTerm) podB {
	a := b.affinity()
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, terms...)
	return b
}

func (b podB) preferredAffinity(weight int32, t corev1.PodAffinityTerm) podB {
	a := b.affinity()
	if a.PodAffinity == nil {
		a.PodAffinity = &corev1.PodAffinity{}
	}
	a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: t})
	return b
}

func (b podB) preferredAntiAffinity(weight int32, t corev1.PodAffinityTerm) podB {
	a := b.affinity()
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: t})
	return b
}

func (b podB) spread(c corev1.TopologySpreadConstraint) podB {
	b.p.Spec.TopologySpreadConstraints = append(b.p.Spec.TopologySpreadConstraints, c)
	return b
}

func (b podB) obj() *corev1.Pod { return b.p }

// term is a pod affinity term selecting app=<app> by topology key.
func term(app, topologyKey string) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		TopologyKey:   topologyKey,
	}
}

func nodeReq(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

// filterNodes runs a plugin's PreFilter, if it has one, then its Filter on
// every node of the snapshot, and returns each node's status rendered as
// "Code: reasons" ("" for success). A PreFilter rejection is returned as
// pre, and Skip as "skip".
func filterNodes(t *testing.T, pl FilterPlugin, pod *corev1.Pod, snap *Snapshot) (pre string, byNode map[string]string) {
	t.Helper()
	ctx := context.Background()
	state := NewCycleState()
	if pf, ok := pl.(PreFilterPlugin); ok {
		s := pf.PreFilter(ctx, state, pod, snap)
		if s.IsSkip() {
			return "skip", nil
		}
		if !s.IsSuccess() {
			return render(s), nil
		}
	}
	byNode = map[string]string{}
	for _, ni := range snap.List() {
		s := pl.Filter(ctx, state, pod, ni)
		if s.Code() == Error {
			t.Fatalf("%s on %s: %v", pl.Name(), ni.Name(), s)
		}
		byNode[ni.Name()] = render(s)
	}
	return "", byNode
}

func render(s *Status) string {
	if s.IsSuccess() {
		return ""
	}
	return s.Code().String() + ": " + strings.Join(s.Reasons(), "; ")
}

// scoreNodes runs a score plugin over every node of the snapshot as the
// feasible nodes: PreScore (if it has one), Score and NormalizeScore. It
// returns nil when PreScore skips.
func scoreNodes(t *testing.T, pl ScorePlugin, pod *corev1.Pod, snap *Snapshot) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	state := NewCycleState()
	if ps, ok := pl.(PreScorePlugin); ok {
		s := ps.PreScore(ctx, state, pod, snap.List(), snap)
		if s.IsSkip() {
			return nil
		}
		if !s.IsSuccess() {
			t.Fatalf("PreScore: %v", s)
		}
	}
	scores := make([]NodeScore, 0, snap.NumNodes())
	for _, ni := range snap.List() {
		v, s := pl.Score(ctx, state, pod, ni)
		if !s.IsSuccess() {
			t.Fatalf("Score: %v", s)
		}
		scores = append(scores, NodeScore{Name: ni.Name(), Score: v})
	}
	if s := pl.NormalizeScore(ctx, state, pod, scores); !s.IsSuccess() {
		t.Fatalf("NormalizeScore: %v", s)
	}
	out := map[string]int64{}
	for _, s := range scores {
		out[s.Name] = s.Score
	}
	return out
}

func nodes(bs ...nodeB) []*corev1.Node {
	out := make([]*corev1.Node, len(bs))
	for i, b := range bs {
		out[i] = b.obj()
	}
	return out
}

func pods(bs ...podB) []*corev1.Pod {
	out := make([]*corev1.Pod, len(bs))
	for i, b := range bs {
		out[i] = b.obj()
	}
	return out
}

func equalMaps[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
