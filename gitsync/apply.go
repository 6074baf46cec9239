package gitsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/cairn-dev/cairn/check"
	"github.com/cairn-dev/cairn/manifest"
)

// What gitsync writes on the objects it owns.
const (
	// LabelSource selects a source's objects (value: Source.Label()).
	LabelSource = "gitops.cairn.dev/source"
	// AnnotationSource names the GitRepository as namespace/name.
	AnnotationSource = "gitops.cairn.dev/source"
	// AnnotationFile is the file and line the object came from.
	AnnotationFile = "gitops.cairn.dev/file"
	// AnnotationRevision is the revision that last changed the object.
	AnnotationRevision = "gitops.cairn.dev/revision"
	// AnnotationLastApplied is the object as gitsync last applied it, the
	// base of the three-way merge that removes what left git.
	AnnotationLastApplied = "gitops.cairn.dev/last-applied"
)

// Source is the GitRepository a revision comes from.
type Source struct{ Namespace, Name string }

func (s Source) String() string { return s.Namespace + "/" + s.Name }

// Label is the source as a label value: namespace.name, or a hash of it
// when that is longer than a label value may be.
func (s Source) Label() string {
	v := s.Namespace + "." + s.Name
	if len(v) <= 63 {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "h." + hex.EncodeToString(sum[:20])
}

// Applier applies revisions through the API server.
type Applier struct {
	Dynamic   dynamic.Interface
	Mapper    meta.ResettableRESTMapper
	Discovery discovery.DiscoveryInterface
	// Workers issue requests in parallel (default 16).
	Workers int
}

// ApplyOptions say what an apply may do.
type ApplyOptions struct {
	Revision string
	// Prune deletes owned objects that left git.
	Prune bool
	// AllowEmpty lets a revision without objects prune everything.
	AllowEmpty bool
}

// Outcome is what one apply did, or why it did nothing.
type Outcome struct {
	// Applied is false when the revision was refused: nothing changed.
	Applied                              bool
	Created, Updated, Unchanged, Deleted []string
	// Written are the objects created or changed, for events.
	Written []Written
	// Workloads are the revision's Deployments, StatefulSets and
	// DaemonSets, written or not, for the health summary.
	Workloads []Written
	// Errors refused the revision; each names its file and line.
	Errors []check.Finding
	// Inventory is how many objects the source owns now.
	Inventory int
}

// Written is one object an apply created or changed.
type Written struct {
	APIVersion, Kind, Namespace, Name string
	File                              string
	Line                              int
	Created                           bool
}

// item is one desired object and what to do with it.
type item struct {
	obj     *manifest.Object
	gvr     schema.GroupVersionResource
	gk      schema.GroupKind
	ns      bool // namespaced
	desired map[string]any
	body    []byte // desired as JSON, the last-applied annotation's value
	live    *unstructured.Unstructured
	patch   []byte // nil: create (live == nil) or nothing to do
	noop    bool
	// skipDryRun: its namespace comes with the revision, so the server
	// cannot dry-run it yet (the offline check covers it).
	skipDryRun bool
}

func (it *item) ref() string { return it.obj.Ref() }

func (it *item) client(d dynamic.Interface) dynamic.ResourceInterface {
	if it.ns {
		return d.Resource(it.gvr).Namespace(it.obj.Namespace)
	}
	return d.Resource(it.gvr)
}

// Apply makes the cluster hold objs for src: a server-side dry run of
// every create and change first; if any is refused, nothing is applied
// and every refusal is reported. Otherwise objects are created and patched
// in dependency order, and (with Prune) owned objects that left git are
// deleted, in reverse order. Objects whose live state already holds what
// git says cost no write.
func (a *Applier) Apply(ctx context.Context, src Source, objs []*manifest.Object, opts ApplyOptions) *Outcome {
	out := &Outcome{}
	items, errs := a.resolve(src, objs, opts.Revision)
	out.Errors = append(out.Errors, errs...)
	owned, err := a.listOwned(ctx, src)
	if err != nil {
		out.Errors = append(out.Errors, check.Finding{Message: fmt.Sprintf("listing the objects %s owns: %v", src, err), Severity: check.Error})
		return out
	}
	if len(objs) == 0 && len(owned) > 0 && opts.Prune && !opts.AllowEmpty {
		out.Errors = append(out.Errors, check.Finding{Severity: check.Error, Message: fmt.Sprintf(
			"the revision holds no objects; pruning would delete all %d objects of %s (set spec.allowEmpty to allow it)", len(owned), src)})
	}
	if len(out.Errors) > 0 {
		return out
	}
	// Live state of every desired object; an object that exists but is
	// not yet ours is taken over.
	want := map[string]bool{}
	a.parallel(items, func(it *item) error {
		if l, ok := owned[liveKey(it.gk, it.obj.Namespace, it.obj.Name)]; ok {
			it.live = l
			return nil
		}
		l, err := it.client(a.Dynamic).Get(ctx, it.obj.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return err
		default:
			it.live = l
		}
		return nil
	}, func(it *item, err error) {
		out.Errors = append(out.Errors, findings(it, err)...)
	})
	if len(out.Errors) > 0 {
		return out
	}
	for _, it := range items {
		want[liveKey(it.gk, it.obj.Namespace, it.obj.Name)] = true
		if err := it.plan(opts.Revision); err != nil {
			out.Errors = append(out.Errors, findings(it, err)...)
		}
	}
	a.markNewNamespaces(ctx, items)
	// The dry run: every request the apply would make.
	a.parallel(items, func(it *item) error {
		if it.noop || it.skipDryRun {
			return nil
		}
		return it.write(ctx, a.Dynamic, true)
	}, func(it *item, err error) {
		out.Errors = append(out.Errors, findings(it, err)...)
	})
	if len(out.Errors) > 0 {
		sortFindings(out.Errors)
		return out
	}
	// The apply, one dependency rank at a time.
	sort.SliceStable(items, func(i, j int) bool {
		return applyRank(items[i].gk.Group, items[i].gk.Kind) < applyRank(items[j].gk.Group, items[j].gk.Kind)
	})
	var mu sync.Mutex
	for _, rank := range ranks(items) {
		a.parallel(rank, func(it *item) error {
			if it.noop {
				mu.Lock()
				out.Unchanged = append(out.Unchanged, it.ref())
				mu.Unlock()
				return nil
			}
			if err := it.write(ctx, a.Dynamic, false); err != nil {
				return err
			}
			mu.Lock()
			if it.live == nil {
				out.Created = append(out.Created, it.ref())
			} else {
				out.Updated = append(out.Updated, it.ref())
			}
			out.Written = append(out.Written, Written{APIVersion: it.obj.APIVersion, Kind: it.obj.Kind, Namespace: it.obj.Namespace,
				Name: it.obj.Name, File: it.obj.File, Line: it.obj.Line, Created: it.live == nil})
			mu.Unlock()
			return nil
		}, func(it *item, err error) {
			out.Errors = append(out.Errors, findings(it, err)...)
		})
	}
	out.Applied = len(out.Errors) == 0
	for _, it := range items {
		if it.gk.Group == "apps" && (it.gk.Kind == "Deployment" || it.gk.Kind == "StatefulSet" || it.gk.Kind == "DaemonSet") {
			out.Workloads = append(out.Workloads, Written{APIVersion: it.obj.APIVersion, Kind: it.obj.Kind,
				Namespace: it.obj.Namespace, Name: it.obj.Name, File: it.obj.File, Line: it.obj.Line})
		}
	}
	inventory := len(items)
	if opts.Prune {
		out.Deleted, errs = a.prune(ctx, owned, want)
		out.Errors = append(out.Errors, errs...)
	} else {
		for k := range owned {
			if !want[k] {
				inventory++
			}
		}
	}
	out.Inventory = inventory
	sortFindings(out.Errors)
	return out
}

// resolve maps each object to its resource and builds the body gitsync
// applies: the manifest plus the source's label and annotations.
func (a *Applier) resolve(src Source, objs []*manifest.Object, revision string) ([]*item, []check.Finding) {
	var items []*item
	var errs []check.Finding
	for _, o := range objs {
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			errs = append(errs, check.Finding{File: o.File, Line: o.LineOf("apiVersion"), Object: o.Ref(), Path: "apiVersion", Message: err.Error(), Severity: check.Error})
			continue
		}
		gk := schema.GroupKind{Group: gv.Group, Kind: o.Kind}
		m, err := a.Mapper.RESTMapping(gk, gv.Version)
		if meta.IsNoMatchError(err) {
			a.Mapper.Reset()
			m, err = a.Mapper.RESTMapping(gk, gv.Version)
		}
		if err != nil {
			errs = append(errs, check.Finding{File: o.File, Line: o.LineOf("kind"), Object: o.Ref(), Path: "kind",
				Message: fmt.Sprintf("the API server does not serve %s in %s", o.Kind, o.APIVersion), Severity: check.Error})
			continue
		}
		if o.Name == "" {
			errs = append(errs, check.Finding{File: o.File, Line: o.Line, Object: o.Ref(), Path: "metadata.name",
				Message: "gitsync applies named objects only (generateName would create a new object on every sync)", Severity: check.Error})
			continue
		}
		it := &item{obj: o, gvr: m.Resource, gk: gk, ns: m.Scope.Name() == meta.RESTScopeNameNamespace}
		if it.ns && o.Namespace == "" {
			errs = append(errs, check.Finding{File: o.File, Line: o.Line, Object: o.Ref(), Path: "metadata.namespace",
				Message: "a namespaced object needs a namespace (or the source's defaultNamespace)", Severity: check.Error})
			continue
		}
		it.desired = withOwnership(o, src)
		it.body, _ = json.Marshal(it.desired)
		items = append(items, it)
	}
	return items, errs
}

