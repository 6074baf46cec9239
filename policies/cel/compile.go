package cel

import (
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// compiledExpr is one CEL expression, or why it could not be compiled.
type compiledExpr struct {
	field   string
	expr    string
	prog    cel.Program
	problem string // "compilation failed: …"; prog is nil when set
}

type compiledValidation struct {
	cond    compiledExpr
	message string
	msgExpr *compiledExpr
	reason  metav1.StatusReason
}

type compiledAudit struct {
	key  string
	expr compiledExpr
}

type compiledVariable struct {
	name string
	expr compiledExpr
}

type compiledPolicy struct {
	policy      *admissionregistrationv1.ValidatingAdmissionPolicy
	name        string
	failIgnore  bool // failurePolicy Ignore (default Fail)
	match       *matcher
	matchErr    string // configuration problem in matchConstraints
	conditions  []compiledExpr
	variables   []compiledVariable
	varIndex    map[string]int
	validations []compiledValidation
	audits      []compiledAudit
	paramKind   *admissionregistrationv1.ParamKind
	broken      bool // some expression failed to compile
	bindings    []*compiledBinding
}

type compiledBinding struct {
	binding   *admissionregistrationv1.ValidatingAdmissionPolicyBinding
	name      string
	match     *matcher // nil matches everything
	configErr string
	deny      bool
	warn      bool
	audit     bool
	actions   []admissionregistrationv1.ValidationAction
	paramRef  *admissionregistrationv1.ParamRef
	paramSel  labels.Selector
}

// SetPolicies compiles policies and bindings and replaces the engine's set.
// It returns every problem found; a policy with problems is kept and its
// failurePolicy decides requests it matches.
func (e *Engine) SetPolicies(pols []*admissionregistrationv1.ValidatingAdmissionPolicy, bindings []*admissionregistrationv1.ValidatingAdmissionPolicyBinding) []PolicyProblem {
	var problems []PolicyProblem
	byName := map[string]*compiledPolicy{}
	var order []*compiledPolicy
	for _, p := range pols {
		if p == nil {
			continue
		}
		if _, dup := byName[p.Name]; dup {
			problems = append(problems, PolicyProblem{Policy: p.Name, Field: "metadata.name", Message: "duplicate policy name; the later one is ignored"})
			continue
		}
		cp, probs := e.compilePolicy(p)
		problems = append(problems, probs...)
		byName[p.Name] = cp
		order = append(order, cp)
	}
	for _, b := range bindings {
		if b == nil {
			continue
		}
		cp := byName[b.Spec.PolicyName]
		if cp == nil {
			// Kubernetes ignores a binding to a missing policy.
			continue
		}
		cb, probs := compileBinding(cp, b)
		problems = append(problems, probs...)
		cp.bindings = append(cp.bindings, cb)
	}
	st := &state{}
	for _, cp := range order {
		if len(cp.bindings) > 0 {
			st.policies = append(st.policies, cp)
		}
	}
	e.state.Store(st)
	return problems
}

func (e *Engine) compilePolicy(p *admissionregistrationv1.ValidatingAdmissionPolicy) (*compiledPolicy, []PolicyProblem) {
	cp := &compiledPolicy{policy: p, name: p.Name, paramKind: p.Spec.ParamKind, varIndex: map[string]int{}}
	var problems []PolicyProblem
	add := func(field, msg string) {
		problems = append(problems, PolicyProblem{Policy: p.Name, Field: field, Message: msg})
	}
	if fp := p.Spec.FailurePolicy; fp != nil {
		switch *fp {
		case admissionregistrationv1.Ignore:
			cp.failIgnore = true
		case admissionregistrationv1.Fail:
		default:
			add("spec.failurePolicy", fmt.Sprintf("unsupported value %q: supported values are Fail, Ignore; using Fail", *fp))
		}
	}
	if p.Spec.MatchConstraints == nil {
		add("spec.matchConstraints", "Required value: the policy matches no request")
	} else {
		m, err := newMatcher(p.Spec.MatchConstraints)
		if err != nil {
			cp.matchErr = err.Error()
			add("spec.matchConstraints", err.Error())
		}
		cp.match = m
		if len(p.Spec.MatchConstraints.ResourceRules) == 0 {
			add("spec.matchConstraints.resourceRules", "Required value: the policy matches no request")
			cp.match = nil
		}
	}
	declared := map[string]bool{}
	compile := func(field, src string, want ...*cel.Type) compiledExpr {
		ce := e.compile(field, src, declared, want...)
		if ce.problem != "" {
			cp.broken = true
			add(field, ce.problem)
		}
		return ce
	}
	for i, v := range p.Spec.Variables {
		field := fmt.Sprintf("spec.variables[%d].expression", i)
		ce := compile(field, v.Expression)
		if _, dup := cp.varIndex[v.Name]; dup {
			add(fmt.Sprintf("spec.variables[%d].name", i), fmt.Sprintf("Duplicate value: %q", v.Name))
			continue
		}
		cp.varIndex[v.Name] = len(cp.variables)
		cp.variables = append(cp.variables, compiledVariable{name: v.Name, expr: ce})
		declared[v.Name] = true
	}
	for i, mc := range p.Spec.MatchConditions {
		cp.conditions = append(cp.conditions, compile(fmt.Sprintf("spec.matchConditions[%d].expression", i), mc.Expression, cel.BoolType))
	}
	for i, v := range p.Spec.Validations {
		cv := compiledValidation{
			cond:    compile(fmt.Sprintf("spec.validations[%d].expression", i), v.Expression, cel.BoolType),
			message: strings.TrimSpace(v.Message),
			reason:  metav1.StatusReasonInvalid,
		}
		if v.Reason != nil && *v.Reason != "" {
			cv.reason = *v.Reason
		}
		if v.MessageExpression != "" {
			me := compile(fmt.Sprintf("spec.validations[%d].messageExpression", i), v.MessageExpression, cel.StringType)
			cv.msgExpr = &me
		}
		cp.validations = append(cp.validations, cv)
	}
	for i, aa := range p.Spec.AuditAnnotations {
		cp.audits = append(cp.audits, compiledAudit{
			key:  aa.Key,
			expr: compile(fmt.Sprintf("spec.auditAnnotations[%d].valueExpression", i), aa.ValueExpression, cel.StringType, cel.NullType, cel.DynType),
		})
	}
	return cp, problems
}

func compileBinding(cp *compiledPolicy, b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) (*compiledBinding, []PolicyProblem) {
	cb := &compiledBinding{binding: b, name: b.Name, paramRef: b.Spec.ParamRef}
	var problems []PolicyProblem
	add := func(field, msg string) {
		problems = append(problems, PolicyProblem{Policy: cp.name, Binding: b.Name, Field: field, Message: msg})
	}
	if b.Spec.MatchResources != nil {
		m, err := newMatcher(b.Spec.MatchResources)
		if err != nil {
			cb.configErr = err.Error()
			add("spec.matchResources", err.Error())
		}
		cb.match = m
	}
	for _, a := range b.Spec.ValidationActions {
		switch a {
		case admissionregistrationv1.Deny:
			cb.deny = true
		case admissionregistrationv1.Warn:
			cb.warn = true
		case admissionregistrationv1.Audit:
			cb.audit = true
		default:
			add("spec.validationActions", fmt.Sprintf("Unsupported value: %q: supported values: \"Audit\", \"Deny\", \"Warn\"", a))
			continue
		}
		cb.actions = append(cb.actions, a)
	}
	if len(cb.actions) == 0 {
		add("spec.validationActions", "Required value: at least one validation action is required; using Deny")
		cb.deny = true
		cb.actions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}
	}
	if cb.deny && cb.warn {
		add("spec.validationActions", "Deny and Warn may not be used together")
	}
	if r := b.Spec.ParamRef; r != nil && cp.paramKind != nil {
		switch {
		case r.Name != "" && r.Selector != nil:
			add("spec.paramRef", "name and selector are mutually exclusive; using name")
		case r.Name == "" && r.Selector != nil:
			sel, err := metav1.LabelSelectorAsSelector(r.Selector)
			if err != nil {
				cb.configErr = fmt.Sprintf("failed to process param selector: %v", err)
				add("spec.paramRef.selector", err.Error())
			}
			cb.paramSel = sel
		case r.Name == "":
			add("spec.paramRef", "one of name or selector is required")
		}
	}
	return cb, problems
}

