package daemonset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// NodeShouldRunDaemonPod is Kubernetes' function of the same name.
// shouldRun: a daemon pod should be placed on the node (node name, node
// selector and required node affinity match, every NoSchedule and
// NoExecute taint is tolerated). shouldContinueRunning: a daemon pod
// already there may stay, which only an untolerated NoExecute taint (or a
// selector mismatch) forbids; an untolerated NoSchedule taint added later
// keeps pods from being placed but does not evict them.
func NodeShouldRunDaemonPod(node *corev1.Node, ds *appsv1.DaemonSet) (shouldRun, shouldContinueRunning bool) {
	spec := &ds.Spec.Template.Spec
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return false, false
	}
	if !requiredAffinityMatches(spec, node) {
		return false, false
	}
	tolerations := withDefaultTolerations(spec)
	if _, untolerated := findUntoleratedTaint(node.Spec.Taints, tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute || t.Effect == corev1.TaintEffectNoSchedule
	}); !untolerated {
		return true, true
	}
	_, evicted := findUntoleratedTaint(node.Spec.Taints, tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute
	})
	return false, !evicted
}

// requiredAffinityMatches is the scheduler's GetRequiredNodeAffinity(pod).Match:
// the nodeSelector and the required node affinity terms (any one of
// them) must match. Unparsable terms do not match, as in Kubernetes.
func requiredAffinityMatches(spec *corev1.PodSpec, node *corev1.Node) bool {
	if len(spec.NodeSelector) > 0 &&
		!labels.SelectorFromSet(spec.NodeSelector).Matches(labels.Set(node.Labels)) {
		return false
	}
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil ||
		spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if termMatches(term, node) {
			return true
		}
	}
	return false
}

// termMatches: all of a term's expressions on labels and fields match. An
// empty term matches nothing, as Kubernetes' nodeSelectorTerm.
func termMatches(term corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	if len(term.MatchExpressions) > 0 {
		sel, ok := requirementsSelector(term.MatchExpressions, true)
		if !ok || !sel.Matches(labels.Set(node.Labels)) {
			return false
		}
	}
	if len(term.MatchFields) > 0 {
		sel, ok := requirementsSelector(term.MatchFields, false)
		if !ok || !sel.Matches(labels.Set{metav1.ObjectNameField: node.Name}) {
			return false
		}
	}
	return true
}

var nodeSelectorOps = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn:           selection.In,
	corev1.NodeSelectorOpNotIn:        selection.NotIn,
	corev1.NodeSelectorOpExists:       selection.Exists,
	corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt:           selection.GreaterThan,
	corev1.NodeSelectorOpLt:           selection.LessThan,
}

// requirementsSelector turns node selector requirements into a label
// selector. Fields support only metadata.name with In and NotIn, as the
// API validates.
func requirementsSelector(reqs []corev1.NodeSelectorRequirement, onLabels bool) (labels.Selector, bool) {
	sel := labels.NewSelector()
	for _, r := range reqs {
		op, ok := nodeSelectorOps[r.Operator]
		if !ok {
			return nil, false
		}
		if !onLabels && (r.Key != metav1.ObjectNameField || (op != selection.In && op != selection.NotIn) || len(r.Values) != 1) {
			return nil, false
		}
		req, err := labels.NewRequirement(r.Key, op, r.Values)
		if err != nil {
			return nil, false
		}
		sel = sel.Add(*req)
	}
	return sel, true
}

// findUntoleratedTaint returns the first taint that passes filter and
// that no toleration tolerates, as v1helper.FindMatchingUntoleratedTaint.
func findUntoleratedTaint(taints []corev1.Taint, tolerations []corev1.Toleration, filter func(*corev1.Taint) bool) (corev1.Taint, bool) {
	for i := range taints {
		t := &taints[i]
		if !filter(t) {
			continue
		}
		if !tolerated(t, tolerations) {
			return *t, true
		}
	}
	return corev1.Taint{}, false
}

func tolerated(taint *corev1.Taint, tolerations []corev1.Toleration) bool {
	for i := range tolerations {
		if toleratesTaint(&tolerations[i], taint) {
			return true
		}
	}
	return false
}

// toleratesTaint is Toleration.ToleratesTaint without the comparison
// operators (Gt, Lt) that sit behind a feature gate: an empty effect
// matches every effect, an empty key with Exists every key, Equal (or no
// operator) compares values.
func toleratesTaint(t *corev1.Toleration, taint *corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case corev1.TolerationOpExists:
		return true
	case "", corev1.TolerationOpEqual:
		return t.Value == taint.Value
	}
	return false
}