// withOwnership is a deep copy of the object with the source's label and
// annotations.
func withOwnership(o *manifest.Object, src Source) map[string]any {
	var v map[string]any
	_ = json.Unmarshal(o.JSON, &v) // o.JSON is valid JSON by construction
	if v == nil {
		v = map[string]any{}
	}
	md, _ := v["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		v["metadata"] = md
	}
	set := func(field, k, val string) {
		m, _ := md[field].(map[string]any)
		if m == nil {
			m = map[string]any{}
			md[field] = m
		}
		m[k] = val
	}
	set("labels", LabelSource, src.Label())
	set("annotations", AnnotationSource, src.String())
	set("annotations", AnnotationFile, fmt.Sprintf("%s:%d", o.File, o.Line))
	return v
}

// plan decides what an object needs: nothing when the live object holds
// every field git sets and was last applied from the same manifest;
// otherwise a three-way merge patch (git's change, without touching what
// others set, removing what left git) stamped with the revision.
func (it *item) plan(revision string) error {
	if it.live == nil {
		md := it.desired["metadata"].(map[string]any)
		ann := md["annotations"].(map[string]any)
		ann[AnnotationRevision] = revision
		ann[AnnotationLastApplied] = string(it.body)
		delete(md, "resourceVersion")
		return nil
	}
	last := it.live.GetAnnotations()[AnnotationLastApplied]
	modified := it.body
	if isNode(it) {
		it.desired = adminNode(it.desired)
		body, err := json.Marshal(it.desired)
		if err != nil {
			return err
		}
		it.body = body
		if modified, err = nodeModified(it, last); err != nil {
			return err
		}
	}
	if last == string(it.body) && contains(it.live.Object, decodeNumbers(modified)) {
		it.noop = true
		return nil
	}
	current, err := json.Marshal(it.live.Object)
	if err != nil {
		return err
	}
	original := []byte(last)
	if last == "" {
		original = nil
	}
	patch, err := jsonmergepatch.CreateThreeWayJSONMergePatch(original, modified, current)
	if err != nil {
		return fmt.Errorf("computing the change: %w", err)
	}
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil {
		return err
	}
	md, _ := p["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		p["metadata"] = md
	}
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		md["annotations"] = ann
	}
	ann[AnnotationRevision] = revision
	ann[AnnotationLastApplied] = string(it.body)
	// Optimistic concurrency: the change was computed from this version.
	md["resourceVersion"] = it.live.GetResourceVersion()
	it.patch, err = json.Marshal(p)
	return err
}

