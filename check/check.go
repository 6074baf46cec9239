// Package check gives, offline, the verdict the API server gives on a
// manifest: its kind's JSON Schema, Kubernetes' defaulting and built-in
// validation, and the ValidatingAdmissionPolicies found beside it. `cairn
// validate` runs it over files; gitsync runs it before applying a revision.
package check

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	sigsjson "sigs.k8s.io/json"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
	"github.com/cairn-dev/cairn/apiserver/validation"
	"github.com/cairn-dev/cairn/defaults"
	"github.com/cairn-dev/cairn/manifest"
	"github.com/cairn-dev/cairn/policies"
	"github.com/cairn-dev/cairn/policies/cel"
	"github.com/cairn-dev/cairn/schema"
)

// Severity of a finding.
type Severity string

// Severities.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Finding is one problem with one object, located in its file.
type Finding struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Object   string   `json:"object,omitempty"` // Kind/name or Kind/namespace/name
	Path     string   `json:"path,omitempty"`   // the field, Kubernetes-style
	Message  string   `json:"message"`
	Severity Severity `json:"severity"`
}

// String is `file:line: Kind/name: path: message`.
func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", f.File, f.Line)
	if f.Object != "" {
		b.WriteString(f.Object + ": ")
	}
	if f.Path != "" {
		b.WriteString(f.Path + ": ")
	}
	if f.Severity == Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(f.Message)
	return b.String()
}

// Checker checks objects; safe for concurrent use once built.
type Checker struct {
	scheme  *runtime.Scheme
	schemas *schema.Validator
	engine  *cel.Engine
	lookup  *corpus
}

// New builds a checker whose admission policies are the
// ValidatingAdmissionPolicy(Binding) objects among policyObjs, and whose
// namespaces and policy params come from corpus (the objects being
// checked, as they will exist once applied). Problems with the policies
// themselves (CEL that does not compile) come back as findings.
func New(policyObjs, corpusObjs []*manifest.Object) (*Checker, []Finding) {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = gitopsv1.AddToScheme(s)
	c := &Checker{scheme: s, schemas: schema.New(), engine: cel.New(cel.Options{}), lookup: newCorpus(corpusObjs)}
	var findings []Finding
	var pols []*admissionregistrationv1.ValidatingAdmissionPolicy
	var binds []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
	where := map[string]*manifest.Object{}
	for _, o := range policyObjs {
		switch o.Kind {
		case "ValidatingAdmissionPolicy":
			var p admissionregistrationv1.ValidatingAdmissionPolicy
			if err := json.Unmarshal(o.JSON, &p); err != nil {
				findings = append(findings, Finding{File: o.File, Line: o.Line, Object: o.Ref(), Message: err.Error(), Severity: Error})
				continue
			}
			defaults.Apply(&p)
			pols = append(pols, &p)
			where[p.Name] = o
		case "ValidatingAdmissionPolicyBinding":
			var b admissionregistrationv1.ValidatingAdmissionPolicyBinding
			if err := json.Unmarshal(o.JSON, &b); err != nil {
				findings = append(findings, Finding{File: o.File, Line: o.Line, Object: o.Ref(), Message: err.Error(), Severity: Error})
				continue
			}
			defaults.Apply(&b)
			binds = append(binds, &b)
		}
	}
	// By name, as the API server hands them to its engine.
	sort.Slice(pols, func(i, j int) bool { return pols[i].Name < pols[j].Name })
	sort.Slice(binds, func(i, j int) bool { return binds[i].Name < binds[j].Name })
	for _, p := range c.engine.SetPolicies(pols, binds) {
		f := Finding{Message: p.Message, Path: p.Field, Severity: Error, Object: "ValidatingAdmissionPolicy/" + p.Policy}
		if o := where[p.Policy]; o != nil {
			f.File, f.Line = o.File, o.LineOf(p.Field)
		}
		findings = append(findings, f)
	}
	return c, findings
}

