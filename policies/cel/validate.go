package cel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-dev/cairn/policies"
)

// ValidationFailureAnnotation is the audit annotation key Kubernetes
// records failed validations of bindings with the Audit action under.
const ValidationFailureAnnotation = "validation.policy.admission.k8s.io/validation_failure"

const outOfBudget = "validation failed due to running out of cost budget, no further validation rules will be run"

var errOutOfBudget = errors.New(outOfBudget)

// ValidationFailureValue is one entry of the validation_failure audit
// annotation, as Kubernetes writes it.
type ValidationFailureValue struct {
	ExpressionIndex   int                                        `json:"expressionIndex"`
	Message           string                                     `json:"message"`
	ValidationActions []admissionregistrationv1.ValidationAction `json:"validationActions"`
	Binding           string                                     `json:"binding"`
	Policy            string                                     `json:"policy"`
}

// request is what one Validate call computes at most once and shares
// between policies.
type request struct {
	ctx    context.Context
	a      *policies.Attributes
	lookup Lookup

	converted          bool
	convErr            error
	object, oldObject  ref.Val
	requestVal         ref.Val
	nsLoaded           bool
	ns                 *corev1.Namespace
	nsErr              error
	nsVal              ref.Val
	budget             int64 // remaining request budget; <0 means unlimited
	requestBudgetLimit bool
}

func (r *request) namespace(name string) (*corev1.Namespace, error) {
	if r.nsLoaded {
		return r.ns, r.nsErr
	}
	r.nsLoaded = true
	if r.lookup == nil {
		r.nsErr = apierrors.NewNotFound(corev1.Resource("namespaces"), name)
		return nil, r.nsErr
	}
	r.ns, r.nsErr = r.lookup.Namespace(name)
	if r.nsErr == nil && r.ns == nil {
		r.nsErr = apierrors.NewNotFound(corev1.Resource("namespaces"), name)
	}
	return r.ns, r.nsErr
}

// convert turns the request into CEL values, once.
func (r *request) convert() error {
	if r.converted {
		return r.convErr
	}
	r.converted = true
	a := r.a
	gvk := a.Kind
	if r.object, r.convErr = toVal(a.Object, gvk); r.convErr != nil {
		return r.convErr
	}
	if r.oldObject, r.convErr = toVal(a.OldObject, gvk); r.convErr != nil {
		return r.convErr
	}
	return nil
}

// request is the request variable, made on first use: most expressions
// only read the object.
func (r *request) request() ref.Val {
	if r.requestVal != nil {
		return r.requestVal
	}
	a := r.a
	gvk := a.Kind
	groups := make([]any, len(a.User.Groups))
	for i, g := range a.User.Groups {
		groups[i] = g
	}
	kind := map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
	res := map[string]any{"group": a.Resource.Group, "version": a.Resource.Version, "resource": a.Resource.Resource}
	r.requestVal = types.DefaultTypeAdapter.NativeToValue(map[string]any{
		"uid":                "",
		"kind":               kind,
		"resource":           res,
		"subResource":        a.Subresource,
		"requestKind":        kind,
		"requestResource":    res,
		"requestSubResource": a.Subresource,
		"name":               a.Name,
		"namespace":          a.Namespace,
		"operation":          string(a.Operation),
		"userInfo": map[string]any{
			"username": a.User.Name,
			"uid":      a.User.UID,
			"groups":   groups,
			"extra":    map[string]any{},
		},
		"dryRun":  a.DryRun,
		"options": map[string]any{},
	})
	return r.requestVal
}

// loadNamespace fetches the request's namespace, as Kubernetes does before
// evaluating a matched policy on a namespaced request (namespaces
// themselves have none).
func (r *request) loadNamespace() error {
	if r.nsName() == "" {
		return nil
	}
	_, err := r.namespace(r.nsName())
	return err
}

func (r *request) nsName() string {
	if r.a.Kind.Group == "" && r.a.Kind.Version == "v1" && r.a.Kind.Kind == "Namespace" {
		return ""
	}
	return r.a.Namespace
}

