package check

import (
	"encoding/json"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/cairn-dev/cairn/defaults"
	"github.com/cairn-dev/cairn/manifest"
	"github.com/cairn-dev/cairn/policies/cel"
)

// corpus answers the policy engine's lookups from the objects being
// checked: a namespace named in the corpus has its labels; any other
// exists with only its name label, as the API server would create it.
// Objects are indexed by kind and by kind and name, and decoded once, on
// first use: every checked object asks for its params again, and a
// corpus of thousands of ConfigMaps must not be scanned and decoded for
// each.
type corpus struct {
	byKind map[string][]*corpusEntry
	byName map[string][]*corpusEntry // kind + "/" + name
	// implicit holds the namespaces not in the corpus, made once per
	// name (name → *corev1.Namespace): the engine only reads them.
	implicit sync.Map
}

type corpusEntry struct {
	o *manifest.Object

	once   sync.Once
	u      *unstructured.Unstructured
	ns     *corev1.Namespace
	labels labels.Set
	err    error
}

func newCorpus(objs []*manifest.Object) *corpus {
	c := &corpus{byKind: map[string][]*corpusEntry{}, byName: map[string][]*corpusEntry{}}
	for _, o := range objs {
		e := &corpusEntry{o: o}
		c.byKind[o.Kind] = append(c.byKind[o.Kind], e)
		c.byName[o.Kind+"/"+o.Name] = append(c.byName[o.Kind+"/"+o.Name], e)
	}
	return c
}

// decode turns the entry into what the engine reads: a defaulted
// Namespace for namespaces, an unstructured object for params. The
// engine only reads them, so every request shares one copy.
func (e *corpusEntry) decode() error {
	e.once.Do(func() {
		e.labels = labels.Set(labelsOf(e.o))
		if e.o.Kind == "Namespace" && e.o.APIVersion == "v1" {
			var ns corev1.Namespace
			if e.err = json.Unmarshal(e.o.JSON, &ns); e.err != nil {
				return
			}
			defaults.Apply(&ns)
			e.ns = &ns
		}
		u := &unstructured.Unstructured{}
		e.err = utiljson.Unmarshal(e.o.JSON, &u.Object)
		e.u = u
	})
	return e.err
}

func (c *corpus) Namespace(name string) (*corev1.Namespace, error) {
	for _, e := range c.byName["Namespace/"+name] {
		if e.o.APIVersion != "v1" {
			continue
		}
		if err := e.decode(); err != nil {
			return nil, err
		}
		return e.ns, nil
	}
	if ns, ok := c.implicit.Load(name); ok {
		return ns.(*corev1.Namespace), nil
	}
	ns := &corev1.Namespace{}
	ns.Name = name
	defaults.Apply(ns)
	got, _ := c.implicit.LoadOrStore(name, ns)
	return got.(*corev1.Namespace), nil
}

func (c *corpus) Params(ref cel.ParamRequest) ([]runtime.Object, error) {
	candidates := c.byKind[ref.Kind]
	if ref.Name != "" {
		candidates = c.byName[ref.Kind+"/"+ref.Name]
	}
	var out []runtime.Object
	for _, e := range candidates {
		o := e.o
		if o.APIVersion != ref.APIVersion || (ref.Namespace != "" && o.Namespace != "" && o.Namespace != ref.Namespace) {
			continue
		}
		if err := e.decode(); err != nil {
			return nil, err
		}
		if ref.Selector != nil && !ref.Selector.Matches(e.labels) {
			continue
		}
		out = append(out, e.u)
	}
	sort.SliceStable(out, func(i, j int) bool { return nameOf(out[i]) < nameOf(out[j]) })
	return out, nil
}

func labelsOf(o *manifest.Object) map[string]string {
	md, _ := o.Value["metadata"].(map[string]any)
	l, _ := md["labels"].(map[string]any)
	out := make(map[string]string, len(l))
	for k, v := range l {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}
