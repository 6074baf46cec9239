package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/check"
	"github.com/cairn-dev/cairn/manifest"
)

// TestServerAndValidateAgree: on the same manifests and policies, the API
// server (a dry-run create) and `cairn validate`'s checker give the same
// verdict, and every message validate prints is in the server's answer.
func TestServerAndValidateAgree(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	c := ts.client("admin")
	ctx := ctxT(t)
	for _, ns := range []string{"shop", "team-a"} {
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	policies, errs := manifest.Load([]string{"../../examples/policies"}, manifest.Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	paths := map[string]string{
		"ValidatingAdmissionPolicy":        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies",
		"ValidatingAdmissionPolicyBinding": "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings",
		"ConfigMap":                        "/api/v1/namespaces/%s/configmaps",
		"Service":                          "/api/v1/namespaces/%s/services",
		"Deployment":                       "/apis/apps/v1/namespaces/%s/deployments",
	}
	post := func(o *manifest.Object, dryRun bool) error {
		p := paths[o.Kind]
		if strings.Contains(p, "%s") {
			ns := o.Namespace
			if ns == "" {
				ns = "default"
			}
			p = strings.Replace(p, "%s", ns, 1)
		}
		req := c.CoreV1().RESTClient().Post().AbsPath(p).SetHeader("Content-Type", "application/json").Body(o.JSON)
		if dryRun {
			req = req.Param("dryRun", "All")
		}
		return req.Do(ctx).Error()
	}
	for _, o := range policies {
		if err := post(o, false); err != nil {
			t.Fatalf("applying %s: %v", o.Ref(), err)
		}
	}
	corpus, errs := manifest.Load([]string{"../../cli/testdata/validate"}, manifest.Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	checker, problems := check.New(policies, corpus)
	if len(problems) > 0 {
		t.Fatalf("policy problems: %v", problems)
	}
	for _, o := range corpus {
		findings := checker.Check(context.Background(), o)
		// The server's policy engine follows the API: its policies may
		// arrive one by one, so retry until it agrees or time runs out.
		var serverErr error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			serverErr = post(o, true)
			agree := (serverErr == nil) == (len(findings) == 0)
			if agree && serverErr != nil && !strings.Contains(serverErr.Error(), findings[0].Message) {
				agree = false
			}
			if agree || time.Now().After(deadline) {
				break
			}
		}
		if (serverErr == nil) != (len(findings) == 0) {
			t.Errorf("%s: server says %v, validate says %v", o.Ref(), serverErr, findings)
			continue
		}
		for _, f := range findings {
			if !strings.Contains(serverErr.Error(), f.Message) {
				t.Errorf("%s: validate says %q, the server %q", o.Ref(), f.Message, serverErr.Error())
			}
		}
	}
}
