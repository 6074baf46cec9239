package auth

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// Attributes describe a request to authorize, like Kubernetes'
// authorizer.Attributes.
type Attributes struct {
	User User
	// Verb: for resource requests get, list, watch, create, update, patch,
	// delete, deletecollection (or a special verb such as bind, escalate,
	// impersonate); for non-resource requests the lowercase HTTP method.
	Verb            string
	ResourceRequest bool
	APIGroup        string
	APIVersion      string
	Resource        string
	Subresource     string
	Namespace       string
	Name            string
	// Path of a non-resource request, e.g. "/healthz".
	Path string
}

// RBAC is an in-memory Kubernetes RBAC authorizer fed with Role,
// ClusterRole, RoleBinding and ClusterRoleBinding objects through Upsert and
// Remove (typically from a watch). Bindings are indexed by subject; role
// references are resolved at authorization time, so every update takes
// effect for the next Authorize call. Safe for concurrent use.
type RBAC struct {
	mu           sync.RWMutex
	roles        map[nsName][]rbacv1.PolicyRule
	clusterRoles map[string]*clusterRole
	crbs         map[string]*binding
	rbs          map[nsName]*binding
	cluster      subjectIndex
	namespaced   map[string]*subjectIndex
	aggregators  int // cluster roles with an aggregationRule
}

type nsName struct{ namespace, name string }

type clusterRole struct {
	name   string
	labels labels.Set
	own    []rbacv1.PolicyRule
	// aggregate is non-nil for a role with an aggregationRule: its effective
	// rules are the union of the rules of the other cluster roles matching
	// any selector, and its own rules are ignored (in Kubernetes the
	// aggregation controller overwrites them).
	aggregate []labels.Selector
	rules     []rbacv1.PolicyRule // effective rules
}

type binding struct {
	cluster   bool // ClusterRoleBinding
	namespace string
	name      string
	roleRef   rbacv1.RoleRef
	subjects  []rbacv1.Subject
}

// subjectIndex maps subjects to the bindings naming them. Service account
// subjects are indexed as users by their user name.
type subjectIndex struct {
	users  map[string][]indexEntry
	groups map[string][]indexEntry
}

type indexEntry struct {
	b *binding
	// reason is the precomputed "RBAC: allowed by ..." text.
	reason string
}

// NewRBAC returns an authorizer with no policy: everyone but system:masters
// is denied everything.
func NewRBAC() *RBAC {
	return &RBAC{
		roles:        map[nsName][]rbacv1.PolicyRule{},
		clusterRoles: map[string]*clusterRole{},
		crbs:         map[string]*binding{},
		rbs:          map[nsName]*binding{},
		cluster:      newSubjectIndex(),
		namespaced:   map[string]*subjectIndex{},
	}
}

func newSubjectIndex() subjectIndex {
	return subjectIndex{users: map[string][]indexEntry{}, groups: map[string][]indexEntry{}}
}

// Upsert adds or replaces a *rbacv1.Role, *rbacv1.ClusterRole,
// *rbacv1.RoleBinding or *rbacv1.ClusterRoleBinding (matched by namespace
// and name). Other types are ignored. The object is copied.
func (a *RBAC) Upsert(obj runtime.Object) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.upsertLocked(obj)
}

func (a *RBAC) upsertLocked(obj runtime.Object) {
	switch o := obj.(type) {
	case *rbacv1.Role:
		if o == nil {
			return
		}
		a.roles[nsName{o.Namespace, o.Name}] = copyRules(o.Rules)
	case *rbacv1.ClusterRole:
		if o == nil {
			return
		}
		a.upsertClusterRole(o)
	case *rbacv1.RoleBinding:
		if o == nil {
			return
		}
		key := nsName{o.Namespace, o.Name}
		if old := a.rbs[key]; old != nil {
			a.unindex(old)
		}
		b := &binding{namespace: o.Namespace, name: o.Name, roleRef: o.RoleRef, subjects: slices.Clone(o.Subjects)}
		a.rbs[key] = b
		a.index(b)
	case *rbacv1.ClusterRoleBinding:
		if o == nil {
			return
		}
		if old := a.crbs[o.Name]; old != nil {
			a.unindex(old)
		}
		b := &binding{cluster: true, name: o.Name, roleRef: o.RoleRef, subjects: slices.Clone(o.Subjects)}
		a.crbs[o.Name] = b
		a.index(b)
	}
}