func decodeNumbers(b []byte) any {
	var v any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	_ = d.Decode(&v)
	return v
}

// write creates or patches the object, or only asks whether the server
// would (dryRun).
func (it *item) write(ctx context.Context, d dynamic.Interface, dryRun bool) error {
	var dr []string
	if dryRun {
		dr = []string{metav1.DryRunAll}
	}
	if it.live == nil {
		_, err := it.client(d).Create(ctx, &unstructured.Unstructured{Object: it.desired}, metav1.CreateOptions{DryRun: dr, FieldManager: "cairn-gitsync"})
		return err
	}
	_, err := it.client(d).Patch(ctx, it.obj.Name, types.MergePatchType, it.patch, metav1.PatchOptions{DryRun: dr, FieldManager: "cairn-gitsync"})
	return err
}

// markNewNamespaces marks objects whose namespace does not exist yet and
// is created by this revision: the server cannot dry-run them.
func (a *Applier) markNewNamespaces(ctx context.Context, items []*item) {
	inRevision := map[string]bool{}
	for _, it := range items {
		if it.gk.Group == "" && it.gk.Kind == "Namespace" && it.live == nil {
			inRevision[it.obj.Name] = true
		}
	}
	for _, it := range items {
		if it.ns && inRevision[it.obj.Namespace] {
			it.skipDryRun = true
		}
	}
}

