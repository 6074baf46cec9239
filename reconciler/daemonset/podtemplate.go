package daemonset

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations, as Kubernetes'.
const (
	// LabelTemplateGeneration carries the DaemonSet's template generation
	// on its pods (extensions.DaemonSetTemplateGenerationKey).
	LabelTemplateGeneration = "pod-template-generation"
	// AnnotationTemplateGeneration is where the API server keeps a
	// DaemonSet's template generation (deprecated.daemonset.template.generation).
	AnnotationTemplateGeneration = "deprecated.daemonset.template.generation"
)

// Node taint keys of the default daemon pod tolerations.
const (
	TaintNodeNotReady           = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable        = "node.kubernetes.io/unreachable"
	TaintNodeDiskPressure       = "node.kubernetes.io/disk-pressure"
	TaintNodeMemoryPressure     = "node.kubernetes.io/memory-pressure"
	TaintNodePIDPressure        = "node.kubernetes.io/pid-pressure"
	TaintNodeUnschedulable      = "node.kubernetes.io/unschedulable"
	TaintNodeNetworkUnavailable = "node.kubernetes.io/network-unavailable"
)

// defaultTolerations are what AddOrUpdateDaemonPodTolerations adds: a
// daemon pod is not evicted from a not-ready or unreachable node (no
// tolerationSeconds) and is placed on nodes under pressure or cordoned,
// because it is the node's own service.
func defaultTolerations(hostNetwork bool) []corev1.Toleration {
	exists := func(key string, effect corev1.TaintEffect) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect}
	}
	out := []corev1.Toleration{
		exists(TaintNodeNotReady, corev1.TaintEffectNoExecute),
		exists(TaintNodeUnreachable, corev1.TaintEffectNoExecute),
		exists(TaintNodeDiskPressure, corev1.TaintEffectNoSchedule),
		exists(TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule),
		exists(TaintNodePIDPressure, corev1.TaintEffectNoSchedule),
		exists(TaintNodeUnschedulable, corev1.TaintEffectNoSchedule),
	}
	if hostNetwork {
		out = append(out, exists(TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule))
	}
	return out
}

// withDefaultTolerations returns the spec's tolerations with the default
// ones added or updated, as AddOrUpdateDaemonPodTolerations; spec is not
// changed.
func withDefaultTolerations(spec *corev1.PodSpec) []corev1.Toleration {
	out := append([]corev1.Toleration(nil), spec.Tolerations...)
	for _, t := range defaultTolerations(spec.HostNetwork) {
		out = addOrUpdateToleration(out, t)
	}
	return out
}

// addOrUpdateToleration is v1helper.AddOrUpdateTolerationInPodSpec: a
// toleration of the same key, operator, value and effect is replaced,
// otherwise t is appended.
func addOrUpdateToleration(tols []corev1.Toleration, t corev1.Toleration) []corev1.Toleration {
	for i := range tols {
		if t.MatchToleration(&tols[i]) {
			if !apiequality.Semantic.DeepEqual(t, tols[i]) {
				tols[i] = t
			}
			return tols
		}
	}
	return append(tols, t)
}

// replaceNodeNameAffinity is ReplaceDaemonSetPodNodeNameNodeAffinity: the
// required node affinity becomes the single term matchFields
// metadata.name In [node], so that the scheduler binds the pod to that
// node and nowhere else. The other terms were already checked by
// NodeShouldRunDaemonPod and are dropped, as Kubernetes does.
func replaceNodeNameAffinity(affinity *corev1.Affinity, node string) *corev1.Affinity {
	terms := []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{
		Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node},
	}}}}
	if affinity == nil {
		affinity = &corev1.Affinity{}
	}
	if affinity.NodeAffinity == nil {
		affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	if affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = terms
	return affinity
}

// templateGeneration is the DaemonSet's template generation: the API
// server's annotation when set, else metadata.generation (a server that
// does not keep the annotation still bumps the generation on every
// template change, so the label still tells older pods apart).
func templateGeneration(ds *appsv1.DaemonSet) *int64 {
	if v, ok := ds.Annotations[AnnotationTemplateGeneration]; ok {
		g, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil
		}
		return &g
	}
	if ds.Generation > 0 {
		g := ds.Generation
		return &g
	}
	return nil
}

// podTemplate is CreatePodTemplate: the DaemonSet's template with the
// default tolerations and the generation and revision hash labels.
func podTemplate(ds *appsv1.DaemonSet, hash string) corev1.PodTemplateSpec {
	t := *ds.Spec.Template.DeepCopy()
	t.Spec.Tolerations = withDefaultTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if g := templateGeneration(ds); g != nil {
		t.Labels[LabelTemplateGeneration] = fmt.Sprint(*g)
	}
	if hash != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	return t
}

// newPod is the pod the DaemonSet places on node: its pod template with
// the node's name affinity, owned by the DaemonSet.
func newPod(ds *appsv1.DaemonSet, hash, node string) *corev1.Pod {
	t := podTemplate(ds, hash)
	t.Spec.Affinity = replaceNodeNameAffinity(t.Spec.Affinity, node)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       ds.Namespace,
			GenerateName:    ds.Name + "-",
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, dsKind)},
		},
		Spec: t.Spec,
	}
}

// targetNodeName is GetTargetNodeName: the node a pod is bound to, or
// the node its name affinity pins it to while it waits for the scheduler.
func targetNodeName(p *corev1.Pod) (string, bool) {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName, true
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", false
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == metav1.ObjectNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0], true
			}
		}
	}
	return "", false
}

// isPodUpdated is IsPodUpdated: the pod carries the current revision's
// hash or the current template generation.
func isPodUpdated(p *corev1.Pod, hash string, generation *int64) bool {
	templateMatches := generation != nil && p.Labels[LabelTemplateGeneration] == fmt.Sprint(*generation)
	hashMatches := hash != "" && p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash
	return hashMatches || templateMatches
}
