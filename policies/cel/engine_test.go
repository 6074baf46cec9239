package cel

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cairn-dev/cairn/policies"
)

type polMod func(*admissionregistrationv1.ValidatingAdmissionPolicy)
type bindMod func(*admissionregistrationv1.ValidatingAdmissionPolicyBinding)

func with(p *admissionregistrationv1.ValidatingAdmissionPolicy, mods ...polMod) *admissionregistrationv1.ValidatingAdmissionPolicy {
	for _, m := range mods {
		m(p)
	}
	return p
}

func withB(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding, mods ...bindMod) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	for _, m := range mods {
		m(b)
	}
	return b
}

func ignore(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
	p.Spec.FailurePolicy = ptr(admissionregistrationv1.Ignore)
}

func configMapParams(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
	p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}
}

func paramRef(r admissionregistrationv1.ParamRef) bindMod {
	return func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) { b.Spec.ParamRef = &r }
}

func allOps(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
	p.Spec.MatchConstraints.ResourceRules[0].Operations = []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll}
}

type engineCase struct {
	name     string
	opts     Options
	policies []*admissionregistrationv1.ValidatingAdmissionPolicy
	bindings []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
	lookup   *fakeLookup // default newLookup()
	attrs    *policies.Attributes

	wantProblems []string // substrings, one per problem, in order
	wantErr      []string // substrings of the error message; nil: allowed
	wantCode     int32
	wantReason   metav1.StatusReason
	wantWarnings [][]string          // substrings per warning
	wantAudit    map[string][]string // key → substrings of value
}