// listOwned lists every object labelled as the source's, of every
// resource the server can list and delete.
func (a *Applier) listOwned(ctx context.Context, src Source) (map[string]*unstructured.Unstructured, error) {
	lists, err := a.Discovery.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return nil, err
	}
	type res struct {
		gvr schema.GroupVersionResource
		gk  schema.GroupKind
	}
	var all []res
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerbs(r.Verbs, "list", "delete", "create") || r.Kind == "Event" {
				continue
			}
			all = append(all, res{gv.WithResource(r.Name), schema.GroupKind{Group: gv.Group, Kind: r.Kind}})
		}
	}
	out := map[string]*unstructured.Unstructured{}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, r := range all {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			l, err := a.Dynamic.Resource(r.gvr).List(ctx, metav1.ListOptions{LabelSelector: LabelSource + "=" + src.Label(), ResourceVersion: "0"})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				// What gitsync may not list it cannot have created.
				if !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) && !apierrors.IsForbidden(err) {
					errs = append(errs, fmt.Errorf("%s: %w", r.gvr.Resource, err))
				}
				return
			}
			for i := range l.Items {
				o := &l.Items[i]
				// The label may be copied; the annotation says who owns it.
				if o.GetAnnotations()[AnnotationSource] != src.String() {
					continue
				}
				out[liveKey(r.gk, o.GetNamespace(), o.GetName())] = o
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func hasVerbs(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func liveKey(gk schema.GroupKind, ns, name string) string {
	return gk.Group + "/" + gk.Kind + "/" + ns + "/" + name
}

// prune deletes the owned objects git no longer declares, workloads
// first and namespaces last.
func (a *Applier) prune(ctx context.Context, owned map[string]*unstructured.Unstructured, want map[string]bool) ([]string, []check.Finding) {
	var gone []*unstructured.Unstructured
	for k, o := range owned {
		// A Node leaving git leaves the cluster's hands, not the
		// cluster: deleting it would delete its pods.
		if !want[k] && !(o.GroupVersionKind().Group == "" && o.GetKind() == "Node") {
			gone = append(gone, o)
		}
	}
	sort.Slice(gone, func(i, j int) bool {
		ri := applyRank(gone[i].GroupVersionKind().Group, gone[i].GetKind())
		rj := applyRank(gone[j].GroupVersionKind().Group, gone[j].GetKind())
		if ri != rj {
			return ri > rj
		}
		return gone[i].GetNamespace()+"/"+gone[i].GetName() < gone[j].GetNamespace()+"/"+gone[j].GetName()
	})
	var deleted []string
	var errs []check.Finding
	for _, o := range gone {
		gvk := o.GroupVersionKind()
		m, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		ref := o.GetKind() + "/" + o.GetName()
		if o.GetNamespace() != "" {
			ref = o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		}
		if err != nil {
			errs = append(errs, check.Finding{Object: ref, Message: fmt.Sprintf("pruning: %v", err), Severity: check.Error})
			continue
		}
		var c dynamic.ResourceInterface = a.Dynamic.Resource(m.Resource)
		if o.GetNamespace() != "" {
			c = a.Dynamic.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		uid := o.GetUID()
		bg := metav1.DeletePropagationBackground
		err = c.Delete(ctx, o.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, check.Finding{Object: ref, Message: fmt.Sprintf("pruning: %v", err), Severity: check.Error})
			continue
		}
		deleted = append(deleted, ref)
	}
	return deleted, errs
}

// parallel runs fn over items with the applier's workers; failures are
// handed to fail one at a time.
func (a *Applier) parallel(items []*item, fn func(*item) error, fail func(*item, error)) {
	n := a.Workers
	if n <= 0 {
		n = 16
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, n)
	for _, it := range items {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(it); err != nil {
				mu.Lock()
				fail(it, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// ranks splits items (sorted by rank) into runs of equal rank.
func ranks(items []*item) [][]*item {
	var out [][]*item
	for i := 0; i < len(items); {
		j := i
		r := applyRank(items[i].gk.Group, items[i].gk.Kind)
		for j < len(items) && applyRank(items[j].gk.Group, items[j].gk.Kind) == r {
			j++
		}
		out = append(out, items[i:j])
		i = j
	}
	return out
}

// findings turns an API error about an object into findings at the
// lines of the fields the server names (one per cause).
func findings(it *item, err error) []check.Finding {
	o := it.obj
	base := check.Finding{File: o.File, Line: o.Line, Object: o.Ref(), Message: err.Error(), Severity: check.Error}
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return []check.Finding{base}
	}
	st := se.Status()
	base.Message = st.Message
	if st.Details == nil || len(st.Details.Causes) == 0 {
		return []check.Finding{base}
	}
	var out []check.Finding
	for _, c := range st.Details.Causes {
		f := base
		f.Message = c.Message
		if c.Field != "" {
			f.Path = c.Field
			if l := o.LineOf(c.Field); l > 0 {
				f.Line = l
			}
		}
		out = append(out, f)
	}
	return out
}

func sortFindings(fs []check.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].File != fs[j].File {
			return fs[i].File < fs[j].File
		}
		return fs[i].Line < fs[j].Line
	})
}