// namespaceObject converts the namespace for CEL on first use: null for
// cluster-scoped requests and namespaces themselves.
func (r *request) namespaceObject() ref.Val {
	if r.nsVal != nil {
		return r.nsVal
	}
	if r.nsName() == "" || r.ns == nil {
		r.nsVal = types.NullValue
		return r.nsVal
	}
	ns := r.ns
	// As Kubernetes' CreateNamespaceObject: metadata without managedFields
	// and owner references, spec and status.
	trimmed := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			Name: ns.Name, GenerateName: ns.GenerateName, Namespace: ns.Namespace, UID: ns.UID,
			ResourceVersion: ns.ResourceVersion, Generation: ns.Generation, CreationTimestamp: ns.CreationTimestamp,
			DeletionTimestamp: ns.DeletionTimestamp, DeletionGracePeriodSeconds: ns.DeletionGracePeriodSeconds,
			Labels: ns.Labels, Annotations: ns.Annotations, Finalizers: ns.Finalizers,
		},
		Spec:   ns.Spec,
		Status: ns.Status,
	}
	v, err := toVal(trimmed, schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	if err != nil {
		v = types.WrapErr(err)
	}
	r.nsVal = v
	return v
}

// toVal converts an object to a CEL map, filling apiVersion and kind from
// gvk when the typed object leaves them empty.
func toVal(obj runtime.Object, gvk schema.GroupVersionKind) (ref.Val, error) {
	if obj == nil || (reflect.ValueOf(obj).Kind() == reflect.Pointer && reflect.ValueOf(obj).IsNil()) {
		return types.NullValue, nil
	}
	var m map[string]any
	if u, ok := obj.(*unstructured.Unstructured); ok {
		m = u.Object
	} else {
		var err error
		m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, err
		}
	}
	if _, ok := m["kind"]; !ok && !gvk.Empty() {
		m["apiVersion"] = gvk.GroupVersion().String()
		m["kind"] = gvk.Kind
	}
	return types.DefaultTypeAdapter.NativeToValue(m), nil
}

// decision is the outcome of one validation (or of a whole evaluation
// when it failed before the validations).
type decision struct {
	deny     bool
	evalErr  bool   // the outcome comes from an error
	compile  bool   // …a compile problem, under failurePolicy Ignore
	message  string // for deny, or the ignored error
	reason   metav1.StatusReason
	index    int
	ignored  bool // an error admitted by failurePolicy Ignore
	binding  *compiledBinding
	policy   *compiledPolicy
	isConfig bool // a configuration error: validationActions do not apply
}

type auditResult struct {
	key, value string
	err        string
}

// evaluation is one policy evaluated for one binding and one param.
type evaluation struct {
	r      *request
	p      *compiledPolicy
	params ref.Val
	vars   lazyVars
	budget int64
	err    error // out of budget
}

var _ interpreter.Activation = (*evaluation)(nil)

func (ev *evaluation) ResolveName(name string) (any, bool) {
	switch name {
	case varObject:
		return ev.r.object, true
	case varOldObject:
		return ev.r.oldObject, true
	case varRequest:
		return ev.r.request(), true
	case varParams:
		return ev.params, true
	case varNamespaceObject:
		return ev.r.namespaceObject(), true
	case varVariables:
		return &ev.vars, true
	}
	return nil, false
}

func (ev *evaluation) Parent() interpreter.Activation { return nil }