// Remove deletes the Role, ClusterRole, RoleBinding or ClusterRoleBinding
// with obj's namespace and name. Other types are ignored.
func (a *RBAC) Remove(obj runtime.Object) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch o := obj.(type) {
	case *rbacv1.Role:
		if o == nil {
			return
		}
		delete(a.roles, nsName{o.Namespace, o.Name})
	case *rbacv1.ClusterRole:
		if o == nil {
			return
		}
		if old := a.clusterRoles[o.Name]; old != nil {
			delete(a.clusterRoles, o.Name)
			if old.aggregate != nil {
				a.aggregators--
			}
			a.reaggregate()
		}
	case *rbacv1.RoleBinding:
		if o == nil {
			return
		}
		key := nsName{o.Namespace, o.Name}
		if old := a.rbs[key]; old != nil {
			a.unindex(old)
			delete(a.rbs, key)
		}
	case *rbacv1.ClusterRoleBinding:
		if o == nil {
			return
		}
		if old := a.crbs[o.Name]; old != nil {
			a.unindex(old)
			delete(a.crbs, o.Name)
		}
	}
}

// Replace atomically replaces the whole policy with objs (for a relist).
func (a *RBAC) Replace(objs []runtime.Object) {
	fresh := NewRBAC()
	for _, obj := range objs {
		fresh.upsertLocked(obj)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.roles, a.clusterRoles, a.crbs, a.rbs = fresh.roles, fresh.clusterRoles, fresh.crbs, fresh.rbs
	a.cluster, a.namespaced, a.aggregators = fresh.cluster, fresh.namespaced, fresh.aggregators
}

// EffectiveRules returns the rules a ClusterRole grants, which for a role
// with an aggregationRule are the aggregated rules (what Kubernetes'
// aggregation controller would write into its rules field), and whether the
// role exists.
func (a *RBAC) EffectiveRules(clusterRoleName string) ([]rbacv1.PolicyRule, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	cr := a.clusterRoles[clusterRoleName]
	if cr == nil {
		return nil, false
	}
	return copyRules(cr.rules), true
}

func (a *RBAC) upsertClusterRole(o *rbacv1.ClusterRole) {
	if old := a.clusterRoles[o.Name]; old != nil && old.aggregate != nil {
		a.aggregators--
	}
	cr := &clusterRole{name: o.Name, labels: labels.Set(maps.Clone(o.Labels)), own: copyRules(o.Rules)}
	cr.rules = cr.own
	if o.AggregationRule != nil {
		cr.aggregate = []labels.Selector{}
		for i := range o.AggregationRule.ClusterRoleSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&o.AggregationRule.ClusterRoleSelectors[i])
			if err != nil {
				continue // invalid selectors select nothing
			}
			cr.aggregate = append(cr.aggregate, sel)
		}
		cr.rules = nil
		a.aggregators++
	}
	a.clusterRoles[o.Name] = cr
	a.reaggregate()
}

