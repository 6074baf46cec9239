package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// warnings collects the HTTP Warning headers client-go hands its warning handler.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	w.msgs = append(w.msgs, msg)
	w.mu.Unlock()
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

func vap(name, expr, message string, rules ...admissionregistrationv1.NamedRuleWithOperations) *admissionregistrationv1.ValidatingAdmissionPolicy {
	fail := admissionregistrationv1.Fail
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: rules},
			Validations:      []admissionregistrationv1.Validation{{Expression: expr, Message: message}},
		},
	}
}

func podRule() admissionregistrationv1.NamedRuleWithOperations {
	return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
	}}
}

func binding(name, policy string, actions ...admissionregistrationv1.ValidationAction) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policy, ValidationActions: actions},
	}
}

// TestAdmissionPolicies: ValidatingAdmissionPolicies stored in the API take
// effect on the next request (Deny as a refusal, Warn as a Warning header
// through client-go's warning handler) and stop when deleted.
func TestAdmissionPolicies(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	admin := ts.client("admin")
	ctx := ctxT(t)
	cfg := ts.restConfig("admin")
	ws := &warnings{}
	cfg.WarningHandler = ws
	c := kubernetes.NewForConfigOrDie(rest.CopyConfig(cfg))

	policies := admin.AdmissionregistrationV1().ValidatingAdmissionPolicies()
	bindings := admin.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	if _, err := policies.Create(ctx, vap("no-latest", "object.spec.containers.all(c, !c.image.endsWith(':latest'))", "images must be pinned, not :latest", podRule()), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bindings.Create(ctx, binding("no-latest", "no-latest", admissionregistrationv1.Deny), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := policies.Create(ctx, vap("want-team", "has(object.metadata.labels) && 'team' in object.metadata.labels", "pods should name their team", podRule()), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bindings.Create(ctx, binding("want-team", "want-team", admissionregistrationv1.Warn), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	latest := testPod("latest")
	latest.Spec.Containers[0].Image = "nginx:latest"
	var err error
	eventually(t, 10*time.Second, "the Deny policy to take effect", func() bool {
		_, err = c.CoreV1().Pods("default").Create(ctx, latest, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil
	})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy 'no-latest' with binding 'no-latest' denied request: images must be pinned, not :latest") {
		t.Fatalf("Deny: %v", err)
	}
	// The Warn policy's binding may reach the engine a moment after the
	// Deny's: the warning comes once both are in force.
	var got []string
	eventually(t, 10*time.Second, "the Warn policy to take effect", func() bool {
		ws.take()
		if _, err := c.CoreV1().Pods("default").Create(ctx, testPod("pinned"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Fatalf("a pod the Deny policy allows: %v", err)
		}
		got = ws.take()
		return len(got) > 0
	})
	if len(got) != 1 || !strings.Contains(got[0], "ValidatingAdmissionPolicy 'want-team' with binding 'want-team'") || !strings.Contains(got[0], "pods should name their team") {
		t.Fatalf("Warn: warnings %q", got)
	}
	// Deleting the binding lifts the policy.
	if err := bindings.Delete(ctx, "no-latest", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the Deny policy to be lifted", func() bool {
		_, err = c.CoreV1().Pods("default").Create(ctx, latest, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil
	})
	// A policy whose CEL does not compile: failurePolicy Fail refuses, and says why.
	if _, err := policies.Create(ctx, vap("broken", "object.spec.containers.all(c, ", "never", podRule()), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bindings.Create(ctx, binding("broken", "broken", admissionregistrationv1.Deny), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the broken policy to refuse", func() bool {
		_, err = c.CoreV1().Pods("default").Create(ctx, testPod("any"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil
	})
	if !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "compil") {
		t.Fatalf("broken policy refusal should name the policy and the compile problem: %v", err)
	}
}