// eval runs one compiled expression, charging its cost to the budgets.
func (ev *evaluation) eval(ce *compiledExpr) (ref.Val, error) {
	if ev.err != nil {
		return nil, ev.err
	}
	if ce.problem != "" {
		return nil, fmt.Errorf("compilation error: %s", ce.problem)
	}
	var val ref.Val
	var det *cel.EvalDetails
	var err error
	if ctx := ev.r.ctx; ctx != nil && ctx.Done() == nil {
		// A context that is never cancelled cannot interrupt the
		// evaluation: skip the per-call cancellable frame ContextEval
		// sets up. The cost limit is enforced either way.
		val, det, err = ce.prog.Eval(ev)
	} else {
		val, det, err = ce.prog.ContextEval(ev.r.ctx, ev)
	}
	if det != nil && det.ActualCost() != nil {
		cost := int64(*det.ActualCost())
		ev.budget -= cost
		if ev.r.requestBudgetLimit {
			ev.r.budget -= cost
		}
		if ev.budget < 0 || (ev.r.requestBudgetLimit && ev.r.budget < 0) {
			ev.err = errOutOfBudget
			return nil, ev.err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("expression '%s' resulted in error: %v", ce.expr, err)
	}
	return val, nil
}

// lazyVars is the `variables` map: each variable is evaluated on first
// use and cached for the evaluation.
type lazyVars struct {
	ev    *evaluation
	vals  []ref.Val
	state []uint8 // 0 new, 1 evaluating, 2 done
}

var (
	_        traits.Mapper = (*lazyVars)(nil)
	varsType               = types.NewMapType(types.StringType, types.DynType)
)

func (v *lazyVars) get(i int) ref.Val {
	if v.vals == nil {
		n := len(v.ev.p.variables)
		v.vals = make([]ref.Val, n)
		v.state = make([]uint8, n)
	}
	switch v.state[i] {
	case 2:
		return v.vals[i]
	case 1:
		return types.NewErr("variable %q refers to itself", v.ev.p.variables[i].name)
	}
	v.state[i] = 1
	cv := &v.ev.p.variables[i]
	val, err := v.ev.eval(&cv.expr)
	if err != nil {
		if cv.expr.problem != "" {
			val = types.NewErr("composited variable %q fails to compile: %s", cv.name, cv.expr.problem)
		} else {
			val = types.WrapErr(err)
		}
	}
	v.vals[i], v.state[i] = val, 2
	return val
}

func (v *lazyVars) Find(key ref.Val) (ref.Val, bool) {
	s, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	i, ok := v.ev.p.varIndex[string(s)]
	if !ok {
		return nil, false
	}
	return v.get(i), true
}

func (v *lazyVars) Get(key ref.Val) ref.Val {
	if val, ok := v.Find(key); ok {
		return val
	}
	return types.NewErr("no such key: %v", key)
}

func (v *lazyVars) Contains(key ref.Val) ref.Val {
	s, ok := key.(types.String)
	if !ok {
		return types.False
	}
	_, ok = v.ev.p.varIndex[string(s)]
	return types.Bool(ok)
}

func (v *lazyVars) Size() ref.Val { return types.Int(len(v.ev.p.variables)) }

func (v *lazyVars) Iterator() traits.Iterator {
	names := make([]any, len(v.ev.p.variables))
	for i, cv := range v.ev.p.variables {
		names[i] = cv.name
	}
	return types.DefaultTypeAdapter.NativeToValue(names).(traits.Lister).Iterator()
}

func (v *lazyVars) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return nil, fmt.Errorf("variables cannot be converted to %v", typeDesc)
}

func (v *lazyVars) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return varsType
	}
	return types.NewErr("variables cannot be converted to %v", t)
}

func (v *lazyVars) Equal(other ref.Val) ref.Val { return types.Bool(other == ref.Val(v)) }
func (v *lazyVars) Type() ref.Type              { return varsType }
func (v *lazyVars) Value() any                  { return v }