// reaggregate recomputes the rules of every aggregated cluster role as the
// least fixed point of "union of the rules of the matching roles", which
// handles aggregated roles selecting other aggregated roles (and cycles).
func (a *RBAC) reaggregate() {
	if a.aggregators == 0 {
		return
	}
	all := make([]*clusterRole, 0, len(a.clusterRoles))
	var aggs []*clusterRole
	for _, cr := range a.clusterRoles {
		all = append(all, cr)
		if cr.aggregate != nil {
			aggs = append(aggs, cr)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	sort.Slice(aggs, func(i, j int) bool { return aggs[i].name < aggs[j].name })
	for _, agg := range aggs {
		agg.rules = nil
	}
	for pass := 0; pass <= len(aggs); pass++ {
		changed := false
		for _, agg := range aggs {
			var rules []rbacv1.PolicyRule
			for _, sel := range agg.aggregate {
				for _, cr := range all {
					if cr == agg || !sel.Matches(cr.labels) {
						continue
					}
					for _, r := range cr.rules {
						if !slices.ContainsFunc(rules, func(x rbacv1.PolicyRule) bool { return rulesEqual(&x, &r) }) {
							rules = append(rules, r)
						}
					}
				}
			}
			if len(rules) != len(agg.rules) {
				agg.rules = rules
				changed = true
			}
		}
		if !changed {
			return
		}
	}
}

func (a *RBAC) index(b *binding) {
	idx := &a.cluster
	if !b.cluster {
		idx = a.namespaced[b.namespace]
		if idx == nil {
			n := newSubjectIndex()
			idx = &n
			a.namespaced[b.namespace] = idx
		}
	}
	for i := range b.subjects {
		s := &b.subjects[i]
		m, key, ok := subjectKey(idx, b, s)
		if !ok {
			continue
		}
		m[key] = append(m[key], indexEntry{b: b, reason: allowedReason(b, s)})
	}
}

func (a *RBAC) unindex(b *binding) {
	idx := &a.cluster
	if !b.cluster {
		idx = a.namespaced[b.namespace]
		if idx == nil {
			return
		}
	}
	for i := range b.subjects {
		m, key, ok := subjectKey(idx, b, &b.subjects[i])
		if !ok {
			continue
		}
		entries := slices.DeleteFunc(m[key], func(e indexEntry) bool { return e.b == b })
		if len(entries) == 0 {
			delete(m, key)
		} else {
			m[key] = entries
		}
	}
	if !b.cluster && len(idx.users) == 0 && len(idx.groups) == 0 {
		delete(a.namespaced, b.namespace)
	}
}

// subjectKey returns the index map and key under which subject s of binding
// b is found, following the RBAC authorizer's appliesTo: service accounts
// without a namespace default to the binding's namespace and never match in
// cluster role bindings; unknown kinds match nobody.
func subjectKey(idx *subjectIndex, b *binding, s *rbacv1.Subject) (map[string][]indexEntry, string, bool) {
	switch s.Kind {
	case rbacv1.UserKind:
		return idx.users, s.Name, true
	case rbacv1.GroupKind:
		return idx.groups, s.Name, true
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = b.namespace
		}
		if ns == "" {
			return nil, "", false
		}
		return idx.users, ServiceAccountUsername(ns, s.Name), true
	}
	return nil, "", false
}

// allowedReason renders Kubernetes' "RBAC: allowed by ..." audit reason.
func allowedReason(b *binding, s *rbacv1.Subject) string {
	var sb strings.Builder
	sb.WriteString("RBAC: allowed by ")
	if b.cluster {
		sb.WriteString("ClusterRoleBinding ")
		sb.WriteString(strconv.Quote(b.name))
	} else {
		sb.WriteString("RoleBinding ")
		sb.WriteString(strconv.Quote(b.name + "/" + b.namespace))
	}
	sb.WriteString(" of ")
	sb.WriteString(b.roleRef.Kind)
	sb.WriteString(" ")
	sb.WriteString(strconv.Quote(b.roleRef.Name))
	sb.WriteString(" to ")
	sb.WriteString(s.Kind)
	sb.WriteString(" ")
	name := s.Name
	if s.Kind == rbacv1.ServiceAccountKind {
		ns := s.Namespace
		if ns == "" {
			ns = b.namespace
		}
		name = s.Name + "/" + ns
	}
	sb.WriteString(strconv.Quote(name))
	return sb.String()
}

// Authorize decides attrs. Members of system:masters are allowed everything
// (reason ""). Otherwise the Kubernetes RBAC rules apply: cluster role
// bindings grant everywhere, role bindings in their namespace. When allowed,
// reason is Kubernetes' audit text ("RBAC: allowed by ClusterRoleBinding
// ..."); when denied, it is Kubernetes' forbidden message (`User "u" cannot
// list resource "pods" in API group "" in the namespace "ns"`, followed by
// ": RBAC: ..." when a binding refers to a missing role), ready to be used
// as `<resource> "<name>" is forbidden: <reason>`.
func (a *RBAC) Authorize(attrs Attributes) (allowed bool, reason string) {
	if attrs.User.InGroup(GroupMasters) {
		return true, ""
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	var missing *binding
	if reason, ok := a.visit(&a.cluster, &attrs, &missing); ok {
		return true, reason
	}
	if attrs.Namespace != "" {
		if idx := a.namespaced[attrs.Namespace]; idx != nil {
			if reason, ok := a.visit(idx, &attrs, &missing); ok {
				return true, reason
			}
		}
	}
	return false, forbiddenMessage(&attrs, missing)
}

func (a *RBAC) visit(idx *subjectIndex, attrs *Attributes, missing **binding) (string, bool) {
	if attrs.User.Name != "" {
		for _, e := range idx.users[attrs.User.Name] {
			if a.bindingAllows(e.b, attrs, missing) {
				return e.reason, true
			}
		}
	}
	for _, g := range attrs.User.Groups {
		for _, e := range idx.groups[g] {
			if a.bindingAllows(e.b, attrs, missing) {
				return e.reason, true
			}
		}
	}
	return "", false
}

func (a *RBAC) bindingAllows(b *binding, attrs *Attributes, missing **binding) bool {
	rules, ok := a.roleRules(b)
	if !ok {
		if *missing == nil {
			*missing = b
		}
		return false
	}
	for i := range rules {
		if ruleAllows(attrs, &rules[i]) {
			return true
		}
	}
	return false
}

// roleRules resolves a binding's roleRef: a ClusterRoleBinding may only refer
// to a ClusterRole, a RoleBinding to a Role in its namespace or a
// ClusterRole.
func (a *RBAC) roleRules(b *binding) ([]rbacv1.PolicyRule, bool) {
	switch b.roleRef.Kind {
	case "ClusterRole":
		if cr := a.clusterRoles[b.roleRef.Name]; cr != nil {
			return cr.rules, true
		}
	case "Role":
		if !b.cluster {
			rules, ok := a.roles[nsName{b.namespace, b.roleRef.Name}]
			return rules, ok
		}
	}
	return nil, false
}

func missingRoleMessage(b *binding) string {
	switch b.roleRef.Kind {
	case "ClusterRole":
		return "clusterrole.rbac.authorization.k8s.io " + strconv.Quote(b.roleRef.Name) + " not found"
	case "Role":
		return "role.rbac.authorization.k8s.io " + strconv.Quote(b.roleRef.Name) + " not found"
	}
	return "unsupported role reference kind: " + strconv.Quote(b.roleRef.Kind)
}

// forbiddenMessage renders kube-apiserver's forbidden message for attrs.
func forbiddenMessage(attrs *Attributes, missing *binding) string {
	var sb strings.Builder
	sb.WriteString("User ")
	sb.WriteString(strconv.Quote(attrs.User.Name))
	sb.WriteString(" cannot ")
	sb.WriteString(attrs.Verb)
	if !attrs.ResourceRequest {
		sb.WriteString(" path ")
		sb.WriteString(strconv.Quote(attrs.Path))
	} else {
		resource := attrs.Resource
		if attrs.Subresource != "" {
			resource += "/" + attrs.Subresource
		}
		sb.WriteString(" resource ")
		sb.WriteString(strconv.Quote(resource))
		sb.WriteString(" in API group ")
		sb.WriteString(strconv.Quote(attrs.APIGroup))
		if attrs.Namespace != "" {
			sb.WriteString(" in the namespace ")
			sb.WriteString(strconv.Quote(attrs.Namespace))
		} else {
			sb.WriteString(" at the cluster scope")
		}
	}
	if missing != nil {
		sb.WriteString(": RBAC: ")
		sb.WriteString(missingRoleMessage(missing))
	}
	return sb.String()
}

// ruleAllows is Kubernetes' RuleAllows.
func ruleAllows(attrs *Attributes, r *rbacv1.PolicyRule) bool {
	if !verbMatches(r, attrs.Verb) {
		return false
	}
	if !attrs.ResourceRequest {
		return nonResourceURLMatches(r, attrs.Path)
	}
	return apiGroupMatches(r, attrs.APIGroup) &&
		resourceMatches(r, attrs.Resource, attrs.Subresource) &&
		resourceNameMatches(r, attrs.Name)
}

func verbMatches(r *rbacv1.PolicyRule, verb string) bool {
	for _, v := range r.Verbs {
		if v == rbacv1.VerbAll || v == verb {
			return true
		}
	}
	return false
}

func apiGroupMatches(r *rbacv1.PolicyRule, group string) bool {
	for _, g := range r.APIGroups {
		if g == rbacv1.APIGroupAll || g == group {
			return true
		}
	}
	return false
}

// resourceMatches matches "*", "<resource>[/<subresource>]" exactly, and
// "*/<subresource>". As in Kubernetes, "<resource>/*" is not a wildcard.
func resourceMatches(r *rbacv1.PolicyRule, resource, subresource string) bool {
	for _, rr := range r.Resources {
		if rr == rbacv1.ResourceAll {
			return true
		}
		if subresource == "" {
			if rr == resource {
				return true
			}
			continue
		}
		// rr == resource + "/" + subresource, without allocating.
		if len(rr) == len(resource)+1+len(subresource) &&
			strings.HasPrefix(rr, resource) && rr[len(resource)] == '/' && strings.HasSuffix(rr, subresource) {
			return true
		}
		if len(rr) == len(subresource)+2 && strings.HasPrefix(rr, "*/") && strings.HasSuffix(rr, subresource) {
			return true
		}
	}
	return false
}

func resourceNameMatches(r *rbacv1.PolicyRule, name string) bool {
	if len(r.ResourceNames) == 0 {
		return true
	}
	return slices.Contains(r.ResourceNames, name)
}

func nonResourceURLMatches(r *rbacv1.PolicyRule, path string) bool {
	for _, u := range r.NonResourceURLs {
		if u == rbacv1.NonResourceAll || u == path {
			return true
		}
		if strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimRight(u, "*")) {
			return true
		}
	}
	return false
}

func rulesEqual(x, y *rbacv1.PolicyRule) bool {
	return slices.Equal(x.Verbs, y.Verbs) && slices.Equal(x.APIGroups, y.APIGroups) &&
		slices.Equal(x.Resources, y.Resources) && slices.Equal(x.ResourceNames, y.ResourceNames) &&
		slices.Equal(x.NonResourceURLs, y.NonResourceURLs)
}

func copyRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	if rules == nil {
		return nil
	}
	out := make([]rbacv1.PolicyRule, len(rules))
	for i := range rules {
		rules[i].DeepCopyInto(&out[i])
	}
	return out
}