// compile parses and checks one expression. declared are the variables
// defined so far; want are the accepted result types (any when empty).
func (e *Engine) compile(field, src string, declared map[string]bool, want ...*cel.Type) compiledExpr {
	ce := compiledExpr{field: field, expr: src}
	ast, iss := e.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		ce.problem = "compilation failed: " + iss.Err().Error()
		return ce
	}
	if len(want) > 0 {
		ok := false
		for _, t := range want {
			if ast.OutputType().IsExactType(t) {
				ok = true
				break
			}
		}
		if !ok {
			names := make([]string, len(want))
			for i, t := range want {
				names[i] = t.String()
			}
			ce.problem = fmt.Sprintf("compilation failed: must evaluate to %s, not %s", strings.Join(names, " or "), ast.OutputType())
			return ce
		}
	}
	if msg := undeclaredVariables(ast, declared); msg != "" {
		ce.problem = "compilation failed: " + msg
		return ce
	}
	est, err := e.env.EstimateCost(ast, noSizes{})
	if err == nil && est.Min > e.opts.CostLimit {
		ce.problem = fmt.Sprintf("estimated rule cost exceeds budget: minimum cost %d is over the limit %d", est.Min, e.opts.CostLimit)
		return ce
	}
	prg, err := e.env.Program(ast,
		cel.CostLimit(e.opts.CostLimit),
		cel.InterruptCheckFrequency(checkFrequency),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		ce.problem = "compilation failed: " + err.Error()
		return ce
	}
	ce.prog = prg
	return ce
}

// undeclaredVariables reports references variables.x to a variable not
// declared before the expression, which Kubernetes' typed `variables`
// rejects at compile time.
func undeclaredVariables(ast *cel.Ast, declared map[string]bool) string {
	var bad []string
	celast.PreOrderVisit(celast.NavigateAST(ast.NativeRep()), celast.NewExprVisitor(func(ex celast.Expr) {
		switch ex.Kind() {
		case celast.SelectKind:
			sel := ex.AsSelect()
			op := sel.Operand()
			if op.Kind() == celast.IdentKind && op.AsIdent() == varVariables && !declared[sel.FieldName()] {
				bad = append(bad, fmt.Sprintf("undefined variable %q", sel.FieldName()))
			}
		case celast.CallKind:
			// variables["x"]
			call := ex.AsCall()
			if call.FunctionName() == operators.Index && len(call.Args()) == 2 {
				op, idx := call.Args()[0], call.Args()[1]
				if op.Kind() == celast.IdentKind && op.AsIdent() == varVariables && idx.Kind() == celast.LiteralKind {
					if s, ok := idx.AsLiteral().Value().(string); ok && !declared[s] {
						bad = append(bad, fmt.Sprintf("undefined variable %q", s))
					}
				}
			}
		}
	}))
	return strings.Join(bad, "; ")
}

// noSizes estimates nothing: sizes of dyn values are unknown, so only an
// expression whose minimum cost is over the limit is refused statically.
type noSizes struct{}

func (noSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }
func (noSizes) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	return nil
}
