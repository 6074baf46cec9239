package framework

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// nodeSelectorTerm is a parsed NodeSelectorTerm: its label expressions
// and its field expressions (only metadata.name exists) are ANDed.
type nodeSelectorTerm struct {
	labels labels.Selector // nil when the term has no label expressions
	fields []fieldRequirement
	err    error // a term that does not parse matches nothing
}

// fieldRequirement is a matchFields expression: In or NotIn with exactly
// one value.
type fieldRequirement struct {
	key   string
	value string
	in    bool
}

// nodeSelector is a parsed NodeSelector: its terms are ORed. An empty
// term, and a selector with no terms, match nothing.
type nodeSelector struct {
	terms []nodeSelectorTerm
}

func newNodeSelector(ns *corev1.NodeSelector) *nodeSelector {
	s := &nodeSelector{terms: make([]nodeSelectorTerm, 0, len(ns.NodeSelectorTerms))}
	for i := range ns.NodeSelectorTerms {
		t := &ns.NodeSelectorTerms[i]
		if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
			continue
		}
		s.terms = append(s.terms, newNodeSelectorTerm(t))
	}
	return s
}

func newNodeSelectorTerm(t *corev1.NodeSelectorTerm) nodeSelectorTerm {
	var out nodeSelectorTerm
	if len(t.MatchExpressions) > 0 {
		out.labels, out.err = nodeSelectorRequirementsAsSelector(t.MatchExpressions)
	}
	for _, r := range t.MatchFields {
		if out.err != nil {
			break
		}
		switch {
		case r.Operator != corev1.NodeSelectorOpIn && r.Operator != corev1.NodeSelectorOpNotIn:
			out.err = fmt.Errorf("matchFields: operator %q is not supported", r.Operator)
		case len(r.Values) != 1:
			out.err = fmt.Errorf("matchFields: %s must have one value", r.Key)
		default:
			out.fields = append(out.fields, fieldRequirement{key: r.Key, value: r.Values[0], in: r.Operator == corev1.NodeSelectorOpIn})
		}
	}
	return out
}

// nodeSelectorRequirementsAsSelector converts node selector expressions
// (In, NotIn, Exists, DoesNotExist, Gt, Lt) into a label selector.
func nodeSelectorRequirementsAsSelector(reqs []corev1.NodeSelectorRequirement) (labels.Selector, error) {
	sel := labels.NewSelector()
	for _, expr := range reqs {
		var op selection.Operator
		switch expr.Operator {
		case corev1.NodeSelectorOpIn:
			op = selection.In
		case corev1.NodeSelectorOpNotIn:
			op = selection.NotIn
		case corev1.NodeSelectorOpExists:
			op = selection.Exists
		case corev1.NodeSelectorOpDoesNotExist:
			op = selection.DoesNotExist
		case corev1.NodeSelectorOpGt:
			op = selection.GreaterThan
		case corev1.NodeSelectorOpLt:
			op = selection.LessThan
		default:
			return nil, fmt.Errorf("matchExpressions: operator %q is not supported", expr.Operator)
		}
		r, err := labels.NewRequirement(expr.Key, op, expr.Values)
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*r)
	}
	return sel, nil
}

// match reports whether the term selects a node with these labels and
// this name. As in Kubernetes, field expressions are not checked against
// a node without a name (a PersistentVolume's node affinity is checked
// against the node's labels only).
func (t *nodeSelectorTerm) match(nodeLabels labels.Set, nodeName string) bool {
	if t.err != nil {
		return false
	}
	if t.labels != nil && !t.labels.Matches(nodeLabels) {
		return false
	}
	if nodeName == "" {
		return true
	}
	for _, f := range t.fields {
		v := ""
		if f.key == metav1.ObjectNameField {
			v = nodeName
		}
		if (v == f.value) != f.in {
			return false
		}
	}
	return true
}

// Match reports whether any term selects the node.
func (s *nodeSelector) Match(nodeLabels labels.Set, nodeName string) bool {
	for i := range s.terms {
		if s.terms[i].match(nodeLabels, nodeName) {
			return true
		}
	}
	return false
}

// requiredNodeAffinity is a pod's nodeSelector ANDed with its
// requiredDuringSchedulingIgnoredDuringExecution node affinity.
type requiredNodeAffinity struct {
	labelSelector labels.Selector // nil: no nodeSelector
	nodeSelector  *nodeSelector   // nil: no required node affinity
}

func newRequiredNodeAffinity(pod *corev1.Pod) *requiredNodeAffinity {
	r := &requiredNodeAffinity{}
	if len(pod.Spec.NodeSelector) > 0 {
		r.labelSelector = labels.SelectorFromSet(pod.Spec.NodeSelector)
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		r.nodeSelector = newNodeSelector(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
	}
	return r
}

// Match reports whether the node satisfies the pod's nodeSelector and
// required node affinity.
func (r *requiredNodeAffinity) Match(node *corev1.Node) bool {
	if r.labelSelector != nil && !r.labelSelector.Matches(labels.Set(node.Labels)) {
		return false
	}
	if r.nodeSelector != nil {
		return r.nodeSelector.Match(labels.Set(node.Labels), node.Name)
	}
	return true
}

// preferredSchedulingTerms are a pod's preferred node affinity terms,
// parsed; terms with weight 0 or no expressions are dropped.
type preferredSchedulingTerms struct {
	terms   []nodeSelectorTerm
	weights []int64
}

func newPreferredSchedulingTerms(in []corev1.PreferredSchedulingTerm) *preferredSchedulingTerms {
	p := &preferredSchedulingTerms{}
	for i := range in {
		t := &in[i]
		if t.Weight == 0 || (len(t.Preference.MatchExpressions) == 0 && len(t.Preference.MatchFields) == 0) {
			continue
		}
		p.terms = append(p.terms, newNodeSelectorTerm(&t.Preference))
		p.weights = append(p.weights, int64(t.Weight))
	}
	return p
}

// Score is the sum of the weights of the terms the node matches.
func (p *preferredSchedulingTerms) Score(node *corev1.Node) int64 {
	var s int64
	for i := range p.terms {
		if p.terms[i].match(labels.Set(node.Labels), node.Name) {
			s += p.weights[i]
		}
	}
	return s
}