func TestValidate(t *testing.T) {
	tooMany := deployment("team-a", "web", 10, map[string]string{"app": "web"})
	ok := deployment("team-a", "web", 2, map[string]string{"app": "web"})
	denyAction := ptr(admissionregistrationv1.DenyAction)
	allowAction := ptr(admissionregistrationv1.AllowAction)
	bigContainers := make([]corev1.Container, 2000)
	for i := range bigContainers {
		bigContainers[i] = container("c", "nginx:1", true)
	}

	cases := []engineCase{
		{
			name:       "deny",
			policies:   []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("max-replicas", "object.spec.replicas <= 5")},
			bindings:   []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("max-replicas-binding", "max-replicas")},
			attrs:      create(tooMany),
			wantErr:    []string{`deployments.apps "web" is forbidden: ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding' denied request: failed expression: object.spec.replicas <= 5`},
			wantCode:   422,
			wantReason: metav1.StatusReasonInvalid,
		},
		{
			name:     "allow",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("max-replicas", "object.spec.replicas <= 5")},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "max-replicas")},
			attrs:    create(ok),
		},
		{
			name:     "policy without binding does nothing",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("max-replicas", "object.spec.replicas <= 5")},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "other-policy")},
			attrs:    create(tooMany),
		},
		{
			name:     "unmatched resource",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("p", "false")},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(pod("team-a", "x", nil)),
		},
		{
			name: "wildcard resources do not match subresources",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				r := &p.Spec.MatchConstraints.ResourceRules[0]
				r.APIGroups, r.Resources = []string{"*"}, []string{"*"}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs: func() *policies.Attributes {
				a := create(ok)
				a.Subresource = "status"
				return a
			}(),
		},
		{
			name: "subresource rule",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConstraints.ResourceRules[0].Resources = []string{"deployments/status"}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs: func() *policies.Attributes {
				a := attrs(policies.Update, ok, ok)
				a.Subresource = "status"
				return a
			}(),
			wantErr: []string{"denied request: failed expression: false"},
		},
		{
			name: "reason Forbidden and message",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.Validations = []admissionregistrationv1.Validation{{Expression: "object.spec.replicas <= 5", Message: "  too many replicas ", Reason: ptr(metav1.StatusReasonForbidden)}}
			})},
			bindings:   []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:      create(tooMany),
			wantErr:    []string{"denied request: too many replicas"},
			wantCode:   403,
			wantReason: metav1.StatusReasonForbidden,
		},
		{
			name: "messageExpression",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.Validations = []admissionregistrationv1.Validation{{
					Expression:        "object.spec.replicas <= 5",
					Message:           "static",
					MessageExpression: "'replicas ' + string(object.spec.replicas) + ' > 5 for ' + request.userInfo.username",
				}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(tooMany),
			wantErr:  []string{"denied request: replicas 10 > 5 for alice"},
		},
		{
			name: "messageExpression error falls back to message",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.Validations = []admissionregistrationv1.Validation{{
					Expression:        "object.spec.replicas <= 5",
					Message:           "static message",
					MessageExpression: "object.spec.nothere + 'x'",
				}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(tooMany),
			wantErr:  []string{"denied request: static message"},
		},
		{
			name:         "warn",
			policies:     []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("max-replicas", "object.spec.replicas <= 5")},
			bindings:     []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("max-replicas-binding", "max-replicas", admissionregistrationv1.Warn)},
			attrs:        create(tooMany),
			wantWarnings: [][]string{{"Validation failed for ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding': failed expression: object.spec.replicas <= 5"}},
		},
		{
			name:         "audit",
			policies:     []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("max-replicas", "true", "object.spec.replicas <= 5")},
			bindings:     []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("max-replicas-binding", "max-replicas", admissionregistrationv1.Audit, admissionregistrationv1.Warn)},
			attrs:        create(tooMany),
			wantWarnings: [][]string{{"failed expression: object.spec.replicas <= 5"}},
			wantAudit: map[string][]string{ValidationFailureAnnotation: {
				`[{"expressionIndex":1,"message":"failed expression: object.spec.replicas \u003c= 5","validationActions":["Audit","Warn"],"binding":"max-replicas-binding","policy":"max-replicas"}]`,
			}},
		},
		{
			name: "auditAnnotations and null skips",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "true"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.AuditAnnotations = []admissionregistrationv1.AuditAnnotation{
					{Key: "replicas", ValueExpression: "'replicas: ' + string(object.spec.replicas)"},
					{Key: "skipped", ValueExpression: "object.spec.replicas > 100 ? 'big' : dyn(null)"},
				}
			})},
			bindings:  []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:     create(tooMany),
			wantAudit: map[string][]string{"p/replicas": {"replicas: 10"}},
		},
		{
			name: "matchConditions false skips",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConditions = []admissionregistrationv1.MatchCondition{
					{Name: "not-alice", Expression: "request.userInfo.username != 'alice'"},
					{Name: "errors", Expression: "object.nothere == 1"},
				}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(ok),
		},
		{
			name: "matchConditions true applies",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConditions = []admissionregistrationv1.MatchCondition{
					{Name: "is-dev", Expression: "'dev' in request.userInfo.groups"},
				}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(ok),
			wantErr:  []string{"failed expression: false"},
		},
		{
			name: "matchConditions error with Fail",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "true"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "errors", Expression: "object.nothere == 1"}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(ok),
			wantErr:  []string{"denied request: expression 'object.nothere == 1' resulted in error: no such key: nothere"},
			wantCode: 422,
		},
		{
			name: "matchConditions error with Ignore",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), ignore, func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConditions = []admissionregistrationv1.MatchCondition{{Name: "errors", Expression: "object.nothere == 1"}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(ok),
		},
		{
			name: "runtime error with Fail denies, Ignore admits",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{
				vap("fails", "object.spec.nothere > 1"),
				with(vap("ignored", "object.spec.nothere > 1"), ignore),
			},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b1", "fails"), vapb("b2", "ignored")},
			attrs:    create(ok),
			wantErr:  []string{"ValidatingAdmissionPolicy 'fails' with binding 'b1' denied request: expression 'object.spec.nothere > 1' resulted in error: no such key: nothere"},
		},
		{
			name: "namespaceSelector matches",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConstraints.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(deployment("team-a", "x", 1, nil)),
			wantErr:  []string{"failed expression: false"},
		},
		{
			name: "namespaceSelector does not match",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConstraints.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(deployment("team-b", "x", 1, nil)),
		},
		{
			name:     "binding namespaceSelector and missing namespace",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("p", "false")},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{withB(vapb("b", "p"), func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
				b.Spec.MatchResources = &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}
			})},
			attrs:   create(deployment("ghost", "x", 1, nil)),
			wantErr: []string{"denied request: failed to configure binding: namespaces \"ghost\" not found"},
		},
		{
			name: "namespaceSelector on a namespace uses its own labels",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "object.metadata.name.startsWith('team-')"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				r := &p.Spec.MatchConstraints.ResourceRules[0]
				r.APIGroups, r.Resources = []string{""}, []string{"namespaces"}
				p.Spec.MatchConstraints.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"managed": "true"}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "scratch", Labels: map[string]string{"managed": "true"}}}),
			wantErr:  []string{`namespaces "scratch" is forbidden`, "failed expression"},
		},
		{
			name: "objectSelector",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConstraints.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "frontend"}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(deployment("team-a", "x", 1, map[string]string{"tier": "frontend"})),
			wantErr:  []string{"failed expression: false"},
		},
		{
			name: "objectSelector on oldObject",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConstraints.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "frontend"}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    attrs(policies.Update, deployment("team-a", "x", 1, nil), deployment("team-a", "x", 1, map[string]string{"tier": "frontend"})),
			wantErr:  []string{"failed expression: false"},
		},
		{
			name: "objectSelector does not match",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConstraints.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "frontend"}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(deployment("team-a", "x", 1, map[string]string{"tier": "backend"})),
		},
		{
			name: "excludeResourceRules",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConstraints.ExcludeResourceRules = []admissionregistrationv1.NamedRuleWithOperations{{
					ResourceNames: []string{"web"},
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*"}},
					},
				}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(ok),
		},
		{
			name:     "binding excludeResourceRules leaves other names",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("p", "false")},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{withB(vapb("b", "p"), func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
				b.Spec.MatchResources = &admissionregistrationv1.MatchResources{ExcludeResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					ResourceNames: []string{"other"},
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
					},
				}}}
			})},
			attrs:   create(ok),
			wantErr: []string{"failed expression: false"},
		},
		{
			name: "scope Cluster excludes namespaced",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConstraints.ResourceRules[0].Scope = ptr(admissionregistrationv1.ClusterScope)
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(ok),
		},
		{
			name: "variables, lazily and in order",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.Variables = []admissionregistrationv1.Variable{
					{Name: "replicas", Expression: "object.spec.replicas"},
					{Name: "double", Expression: "variables.replicas * 2"},
					{Name: "broken", Expression: "object.nothere"}, // never used: never evaluated
				}
				p.Spec.Validations = []admissionregistrationv1.Validation{{Expression: "variables.double <= 10", MessageExpression: "'double is ' + string(variables.double)"}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(tooMany),
			wantErr:  []string{"denied request: double is 20"},
		},
		{
			name: "variable referring to a later variable is a compile problem",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "variables.a"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.Variables = []admissionregistrationv1.Variable{
					{Name: "a", Expression: "variables.b"},
					{Name: "b", Expression: "true"},
				}
			})},
			bindings:     []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:        create(ok),
			wantProblems: []string{`spec.variables[0].expression: compilation failed: undefined variable "b"`, `spec.validations[0].expression: compilation failed: must evaluate to bool`},
			wantErr:      []string{"compilation error: compilation failed: must evaluate to bool"},
		},
		{
			name:         "compile error with Fail",
			policies:     []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("broken", "object.spec.replicas <=", "true")},
			bindings:     []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("broken-binding", "broken")},
			attrs:        create(ok),
			wantProblems: []string{"spec.validations[0].expression: compilation failed: ERROR: <input>:1:"},
			wantErr:      []string{"ValidatingAdmissionPolicy 'broken' with binding 'broken-binding' denied request: compilation error: compilation failed: ERROR"},
			wantCode:     422,
		},
		{
			name:         "compile error with Ignore",
			policies:     []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("broken", "nosuchfunc(object)"), ignore)},
			bindings:     []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("broken-binding", "broken")},
			attrs:        create(ok),
			wantProblems: []string{"undeclared reference to 'nosuchfunc'"},
			wantWarnings: [][]string{{"'broken' with binding 'broken-binding' ignored an error", "undeclared reference to 'nosuchfunc'"}},
		},
		{
			name:     "cost limit exceeded",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("quadratic", "object.spec.template.spec.containers.all(c, object.spec.template.spec.containers.all(d, c.image == d.image))")},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "quadratic")},
			attrs:    create(deployment("team-a", "big", 1, nil, bigContainers...)),
			wantErr:  []string{"resulted in error: operation cancelled: actual cost limit exceeded"},
		},
		{
			name:     "tiny cost limit with Ignore admits",
			opts:     Options{CostLimit: 5},
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "object.spec.template.spec.containers.all(c, c.image != '')"), ignore)},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(deployment("team-a", "x", 1, nil, bigContainers[:10]...)),
		},
		{
			name:         "static cost over the limit",
			opts:         Options{CostLimit: 3},
			policies:     []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("p", "'a' + 'b' + 'c' + 'd' + 'e' == 'abcde'")},
			bindings:     []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:        create(ok),
			wantProblems: []string{"estimated rule cost exceeds budget"},
			wantErr:      []string{"compilation error: estimated rule cost exceeds budget"},
		},
		{
			name:     "policy budget exhausted",
			opts:     Options{PolicyBudget: 50},
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("p", "object.spec.template.spec.containers.all(c, c.image != '')")},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(deployment("team-a", "x", 1, nil, bigContainers[:100]...)),
			wantErr:  []string{"validation failed due to running out of cost budget"},
		},
		{
			name:     "UPDATE with oldObject",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("no-scale-down", "oldObject == null || object.spec.replicas >= oldObject.spec.replicas", "request.operation == 'UPDATE'")},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "no-scale-down")},
			attrs:    attrs(policies.Update, ok, tooMany),
			wantErr:  []string{"failed expression: oldObject == null || object.spec.replicas >= oldObject.spec.replicas"},
		},
		{
			name:     "CREATE has null oldObject",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("p", "oldObject == null && object.kind == 'Deployment' && object.apiVersion == 'apps/v1'")},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(ok),
		},
		{
			name: "DELETE",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("protect", "object == null && oldObject.metadata.labels['protected'] != 'true'"), allOps,
				func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
					p.Spec.Validations[0].MessageExpression = "'deployment ' + oldObject.metadata.name + ' is protected'"
				})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "protect")},
			attrs:    attrs(policies.Delete, nil, deployment("team-a", "db", 1, map[string]string{"protected": "true"})),
			wantErr:  []string{`deployments.apps "db" is forbidden`, "denied request: deployment db is protected"},
		},
		{
			name:     "request fields and namespaceObject",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("p", "request.namespace == 'team-a' && request.name == 'web' && request.kind.kind == 'Deployment' && request.resource.resource == 'deployments' && request.subResource == '' && !request.dryRun && namespaceObject.metadata.labels.env == 'prod'")},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(ok),
		},
		{
			name:     "params by name",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "object.spec.replicas <= int(params.data.max)"), configMapParams)},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{withB(vapb("b", "p"), paramRef(admissionregistrationv1.ParamRef{Name: "limits", Namespace: "default", ParameterNotFoundAction: denyAction}))},
			lookup:   newLookup(configMap("default", "limits", nil, map[string]string{"max": "3"})),
			attrs:    create(tooMany),
			wantErr:  []string{"failed expression: object.spec.replicas <= int(params.data.max)"},
		},
		{
			name:     "params by name in the request's namespace",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "object.spec.replicas <= int(params.data.max)"), configMapParams)},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{withB(vapb("b", "p"), paramRef(admissionregistrationv1.ParamRef{Name: "limits", ParameterNotFoundAction: denyAction}))},
			lookup:   newLookup(configMap("default", "limits", nil, map[string]string{"max": "3"}), configMap("team-a", "limits", nil, map[string]string{"max": "30"})),
			attrs:    create(tooMany),
		},
		{
			name:     "params not found, Allow",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), configMapParams)},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{withB(vapb("b", "p"), paramRef(admissionregistrationv1.ParamRef{Name: "missing", ParameterNotFoundAction: allowAction}))},
			attrs:    create(ok),
		},
		{
			name:     "params not found, Deny",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "true"), configMapParams)},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{withB(vapb("b", "p"), paramRef(admissionregistrationv1.ParamRef{Name: "missing", ParameterNotFoundAction: denyAction}))},
			attrs:    create(ok),
			wantErr:  []string{"ValidatingAdmissionPolicy 'p' with binding 'b' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"},
		},
		{
			name:     "params not found, Deny, failurePolicy Ignore",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "true"), configMapParams, ignore)},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{withB(vapb("b", "p"), paramRef(admissionregistrationv1.ParamRef{Name: "missing", ParameterNotFoundAction: denyAction}))},
			attrs:    create(ok),
		},
		{
			name:     "params lookup error",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "true"), configMapParams)},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{withB(vapb("b", "p"), paramRef(admissionregistrationv1.ParamRef{Name: "x", ParameterNotFoundAction: allowAction}))},
			lookup:   &fakeLookup{paramsErr: errors.New("paramKind kind `v1, Kind=ConfigMap` not known")},
			attrs:    create(ok),
			wantErr:  []string{"denied request: failed to configure binding: paramKind kind `v1, Kind=ConfigMap` not known"},
		},
		{
			name: "params by selector: every match is evaluated",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p"), configMapParams, func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.Validations = []admissionregistrationv1.Validation{{Expression: "object.spec.replicas <= int(params.data.max)", MessageExpression: "params.metadata.name + ' caps replicas at ' + params.data.max"}}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{withB(vapb("b", "p", admissionregistrationv1.Warn), paramRef(admissionregistrationv1.ParamRef{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"kind": "limit"}}, ParameterNotFoundAction: denyAction,
			}))},
			lookup: newLookup(
				configMap("team-a", "z-strict", map[string]string{"kind": "limit"}, map[string]string{"max": "4"}),
				configMap("team-a", "a-loose", map[string]string{"kind": "limit"}, map[string]string{"max": "100"}),
				configMap("team-a", "m-strict", map[string]string{"kind": "limit"}, map[string]string{"max": "8"}),
				configMap("team-a", "other", map[string]string{"kind": "other"}, map[string]string{"max": "1"}),
			),
			attrs:        create(tooMany),
			wantWarnings: [][]string{{"m-strict caps replicas at 8"}, {"z-strict caps replicas at 4"}},
		},
		{
			name:     "params by selector, none found, Deny",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "true"), configMapParams)},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{withB(vapb("b", "p"), paramRef(admissionregistrationv1.ParamRef{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"kind": "none"}}, ParameterNotFoundAction: denyAction,
			}))},
			attrs:   create(ok),
			wantErr: []string{"no params found"},
		},
		{
			name:     "paramKind without paramRef: params is null",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "params == null"), configMapParams)},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs:    create(ok),
		},
		{
			name: "libraries: quantity, strings, lists, sets, math, regex",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("libs",
				"quantity('1Gi').isGreaterThan(quantity('512Mi')) && quantity('500m').asApproximateFloat() == 0.5 && quantity('2').compareTo(quantity('2000m')) == 0",
				"quantity('1').add(quantity('1')).isInteger() && quantity('3').sub(1).asInteger() == 2 && isQuantity('1Ki') && !isQuantity('x')",
				"'a,b'.split(',') == ['a', 'b'] && 'Hello'.lowerAscii() == 'hello' && [1,2,3].isSorted() && [3,1,2].sum() == 6 && [3,1,2].min() == 1 && [3,1,2].max() == 3",
				"sets.contains([1,2,3], [1,2]) && math.greatest(1, 5, 3) == 5 && base64.encode(b'hi') == 'aGk=' && [2,1].sort() == [1,2]",
				"'abc 123 def 456'.find('[0-9]+') == '123' && 'abc 123 def 456'.findAll('[0-9]+') == ['123', '456'] && 'abc'.matches('^a')",
				"object.spec.template.spec.containers.all(c, quantity(c.resources.limits.memory).compareTo(quantity('1Gi')) < 0)",
				"cel.bind(n, object.metadata.name, n.size() > 0) && optional.of(1).hasValue()",
			)},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "libs")},
			attrs:    create(ok),
		},
		{
			name: "admission configuration is exempt",
			policies: []*admissionregistrationv1.ValidatingAdmissionPolicy{with(vap("p", "false"), func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
				p.Spec.MatchConstraints.ResourceRules[0].APIGroups = []string{"*"}
				p.Spec.MatchConstraints.ResourceRules[0].Resources = []string{"*"}
			})},
			bindings: []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")},
			attrs: func() *policies.Attributes {
				a := create(vap("x"))
				a.Resource.Group, a.Resource.Version, a.Resource.Resource = "admissionregistration.k8s.io", "v1", "validatingadmissionpolicies"
				return a
			}(),
		},
		{
			name:         "first denial wins, all warnings collected",
			policies:     []*admissionregistrationv1.ValidatingAdmissionPolicy{vap("a", "false"), vap("b", "false")},
			bindings:     []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("bw", "b", admissionregistrationv1.Warn), vapb("ad", "a"), vapb("bd", "b")},
			attrs:        create(ok),
			wantErr:      []string{"ValidatingAdmissionPolicy 'a' with binding 'ad'"},
			wantWarnings: [][]string{{"'b' with binding 'bw'"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(tc.opts)
			problems := e.SetPolicies(tc.policies, tc.bindings)
			if len(problems) != len(tc.wantProblems) {
				t.Fatalf("problems = %v, want %d: %q", problems, len(tc.wantProblems), tc.wantProblems)
			}
			for i, want := range tc.wantProblems {
				if got := problems[i].String(); !strings.Contains(got, want) {
					t.Errorf("problem[%d] = %q, want it to contain %q", i, got, want)
				}
			}
			l := tc.lookup
			if l == nil {
				l = newLookup()
			}
			res, err := mustValidate(t, e, tc.attrs, l)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
			} else {
				if err == nil {
					t.Fatalf("allowed, want error containing %q", tc.wantErr)
				}
				code, reason, msg := statusOf(err)
				if code == 0 {
					t.Fatalf("error %T %v is not a StatusError", err, err)
				}
				if !containsAll(msg, tc.wantErr...) {
					t.Errorf("error = %q, want it to contain %q", msg, tc.wantErr)
				}
				wantCode, wantReason := tc.wantCode, tc.wantReason
				if wantCode == 0 {
					wantCode, wantReason = 422, metav1.StatusReasonInvalid
				}
				if code != wantCode || (wantReason != "" && reason != wantReason) {
					t.Errorf("code, reason = %d %s, want %d %s", code, reason, wantCode, wantReason)
				}
			}
			if len(res.Warnings) != len(tc.wantWarnings) {
				t.Fatalf("warnings = %q, want %d", res.Warnings, len(tc.wantWarnings))
			}
			for i, want := range tc.wantWarnings {
				if !containsAll(res.Warnings[i], want...) {
					t.Errorf("warning[%d] = %q, want %q", i, res.Warnings[i], want)
				}
			}
			if len(res.AuditAnnotations) != len(tc.wantAudit) {
				t.Fatalf("audit annotations = %v, want keys of %v", res.AuditAnnotations, tc.wantAudit)
			}
			for k, want := range tc.wantAudit {
				if !containsAll(res.AuditAnnotations[k], want...) {
					t.Errorf("audit %s = %q, want %q", k, res.AuditAnnotations[k], want)
				}
			}
		})
	}
}

