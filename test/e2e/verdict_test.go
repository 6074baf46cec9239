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
		var serverErr error
		// the server's policy engine follows the API: give it a moment
		eventually(t, 10*time.Second, "policies in force on the server", func() bool {
			serverErr = post(o, true)
			return (serverErr != nil) == (len(findings) > 0) || len(findings) == 0
		})
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
