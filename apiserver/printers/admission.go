package printers

import (
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Printers of admissionregistration.k8s.io.
func init() {
	const group = "admissionregistration.k8s.io"
	register(group, "ValidatingAdmissionPolicy", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Validations", "integer", "Validations indicates the number of validation rules defined in this configuration"),
		column("ParamKind", "string", "ParamKind specifies the kind of resources used to parameterize this policy"),
		ageColumn(),
	}, func(p *admissionregistrationv1.ValidatingAdmissionPolicy, now time.Time) []any {
		paramKind := "<unset>"
		if pk := p.Spec.ParamKind; pk != nil {
			paramKind = pk.APIVersion + "/" + pk.Kind
		}
		return []any{p.Name, int64(len(p.Spec.Validations)), paramKind, age(now, p.CreationTimestamp)}
	}))

	register(group, "ValidatingAdmissionPolicyBinding", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("PolicyName", "string", "PolicyName indicates the policy definition which the policy binding binded to"),
		column("ParamRef", "string", "ParamRef indicates the param resource which sets the configration param"),
		ageColumn(),
	}, func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding, now time.Time) []any {
		return []any{b.Name, b.Spec.PolicyName, paramRef(b.Spec.ParamRef), age(now, b.CreationTimestamp)}
	}))
}

// paramRef is namespace/name of the parameter object, "*/name" when the
// namespace is not given, or the selector.
func paramRef(pr *admissionregistrationv1.ParamRef) string {
	switch {
	case pr == nil:
		return "<unset>"
	case pr.Name != "" && pr.Namespace != "":
		return pr.Namespace + "/" + pr.Name
	case pr.Name != "":
		// Whether the param is cluster-scoped is unknown here.
		return "*/" + pr.Name
	case pr.Selector != nil:
		return pr.Selector.String()
	}
	return "<unset>"
}
