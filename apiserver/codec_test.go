package apiserver

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func resourceByKind(t testing.TB, kind string) *Resource {
	for _, r := range Resources() {
		if r.Kind == kind {
			return r
		}
	}
	t.Fatalf("no resource of kind %s", kind)
	return nil
}

func TestDecodeBody(t *testing.T) {
	pod := resourceByKind(t, "Pod")
	tests := []struct {
		name, body string
		fv         fieldValidation
		wantErr    string // substring; "" = success
		warnings   int
	}{
		{name: "ok", body: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}`},
		{name: "no type meta", body: `{"metadata":{"name":"a"}}`},
		{name: "unknown field", body: `{"metadata":{"name":"a"},"spec":{"bogus":1}}`, wantErr: `unknown field "spec.bogus"`},
		{name: "unknown field warned", body: `{"metadata":{"name":"a"},"spec":{"bogus":1}}`, fv: validationWarn, warnings: 1},
		{name: "unknown field ignored", body: `{"metadata":{"name":"a"},"spec":{"bogus":1}}`, fv: validationIgnore},
		{name: "duplicate field", body: `{"metadata":{"name":"a","name":"b"}}`, wantErr: `duplicate field "metadata.name"`},
		{name: "wrong kind", body: `{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}}`, wantErr: "does not match the expected kind"},
		{name: "wrong version", body: `{"apiVersion":"apps/v1","kind":"Pod"}`, wantErr: "does not match the expected API version"},
		{name: "wrong type", body: `{"metadata":{"name":5}}`, wantErr: "cannot be handled as a Pod"},
		{name: "not json", body: `name: a`, wantErr: "cannot be handled as a Pod"},
		{name: "deeply nested", body: strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000), wantErr: "cannot be handled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fv := tt.fv
			if fv == "" {
				fv = validationStrict
			}
			obj, warns, err := decodeBody([]byte(tt.body), pod, pod.New, pod.GVK(), fv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !apierrors.IsBadRequest(err) {
					t.Fatalf("err %v is not a 400", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) != tt.warnings {
				t.Fatalf("warnings %v, want %d", warns, tt.warnings)
			}
			if obj.GetObjectKind().GroupVersionKind() != pod.GVK() {
				t.Fatalf("gvk %v not set", obj.GetObjectKind().GroupVersionKind())
			}
		})
	}
}

func TestStorageCodecRoundTrip(t *testing.T) {
	c := storageCodec{NewScheme()}
	for _, r := range Resources() {
		if r.Computed {
			continue
		}
		obj := r.New()
		obj.GetObjectKind().SetGroupVersionKind(r.GVK())
		data, err := c.Encode(obj)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := sniffGVK(data); !ok {
			t.Errorf("%s: encoded form does not start with kind/apiVersion: %.60s", r.Kind, data)
		}
		back, err := c.Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", r.Kind, err)
		}
		if back.GetObjectKind().GroupVersionKind() != r.GVK() {
			t.Errorf("%s decoded as %v", r.Kind, back.GetObjectKind().GroupVersionKind())
		}
	}
}

func TestParseRequestInfo(t *testing.T) {
	tests := []struct {
		method, url string
		want        requestInfo
	}{
		{"GET", "/api/v1/namespaces/default/pods", requestInfo{IsResourceRequest: true, Verb: "list", APIPrefix: "api", APIVersion: "v1", Namespace: "default", Resource: "pods"}},
		{"GET", "/api/v1/namespaces/default/pods?watch=true", requestInfo{IsResourceRequest: true, Verb: "watch", APIPrefix: "api", APIVersion: "v1", Namespace: "default", Resource: "pods"}},
		{"GET", "/api/v1/watch/namespaces/default/pods/web", requestInfo{IsResourceRequest: true, Verb: "watch", APIPrefix: "api", APIVersion: "v1", Namespace: "default", Resource: "pods", Name: "web"}},
		{"GET", "/api/v1/namespaces/default/pods/web?watch=true", requestInfo{IsResourceRequest: true, Verb: "get", APIPrefix: "api", APIVersion: "v1", Namespace: "default", Resource: "pods", Name: "web"}},
		{"POST", "/api/v1/namespaces/default/pods/web/binding", requestInfo{IsResourceRequest: true, Verb: "create", APIPrefix: "api", APIVersion: "v1", Namespace: "default", Resource: "pods", Name: "web", Subresource: "binding"}},
		{"PUT", "/api/v1/namespaces/kube-system/status", requestInfo{IsResourceRequest: true, Verb: "update", APIPrefix: "api", APIVersion: "v1", Namespace: "kube-system", Resource: "namespaces", Name: "kube-system", Subresource: "status"}},
		{"GET", "/api/v1/namespaces/kube-system", requestInfo{IsResourceRequest: true, Verb: "get", APIPrefix: "api", APIVersion: "v1", Namespace: "kube-system", Resource: "namespaces", Name: "kube-system"}},
		{"DELETE", "/apis/apps/v1/namespaces/a/deployments", requestInfo{IsResourceRequest: true, Verb: "deletecollection", APIPrefix: "apis", APIGroup: "apps", APIVersion: "v1", Namespace: "a", Resource: "deployments"}},
		{"PATCH", "/apis/apps/v1/namespaces/a/deployments/web/scale", requestInfo{IsResourceRequest: true, Verb: "patch", APIPrefix: "apis", APIGroup: "apps", APIVersion: "v1", Namespace: "a", Resource: "deployments", Name: "web", Subresource: "scale"}},
		{"GET", "/api/v1/nodes/n1/status", requestInfo{IsResourceRequest: true, Verb: "get", APIPrefix: "api", APIVersion: "v1", Resource: "nodes", Name: "n1", Subresource: "status"}},
		{"GET", "/apis/apps", requestInfo{Verb: "get", APIPrefix: "apis", APIGroup: "apps"}},
		{"GET", "/apis", requestInfo{Verb: "get", APIPrefix: "apis"}},
		{"GET", "/healthz", requestInfo{Verb: "get"}},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.url, nil)
		got := parseRequestInfo(r)
		got.Path, got.Parts = "", nil
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s %s:\n got  %+v\n want %+v", tt.method, tt.url, got, tt.want)
		}
	}
}

func TestPredicateRejectsUnknownFields(t *testing.T) {
	pods := resourceByKind(t, "Pod")
	if _, err := predicate(metav1.ListOptions{FieldSelector: "spec.nodeName=n1,status.phase!=Running"}, pods); err != nil {
		t.Fatal(err)
	}
	for _, sel := range []string{"spec.bogus=1", "metadata.labels=x"} {
		if _, err := predicate(metav1.ListOptions{FieldSelector: sel}, pods); !apierrors.IsBadRequest(err) {
			t.Errorf("%s: want 400, got %v", sel, err)
		}
	}
	if _, err := predicate(metav1.ListOptions{LabelSelector: "a in (b"}, pods); !apierrors.IsBadRequest(err) {
		t.Errorf("bad label selector: want 400, got %v", err)
	}
}