// Validate evaluates every bound policy matching the request. It returns a
// *apierrors.StatusError when a binding with the Deny action denies it.
func (e *Engine) Validate(ctx context.Context, a *policies.Attributes, lookup Lookup) (policies.Result, error) {
	var res policies.Result
	st := e.state.Load()
	if a == nil || len(st.policies) == 0 || exempt(a) {
		return res, nil
	}
	r := &request{ctx: ctx, a: a, lookup: lookup}
	if e.opts.RequestBudget > 0 {
		r.budget, r.requestBudgetLimit = e.opts.RequestBudget, true
	}
	var denied []decision
	var failures []ValidationFailureValue
	configError := func(p *compiledPolicy, b *compiledBinding, err error) {
		if p.failIgnore {
			return
		}
		msg := "failed to configure policy: " + err.Error()
		if b != nil {
			msg = "failed to configure binding: " + err.Error()
		}
		denied = append(denied, decision{deny: true, message: msg, policy: p, binding: b, isConfig: true})
	}
	for _, p := range st.policies {
		if p.match == nil {
			continue
		}
		ok, err := p.match.matches(r)
		if err == nil && p.matchErr != "" {
			err = errors.New(p.matchErr)
		}
		if err != nil {
			configError(p, nil, err)
			continue
		}
		if !ok {
			continue
		}
		for _, b := range p.bindings {
			if b.match != nil {
				ok, err := b.match.matches(r)
				if err == nil && b.configErr != "" {
					err = errors.New(b.configErr)
				}
				if err != nil {
					configError(p, b, err)
					continue
				}
				if !ok {
					continue
				}
			} else if b.configErr != "" {
				configError(p, b, errors.New(b.configErr))
				continue
			}
			params, err := r.collectParams(p, b)
			if err != nil {
				configError(p, b, err)
				continue
			}
			if len(params) == 0 {
				continue
			}
			if err := r.convert(); err != nil {
				return res, apierrors.NewInternalError(fmt.Errorf("converting object for ValidatingAdmissionPolicy: %w", err))
			}
			if err := r.loadNamespace(); err != nil {
				if _, ok := err.(apierrors.APIStatus); ok {
					return res, err
				}
				return res, apierrors.NewInternalError(err)
			}
			for _, param := range params {
				decisions, audits := e.evaluate(r, p, param)
				for _, d := range decisions {
					d.policy, d.binding = p, b
					if !d.deny {
						if d.compile && d.ignored {
							res.Warnings = append(res.Warnings, fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' ignored an error (failurePolicy Ignore): %s", p.name, b.name, d.message))
						}
						continue
					}
					if b.deny {
						denied = append(denied, d)
					}
					if b.warn {
						res.Warnings = append(res.Warnings, fmt.Sprintf("Validation failed for ValidatingAdmissionPolicy '%s' with binding '%s': %s", p.name, b.name, d.message))
					}
					if b.audit {
						failures = append(failures, ValidationFailureValue{
							ExpressionIndex: d.index, Message: d.message, ValidationActions: b.actions, Binding: b.name, Policy: p.name,
						})
					}
				}
				for _, au := range audits {
					if au.err != "" {
						if !p.failIgnore {
							denied = append(denied, decision{deny: true, evalErr: true, message: au.err, policy: p, binding: b, isConfig: true})
						}
						continue
					}
					if res.AuditAnnotations == nil {
						res.AuditAnnotations = map[string]string{}
					}
					key := p.name + "/" + au.key
					if _, dup := res.AuditAnnotations[key]; !dup {
						res.AuditAnnotations[key] = au.value
					}
				}
			}
		}
	}
	if len(failures) > 0 {
		if res.AuditAnnotations == nil {
			res.AuditAnnotations = map[string]string{}
		}
		js, _ := json.Marshal(failures)
		res.AuditAnnotations[ValidationFailureAnnotation] = string(js)
	}
	if len(denied) > 0 {
		return res, statusError(a, denied[0])
	}
	return res, nil
}

// statusError builds the error kube-apiserver returns for a denial:
// Forbidden's message shape, with reason and code from the validation.
func statusError(a *policies.Attributes, d decision) *apierrors.StatusError {
	var msg string
	if d.binding != nil {
		msg = fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s", d.policy.name, d.binding.name, d.message)
	} else {
		msg = fmt.Sprintf("ValidatingAdmissionPolicy '%s' denied request: %s", d.policy.name, d.message)
	}
	name := a.Name
	if a.Object != nil {
		if acc, err := meta.Accessor(a.Object); err == nil {
			if acc.GetName() != "" {
				name = acc.GetName()
			} else if acc.GetGenerateName() != "" {
				name = acc.GetGenerateName()
			}
		}
	}
	if name == "" {
		name = "Unknown"
	}
	gr := a.Resource.GroupResource()
	err := apierrors.NewForbidden(gr, name, errors.New(msg))
	reason := d.reason
	if reason == "" {
		reason = metav1.StatusReasonInvalid
	}
	err.ErrStatus.Reason = reason
	err.ErrStatus.Code = reasonToCode(reason)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Message: msg})
	return err
}

func reasonToCode(r metav1.StatusReason) int32 {
	switch r {
	case metav1.StatusReasonForbidden:
		return 403
	case metav1.StatusReasonUnauthorized:
		return 401
	case metav1.StatusReasonRequestEntityTooLarge:
		return 413
	case metav1.StatusReasonInvalid:
		return 422
	}
	return 422
}

