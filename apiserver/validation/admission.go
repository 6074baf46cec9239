package validation

import (
	"fmt"
	"regexp"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedFailurePolicies = sets.New(string(admissionregistrationv1.Fail), string(admissionregistrationv1.Ignore))
	supportedMatchPolicies   = sets.New(string(admissionregistrationv1.Exact), string(admissionregistrationv1.Equivalent))
	supportedOperations      = sets.New(string(admissionregistrationv1.OperationAll), string(admissionregistrationv1.Create),
		string(admissionregistrationv1.Update), string(admissionregistrationv1.Delete), string(admissionregistrationv1.Connect))
	supportedScopes = sets.New(string(admissionregistrationv1.ClusterScope), string(admissionregistrationv1.NamespacedScope),
		string(admissionregistrationv1.AllScopes))
	supportedReasons = sets.New(string(metav1.StatusReasonUnauthorized), string(metav1.StatusReasonForbidden),
		string(metav1.StatusReasonInvalid), string(metav1.StatusReasonRequestEntityTooLarge))
	supportedValidationActions = sets.New(string(admissionregistrationv1.Deny), string(admissionregistrationv1.Warn),
		string(admissionregistrationv1.Audit))

	newlineRE       = regexp.MustCompile(`[\n\r]+`)
	celIdentifierRE = regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]*$`)
	celReserved     = sets.New("true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
		"function", "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while")
)

const (
	maxAuditAnnotations                     = 20
	maxAuditAnnotationValueExpressionLength = 5 * 1024
)

// validateValidatingAdmissionPolicySpec is validateValidatingAdmissionPolicySpec
// without the CEL compilation (expressions are only checked to be present).
func validateValidatingAdmissionPolicySpec(name string, spec *admissionregistrationv1.ValidatingAdmissionPolicySpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.FailurePolicy == nil {
		errs = append(errs, field.Required(fldPath.Child("failurePolicy"), ""))
	} else if !supportedFailurePolicies.Has(string(*spec.FailurePolicy)) {
		errs = append(errs, field.NotSupported(fldPath.Child("failurePolicy"), *spec.FailurePolicy, sets.List(supportedFailurePolicies)))
	}
	if spec.ParamKind != nil {
		errs = append(errs, validateParamKind(spec.ParamKind, fldPath.Child("paramKind"))...)
	}
	if spec.MatchConstraints == nil {
		errs = append(errs, field.Required(fldPath.Child("matchConstraints"), ""))
	} else {
		errs = append(errs, validateMatchResources(spec.MatchConstraints, fldPath.Child("matchConstraints"))...)
		if len(spec.MatchConstraints.ResourceRules) == 0 {
			errs = append(errs, field.Required(fldPath.Child("matchConstraints", "resourceRules"), ""))
		}
	}
	errs = append(errs, validateMatchConditions(spec.MatchConditions, fldPath.Child("matchConditions"))...)
	for i, v := range spec.Variables {
		p := fldPath.Child("variables").Index(i)
		if strings.TrimSpace(v.Name) == "" {
			errs = append(errs, field.Required(p.Child("name"), "name is not specified"))
		} else if !celIdentifierRE.MatchString(v.Name) || celReserved.Has(v.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), v.Name, "name is not a valid CEL identifier"))
		}
		if strings.TrimSpace(v.Expression) == "" {
			errs = append(errs, field.Required(p.Child("expression"), "expression is not specified"))
		}
	}
	if len(spec.Validations) == 0 && len(spec.AuditAnnotations) == 0 {
		const msg = "validations or auditAnnotations must contain at least one item"
		return append(errs, field.Required(fldPath.Child("validations"), msg), field.Required(fldPath.Child("auditAnnotations"), msg))
	}
	for i, v := range spec.Validations {
		errs = append(errs, validateValidation(&v, fldPath.Child("validations").Index(i))...)
	}
	if len(spec.AuditAnnotations) > maxAuditAnnotations {
		errs = append(errs, field.Invalid(fldPath.Child("auditAnnotations"), spec.AuditAnnotations,
			fmt.Sprintf("must not have more than %d auditAnnotations", maxAuditAnnotations)))
	}
	keys := sets.New[string]()
	for i, a := range spec.AuditAnnotations {
		p := fldPath.Child("auditAnnotations").Index(i)
		if name != "" {
			errs = append(errs, validateQualifiedName(name+"/"+a.Key, p.Child("key"))...)
		} else {
			errs = append(errs, field.Invalid(p.Child("key"), a.Key, "requires metadata.name be non-empty"))
		}
		switch trimmed := strings.TrimSpace(a.ValueExpression); {
		case trimmed == "":
			errs = append(errs, field.Required(p.Child("valueExpression"), "valueExpression is not specified"))
		case len(trimmed) > maxAuditAnnotationValueExpressionLength:
			errs = append(errs, field.Required(p.Child("valueExpression"), fmt.Sprintf("must not exceed %d bytes in length", maxAuditAnnotationValueExpressionLength)))
		}
		if keys.Has(a.Key) {
			errs = append(errs, field.Duplicate(p.Child("key"), a.Key))
		}
		keys.Insert(a.Key)
	}
	return errs
}

func validateValidation(v *admissionregistrationv1.Validation, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if strings.TrimSpace(v.Expression) == "" {
		errs = append(errs, field.Required(fldPath.Child("expression"), "expression is not specified"))
	}
	if v.MessageExpression != "" && strings.TrimSpace(v.MessageExpression) == "" {
		errs = append(errs, field.Invalid(fldPath.Child("messageExpression"), v.MessageExpression, "must be non-empty if specified"))
	}
	trimmedMsg := strings.TrimSpace(v.Message)
	if v.Message != "" && trimmedMsg == "" {
		errs = append(errs, field.Invalid(fldPath.Child("message"), v.Message, "message must be non-empty if specified"))
	} else if newlineRE.MatchString(trimmedMsg) {
		errs = append(errs, field.Invalid(fldPath.Child("message"), v.Message, "message must not contain line breaks"))
	}
	if v.Reason != nil && !supportedReasons.Has(string(*v.Reason)) {
		errs = append(errs, field.NotSupported(fldPath.Child("reason"), *v.Reason, sets.List(supportedReasons)))
	}
	return errs
}

func validateParamKind(pk *admissionregistrationv1.ParamKind, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if pk.APIVersion == "" {
		errs = append(errs, field.Required(fldPath.Child("apiVersion"), ""))
	} else if strings.Count(pk.APIVersion, "/") > 1 {
		errs = append(errs, field.Invalid(fldPath.Child("apiVersion"), pk.APIVersion, "unexpected GroupVersion string: "+pk.APIVersion))
	} else {
		group, version := "", pk.APIVersion
		if i := strings.Index(pk.APIVersion, "/"); i >= 0 {
			group, version = pk.APIVersion[:i], pk.APIVersion[i+1:]
		}
		if group != "" {
			if msgs := isDNS1123Subdomain(group); len(msgs) > 0 {
				errs = append(errs, field.Invalid(fldPath.Child("apiVersion"), group, strings.Join(msgs, ",")))
			}
		}
		if version == "" {
			errs = append(errs, field.Invalid(fldPath.Child("apiVersion"), pk.APIVersion, "version must be specified"))
		} else if msgs := validation.IsDNS1035Label(version); len(msgs) > 0 {
			errs = append(errs, field.Invalid(fldPath.Child("apiVersion"), version, strings.Join(msgs, ",")))
		}
	}
	if pk.Kind == "" {
		errs = append(errs, field.Required(fldPath.Child("kind"), ""))
	} else if msgs := validation.IsDNS1035Label(strings.ToLower(pk.Kind)); len(msgs) > 0 {
		errs = append(errs, field.Invalid(fldPath.Child("kind"), pk.Kind, "may have mixed case, but should otherwise match: "+strings.Join(msgs, ",")))
	}
	return errs
}

func validateMatchResources(m *admissionregistrationv1.MatchResources, fldPath *field.Path) field.ErrorList {
	if m == nil {
		return nil
	}
	var errs field.ErrorList
	if m.MatchPolicy == nil {
		errs = append(errs, field.Required(fldPath.Child("matchPolicy"), ""))
	} else if !supportedMatchPolicies.Has(string(*m.MatchPolicy)) {
		errs = append(errs, field.NotSupported(fldPath.Child("matchPolicy"), *m.MatchPolicy, sets.List(supportedMatchPolicies)))
	}
	if m.NamespaceSelector == nil {
		errs = append(errs, field.Required(fldPath.Child("namespaceSelector"), ""))
	} else {
		errs = append(errs, validateLabelSelector(m.NamespaceSelector, fldPath.Child("namespaceSelector"))...)
	}
	if m.ObjectSelector == nil {
		errs = append(errs, field.Required(fldPath.Child("objectSelector"), ""))
	} else {
		errs = append(errs, validateLabelSelector(m.ObjectSelector, fldPath.Child("objectSelector"))...)
	}
	for i := range m.ResourceRules {
		errs = append(errs, validateNamedRule(&m.ResourceRules[i], fldPath.Child("resourceRules").Index(i))...)
	}
	for i := range m.ExcludeResourceRules {
		errs = append(errs, validateNamedRule(&m.ExcludeResourceRules[i], fldPath.Child("excludeResourceRules").Index(i))...)
	}
	return errs
}

func validateNamedRule(r *admissionregistrationv1.NamedRuleWithOperations, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, n := range r.ResourceNames {
		p := fldPath.Child("resourceNames").Index(i)
		for _, msg := range content.IsPathSegmentName(n) {
			errs = append(errs, field.Invalid(p, n, msg))
		}
		if names.Has(n) {
			errs = append(errs, field.Duplicate(p, n))
		}
		names.Insert(n)
	}
	return append(errs, validateRuleWithOperations(&r.RuleWithOperations, fldPath)...)
}

func hasWildcard(s []string) bool {
	for _, v := range s {
		if v == "*" {
			return true
		}
	}
	return false
}

func validateRuleWithOperations(r *admissionregistrationv1.RuleWithOperations, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	ops := make([]string, len(r.Operations))
	for i, op := range r.Operations {
		ops[i] = string(op)
	}
	if len(ops) == 0 {
		errs = append(errs, field.Required(fldPath.Child("operations"), ""))
	}
	if len(ops) > 1 && hasWildcard(ops) {
		errs = append(errs, field.Invalid(fldPath.Child("operations"), r.Operations, "if '*' is present, must not specify other operations"))
	}
	for i, op := range ops {
		if !supportedOperations.Has(op) {
			errs = append(errs, field.NotSupported(fldPath.Child("operations").Index(i), op, sets.List(supportedOperations)))
		}
	}
	rule := &r.Rule
	if len(rule.APIGroups) == 0 {
		errs = append(errs, field.Required(fldPath.Child("apiGroups"), ""))
	}
	if len(rule.APIGroups) > 1 && hasWildcard(rule.APIGroups) {
		errs = append(errs, field.Invalid(fldPath.Child("apiGroups"), rule.APIGroups, "if '*' is present, must not specify other API groups"))
	}
	if len(rule.APIVersions) == 0 {
		errs = append(errs, field.Required(fldPath.Child("apiVersions"), ""))
	}
	if len(rule.APIVersions) > 1 && hasWildcard(rule.APIVersions) {
		errs = append(errs, field.Invalid(fldPath.Child("apiVersions"), rule.APIVersions, "if '*' is present, must not specify other API versions"))
	}
	for i, v := range rule.APIVersions {
		if v == "" {
			errs = append(errs, field.Required(fldPath.Child("apiVersions").Index(i), ""))
		}
	}
	errs = append(errs, validateResources(rule.Resources, fldPath.Child("resources"))...)
	if rule.Scope != nil && !supportedScopes.Has(string(*rule.Scope)) {
		errs = append(errs, field.NotSupported(fldPath.Child("scope"), *rule.Scope, sets.List(supportedScopes)))
	}
	return errs
}

func validateResources(resources []string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(resources) == 0 {
		errs = append(errs, field.Required(fldPath, ""))
	}
	withWildcardSub, withWildcardRes := sets.New[string](), sets.New[string]()
	doubleWildcard, singleWildcard, plain := false, false, false
	for i, rs := range resources {
		if rs == "" {
			errs = append(errs, field.Required(fldPath.Index(i), ""))
			continue
		}
		if rs == "*/*" {
			doubleWildcard = true
		}
		if rs == "*" {
			singleWildcard = true
		}
		res, sub, ok := strings.Cut(rs, "/")
		if !ok {
			plain = rs != "*"
			continue
		}
		if withWildcardSub.Has(res) {
			errs = append(errs, field.Invalid(fldPath.Index(i), rs, fmt.Sprintf("if '%s/*' is present, must not specify %s", res, rs)))
		}
		if withWildcardRes.Has(sub) {
			errs = append(errs, field.Invalid(fldPath.Index(i), rs, fmt.Sprintf("if '*/%s' is present, must not specify %s", sub, rs)))
		}
		if sub == "*" {
			withWildcardSub.Insert(res)
		}
		if res == "*" {
			withWildcardRes.Insert(sub)
		}
	}
	if len(resources) > 1 && doubleWildcard {
		errs = append(errs, field.Invalid(fldPath, resources, "if '*/*' is present, must not specify other resources"))
	}
	if singleWildcard && plain {
		errs = append(errs, field.Invalid(fldPath, resources, "if '*' is present, must not specify other resources without subresources"))
	}
	return errs
}

func validateMatchConditions(conds []admissionregistrationv1.MatchCondition, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(conds) > 64 {
		errs = append(errs, field.TooMany(fldPath, len(conds), 64))
	}
	names := sets.New[string]()
	for i, c := range conds {
		p := fldPath.Index(i)
		if strings.TrimSpace(c.Expression) == "" {
			errs = append(errs, field.Required(p.Child("expression"), ""))
		}
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, validateQualifiedName(c.Name, p.Child("name"))...)
			if names.Has(c.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
			}
			names.Insert(c.Name)
		}
	}
	return errs
}

// validateValidatingAdmissionPolicyBindingSpec is
// validateValidatingAdmissionPolicyBindingSpec.
func validateValidatingAdmissionPolicyBindingSpec(spec *admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.PolicyName == "" {
		errs = append(errs, field.Required(fldPath.Child("policyName"), ""))
	} else {
		errs = append(errs, validateName(subdomain, spec.PolicyName, fldPath.Child("policyName"))...)
	}
	if pr := spec.ParamRef; pr != nil {
		p := fldPath.Child("paramRef")
		if pr.Name != "" {
			for _, msg := range content.IsPathSegmentName(pr.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), pr.Name, msg))
			}
			if pr.Selector != nil {
				errs = append(errs, field.Forbidden(p.Child("name"), "name and selector are mutually exclusive"))
			}
		}
		if pr.Selector != nil {
			errs = append(errs, validateLabelSelector(pr.Selector, p.Child("selector"))...)
			if pr.Name != "" {
				errs = append(errs, field.Forbidden(p.Child("selector"), "name and selector are mutually exclusive"))
			}
		}
		if pr.Name == "" && pr.Selector == nil {
			errs = append(errs, field.Required(p, "one of name or selector must be specified"))
		}
		if a := pr.ParameterNotFoundAction; a == nil || *a == "" {
			errs = append(errs, field.Required(p.Child("parameterNotFoundAction"), ""))
		} else if *a != admissionregistrationv1.DenyAction && *a != admissionregistrationv1.AllowAction {
			errs = append(errs, field.NotSupported(p.Child("parameterNotFoundAction"), a,
				[]string{string(admissionregistrationv1.DenyAction), string(admissionregistrationv1.AllowAction)}))
		}
	}
	errs = append(errs, validateMatchResources(spec.MatchResources, fldPath.Child("matchResources"))...)
	actions := sets.New[string]()
	ap := fldPath.Child("validationActions")
	for i, a := range spec.ValidationActions {
		if !supportedValidationActions.Has(string(a)) {
			errs = append(errs, field.NotSupported(ap.Index(i), a, sets.List(supportedValidationActions)))
		}
		if actions.Has(string(a)) {
			errs = append(errs, field.Duplicate(ap.Index(i), a))
		}
		actions.Insert(string(a))
	}
	if actions.Has(string(admissionregistrationv1.Deny)) && actions.Has(string(admissionregistrationv1.Warn)) {
		errs = append(errs, field.Invalid(ap, spec.ValidationActions,
			"must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)"))
	}
	if len(actions) == 0 {
		errs = append(errs, field.Required(ap, "at least one validation action is required"))
	}
	return errs
}
