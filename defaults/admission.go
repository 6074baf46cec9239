package defaults

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ValidatingAdmissionPolicy sets SetDefaults_ValidatingAdmissionPolicySpec and
// the defaults of its match constraints.
func ValidatingAdmissionPolicy(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
	if p.Spec.FailurePolicy == nil {
		p.Spec.FailurePolicy = ptrTo(admissionregistrationv1.Fail)
	}
	matchResources(p.Spec.MatchConstraints)
}

// ValidatingAdmissionPolicyBinding sets the defaults of its match resources.
func ValidatingAdmissionPolicyBinding(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	matchResources(b.Spec.MatchResources)
}

// matchResources is SetDefaults_MatchResources plus SetDefaults_Rule on every
// resource rule.
func matchResources(m *admissionregistrationv1.MatchResources) {
	if m == nil {
		return
	}
	if m.MatchPolicy == nil {
		m.MatchPolicy = ptrTo(admissionregistrationv1.Equivalent)
	}
	if m.NamespaceSelector == nil {
		m.NamespaceSelector = &metav1.LabelSelector{}
	}
	if m.ObjectSelector == nil {
		m.ObjectSelector = &metav1.LabelSelector{}
	}
	for i := range m.ResourceRules {
		rule(&m.ResourceRules[i].Rule)
	}
	for i := range m.ExcludeResourceRules {
		rule(&m.ExcludeResourceRules[i].Rule)
	}
}

func rule(r *admissionregistrationv1.Rule) {
	if r.Scope == nil {
		r.Scope = ptrTo(admissionregistrationv1.AllScopes)
	}
}

// ValidatingWebhookConfiguration sets SetDefaults_ValidatingWebhook and the
// defaults of the webhooks' rules and service references.
func ValidatingWebhookConfiguration(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		webhookCommon(&w.FailurePolicy, &w.MatchPolicy, &w.NamespaceSelector, &w.ObjectSelector,
			&w.SideEffects, &w.TimeoutSeconds, &w.AdmissionReviewVersions, w.Rules, &w.ClientConfig)
	}
}

// MutatingWebhookConfiguration sets SetDefaults_MutatingWebhook and the
// defaults of the webhooks' rules and service references.
func MutatingWebhookConfiguration(c *admissionregistrationv1.MutatingWebhookConfiguration) {
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		webhookCommon(&w.FailurePolicy, &w.MatchPolicy, &w.NamespaceSelector, &w.ObjectSelector,
			&w.SideEffects, &w.TimeoutSeconds, &w.AdmissionReviewVersions, w.Rules, &w.ClientConfig)
		if w.ReinvocationPolicy == nil {
			w.ReinvocationPolicy = ptrTo(admissionregistrationv1.NeverReinvocationPolicy)
		}
	}
}

func webhookCommon(failurePolicy **admissionregistrationv1.FailurePolicyType,
	matchPolicy **admissionregistrationv1.MatchPolicyType,
	namespaceSelector, objectSelector **metav1.LabelSelector,
	sideEffects **admissionregistrationv1.SideEffectClass,
	timeoutSeconds **int32,
	reviewVersions *[]string,
	rules []admissionregistrationv1.RuleWithOperations,
	clientConfig *admissionregistrationv1.WebhookClientConfig,
) {
	if *failurePolicy == nil {
		*failurePolicy = ptrTo(admissionregistrationv1.Fail)
	}
	if *matchPolicy == nil {
		*matchPolicy = ptrTo(admissionregistrationv1.Equivalent)
	}
	if *namespaceSelector == nil {
		*namespaceSelector = &metav1.LabelSelector{}
	}
	if *objectSelector == nil {
		*objectSelector = &metav1.LabelSelector{}
	}
	if *sideEffects == nil {
		*sideEffects = ptrTo(admissionregistrationv1.SideEffectClassUnknown)
	}
	if *timeoutSeconds == nil {
		*timeoutSeconds = ptrTo(int32(30))
	}
	if len(*reviewVersions) == 0 {
		*reviewVersions = []string{"v1"}
	}
	for i := range rules {
		rule(&rules[i].Rule)
	}
	if clientConfig.Service != nil && clientConfig.Service.Port == nil {
		clientConfig.Service.Port = ptrTo(int32(443))
	}
}