func TestAuditAnnotationIsValidJSON(t *testing.T) {
	e := New(Options{})
	e.SetPolicies(
		[]*admissionregistrationv1.ValidatingAdmissionPolicy{vap("p", "object.spec.replicas < 3")},
		[]*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p", admissionregistrationv1.Audit)},
	)
	res, err := e.Validate(t.Context(), create(deployment("team-a", "x", 4, nil)), newLookup())
	if err != nil {
		t.Fatal(err)
	}
	var got []ValidationFailureValue
	if err := json.Unmarshal([]byte(res.AuditAnnotations[ValidationFailureAnnotation]), &got); err != nil {
		t.Fatal(err)
	}
	want := ValidationFailureValue{ExpressionIndex: 0, Message: "failed expression: object.spec.replicas < 3", ValidationActions: []admissionregistrationv1.ValidationAction{"Audit"}, Binding: "b", Policy: "p"}
	if len(got) != 1 || got[0].Message != want.Message || got[0].Binding != "b" || got[0].Policy != "p" || len(got[0].ValidationActions) != 1 {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestPlugin(t *testing.T) {
	e := New(Options{})
	e.SetPolicies([]*admissionregistrationv1.ValidatingAdmissionPolicy{vap("p", "false")}, []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")})
	var v policies.Validating = &Plugin{Engine: e, Lookup: newLookup()}
	if v.Name() != "ValidatingAdmissionPolicy" {
		t.Fatal(v.Name())
	}
	if _, err := v.Validate(t.Context(), create(deployment("team-a", "x", 1, nil))); err == nil {
		t.Fatal("want denial")
	}
}

// TestSetPoliciesSwaps checks that a new set replaces the old one and that
// a binding added later picks up its policy.
func TestSetPoliciesSwaps(t *testing.T) {
	e := New(Options{})
	a := create(deployment("team-a", "x", 1, nil))
	p := vap("p", "false")
	e.SetPolicies([]*admissionregistrationv1.ValidatingAdmissionPolicy{p}, nil)
	if _, err := e.Validate(t.Context(), a, newLookup()); err != nil {
		t.Fatalf("unbound policy denied: %v", err)
	}
	e.SetPolicies([]*admissionregistrationv1.ValidatingAdmissionPolicy{p}, []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")})
	if _, err := e.Validate(t.Context(), a, newLookup()); err == nil {
		t.Fatal("bound policy allowed")
	}
	e.SetPolicies(nil, nil)
	if _, err := e.Validate(t.Context(), a, newLookup()); err != nil {
		t.Fatalf("cleared engine denied: %v", err)
	}
}

var _ runtime.Object = (*corev1.ConfigMap)(nil)
