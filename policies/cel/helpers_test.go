package cel

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/cairn-dev/cairn/policies"
)

// fakeLookup serves namespaces and ConfigMap params from memory.
type fakeLookup struct {
	namespaces map[string]*corev1.Namespace
	params     []runtime.Object
	paramsErr  error
	calls      int
}

func (f *fakeLookup) Namespace(name string) (*corev1.Namespace, error) {
	if ns, ok := f.namespaces[name]; ok {
		return ns, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
}

func (f *fakeLookup) Params(r ParamRequest) ([]runtime.Object, error) {
	f.calls++
	if f.paramsErr != nil {
		return nil, f.paramsErr
	}
	var out []runtime.Object
	for _, o := range f.params {
		cm, ok := o.(*corev1.ConfigMap)
		if !ok || r.Kind != "ConfigMap" || cm.Namespace != r.Namespace {
			continue
		}
		if r.Name != "" && cm.Name == r.Name {
			return []runtime.Object{cm}, nil
		}
		if r.Selector != nil && r.Selector.Matches(labels.Set(cm.Labels)) {
			out = append(out, cm)
		}
	}
	if r.Name != "" {
		return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), r.Name)
	}
	return out, nil
}

func newLookup(objs ...runtime.Object) *fakeLookup {
	f := &fakeLookup{namespaces: map[string]*corev1.Namespace{}}
	for _, name := range []string{"default", "team-a", "team-b", "kube-system"} {
		f.namespaces[name] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/metadata.name": name}}}
	}
	f.namespaces["team-a"].Labels["env"] = "prod"
	f.params = objs
	return f
}

func configMap(ns, name string, lbls map[string]string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}, Data: data}
}

var (
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	deploymentGVK  = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	podsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	podGVK         = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
)

func container(name, image string, limited bool) corev1.Container {
	c := corev1.Container{Name: name, Image: image}
	if limited {
		c.Resources.Limits = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("500m"),
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		}
	}
	return c
}

// deployment returns a Deployment (without TypeMeta, as typed objects
// usually arrive) with the given replicas, labels and containers.
func deployment(ns, name string, replicas int32, lbls map[string]string, cs ...corev1.Container) *appsv1.Deployment {
	if len(cs) == 0 {
		cs = []corev1.Container{container("app", "nginx:1.27", true)}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: cs},
			},
		},
	}
}

func pod(ns, name string, lbls map[string]string, cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}, Spec: corev1.PodSpec{Containers: cs}}
}

func create(obj runtime.Object) *policies.Attributes {
	return attrs(policies.Create, obj, nil)
}

func attrs(op policies.Operation, obj, old runtime.Object) *policies.Attributes {
	a := &policies.Attributes{Operation: op, Object: obj, OldObject: old, User: policies.UserInfo{Name: "alice", Groups: []string{"dev", "system:authenticated"}}}
	o := obj
	if o == nil {
		o = old
	}
	switch v := o.(type) {
	case *appsv1.Deployment:
		a.Kind, a.Resource, a.Namespace, a.Name = deploymentGVK, deploymentsGVR, v.Namespace, v.Name
	case *corev1.Pod:
		a.Kind, a.Resource, a.Namespace, a.Name = podGVK, podsGVR, v.Namespace, v.Name
	case *corev1.Namespace:
		a.Kind = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
		a.Resource = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
		a.Name = v.Name
	case *corev1.ConfigMap:
		a.Kind = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
		a.Resource = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
		a.Namespace, a.Name = v.Namespace, v.Name
	}
	return a
}

func ptr[T any](v T) *T { return &v }

// vap returns a policy matching CREATE and UPDATE of deployments with
// failurePolicy Fail and the given validation expressions.
func vap(name string, exprs ...string) *admissionregistrationv1.ValidatingAdmissionPolicy {
	p := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
						Rule: admissionregistrationv1.Rule{
							APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"},
						},
					},
				}},
			},
		},
	}
	for _, e := range exprs {
		p.Spec.Validations = append(p.Spec.Validations, admissionregistrationv1.Validation{Expression: e})
	}
	return p
}

func vapb(name, policy string, actions ...admissionregistrationv1.ValidationAction) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	if len(actions) == 0 {
		actions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}
	}
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy, ValidationActions: actions},
	}
}

// loadYAML reads policies, bindings and ConfigMaps from a multi-document
// YAML file.
func loadYAML(t testing.TB, path string) ([]*admissionregistrationv1.ValidatingAdmissionPolicy, []*admissionregistrationv1.ValidatingAdmissionPolicyBinding, []runtime.Object) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ps []*admissionregistrationv1.ValidatingAdmissionPolicy
	var bs []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
	var objs []runtime.Object
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var into any
		switch tm.Kind {
		case "ValidatingAdmissionPolicy":
			p := &admissionregistrationv1.ValidatingAdmissionPolicy{}
			ps, into = append(ps, p), p
		case "ValidatingAdmissionPolicyBinding":
			b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
			bs, into = append(bs, b), b
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			objs, into = append(objs, cm), cm
		case "":
			continue
		default:
			t.Fatalf("%s: unexpected kind %q", path, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return ps, bs, objs
}

func statusOf(err error) (int32, metav1.StatusReason, string) {
	se, ok := err.(*apierrors.StatusError)
	if !ok {
		return 0, "", ""
	}
	return se.ErrStatus.Code, se.ErrStatus.Reason, se.ErrStatus.Message
}

func mustValidate(t *testing.T, e *Engine, a *policies.Attributes, l Lookup) (policies.Result, error) {
	t.Helper()
	return e.Validate(context.Background(), a, l)
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
