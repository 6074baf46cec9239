package validation

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func matchDeployments() *admissionregistrationv1.MatchResources {
	return &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
		RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
		}}}}
}

func validPolicy(mut func(*admissionregistrationv1.ValidatingAdmissionPolicy)) *admissionregistrationv1.ValidatingAdmissionPolicy {
	p := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "replica-limit"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: matchDeployments(),
			Validations:      []admissionregistrationv1.Validation{{Expression: "object.spec.replicas <= 5", Message: "too many replicas"}},
		}}
	if mut != nil {
		mut(p)
	}
	return defaulted(p)
}

func validBinding(mut func(*admissionregistrationv1.ValidatingAdmissionPolicyBinding)) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "replica-limit"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        "replica-limit",
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources:    &admissionregistrationv1.MatchResources{},
		}}
	if mut != nil {
		mut(b)
	}
	return defaulted(b)
}

func TestValidatingAdmissionPolicy(t *testing.T) {
	runCases(t, []testCase{
		{"valid", validPolicy(nil), nil, nil},
		{"audit only", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations = nil
			p.Spec.AuditAnnotations = []admissionregistrationv1.AuditAnnotation{{Key: "replicas", ValueExpression: "string(object.spec.replicas)"}}
		}), nil, nil},
		{"neither validations nor auditAnnotations", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) { p.Spec.Validations = nil }), nil,
			[]want{req("spec.validations"), req("spec.auditAnnotations")}},
		{"empty expression", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) { p.Spec.Validations[0].Expression = "  " }), nil,
			[]want{req("spec.validations[0].expression")}},
		{"message with line break", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) { p.Spec.Validations[0].Message = "a\nb" }), nil,
			[]want{inv("spec.validations[0].message")}},
		{"reason", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].Reason = ptr(metav1.StatusReason("Teapot"))
		}), nil, []want{notSup("spec.validations[0].reason")}},
		{"matchConstraints required", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) { p.Spec.MatchConstraints = nil }), nil,
			[]want{req("spec.matchConstraints")}},
		{"resourceRules required", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.MatchConstraints = &admissionregistrationv1.MatchResources{}
		}), nil, []want{req("spec.matchConstraints.resourceRules")}},
		{"rule operations", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.MatchConstraints.ResourceRules[0].Operations = nil
		}), nil, []want{req("spec.matchConstraints.resourceRules[0].operations")}},
		{"failurePolicy", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.FailurePolicy = ptr(admissionregistrationv1.FailurePolicyType("Retry"))
		}), nil, []want{notSup("spec.failurePolicy")}},
		{"variable name", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Variables = []admissionregistrationv1.Variable{{Name: "1x", Expression: "1"}}
		}), nil, []want{inv("spec.variables[0].name")}},
		{"duplicate audit keys", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			a := admissionregistrationv1.AuditAnnotation{Key: "k", ValueExpression: "'v'"}
			p.Spec.AuditAnnotations = []admissionregistrationv1.AuditAnnotation{a, a}
		}), nil, []want{dup("spec.auditAnnotations[1].key")}},
		{"paramKind", validPolicy(func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "example.com/v1"}
		}), nil, []want{req("spec.paramKind.kind")}},
	})
}

func TestValidatingAdmissionPolicyBinding(t *testing.T) {
	runCases(t, []testCase{
		{"valid", validBinding(nil), nil, nil},
		{"policyName", validBinding(func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) { b.Spec.PolicyName = "" }), nil,
			[]want{req("spec.policyName")}},
		{"validationActions", validBinding(func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) { b.Spec.ValidationActions = nil }), nil,
			[]want{req("spec.validationActions")}},
		{"deny and warn", validBinding(func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.ValidationActions = append(b.Spec.ValidationActions, admissionregistrationv1.Warn)
		}), nil, []want{inv("spec.validationActions")}},
		{"paramRef", validBinding(func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.ParamRef = &admissionregistrationv1.ParamRef{}
		}), nil, []want{req("spec.paramRef"), req("spec.paramRef.parameterNotFoundAction")}},
		{"matchResources without defaults", func() *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
			b := validBinding(nil)
			b.Spec.MatchResources = &admissionregistrationv1.MatchResources{}
			return b
		}(), nil, []want{req("spec.matchResources.matchPolicy"), req("spec.matchResources.namespaceSelector"), req("spec.matchResources.objectSelector")}},
	})
}
