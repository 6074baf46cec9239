package cel

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/cairn-dev/cairn/policies"
)

// TestExamples runs the example policies of examples/policies against
// requests they allow and deny.
func TestExamples(t *testing.T) {
	bigMem := container("app", "nginx:1.27", true)
	bigMem.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("128Gi")
	initNoLimits := deployment("team-a", "web", 1, map[string]string{"app": "web"})
	initNoLimits.Spec.Template.Spec.InitContainers = []corev1.Container{container("migrate", "migrate:1", false)}

	cases := []struct {
		file    string
		name    string
		attrs   *policies.Attributes
		wantErr []string
		audit   map[string]string
	}{
		{"require-limits.yaml", "limited deployment", create(deployment("team-a", "web", 1, nil)), nil, nil},
		{"require-limits.yaml", "container without limits",
			create(deployment("team-a", "web", 1, nil, container("app", "nginx:1", true), container("sidecar", "envoy:1", false))),
			[]string{"ValidatingAdmissionPolicy 'require-limits' with binding 'require-limits-binding' denied request: containers without cpu and memory limits: sidecar"}, nil},
		{"require-limits.yaml", "init container without limits", create(initNoLimits), []string{"without cpu and memory limits: migrate"}, nil},
		{"require-limits.yaml", "pod without limits", create(pod("team-a", "p", nil, container("app", "nginx:1", false))), []string{"limits: app"}, nil},
		{"require-limits.yaml", "memory over 64Gi", create(deployment("team-a", "web", 1, nil, bigMem)), []string{"memory limits may not exceed 64Gi"}, nil},
		{"require-limits.yaml", "delete is not checked", attrs(policies.Delete, nil, pod("team-a", "p", nil, container("app", "nginx:1", false))), nil, nil},

		{"disallow-latest.yaml", "tagged", create(pod("team-a", "p", nil, container("a", "nginx:1.27", true), container("b", "registry:5000/team/app:v2", true))), nil, nil},
		{"disallow-latest.yaml", "digest", create(pod("team-a", "p", nil, container("a", "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true))), nil, nil},
		{"disallow-latest.yaml", "latest", create(deployment("team-a", "web", 1, nil, container("a", "nginx:latest", true))),
			[]string{"images must use a tag other than latest, or a digest: nginx:latest"}, nil},
		{"disallow-latest.yaml", "untagged, with a registry port", create(pod("team-a", "p", nil, container("a", "nginx", true), container("b", "registry:5000/app", true))),
			[]string{"digest: nginx, registry:5000/app"}, nil},

		{"replica-limit.yaml", "under the namespace's limit", create(deployment("team-a", "web", 5, nil)), nil, map[string]string{"replica-limit/max-replicas": "5"}},
		{"replica-limit.yaml", "over the namespace's limit", create(deployment("team-a", "web", 6, nil)),
			[]string{"denied request: replicas 6 exceed the limit of 5 in namespace team-a"}, nil},
		{"replica-limit.yaml", "namespace without a limit", create(deployment("team-b", "web", 600, nil)), nil, nil},
		{"replica-limit.yaml", "scale up on update", attrs(policies.Update, deployment("team-a", "web", 9, nil), deployment("team-a", "web", 1, nil)),
			[]string{"replicas 9 exceed"}, nil},

		{"require-app-label.yaml", "labelled", create(deployment("team-a", "web", 1, map[string]string{"app": "web"})), nil, nil},
		{"require-app-label.yaml", "unlabelled", create(deployment("team-a", "web", 1, map[string]string{"tier": "x"})),
			[]string{"denied request: Deployment web must have a non-empty app label"},
			map[string]string{ValidationFailureAnnotation: `[{"expressionIndex":0,"message":"Deployment web must have a non-empty app label","validationActions":["Deny","Audit"],"binding":"require-app-label-binding","policy":"require-app-label"}]`}},
		{"require-app-label.yaml", "empty app label", create(pod("default", "p", map[string]string{"app": ""})), []string{"Pod p must have"}, nil},
		{"require-app-label.yaml", "kube-system is exempt", create(deployment("kube-system", "dns", 1, nil)), nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.file+"/"+tc.name, func(t *testing.T) {
			ps, bs, params := loadYAML(t, filepath.Join(examplesDir, tc.file))
			e := New(Options{})
			if problems := e.SetPolicies(ps, bs); len(problems) > 0 {
				t.Fatalf("problems: %v", problems)
			}
			res, err := e.Validate(t.Context(), tc.attrs, newLookup(params...))
			if tc.wantErr == nil && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != nil {
				code, _, msg := statusOf(err)
				if code != 422 && code != 403 || !containsAll(msg, tc.wantErr...) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
			}
			for k, v := range tc.audit {
				if res.AuditAnnotations[k] != v {
					t.Errorf("audit %s = %q, want %q", k, res.AuditAnnotations[k], v)
				}
			}
		})
	}
}

// TestConcurrentValidate validates from many goroutines while policies are
// swapped (run with -race).
func TestConcurrentValidate(t *testing.T) {
	e, lookup := benchEngine(t)
	ps, bs, _ := loadYAML(t, filepath.Join(examplesDir, "require-limits.yaml"))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				_, _ = e.Validate(t.Context(), create(deployment("team-a", fmt.Sprintf("web-%d", i), 3, map[string]string{"app": "web"})), lookup)
			}
		}()
	}
	for i := 0; i < 10; i++ {
		e.SetPolicies(ps, bs)
	}
	wg.Wait()
}

// benchEngine loads the four examples plus six small policies: ten
// policies, all matching a Deployment create.
func benchEngine(t testing.TB) (*Engine, *fakeLookup) {
	var ps []*admissionregistrationv1.ValidatingAdmissionPolicy
	var bs []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
	lookup := newLookup()
	for _, f := range []string{"require-limits.yaml", "disallow-latest.yaml", "replica-limit.yaml", "require-app-label.yaml"} {
		p, b, o := loadYAML(t, filepath.Join(examplesDir, f))
		ps, bs = append(ps, p...), append(bs, b...)
		lookup.params = append(lookup.params, o...)
	}
	extra := []string{
		"object.metadata.name.size() <= 63",
		"!has(object.metadata.annotations) || !('forbidden' in object.metadata.annotations)",
		"object.spec.template.spec.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || !c.securityContext.privileged)",
		"request.userInfo.username != 'system:anonymous'",
		"object.spec.template.spec.containers.all(c, c.name.matches('^[a-z][a-z0-9-]*$'))",
		"!has(object.spec.template.spec.hostNetwork) || !object.spec.template.spec.hostNetwork",
	}
	for i, x := range extra {
		name := fmt.Sprintf("extra-%d", i)
		ps = append(ps, vap(name, x))
		bs = append(bs, vapb(name+"-binding", name))
	}
	e := New(Options{})
	if problems := e.SetPolicies(ps, bs); len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	if len(ps) != 10 {
		t.Fatalf("%d policies, want 10", len(ps))
	}
	return e, lookup
}

func BenchmarkValidate(b *testing.B) {
	e, lookup := benchEngine(b)
	d := deployment("team-a", "web", 3, map[string]string{"app": "web"},
		container("app", "nginx:1.27", true), container("sidecar", "envoy:1.30", true))
	a := create(d)
	if _, err := e.Validate(b.Context(), a, lookup); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Validate(b.Context(), a, lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// examplesDir holds the example policies users copy into their repositories.
const examplesDir = "../../examples/policies"