// Check returns every finding of one object: schema problems first; when
// the schema holds, Kubernetes' validation of the defaulted object and
// the admission policies' verdicts.
func (c *Checker) Check(ctx context.Context, o *manifest.Object) []Finding {
	at := func(path, msg string, sev Severity) Finding {
		return Finding{File: o.File, Line: o.LineOf(path), Object: o.Ref(), Path: path, Message: msg, Severity: sev}
	}
	gvk := k8sschema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
	if !c.schemas.Known(gvk) {
		return []Finding{at("kind", fmt.Sprintf("unknown kind %s %s: cairn does not serve it", o.APIVersion, o.Kind), Error)}
	}
	// The server's order: strict decoding, defaulting, the schema of the
	// object as it would be stored, Kubernetes' validation, policies.
	obj, err := c.scheme.New(gvk)
	if err != nil {
		return []Finding{at("kind", err.Error(), Error)}
	}
	cannot := func() string {
		return fmt.Sprintf("%s in version %q cannot be handled as a %s: ", gvk.Kind, gvk.Version, gvk.Kind)
	}
	strictErrs, err := sigsjson.UnmarshalStrict(o.JSON, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	var out []Finding
	if err != nil {
		// As the server: the schema names the field a wrong type is in.
		if ferrs, verr := c.schemas.Validate(gvk, o.Value); verr == nil {
			for _, fe := range ferrs {
				if fe.Type != schema.TypeForbidden {
					out = append(out, at(fe.Path, fe.Field().ErrorBody(), Error))
				}
			}
		}
		if len(out) > 0 {
			return out
		}
		return []Finding{at("", cannot()+err.Error(), Error)}
	}
	for _, se := range strictErrs {
		out = append(out, at(strictPath(se.Error()), cannot()+"strict decoding error: "+se.Error(), Error))
	}
	if len(out) > 0 {
		return out
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	defaults.Apply(obj)
	doc, err := toUnstructured(obj)
	if err != nil {
		return []Finding{at("", err.Error(), Error)}
	}
	ferrs, err := c.schemas.ValidateConverted(gvk, reflect.TypeOf(obj), doc)
	if err != nil {
		return []Finding{at("", err.Error(), Error)}
	}
	for _, fe := range ferrs {
		out = append(out, at(fe.Path, fe.Field().ErrorBody(), Error))
	}
	if len(out) > 0 {
		return out
	}
	for _, fe := range validation.Validate(obj, nil) {
		out = append(out, at(fe.Field, fe.ErrorBody(), Error))
	}
	if len(out) > 0 {
		return out
	}
	m, _ := meta.Accessor(obj)
	ns := m.GetNamespace()
	namespaced := isNamespaced(gvk)
	if namespaced && ns == "" {
		ns = "default"
	}
	attrs := &policies.Attributes{
		Operation: policies.Create, Kind: gvk, Resource: gvk.GroupVersion().WithResource(resourceOf(gvk.Kind)),
		// The unstructured form made for the schema serves the policies too:
		// one conversion per object instead of two.
		Namespace: ns, Name: m.GetName(), Object: &unstructured.Unstructured{Object: doc},
		User: policies.UserInfo{Name: "cairn:gitsync", Groups: []string{"system:authenticated"}},
	}
	if !namespaced {
		attrs.Namespace = ""
	}
	res, err := c.engine.Validate(ctx, attrs, c.lookup)
	for _, w := range res.Warnings {
		out = append(out, at("", w, Warning))
	}
	if err != nil {
		msg := err.Error()
		if st, ok := err.(apierrors.APIStatus); ok {
			msg = st.Status().Message
		}
		out = append(out, at("", msg, Error))
	}
	return out
}

// strictPath is the field a strict decoding error names:
// `unknown field "spec.selectr"` → spec.selectr.
func strictPath(msg string) string {
	if i := strings.IndexByte(msg, '"'); i >= 0 {
		if j := strings.IndexByte(msg[i+1:], '"'); j >= 0 {
			return msg[i+1 : i+1+j]
		}
	}
	return ""
}

// isNamespaced: the cluster-scoped kinds cairn serves; everything else is
// namespaced.
func isNamespaced(gvk k8sschema.GroupVersionKind) bool {
	switch gvk.Kind {
	case "Namespace", "Node", "PersistentVolume", "ComponentStatus", "ClusterRole", "ClusterRoleBinding",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
		return false
	}
	return true
}

// resourceOf is the plural resource name of a served kind.
func resourceOf(kind string) string {
	k := strings.ToLower(kind)
	switch {
	case k == "endpoints":
		return k
	case strings.HasSuffix(k, "policy"):
		return strings.TrimSuffix(k, "y") + "ies"
	case strings.HasSuffix(k, "s"):
		return k + "es"
	}
	return k + "s"
}
