// Package cel evaluates Kubernetes ValidatingAdmissionPolicies
// (admissionregistration.k8s.io/v1) with cel-go, following the semantics of
// kube-apiserver's ValidatingAdmissionPolicy plugin: bindings select
// policies by name, matchConstraints and matchResources pick requests,
// matchConditions, variables, validations, auditAnnotations, params and
// failurePolicy behave as Kubernetes documents them.
//
// Differences from kube-apiserver:
//   - expressions are compiled with object, oldObject, params and
//     namespaceObject as dyn, not type-checked against the matched kinds'
//     schemas;
//   - matchPolicy Equivalent is treated like Exact (no version mapping);
//   - the authorizer variable is not declared;
//   - of Kubernetes' CEL libraries only quantity, isSorted/sum/min/max and
//     find/findAll are implemented (no url, ip, cidr, format, semver,
//     indexOf/lastIndexOf on lists);
//   - messageExpression is evaluated only for failing validations;
//   - every Audit failure is recorded in the validation_failure annotation
//     (kube-apiserver keeps only the first);
//   - a policy with a broken expression and failurePolicy Ignore adds a
//     warning (kube-apiserver only logs it).
package cel

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cairn-dev/cairn/policies"
)

// Kubernetes' limits (k8s.io/apiserver/pkg/apis/cel/config.go).
const (
	// PerCallLimit is the default cost limit of one expression evaluation.
	PerCallLimit = 1000000
	// RuntimeCELCostBudget is the default cost budget of one policy
	// evaluation (one policy, binding and param).
	RuntimeCELCostBudget = 10000000
	// checkFrequency is how many comprehension iterations run between
	// context-cancellation checks.
	checkFrequency = 100
)

// Lookup gives the engine what it may read besides the request.
type Lookup interface {
	// Namespace returns the named namespace, for namespaceSelector and
	// namespaceObject; a NotFound apierror if it does not exist.
	Namespace(name string) (*corev1.Namespace, error)
	// Params returns the objects of a policy's paramKind: the one named
	// (a NotFound apierror, or no objects, if missing), or all matching
	// Selector. Namespace is the paramRef's namespace, else the request's;
	// it is empty for cluster-scoped requests, and implementations should
	// ignore it for cluster-scoped kinds.
	Params(ref ParamRequest) ([]runtime.Object, error)
}

// ParamRequest names the params a binding asks for.
type ParamRequest struct {
	APIVersion, Kind string
	Namespace, Name  string
	// Selector is set when the binding selects params by label; Name is
	// then empty.
	Selector labels.Selector
}

// Options tune the engine.
type Options struct {
	// CostLimit is the runtime cost limit of one expression evaluation;
	// 0 means Kubernetes' PerCallLimit (1,000,000). An expression whose
	// minimum estimated cost already exceeds it is reported as a problem.
	CostLimit uint64
	// PolicyBudget is the cost budget of one policy evaluation (a policy
	// with one binding and one param), as Kubernetes' RuntimeCELCostBudget;
	// 0 means 10,000,000.
	PolicyBudget int64
	// RequestBudget caps the cost of all policies together for one request;
	// 0 means no cap beyond PolicyBudget.
	RequestBudget int64
}

// PolicyProblem is a compile or configuration error found by SetPolicies.
type PolicyProblem struct {
	Policy  string
	Binding string // set when the problem is in a binding
	Field   string // e.g. "spec.validations[0].expression"
	Message string
}

func (p PolicyProblem) String() string {
	who := "ValidatingAdmissionPolicy " + p.Policy
	if p.Binding != "" {
		who = "ValidatingAdmissionPolicyBinding " + p.Binding
	}
	return fmt.Sprintf("%s: %s: %s", who, p.Field, p.Message)
}

// Engine holds compiled policies and bindings. It is safe for concurrent
// use; SetPolicies replaces the set atomically.
type Engine struct {
	opts  Options
	env   *cel.Env
	state atomic.Pointer[state]
}

type state struct {
	policies []*compiledPolicy // only policies with at least one binding
}

// New returns an engine with no policies.
func New(opts Options) *Engine {
	if opts.CostLimit == 0 {
		opts.CostLimit = PerCallLimit
	}
	if opts.PolicyBudget == 0 {
		opts.PolicyBudget = RuntimeCELCostBudget
	}
	env, err := newEnv()
	if err != nil {
		panic(fmt.Sprintf("policies/cel: building CEL environment: %v", err))
	}
	e := &Engine{opts: opts, env: env}
	e.state.Store(&state{})
	return e
}

// Names of the CEL variables, as Kubernetes declares them.
const (
	varObject          = "object"
	varOldObject       = "oldObject"
	varRequest         = "request"
	varParams          = "params"
	varNamespaceObject = "namespaceObject"
	varVariables       = "variables"
)

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Lists(),
		ext.Sets(),
		ext.Math(),
		ext.Encoders(),
		ext.Bindings(),
		ext.TwoVarComprehensions(),
		quantityLib(),
		listsLib(),
		regexLib(),
		cel.Variable(varObject, cel.DynType),
		cel.Variable(varOldObject, cel.DynType),
		cel.Variable(varRequest, cel.DynType),
		cel.Variable(varParams, cel.DynType),
		cel.Variable(varNamespaceObject, cel.DynType),
		cel.Variable(varVariables, cel.DynType),
	)
}

// Plugin is the ValidatingAdmissionPolicy admission plugin.
type Plugin struct {
	Engine *Engine
	Lookup Lookup
}

var _ policies.Validating = (*Plugin)(nil)

// Name implements policies.Validating.
func (p *Plugin) Name() string { return "ValidatingAdmissionPolicy" }

// Validate implements policies.Validating.
func (p *Plugin) Validate(ctx context.Context, a *policies.Attributes) (policies.Result, error) {
	if p.Engine == nil {
		return policies.Result{}, nil
	}
	return p.Engine.Validate(ctx, a, p.Lookup)
}