// collectParams is Kubernetes' CollectParams: a nil entry means "no
// params" (params is null); an empty list means "admit".
func (r *request) collectParams(p *compiledPolicy, b *compiledBinding) ([]ref.Val, error) {
	pr := b.paramRef
	if p.paramKind == nil || pr == nil {
		return []ref.Val{types.NullValue}, nil
	}
	if r.lookup == nil {
		return nil, fmt.Errorf("paramKind kind `%s` not known", p.paramKind.String())
	}
	req := ParamRequest{APIVersion: p.paramKind.APIVersion, Kind: p.paramKind.Kind, Namespace: pr.Namespace}
	if req.Namespace == "" {
		req.Namespace = r.a.Namespace
	}
	var objs []runtime.Object
	switch {
	case pr.Name != "":
		req.Name = pr.Name
		got, err := r.lookup.Params(req)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		objs = got
	case b.paramSel != nil:
		req.Selector = b.paramSel
		got, err := r.lookup.Params(req)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		objs = got
		sort.SliceStable(objs, func(i, j int) bool {
			ai, _ := meta.Accessor(objs[i])
			aj, _ := meta.Accessor(objs[j])
			if ai == nil || aj == nil {
				return false
			}
			if ai.GetNamespace() != aj.GetNamespace() {
				return ai.GetNamespace() < aj.GetNamespace()
			}
			return ai.GetName() < aj.GetName()
		})
	}
	gv, _ := schema.ParseGroupVersion(p.paramKind.APIVersion)
	gvk := gv.WithKind(p.paramKind.Kind)
	var out []ref.Val
	for _, o := range objs {
		if o == nil {
			continue
		}
		v, err := toVal(o, gvk)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 && pr.ParameterNotFoundAction != nil && *pr.ParameterNotFoundAction == admissionregistrationv1.DenyAction {
		return nil, errors.New("no params found for policy binding with `Deny` parameterNotFoundAction")
	}
	return out, nil
}

// evaluate is Kubernetes' validator.Validate for one param.
func (e *Engine) evaluate(r *request, p *compiledPolicy, params ref.Val) ([]decision, []auditResult) {
	ev := &evaluation{r: r, p: p, params: params, budget: e.opts.PolicyBudget}
	ev.vars.ev = ev
	fail := func(msg string, compile bool) []decision {
		if p.failIgnore {
			return []decision{{evalErr: true, ignored: true, compile: compile, message: msg}}
		}
		return []decision{{deny: true, evalErr: true, message: msg}}
	}
	// matchConditions: any false skips the policy; otherwise errors go to
	// failurePolicy.
	var condErrs []string
	condCompile := false
	for i := range p.conditions {
		c := &p.conditions[i]
		v, err := ev.eval(c)
		if err != nil {
			condErrs = append(condErrs, err.Error())
			condCompile = condCompile || c.problem != ""
			continue
		}
		if v == types.False {
			return nil, nil
		}
	}
	if len(condErrs) > 0 {
		msg := condErrs[0]
		if len(condErrs) > 1 {
			msg = "[" + strings.Join(condErrs, ", ") + "]"
		}
		return fail(msg, condCompile), nil
	}
	decisions := make([]decision, 0, len(p.validations))
	for i := range p.validations {
		v := &p.validations[i]
		val, err := ev.eval(&v.cond)
		if errors.Is(err, errOutOfBudget) {
			return fail(outOfBudget, false), nil
		}
		d := decision{index: i}
		switch {
		case err != nil:
			d = fail(err.Error(), v.cond.problem != "")[0]
			d.index = i
		case val != types.True:
			d.deny = true
			d.reason = v.reason
			if v.msgExpr != nil {
				msg, err := ev.message(v.msgExpr)
				if errors.Is(err, errOutOfBudget) {
					return fail("failed messageExpression execution: "+outOfBudget, false), nil
				}
				d.message = msg
			}
			if d.message == "" {
				d.message = v.message
			}
			if d.message == "" {
				d.message = fmt.Sprintf("failed expression: %s", strings.TrimSpace(v.cond.expr))
			}
		}
		decisions = append(decisions, d)
	}
	var audits []auditResult
	for i := range p.audits {
		au := &p.audits[i]
		val, err := ev.eval(&au.expr)
		if errors.Is(err, errOutOfBudget) {
			return fail(outOfBudget, false), nil
		}
		switch {
		case err != nil:
			audits = append(audits, auditResult{key: au.key, err: err.Error()})
		case val == types.NullValue:
		default:
			s, ok := val.(types.String)
			if !ok {
				audits = append(audits, auditResult{key: au.key, err: fmt.Sprintf("valueExpression '%s' resulted in unsupported return type: %v. Return type must be either string or null.", au.expr.expr, val.Type())})
				continue
			}
			if t := strings.TrimSpace(string(s)); t != "" {
				audits = append(audits, auditResult{key: au.key, value: t})
			}
		}
	}
	return decisions, audits
}

// message evaluates a messageExpression; an empty result means "use
// message", as in Kubernetes.
func (ev *evaluation) message(ce *compiledExpr) (string, error) {
	val, err := ev.eval(ce)
	if err != nil {
		return "", err
	}
	s, ok := val.(types.String)
	if !ok {
		return "", nil
	}
	t := strings.TrimSpace(string(s))
	if len(t) > 5*1024 || strings.ContainsAny(t, "\r\n") {
		return "", nil
	}
	return t, nil
}
