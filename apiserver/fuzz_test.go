package apiserver

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzDecodeBody feeds arbitrary bytes to the request body decoder of a
// few kinds: it must return an object or a 400, never panic.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"i"}]}}`))
	f.Add([]byte(`{"metadata":{"name":"a","name":"b"},"spec":{"replicas":"x"}}`))
	f.Add([]byte("k8s\x00\x0a\x02v1"))
	f.Add([]byte(`[[[[[[[[[[[[`))
	kinds := []*Resource{}
	for _, r := range Resources() {
		switch r.Kind {
		case "Pod", "Deployment", "Service", "ConfigMap", "GitRepository":
			kinds = append(kinds, r)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range kinds {
			for _, fv := range []fieldValidation{validationStrict, validationWarn} {
				obj, _, err := decodeBody(data, r, r.New, r.GVK(), fv)
				if err == nil && obj == nil {
					t.Fatal("nil object without error")
				}
			}
		}
	})
}

// FuzzSelectors feeds arbitrary label and field selectors to the list
// option parser: errors are 400s, never panics.
func FuzzSelectors(f *testing.F) {
	f.Add("app=web,tier!=db", "spec.nodeName=n1")
	f.Add("a in (b,c),!d", "metadata.name==x,status.phase!=Running")
	f.Add("x notin ()", "=")
	pods := &Resource{Kind: "Pod", Namespaced: true, Fields: podFields, New: Resources()[0].New}
	for _, r := range Resources() {
		if r.Kind == "Pod" {
			pods = r
		}
	}
	f.Fuzz(func(t *testing.T, label, field string) {
		p, err := predicate(metav1.ListOptions{LabelSelector: label, FieldSelector: field}, pods)
		if err != nil {
			return
		}
		obj := pods.New()
		ls, fs, err := attrsFor(pods)(obj)
		if err != nil {
			t.Fatal(err)
		}
		if p.Label != nil {
			p.Label.Matches(ls)
		}
		if p.Field != nil {
			p.Field.Matches(fs)
		}
	})
}
