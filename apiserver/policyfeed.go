package apiserver

import (
	"context"
	"sort"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-dev/cairn/apiserver/storage"
	"github.com/cairn-dev/cairn/policies/cel"
)

// policyFeed keeps the CEL engine's policies and bindings equal to the
// ValidatingAdmissionPolicy objects in the API: a change is in force for
// the next request, with no restart.
type policyFeed struct {
	s      *Server
	engine *cel.Engine

	// mu guards the maps and is held across engine.SetPolicies: the
	// policies' and the bindings' followers run in their own goroutines,
	// and an older snapshot handed over after a newer one would stay in
	// force until the next change.
	mu       sync.Mutex
	policies map[string]*admissionregistrationv1.ValidatingAdmissionPolicy
	bindings map[string]*admissionregistrationv1.ValidatingAdmissionPolicyBinding
}

func (p *policyFeed) start(ctx context.Context) error {
	p.policies = map[string]*admissionregistrationv1.ValidatingAdmissionPolicy{}
	p.bindings = map[string]*admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	for _, name := range []string{"validatingadmissionpolicies", "validatingadmissionpolicybindings"} {
		res := p.s.reg.lookup(admissionregistrationv1.GroupName, "v1", name)
		if err := p.s.follow(ctx, &follower{res: res, upsert: p.upsert, remove: p.remove, changed: p.apply}); err != nil {
			return err
		}
	}
	p.apply()
	return nil
}

func (p *policyFeed) upsert(obj runtime.Object) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch o := obj.(type) {
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		p.policies[o.Name] = o
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		p.bindings[o.Name] = o
	}
}

func (p *policyFeed) remove(obj runtime.Object) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch o := obj.(type) {
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		delete(p.policies, o.Name)
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		delete(p.bindings, o.Name)
	}
}

// apply hands the engine the current set; compile problems are logged
// (the policy's failurePolicy decides what they do to requests).
func (p *policyFeed) apply() {
	p.mu.Lock()
	defer p.mu.Unlock()
	pols := make([]*admissionregistrationv1.ValidatingAdmissionPolicy, 0, len(p.policies))
	for _, v := range p.policies {
		pols = append(pols, v)
	}
	binds := make([]*admissionregistrationv1.ValidatingAdmissionPolicyBinding, 0, len(p.bindings))
	for _, v := range p.bindings {
		binds = append(binds, v)
	}
	// By name, so which denial comes first does not depend on map order,
	// and matches `cairn validate`.
	sort.Slice(pols, func(i, j int) bool { return pols[i].Name < pols[j].Name })
	sort.Slice(binds, func(i, j int) bool { return binds[i].Name < binds[j].Name })
	for _, problem := range p.engine.SetPolicies(pols, binds) {
		p.s.log.Warn("admission policy problem", "problem", problem.String())
	}
}

// Namespace implements cel.Lookup.
func (l lister) Namespace(name string) (*corev1.Namespace, error) {
	return l.GetNamespace(context.Background(), name)
}

// Params implements cel.Lookup: the param objects a binding names, by
// name or by label selector, from the watch cache.
func (l lister) Params(ref cel.ParamRequest) ([]runtime.Object, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, err
	}
	var res *Resource
	for _, r := range l.s.reg.all {
		if r.GroupVersion() == gv && r.Kind == ref.Kind {
			res = r
		}
	}
	if res == nil || res.Computed {
		return nil, nil
	}
	ns := ref.Namespace
	if !res.Namespaced {
		ns = ""
	}
	ctx := context.Background()
	if ref.Name != "" {
		obj, err := l.get(ctx, res.Group, res.Resource, ns, ref.Name)
		if err != nil {
			return nil, err
		}
		return []runtime.Object{obj}, nil
	}
	list, err := l.s.stores[res].List(ctx, res.ListPrefix(ns), storage.ListOptions{ResourceVersion: "0",
		Predicate: storage.Predicate{Label: ref.Selector}})
	if err != nil {
		return nil, err
	}
	return list.Items, nil // the store lists in key order: by namespace, then name
}
