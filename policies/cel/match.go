package cel

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cairn-dev/cairn/policies"
)

// matcher is a parsed MatchResources, as Kubernetes'
// admission/plugin/policy/matching evaluates it.
type matcher struct {
	nsSel   labels.Selector // nil: everything (the API default {})
	objSel  labels.Selector
	rules   []admissionregistrationv1.NamedRuleWithOperations
	exclude []admissionregistrationv1.NamedRuleWithOperations
}

func newMatcher(m *admissionregistrationv1.MatchResources) (*matcher, error) {
	out := &matcher{rules: m.ResourceRules, exclude: m.ExcludeResourceRules}
	var errs []string
	if m.NamespaceSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(m.NamespaceSelector)
		if err != nil {
			errs = append(errs, fmt.Sprintf("namespaceSelector: %v", err))
			s = labels.Nothing()
		}
		if !s.Empty() {
			out.nsSel = s
		}
	}
	if m.ObjectSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(m.ObjectSelector)
		if err != nil {
			errs = append(errs, fmt.Sprintf("objectSelector: %v", err))
			s = labels.Nothing()
		}
		if !s.Empty() {
			out.objSel = s
		}
	}
	// matchPolicy Equivalent would also match equivalent resources in other
	// groups/versions; without a version map cairn treats it as Exact.
	if len(errs) > 0 {
		return out, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// matches reports whether the request is selected. A non-nil error is a
// configuration or lookup error (failurePolicy applies).
func (m *matcher) matches(r *request) (bool, error) {
	nsOK, nsErr := true, error(nil)
	if m.nsSel != nil {
		nsOK, nsErr = r.matchNamespace(m.nsSel)
		if !nsOK && nsErr == nil {
			return false, nil
		}
	}
	if m.objSel != nil {
		if !matchObject(r.a.Object, m.objSel) && !matchObject(r.a.OldObject, m.objSel) {
			return false, nil
		}
	}
	if matchRules(m.exclude, r.a) {
		return false, nil
	}
	if len(m.rules) > 0 && !matchRules(m.rules, r.a) {
		return false, nil
	}
	if nsErr != nil {
		return false, nsErr
	}
	return nsOK, nil
}

func matchObject(obj runtime.Object, sel labels.Selector) bool {
	if obj == nil {
		return false
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(acc.GetLabels()))
}

func isNamespaceResource(a *policies.Attributes) bool {
	return a.Resource.Group == "" && a.Resource.Resource == "namespaces"
}

// matchNamespace is Kubernetes' namespace matcher: cluster-scoped objects
// other than namespaces always match; a namespace being created or updated
// is matched by its own labels.
func (r *request) matchNamespace(sel labels.Selector) (bool, error) {
	a := r.a
	if a.Namespace == "" && !isNamespaceResource(a) {
		return true, nil
	}
	if isNamespaceResource(a) && a.Subresource == "" && (a.Operation == policies.Create || a.Operation == policies.Update) {
		if a.Object == nil {
			return false, nil
		}
		acc, err := meta.Accessor(a.Object)
		if err != nil {
			return false, apierrors.NewInternalError(err)
		}
		return sel.Matches(labels.Set(acc.GetLabels())), nil
	}
	name := a.Namespace
	if name == "" {
		name = a.Name
	}
	ns, err := r.namespace(name)
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); ok {
			return false, err
		}
		return false, apierrors.NewInternalError(err)
	}
	return sel.Matches(labels.Set(ns.Labels)), nil
}

func matchRules(rules []admissionregistrationv1.NamedRuleWithOperations, a *policies.Attributes) bool {
	for i := range rules {
		r := &rules[i]
		if !ruleMatches(&r.RuleWithOperations, a) {
			continue
		}
		if len(r.ResourceNames) == 0 {
			return true
		}
		for _, n := range r.ResourceNames {
			if n == a.Name {
				return true
			}
		}
	}
	return false
}

func ruleMatches(r *admissionregistrationv1.RuleWithOperations, a *policies.Attributes) bool {
	return scopeMatches(r.Scope, a) &&
		operationMatches(r.Operations, a.Operation) &&
		exactOrWildcard(r.APIGroups, a.Resource.Group) &&
		exactOrWildcard(r.APIVersions, a.Resource.Version) &&
		resourceMatches(r.Resources, a.Resource.Resource, a.Subresource)
}

func scopeMatches(s *admissionregistrationv1.ScopeType, a *policies.Attributes) bool {
	if s == nil || *s == admissionregistrationv1.AllScopes {
		return true
	}
	isNS := isNamespaceResource(a) && a.Resource.Version == "v1"
	switch *s {
	case admissionregistrationv1.NamespacedScope:
		return !isNS && a.Namespace != ""
	case admissionregistrationv1.ClusterScope:
		return isNS || a.Namespace == ""
	}
	return false
}

func operationMatches(ops []admissionregistrationv1.OperationType, op policies.Operation) bool {
	for _, o := range ops {
		if o == admissionregistrationv1.OperationAll || string(o) == string(op) {
			return true
		}
	}
	return false
}

func exactOrWildcard(items []string, s string) bool {
	for _, i := range items {
		if i == "*" || i == s {
			return true
		}
	}
	return false
}

func resourceMatches(resources []string, res, sub string) bool {
	for _, r := range resources {
		rr, rs, _ := strings.Cut(r, "/")
		if (rr == "*" || rr == res) && (rs == "*" || rs == sub) {
			return true
		}
	}
	return false
}

// exempt reports requests ValidatingAdmissionPolicies never see: writes to
// the admission configuration itself.
func exempt(a *policies.Attributes) bool {
	if a.Resource.Group != admissionregistrationv1.GroupName {
		return false
	}
	switch a.Resource.Resource {
	case "validatingadmissionpolicies", "validatingadmissionpolicybindings",
		"mutatingadmissionpolicies", "mutatingadmissionpolicybindings",
		"validatingwebhookconfigurations", "mutatingwebhookconfigurations":
		return true
	}
	return false
}
